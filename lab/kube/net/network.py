"""The pod network of the lab: who owns an address, what a connection from a pod meets on its way (Service →
endpoint, node overlay, NetworkPolicy on both ends, a listener), and DNS lookups through kube-dns."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

from ..controllers.podutil import (host_network, labels, meta, node_ip, pod_ip, pod_running)
from . import dns, policy
from .apps import App, app_for, apps_in_pod, node_apps
from .reachability import cross_node

REFUSED, TIMEOUT, OK = "refused", "timeout", "ok"


@dataclass
class Conn:
    """The outcome of one connection attempt."""

    outcome: str                      # ok | refused | timeout
    ip: str                           # address actually reached (after Service translation)
    port: int
    app: App | None = None
    pod: dict | None = None           # the destination pod, when a pod answered
    node: dict | None = None          # the destination node (host listeners)
    reason: str = ""
    trace: list[str] = field(default_factory=list)


class Network:
    """Reachability and DNS as seen from inside a pod."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self._rr: dict[str, int] = {}
        self.access_log: dict[tuple[str, str], list[str]] = {}  # (pod uid, container) → log lines

    # --- who owns an address --------------------------------------------------------------------------------------
    def pod_by_ip(self, ip: str) -> dict | None:
        for p in self.ctx.store.list(self.ctx.rt("", "pods"), None,
                                     lambda p: pod_ip(p) == ip and not host_network(p) and pod_running(p)):
            return p
        return None

    def node_by_ip(self, ip: str) -> dict | None:
        for n in self.ctx.nodes():
            if node_ip(n) == ip:
                return n
        return None

    def service_by_ip(self, ip: str) -> dict | None:
        for s in self.ctx.store.list(self.ctx.rt("", "services"), None,
                                     lambda s: (s.get("spec") or {}).get("clusterIP") == ip):
            return s
        return None

    def in_service_cidr(self, ip: str) -> bool:
        try:
            return ipaddress.ip_address(ip) in ipaddress.ip_network(self.ctx.service_cidr(), strict=False)
        except ValueError:
            return False

    # --- connections ----------------------------------------------------------------------------------------------
    def connect(self, src: dict, ip: str, port: int, proto: str = "TCP") -> Conn:
        """What a connection from pod `src` to `ip:port` meets."""
        trace: list[str] = []
        src_node_name = (src.get("spec") or {}).get("nodeName") or ""
        src_rt = self.ctx.runtimes.get(src_node_name)
        # Service ClusterIP → endpoint (kube-proxy on the source node)
        svc = self.service_by_ip(ip) if self.in_service_cidr(ip) else None
        node_target = self.node_by_ip(ip)
        if svc is None and node_target is not None:
            svc = self._node_port_service(port, proto)
        if svc is not None:
            proxy_ok = getattr(src_rt, "service_proxy_ready", None)
            if callable(proxy_ok) and not proxy_ok():
                return Conn(TIMEOUT, ip, port, reason=f"kube-proxy on {src_node_name} has not programmed Services",
                            trace=trace)
            ep = self._pick_endpoint(svc, port, proto, by_node_port=node_target is not None)
            if ep is None:
                return Conn(TIMEOUT, ip, port, reason=f"service {meta(svc)['name']} has no port {port}/{proto}")
            if ep == "none":
                return Conn(REFUSED, ip, port, reason=f"service {meta(svc)['namespace']}/{meta(svc)['name']} has no "
                                                       "ready endpoints")
            trace.append(f"{ip}:{port} → endpoint {ep[0]}:{ep[1]}")
            ip, port = ep
        if self.in_service_cidr(ip) and svc is None:
            return Conn(TIMEOUT, ip, port, reason=f"no Service has ClusterIP {ip}", trace=trace)
        dst_pod = self.pod_by_ip(ip)
        dst_node = None
        if dst_pod is not None:
            dst_node_name = dst_pod["spec"].get("nodeName") or ""
        else:
            dst_node = self.node_by_ip(ip)
            if dst_node is None:
                return Conn(TIMEOUT, ip, port, reason=f"nothing answers at {ip}", trace=trace)
            dst_node_name = dst_node["metadata"]["name"]
            # a hostNetwork pod's listeners live on its node
        dst_rt = self.ctx.runtimes.get(dst_node_name)
        src_ip = pod_ip(src) if not host_network(src) else None
        if src_node_name != dst_node_name and (dst_pod is not None or src_ip):
            hop = cross_node(self.ctx, src_node_name, src_rt, dst_node_name, dst_rt,
                             ip if dst_pod is not None else "", src_ip)
            if not hop.ok:
                return Conn(TIMEOUT, ip, port, reason=hop.reason, trace=trace)
        # NetworkPolicy: egress of the source, ingress of the destination
        if not host_network(src) or dst_pod is not None:
            src_peer = policy.peer_for_pod(self.ctx, src) if not host_network(src) else policy.Peer(
                ip=node_ip(self.ctx.node(src_node_name) or {}) or "")
            dst_peer = policy.peer_for_pod(self.ctx, dst_pod, ip) if dst_pod is not None else policy.Peer(ip=ip)
            verdict = policy.check(self.ctx, src_peer, dst_peer, port, proto,
                                   src_enforced=_enforced(src_rt) and not host_network(src),
                                   dst_enforced=_enforced(dst_rt))
            if not verdict.allowed:
                return Conn(TIMEOUT, ip, port, reason=verdict.reason, trace=trace)
        # a listener (every live address answers ICMP echo)
        if proto == "ICMP":
            return Conn(OK, ip, port, pod=dst_pod, node=dst_node, trace=trace)
        if dst_pod is not None:
            app = app_for(apps_in_pod(dst_pod), port, proto)
            if app is None:
                return Conn(REFUSED, ip, port, pod=dst_pod, reason=f"nothing listens on {ip}:{port}/{proto}",
                            trace=trace)
            return Conn(OK, ip, port, app=app, pod=dst_pod, trace=trace)
        host_pods = [p for p in self.ctx.store.list(self.ctx.rt("", "pods"), None,
                                                    lambda p: host_network(p) and pod_running(p)
                                                    and p["spec"].get("nodeName") == dst_node_name)]
        control_plane = "node-role.kubernetes.io/control-plane" in labels(dst_node)
        apps = node_apps(dst_node, control_plane, json.dumps(self._version()))
        for hp in host_pods:
            apps += [a for a in apps_in_pod(hp) if a.name != "kube-apiserver"]
        app = app_for(apps, port, proto)
        if app is None:
            return Conn(REFUSED, ip, port, node=dst_node, reason=f"nothing listens on {ip}:{port}/{proto}",
                        trace=trace)
        return Conn(OK, ip, port, app=app, node=dst_node, trace=trace)

    def _version(self) -> dict:
        version = getattr(self.ctx.kube, "version", None)
        if isinstance(version, dict) and version.get("gitVersion"):
            return version
        from .. import scenarios
        return scenarios.version_for(getattr(self.ctx.kube, "scenario", "default"))

    def _node_port_service(self, port: int, proto: str) -> dict | None:
        for s in self.ctx.store.list(self.ctx.rt("", "services")):
            for p in (s.get("spec") or {}).get("ports") or []:
                if p.get("nodePort") == port and (p.get("protocol") or "TCP") == proto:
                    return s
        return None

    def _pick_endpoint(self, svc: dict, port: int, proto: str, *, by_node_port: bool):
        """(ip, port) of a ready endpoint for the Service port, "none" when it has none, None for an unknown port."""
        sport = None
        for p in (svc.get("spec") or {}).get("ports") or []:
            if (p.get("nodePort") if by_node_port else p.get("port")) == port and (p.get("protocol") or "TCP") == proto:
                sport = p
                break
        if sport is None:
            return None
        ep = self.ctx.store.try_get(self.ctx.rt("", "endpoints"), meta(svc)["namespace"], meta(svc)["name"])
        choices: list[tuple[str, int]] = []
        for sub in (ep or {}).get("subsets") or []:
            for ep_port in sub.get("ports") or []:
                if ep_port.get("protocol", "TCP") != proto:
                    continue
                if sport.get("name") and ep_port.get("name") and ep_port["name"] != sport["name"]:
                    continue
                for addr in sub.get("addresses") or []:
                    choices.append((addr["ip"], ep_port["port"]))
        if not choices:
            return "none"
        key = f"{meta(svc)['uid']}/{port}/{proto}"
        i = self._rr.get(key, 0)
        self._rr[key] = i + 1
        return choices[i % len(choices)]

    # --- DNS --------------------------------------------------------------------------------------------------------
    def nameserver(self, pod: dict) -> str | None:
        """The DNS server a pod's resolv.conf names (kube-dns for ClusterFirst pods)."""
        spec = pod.get("spec") or {}
        custom = ((spec.get("dnsConfig") or {}).get("nameservers") or [])
        if spec.get("dnsPolicy") == "None" and custom:
            return custom[0]
        if spec.get("dnsPolicy") == "Default" or (host_network(pod) and spec.get("dnsPolicy") != "ClusterFirstWithHostNet"):
            return None
        rt = self.ctx.runtimes.get(spec.get("nodeName") or "")
        fn = getattr(rt, "dns_server_ip", None)
        if callable(fn):
            server = fn()
            if server:
                return server
        svc = self.ctx.store.try_get(self.ctx.rt("", "services"), "kube-system", "kube-dns")
        return ((svc or {}).get("spec") or {}).get("clusterIP") or None

    def resolve(self, pod: dict, name: str, server: str | None = None) -> dns.Answer:
        """Resolve `name` from `pod` through its nameserver (or `server`), following the search path."""
        server = server or self.nameserver(pod)
        if server is None:
            return dns.Answer("servfail", name, reason="no cluster DNS for this pod")
        try:
            ipaddress.ip_address(name)
            return dns.Answer("ok", name, name, [name], server=server)
        except ValueError:
            pass
        conn = self.connect(pod, server, 53, "UDP")
        if conn.outcome != OK or conn.app is None or not conn.app.is_dns:
            return dns.Answer("timeout", name, server=server, reason=conn.reason or "no DNS server answered")
        for cand in dns.candidates(self.ctx, pod, name):
            ans = dns.lookup(self.ctx, cand)
            if ans is None:  # outside the cluster zone: the upstream resolver knows no such name
                continue
            if ans.status == "ok":
                ans.server = server
                ans.query = name
                return ans
        return dns.Answer("nxdomain", name, name, server=server)

    def record_access(self, conn: Conn, line: str) -> None:
        if conn.pod is None or conn.app is None:
            return
        for c in conn.pod["spec"].get("containers") or []:
            self.access_log.setdefault((meta(conn.pod)["uid"], c["name"]), []).append(line)
            break


def _enforced(rt: Any) -> bool:
    if rt is None:
        return False
    try:
        return bool(rt.policy_enforced())
    except Exception:
        return False
