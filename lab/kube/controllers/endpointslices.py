"""The EndpointSlice controller (discovery.k8s.io/v1), beside the Endpoints controller: one slice per selecting
Service (`<service>-<5 chars>`, label `kubernetes.io/service-name`, managed by `endpointslice-controller.k8s.io`,
owned by the Service) listing every pod with an IP, with `ready` / `serving` / `terminating` conditions, the node
and the resolved ports. Slices of a Service without a selector are left to their users."""

from __future__ import annotations

from typing import Any

from ..net.selectors import match_map_selector
from ..store import Event
from .podutil import container_port, labels, meta, owner_ref, pod_ip, pod_ready
from .workloads import random_suffix

SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER = "endpointslice-controller.k8s.io"


def slice_body(svc: dict, pods: list[dict]) -> dict:
    """`endpoints` and `ports` of the slice for `svc` over `pods`."""
    ports: list[dict] = []
    endpoints: list[dict] = []
    for p in sorted(pods, key=lambda p: pod_ip(p) or ""):
        ip = pod_ip(p)
        if not ip or (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        terminating = bool(meta(p).get("deletionTimestamp"))
        ready = pod_ready(p)
        ep: dict[str, Any] = {"addresses": [ip], "conditions": {"ready": ready and not terminating,
                                                                "serving": ready, "terminating": terminating},
                              "targetRef": {"kind": "Pod", "namespace": meta(p)["namespace"], "name": meta(p)["name"],
                                            "uid": meta(p)["uid"]}}
        if (p.get("spec") or {}).get("nodeName"):
            ep["nodeName"] = p["spec"]["nodeName"]
        endpoints.append(ep)
        if not ports:
            for sp in (svc.get("spec") or {}).get("ports") or []:
                proto = sp.get("protocol") or "TCP"
                num = container_port(p, sp.get("targetPort", sp.get("port")), proto)
                if num is not None:
                    ports.append({"name": sp.get("name", ""), "port": num, "protocol": proto})
    return {"endpoints": endpoints, "ports": ports}


class EndpointSlices:
    """Keeps one managed EndpointSlice per Service with a selector."""

    name = "endpointslices"

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def on_event(self, ev: Event) -> None:
        if not self.ctx.has("discovery.k8s.io", "endpointslices"):
            return
        if ev.rt.key == ("", "services"):
            self.ctx.enqueue(self.name, self.reconcile, (meta(ev.obj)["namespace"], meta(ev.obj)["name"]))
        elif ev.rt.key == ("", "pods"):
            ns = meta(ev.obj).get("namespace")
            lbls = [labels(ev.obj)] + ([labels(ev.old)] if ev.old else [])
            for svc in self.ctx.store.list(self.ctx.rt("", "services"), ns):
                sel = (svc.get("spec") or {}).get("selector")
                if sel and any(match_map_selector(sel, lb) for lb in lbls):
                    self.ctx.enqueue(self.name, self.reconcile, (ns, meta(svc)["name"]))

    def reconcile(self, key: tuple[str, str]) -> None:
        store = self.ctx.store
        rt = self.ctx.rt("discovery.k8s.io", "endpointslices")
        ns, name = key
        svc = store.try_get(self.ctx.rt("", "services"), ns, name)
        mine = store.list(rt, ns, lambda s: labels(s).get(SERVICE_NAME) == name
                          and labels(s).get(MANAGED_BY) == CONTROLLER)
        selector = (svc or {}).get("spec", {}).get("selector")
        if svc is None or not selector:
            return  # the garbage collector removes slices of a deleted Service (they are owned by it)
        pods = store.list(self.ctx.rt("", "pods"), ns, lambda p: match_map_selector(selector, labels(p)))
        body = slice_body(svc, pods)
        if not mine:
            if self.ctx.namespace_terminating(ns):
                return
            store.create(rt, {"metadata": {"name": f"{name}-{random_suffix()}", "namespace": ns,
                                           "generateName": f"{name}-",
                                           "labels": {SERVICE_NAME: name, MANAGED_BY: CONTROLLER},
                                           "ownerReferences": [owner_ref(svc)]},
                              "addressType": "IPv4", **body}, ns)
            return
        current = mine[0]
        if current.get("endpoints") == body["endpoints"] and current.get("ports") == body["ports"]:
            return

        def put(o: dict) -> None:
            o.update(body)
        store.mutate(rt, ns, meta(current)["name"], put)
