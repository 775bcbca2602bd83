"""`JoinPolicy`: which hosts a join started from a deployment (the UI, the API, an event) may touch.

A request names a host template block, an address, and what its provisioning system knows about the VM (its id
and hostname). The policy admits it only when every rule it configures holds:
- `host_blocks`: the WindowsHost blocks that may be used (as templates) — required: an empty list admits nothing;
- `address_cidrs` / `hostname_patterns`: an IP address must lie in one of the CIDRs, a DNS name (and the VM's
  hostname, when given) must match one of the patterns; at least one of the two must be configured;
- `vm_id_prefixes`: when configured, the request must carry a VM id starting with one of them.
A refusal lists every rule that failed, naming the value and the rule, so the platform team can decide which to
change. The check is pure (no lookups): a DNS name is never resolved to be compared with CIDRs.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from typing import Any

from prefect.blocks.core import Block
from pydantic import ConfigDict, Field, field_validator


class JoinPolicy(Block):
    """Which hosts may be joined by event-, API- or UI-started joins: allowed host template blocks, address CIDRs,
    hostname patterns and VM id prefixes. Every configured rule must hold.

    Example:
        Allow the Windows pool's subnet, its naming scheme and one template block:
        ```python
        from prefect_windows_nodes.blocks import JoinPolicy

        JoinPolicy(host_blocks=["windows-template"], address_cidrs=["172.16.3.0/24"],
                   hostname_patterns=["winnode-*"]).save("join-policy")
        policy = JoinPolicy.load("BLOCK_NAME")
        ```
    """

    _block_type_name = "Windows Join Policy"
    _block_type_slug = "windows-join-policy"
    _logo_url = "https://upload.wikimedia.org/wikipedia/commons/thumb/5/5f/Windows_logo_-_2012.svg/240px-Windows_logo_-_2012.svg.png"  # noqa: E501
    _documentation_url = "https://github.com/prefecthq/prefect"
    _description = "Which hosts event-, API- and UI-started Windows node joins may touch."

    model_config = ConfigDict(extra="forbid")

    host_blocks: list[str] = Field(
        default_factory=list,
        description="Names of the WindowsHost blocks a join may use (as templates); an empty list admits nothing.")
    address_cidrs: list[str] = Field(
        default_factory=list, description="IP networks a host's address must lie in (e.g. 172.16.3.0/24).")
    hostname_patterns: list[str] = Field(
        default_factory=list,
        description="Shell-style patterns a DNS address or the VM's hostname must match (e.g. winnode-*).")
    vm_id_prefixes: list[str] = Field(
        default_factory=list, description="Prefixes a VM id must start with, when set (e.g. i-, vm-).")

    @field_validator("address_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        out = []
        for item in v:
            try:
                out.append(str(ipaddress.ip_network(item.strip(), strict=True)))
            except ValueError:
                raise ValueError(f"address_cidrs entry {item!r} is not a network in CIDR notation with the host bits "
                                 "clear; use e.g. 172.16.3.0/24") from None
        return out

    @field_validator("host_blocks", "hostname_patterns", "vm_id_prefixes")
    @classmethod
    def _non_empty_entries(cls, v: list[str], info: Any) -> list[str]:
        if any(not item.strip() for item in v):
            raise ValueError(f"{info.field_name} has an empty entry; remove it")
        return [item.strip() for item in v]

    def refusals(self, *, host_block: str, address: str, vm_id: str | None = None,
                 hostname: str | None = None) -> list[str]:
        """Why a join of `address` through `host_block` is refused ([] when the policy admits it)."""
        reasons = []
        if host_block not in self.host_blocks:
            allowed = ", ".join(self.host_blocks) or "none"
            reasons.append(f"host block {host_block!r} is not one the policy allows (allowed: {allowed})")
        if not self.address_cidrs and not self.hostname_patterns:
            reasons.append("the policy allows no address: configure address_cidrs or hostname_patterns")
        else:
            reasons += self._address_refusals(address)
        if hostname and self.hostname_patterns and not _matches(hostname, self.hostname_patterns):
            reasons.append(f"hostname {hostname!r} matches none of the hostname patterns "
                           f"({', '.join(self.hostname_patterns)})")
        if self.vm_id_prefixes:
            if not vm_id:
                reasons.append("the request carries no VM id, and the policy admits only VM ids starting with "
                               + ", ".join(self.vm_id_prefixes))
            elif not any(vm_id.startswith(p) for p in self.vm_id_prefixes):
                reasons.append(f"VM id {vm_id!r} starts with none of {', '.join(self.vm_id_prefixes)}")
        return reasons

    def _address_refusals(self, address: str) -> list[str]:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            if _matches(address, self.hostname_patterns):
                return []
            if self.hostname_patterns:
                return [f"address {address!r} matches none of the hostname patterns "
                        f"({', '.join(self.hostname_patterns)})"]
            return [f"address {address!r} is a name and the policy admits addresses by CIDR only: pass the IP "
                    "address or add a hostname pattern"]
        if any(ip in ipaddress.ip_network(c) for c in self.address_cidrs):
            return []
        if self.address_cidrs:
            return [f"address {address} lies in none of the allowed networks ({', '.join(self.address_cidrs)})"]
        return [f"address {address} is an IP address and the policy admits addresses by hostname pattern only"]


def _matches(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name.lower(), p.lower()) for p in patterns)
