"""Validation shared by the flows' parameter models: messages name the field and the fix."""

from __future__ import annotations

import ipaddress
import re

from prefect_windows_nodes.tasks import is_node_name

_BLOCK_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}"
                       r"[A-Za-z0-9])?)*$")


def block_name(field: str, value: str | None) -> str | None:
    """`value` if it can name a saved Prefect block, else ValueError naming `field` and the fix."""
    if value is not None and not _BLOCK_NAME.match(value):
        raise ValueError(f"{field} {value!r} is not a Prefect block name: use lowercase letters, digits and dashes "
                         f"(e.g. 'winnode04'), the name the block was saved under")
    return value


def host_address(field: str, value: str | None) -> str | None:
    """`value` if it is an IP address or a DNS name, else ValueError naming `field` and the fix."""
    if value is None:
        return value
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if not _HOSTNAME.match(value):
        raise ValueError(f"{field} {value!r} is neither an IP address nor a DNS name; pass the host's WinRM "
                         "address, e.g. 172.16.3.172 or winnode04.corp.example")
    return value


def node_name(field: str, value: str) -> str:
    """`value` if it is a Kubernetes node name, else ValueError naming `field` and the fix."""
    if not is_node_name(value):
        raise ValueError(f"{field} {value!r} is not a Kubernetes node name; use the lowercased hostname, e.g. k8s-ww")
    return value
