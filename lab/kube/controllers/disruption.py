"""The disruption controller: PodDisruptionBudget status from the pods a budget selects.

For each budget: `expectedPods` (the selected pods), `currentHealthy` (those Ready and not being deleted),
`desiredHealthy` (`minAvailable`, or `expectedPods - maxUnavailable`; percentages of `expectedPods`, rounded up as
the controller rounds them), `disruptionsAllowed = max(0, currentHealthy - desiredHealthy)`, the
`DisruptionAllowed` condition (SufficientPods / InsufficientPods), `observedGeneration`, and `disruptedPods`
(evictions granted by `pods/eviction`) forgotten once those pods are gone.
"""

from __future__ import annotations

import math
from typing import Any

from ..net.selectors import match_label_selector
from ..store import Event, now_iso
from .podutil import labels, meta, pod_ready


def _scaled(value: Any, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


class Disruption:
    """Keeps every PodDisruptionBudget's status current."""

    name = "disruption"

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def on_event(self, ev: Event) -> None:
        if ev.rt.key == ("policy", "poddisruptionbudgets") and ev.type != "DELETED":
            self.ctx.enqueue(self.name, self.reconcile, (meta(ev.obj)["namespace"], meta(ev.obj)["name"]))
        elif ev.rt.key == ("", "pods") and self.ctx.has("policy", "poddisruptionbudgets"):
            ns = meta(ev.obj).get("namespace")
            for pdb in self.ctx.store.list(self.ctx.rt("policy", "poddisruptionbudgets"), ns):
                self.ctx.enqueue(self.name, self.reconcile, (ns, meta(pdb)["name"]))

    def reconcile(self, key: tuple[str, str]) -> None:
        rt = self.ctx.rt("policy", "poddisruptionbudgets")
        pdb = self.ctx.store.try_get(rt, *key)
        if pdb is None:
            return
        spec = pdb.get("spec") or {}
        selector = spec.get("selector")
        pods = [] if selector is None else self.ctx.store.list(
            self.ctx.rt("", "pods"), key[0], lambda p: match_label_selector(selector, labels(p)))
        expected = len(pods)
        if spec.get("maxUnavailable") is not None:
            desired = max(0, expected - _scaled(spec["maxUnavailable"], expected))
        else:
            desired = _scaled(spec.get("minAvailable", 1), expected)
        names = {meta(p)["name"] for p in pods if not meta(p).get("deletionTimestamp")}
        old = pdb.get("status") or {}
        disrupted = {n: t for n, t in (old.get("disruptedPods") or {}).items() if n in names}
        # pods whose eviction was granted count as gone already
        healthy = sum(1 for p in pods if pod_ready(p) and not meta(p).get("deletionTimestamp")
                      and meta(p)["name"] not in disrupted)
        allowed = max(0, healthy - desired)
        status: dict[str, Any] = {"observedGeneration": meta(pdb).get("generation", 1),
                                  "disruptionsAllowed": allowed, "currentHealthy": healthy,
                                  "desiredHealthy": desired, "expectedPods": expected}
        if disrupted:
            status["disruptedPods"] = disrupted
        cond_status, reason = ("True", "SufficientPods") if allowed > 0 else ("False", "InsufficientPods")
        prev = next((c for c in old.get("conditions") or [] if c.get("type") == "DisruptionAllowed"), None)
        since = prev["lastTransitionTime"] if prev and prev.get("status") == cond_status else now_iso()
        status["conditions"] = [{"type": "DisruptionAllowed", "status": cond_status, "reason": reason,
                                 "message": "", "observedGeneration": status["observedGeneration"],
                                 "lastTransitionTime": since}]
        if status == old:
            return

        def put(o: dict) -> None:
            o["status"] = status
        self.ctx.store.mutate(rt, key[0], key[1], put, subresource="status")
