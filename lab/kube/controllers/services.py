"""Services: ClusterIP (and NodePort) allocation at admission from the service CIDR in kubeadm-config, defaults
as the API server fills them, and the endpoints controller (Endpoints from the ready pods a selector picks)."""

from __future__ import annotations

import copy
import hashlib
import ipaddress
from typing import Any

from ..errors import Invalid
from ..store import Event
from ..net.selectors import match_map_selector
from .podutil import container_port, labels, meta, pod_ip, pod_ready, pod_running

NODE_PORT_RANGE = (30000, 32767)


class Services:
    """Admission for Services and the endpoints controller."""

    name = "endpoints"

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    # --- admission -------------------------------------------------------------------------------------------------
    def admit(self, op: str, svc: dict, old: dict | None) -> dict:
        """Default a Service and allocate its ClusterIP/NodePorts (CREATE); keep them immutable (UPDATE)."""
        if op == "DELETE":
            return svc
        spec = svc.setdefault("spec", {})
        name = meta(svc).get("name", "")
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for p in spec.get("ports") or []:
            p.setdefault("protocol", "TCP")
            if spec["type"] != "ExternalName":
                p.setdefault("targetPort", p.get("port"))
        svc.setdefault("status", {}).setdefault("loadBalancer", {})
        if spec["type"] == "ExternalName":
            return svc
        old_spec = (old or {}).get("spec") or {}
        if op == "UPDATE" and old_spec.get("clusterIP"):
            if spec.get("clusterIP") in (None, ""):
                spec["clusterIP"] = old_spec["clusterIP"]
                spec["clusterIPs"] = old_spec.get("clusterIPs") or [old_spec["clusterIP"]]
            elif spec["clusterIP"] != old_spec["clusterIP"]:
                raise Invalid.of("Service", name, [("spec.clusterIPs[0]", "Invalid value: []string{\"%s\"}: may not "
                                                   "change once set" % spec["clusterIP"])])
        else:
            self._allocate_cluster_ip(svc)
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        if spec["type"] in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
            used = self._used_node_ports(exclude=meta(svc).get("uid"))
            old_ports = {(p.get("port"), p.get("protocol")): p.get("nodePort") for p in old_spec.get("ports") or []}
            for p in spec.get("ports") or []:
                if not p.get("nodePort"):
                    p["nodePort"] = old_ports.get((p.get("port"), p.get("protocol"))) or \
                        self._free_node_port(used, f"{meta(svc).get('namespace')}/{name}/{p.get('port')}")
                used.add(p["nodePort"])
        return svc

    def _allocate_cluster_ip(self, svc: dict) -> None:
        spec = svc["spec"]
        cidr = ipaddress.ip_network(self.ctx.service_cidr(), strict=False)
        name = meta(svc).get("name", "")
        requested = spec.get("clusterIP")
        if requested == "None":
            spec["clusterIPs"] = ["None"]
            return
        used = self._used_cluster_ips()
        if requested:
            try:
                ip = ipaddress.ip_address(requested)
            except ValueError:
                raise Invalid.of("Service", name, [("spec.clusterIPs[0]", f'Invalid value: "{requested}": must be a '
                                                   "valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")])
            if ip not in cidr:
                raise Invalid.of("Service", name, [("spec.clusterIPs", f'Invalid value: []string{{"{requested}"}}: '
                                                   f"failed to allocate IP {requested}: the provided IP ({requested}) "
                                                   f"is not in the valid range. The range of valid IPs is {cidr}")])
            if requested in used:
                raise Invalid.of("Service", name, [("spec.clusterIPs", f'Invalid value: []string{{"{requested}"}}: '
                                                   f"failed to allocate IP {requested}: provided IP is already "
                                                   "allocated")])
            spec["clusterIPs"] = [requested]
            return
        size = cidr.num_addresses
        # The real allocator picks at random; hashing the name keeps runs reproducible yet spread out.
        start = int(hashlib.sha256(f"{meta(svc).get('namespace')}/{name}".encode()).hexdigest(), 16) % (size - 2)
        for i in range(size - 2):
            ip = str(cidr.network_address + 1 + (start + i) % (size - 2))
            if ip not in used:
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
                return
        raise Invalid.of("Service", name, [("spec.clusterIPs", "Internal error: range is full")])

    def _used_cluster_ips(self) -> set[str]:
        return {s["spec"].get("clusterIP") for s in self.ctx.store.list(self.ctx.rt("", "services"))
                if (s.get("spec") or {}).get("clusterIP")}

    def _used_node_ports(self, exclude: str | None) -> set[int]:
        out: set[int] = set()
        for s in self.ctx.store.list(self.ctx.rt("", "services")):
            if meta(s).get("uid") == exclude:
                continue
            out.update(p["nodePort"] for p in (s.get("spec") or {}).get("ports") or [] if p.get("nodePort"))
        return out

    @staticmethod
    def _free_node_port(used: set[int], seed: str) -> int:
        lo, hi = NODE_PORT_RANGE
        span = hi - lo + 1
        start = int(hashlib.sha256(seed.encode()).hexdigest(), 16) % span
        for i in range(span):
            port = lo + (start + i) % span
            if port not in used:
                return port
        raise Invalid.of("Service", seed, [("spec.ports", "Internal error: range is full")])

    # --- endpoints controller --------------------------------------------------------------------------------------
    def on_event(self, ev: Event) -> None:
        if ev.rt.key == ("", "services"):
            m = meta(ev.obj)
            self.ctx.enqueue(self.name, self.reconcile, (m["namespace"], m["name"]))
        elif ev.rt.key == ("", "pods"):
            ns = meta(ev.obj).get("namespace")
            if ev.type == "MODIFIED" and _pod_view(ev.old or {}) == _pod_view(ev.obj):
                return
            lbls = [labels(ev.obj)] + ([labels(ev.old)] if ev.old else [])
            for svc in self.ctx.store.list(self.ctx.rt("", "services"), ns):
                sel = (svc.get("spec") or {}).get("selector")
                if sel and any(match_map_selector(sel, lb) for lb in lbls):
                    self.ctx.enqueue(self.name, self.reconcile, (ns, svc["metadata"]["name"]))

    def reconcile(self, key: tuple[str, str]) -> None:
        store = self.ctx.store
        ep_rt = self.ctx.rt("", "endpoints")
        ns, name = key
        svc = store.try_get(self.ctx.rt("", "services"), ns, name)
        current = store.try_get(ep_rt, ns, name)
        if svc is None:
            if current is not None:
                store.delete(ep_rt, ns, name)
            return
        selector = (svc.get("spec") or {}).get("selector")
        if not selector:
            return  # endpoints of selector-less services are managed by their users
        pods = store.list(self.ctx.rt("", "pods"), ns, lambda p: match_map_selector(selector, labels(p)))
        subsets = endpoint_subsets(svc, pods)
        ep: dict[str, Any] = {"metadata": {"name": name, "namespace": ns, "labels": dict(labels(svc))}}
        if not ep["metadata"]["labels"]:
            del ep["metadata"]["labels"]
        if subsets:
            ep["subsets"] = subsets
        if current is None:
            if not self.ctx.namespace_terminating(ns):
                store.create(ep_rt, ep, ns)
            return
        if current.get("subsets") == ep.get("subsets") and \
                (meta(current).get("labels") or {}) == (ep["metadata"].get("labels") or {}):
            return
        new = copy.deepcopy(current)
        new["metadata"]["labels"] = ep["metadata"].get("labels") or {}
        if subsets:
            new["subsets"] = subsets
        else:
            new.pop("subsets", None)
        store.replace(ep_rt, new)


