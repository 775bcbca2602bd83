"""Workload controllers through the API (`kubernetes.aio`): Deployment → ReplicaSet → Pods with owner references,
scaling, rollouts, cascading deletion; DaemonSets per matching node; Endpoints following readiness; namespace
deletion (Terminating, content removed, then gone)."""

from __future__ import annotations

import pytest
from kubernetes.aio import client as kclient
from kubernetes.aio.client.exceptions import ApiException

from .conftest import (add_windows_node, api_client, deployment_obj, pod_obj, pods_of, rt, service_obj, settle)


async def test_deployment_scaling_rollout_and_cascade(lab):
    async with lab() as kube, api_client(kube) as api:
        apps, core = kclient.AppsV1Api(api), kclient.CoreV1Api(api)
        await apps.create_namespaced_deployment("default", deployment_obj("web", "nginx:1.21", replicas=3))
        await settle(kube)
        d = await apps.read_namespaced_deployment("web", "default")
        assert (d.status.replicas, d.status.ready_replicas, d.status.available_replicas) == (3, 3, 3)
        assert {c.type: c.status for c in d.status.conditions} == {"Available": "True", "Progressing": "True"}
        rs = (await apps.list_namespaced_replica_set("default", label_selector="run=web")).items
        assert len(rs) == 1 and rs[0].metadata.owner_references[0].uid == d.metadata.uid
        pods = (await core.list_namespaced_pod("default", label_selector="run=web")).items
        assert len(pods) == 3
        assert all(p.metadata.owner_references[0].name == rs[0].metadata.name for p in pods)
        assert all(p.metadata.labels["pod-template-hash"] == rs[0].metadata.labels["pod-template-hash"]
                   for p in pods)

        await apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 1}})
        await settle(kube)
        assert len((await core.list_namespaced_pod("default", label_selector="run=web")).items) == 1
        assert (await apps.read_namespaced_deployment("web", "default")).status.ready_replicas == 1

        await apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {
            "containers": [{"name": "web", "image": "nginx:1.23"}]}}}})
        await settle(kube)
        rs = (await apps.list_namespaced_replica_set("default", label_selector="run=web")).items
        by_image = {r.spec.template.spec.containers[0].image: r.spec.replicas for r in rs}
        assert by_image == {"nginx:1.21": 0, "nginx:1.23": 1}
        pods = (await core.list_namespaced_pod("default", label_selector="run=web")).items
        assert [p.spec.containers[0].image for p in pods] == ["nginx:1.23"]

        await apps.delete_namespaced_deployment("web", "default")
        await settle(kube)
        assert (await apps.list_namespaced_replica_set("default", label_selector="run=web")).items == []
        assert (await core.list_namespaced_pod("default", label_selector="run=web")).items == []


async def test_selector_must_match_template(lab):
    async with lab() as kube, api_client(kube) as api:
        bad = deployment_obj("bad", "nginx")
        bad["spec"]["selector"] = {"matchLabels": {"run": "other"}}
        with pytest.raises(ApiException) as err:
            await kclient.AppsV1Api(api).create_namespaced_deployment("default", bad)
        assert err.value.status == 422 and "`selector` does not match template `labels`" in err.value.body


