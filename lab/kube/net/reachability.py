"""Can a packet cross from one node to another? Calico routes pod traffic between nodes by the destination pool's
encapsulation, and both nodes must speak it:

- Linux nodes speak IPIP when the pool's ipipMode is not Never and Felix has IPIP on, VXLAN likewise with
  vxlanEnabled (Felix's values after FELIX_* env overrides; unset means auto-detect on Calico ≥ 3.23), and plain
  BGP routing when the pool has no encapsulation and calico-node runs BIRD.
- A Windows node speaks what its runtime's `overlay()` says (only VXLAN is supported by Calico for Windows).
- Linux↔Windows (and Windows↔Windows) needs VXLAN on both sides, the pool's vxlanMode `Always` (no CrossSubnet
  on Windows), Felix vxlanEnabled true, and the same VNI/port on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Hop:
    ok: bool
    reason: str


def pool_mode(pool: dict | None) -> str:
    """The encapsulation traffic to addresses of `pool` uses between nodes of one subnet:
    "vxlan" | "ipip" | "bgp" (no encapsulation: routed)."""
    if pool is None:
        return "bgp"
    spec = pool.get("spec") or {}
    if (spec.get("vxlanMode") or "Never") == "Always":
        return "vxlan"
    if (spec.get("ipipMode") or "Never") == "Always":
        return "ipip"
    return "bgp"  # Never, or CrossSubnet within the nodes' shared subnet


def linux_overlays(ctx: Any, pool: dict | None) -> set[str]:
    """What a Linux node running calico-node can carry for `pool`."""
    felix = ctx.felix()
    out: set[str] = set()
    spec = (pool or {}).get("spec") or {}
    if (spec.get("ipipMode") or "Never") != "Never" and felix.get("ipipEnabled"):
        out.add("ipip")
    if (spec.get("vxlanMode") or "Never") != "Never" and felix.get("vxlanEnabled"):
        out.add("vxlan")
    if ctx.calico_backend() == "bird":
        out.add("bgp")
    return out


def _vxlan_settings(runtime: Any) -> tuple[int, int]:
    fn = getattr(runtime, "vxlan_settings", None)
    if callable(fn):
        try:
            vni, port = fn()
            return int(vni), int(port)
        except Exception:
            pass
    return 4096, 4789


def cross_node(ctx: Any, src_node: str, src_rt: Any, dst_node: str, dst_rt: Any, dst_ip: str,
               src_ip: str | None) -> Hop:
    """Whether traffic (and its replies) between pods on two different nodes gets through."""
    for ip, label in ((dst_ip, "to"), (src_ip, "back from")):
        if not ip:
            continue
        pool = ctx.pool_for_ip(ip)
        if pool is None:
            continue  # host addresses: the underlay carries them
        hop = _one_way(ctx, pool, src_rt, dst_rt)
        if not hop.ok:
            return Hop(False, f"{hop.reason} ({label} {ip}, {src_node}↔{dst_node})")
    return Hop(True, "overlay ok")


def _one_way(ctx: Any, pool: dict, a: Any, b: Any) -> Hop:
    mode = pool_mode(pool)
    windows = [rt for rt in (a, b) if getattr(rt, "os", "linux") != "linux"]
    felix = ctx.felix()
    if windows:
        spec = pool.get("spec") or {}
        if (spec.get("vxlanMode") or "Never") != "Always":
            return Hop(False, f"pool {pool['metadata']['name']} vxlanMode is {spec.get('vxlanMode') or 'Never'}; "
                              "Windows nodes need VXLAN Always")
        for rt in windows:
            if rt.overlay() != "vxlan":
                return Hop(False, f"node {rt.node_name} speaks {rt.overlay() or 'no overlay'}, not vxlan")
        linux = [rt for rt in (a, b) if getattr(rt, "os", "linux") == "linux"]
        if linux and not felix.get("vxlanEnabled"):
            return Hop(False, "Felix vxlanEnabled is not true on the Linux nodes")
        want = (int(felix.get("vxlanVNI") or 4096), int(felix.get("vxlanPort") or 4789))
        for rt in windows:
            if _vxlan_settings(rt) != want:
                vni, port = _vxlan_settings(rt)
                return Hop(False, f"node {rt.node_name} uses VXLAN VNI {vni} port {port}, cluster uses "
                                  f"VNI {want[0]} port {want[1]}")
        return Hop(True, "vxlan")
    speaks = linux_overlays(ctx, pool)
    if mode not in speaks:
        return Hop(False, f"pool {pool['metadata']['name']} needs {mode} but Felix/calico-node does not carry it")
    return Hop(True, mode)
