"""Calico IPAM over the Calico datastore: per-node blocks (IPAMBlock + BlockAffinity), pod addresses, borrowing.

Follows calico-ipam's rules: a node first uses blocks affine to it, then claims a new block from an enabled pool
whose nodeSelector matches it (`autoAllocateBlocks`, `maxBlocksPerHost`), and when none is left it borrows a free
address from another node's block unless `strictAffinity` is on. Windows nodes (`requires_strict_affinity`) refuse
to allocate while strict affinity is off (an absent IPAMConfig counts as off), reserve 4 addresses per block they
own, and never lend.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from typing import Iterable

from ..store import now_iso
from ..net.selectors import SelectorError, match_calico_selector
from .podutil import labels

STRICT_AFFINITY_MESSAGE = "global strict affinity should not be false for Windows node"
WINDOWS_RESERVED_HANDLE = "windows-reserved-ipam-handle"


class IpamError(Exception):
    """Calico IPAM could not give an address; str() is the CNI plugin's message."""


def block_name(cidr: str) -> str:
    """IPAMBlock name of a CIDR: `192.168.1.0/26` → `192-168-1-0-26`."""
    return cidr.replace(".", "-").replace("/", "-").replace(":", "-")


def affinity_name(node: str, cidr: str) -> str:
    """BlockAffinity name: `<node>-<block name>`."""
    return f"{node}-{block_name(cidr)}"