def endpoint_subsets(svc: dict, pods: list[dict]) -> list[dict]:
    """Endpoints subsets for `svc` over `pods`: ready addresses, notReadyAddresses, ports (targetPort resolved)."""
    groups: dict[tuple, dict[str, list]] = {}
    for p in sorted(pods, key=lambda p: pod_ip(p) or ""):
        ip = pod_ip(p)
        if not ip or meta(p).get("deletionTimestamp") or (p.get("status") or {}).get("phase") in (
                "Succeeded", "Failed"):
            continue
        ports = []
        for sp in (svc.get("spec") or {}).get("ports") or []:
            proto = sp.get("protocol") or "TCP"
            num = container_port(p, sp.get("targetPort", sp.get("port")), proto)
            if num is None:
                continue
            entry = {"port": num, "protocol": proto}
            if sp.get("name"):
                entry["name"] = sp["name"]
            ports.append(entry)
        key = tuple(sorted((e.get("name", ""), e["port"], e["protocol"]) for e in ports))
        g = groups.setdefault(key, {"ready": [], "notready": [], "ports": ports})
        addr = {"ip": ip, "targetRef": {"kind": "Pod", "namespace": meta(p)["namespace"], "name": meta(p)["name"],
                                        "uid": meta(p)["uid"]}}
        if (p.get("spec") or {}).get("nodeName"):
            addr["nodeName"] = p["spec"]["nodeName"]
        (g["ready"] if pod_ready(p) else g["notready"]).append(addr)
    out = []
    for g in groups.values():
        sub: dict[str, Any] = {}
        if g["ready"]:
            sub["addresses"] = g["ready"]
        if g["notready"]:
            sub["notReadyAddresses"] = g["notready"]
        if g["ports"]:
            sub["ports"] = g["ports"]
        if sub.get("addresses") or sub.get("notReadyAddresses"):
            out.append(sub)
    return out


def _pod_view(p: dict) -> tuple:
    return (labels(p), pod_ip(p), pod_ready(p), pod_running(p), (p.get("spec") or {}).get("nodeName"),
            bool(meta(p).get("deletionTimestamp")))
