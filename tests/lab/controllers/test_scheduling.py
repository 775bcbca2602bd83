"""Scheduler and kubelet model: taints/tolerations, nodeSelector, NotReady nodes, Unschedulable status and
events, image pulls taking clock time (slow-pull knob), pull failures, Windows images on Linux nodes."""

from __future__ import annotations

import asyncio

from .conftest import events_for, pod_obj, pods_of, rt, settle

MASTER_TOLERATION = {"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"}


def _pod(kube, name: str, **spec) -> dict:
    return kube.store.create(rt(kube, "", "pods"), pod_obj(name, "nicolaka/netshoot", **spec), "default")


def _get(kube, name: str) -> dict:
    return kube.store.get(rt(kube, "", "pods"), "default", name)


def _set_ready(kube, node: str, status: str) -> None:
    def put(n: dict) -> None:
        for c in n["status"]["conditions"]:
            if c["type"] == "Ready":
                c["status"] = status
    kube.store.mutate(rt(kube, "", "nodes"), None, node, put, subresource="status")


async def test_taints_selectors_and_unschedulable(lab):
    async with lab() as kube:
        _pod(kube, "anywhere")
        _pod(kube, "on-master", nodeSelector={"kubernetes.io/hostname": "k8s-m"})
        _pod(kube, "tolerant-master", nodeSelector={"kubernetes.io/hostname": "k8s-m"},
             tolerations=[MASTER_TOLERATION])
        await settle(kube)
        assert _get(kube, "anywhere")["spec"]["nodeName"] == "k8s-lw"
        assert _get(kube, "tolerant-master")["spec"]["nodeName"] == "k8s-m"
        stuck = _get(kube, "on-master")
        assert "nodeName" not in stuck["spec"] and stuck["status"]["phase"] == "Pending"
        cond = next(c for c in stuck["status"]["conditions"] if c["type"] == "PodScheduled")
        msg = ("0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had taint "
               "{node-role.kubernetes.io/master: }, that the pod didn't tolerate.")
        assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", msg)
        assert [e["message"] for e in events_for(kube, stuck) if e["reason"] == "FailedScheduling"] == [msg]
        scheduled = events_for(kube, _get(kube, "anywhere"))
        assert scheduled[0]["reason"] == "Scheduled"
        assert scheduled[0]["message"] == "Successfully assigned default/anywhere to k8s-lw"


async def test_not_ready_node_is_avoided_until_ready_again(lab):
    async with lab() as kube:
        _set_ready(kube, "k8s-lw", "False")
        await settle(kube)
        taints = kube.store.get(rt(kube, "", "nodes"), None, "k8s-lw")["spec"]["taints"]
        assert {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"} in taints
        _pod(kube, "waiting")
        await settle(kube)
        assert "nodeName" not in _get(kube, "waiting")["spec"]
        _set_ready(kube, "k8s-lw", "True")
        await settle(kube)
        pod = _get(kube, "waiting")
        assert pod["spec"]["nodeName"] == "k8s-lw" and pod["status"]["phase"] == "Running"
        assert "taints" not in kube.store.get(rt(kube, "", "nodes"), None, "k8s-lw")["spec"]


async def test_required_anti_affinity_spreads_or_blocks(lab):
    async with lab() as kube:
        anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "spread"}}, "topologyKey": "kubernetes.io/hostname"}]}}
        for name in ("a", "b", "c"):
            kube.store.create(rt(kube, "", "pods"), pod_obj(name, "nginx", labels={"app": "spread"},
                                                            affinity=anti, tolerations=[MASTER_TOLERATION]),
                              "default")
            await settle(kube)
        nodes = sorted(p["spec"].get("nodeName", "-") for p in pods_of(kube, app="spread"))
        assert nodes == ["-", "k8s-lw", "k8s-m"]


async def test_image_pull_takes_clock_time_and_reports_events(lab):
    async with lab() as kube:
        kube.controllers.kubelet.set_pull_seconds("nginx:1.21", 300)  # 0.6 s at the test time scale
        pods = rt(kube, "", "pods")
        watch = kube.store.watch(pods, "default")
        kube.store.create(pods, pod_obj("web", "nginx:1.21"), "default")
        seen_pending_with_ip = False
        async with asyncio.timeout(20):
            async for ev in watch:
                st = ev.obj.get("status") or {}
                waiting = ((st.get("containerStatuses") or [{}])[0].get("state") or {}).get("waiting")
                if st.get("podIP") and waiting and waiting["reason"] == "ContainerCreating":
                    seen_pending_with_ip = True  # sandbox up, image still pulling
                if st.get("phase") == "Running":
                    break
        assert seen_pending_with_ip
        reasons = [e["reason"] for e in events_for(kube, _get(kube, "web"))]
        assert reasons == ["Scheduled", "Pulling", "Pulled", "Created", "Started"]
        pulled = next(e for e in events_for(kube, _get(kube, "web")) if e["reason"] == "Pulled")
        assert pulled["message"].startswith('Successfully pulled image "nginx:1.21" in 30')
        cs = _get(kube, "web")["status"]["containerStatuses"][0]
        assert cs["imageID"].startswith("docker-pullable://nginx@sha256:") and cs["ready"] is True
        # the image is cached now: the next pod starts from it
        _pod(kube, "web2", containers=[{"name": "web2", "image": "nginx:1.21"}])
        await settle(kube)
        assert any(e["reason"] == "Pulled" and "already present on machine" in e["message"]
                   for e in events_for(kube, _get(kube, "web2")))


async def test_pull_failures(lab):
    async with lab() as kube:
        kube.controllers.kubelet.set_image_missing("nginx:nope")
        kube.store.create(rt(kube, "", "pods"), pod_obj("bad", "nginx:nope"), "default")
        kube.store.create(rt(kube, "", "pods"), pod_obj(
            "winonlinux", "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2019"), "default")
        await settle(kube)
        for name, reason_text in (("bad", "manifest unknown"), ("winonlinux", "no matching manifest for linux/amd64")):
            pod = _get(kube, name)
            waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
            assert waiting["reason"] in ("ErrImagePull", "ImagePullBackOff"), waiting
            assert pod["status"]["phase"] == "Pending"
            assert any(e["reason"] == "Failed" and reason_text in e["message"] for e in events_for(kube, pod))
