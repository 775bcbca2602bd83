"""default-scheduler: binds pending pods to Ready nodes (nodeSelector, node affinity, taints/tolerations,
required inter-pod (anti-)affinity, pod count), spreading replicas; otherwise marks them Unschedulable."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..store import Event
from ..net.selectors import match_label_selector, match_map_selector, match_node_selector_term
from .podutil import controller_ref, labels, meta, node_ready, set_condition, tolerates

COMPONENT = "default-scheduler"
NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}


class Scheduler:
    """Filters and scores nodes for every pod without `spec.nodeName` whose schedulerName is ours."""

    name = "scheduler"

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def on_event(self, ev: Event) -> None:
        if ev.rt.key == ("", "pods"):
            if ev.type == "DELETED":
                if (ev.obj.get("spec") or {}).get("nodeName"):
                    self._enqueue_pending()  # freed capacity or anti-affinity
                return
            if self._wants(ev.obj):
                self.ctx.enqueue(self.name, self.reconcile, (meta(ev.obj)["namespace"], meta(ev.obj)["name"]))
        elif ev.rt.key == ("", "nodes"):
            self._enqueue_pending()

    def _wants(self, pod: dict) -> bool:
        spec = pod.get("spec") or {}
        return (not spec.get("nodeName") and not meta(pod).get("deletionTimestamp")
                and (spec.get("schedulerName") or COMPONENT) == COMPONENT)

    def _enqueue_pending(self) -> None:
        for p in self.ctx.store.list(self.ctx.rt("", "pods"), None, self._wants):
            self.ctx.enqueue(self.name, self.reconcile, (p["metadata"]["namespace"], p["metadata"]["name"]))

    # --- one pod ---------------------------------------------------------------------------------------------------
    def reconcile(self, key: tuple[str, str]) -> None:
        pods_rt = self.ctx.rt("", "pods")
        pod = self.ctx.store.try_get(pods_rt, *key)
        if pod is None or not self._wants(pod):
            return
        nodes = self.ctx.nodes()
        all_pods = self.ctx.store.list(pods_rt, None, lambda p: bool((p.get("spec") or {}).get("nodeName")))
        by_node: dict[str, list[dict]] = {}
        for p in all_pods:
            by_node.setdefault(p["spec"]["nodeName"], []).append(p)
        reasons: Counter[str] = Counter()
        feasible = []
        for node in nodes:
            why = self.filter(pod, node, by_node, nodes)
            if why is None:
                feasible.append(node)
            else:
                reasons[why] += 1
        if feasible:
            self._bind(pod, min(feasible, key=lambda n: self._score(pod, n, by_node)))
        else:
            self._unschedulable(pod, len(nodes), reasons)

    def filter(self, pod: dict, node: dict, by_node: dict[str, list[dict]], nodes: list[dict]) -> str | None:
        """None when `pod` fits `node`, else the scheduler's reason text (first failing filter)."""
        spec = pod.get("spec") or {}
        tolerations = spec.get("tolerations") or []
        nspec = node.get("spec") or {}
        if nspec.get("unschedulable") and not tolerates(
                tolerations, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}):
            return "node(s) were unschedulable"
        taints = [t for t in nspec.get("taints") or [] if t.get("effect") in ("NoSchedule", "NoExecute")]
        if not node_ready(node) and not any(t.get("key") == NOT_READY_TAINT["key"] for t in taints):
            taints.append(NOT_READY_TAINT)
        for t in taints:
            if not tolerates(tolerations, t):
                word = "untolerated taint" if self._minor() >= 25 else "taint"
                tail = "" if self._minor() >= 25 else ", that the pod didn't tolerate"
                return f"node(s) had {word} {{{t.get('key')}: {t.get('value') or ''}}}{tail}"
        if not self._node_affinity_ok(pod, node):
            return "node(s) didn't match Pod's node affinity/selector"
        allocatable = int(((node.get("status") or {}).get("allocatable") or {}).get("pods") or 110)
        if len(by_node.get(node["metadata"]["name"], [])) >= allocatable:
            return "Too many pods"
        aff = spec.get("affinity") or {}
        anti = ((aff.get("podAntiAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")) or []
        for term in anti:
            if self._term_pods_in_domain(pod, term, node, by_node, nodes):
                return "node(s) didn't match pod anti-affinity rules"
        pro = ((aff.get("podAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")) or []
        for term in pro:
            if not self._term_pods_in_domain(pod, term, node, by_node, nodes):
                anywhere = any(self._term_matches(pod, term, p) for ps in by_node.values() for p in ps)
                if anywhere or not self._term_matches(pod, term, pod):
                    return "node(s) didn't match pod affinity rules"
        return None

    def _node_affinity_ok(self, pod: dict, node: dict) -> bool:
        spec = pod.get("spec") or {}
        if not match_map_selector(spec.get("nodeSelector"), labels(node)):
            return False
        req = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
               .get("requiredDuringSchedulingIgnoredDuringExecution"))
        if req:
            terms = req.get("nodeSelectorTerms") or []
            fields = {"metadata.name": node["metadata"]["name"]}
            if not any(match_node_selector_term(t, labels(node), fields) for t in terms):
                return False
        return True

    @staticmethod
    def _term_matches(pod: dict, term: dict, other: dict) -> bool:
        namespaces = term.get("namespaces") or [meta(pod).get("namespace")]
        return meta(other).get("namespace") in namespaces and match_label_selector(
            term.get("labelSelector") or None, labels(other))

    def _term_pods_in_domain(self, pod: dict, term: dict, node: dict, by_node: dict[str, list[dict]],
                             nodes: list[dict]) -> bool:
        key = term.get("topologyKey") or "kubernetes.io/hostname"
        value = labels(node).get(key)
        if value is None:
            return False
        for other in nodes:
            if labels(other).get(key) != value:
                continue
            for p in by_node.get(other["metadata"]["name"], []):
                if meta(p).get("uid") != meta(pod).get("uid") and self._term_matches(pod, term, p):
                    return True
        return False

    @staticmethod
    def _score(pod: dict, node: dict, by_node: dict[str, list[dict]]) -> tuple:
        here = by_node.get(node["metadata"]["name"], [])
        ref = controller_ref(pod)
        siblings = sum(1 for p in here if ref and (controller_ref(p) or {}).get("uid") == ref.get("uid"))
        return (siblings, len(here), node["metadata"]["name"])

    def _bind(self, pod: dict, node: dict) -> None:
        store, rt = self.ctx.store, self.ctx.rt("", "pods")
        ns, name, node_name = meta(pod)["namespace"], meta(pod)["name"], node["metadata"]["name"]

        def bind(p: dict) -> None:
            p["spec"]["nodeName"] = node_name
        store.mutate(rt, ns, name, bind)

        def scheduled(p: dict) -> None:
            st = p.setdefault("status", {})
            st.setdefault("phase", "Pending")
            conds = st.setdefault("conditions", [])
            set_condition(conds, "PodScheduled", "True")
        store.mutate(rt, ns, name, scheduled, subresource="status")
        self.ctx.events.record(pod, "Normal", "Scheduled", f"Successfully assigned {ns}/{name} to {node_name}",
                               component=COMPONENT)

    def _unschedulable(self, pod: dict, total: int, reasons: Counter[str]) -> None:
        parts = sorted(f"{n} {r}" for r, n in reasons.items())
        msg = f"0/{total} nodes are available" + (": " + ", ".join(parts) if parts else "") + "."
        if self._minor() >= 25 and total:
            msg += f" preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling."
        cur = next((c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "PodScheduled"),
                   None)
        if cur and cur.get("status") == "False" and cur.get("message") == msg:
            return

        def mark(p: dict) -> None:
            st = p.setdefault("status", {})
            st["phase"] = "Pending"
            set_condition(st.setdefault("conditions", []), "PodScheduled", "False", "Unschedulable", msg)
        self.ctx.store.mutate(self.ctx.rt("", "pods"), meta(pod)["namespace"], meta(pod)["name"], mark,
                              subresource="status")
        self.ctx.events.record(pod, "Warning", "FailedScheduling", msg, component=COMPONENT)

    def _minor(self) -> int:
        try:
            return int(self.ctx.kube_version().lstrip("v").split(".")[1])
        except (IndexError, ValueError):
            return 22
