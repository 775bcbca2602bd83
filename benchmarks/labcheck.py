"""Sanity of a large lab: every emulated Windows host must be distinct (name, node name, IP, WinRM endpoint) and
have a usable unicast address, or a fleet benchmark would measure something else than N joins."""

from __future__ import annotations

import ipaddress
from collections import Counter
from typing import Any


def fleet_issues(lab: Any, prefix_len: int = 24) -> list[str]:
    """Problems with the lab's Windows hosts as a fleet (empty when every host is distinct and addressable).

    A host IP must parse, be unique, and be neither the network nor the broadcast address of its /`prefix_len`
    (the lab gives each host one NIC in a /24)."""
    issues: list[str] = []
    described = [h.lab_json() for h in lab.windows_hosts]
    for key in ("name", "node_name", "winrm_url", "ip"):
        dupes = sorted(v for v, n in Counter(str(d.get(key)) for d in described).items() if n > 1)
        if dupes:
            issues.append(f"duplicate {key}: {', '.join(dupes[:5])}")
    for d in described:
        try:
            ip = ipaddress.ip_address(d.get("ip") or "")
        except ValueError:
            issues.append(f"{d['name']}: IP {d.get('ip')!r} is not an address")
            continue
        net = ipaddress.ip_network(f"{ip}/{prefix_len}", strict=False)
        if ip in (net.network_address, net.broadcast_address):
            issues.append(f"{d['name']}: IP {ip} is the {'network' if ip == net.network_address else 'broadcast'}"
                          f" address of {net}")
    return issues