async def test_daemonsets_follow_nodes(lab):
    async with lab() as kube:
        calico = rt(kube, "apps", "daemonsets")
        ds = kube.store.get(calico, "kube-system", "calico-node")
        assert (ds["status"]["desiredNumberScheduled"], ds["status"]["numberReady"]) == (2, 2)
        kube.store.create(calico, {"metadata": {"name": "agent"}, "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {
                "tolerations": [{"operator": "Exists"}],
                "containers": [{"name": "agent", "image": "busybox"}]}}}}, "default")
        await settle(kube)
        assert sorted(p["spec"]["nodeName"] for p in pods_of(kube, app="agent")) == ["k8s-lw", "k8s-m"]
        add_windows_node(kube)
        kube.store.create(rt(kube, "", "pods"), pod_obj("pinned", "nginx", nodeSelector={
            "kubernetes.io/os": "windows"}), "default")
        await settle(kube)
        # calico-node selects Linux nodes only; the selector-less DaemonSet lands on the Windows node too
        assert kube.store.get(calico, "kube-system", "calico-node")["status"]["desiredNumberScheduled"] == 2
        assert sorted(p["spec"]["nodeName"] for p in pods_of(kube, app="agent")) == ["k8s-lw", "k8s-m", "k8s-ww"]
        assert pods_of(kube, run="pinned")[0]["spec"]["nodeName"] == "k8s-ww"
        kube.store.delete(rt(kube, "", "nodes"), None, "k8s-ww")
        await settle(kube)
        assert sorted(p["spec"]["nodeName"] for p in pods_of(kube, app="agent")) == ["k8s-lw", "k8s-m"]
        assert pods_of(kube, run="pinned") == []  # the pod garbage collector removed the orphan


async def test_endpoints_track_ready_pods(lab):
    async with lab() as kube:
        kube.store.create(rt(kube, "apps", "deployments"), deployment_obj("web", "nginx", replicas=2), "default")
        svc = kube.store.create(rt(kube, "", "services"), service_obj("web", {"run": "web"}), "default")
        await settle(kube)
        ep = kube.store.get(rt(kube, "", "endpoints"), "default", "web")
        ips = sorted(a["ip"] for a in ep["subsets"][0]["addresses"])
        assert ips == sorted(p["status"]["podIP"] for p in pods_of(kube, run="web"))
        assert ep["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]
        assert svc["spec"]["clusterIP"] != kube.store.get(rt(kube, "", "services"), "default", "kubernetes")[
            "spec"]["clusterIP"]
        kube.store.delete(rt(kube, "", "services"), "default", "web")
        await settle(kube)
        assert kube.store.try_get(rt(kube, "", "endpoints"), "default", "web") is None


async def test_namespace_deletion_cascades(lab):
    async with lab() as kube, api_client(kube) as api:
        core, apps = kclient.CoreV1Api(api), kclient.AppsV1Api(api)
        await core.create_namespace({"metadata": {"name": "smoke"}})
        await settle(kube)
        assert {s.metadata.name for s in (await core.list_namespaced_service_account("smoke")).items} == {"default"}
        root_ca = await core.read_namespaced_config_map("kube-root-ca.crt", "smoke")
        assert root_ca.data["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")
        await apps.create_namespaced_deployment("smoke", deployment_obj("nginx", "nginx", replicas=2))
        await core.create_namespaced_service("smoke", service_obj("nginx-svc", {"run": "nginx"}))
        await core.create_namespaced_pod("smoke", pod_obj("client", "nicolaka/netshoot"))
        await settle(kube)
        assert len((await core.list_namespaced_pod("smoke")).items) == 3
        blocks_before = kube.controllers.ipam.allocations()

        # an object with a finalizer of its own holds the namespace in Terminating until it is released
        await core.create_namespaced_config_map("smoke", {"metadata": {"name": "held",
                                                                       "finalizers": ["example.com/hold"]}})
        await core.delete_namespace("smoke")
        await settle(kube)
        ns = await core.read_namespace("smoke")
        assert ns.status.phase == "Terminating"
        assert [p.metadata.name for p in (await core.list_namespaced_pod("smoke")).items] == []
        with pytest.raises(ApiException) as err:
            await core.create_namespaced_config_map("smoke", {"metadata": {"name": "late"}})
        assert err.value.status == 403 and "because it is being terminated" in err.value.body

        await core.patch_namespaced_config_map("held", "smoke", {"metadata": {"finalizers": None}})
        await settle(kube)
        with pytest.raises(ApiException) as err:
            await core.read_namespace("smoke")
        assert err.value.status == 404
        freed = {ip for ip, _, attrs in blocks_before if attrs.get("namespace") == "smoke"}
        assert len(freed) == 3
        assert not freed & {ip for ip, _, _ in kube.controllers.ipam.allocations()}
