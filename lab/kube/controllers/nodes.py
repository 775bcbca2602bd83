"""The node lifecycle controller's taints: `node.kubernetes.io/not-ready:NoSchedule` while a node is not Ready,
`node.kubernetes.io/unschedulable:NoSchedule` while it is cordoned."""

from __future__ import annotations

from typing import Any

from ..store import Event
from .podutil import node_ready

NOT_READY = "node.kubernetes.io/not-ready"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"


class NodeLifecycle:
    """Keeps the lifecycle taints in step with each node's Ready condition and `spec.unschedulable`."""

    name = "node-lifecycle"

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def on_event(self, ev: Event) -> None:
        if ev.rt.key == ("", "nodes") and ev.type != "DELETED":
            self.ctx.enqueue(self.name, self.reconcile, ev.obj["metadata"]["name"])

    def reconcile(self, name: str) -> None:
        node = self.ctx.node(name)
        if node is None:
            return
        want = {NOT_READY: not node_ready(node), UNSCHEDULABLE: bool((node.get("spec") or {}).get("unschedulable"))}
        taints = list((node.get("spec") or {}).get("taints") or [])
        new = [t for t in taints if not (t.get("key") in want and t.get("effect") == "NoSchedule"
                                         and not want[t["key"]])]
        for key, on in want.items():
            if on and not any(t.get("key") == key and t.get("effect") == "NoSchedule" for t in new):
                new.append({"key": key, "effect": "NoSchedule"})
        if new == taints:
            return

        def put(n: dict) -> None:
            if new:
                n.setdefault("spec", {})["taints"] = new
            else:
                n.setdefault("spec", {}).pop("taints", None)
        self.ctx.store.mutate(self.ctx.rt("", "nodes"), None, name, put)
