"""CRUD through the unmodified `kubernetes.aio` client: objects come back schema-complete (the pydantic models
accept them), errors are Status bodies with real codes and reasons."""

from __future__ import annotations

import json

import pytest
from kubernetes.aio import client as kclient
from kubernetes.aio.client.exceptions import ApiException


async def test_configmap_create_get_replace_delete(api, ns):
    v1 = kclient.CoreV1Api(api)
    created = await v1.create_namespaced_config_map(ns, {"metadata": {"name": "cm"}, "data": {"a": "1"}})
    assert created.metadata.uid and created.metadata.resource_version
    got = await v1.read_namespaced_config_map("cm", ns)
    assert got.data == {"a": "1"}
    got.data["a"] = "2"
    replaced = await v1.replace_namespaced_config_map("cm", ns, got)
    assert replaced.data == {"a": "2"}
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    listed = await v1.list_namespaced_config_map(ns)
    assert [c.metadata.name for c in listed.items] == ["cm"]
    await v1.delete_namespaced_config_map("cm", ns)
    with pytest.raises(ApiException) as err:
        await v1.read_namespaced_config_map("cm", ns)
    assert err.value.status == 404


async def test_not_found_and_already_exists_are_status_bodies(api, ns):
    v1 = kclient.CoreV1Api(api)
    with pytest.raises(ApiException) as err:
        await v1.read_namespaced_secret("missing", ns)
    body = json.loads(err.value.body)
    assert (body["kind"], body["status"], body["reason"], body["code"]) == ("Status", "Failure", "NotFound", 404)
    assert body["message"] == 'secrets "missing" not found'
    assert body["details"] == {"name": "missing", "kind": "secrets"}

    await v1.create_namespaced_secret(ns, {"metadata": {"name": "s"}, "stringData": {}})
    with pytest.raises(ApiException) as err:
        await v1.create_namespaced_secret(ns, {"metadata": {"name": "s"}})
    body = json.loads(err.value.body)
    assert err.value.status == 409
    assert body["reason"] == "AlreadyExists"
    assert body["message"] == 'secrets "s" already exists'


async def test_stale_resource_version_is_409_conflict(api, ns):
    v1 = kclient.CoreV1Api(api)
    first = await v1.create_namespaced_config_map(ns, {"metadata": {"name": "cm"}, "data": {"k": "v"}})
    await v1.patch_namespaced_config_map("cm", ns, {"data": {"k": "changed"}})
    first.data["k"] = "stale write"
    with pytest.raises(ApiException) as err:
        await v1.replace_namespaced_config_map("cm", ns, first)
    body = json.loads(err.value.body)
    assert err.value.status == 409 and body["reason"] == "Conflict"
    assert "the object has been modified" in body["message"]
    assert (await v1.read_namespaced_config_map("cm", ns)).data == {"k": "changed"}


async def test_nodes_are_schema_complete(api):
    nodes = await kclient.CoreV1Api(api).list_node()
    by_name = {n.metadata.name: n for n in nodes.items}
    assert {"k8s-m", "k8s-lw"} <= set(by_name)
    info = by_name["k8s-m"].status.node_info
    assert info.kubelet_version == "v1.22.6" and info.os_image == "Ubuntu 20.04.2 LTS"


async def test_pod_defaults_and_schema_completion(api, kube, ns):
    v1 = kclient.CoreV1Api(api)
    pod = await v1.create_namespaced_pod(ns, {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]}})
    assert pod.status.phase == "Pending"
    assert pod.spec.restart_policy == "Always" and pod.spec.dns_policy == "ClusterFirst"
    assert pod.spec.service_account_name == "default"
    c = pod.spec.containers[0]
    assert c.image_pull_policy == "Always" and c.ports[0].protocol == "TCP"
    # a kubelet (lab code writing the store directly) reporting a container without imageID
    pods = kube.registry.get("", "pods")

    def running(o):
        o["status"] = {"phase": "Running", "containerStatuses": [{"name": "c", "state": {"running": {}}}]}

    kube.store.mutate(pods, ns, "p", running, subresource="status")
    got = await v1.read_namespaced_pod("p", ns)
    cs = got.status.container_statuses[0]
    assert cs.image == "nginx" and cs.image_id == "" and cs.ready is False and cs.restart_count == 0


async def test_create_ignores_status_of_pods(api, ns):
    pod = await kclient.CoreV1Api(api).create_namespaced_pod(ns, {
        "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Running"}})
    assert pod.status.phase == "Pending"


async def test_missing_required_field_is_422(http, ns):
    reply = await http("POST", f"/api/v1/namespaces/{ns}/pods", json={"metadata": {"name": "p"}, "spec": {}})
    body = reply.json()
    assert reply.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "spec.containers"
    assert body["message"] == 'Pod "p" is invalid: spec.containers: Required value'


