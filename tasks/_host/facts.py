"""What a Windows host is, read with structured cmdlets in one round trip and interpreted in Python.

`gather_host_facts` sends one invocation of several statements (registry, CIM, hotfixes, the Containers feature,
runtime services, addresses, API-server reachability, paths the caller asks about), then — only when a container
runtime service exists — runs its executable with `--version`. Every decision happens in Python
(`interpret_facts`), where tests reach each branch; no logic is left to PowerShell.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, Field

from prefect_windows_nodes.blocks import Command, PowerShellSession
from prefect_windows_nodes.tasks._host.statements import run_named

CURRENT_VERSION_KEY = "HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"
#: Keys whose presence means a reboot is pending (component servicing, Windows Update).
REBOOT_PENDING_KEYS = (
    "HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending",
    "HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\RebootRequired",
)
SESSION_MANAGER_KEY = "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\Session Manager"
#: Container runtimes by service name, in order of preference (containerd is the supported one today).
RUNTIME_SERVICES = ("containerd", "docker")
_QUIET = {"ErrorAction": "SilentlyContinue"}
_SEMVER = re.compile(r"(\d+\.\d+\.\d+)")
GB = 1024 ** 3


class HostFacts(BaseModel):
    """The facts of one Windows host that the join checks and later steps use. A field the host did not report
    is None (its check then says "not reported")."""

    model_config = ConfigDict(extra="forbid")

    computer_name: str = Field(description="The host name as `hostname` prints it.")
    os_caption: str = ""
    build_number: int | None = None
    ubr: int | None = Field(default=None, description="Update build revision (the 4th part of 10.0.17763.1999).")
    hotfixes: list[str] = Field(default_factory=list)
    containers_feature: str = Field(default="", description="InstallState of the Containers feature.")
    pending_reboot: bool | None = None
    runtime: str = Field(default="", description="containerd or docker; empty when neither service exists.")
    runtime_version: str = ""
    runtime_running: bool = False
    runtime_executable: str = ""
    free_disk_gb: float | None = None
    api_server_reachable: bool | None = Field(default=None, description="None when not tested.")
    ipv4_addresses: list[str] = Field(default_factory=list)
    existing_paths: list[str] = Field(default_factory=list, description="Which of the paths asked about exist.")

    @property
    def node_name(self) -> str:
        """The Kubernetes node name Calico and kubelet use for this host: its hostname, lowercased."""
        return node_name_for(self.computer_name)

    @property
    def os_build(self) -> str:
        """`10.0.17763.1999`, or "" when the build was not reported."""
        if self.build_number is None or self.ubr is None:
            return ""
        return f"10.0.{self.build_number}.{self.ubr}"

    def exists(self, path: str) -> bool:
        """Whether `path` (one of those passed to `gather_host_facts`) exists on the host."""
        return path.lower() in (p.lower() for p in self.existing_paths)

    def report(self) -> dict[str, str]:
        """The facts as text for a step report."""
        return {
            "computer_name": self.computer_name, "node_name": self.node_name, "os": self.os_caption,
            "os_build": self.os_build, "container_runtime": f"{self.runtime} {self.runtime_version}".strip(),
            "free_disk_gb": f"{self.free_disk_gb:.1f}" if self.free_disk_gb is not None else "",
            "ipv4": ",".join(self.ipv4_addresses),
        }


def node_name_for(computer_name: str) -> str:
    """The Kubernetes node name for a host name: lowercased (Calico's config.ps1 `$(hostname).ToLower()`)."""
    return computer_name.strip().lower()


def fact_statements(api_host: str, api_port: int, paths: list[str]) -> dict[str, Any]:
    """The named statements of the facts round trip (read by `interpret_facts`)."""
    statements: dict[str, Any] = {
        "hostname": Command("hostname"),
        "version": Command("Get-ItemProperty", {"LiteralPath": CURRENT_VERSION_KEY}),
        "hotfixes": [Command("Get-HotFix"), Command("Select-Object", {"ExpandProperty": "HotFixID"})],
        "feature": Command("Get-WindowsFeature", {"Name": "Containers"}),
        **{f"reboot_key_{i}": Command("Test-Path", {"LiteralPath": key}) for i, key in enumerate(REBOOT_PENDING_KEYS)},
        "renames": Command("Get-ItemProperty", {"LiteralPath": SESSION_MANAGER_KEY,
                                                "Name": "PendingFileRenameOperations", **_QUIET}),
        # WQL is text: the filter holds constant service names only, never a value from input.
        "services": Command("Get-CimInstance", {"ClassName": "Win32_Service",
                                                "Filter": " OR ".join(f"Name='{n}'" for n in RUNTIME_SERVICES)}),
        "os": Command("Get-CimInstance", {"ClassName": "Win32_OperatingSystem"}),
        "disks": Command("Get-CimInstance", {"ClassName": "Win32_LogicalDisk"}),
        "ipv4": [Command("Get-NetIPAddress", {"AddressFamily": "IPv4"}),
                 Command("Select-Object", {"ExpandProperty": "IPAddress"})],
        **{f"path_{i}": Command("Test-Path", {"LiteralPath": p}) for i, p in enumerate(paths)},
    }
    if api_host:
        statements["api"] = Command("Test-NetConnection", {"ComputerName": api_host, "Port": int(api_port),
                                                           "InformationLevel": "Quiet",
                                                           "WarningAction": "SilentlyContinue"})
    return statements


def interpret_facts(out: Mapping[str, list[Any]], *, paths: list[str]) -> HostFacts:
    """HostFacts from the outputs of `fact_statements` (pure: no I/O)."""
    version = _first_dict(out.get("version"))
    feature = _first_dict(out.get("feature"))
    os_info = _first_dict(out.get("os"))
    runtime, running, exe = _runtime(out.get("services") or [])
    pending = any(_first(out.get(f"reboot_key_{i}")) is True for i in range(len(REBOOT_PENDING_KEYS)))
    renames = _first_dict(out.get("renames")).get("PendingFileRenameOperations")
    api = out.get("api")
    return HostFacts(
        computer_name=str(_first(out.get("hostname")) or "").strip(),
        os_caption=str(version.get("ProductName") or ""),
        build_number=_int(version.get("CurrentBuildNumber")),
        ubr=_int(version.get("UBR")),
        hotfixes=[str(h).upper() for h in out.get("hotfixes") or [] if h],
        containers_feature=str(feature.get("InstallState") or "Removed"),
        pending_reboot=pending or bool(renames),
        runtime=runtime, runtime_running=running, runtime_executable=exe,
        free_disk_gb=_free_gb(out.get("disks") or [], str(os_info.get("SystemDrive") or "C:")),
        api_server_reachable=None if api is None else _first(api) is True,
        ipv4_addresses=[str(a) for a in out.get("ipv4") or []
                        if a and str(a) != "127.0.0.1" and not str(a).startswith("169.254.")],
        existing_paths=[p for i, p in enumerate(paths) if _first(out.get(f"path_{i}")) is True],
    )


async def gather_host_facts(ps: PowerShellSession, *, api_host: str = "", api_port: int = 6443,
                            paths: list[str] | None = None) -> HostFacts:
    """Read the host's facts (read-only): one round trip of statements, plus the container runtime's
    `--version` when a runtime service exists. `paths`: files or directories whose existence the caller needs
    (see `HostFacts.exists`). `api_host` empty: reachability is not tested."""
    paths = list(paths or [])
    out = await run_named(ps, fact_statements(api_host, api_port, paths))
    facts = interpret_facts(out, paths=paths)
    if facts.runtime_executable:
        facts.runtime_version = version_in(await ps.run(facts.runtime_executable, "--version"))
    return facts


def version_in(output: list[Any]) -> str:
    """The first MAJOR.MINOR.PATCH in a program's printed version (`containerd github.com/... v1.7.20 ...`)."""
    m = _SEMVER.search(" ".join(str(line) for line in output))
    return m.group(1) if m else ""


def executable_of(path_name: str) -> str:
    """The executable of a service's command line (`"C:\\Program Files\\containerd\\containerd.exe" --run-service`
    → `C:\\Program Files\\containerd\\containerd.exe`)."""
    text = path_name.strip()
    if text.startswith('"'):
        return text[1:text.find('"', 1)] if text.find('"', 1) > 0 else text[1:]
    try:
        return shlex.split(text, posix=False)[0] if text else ""
    except ValueError:
        return text.split(" ", 1)[0]


def _runtime(services: list[Any]) -> tuple[str, bool, str]:
    by_name = {str(s.get("Name", "")).lower(): s for s in services if isinstance(s, dict)}
    for name in RUNTIME_SERVICES:
        svc = by_name.get(name)
        if svc is not None:
            return name, str(svc.get("State") or "") == "Running", executable_of(str(svc.get("PathName") or ""))
    return "", False, ""


def _free_gb(disks: list[Any], system_drive: str) -> float | None:
    for d in disks:
        if isinstance(d, dict) and str(d.get("DeviceID") or "").upper() == system_drive.upper():
            free = d.get("FreeSpace")
            return round(int(free) / GB, 2) if free is not None else None
    return None


def _first(items: list[Any] | None) -> Any:
    return items[0] if items else None


def _first_dict(items: list[Any] | None) -> dict[str, Any]:
    obj = _first(items)
    return obj if isinstance(obj, dict) else {}


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None
