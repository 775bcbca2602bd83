"""Faults a test (or `python -m lab up --fault HOST:NAME[=VALUE]`) can inject into one emulated Windows host.

| fault | value | symptom |
|---|---|---|
| `drop_during` | step name or list (e.g. `"hns-create"`) | open WinRM connections are dropped when that step runs (once) |
| `winrm_500` | int N | the next N WinRM requests answer HTTP 500 |
| `slow` | float, or {op: factor} for `download`, `image_pull`, `hns`, `boot` | those operations take longer |
| `reboot_required` | bool | Containers is not installed; installing it needs a reboot (pending until Restart-Computer) |
| `missing_hotfix` | bool | OS at 17763.253 (20348.143): no cumulative update with KB4489899, old hotfix list |
| `no_container_runtime` | bool | no containerd/docker service on the host |
| `wrong_password` | bool | the WinRM server's password differs from the one lab.json gives → 401 |
| `disk_full` | bool | ~0.5 GB free on C:; large writes fail with "There is not enough space on the disk." |

`HostFaults.set(name, value)` changes a fault on a running host; listeners (the node) apply it to the model and
the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

FAULT_NAMES = ("drop_during", "winrm_500", "slow", "reboot_required", "missing_hotfix", "no_container_runtime",
               "wrong_password", "disk_full")
SLOW_OPERATIONS = ("download", "image_pull", "hns", "boot")
DISK_FULL_FREE_BYTES = 512 * 1024 * 1024


@dataclass
class HostFaults:
    """The faults active on one host."""

    drop_during: set[str] = field(default_factory=set)
    winrm_500: int = 0
    slow: dict[str, float] = field(default_factory=dict)
    reboot_required: bool = False
    missing_hotfix: bool = False
    no_container_runtime: bool = False
    wrong_password: bool = False
    disk_full: bool = False
    drops_done: list[str] = field(default_factory=list)   # steps whose drop has fired, in order
    listeners: list[Callable[[str, Any], None]] = field(default_factory=list, repr=False)

    @classmethod
    def from_dict(cls, faults: dict[str, Any] | None) -> "HostFaults":
        """Build from `{name: value}` (lab.json / CLI form). Raises ValueError for an unknown fault name."""
        f = cls()
        for name, value in (faults or {}).items():
            f._assign(name, value)
        return f

    def set(self, name: str, value: Any = True) -> None:
        """Change one fault now and let the listeners apply it (e.g. `faults.set("winrm_500", 3)`)."""
        self._assign(name, value)
        for listener in list(self.listeners):
            listener(name, getattr(self, name))

    def slow_factor(self, operation: str) -> float:
        """How many times longer `operation` takes than normal (1.0 when not slowed)."""
        return float(self.slow.get(operation, self.slow.get("*", 1.0)))

    def take_drop(self, step: str) -> bool:
        """True exactly once for a step named in `drop_during` (the caller then drops the connections)."""
        if step in self.drop_during:
            self.drop_during.discard(step)
            self.drops_done.append(step)
            return True
        return False

    def active(self) -> dict[str, Any]:
        """The faults that are on, as a plain dict."""
        out: dict[str, Any] = {}
        for name in FAULT_NAMES:
            v = getattr(self, name)
            if v:
                out[name] = sorted(v) if isinstance(v, set) else v
        return out

    def _assign(self, name: str, value: Any) -> None:
        if name not in FAULT_NAMES:
            raise ValueError(f"unknown Windows host fault {name!r}; known: {', '.join(FAULT_NAMES)}")
        if name == "drop_during":
            if value is True:
                value = {"hns-create"}
            elif isinstance(value, str):
                value = {value}
            value = set(value or ())
        elif name == "winrm_500":
            value = int(value)
        elif name == "slow":
            if isinstance(value, bool):
                value = {"*": 10.0} if value else {}
            elif isinstance(value, (int, float)):
                value = {"*": float(value)}
            else:
                value = {str(k): float(v) for k, v in dict(value or {}).items()}
        else:
            value = bool(value)
        setattr(self, name, value)