async def test_unknown_fields_strict_is_400_and_otherwise_dropped(http, ns):
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x", "bogus": 1}]}}
    reply = await http("POST", f"/api/v1/namespaces/{ns}/pods?fieldValidation=Strict", json=pod)
    assert reply.status == 400
    assert 'strict decoding error: unknown field "spec.containers[0].bogus"' in reply.json()["message"]
    reply = await http("POST", f"/api/v1/namespaces/{ns}/pods", json=pod)
    assert reply.status == 201
    assert "bogus" not in reply.json()["spec"]["containers"][0]
    assert "unknown field" in reply.headers.get("Warning", "")


async def test_service_defaults(api, ns):
    svc = await kclient.CoreV1Api(api).create_namespaced_service(ns, {
        "metadata": {"name": "web"}, "spec": {"selector": {"run": "web"}, "ports": [{"port": 80}]}})
    assert svc.spec.type == "ClusterIP" and svc.spec.session_affinity == "None"
    assert svc.spec.ports[0].protocol == "TCP" and svc.spec.ports[0].target_port == 80


async def test_namespaced_delete_collection(api, ns):
    v1 = kclient.CoreV1Api(api)
    for i, tier in enumerate(["a", "a", "b"]):
        await v1.create_namespaced_config_map(ns, {"metadata": {"name": f"c{i}", "labels": {"tier": tier}}})
    await v1.delete_collection_namespaced_config_map(ns, label_selector="tier=a")
    left = await v1.list_namespaced_config_map(ns)
    assert [c.metadata.name for c in left.items] == ["c2"]


async def test_list_pagination(api, ns):
    v1 = kclient.CoreV1Api(api)
    for i in range(5):
        await v1.create_namespaced_config_map(ns, {"metadata": {"name": f"c{i}"}})
    first = await v1.list_namespaced_config_map(ns, limit=2)
    assert [c.metadata.name for c in first.items] == ["c0", "c1"]
    assert first.metadata.remaining_item_count == 3
    rest = await v1.list_namespaced_config_map(ns, limit=10, _continue=first.metadata._continue)
    assert [c.metadata.name for c in rest.items] == ["c2", "c3", "c4"]
    assert rest.metadata._continue is None


async def test_deployment_scale_subresource(api, ns):
    apps = kclient.AppsV1Api(api)
    await apps.create_namespaced_deployment(ns, _deployment("web"))
    scale = await apps.read_namespaced_deployment_scale("web", ns)
    assert scale.spec.replicas == 1
    await apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 3}})
    assert (await apps.read_namespaced_deployment("web", ns)).spec.replicas == 3


async def test_status_subresource_only_changes_status(api, ns):
    apps = kclient.AppsV1Api(api)
    await apps.create_namespaced_deployment(ns, _deployment("web"))
    await apps.patch_namespaced_deployment_status("web", ns, {"status": {"replicas": 7}, "spec": {"replicas": 9}})
    d = await apps.read_namespaced_deployment("web", ns)
    assert d.status.replicas == 7 and d.spec.replicas == 1
    await apps.patch_namespaced_deployment("web", ns, {"status": {"replicas": 1}, "spec": {"replicas": 2}})
    d = await apps.read_namespaced_deployment("web", ns)
    assert d.status.replicas == 7 and d.spec.replicas == 2


def _deployment(name: str) -> dict:
    return {"metadata": {"name": name}, "spec": {
        "selector": {"matchLabels": {"run": name}},
        "template": {"metadata": {"labels": {"run": name}},
                     "spec": {"containers": [{"name": name, "image": "nginx"}]}}}}


async def test_terminating_namespace_refuses_new_content_and_finalize_releases_it(api, http):
    v1 = kclient.CoreV1Api(api)
    await v1.create_namespace({"metadata": {"name": "doomed"}})
    await v1.delete_namespace("doomed")
    ns = await v1.read_namespace("doomed")
    assert ns.status.phase == "Terminating" and ns.spec.finalizers == ["kubernetes"]
    with pytest.raises(ApiException) as err:
        await v1.create_namespaced_config_map("doomed", {"metadata": {"name": "late"}})
    assert err.value.status == 403 and "because it is being terminated" in json.loads(err.value.body)["message"]
    body = ns.to_dict()
    reply = await http("PUT", "/api/v1/namespaces/doomed/finalize",
                       json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"},
                             "spec": {"finalizers": []}})
    assert reply.status == 200, reply.body
    with pytest.raises(ApiException) as err:
        await v1.read_namespace("doomed")
    assert err.value.status == 404 and body
