"""Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) into the JSON form.

kubectl's typed clients send built-in objects this way (responses may still be JSON: clients accept both). A body
is the magic `k8s\\0` followed by a `runtime.Unknown` envelope (apiVersion, kind, raw message bytes); the message is
decoded with the field table in `proto_fields.py`, then made to look like what Go's JSON encoding of the same
object would be: well-known types (Time, IntOrString, Quantity, RawExtension, FieldsV1) become their JSON forms,
`bytes` become base64, and the zero values Go's protobuf encoder writes for plain (non-pointer) fields are dropped
as `omitempty` drops them.
"""

from __future__ import annotations

import base64
import json
import struct
from datetime import datetime, timezone
from typing import Any

from .errors import BadRequest
from .proto_fields import MESSAGES

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

_META = "k8s.io.apimachinery.pkg.apis.meta.v1"
_PACKAGES = {
    "": "k8s.io.api.core.v1", "apps": "k8s.io.api.apps.v1", "rbac.authorization.k8s.io": "k8s.io.api.rbac.v1",
    "certificates.k8s.io": "k8s.io.api.certificates.v1", "authentication.k8s.io": "k8s.io.api.authentication.v1",
    "authorization.k8s.io": "k8s.io.api.authorization.v1", "networking.k8s.io": "k8s.io.api.networking.v1",
    "coordination.k8s.io": "k8s.io.api.coordination.v1", "policy": "k8s.io.api.policy.v1",
    "autoscaling": "k8s.io.api.autoscaling.v1", "events.k8s.io": "k8s.io.api.events.v1",
    "discovery.k8s.io": "k8s.io.api.discovery.v1", "batch": "k8s.io.api.batch.v1",
}
# Fields that are pointers in the Go types: their zero values were set on purpose and are kept.
_POINTER_FIELDS = frozenset({
    "replicas", "automountServiceAccountToken", "immutable", "expirationSeconds", "terminationGracePeriodSeconds",
    "activeDeadlineSeconds", "revisionHistoryLimit", "progressDeadlineSeconds", "enableServiceLinks", "hostUsers",
    "allowPrivilegeEscalation", "readOnlyRootFilesystem", "runAsNonRoot", "runAsUser", "runAsGroup", "privileged",
    "optional", "defaultMode", "priority", "allocateLoadBalancerNodePorts", "deletionGracePeriodSeconds",
    "gracePeriodSeconds", "orphanDependents", "controller", "blockOwnerDeletion", "tolerationSeconds",
    "setHostnameAsFQDN", "shareProcessNamespace", "fsGroup", "mode", "unschedulable", "ready",
    "serving", "terminating", "port", "endPort", "parallelism", "completions", "backoffLimit", "suspend",
})


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(buf):
            raise BadRequest("protobuf: truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    out, i = [], 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise BadRequest(f"protobuf: unsupported wire type {wire}")
        out.append((num, wire, value))
    return out


def _scalar(kind: str, wire: int, value: Any) -> Any:
    if kind == "string":
        return bytes(value).decode("utf-8")
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode()
    if kind == "bool":
        return bool(value)
    if kind in ("int64", "int32", "enum"):
        return value - (1 << 64) if value >= (1 << 63) else value
    if kind in ("uint64", "uint32"):
        return value
    if kind in ("sint32", "sint64"):
        return (value >> 1) ^ -(value & 1)
    if kind == "double":
        return struct.unpack("<d", value)[0]
    if kind == "float":
        return struct.unpack("<f", value)[0]
    if kind in ("fixed64", "sfixed64"):
        return struct.unpack("<q" if kind[0] == "s" else "<Q", value)[0]
    if kind in ("fixed32", "sfixed32"):
        return struct.unpack("<i" if kind[0] == "s" else "<I", value)[0]
    raise BadRequest(f"protobuf: unsupported field type {kind}")


def _packed(kind: str, data: bytes) -> list[Any]:
    out, i = [], 0
    while i < len(data):
        if kind in ("double", "fixed64", "sfixed64"):
            out.append(_scalar(kind, 1, data[i:i + 8]))
            i += 8
        elif kind in ("float", "fixed32", "sfixed32"):
            out.append(_scalar(kind, 5, data[i:i + 4]))
            i += 4
        else:
            v, i = _varint(data, i)
            out.append(_scalar(kind, 0, v))
    return out


def _time(msg: dict[str, Any], micro: bool) -> str | None:
    seconds, nanos = msg.get("seconds", 0), msg.get("nanos", 0)
    if not seconds and not nanos:
        return None
    t = datetime.fromtimestamp(seconds + nanos / 1e9, timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def _duration(ns: int) -> str:
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    h, rem = divmod(ns, 3600 * 10**9)
    m, rem = divmod(rem, 60 * 10**9)
    s = rem / 1e9
    text = f"{s:g}s"
    if h:
        return f"{sign}{h}h{m}m{text}"
    if m:
        return f"{sign}{m}m{text}"
    return sign + text


def _special(name: str, buf: bytes) -> tuple[bool, Any]:
    """Well-known messages with a JSON form of their own: (handled, value)."""
    if name in (f"{_META}.Time", f"{_META}.MicroTime"):
        return True, _time(decode_message(buf, name, raw=True), name.endswith("MicroTime"))
    if name == f"{_META}.Duration":
        return True, _duration(decode_message(buf, name, raw=True).get("duration", 0))
    if name == "k8s.io.apimachinery.pkg.util.intstr.IntOrString":
        m = decode_message(buf, name, raw=True)
        return True, m.get("strVal", "") if m.get("type") == 1 else m.get("intVal", 0)
    if name == "k8s.io.apimachinery.pkg.api.resource.Quantity":
        return True, decode_message(buf, name, raw=True).get("string", "")
    if name in ("k8s.io.apimachinery.pkg.runtime.RawExtension", f"{_META}.FieldsV1"):
        for num, wire, value in _fields(buf):
            if num == 1 and wire == 2:
                return True, json.loads(bytes(value)) if value else None
        return True, None
    if name.endswith(".ExtraValue") or name == f"{_META}.Verbs":
        return True, [bytes(v).decode() for num, wire, v in _fields(buf) if num == 1]
    return False, None


def _is_zero(value: Any) -> bool:
    return value is None or value == "" or value is False or value == 0 or value == [] or value == {}


def decode_message(buf: bytes, name: str, *, raw: bool = False) -> dict[str, Any]:
    """Decode one message of type `name` (a key of MESSAGES) into a JSON-shaped dict."""
    table = MESSAGES.get(name)
    if table is None:
        raise BadRequest(f"protobuf: message {name} is not known to the lab")
    out: dict[str, Any] = {}
    for num, wire, value in _fields(buf):
        spec = table.get(num)
        if spec is None:
            continue  # unknown fields are skipped, as protobuf decoders do
        field, card, kind = spec
        if card == "map":
            entry = {n: (w, v) for n, w, v in _fields(value)}
            key = bytes(entry[1][1]).decode() if 1 in entry else ""
            if 2 not in entry:
                item: Any = "" if kind == "string" else None
            elif kind in MESSAGES:
                handled, item = _special(kind, entry[2][1])
                if not handled:
                    item = decode_message(entry[2][1], kind)
            else:
                item = _scalar(kind, *entry[2])
            out.setdefault(field, {})[key] = item
            continue
        if kind in MESSAGES:
            handled, item = _special(kind, value)
            if not handled:
                item = decode_message(value, kind)
            if item is None:
                continue
        elif card == "repeated" and wire == 2 and kind not in ("string", "bytes"):
            out.setdefault(field, []).extend(_packed(kind, value))
            continue
        else:
            item = _scalar(kind, wire, value)
        if card == "repeated":
            out.setdefault(field, []).append(item)
        else:
            out[field] = item
    if not raw:
        for k in [k for k, v in out.items() if not isinstance(v, (dict, list)) and _is_zero(v)]:
            if k not in _POINTER_FIELDS:
                del out[k]
    return out


def decode(body: bytes) -> dict[str, Any]:
    """A protobuf-encoded Kubernetes object (with its `k8s\\0` envelope) as the JSON object it stands for."""
    if not body.startswith(MAGIC):
        raise BadRequest("protobuf: the body does not start with the Kubernetes protobuf magic number")
    envelope = decode_message(body[len(MAGIC):], "k8s.io.apimachinery.pkg.runtime.Unknown", raw=True)
    tm = envelope.get("typeMeta") or {}
    api_version, kind = tm.get("apiVersion", ""), tm.get("kind", "")
    group = api_version.rpartition("/")[0]
    raw = base64.b64decode(envelope.get("raw", ""))
    for package in (_PACKAGES.get(group), _META):
        if package and f"{package}.{kind}" in MESSAGES:
            obj = decode_message(raw, f"{package}.{kind}")
            break
    else:
        raise BadRequest(f"protobuf: kind {kind} of {api_version or 'v1'} is not known to the lab")
    obj["apiVersion"], obj["kind"] = api_version, kind
    return {"apiVersion": api_version, "kind": kind, **{k: v for k, v in obj.items()
                                                         if k not in ("apiVersion", "kind")}}
