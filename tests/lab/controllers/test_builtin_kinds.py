"""Behaviour of built-in kinds through the typed `kubernetes.aio` client and kubectl: PodDisruptionBudget status and
`pods/eviction` (429 when the budget forbids it, `kubectl drain` respecting it), Jobs running to completion
(`kubectl create job`), StatefulSet ordinal pods, and EndpointSlices kept beside Endpoints."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from kubernetes.aio import client as kclient
from kubernetes.aio.client.exceptions import ApiException

from .conftest import api_client, deployment_obj, service_obj, settle, until

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


async def _kubectl(kube, tmp_path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(kube.kubeconfig_path), *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={"HOME": str(tmp_path)})
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


def _web_pod(name: str, node: str) -> dict:
    return {"metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"nodeName": node, "containers": [{"name": "web", "image": "nginx:1.21"}]}}


@needs_kubectl
async def test_pdb_status_eviction_and_kubectl_drain(lab, tmp_path):
    async with lab() as kube, api_client(kube) as api:
        core, policy = kclient.CoreV1Api(api), kclient.PolicyV1Api(api)
        await policy.create_namespaced_pod_disruption_budget("default", {
            "metadata": {"name": "web-pdb"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}})
        await core.create_namespaced_pod("default", _web_pod("solo", "k8s-lw"))
        await settle(kube)
        pdb = await policy.read_namespaced_pod_disruption_budget("web-pdb", "default")
        assert (pdb.status.expected_pods, pdb.status.current_healthy, pdb.status.desired_healthy,
                pdb.status.disruptions_allowed) == (1, 1, 1, 0)
        assert [(c.type, c.status, c.reason) for c in pdb.status.conditions] == [
            ("DisruptionAllowed", "False", "InsufficientPods")]

        with pytest.raises(ApiException) as err:
            await core.create_namespaced_pod_eviction("solo", "default", {
                "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "solo", "namespace": "default"}})
        assert err.value.status == 429
        body = json.loads(err.value.body)
        assert (body["reason"], body["message"]) == (
            "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.")
        assert body["details"]["causes"] == [{"reason": "DisruptionBudget", "message":
                                              "The disruption budget web-pdb needs 1 healthy pods and has 1 currently"}]

        code, out, err_text = await _kubectl(kube, tmp_path, "drain", "k8s-lw", "--pod-selector", "app=web",
                                             "--force", "--timeout=7s")
        assert code != 0
        assert "Cannot evict pod as it would violate the pod's disruption budget." in err_text
        assert (await core.read_namespaced_pod("solo", "default")).metadata.deletion_timestamp is None

        await core.create_namespaced_pod("default", _web_pod("duo", "k8s-m"))  # a second healthy pod elsewhere
        await settle(kube)
        assert (await policy.read_namespaced_pod_disruption_budget("web-pdb", "default")).status.disruptions_allowed \
            == 1
        code, out, err_text = await _kubectl(kube, tmp_path, "drain", "k8s-lw", "--pod-selector", "app=web",
                                             "--force", "--timeout=60s")
        assert code == 0, err_text
        assert "pod/solo evicted" in out
        names = {p.metadata.name for p in (await core.list_namespaced_pod("default", label_selector="app=web")).items}
        assert names == {"duo"}
        assert (await policy.read_namespaced_pod_disruption_budget("web-pdb", "default")).status.disruptions_allowed \
            == 0


@needs_kubectl
async def test_kubectl_create_job_runs_to_completion(lab, tmp_path):
    async with lab() as kube, api_client(kube) as api:
        code, out, err = await _kubectl(kube, tmp_path, "create", "job", "hello", "--image=busybox:1.35", "--",
                                        "sh", "-c", "for i in 1 2 3; do echo line $i; done")
        assert code == 0, err
        batch = kclient.BatchV1Api(api)

        async def complete():
            job = await batch.read_namespaced_job("hello", "default")
            return job if any(c.type == "Complete" and c.status == "True" for c in job.status.conditions or []) \
                else None
        job = await until(complete, "job hello to complete")
        assert job.status.succeeded == 1 and not job.status.active and job.status.completion_time
        pods = (await kclient.CoreV1Api(api).list_namespaced_pod("default", label_selector="job-name=hello")).items
        assert [p.status.phase for p in pods] == ["Succeeded"]
        assert pods[0].status.container_statuses[0].state.terminated.exit_code == 0
        code, out, err = await _kubectl(kube, tmp_path, "logs", "job/hello")
        assert (code, out) == (0, "line 1\nline 2\nline 3\n"), err

        await batch.create_namespaced_job("default", {"metadata": {"name": "doomed"}, "spec": {
            "backoffLimit": 1, "template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "c", "image": "busybox:1.35", "command": ["sh", "-c", "exit 3"]}]}}}})

        async def failed():
            j = await batch.read_namespaced_job("doomed", "default")
            return j if any(c.type == "Failed" for c in j.status.conditions or []) else None
        j = await until(failed, "job doomed to fail")
        assert j.status.failed == 2 and j.status.conditions[0].reason == "BackoffLimitExceeded"


async def test_statefulset_ordinal_pods(lab):
    async with lab() as kube, api_client(kube) as api:
        apps, core = kclient.AppsV1Api(api), kclient.CoreV1Api(api)
        sts = deployment_obj("db", "nginx:1.21", replicas=3)
        sts["spec"]["serviceName"] = "db"
        await apps.create_namespaced_stateful_set("default", sts)
        await settle(kube)

        async def ready():
            s = await apps.read_namespaced_stateful_set("db", "default")
            return s if s.status.ready_replicas == 3 else None
        await until(ready, "three ready replicas")
        pods = sorted((await core.list_namespaced_pod("default", label_selector="run=db")).items,
                      key=lambda p: p.metadata.name)
        assert [p.metadata.name for p in pods] == ["db-0", "db-1", "db-2"]
        assert [p.spec.hostname for p in pods] == ["db-0", "db-1", "db-2"] and pods[0].spec.subdomain == "db"
        assert pods[0].metadata.creation_timestamp <= pods[1].metadata.creation_timestamp <= \
            pods[2].metadata.creation_timestamp
        assert int(pods[0].metadata.resource_version) < int(pods[1].metadata.resource_version)
        await apps.patch_namespaced_stateful_set_scale("db", "default", {"spec": {"replicas": 1}})

        async def scaled():
            names = {p.metadata.name for p in (await core.list_namespaced_pod("default", label_selector="run=db")).items}
            return names == {"db-0"}
        await until(scaled, "scale down to db-0")


async def test_endpointslices_beside_endpoints(lab):
    async with lab() as kube, api_client(kube) as api:
        apps, core = kclient.AppsV1Api(api), kclient.CoreV1Api(api)
        await apps.create_namespaced_deployment("default", deployment_obj("web", "nginx:1.21", replicas=2))
        await core.create_namespaced_service("default", service_obj("web", {"run": "web"}))
        await settle(kube)
        disc = kclient.DiscoveryV1Api(api)
        slices = (await disc.list_namespaced_endpoint_slice(
            "default", label_selector="kubernetes.io/service-name=web")).items
        assert len(slices) == 1
        s = slices[0]
        assert s.address_type == "IPv4" and s.metadata.owner_references[0].kind == "Service"
        assert s.metadata.labels["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
        assert [(p.port, p.protocol) for p in s.ports] == [(80, "TCP")]
        ep = await core.read_namespaced_endpoints("web", "default")
        assert sorted(e.addresses[0] for e in s.endpoints) == sorted(a.ip for a in ep.subsets[0].addresses)
        assert all(e.conditions.ready for e in s.endpoints)
        await core.delete_namespaced_service("web", "default")

        async def gone():
            return not (await disc.list_namespaced_endpoint_slice(
                "default", label_selector="kubernetes.io/service-name=web")).items
        await until(gone, "the slice to follow its service")
