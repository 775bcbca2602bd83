"""Each patch type through `kubernetes.aio`: JSON patch, merge patch, strategic merge (containers merged by
name), server-side apply."""

from __future__ import annotations

import json

import pytest
from kubernetes.aio import client as kclient
from kubernetes.aio.client.exceptions import ApiException


def _deployment(name: str) -> dict:
    return {"metadata": {"name": name, "labels": {"app": name}}, "spec": {
        "replicas": 1, "selector": {"matchLabels": {"run": name}},
        "template": {"metadata": {"labels": {"run": name}}, "spec": {"containers": [
            {"name": "web", "image": "nginx:1.21", "env": [{"name": "A", "value": "1"}]},
            {"name": "log", "image": "busybox"}]}}}}


async def test_strategic_merge_patch_merges_containers_by_name(api, ns):
    apps = kclient.AppsV1Api(api)
    await apps.create_namespaced_deployment(ns, _deployment("d"))
    patched = await apps.patch_namespaced_deployment("d", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "log", "image": "busybox:2"},
        {"name": "web", "env": [{"name": "B", "value": "2"}]}]}}}})
    containers = {c.name: c for c in patched.spec.template.spec.containers}
    assert [c.name for c in patched.spec.template.spec.containers] == ["web", "log"]
    assert containers["web"].image == "nginx:1.21"
    assert [(e.name, e.value) for e in containers["web"].env] == [("A", "1"), ("B", "2")]
    assert containers["log"].image == "busybox:2"
    # $patch: delete removes one element by its merge key
    patched = await apps.patch_namespaced_deployment("d", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "log", "$patch": "delete"}]}}}})
    assert [c.name for c in patched.spec.template.spec.containers] == ["web"]


async def test_merge_patch_replaces_lists(api, ns):
    apps = kclient.AppsV1Api(api)
    await apps.create_namespaced_deployment(ns, _deployment("d"))
    patched = await apps.patch_namespaced_deployment(
        "d", ns, {"metadata": {"labels": {"app": None, "x": "y"}}, "spec": {"template": {"spec": {
            "containers": [{"name": "only", "image": "alpine"}]}}}},
        _content_type="application/merge-patch+json")
    assert patched.metadata.labels == {"x": "y"}
    assert [c.name for c in patched.spec.template.spec.containers] == ["only"]


