"""Unit tests of the pure parts: patch algorithms, selectors, tables, protobuf decoding."""

from __future__ import annotations

import base64

import pytest

from lab.kube import patch, protobuf, schema, tables
from lab.kube.errors import ApiError, BadRequest
from lab.kube.selectors import from_label_selector, parse_fields, parse_labels

POD = schema.for_kind("", "v1", "Pod")


def _pod(**spec) -> dict:
    return {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "x"},
                                                               {"name": "b", "image": "y"}], **spec}}


def test_smp_merges_by_key_and_keeps_order_directive():
    out = patch.strategic_merge_patch(_pod(), {"spec": {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "c"}, {"name": "a"}],
        "containers": [{"name": "c", "image": "z"}, {"name": "a", "image": "x2"}]}}, POD)
    assert [(c["name"], c["image"]) for c in out["spec"]["containers"]] == [("b", "y"), ("c", "z"), ("a", "x2")]


def test_smp_replace_and_delete_directives():
    out = patch.strategic_merge_patch(_pod(), {"spec": {"containers": [{"$patch": "replace"},
                                                                       {"name": "only", "image": "o"}]}}, POD)
    assert out["spec"]["containers"] == [{"name": "only", "image": "o"}]
    out = patch.strategic_merge_patch(_pod(nodeSelector={"a": "1"}), {"spec": {"nodeSelector": {
        "$patch": "replace", "b": "2"}}}, POD)
    assert out["spec"]["nodeSelector"] == {"b": "2"}
    out = patch.strategic_merge_patch(_pod(), {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}, POD)
    assert [c["name"] for c in out["spec"]["containers"]] == ["b"]


def test_smp_primitive_lists_retain_keys_and_nulls():
    obj = {"metadata": {"name": "p", "finalizers": ["x", "y"], "labels": {"k": "v", "gone": "1"}}, "spec": {}}
    out = patch.strategic_merge_patch(obj, {"metadata": {"finalizers": ["z"], "labels": {"gone": None},
                                                         "$deleteFromPrimitiveList/finalizers": ["x"]}}, POD)
    assert out["metadata"]["finalizers"] == ["y", "z"] and out["metadata"]["labels"] == {"k": "v"}
    dep = schema.for_kind("apps", "v1", "Deployment")
    obj = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    out = patch.strategic_merge_patch(obj, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
                                      dep)
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_smp_lists_without_merge_strategy_are_replaced():
    out = patch.strategic_merge_patch(_pod(), {"spec": {"containers": [{"name": "a", "args": ["2"]}]}}, POD)
    out = patch.strategic_merge_patch(out, {"spec": {"containers": [{"name": "a", "args": ["3"]}]}}, POD)
    assert out["spec"]["containers"][0]["args"] == ["3"]


def test_json_patch_operations():
    doc = {"a": {"b": [1, 2]}, "c": "x"}
    out = patch.json_patch(doc, [{"op": "add", "path": "/a/b/-", "value": 3},
                                 {"op": "move", "from": "/c", "path": "/d"},
                                 {"op": "copy", "from": "/d", "path": "/e"},
                                 {"op": "test", "path": "/a/b/2", "value": 3},
                                 {"op": "replace", "path": "/a/b/0", "value": 0},
                                 {"op": "add", "path": "/f~1g", "value": True}])
    assert out == {"a": {"b": [0, 2, 3]}, "d": "x", "e": "x", "f/g": True}
    assert doc == {"a": {"b": [1, 2]}, "c": "x"}  # the input is not touched
    with pytest.raises(ApiError) as err:
        patch.json_patch(doc, [{"op": "remove", "path": "/nope"}])
    assert err.value.code == 422
    with pytest.raises(BadRequest):
        patch.json_patch(doc, {"op": "add"})


def test_merge_patch():
    assert patch.merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None, "d": 3}, "l": [2]}) == \
        {"a": {"c": 2, "d": 3}, "l": [2]}


