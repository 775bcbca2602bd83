"""Deletion as the real registry does it, driven through the unmodified `kubernetes` clients (sync and aio):
the body a DELETE returns per kind, graceful pod termination seen through GET and watch, `gracePeriodSeconds=0`,
finalizers, the three propagation policies with the garbage collector, and namespaces waiting for their pods."""

from __future__ import annotations

import asyncio
import json

import kubernetes
import pytest
from kubernetes.aio import client as kclient
from kubernetes.aio.client.exceptions import ApiException

from .conftest import api_client, deployment_obj, pod_obj, settle, until



async def _gone(read) -> bool:
    try:
        await read()
    except ApiException as exc:
        return exc.status == 404
    return False


async def _running_pod(core, name: str, **spec) -> None:
    await core.create_namespaced_pod("default", pod_obj(name, "nginx:1.21", **spec))
    await until(lambda: _phase(core, name, "Running"), f"pod {name} Running")


async def _phase(core, name: str, phase: str) -> bool:
    return (await core.read_namespaced_pod(name, "default")).status.phase == phase


async def test_delete_returns_the_object_for_services_and_status_for_others(lab):
    async with lab() as kube, api_client(kube) as api:
        core = kclient.CoreV1Api(api)
        await core.create_namespaced_service("default", {"metadata": {"name": "gone"},
                                                         "spec": {"ports": [{"port": 80}]}})
        deleted = await core.delete_namespaced_service("gone", "default")
        assert isinstance(deleted, kclient.V1Service) and deleted.metadata.name == "gone"
        await core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
        status = await core.delete_namespaced_config_map("cm", "default")
        # kubernetes 37 hands a Status back as a dict for this call
        assert (status["kind"], status["status"]) == ("Status", "Success")
        assert (status["details"]["name"], status["details"]["kind"]) == ("cm", "configmaps")

        # the synchronous typed client, as scripts written for real clusters use it
        cfg = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(config_file=str(kube.kubeconfig_path), client_configuration=cfg)

        def sync_calls():
            with kubernetes.client.ApiClient(cfg) as c:
                v1 = kubernetes.client.CoreV1Api(c)
                v1.create_namespaced_service_account("default", {"metadata": {"name": "robot"}})
                sa = v1.delete_namespaced_service_account("robot", "default")
                v1.create_namespaced_service("default", {"metadata": {"name": "web"},
                                                         "spec": {"ports": [{"port": 80}]}})
                return sa, v1.delete_namespaced_service("web", "default")
        sa, svc = await asyncio.to_thread(sync_calls)
        assert isinstance(sa, kubernetes.client.V1ServiceAccount) and sa.metadata.name == "robot"
        assert isinstance(svc, kubernetes.client.V1Service) and svc.metadata.name == "web"


async def test_pod_terminates_gracefully_then_the_kubelet_deletes_it(lab):
    async with lab() as kube, api_client(kube) as api:
        core = kclient.CoreV1Api(api)
        await _running_pod(core, "graceful")
        rv = (await core.read_namespaced_pod("graceful", "default")).metadata.resource_version
        watch = await core.list_namespaced_pod_without_preload_content(
            "default", watch=True, resource_version=rv, field_selector="metadata.name=graceful", timeout_seconds=10)

        kube.clock.scale = 0.5  # nginx takes 1 emulated s to exit on SIGTERM: time enough to see it Terminating
        answer = await core.delete_namespaced_pod("graceful", "default")
        assert isinstance(answer, kclient.V1Pod)
        assert answer.metadata.deletion_timestamp is not None
        assert answer.metadata.deletion_grace_period_seconds == 30
        seen = await core.read_namespaced_pod("graceful", "default")  # still there: Terminating
        assert seen.metadata.deletion_timestamp is not None

        events = []
        async with watch:
            async for line in watch.content:
                ev = json.loads(line)
                events.append((ev["type"], bool(ev["object"]["metadata"].get("deletionTimestamp"))))
                if ev["type"] == "DELETED":
                    break
        assert events[0] == ("MODIFIED", True)
        assert events[-1] == ("DELETED", True)
        assert all(t == "MODIFIED" for t, _ in events[:-1])
        assert await _gone(lambda: core.read_namespaced_pod("graceful", "default"))


async def test_grace_period_zero_deletes_at_once(lab):
    async with lab() as kube, api_client(kube) as api:
        core = kclient.CoreV1Api(api)
        await _running_pod(core, "quick")
        await core.delete_namespaced_pod("quick", "default", grace_period_seconds=0)
        assert await _gone(lambda: core.read_namespaced_pod("quick", "default"))
        # an unscheduled pod has nothing to stop: it goes at once too
        await core.create_namespaced_pod("default", pod_obj("nowhere", "nginx:1.21",
                                                            nodeSelector={"no-such": "node"}))
        await core.delete_namespaced_pod("nowhere", "default")
        assert await _gone(lambda: core.read_namespaced_pod("nowhere", "default"))


