"""NetworkPolicy evaluation as Calico's dataplane applies it: Kubernetes NetworkPolicies (networking.k8s.io/v1)
and Calico NetworkPolicy / GlobalNetworkPolicy (crd.projectcalico.org/v1), ordered by `order` (Kubernetes
policies count as order 1000), first matching Allow/Deny rule wins, Pass skips to the profiles (allow), and an
endpoint selected by any policy for a direction is denied when no rule allowed the traffic.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from ..controllers.podutil import container_port, labels, meta
from .selectors import SelectorError, match_calico_selector, match_label_selector

K8S_ORDER = 1000.0


@dataclass
class Peer:
    """One side of a connection: a pod (with its labels and namespace) or a bare address (host, external)."""

    ip: str
    pod: dict | None = None
    namespace: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    ns_labels: dict[str, str] = field(default_factory=dict)
    service_account: str | None = None

    def calico_labels(self) -> dict[str, str]:
        """Labels a Calico selector sees on this endpoint (pod labels plus Calico's own)."""
        out = dict(self.labels)
        if self.namespace:
            out["projectcalico.org/namespace"] = self.namespace
            out["projectcalico.org/orchestrator"] = "k8s"
        if self.service_account:
            out["projectcalico.org/serviceaccount"] = self.service_account
        return out


def peer_for_pod(ctx: Any, pod: dict, ip: str | None = None) -> Peer:
    ns = meta(pod).get("namespace")
    ns_obj = ctx.namespace(ns) if ns else None
    return Peer(ip=ip or (pod.get("status") or {}).get("podIP") or "", pod=pod, namespace=ns, labels=labels(pod),
                ns_labels=labels(ns_obj) if ns_obj else {},
                service_account=(pod.get("spec") or {}).get("serviceAccountName") or "default")


@dataclass
class Verdict:
    allowed: bool
    reason: str


def check(ctx: Any, src: Peer, dst: Peer, port: int, proto: str, *, src_enforced: bool = True,
          dst_enforced: bool = True) -> Verdict:
    """Egress of `src` (when a pod whose node enforces policy), then ingress of `dst` (likewise)."""
    if src.pod is not None and src_enforced:
        v = _direction(ctx, "Egress", src, dst, port, proto)
        if not v.allowed:
            return v
    if dst.pod is not None and dst_enforced:
        v = _direction(ctx, "Ingress", dst, src, port, proto)
        if not v.allowed:
            return v
    return Verdict(True, "allowed")


# --- policy collection -------------------------------------------------------------------------------------------
@dataclass
class _Policy:
    kind: str          # "k8s" | "calico" | "global"
    name: str
    namespace: str | None
    order: float
    obj: dict


def _policies(ctx: Any, endpoint: Peer, direction: str) -> list[_Policy]:
    out: list[_Policy] = []
    ns = endpoint.namespace
    k8s_rt = ctx.registry.get("networking.k8s.io", "networkpolicies")
    if k8s_rt is not None and ns:
        for pol in ctx.store.list(k8s_rt, ns):
            spec = pol.get("spec") or {}
            if direction in _k8s_types(spec) and match_label_selector(spec.get("podSelector") or {}, endpoint.labels):
                out.append(_Policy("k8s", meta(pol)["name"], ns, K8S_ORDER, pol))
    for plural, kind in (("networkpolicies", "calico"), ("globalnetworkpolicies", "global")):
        for pol in ctx.calico_list(plural):
            if kind == "calico" and meta(pol).get("namespace") != ns:
                continue
            spec = pol.get("spec") or {}
            if direction not in _calico_types(spec):
                continue
            try:
                if not match_calico_selector(spec.get("selector") or "all()", endpoint.calico_labels()):
                    continue
                if kind == "global" and spec.get("namespaceSelector") and not match_calico_selector(
                        spec["namespaceSelector"], _ns_calico_labels(endpoint)):
                    continue
            except SelectorError:
                continue
            order = spec.get("order")
            out.append(_Policy(kind, meta(pol)["name"], meta(pol).get("namespace"),
                               float(order) if order is not None else float("inf"), pol))
    out.sort(key=lambda p: (p.order, p.name))
    return out


def _k8s_types(spec: dict) -> list[str]:
    types = spec.get("policyTypes")
    if types:
        return types
    return ["Ingress"] + (["Egress"] if spec.get("egress") else [])


def _calico_types(spec: dict) -> list[str]:
    types = spec.get("types")
    if types:
        return types
    return ["Ingress"] + (["Egress"] if spec.get("egress") else [])


def _ns_calico_labels(peer: Peer) -> dict[str, str]:
    out = dict(peer.ns_labels)
    if peer.namespace:
        out["projectcalico.org/name"] = peer.namespace
    return out


# --- evaluation --------------------------------------------------------------------------------------------------
def _direction(ctx: Any, direction: str, endpoint: Peer, other: Peer, port: int, proto: str) -> Verdict:
    """Is traffic with `other` allowed for `endpoint` in `direction` ("Ingress": other → endpoint)?"""
    pols = _policies(ctx, endpoint, direction)
    if not pols:
        return Verdict(True, "no policy")
    # the port belongs to the destination: endpoint for ingress, other for egress
    dst = endpoint if direction == "Ingress" else other
    for pol in pols:
        if pol.kind == "k8s":
            if _k8s_allows(ctx, pol, direction, other, dst, port, proto):
                return Verdict(True, f"allowed by NetworkPolicy {pol.namespace}/{pol.name}")
            continue
        action = _calico_action(ctx, pol, direction, endpoint, other, dst, port, proto)
        if action == "Allow":
            return Verdict(True, f"allowed by {pol.kind} policy {pol.name}")
        if action == "Deny":
            return Verdict(False, f"denied by {pol.kind} policy {pol.name} ({direction.lower()})")
        if action == "Pass":
            return Verdict(True, f"passed by {pol.kind} policy {pol.name}")
    names = ", ".join(f"{p.namespace + '/' if p.namespace else ''}{p.name}" for p in pols)
    return Verdict(False, f"{direction.lower()} of {endpoint.namespace}/{meta(endpoint.pod or {}).get('name')} "
                          f"isolated by {names}; no rule allows it")


def _k8s_allows(ctx: Any, pol: _Policy, direction: str, other: Peer, dst: Peer, port: int, proto: str) -> bool:
    spec = pol.obj.get("spec") or {}
    rules = spec.get("ingress" if direction == "Ingress" else "egress") or []
    peer_key = "from" if direction == "Ingress" else "to"
    for rule in rules:
        if not _k8s_ports_match(rule.get("ports"), dst, port, proto):
            continue
        peers = rule.get(peer_key)
        if not peers:
            return True
        if any(_k8s_peer_match(ctx, pol.namespace, p, other) for p in peers):
            return True
    return False


def _k8s_ports_match(ports: list[dict] | None, dst: Peer, port: int, proto: str) -> bool:
    if not ports:
        return True
    for p in ports:
        if (p.get("protocol") or "TCP") != proto:
            continue
        want = p.get("port")
        if want is None:
            return True
        num = container_port(dst.pod, want, proto) if dst.pod is not None and isinstance(want, str) else want
        if isinstance(num, str) and num.isdigit():
            num = int(num)
        if num is None:
            continue
        end = p.get("endPort")
        if num == port or (end is not None and num <= port <= int(end)):
            return True
    return False


def _k8s_peer_match(ctx: Any, policy_ns: str | None, peer_rule: dict, other: Peer) -> bool:
    if "ipBlock" in peer_rule:
        block = peer_rule["ipBlock"] or {}
        return _in_cidr(other.ip, block.get("cidr")) and not any(_in_cidr(other.ip, e)
                                                                  for e in block.get("except") or [])
    if other.pod is None:
        return False
    pod_sel, ns_sel = peer_rule.get("podSelector"), peer_rule.get("namespaceSelector")
    if ns_sel is not None:
        if not match_label_selector(ns_sel, other.ns_labels):
            return False
    elif other.namespace != policy_ns:
        return False
    if pod_sel is not None and not match_label_selector(pod_sel, other.labels):
        return False
    return True


def _calico_action(ctx: Any, pol: _Policy, direction: str, endpoint: Peer, other: Peer, dst: Peer, port: int,
                   proto: str) -> str | None:
    spec = pol.obj.get("spec") or {}
    src, dstp = (other, endpoint) if direction == "Ingress" else (endpoint, other)
    for rule in spec.get("ingress" if direction == "Ingress" else "egress") or []:
        if _calico_rule_matches(pol, rule, src, dstp, port, proto):
            action = rule.get("action") or "Allow"
            if action == "Log":
                continue
            return action
    return None


def _calico_rule_matches(pol: _Policy, rule: dict, src: Peer, dst: Peer, port: int, proto: str) -> bool:
    rp = rule.get("protocol")
    if rp is not None and str(rp).upper() != proto:
        return False
    np = rule.get("notProtocol")
    if np is not None and str(np).upper() == proto:
        return False
    return (_calico_entity(pol, rule.get("source") or {}, src, None, proto)
            and _calico_entity(pol, rule.get("destination") or {}, dst, port, proto))


def _calico_entity(pol: _Policy, ent: dict, peer: Peer, port: int | None, proto: str) -> bool:
    try:
        if ent.get("nets") and not any(_in_cidr(peer.ip, n) for n in ent["nets"]):
            return False
        if ent.get("notNets") and any(_in_cidr(peer.ip, n) for n in ent["notNets"]):
            return False
        if ent.get("selector") or ent.get("namespaceSelector"):
            if peer.pod is None:
                return False
            if ent.get("namespaceSelector"):
                if not match_calico_selector(ent["namespaceSelector"], _ns_calico_labels(peer)):
                    return False
            elif pol.kind == "calico" and peer.namespace != pol.namespace:
                return False
            if ent.get("selector") and not match_calico_selector(ent["selector"], peer.calico_labels()):
                return False
        if ent.get("notSelector") and peer.pod is not None and match_calico_selector(
                ent["notSelector"], peer.calico_labels()):
            return False
    except SelectorError:
        return False
    if port is not None:
        if ent.get("ports") and not any(_calico_port(p, peer, port, proto) for p in ent["ports"]):
            return False
        if ent.get("notPorts") and any(_calico_port(p, peer, port, proto) for p in ent["notPorts"]):
            return False
    return True


def _calico_port(spec: Any, peer: Peer, port: int, proto: str) -> bool:
    if isinstance(spec, int):
        return spec == port
    text = str(spec)
    if ":" in text:
        lo, _, hi = text.partition(":")
        try:
            return int(lo) <= port <= int(hi)
        except ValueError:
            return False
    if text.isdigit():
        return int(text) == port
    return peer.pod is not None and container_port(peer.pod, text, proto) == port


def _in_cidr(ip: str, cidr: str | None) -> bool:
    if not ip or not cidr:
        return False
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
