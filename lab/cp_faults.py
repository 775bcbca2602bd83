"""Faults of the control plane host `k8s-m`, selectable per test and from `lab up --fault k8s-m:NAME[=VALUE]`.

- `calicoctl_drop=N`: the next N calicoctl calls over SSH run to the end (their change is made) and then the
  SSH connection drops before their output reaches the client — the client cannot tell whether it happened.
- `csr_never_signed=PATTERN` (or a list): CertificateSigningRequests whose name matches the fnmatch pattern are
  never signed, even once approved (no approver or signer acts on them; they stay Pending / Approved).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CONTROL_PLANE_HOST = "k8s-m"


class ConnectionDropped(Exception):
    """The fault cut the SSH connection of the command line that raised it."""


@dataclass
class ControlPlaneFaults:
    """Pending faults on k8s-m (counts go down as they fire)."""

    calicoctl_drop: int = 0
    csr_never_signed: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, faults: dict[str, Any] | None) -> "ControlPlaneFaults":
        """Faults from `--fault` options parsed for host k8s-m; an unknown name is a ValueError."""
        out = cls()
        for name, value in (faults or {}).items():
            if name == "calicoctl_drop":
                out.calicoctl_drop = 1 if value is True else int(value)
            elif name == "csr_never_signed":
                out.csr_never_signed = [value] if isinstance(value, str) else ["*"] if value is True else list(value)
            else:
                raise ValueError(f"unknown control plane fault {name!r} (known: calicoctl_drop, csr_never_signed)")
        return out

    def take_calicoctl_drop(self) -> bool:
        """True (once per pending drop) when this calicoctl call's connection must drop."""
        if self.calicoctl_drop > 0:
            self.calicoctl_drop -= 1
            return True
        return False
