"""The API server with the real default scenario and controllers: every object they make is schema-complete for
kubernetes 37's typed models, and kubectl reads it without errors."""

from __future__ import annotations

import pytest
from kubernetes.aio import client as kclient

from lab.clock import LabClock
from lab.kube.cluster import KubeLab
from lab.tls import LabCA

from .conftest import KUBECTL, client_for


@pytest.fixture(scope="module")
async def full(tmp_path_factory):
    state = tmp_path_factory.mktemp("full")
    lab = await KubeLab.start(scenario="default", state_dir=state, clock=LabClock(0.001), ca=LabCA(state))
    yield lab
    await lab.stop()


async def test_scenario_objects_parse_into_typed_models(full, tmp_path):
    api = await client_for(full, full.kubeconfig_path.read_text(), tmp_path)
    try:
        core, apps = kclient.CoreV1Api(api), kclient.AppsV1Api(api)
        pods = await core.list_pod_for_all_namespaces()
        assert any(p.metadata.name.startswith("coredns-") for p in pods.items)
        for call in (core.list_node(), core.list_namespace(), core.list_service_for_all_namespaces(),
                     core.list_endpoints_for_all_namespaces(), core.list_config_map_for_all_namespaces(),
                     core.list_secret_for_all_namespaces(), core.list_service_account_for_all_namespaces(),
                     core.list_event_for_all_namespaces(), apps.list_deployment_for_all_namespaces(),
                     apps.list_daemon_set_for_all_namespaces(), apps.list_replica_set_for_all_namespaces(),
                     kclient.RbacAuthorizationV1Api(api).list_cluster_role_binding(),
                     kclient.CoordinationV1Api(api).list_lease_for_all_namespaces(),
                     kclient.ApiextensionsV1Api(api).list_custom_resource_definition()):
            assert (await call).items is not None
        pool = await kclient.CustomObjectsApi(api).get_cluster_custom_object(
            "crd.projectcalico.org", "v1", "ippools", "default-ipv4-ippool")
        assert pool["spec"]["ipipMode"] == "Always"
    finally:
        await api.close()


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
async def test_kubectl_reads_everything(full, tmp_path):
    import asyncio

    for args in (("get", "pods", "-A", "-o", "wide"), ("get", "all", "-A"), ("get", "nodes", "-o", "wide"),
                 ("describe", "node", "k8s-m"), ("get", "events", "-A")):
        proc = await asyncio.create_subprocess_exec(
            KUBECTL, "--kubeconfig", str(full.kubeconfig_path), "--cache-dir", str(tmp_path), *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        assert (proc.returncode, err.decode()) == (0, ""), args
        assert out
