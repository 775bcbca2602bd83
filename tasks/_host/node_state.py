"""Read-only views of a Windows node's Calico and Kubernetes state, from structured cmdlets in one round trip
(interpreted in Python), plus waiting for that state with a deadline after a WinRM drop, and log tails."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from prefect_windows_nodes.blocks import Command, PowerShellSession, WinRMTransientError
from prefect_windows_nodes.tasks._host.calico_config import parse_config
from prefect_windows_nodes.tasks._core.results import StepRecorder
from prefect_windows_nodes.tasks._host.facts import version_in
from prefect_windows_nodes.tasks._host.statements import run_named

CALICO_ROOT = "C:\\CalicoWindows"
CALICO_REGISTRY_KEY = "HKLM:\\Software\\Tigera\\Calico"
NODE_KUBECONFIG = "c:\\k\\config"
#: The services whose state the join reads (absent ones are simply missing from the answer).
NODE_SERVICES = ("CalicoNode", "CalicoFelix", "CalicoConfd", "CalicoUpgrade", "kubelet", "kube-proxy")
_QUIET = {"ErrorAction": "SilentlyContinue"}


@dataclass
class CalicoNodeState:
    """What the host says about its Calico and kube services. Services absent on the host are absent here."""

    services: dict[str, dict[str, Any]] = field(default_factory=dict)   # by lowercased name
    config: dict[str, str] = field(default_factory=dict)
    installed_version: str = ""
    stored_last_boot: str = ""
    current_last_boot: tuple[str, ...] = ()
    node_kubeconfig_present: bool = False

    def status(self, name: str) -> str:
        """The service's status ("Running", "Stopped", ...) or "absent"."""
        svc = self.services.get(name.lower())
        return str(svc.get("Status") or "Unknown") if svc else "absent"

    def running(self, *names: str) -> bool:
        """True when every named service is Running."""
        return all(self.status(n) == "Running" for n in names)

    @property
    def initialised(self) -> bool:
        """CalicoNode finished its first run after this boot: the boot time it stored in the registry equals the
        current one, in either form Calico's releases store (`ToString("G")` in the host's culture, or WMI's
        DMTF string) — the comparison Calico's own `Wait-ForCalicoInit` makes."""
        return bool(self.stored_last_boot) and self.stored_last_boot in self.current_last_boot

    @property
    def calico_running(self) -> bool:
        """CalicoNode and CalicoFelix are Running."""
        return self.running("CalicoNode", "CalicoFelix")

    def describe_services(self, *names: str) -> str:
        """`CalicoNode Running, CalicoFelix Stopped` for a report."""
        return ", ".join(f"{n} {self.status(n)}" for n in names)

    def describe_boot(self) -> str:
        """`StoredLastBootTime X, CurrentLastBootTime Y` as Calico's installer prints it."""
        current = self.current_last_boot[0] if self.current_last_boot else "(unknown)"
        return f"StoredLastBootTime {self.stored_last_boot or '(none)'}, CurrentLastBootTime {current}"


def state_statements(root: str = CALICO_ROOT) -> dict[str, Any]:
    """The named statements of one node-state round trip (read by `interpret_state`)."""
    return {
        "services": Command("Get-Service", {"Name": list(NODE_SERVICES), **_QUIET}),
        "hostname": Command("hostname"),
        "containerd": Command("Get-CimInstance", {"ClassName": "Win32_Service", "Filter": "Name='containerd'"}),
        "config": Command("Get-Content", {"LiteralPath": f"{root}\\config.ps1", "Raw": True, **_QUIET}),
        "stored_boot": Command("Get-ItemProperty", {"LiteralPath": CALICO_REGISTRY_KEY, "Name": "LastBootTime",
                                                    **_QUIET}),
        # Calico stores the boot time as LastBootUpTime.ToString("G") (host culture; Get-Date -Format G is the
        # same formatting) or, in older releases, as WMI's DMTF string: read both.
        "boot_g": [Command("Get-CimInstance", {"ClassName": "Win32_OperatingSystem"}),
                   Command("Select-Object", {"ExpandProperty": "LastBootUpTime"}),
                   Command("Get-Date", {"Format": "G"})],
        "boot_dmtf": [Command("Get-WmiObject", {"Class": "Win32_OperatingSystem"}),
                      Command("Select-Object", {"ExpandProperty": "LastBootUpTime"})],
        "node_exe": Command("Test-Path", {"LiteralPath": f"{root}\\calico-node.exe", "PathType": "Leaf"}),
        "node_kubeconfig": Command("Test-Path", {"LiteralPath": NODE_KUBECONFIG, "PathType": "Leaf"}),
    }


