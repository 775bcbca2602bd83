"""What the lab was asked during one benchmark phase: Kubernetes API requests (`lab.kube.requests`) and each
Windows host's WinRM requests and commands (`server.records`, `records`), as a difference of two snapshots.

Snapshots never clear the lab's logs, so a phase can be measured while anything else keeps reading them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from .stats import summary

#: The kubernetes client's User-Agent prefix: requests the product itself sent. The emulated kubelets and
#: kube-proxies (lab side) send their own agents (`kubelet.exe/...`).
PRODUCT_USER_AGENT = "OpenAPI-Generator"


@dataclass(frozen=True)
class HostMark:
    winrm_requests: int
    commands: int
    connections: int
    actions: Counter


@dataclass(frozen=True)
class LabMark:
    """Positions in the lab's logs at one moment."""

    kube_entries: int
    hosts: dict[str, HostMark]


def mark(lab: Any) -> LabMark:
    """The lab's log positions now."""
    return LabMark(kube_entries=len(lab.kube.requests.entries),
                   hosts={h.name: HostMark(h.server.records.requests, len(h.records.commands),
                                           _connections_seen(h), Counter(h.server.records.actions))
                          for h in lab.windows_hosts})


def _connections_seen(host: Any) -> int:
    # The endpoint's connection list only grows, unless someone clears its records (this benchmark never does).
    return len(host.server.records.connections)


def since(lab: Any, start: LabMark) -> dict[str, Any]:
    """What the lab saw since `start`: Kubernetes API requests (all, the product's, mutating, by verb) and per
    Windows host the WinRM HTTP requests (authentication legs included), commands, and commands that changed the
    host. `per_host` values are summaries over the hosts (p50/p95/max); API totals are also given per host."""
    entries = lab.kube.requests.entries[start.kube_entries:]
    product = [e for e in entries if e.user_agent.startswith(PRODUCT_USER_AGENT)]
    n = max(len(lab.windows_hosts), 1)
    winrm, commands, changed, connections = [], [], [], []
    actions: Counter = Counter()
    host_mutations: dict[str, list[str]] = {}
    for h in lab.windows_hosts:
        m = start.hosts.get(h.name, HostMark(0, 0, 0, Counter()))
        cmds = h.records.commands[m.commands:]
        winrm.append(h.server.records.requests - m.winrm_requests)
        connections.append(_connections_seen(h) - m.connections)
        actions.update(Counter(h.server.records.actions) - m.actions)
        commands.append(len(cmds))
        muts = [c.script_name or c.name for c in cmds if c.changed]
        changed.append(len(muts))
        if muts:
            host_mutations[h.name] = muts
    product_mutating = [e for e in product if e.mutating]
    return {
        "kube_api": {
            "requests": len(entries),
            "product_requests": len(product),
            "product_requests_per_host": round(len(product) / n, 1),
            "lab_internal_requests": len(entries) - len(product),  # emulated kubelets / kube-proxies
            "product_mutating": len(product_mutating),
            "lab_internal_mutating": sum(1 for e in entries if e.mutating) - len(product_mutating),
            "product_by_verb": dict(sorted(Counter(e.verb for e in product).items())),
            "product_mutations": [f"{e.verb} {e.path}" for e in product_mutating][:50],
            "errors_5xx": sum(1 for e in entries if e.code >= 500),
            "conflicts_409": sum(1 for e in product if e.code == 409),
        },
        "winrm": {
            "http_requests_total": sum(winrm),
            "http_requests_per_host": summary(winrm, 1),
            "tcp_connections_per_host": summary(connections, 1),
            "commands_per_host": summary(commands, 1),
            "wsman_actions_per_host": {a: round(c / n, 1) for a, c in sorted(actions.items())},
            "mutating_commands": sum(changed),
            "mutating_commands_by_host": host_mutations,
        },
    }