async def test_finalizers_hold_a_deleted_object_until_removed(lab):
    async with lab() as kube, api_client(kube) as api:
        core = kclient.CoreV1Api(api)
        await core.create_namespaced_config_map("default", {"metadata": {"name": "held",
                                                                         "finalizers": ["example.com/hold"]}})
        answer = await core.delete_namespaced_config_map("held", "default")
        assert answer["kind"] == "ConfigMap"  # still there: the object, not a Status
        held = await core.read_namespaced_config_map("held", "default")
        assert held.metadata.deletion_timestamp is not None and held.metadata.deletion_grace_period_seconds == 0
        await core.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": None}})
        assert await _gone(lambda: core.read_namespaced_config_map("held", "default"))

        await _running_pod(core, "fin")
        await core.patch_namespaced_pod("fin", "default", {"metadata": {"finalizers": ["example.com/hold"]}})
        await core.delete_namespaced_pod("fin", "default")

        async def stopped():
            p = await core.read_namespaced_pod("fin", "default")
            return p.metadata.deletion_grace_period_seconds == 0 and p
        pod = await until(stopped, "the kubelet to finish the pod")
        assert all(cs.state.terminated is not None for cs in pod.status.container_statuses)
        await core.patch_namespaced_pod("fin", "default", {"metadata": {"finalizers": None}})
        assert await _gone(lambda: core.read_namespaced_pod("fin", "default"))


async def _replica_sets(apps, name: str):
    return (await apps.list_namespaced_replica_set("default", label_selector=f"run={name}")).items


async def test_propagation_policies(lab):
    async with lab() as kube, api_client(kube) as api:
        apps, core = kclient.AppsV1Api(api), kclient.CoreV1Api(api)
        for name in ("orph", "fore", "back"):
            await apps.create_namespaced_deployment("default", deployment_obj(name, "nginx:1.21", replicas=2))
        await settle(kube)

        await apps.delete_namespaced_deployment("orph", "default", propagation_policy="Orphan")
        assert await until(lambda: _gone(lambda: apps.read_namespaced_deployment("orph", "default")), "orphan")
        rs = await _replica_sets(apps, "orph")
        assert len(rs) == 1 and not rs[0].metadata.owner_references  # orphaned, still there
        assert len((await core.list_namespaced_pod("default", label_selector="run=orph")).items) == 2

        answer = await apps.delete_namespaced_deployment("fore", "default", propagation_policy="Foreground")
        assert answer["metadata"]["finalizers"] == ["foregroundDeletion"]
        assert answer["metadata"]["deletionTimestamp"]  # kept until its dependents are gone
        assert await until(lambda: _gone(lambda: apps.read_namespaced_deployment("fore", "default")), "fore")
        assert await _replica_sets(apps, "fore") == []
        assert (await core.list_namespaced_pod("default", label_selector="run=fore")).items == []

        status = await apps.delete_namespaced_deployment("back", "default")
        assert (status["kind"], status["status"]) == ("Status", "Success")
        assert await _gone(lambda: apps.read_namespaced_deployment("back", "default"))

        async def collected():
            return await _replica_sets(apps, "back") == [] and \
                (await core.list_namespaced_pod("default", label_selector="run=back")).items == []
        assert await until(collected, "background collection")

        with pytest.raises(ApiException) as err:
            await apps.delete_namespaced_deployment("orph", "default", propagation_policy="Sideways")
        assert err.value.status == 422
        assert 'Unsupported value: "Sideways"' in json.loads(err.value.body)["message"]


async def test_namespace_waits_for_its_pods(lab):
    async with lab() as kube, api_client(kube) as api:
        core = kclient.CoreV1Api(api)
        await core.create_namespace({"metadata": {"name": "doomed"}})
        # `sleep` as PID 1 ignores SIGTERM: the pod takes its whole grace period (300 emulated s) to go
        await core.create_namespaced_pod("doomed", pod_obj("p", "busybox:1.35", command=["sleep", "3600"],
                                                           terminationGracePeriodSeconds=300))
        await until(lambda: core.read_namespaced_pod("p", "doomed"), "pod p")

        async def running():
            return (await core.read_namespaced_pod("p", "doomed")).status.phase == "Running"
        await until(running, "pod p Running")
        await core.delete_namespace("doomed")
        ns = await core.read_namespace("doomed")
        assert ns.status.phase == "Terminating"
        pod = await until(lambda: _terminating(core), "the namespace controller to delete the pod")
        assert pod.metadata.deletion_grace_period_seconds == 300
        assert (await core.read_namespace("doomed")).status.phase == "Terminating"  # waiting for the pod
        assert await until(lambda: _gone(lambda: core.read_namespace("doomed")), "namespace gone")


async def _terminating(core):
    p = await core.read_namespaced_pod("p", "doomed")
    return p if p.metadata.deletion_timestamp else None