def test_server_side_apply_ownership():
    cm = schema.for_kind("", "v1", "ConfigMap")
    first = patch.server_side_apply(None, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                                           "data": {"a": "1", "b": "2"}}, cm, manager="m1", force=False,
                                    api_version="v1", now="t")
    assert first["metadata"]["managedFields"][0]["fieldsV1"] == {"f:data": {"f:a": {}, "f:b": {}}}
    second = patch.server_side_apply(first, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                                             "data": {"b": "2", "c": "3"}}, cm, manager="m2", force=False,
                                     api_version="v1", now="t")
    assert second["data"] == {"a": "1", "b": "2", "c": "3"}
    with pytest.raises(ApiError) as err:
        patch.server_side_apply(second, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                                         "data": {"a": "changed"}}, cm, manager="m2", force=False,
                                api_version="v1", now="t")
    assert err.value.code == 409 and err.value.details["causes"][0]["field"] == ".data.a"
    # m1 stops applying b: b stays (m2 co-owns it); a goes
    third = patch.server_side_apply(second, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                                             "data": {}}, cm, manager="m1", force=False, api_version="v1", now="t")
    assert third["data"] == {"b": "2", "c": "3"}


def test_label_selectors():
    labels = {"app": "web", "tier": "front", "n": "5"}
    cases = {"app=web": True, "app==web": True, "app!=web": False, "missing!=x": True,
             "tier in (front,back)": True, "tier notin (front)": False, "app,!canary": True, "!app": False,
             "n>3": True, "n<3": False, "app=web,tier in (back)": False, "": True}
    for text, want in cases.items():
        assert parse_labels(text).matches_labels(labels) is want, text
    with pytest.raises(BadRequest):
        parse_labels("app in web")
    sel = from_label_selector({"matchLabels": {"app": "web"},
                               "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["back"]}]})
    assert sel.matches_labels(labels) and not sel.matches_labels({"app": "web", "tier": "back"})
    assert not from_label_selector(None).matches_labels(labels)


def test_field_selectors():
    pod = {"metadata": {"name": "p", "namespace": "n"}, "spec": {"nodeName": "k8s-m"},
           "status": {"phase": "Running"}}
    assert parse_fields("spec.nodeName=k8s-m,status.phase!=Failed", "", "pods").matches(pod)
    assert not parse_fields("metadata.namespace=other", "", "pods").matches(pod)
    assert parse_fields("spec.hostNetwork=false", "", "pods").matches(pod)
    with pytest.raises(BadRequest) as err:
        parse_fields("spec.nodeName=x", "", "configmaps")
    assert "field label not supported: spec.nodeName" in err.value.message


def test_human_duration():
    assert [tables.human_duration(s) for s in (5, 125, 601, 3600 * 5 + 60 * 7, 3600 * 30, 86400 * 3 + 3600)] == \
        ["5s", "2m5s", "10m", "5h7m", "30h", "3d1h"]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num: int, value) -> bytes:
    if isinstance(value, bool) or isinstance(value, int):
        return _varint(num << 3) + _varint(int(value) & ((1 << 64) - 1))
    data = value.encode() if isinstance(value, str) else value
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def test_protobuf_decoding_of_a_configmap():
    meta = _field(1, "cm") + _field(2, "") + _field(7, 0) + _field(8, b"") + _field(11, _field(1, "k") +
                                                                                     _field(2, "v"))
    raw = (_field(1, meta) + _field(2, _field(1, "a") + _field(2, "1")) +
           _field(3, _field(1, "bin") + _field(2, b"\x00\x01")) + _field(4, False))
    body = protobuf.MAGIC + _field(1, _field(1, "v1") + _field(2, "ConfigMap")) + _field(2, raw)
    assert protobuf.decode(body) == {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cm", "labels": {"k": "v"}},
        "data": {"a": "1"}, "binaryData": {"bin": base64.b64encode(b"\x00\x01").decode()}, "immutable": False}


def test_protobuf_well_known_types():
    port = _field(4, _field(1, 1) + _field(3, "http"))  # targetPort as IntOrString(string)
    svc_spec = _field(1, _field(3, 80) + port) + _field(4, "ClusterIP")
    raw = _field(1, _field(1, "s") + _field(8, _field(1, 1700000000))) + _field(2, svc_spec)
    body = protobuf.MAGIC + _field(1, _field(1, "v1") + _field(2, "Service")) + _field(2, raw)
    obj = protobuf.decode(body)
    assert obj["metadata"] == {"name": "s", "creationTimestamp": "2023-11-14T22:13:20Z"}
    assert obj["spec"] == {"ports": [{"port": 80, "targetPort": "http"}], "type": "ClusterIP"}
    with pytest.raises(BadRequest):
        protobuf.decode(b"not protobuf")