def interpret_state(out: Mapping[str, list[Any]], root: str = CALICO_ROOT) -> CalicoNodeState:
    """CalicoNodeState from the outputs of `state_statements` (pure: no I/O; installed_version left empty)."""
    services = {str(s.get("Name", "")).lower(): {"Name": s.get("Name"), "Status": str(s.get("Status") or ""),
                                                  "StartType": str(s.get("StartType") or "")}
                for s in out.get("services") or [] if isinstance(s, dict)}
    containerd = next((s for s in out.get("containerd") or [] if isinstance(s, dict)), {})
    text = next((str(t) for t in out.get("config") or [] if t is not None), "")
    hostname = str(next(iter(out.get("hostname") or []), "") or "")
    config = parse_config(text, root=root, hostname=hostname,
                          containerd_running=str(containerd.get("State") or "") == "Running") if text else {}
    stored = next((o for o in out.get("stored_boot") or [] if isinstance(o, dict)), {}).get("LastBootTime")
    current = tuple(str(v) for key in ("boot_g", "boot_dmtf") for v in out.get(key) or [] if v)
    return CalicoNodeState(services=services, config=config, stored_last_boot=str(stored or ""),
                           current_last_boot=current,
                           node_kubeconfig_present=_first(out.get("node_kubeconfig")) is True)


def _first(items: list[Any] | None) -> Any:
    return items[0] if items else None


async def read_calico_state(ps: PowerShellSession, *, with_version: bool = True,
                            root: str = CALICO_ROOT) -> CalicoNodeState:
    """One round trip for the node's state; with `with_version`, a second one asks the installed
    `calico-node.exe -v` for its version (only when it exists)."""
    out = await run_named(ps, state_statements(root))
    state = interpret_state(out, root)
    if with_version and _first(out.get("node_exe")) is True:
        state.installed_version = version_in(await ps.run(f"{root}\\calico-node.exe", "-v"))
    return state


#: Where each component logs, newest first wins: nssm writes a service's stdout and stderr to separate files.
def log_candidates(root: str = CALICO_ROOT) -> dict[str, list[str]]:
    """Component → the log files it may write (the most recently written one is read)."""
    logs = f"{root}\\logs"
    return {
        "Kubelet": [f"{logs}\\kubelet.err.log", f"{logs}\\kubelet.log", "c:\\k\\kubelet.err.log",
                    "c:\\k\\kubelet.out.log", "c:\\k\\kubelet.log"],
        "KubeProxy": [f"{logs}\\kube-proxy.err.log", f"{logs}\\kube-proxy.log", "c:\\k\\kube-proxy.err.log",
                      "c:\\k\\kube-proxy.out.log", "c:\\k\\kube-proxy.log"],
        "CalicoNode": [f"{logs}\\calico-node.err.log", f"{logs}\\calico-node.log"],
        "CalicoFelix": [f"{logs}\\calico-felix.err.log", f"{logs}\\calico-felix.log"],
    }


async def read_log_tail(ps: PowerShellSession, lines: int = 30) -> dict[str, str]:
    """The last `lines` of the kubelet, kube-proxy, CalicoNode and CalicoFelix logs ("" when absent): one round
    trip lists the candidate files, a second reads the newest one of each component."""
    candidates = log_candidates()
    every = [p for paths in candidates.values() for p in paths]
    found = await ps.run_statements([Command("Get-Item", {"LiteralPath": every, **_QUIET})])
    modified = {str(f.get("FullName", "")).lower(): str(f.get("LastWriteTimeUtc") or f.get("LastWriteTime") or "")
                for f in found[0] if isinstance(f, dict)}
    newest: dict[str, str] = {}
    for component, paths in candidates.items():
        present = [p for p in paths if p.lower() in modified]
        if present:
            newest[component] = max(present, key=lambda p: modified[p.lower()])
    tails: dict[str, str] = {c: "" for c in candidates}
    if newest:
        outputs = await ps.run_statements([Command("Get-Content", {"LiteralPath": p, "Tail": int(lines)})
                                           for p in newest.values()])
        for component, out in zip(newest, outputs):
            tails[component] = "\n".join(str(line) for line in out)
    return tails


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