async def test_json_patch_and_failed_test_op(api, ns):
    apps = kclient.AppsV1Api(api)
    await apps.create_namespaced_deployment(ns, _deployment("d"))
    patched = await apps.patch_namespaced_deployment(
        "d", ns, [{"op": "replace", "path": "/spec/replicas", "value": 4},
                  {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
                  {"op": "remove", "path": "/spec/template/spec/containers/1"}],
        _content_type="application/json-patch+json")
    assert patched.spec.replicas == 4 and patched.metadata.labels["tier"] == "front"
    assert len(patched.spec.template.spec.containers) == 1
    with pytest.raises(ApiException) as err:
        await apps.patch_namespaced_deployment("d", ns, [{"op": "test", "path": "/spec/replicas", "value": 9}],
                                               _content_type="application/json-patch+json")
    assert err.value.status == 422


async def test_patch_with_stale_resource_version_conflicts(api, ns):
    v1 = kclient.CoreV1Api(api)
    cm = await v1.create_namespaced_config_map(ns, {"metadata": {"name": "c"}, "data": {"a": "1"}})
    await v1.patch_namespaced_config_map("c", ns, {"data": {"a": "2"}})
    with pytest.raises(ApiException) as err:
        await v1.patch_namespaced_config_map("c", ns, {"metadata": {"resourceVersion": cm.metadata.resource_version},
                                                       "data": {"a": "3"}})
    assert err.value.status == 409 and json.loads(err.value.body)["reason"] == "Conflict"


async def test_server_side_apply_through_the_client(api, ns):
    apps = kclient.AppsV1Api(api)
    body = {"apiVersion": "apps/v1", "kind": "Deployment", **_deployment("ssa")}
    created = await apps.patch_namespaced_deployment("ssa", ns, body, field_manager="flow",
                                                     _content_type="application/apply-patch+yaml")
    assert created.metadata.managed_fields[0].manager == "flow"
    assert created.metadata.managed_fields[0].operation == "Apply"
    body["spec"]["template"]["spec"]["containers"] = [{"name": "web", "image": "nginx:1.22"}]
    updated = await apps.patch_namespaced_deployment("ssa", ns, body, field_manager="flow",
                                                     _content_type="application/apply-patch+yaml")
    # the "log" container was applied by this manager before and is not any more: it is removed
    assert [(c.name, c.image) for c in updated.spec.template.spec.containers] == [("web", "nginx:1.22")]


async def test_strategic_merge_is_refused_for_custom_resources(http):
    reply = await http("PATCH", "/apis/crd.projectcalico.org/v1/ippools/none", json={"spec": {}},
                       headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert reply.status == 415 and reply.json()["reason"] == "UnsupportedMediaType"


async def test_custom_objects_merge_patch(api):
    co = kclient.CustomObjectsApi(api)
    await co.create_cluster_custom_object("crd.projectcalico.org", "v1", "felixconfigurations", {
        "apiVersion": "crd.projectcalico.org/v1", "kind": "FelixConfiguration", "metadata": {"name": "patchme"},
        "spec": {"ipipEnabled": True}})
    await co.patch_cluster_custom_object("crd.projectcalico.org", "v1", "felixconfigurations", "patchme",
                                         {"spec": {"vxlanEnabled": True, "vxlanVNI": 4096}})
    got = await co.get_cluster_custom_object("crd.projectcalico.org", "v1", "felixconfigurations", "patchme")
    assert got["spec"] == {"ipipEnabled": True, "vxlanEnabled": True, "vxlanVNI": 4096}
    await co.delete_cluster_custom_object("crd.projectcalico.org", "v1", "felixconfigurations", "patchme")


async def test_invalid_calico_objects_are_422(api):
    co = kclient.CustomObjectsApi(api)
    with pytest.raises(ApiException) as err:
        await co.create_cluster_custom_object("crd.projectcalico.org", "v1", "ipamconfigs", {
            "apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMConfig", "metadata": {"name": "default"},
            "spec": {"strictAffinity": True}})
    body = json.loads(err.value.body)
    assert err.value.status == 422 and body["reason"] == "Invalid"
    assert body["message"] == ('IPAMConfig.crd.projectcalico.org "default" is invalid: '
                               'spec.autoAllocateBlocks: Required value')
    with pytest.raises(ApiException) as err:
        await co.create_cluster_custom_object("crd.projectcalico.org", "v1", "ippools", {
            "apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool", "metadata": {"name": "p"},
            "spec": {"vxlanMode": "Sometimes"}})
    causes = {c["field"]: c["message"] for c in json.loads(err.value.body)["details"]["causes"]}
    assert causes["spec.cidr"] == "Required value"
    assert causes["spec.vxlanMode"].startswith('Unsupported value: "Sometimes"')
    ok = await co.create_cluster_custom_object("crd.projectcalico.org", "v1", "ipamconfigs", {
        "apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMConfig", "metadata": {"name": "default"},
        "spec": {"strictAffinity": True, "autoAllocateBlocks": True}})
    assert ok["spec"]["strictAffinity"] is True
    with pytest.raises(ApiException) as err:
        await co.patch_cluster_custom_object("crd.projectcalico.org", "v1", "ipamconfigs", "default",
                                             {"spec": {"autoAllocateBlocks": None}})
    assert err.value.status == 422
    await co.delete_cluster_custom_object("crd.projectcalico.org", "v1", "ipamconfigs", "default")
