"""Small pure helpers over Pod and Node dicts shared by the controllers and the network model."""

from __future__ import annotations

from typing import Any

from ..store import now_iso


def meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def labels(obj: dict) -> dict[str, str]:
    return meta(obj).get("labels") or {}


def condition(obj: dict, ctype: str) -> dict | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return None


def set_condition(conds: list[dict], ctype: str, status: str, reason: str | None = None,
                  message: str | None = None, *, probe: bool = True) -> None:
    """Set a condition in place; lastTransitionTime changes only when the status does."""
    for c in conds:
        if c.get("type") == ctype:
            if c.get("status") != status:
                c["lastTransitionTime"] = now_iso()
            c["status"] = status
            _opt(c, "reason", reason)
            _opt(c, "message", message)
            return
    c: dict[str, Any] = {"type": ctype, "status": status, "lastTransitionTime": now_iso()}
    if probe:
        c["lastProbeTime"] = None
    _opt(c, "reason", reason)
    _opt(c, "message", message)
    conds.append(c)


def _opt(d: dict, k: str, v: Any) -> None:
    if v is None:
        d.pop(k, None)
    else:
        d[k] = v


def node_ready(node: dict) -> bool:
    c = condition(node, "Ready")
    return bool(c and c.get("status") == "True")


def node_ip(node: dict) -> str | None:
    for a in (node.get("status") or {}).get("addresses") or []:
        if a.get("type") == "InternalIP":
            return a.get("address")
    return None


def node_os(node: dict) -> str:
    return labels(node).get("kubernetes.io/os") or ((node.get("status") or {}).get("nodeInfo") or {}).get(
        "operatingSystem") or "linux"


def pod_running(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and not meta(pod).get("deletionTimestamp")


def pod_ready(pod: dict) -> bool:
    c = condition(pod, "Ready")
    return pod_running(pod) and bool(c and c.get("status") == "True")


def pod_ip(pod: dict) -> str | None:
    return (pod.get("status") or {}).get("podIP") or None


def host_network(pod: dict) -> bool:
    return bool((pod.get("spec") or {}).get("hostNetwork"))


def controller_ref(obj: dict) -> dict | None:
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def owner_ref(owner: dict, *, controller: bool = True) -> dict:
    """An ownerReference to `owner`, as controllers set it."""
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": controller, "blockOwnerDeletion": True}


def tolerates(tolerations: list[dict], taint: dict) -> bool:
    """True when some toleration tolerates `taint` (key/value/effect with Equal or Exists)."""
    for t in tolerations or []:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        op = t.get("operator") or "Equal"
        if not t.get("key"):
            if op == "Exists":
                return True
            continue
        if t.get("key") != taint.get("key"):
            continue
        if op == "Exists" or (t.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def container_port(pod: dict, name_or_number: Any, protocol: str = "TCP") -> int | None:
    """Resolve a port number or a named container port of `pod`."""
    if isinstance(name_or_number, int):
        return name_or_number
    if isinstance(name_or_number, str) and name_or_number.isdigit():
        return int(name_or_number)
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == name_or_number and (p.get("protocol") or "TCP") == protocol:
                return p.get("containerPort")
    return None