class CalicoIpam:
    """Address management for pods and tunnel addresses, stored as Calico objects."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx

    # --- configuration ---------------------------------------------------------------------------------------------
    def config(self) -> tuple[bool, bool, int]:
        """(strictAffinity, autoAllocateBlocks, maxBlocksPerHost) from IPAMConfig `default`; absent → (False, True, 0)."""
        cfg = self.ctx.calico_get("ipamconfigs", "default")
        spec = (cfg or {}).get("spec") or {}
        return (bool(spec.get("strictAffinity", False)), bool(spec.get("autoAllocateBlocks", True)),
                int(spec.get("maxBlocksPerHost") or 0))

    def pools_for(self, node: dict, pod: dict | None = None) -> list[dict]:
        """Enabled pools usable by `node` (nodeSelector) and, when given, allowed by the pod's
        `cni.projectcalico.org/ipv4pools` annotation."""
        wanted: list[str] | None = None
        if pod is not None:
            ann = ((pod.get("metadata") or {}).get("annotations") or {}).get("cni.projectcalico.org/ipv4pools")
            if ann:
                try:
                    wanted = list(json.loads(ann))
                except ValueError:
                    wanted = None
        out = []
        for p in self.ctx.enabled_pools():
            spec = p.get("spec") or {}
            if "Workload" not in (spec.get("allowedUses") or ["Workload", "Tunnel"]):
                continue
            try:
                if not match_calico_selector(spec.get("nodeSelector") or "all()", labels(node)):
                    continue
            except SelectorError:
                continue
            if wanted is not None and p["metadata"]["name"] not in wanted and spec.get("cidr") not in wanted:
                continue
            out.append(p)
        return out

    # --- allocation ------------------------------------------------------------------------------------------------
    def assign(self, node: dict, handle: str, attrs: dict, *, windows: bool = False) -> str:
        """Allocate one IPv4 address for `handle` on `node`; returns it, or raises IpamError with Calico's text."""
        existing = self.ip_for_handle(handle)
        if existing:
            return existing
        strict, auto, max_blocks = self.config()
        if windows and not strict:
            raise IpamError(STRICT_AFFINITY_MESSAGE)
        node_name = node["metadata"]["name"]
        pools = self.pools_for(node, attrs.get("_pod"))
        attrs = {k: v for k, v in attrs.items() if not k.startswith("_")}
        if not pools:
            raise IpamError(f"no configured Calico pools for node {node_name}")
        nets = [ipaddress.ip_network(p["spec"]["cidr"], strict=False) for p in pools]
        blocks = self._blocks()
        # 1. blocks affine to this node
        for b in sorted(blocks, key=lambda b: b["metadata"]["name"]):
            if b["spec"].get("affinity") == f"host:{node_name}" and _in(b, nets) and b["spec"].get("unallocated"):
                return self._take(b, handle, attrs)
        # 2. a new block
        mine = sum(1 for b in blocks if b["spec"].get("affinity") == f"host:{node_name}")
        if auto and (max_blocks == 0 or mine < max_blocks):
            taken = {b["spec"]["cidr"] for b in blocks}
            for pool in pools:
                cidr = self._free_block(pool, taken, node_name)
                if cidr:
                    block = self._claim(cidr, node_name, strict, windows)
                    return self._take(block, handle, attrs)
        # 3. borrow (never for Windows, never from Windows-owned blocks)
        if not strict and not windows:
            for b in sorted(blocks, key=lambda b: b["metadata"]["name"]):
                if _in(b, nets) and b["spec"].get("unallocated") and not _windows_block(b):
                    return self._take(b, handle, attrs)
        raise IpamError("failed to request 1 IPv4 addresses. IPAM allocated only 0")

    def release(self, handle: str) -> bool:
        """Free the address held by `handle`; True when one was freed."""
        for b in self._blocks():
            attrs = b["spec"].get("attributes") or []
            idx = next((i for i, a in enumerate(attrs) if a.get("handle_id") == handle), None)
            if idx is None:
                continue

            def free(obj: dict, idx: int = idx) -> None:
                spec = obj["spec"]
                allocs = spec["allocations"]
                for ordinal, a in enumerate(allocs):
                    if a == idx:
                        allocs[ordinal] = None
                        spec.setdefault("unallocated", []).append(ordinal)
                    elif a is not None and a > idx:
                        allocs[ordinal] = a - 1
                del spec["attributes"][idx]
            store, rt = self.ctx.calico_store(), self.ctx.calico_rt("ipamblocks")
            store.mutate(rt, None, b["metadata"]["name"], free)
            return True
        return False

    def ip_for_handle(self, handle: str) -> str | None:
        """The address `handle` holds, or None."""
        for b in self._blocks():
            attrs = b["spec"].get("attributes") or []
            idx = next((i for i, a in enumerate(attrs) if a.get("handle_id") == handle), None)
            if idx is None:
                continue
            for ordinal, a in enumerate(b["spec"]["allocations"]):
                if a == idx:
                    return str(ipaddress.ip_network(b["spec"]["cidr"]).network_address + ordinal)
        return None

    def allocations(self) -> list[tuple[str, str, dict]]:
        """Every allocated (ip, handle, secondary attributes), for `calicoctl ipam show` and tests."""
        out = []
        for b in self._blocks():
            base = ipaddress.ip_network(b["spec"]["cidr"]).network_address
            attrs = b["spec"].get("attributes") or []
            for ordinal, a in enumerate(b["spec"]["allocations"]):
                if a is not None and a < len(attrs):
                    out.append((str(base + ordinal), attrs[a].get("handle_id") or "", attrs[a].get("secondary") or {}))
        return out

    # --- internals -------------------------------------------------------------------------------------------------
    def _blocks(self) -> list[dict]:
        return [b for b in self.ctx.calico_list("ipamblocks") if not b["spec"].get("deleted")]

    @staticmethod
    def _free_block(pool: dict, taken: set[str], node_name: str) -> str | None:
        net = ipaddress.ip_network(pool["spec"]["cidr"], strict=False)
        size = int(pool["spec"].get("blockSize") or 26)
        if size < net.prefixlen:
            return None
        count = 1 << (size - net.prefixlen)
        # Calico picks blocks pseudo-randomly; a per-node hash keeps it deterministic and spread out.
        start = int(hashlib.sha256(node_name.encode()).hexdigest(), 16) % count
        step = 1 << (32 - size)
        for i in range(count):
            cidr = f"{net.network_address + ((start + i) % count) * step}/{size}"
            if cidr not in taken:
                return cidr
        return None

    def _claim(self, cidr: str, node_name: str, strict: bool, windows: bool) -> dict:
        store = self.ctx.calico_store()
        size = ipaddress.ip_network(cidr).num_addresses
        allocations: list[int | None] = [None] * size
        attributes: list[dict] = []
        unallocated = list(range(size))
        if windows:
            attributes.append({"handle_id": WINDOWS_RESERVED_HANDLE,
                               "secondary": {"note": "reserved for windows"}})
            for ordinal in (0, 1, 2, size - 1):
                allocations[ordinal] = 0
                unallocated.remove(ordinal)
        block = {"metadata": {"name": block_name(cidr)},
                 "spec": {"cidr": cidr, "affinity": f"host:{node_name}", "allocations": allocations,
                          "unallocated": unallocated, "attributes": attributes, "strictAffinity": strict,
                          "deleted": False, "sequenceNumber": 0, "sequenceNumberForAllocation": {}}}
        aff = {"metadata": {"name": affinity_name(node_name, cidr)},
               "spec": {"cidr": cidr, "node": node_name, "state": "confirmed", "deleted": "false"}}
        store.create(self.ctx.calico_rt("blockaffinities"), aff)
        return store.create(self.ctx.calico_rt("ipamblocks"), block)

    def _take(self, block: dict, handle: str, attrs: dict) -> str:
        store, rt = self.ctx.calico_store(), self.ctx.calico_rt("ipamblocks")
        result: dict[str, int] = {}

        def take(obj: dict) -> None:
            spec = obj["spec"]
            ordinal = spec["unallocated"].pop(0)
            spec.setdefault("attributes", []).append(
                {"handle_id": handle, "secondary": {**attrs, "timestamp": now_iso()}})
            spec["allocations"][ordinal] = len(spec["attributes"]) - 1
            spec["sequenceNumber"] = int(spec.get("sequenceNumber") or 0) + 1
            result["ordinal"] = ordinal
        store.mutate(rt, None, block["metadata"]["name"], take)
        return str(ipaddress.ip_network(block["spec"]["cidr"]).network_address + result["ordinal"])


def _in(block: dict, nets: Iterable) -> bool:
    net = ipaddress.ip_network(block["spec"]["cidr"])
    return any(net.subnet_of(n) for n in nets)


def _windows_block(block: dict) -> bool:
    return any(a.get("handle_id") == WINDOWS_RESERVED_HANDLE for a in block["spec"].get("attributes") or [])
