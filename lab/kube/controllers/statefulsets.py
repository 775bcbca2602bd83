"""The StatefulSet controller (OrderedReady): pods `<name>-0` … `<name>-(n-1)`, created one at a time — the next
only once the previous is Running and Ready — and removed from the highest ordinal down; each pod gets the
`statefulset.kubernetes.io/pod-name` and `controller-revision-hash` labels, `hostname` = its name and `subdomain` =
the governing `serviceName`."""

from __future__ import annotations

from typing import Any

from ..store import Event
from .podutil import controller_ref, meta, pod_ready
from .workloads import pod_from_template, template_hash

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"


class StatefulSets:
    """Reconciles apps/v1 StatefulSets."""

    name = "statefulset"

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def on_event(self, ev: Event) -> None:
        if ev.rt.key == ("apps", "statefulsets") and ev.type != "DELETED":
            self.ctx.enqueue(self.name, self.reconcile, (meta(ev.obj)["namespace"], meta(ev.obj)["name"]))
        elif ev.rt.key == ("", "pods"):
            ref = controller_ref(ev.obj)
            if ref and ref.get("kind") == "StatefulSet":
                self.ctx.enqueue(self.name, self.reconcile, (meta(ev.obj)["namespace"], ref["name"]))

    def reconcile(self, key: tuple[str, str]) -> None:
        store = self.ctx.store
        sts_rt, pods_rt = self.ctx.rt("apps", "statefulsets"), self.ctx.rt("", "pods")
        sts = store.try_get(sts_rt, *key)
        if sts is None or meta(sts).get("deletionTimestamp"):
            return
        ns, name = key
        spec = sts.get("spec") or {}
        want = int(spec.get("replicas", 1))
        revision = f"{name}-{template_hash(spec.get('template') or {})}"
        uid = meta(sts)["uid"]
        pods = {meta(p)["name"]: p for p in store.list(pods_rt, ns, lambda p: (controller_ref(p) or {}).get("uid")
                                                         == uid)}
        for i in range(want):
            pname = f"{name}-{i}"
            pod = pods.get(pname)
            if pod is None:
                if self.ctx.namespace_terminating(ns):
                    break
                new = pod_from_template(spec.get("template") or {}, ns, "", sts, {
                    POD_NAME_LABEL: pname, "controller-revision-hash": revision})
                new["metadata"]["name"] = pname
                new["metadata"].pop("generateName", None)
                new["spec"]["hostname"] = pname
                if spec.get("serviceName"):
                    new["spec"]["subdomain"] = spec["serviceName"]
                pods[pname] = store.create(pods_rt, new, ns)
                self.ctx.events.record(sts, "Normal", "SuccessfulCreate",
                                       f"create Pod {pname} in StatefulSet {name} successful",
                                       component="statefulset-controller")
                break  # OrderedReady: one at a time
            if not pod_ready(pod) or meta(pod).get("deletionTimestamp"):
                break
        extra = sorted((p for n, p in pods.items() if int(n.rsplit("-", 1)[1]) >= want
                        and not meta(p).get("deletionTimestamp")),
                       key=lambda p: -int(meta(p)["name"].rsplit("-", 1)[1]))
        if extra:
            store.delete(pods_rt, ns, meta(extra[0])["name"])  # highest ordinal first, one at a time
        live = [p for p in store.list(pods_rt, ns, lambda p: (controller_ref(p) or {}).get("uid") == uid)]
        ready = sum(1 for p in live if pod_ready(p))
        status: dict[str, Any] = {"observedGeneration": meta(sts).get("generation", 1), "replicas": len(live),
                                  "currentReplicas": len(live), "updatedReplicas": len(live),
                                  "currentRevision": revision, "updateRevision": revision, "collisionCount": 0}
        if ready:
            status["readyReplicas"] = ready
            status["availableReplicas"] = ready
        if status == sts.get("status"):
            return

        def put(o: dict) -> None:
            o["status"] = status
        store.mutate(sts_rt, ns, name, put, subresource="status")
