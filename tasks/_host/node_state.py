"""Read-only views of a Windows node's Calico/Kubernetes state, from the shipped `Get-CalicoNodeState.ps1` and
`Get-NodeLogTail.ps1` (one round trip each), plus waiting for that state with a deadline after a WinRM drop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable

from prefect_windows_nodes.blocks.windows import PowerShellSession, WinRMTransientError

from prefect_windows_nodes.tasks._core.results import StepRecorder

CALICO_ROOT = "C:\\CalicoWindows"


@dataclass
class CalicoNodeState:
    """What `Get-CalicoNodeState` reports, with helpers. Services absent on the host are absent here."""

    services: dict[str, dict[str, Any]] = field(default_factory=dict)   # by lowercased name
    config: dict[str, str] = field(default_factory=dict)
    installed_version: str = ""
    stored_last_boot: str = ""
    current_last_boot: str = ""
    hns_networks: list[dict[str, Any]] = field(default_factory=list)
    calico_endpoint: bool = False
    kubeconfig_present: bool = False

    @classmethod
    def from_output(cls, out: list[Any]) -> "CalicoNodeState":
        """Parse the script's single output object (plain dict after PSRP conversion)."""
        obj = next((o for o in out if isinstance(o, dict)), None)
        if obj is None:
            raise RuntimeError(f"Get-CalicoNodeState returned no object (got {len(out)} output item(s))")
        services = obj.get("Services") or []
        if isinstance(services, dict):  # a single service may come back unwrapped
            services = [services]
        config = obj.get("Config") or {}
        networks = obj.get("HnsNetworks") or []
        if isinstance(networks, dict):
            networks = [networks]
        return cls(
            services={str(s.get("Name", "")).lower(): s for s in services if isinstance(s, dict)},
            config={str(k): "" if v is None else str(v) for k, v in config.items()} if isinstance(config, dict)
            else {},
            installed_version=str(obj.get("InstalledVersion") or "").lstrip("v"),
            stored_last_boot=str(obj.get("StoredLastBootTime") or ""),
            current_last_boot=str(obj.get("CurrentLastBootTime") or ""),
            hns_networks=[n for n in networks if isinstance(n, dict)],
            calico_endpoint=bool(obj.get("CalicoEndpointExists")),
            kubeconfig_present=bool(obj.get("KubeconfigPresent")),
        )

    def status(self, name: str) -> str:
        """The service's status ("Running", "Stopped", ...) or "absent"."""
        svc = self.services.get(name.lower())
        return str(svc.get("Status") or "Unknown") if svc else "absent"

    def running(self, *names: str) -> bool:
        """True when every named service is Running."""
        return all(self.status(n) == "Running" for n in names)

    @property
    def initialised(self) -> bool:
        """CalicoNode finished its first run after this boot (it writes LastBootTime when done)."""
        return bool(self.current_last_boot) and self.stored_last_boot == self.current_last_boot

    @property
    def calico_running(self) -> bool:
        """CalicoNode and CalicoFelix are Running."""
        return self.running("CalicoNode", "CalicoFelix")

    def describe_services(self, *names: str) -> str:
        """`CalicoNode Running, CalicoFelix Stopped` for a report."""
        return ", ".join(f"{n} {self.status(n)}" for n in names)


async def read_calico_state(ps: PowerShellSession) -> CalicoNodeState:
    """One `Get-CalicoNodeState` round trip."""
    return CalicoNodeState.from_output(await ps.run_script("Get-CalicoNodeState", CalicoRoot=CALICO_ROOT))


async def read_log_tail(ps: PowerShellSession, lines: int = 30) -> dict[str, str]:
    """The last `lines` of the kubelet, kube-proxy, CalicoNode and CalicoFelix logs ("" when absent)."""
    out = await ps.run_script("Get-NodeLogTail", Lines=int(lines), CalicoRoot=CALICO_ROOT)
    obj = next((o for o in out if isinstance(o, dict)), {}) or {}
    return {k: str(obj.get(k) or "") for k in ("Kubelet", "KubeProxy", "CalicoNode", "CalicoFelix")}


async def record_log_tail(ps: PowerShellSession, rec: StepRecorder, lines: int = 30) -> None:
    """Add the last `lines` of each log to `rec` as facts `log_<Name>`. Diagnostics only: when the logs cannot be
    read, nothing is added, so the failure being diagnosed is never hidden."""
    try:
        tails = await read_log_tail(ps, lines)
    except Exception:  # noqa: BLE001
        return
    for name, text in tails.items():
        rec.fact(f"log_{name}", text)


async def wait_for_state(ps: PowerShellSession, done: Callable[[CalicoNodeState], bool], *, timeout_s: float,
                         first_interval_s: float = 0.2, max_interval_s: float = 5.0
                         ) -> tuple[bool, CalicoNodeState | None]:
    """Re-read the node state until `done(state)` or the deadline. The host offers no change notification over
    WinRM, so this reads with a backoff (0.2 s doubling to 5 s). Connection drops (the HNS network creation cuts
    WinRM) reconnect and carry on. Returns `(reached, last state seen)`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    interval = first_interval_s
    last: CalicoNodeState | None = None
    while True:
        try:
            last = await read_calico_state(ps)
            if done(last):
                return True, last
        except WinRMTransientError:
            if loop.time() >= deadline:
                return False, last
            try:
                await ps.reconnect()
            except WinRMTransientError:
                pass
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False, last
        await asyncio.sleep(min(interval, remaining))
        interval = min(interval * 2, max_interval_s)
