"""calico-node's bookkeeping on Linux nodes: the node's `projectcalico.org/IPv4Address` annotation and its tunnel
address (IPIP or VXLAN, from the node's IPAM block) as the pools' encapsulation requires."""

from __future__ import annotations

import hashlib
from typing import Any

from ..store import Event
from .ipam import CalicoIpam, IpamError
from .podutil import meta, node_ip, node_os

IPV4 = "projectcalico.org/IPv4Address"
IPIP_ADDR = "projectcalico.org/IPv4IPIPTunnelAddr"
VXLAN_ADDR = "projectcalico.org/IPv4VXLANTunnelAddr"
VXLAN_MAC = "projectcalico.org/IPv4VXLANTunnelMACAddr"


class CalicoNode:
    """Keeps Linux nodes' Calico annotations and tunnel addresses in step with the pools."""

    name = "calico-node"

    def __init__(self, ctx: Any, ipam: CalicoIpam) -> None:
        self.ctx = ctx
        self.ipam = ipam

    def on_event(self, ev: Event) -> None:
        if ev.rt.key == ("", "nodes") and ev.type != "DELETED":
            self.ctx.enqueue(self.name, self.reconcile, ev.obj["metadata"]["name"])
        elif ev.rt.key[1] in ("ippools", "felixconfigurations") and ev.rt.group.endswith("projectcalico.org"):
            for n in self.ctx.nodes():
                self.ctx.enqueue(self.name, self.reconcile, n["metadata"]["name"])

    def reconcile(self, name: str) -> None:
        node = self.ctx.node(name)
        if node is None or node_os(node) != "linux" or self.ctx.calico_store() is None:
            return
        if name in self.ctx.runtimes.registered():
            return
        ann = dict(meta(node).get("annotations") or {})
        want = dict(ann)
        ip = node_ip(node)
        if ip:
            want.setdefault(IPV4, f"{ip}/24")
        pools = self.ctx.enabled_pools()
        ipip = any((p["spec"].get("ipipMode") or "Never") != "Never" for p in pools)
        vxlan = any((p["spec"].get("vxlanMode") or "Never") != "Never" for p in pools)
        for on, key, handle in ((ipip, IPIP_ADDR, f"ipip-tunnel-addr-{name}"),
                                (vxlan, VXLAN_ADDR, f"vxlan-tunnel-addr-{name}")):
            if on:
                if key not in want:
                    try:
                        want[key] = self.ipam.assign(node, handle, {"node": name, "type": key.split("/")[1]})
                    except IpamError:
                        continue
            elif key in want:
                self.ipam.release(handle)
                want.pop(key)
        if VXLAN_ADDR in want:
            mac = hashlib.sha256(name.encode()).hexdigest()[:10]
            want.setdefault(VXLAN_MAC, "66:" + ":".join(mac[i:i + 2] for i in range(0, 10, 2)))
        else:
            want.pop(VXLAN_MAC, None)
        if want != ann:
            def put(n: dict) -> None:
                n["metadata"]["annotations"] = want
            self.ctx.store.mutate(self.ctx.rt("", "nodes"), None, name, put)
