"""Reading a Node: whether it is Ready, its conditions and key facts as a report shows them, its recent events."""

from __future__ import annotations

from typing import Any

from kubernetes.aio import client as kclient


def node_ready(node: dict[str, Any] | None) -> bool:
    """True when the Node's `Ready` condition is `True`."""
    for cond in ((node or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def describe_conditions(node: dict[str, Any] | None) -> str:
    """`Ready=False (KubeletNotReady: cni plugin not initialized); MemoryPressure=False` or "node not registered"."""
    if not node:
        return "node not registered"
    parts = []
    for c in (node.get("status") or {}).get("conditions") or []:
        text = f"{c.get('type')}={c.get('status')}"
        if c.get("type") == "Ready" and c.get("status") != "True" and (c.get("reason") or c.get("message")):
            text += f" ({c.get('reason', '')}: {c.get('message', '')})"
        parts.append(text)
    return "; ".join(parts) or "no conditions reported"


def node_facts(node: dict[str, Any]) -> dict[str, str]:
    """Key facts of a Node for the report (what `kubectl get nodes -o wide` shows)."""
    status = node.get("status") or {}
    info = status.get("nodeInfo") or {}
    internal = next((a.get("address") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"), "")
    return {
        "kubelet_version": str(info.get("kubeletVersion") or ""),
        "os_image": str(info.get("osImage") or ""),
        "kernel_version": str(info.get("kernelVersion") or ""),
        "container_runtime": str(info.get("containerRuntimeVersion") or ""),
        "internal_ip": str(internal or ""),
        "windows_build": str(((node.get("metadata") or {}).get("labels") or {}).get(
            "node.kubernetes.io/windows-build", "")),
    }


async def recent_events(api: kclient.ApiClient, node_name: str, limit: int = 15) -> list[str]:
    """The node's most recent events (`type reason: message`), newest last."""
    core = kclient.CoreV1Api(api)
    events = await core.list_event_for_all_namespaces(
        field_selector=f"involvedObject.kind=Node,involvedObject.name={node_name}")
    items = sorted(events.items or [], key=lambda e: str(e.last_timestamp or e.event_time or
                                                            e.metadata.creation_timestamp or ""))
    return [f"{e.type} {e.reason}: {e.message}" for e in items[-limit:]]
