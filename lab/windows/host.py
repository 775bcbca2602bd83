"""The emulated Windows Server host: its state and the rules that change it. Nothing here knows about WinRM.

`WindowsHost.create(name=..., build=..., runtime=..., clock=..., ip=...)` builds a host in the runbook's starting
state (Windows Server 2019 Datacenter Evaluation 10.0.17763.1999 or Server 2022 10.0.20348.2527, Containers
installed, containerd 1.7 or Docker 20.10.9 running, one NIC).

Extension points (used by lab/windows/installers/ and lab/windows/kubelet.py):

- `host.fs` (WindowsFileSystem): `write_bytes(path, data, logical_size=None)`, `read_bytes`, `read_text`,
  `exists`, `is_dir`, `mkdir`, `list`, `remove`, `copy`. Paths are case-insensitive Windows paths.
- `host.registry` (WindowsRegistry): `get_value/try_get_value/set_value(path, name, value, kind)`,
  `create_key`, `delete_key`; e.g. `HKLM:\\Software\\Tigera\\Calico` `LastBootTime`.
- Services: `host.add_service(Service(...))`, `host.remove_service(name)`, `await host.start_service(name)`,
  `await host.stop_service(name)`, `host.set_service_status(name, status)` (a service's process exiting).
  Behaviour hooks: `host.on_service_start[name] = async fn(host, service)` runs while the service starts
  (raise `ServiceStartFailed(msg)` to make the start fail; long work belongs in `host.spawn(coro)`), and
  `host.on_service_stop[name] = async fn(host, service)`. Names are case-insensitive.
- HNS: `host.hns.create_network(name, type, ...)`, `host.hns.network(name)`, `delete_network`,
  `create_endpoint(name, network, ip)`, `endpoint(name)`.
- Firewall: `host.add_firewall_rule(FirewallRule(...))`, `host.firewall_rule(name)`.
- Time and faults: `await host.delay(operation, real_seconds)` (scaled by the lab clock and the `slow` fault),
  `host.drop_point(step)` (drops WinRM connections if the `drop_during` fault names that step),
  `host.drop_connections()` (real behaviour, e.g. the first HNS overlay network), `host.faults` (HostFaults).
- Boot: `host.last_boot_time`, `host.boot_time_text()` (what Calico stores), `host.pending_reboot()`,
  `await host.reboot()`, `host.on_boot` hooks.
- `host.on_mutation` hooks receive a description of every state change (the node feeds them to HostRecords).
"""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Coroutine

from lab.clock import LabClock

from .faults import DISK_FULL_FREE_BYTES, HostFaults
from .filesystem import DiskFull, WindowsFileSystem
from .winregistry import WindowsRegistry

GB = 1024 ** 3

# Registry keys whose presence means "a reboot is pending" (what Test-PendingReboot-style checks read).
CBS_REBOOT_PENDING = "HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending"
WU_REBOOT_REQUIRED = "HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\RebootRequired"
SESSION_MANAGER = "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\Session Manager"
CURRENT_VERSION = "HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"


# ---------------------------------------------------------------------------------------------------------------
# OS identity
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class OSInfo:
    """What Win32_OperatingSystem and the CurrentVersion registry key report."""

    caption: str
    build_number: int
    ubr: int
    edition_id: str = "ServerDatacenterEval"
    release_id: str = "1809"
    display_version: str = ""
    install_date: datetime = field(default_factory=lambda: datetime(2021, 6, 14, 8, 12, 3, tzinfo=timezone.utc))

    @property
    def version(self) -> str:
        """`10.0.17763` (Win32_OperatingSystem.Version)."""
        return f"10.0.{self.build_number}"

    @property
    def product_name(self) -> str:
        """`Windows Server 2019 Datacenter Evaluation`: the registry ProductName, which kubelet reports as OS image
        (the WMI Caption has a `Microsoft ` prefix)."""
        return self.caption.removeprefix("Microsoft ")

    @property
    def os_build(self) -> str:
        """`10.0.17763.1999`: what kubelet reports as kernel version."""
        return f"10.0.{self.build_number}.{self.ubr}"


@dataclass
class HotFix:
    """One row of Get-HotFix."""

    hotfix_id: str
    description: str = "Update"
    installed_on: datetime = field(default_factory=lambda: datetime(2021, 6, 14, tzinfo=timezone.utc))
    installed_by: str = "NT AUTHORITY\\SYSTEM"


# (caption, build, ubr, edition, release/display version, hotfixes) per supported build
_OS_PROFILES: dict[int, dict[str, Any]] = {
    17763: dict(caption="Microsoft Windows Server 2019 Datacenter Evaluation", ubr=1999, edition="ServerDatacenterEval",
                release="1809", display="", hotfixes=[
                    ("KB5003243", "Update"), ("KB4535680", "Security Update"), ("KB4577586", "Update"),
                    ("KB4589208", "Update"), ("KB5003711", "Security Update"), ("KB5003646", "Security Update")],
                old_ubr=253, old_hotfixes=[("KB4470788", "Security Update"), ("KB4480116", "Security Update")]),
    20348: dict(caption="Microsoft Windows Server 2022 Datacenter", ubr=2527, edition="ServerDatacenter",
                release="2009", display="21H2", hotfixes=[
                    ("KB5039889", "Update"), ("KB5037930", "Security Update"), ("KB5039227", "Security Update")],
                old_ubr=143, old_hotfixes=[("KB5005039", "Security Update")]),
}
SUPPORTED_BUILDS = tuple(_OS_PROFILES)


def os_profile(build: int, *, missing_hotfix: bool = False) -> tuple[OSInfo, list[HotFix]]:
    """The OS identity and hotfix list of a host of `build` (current patch level, or an old one with
    `missing_hotfix`: before KB4489899 / the first 2022 cumulative updates)."""
    if build not in _OS_PROFILES:
        raise ValueError(f"unsupported Windows build {build}; supported: {SUPPORTED_BUILDS}")
    p = _OS_PROFILES[build]
    ubr = p["old_ubr"] if missing_hotfix else p["ubr"]
    fixes = p["old_hotfixes"] if missing_hotfix else p["hotfixes"]
    info = OSInfo(caption=p["caption"], build_number=build, ubr=ubr, edition_id=p["edition"],
                  release_id=p["release"], display_version=p["display"])
    return info, [HotFix(kb, desc) for kb, desc in fixes]


# ---------------------------------------------------------------------------------------------------------------
# Features, services, network, HNS, firewall, runtime, disk
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class Feature:
    """A Windows role/feature (Get-WindowsFeature) that is also a DISM optional feature."""

    name: str
    display_name: str
    install_state: str = "Available"          # Installed | Available | InstallPending | Removed
    feature_type: str = "Feature"             # Role | Role Service | Feature
    restart_on_install: bool = False          # installing it leaves a pending reboot
    optional_name: str | None = None          # the DISM name (Get-WindowsOptionalFeature), if it has one


@dataclass
class Service:
    """One Windows service as Get-Service shows it."""

    name: str
    display_name: str
    status: str = "Stopped"                   # Running | Stopped | StartPending | StopPending | Paused
    start_type: str = "Manual"                # Automatic | Manual | Disabled
    depends_on: list[str] = field(default_factory=list)   # names of services this one needs
    binary_path: str = ""
    description: str = ""
    account: str = "LocalSystem"
    can_stop: bool = True


class ServiceStartFailed(Exception):
    """Raised by an `on_service_start` hook: the service does not start; `message` is the service's own error."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class ServiceError(Exception):
    """A service operation failed; `message` is what the cmdlet reports, `fqid` its FullyQualifiedErrorId."""

    def __init__(self, message: str, fqid: str, category: str = "OpenError",
                 exception_type: str = "Microsoft.PowerShell.Commands.ServiceCommandException") -> None:
        super().__init__(message)
        self.message, self.fqid, self.category, self.exception_type = message, fqid, category, exception_type


@dataclass
class NetAdapter:
    """A network adapter (Get-NetAdapter)."""

    name: str
    interface_description: str
    if_index: int
    mac_address: str
    status: str = "Up"
    link_speed: str = "10 Gbps"
    virtual: bool = False


@dataclass
class IPAddressEntry:
    """One address (Get-NetIPAddress)."""

    ip_address: str
    prefix_length: int
    interface_alias: str
    if_index: int
    address_family: str = "IPv4"
    prefix_origin: str = "Manual"             # Manual | Dhcp | WellKnown
    address_state: str = "Preferred"


@dataclass
class HnsNetwork:
    """An HNS network (Get-HnsNetwork)."""

    name: str
    type: str                                 # Overlay | L2Bridge | NAT | ICS | Transparent
    id: str = field(default_factory=lambda: str(uuid.uuid4()).upper())
    subnets: list[dict[str, Any]] = field(default_factory=list)   # [{AddressPrefix, GatewayAddress, ...}]
    network_adapter_name: str = ""
    management_ip: str = ""
    persistent: bool = False                  # survives a reboot (only the built-in NAT network does)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class HnsEndpoint:
    """An HNS endpoint (Get-HnsEndpoint)."""

    name: str
    network_id: str
    ip_address: str = ""
    id: str = field(default_factory=lambda: str(uuid.uuid4()).upper())
    mac_address: str = ""
    is_remote: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class HnsState:
    """The host's HNS networks and endpoints. Every change calls `changed(description)`."""

    def __init__(self, changed: Callable[[str], None]) -> None:
        self.networks: list[HnsNetwork] = []
        self.endpoints: list[HnsEndpoint] = []
        self._changed = changed

    def network(self, name: str) -> HnsNetwork | None:
        """The network called `name` (case-insensitive), or None."""
        return next((n for n in self.networks if n.name.lower() == name.lower()), None)

    def endpoint(self, name: str) -> HnsEndpoint | None:
        """The endpoint called `name` (case-insensitive), or None."""
        return next((e for e in self.endpoints if e.name.lower() == name.lower()), None)

    def create_network(self, name: str, type: str, *, subnets: list[dict[str, Any]] | None = None,
                       adapter: str = "", management_ip: str = "", persistent: bool = False,
                       **extra: Any) -> HnsNetwork:
        """Create a network (HNS allows duplicate names; callers check first if they must not)."""
        net = HnsNetwork(name, type, subnets=list(subnets or []), network_adapter_name=adapter,
                         management_ip=management_ip, persistent=persistent, extra=dict(extra))
        self.networks.append(net)
        self._changed(f"hns create network {name} ({type})")
        return net

    def delete_network(self, name_or_id: str) -> bool:
        """Delete a network and its endpoints. Returns True if it existed."""
        net = next((n for n in self.networks if name_or_id.lower() in (n.name.lower(), n.id.lower())), None)
        if net is None:
            return False
        self.networks.remove(net)
        self.endpoints = [e for e in self.endpoints if e.network_id != net.id]
        self._changed(f"hns delete network {net.name}")
        return True

    def create_endpoint(self, name: str, network: str, ip_address: str = "", **extra: Any) -> HnsEndpoint:
        """Create an endpoint on the network named (or with id) `network`. Raises KeyError when it is absent."""
        net = next((n for n in self.networks if network.lower() in (n.name.lower(), n.id.lower())), None)
        if net is None:
            raise KeyError(network)
        ep = HnsEndpoint(name, net.id, ip_address, extra=dict(extra))
        self.endpoints.append(ep)
        self._changed(f"hns create endpoint {name}")
        return ep

    def delete_endpoint(self, name_or_id: str) -> bool:
        """Delete an endpoint. Returns True if it existed."""
        ep = next((e for e in self.endpoints if name_or_id.lower() in (e.name.lower(), e.id.lower())), None)
        if ep is None:
            return False
        self.endpoints.remove(ep)
        self._changed(f"hns delete endpoint {ep.name}")
        return True


@dataclass
class FirewallRule:
    """A Windows Defender Firewall rule (Get-NetFirewallRule + its port filter)."""

    name: str
    display_name: str = ""
    direction: str = "Inbound"
    action: str = "Allow"
    protocol: str = "TCP"
    local_port: str = "Any"
    enabled: bool = True
    profile: str = "Any"
    group: str = ""


@dataclass
class ContainerRuntime:
    """The host's container runtime: `kind` is "containerd" or "docker" ("" when none), run by service
    `service_name`."""

    kind: str
    version: str
    service_name: str
    images: list[str] = field(default_factory=list)


@dataclass
class Volume:
    """A fixed volume. Free space = size − base_used − the logical size of the files the lab put there."""

    drive_letter: str
    size_bytes: int
    base_used_bytes: int
    label: str = ""
    file_system: str = "NTFS"


# ---------------------------------------------------------------------------------------------------------------
# The host
# ---------------------------------------------------------------------------------------------------------------
class WindowsHost:
    """One emulated Windows Server host. Build with `WindowsHost.create(...)`."""

    def __init__(self, *, computer_name: str, os_info: OSInfo, hotfixes: list[HotFix], clock: LabClock,
                 faults: HostFaults | None = None) -> None:
        self.computer_name = computer_name
        self.domain = "WORKGROUP"
        self.os = os_info
        self.hotfixes = hotfixes
        self.clock = clock
        self.faults = faults or HostFaults()
        self.fs = WindowsFileSystem()
        self.registry = WindowsRegistry()
        self.features: dict[str, Feature] = {}
        self.services: dict[str, Service] = {}
        self.on_service_start: _CIDict = _CIDict()
        self.on_service_stop: _CIDict = _CIDict()
        self.adapters: list[NetAdapter] = []
        self.ip_addresses: list[IPAddressEntry] = []
        self.hns = HnsState(self._mutated)
        self.firewall_rules: list[FirewallRule] = []
        self.runtime = ContainerRuntime("", "", "")
        self.volumes: dict[str, Volume] = {}
        self.reachable: set[tuple[str, int]] = set()    # (host, port) a TCP connect from this host succeeds to
        self.env: dict[str, str] = {}
        self.users: dict[str, str] = {}
        self.last_boot_time = _now() - timedelta(days=2, hours=3, minutes=17)
        self.booting: asyncio.Event = asyncio.Event()
        self.booting.set()                              # set = up; cleared while rebooting
        self.boot_seconds = 60.0                        # emulated duration of a restart
        self.on_mutation: list[Callable[[str], None]] = []
        self.on_boot: list[Callable[["WindowsHost"], Awaitable[None]]] = []
        self.connection_droppers: list[Callable[[], int]] = []
        self._tasks: set[asyncio.Task] = set()
        self.fs.on_change.append(self._mutated)
        self.fs.space_check = self._check_space
        self.registry.on_change.append(self._mutated)

    # ---- construction --------------------------------------------------------------------------------------
    @classmethod
    def create(cls, *, name: str, build: int = 17763, runtime: str = "containerd", clock: LabClock | None = None,
               ip: str = "172.16.3.172", faults: HostFaults | None = None) -> "WindowsHost":
        """A host in the runbook's starting state, with `faults` applied to that state (missing_hotfix,
        no_container_runtime, reboot_required, disk_full)."""
        faults = faults or HostFaults()
        info, fixes = os_profile(build, missing_hotfix=faults.missing_hotfix)
        host = cls(computer_name=name, os_info=info, hotfixes=fixes, clock=clock or LabClock(), faults=faults)
        from . import host_defaults

        host_defaults.populate(host, ip=ip, runtime=runtime)
        return host

    # ---- identity --------------------------------------------------------------------------------------------
    @property
    def node_name(self) -> str:
        """The Kubernetes node name: the lowercased hostname."""
        return self.computer_name.lower()

    @property
    def netbios_name(self) -> str:
        """`$env:COMPUTERNAME` / Win32_ComputerSystem.Name: upper case."""
        return self.computer_name.upper()

    def primary_ipv4(self) -> str:
        """The first non-loopback, non-link-local IPv4 address."""
        return next(iter(self.ipv4_addresses()), "")

    def ipv4_addresses(self) -> list[str]:
        """Non-loopback, non-169.254 IPv4 addresses, in adapter order."""
        out = []
        for a in self.ip_addresses:
            if a.address_family != "IPv4":
                continue
            ip = ipaddress.ip_address(a.ip_address)
            if ip.is_loopback or ip.is_link_local:
                continue
            out.append(a.ip_address)
        return out

    # ---- mutation bookkeeping ---------------------------------------------------------------------------------
    def _mutated(self, what: str) -> None:
        for hook in list(self.on_mutation):
            hook(what)

    def note_change(self, what: str) -> None:
        """Tell the records that a model object was changed in place (e.g. a field of a Service)."""
        self._mutated(what)

    # ---- time, faults, background work -------------------------------------------------------------------------
    async def delay(self, operation: str, real_seconds: float) -> None:
        """Wait as long as `operation` takes (scaled by the lab clock and the `slow` fault for that operation)."""
        await self.clock.sleep(real_seconds * self.faults.slow_factor(operation))

    def drop_connections(self) -> int:
        """Drop every open WinRM connection now (network disruption on the host). Returns how many dropped."""
        return sum(int(d() or 0) for d in list(self.connection_droppers))

    def drop_point(self, step: str) -> int:
        """A named step that may drop connections under the `drop_during` fault (each named step fires once)."""
        return self.drop_connections() if self.faults.take_drop(step) else 0

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task:
        """Run background work owned by the host (cancelled by `close()`)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        """Cancel the host's background work."""
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except BaseException:  # noqa: BLE001 - cancelled or failed background work is done either way
                pass

    # ---- boot and reboot ---------------------------------------------------------------------------------------
    def boot_time_text(self) -> str:
        """The boot time as PowerShell prints a DateTime in en-US (`6/10/2021 9:36:12 AM`), which is what
        Calico stores in `HKLM:\\Software\\Tigera\\Calico` LastBootTime."""
        return format_datetime_text(self.last_boot_time)

    def boot_time_iso(self) -> str:
        """The boot time as `.ToString('o')` prints it (`2021-06-10T09:36:12.5000000+00:00`)."""
        return format_datetime_iso(self.last_boot_time)

    def pending_reboot(self) -> bool:
        """True if any pending-reboot marker is set (CBS RebootPending, WU RebootRequired,
        PendingFileRenameOperations)."""
        return (self.registry.key_exists(CBS_REBOOT_PENDING) or self.registry.key_exists(WU_REBOOT_REQUIRED)
                or bool(self.registry.try_get_value(SESSION_MANAGER, "PendingFileRenameOperations")))

    def request_reboot(self) -> None:
        """Leave a pending reboot (what a feature install needing a restart does)."""
        self.registry.create_key(CBS_REBOOT_PENDING)

    async def reboot(self) -> None:
        """Restart the host: connections drop, services stop, after the boot time pending features become
        Installed, pending markers clear, non-persistent HNS networks are gone, the boot time is new, the
        `on_boot` hooks run and Automatic services start (with their hooks); then commands are accepted again."""
        self.booting.clear()
        try:
            self.drop_connections()
            for svc in list(self.services.values()):
                if svc.status != "Stopped":
                    hook = self.on_service_stop.get(svc.name)
                    if hook is not None:
                        try:
                            await hook(self, svc)
                        except Exception:  # noqa: BLE001 - a service failing to stop cleanly still stops
                            pass
                    svc.status = "Stopped"
            await self.delay("boot", self.boot_seconds)
            for f in self.features.values():
                if f.install_state == "InstallPending":
                    f.install_state = "Installed"
            self.registry.delete_key(CBS_REBOOT_PENDING)
            self.registry.delete_key(WU_REBOOT_REQUIRED)
            if self.registry.key_exists(SESSION_MANAGER):
                self.registry.delete_value(SESSION_MANAGER, "PendingFileRenameOperations")
            for net in list(self.hns.networks):
                if not net.persistent:
                    self.hns.delete_network(net.id)
            self.last_boot_time = _now()
            self._mutated("reboot")
            for hook in list(self.on_boot):
                await hook(self)
            for svc in list(self.services.values()):
                if svc.start_type == "Automatic" and svc.status == "Stopped":
                    try:
                        await self.start_service(svc.name)
                    except ServiceError:
                        pass
        finally:
            self.booting.set()

    async def wait_booted(self) -> None:
        """Return once the host is up (immediately unless it is rebooting)."""
        await self.booting.wait()

    # ---- features --------------------------------------------------------------------------------------------
    def feature(self, name: str) -> Feature | None:
        """A feature by its ServerManager or DISM name (case-insensitive)."""
        n = name.lower()
        return next((f for f in self.features.values()
                     if f.name.lower() == n or (f.optional_name or "").lower() == n), None)

    def install_feature(self, name: str) -> tuple[bool, bool]:
        """Install a feature: returns (changed, restart_needed). Raises KeyError for an unknown feature."""
        f = self.feature(name)
        if f is None:
            raise KeyError(name)
        if f.install_state in ("Installed", "InstallPending"):
            return False, f.install_state == "InstallPending"
        if f.restart_on_install:
            f.install_state = "InstallPending"
            self.request_reboot()
        else:
            f.install_state = "Installed"
        self._mutated(f"install feature {f.name}")
        return True, f.restart_on_install

    # ---- services --------------------------------------------------------------------------------------------
    def service(self, name: str) -> Service | None:
        """A service by name or display name (case-insensitive), or None."""
        s = self.services.get(name.lower())
        if s is not None:
            return s
        return next((s for s in self.services.values() if s.display_name.lower() == name.lower()), None)

    def add_service(self, svc: Service) -> None:
        """Register a new service (New-Service). Raises ServiceError if one with that name exists."""
        if svc.name.lower() in self.services:
            raise ServiceError(f"Service '{svc.name}' cannot be created because a service with that name "
                               f"already exists.", "CouldNotNewService,Microsoft.PowerShell.Commands.NewServiceCommand",
                               "PermissionDenied")
        self.services[svc.name.lower()] = svc
        self._mutated(f"new service {svc.name}")

    def remove_service(self, name: str) -> bool:
        """Delete a service (sc.exe delete / nssm remove). Returns True if it existed."""
        svc = self.services.pop(name.lower(), None)
        if svc is None:
            return False
        self._mutated(f"remove service {svc.name}")
        return True

    def set_service_status(self, name: str, status: str) -> None:
        """Set a service's status directly (its process exited, or finished starting)."""
        svc = self._require_service(name)
        if svc.status != status:
            svc.status = status
            self._mutated(f"service {svc.name} {status}")

    def set_start_type(self, name: str, start_type: str) -> bool:
        """Change a service's StartupType. Returns True if it changed."""
        svc = self._require_service(name)
        if svc.start_type == start_type:
            return False
        svc.start_type = start_type
        self._mutated(f"service {svc.name} start type {start_type}")
        return True

    def dependents(self, name: str) -> list[Service]:
        """Services that depend on `name`."""
        return [s for s in self.services.values() if name.lower() in (d.lower() for d in s.depends_on)]

    async def start_service(self, name: str) -> bool:
        """Start a service and, first, the services it depends on. Returns True if it was not running.
        Raises ServiceError (disabled, or its start hook failed — the service stays Stopped)."""
        svc = self._require_service(name)
        if svc.status == "Running":
            return False
        if svc.start_type == "Disabled":
            raise ServiceError(
                f"Service '{svc.display_name} ({svc.name})' cannot be started due to the following error: Cannot "
                f"start service {svc.name} on computer '.'.",
                "CouldNotStartService,Microsoft.PowerShell.Commands.StartServiceCommand")
        for dep in svc.depends_on:
            if self.service(dep) is not None:
                await self.start_service(dep)
        svc.status = "StartPending"
        hook = self.on_service_start.get(svc.name)
        try:
            if hook is not None:
                await hook(self, svc)
        except ServiceStartFailed:
            svc.status = "Stopped"
            self._mutated(f"service {svc.name} failed to start")
            raise ServiceError(
                f"Service '{svc.display_name} ({svc.name})' cannot be started due to the following error: Cannot "
                f"start service {svc.name} on computer '.'.",
                "CouldNotStartService,Microsoft.PowerShell.Commands.StartServiceCommand") from None
        except BaseException:
            svc.status = "Stopped"
            raise
        if svc.status == "StartPending":
            svc.status = "Running"
        self._mutated(f"start service {svc.name}")
        return True

    async def stop_service(self, name: str, *, force: bool = False) -> bool:
        """Stop a service (with `force`, its running dependents first). Returns True if it was running.
        Raises ServiceError if running dependents exist and `force` is False."""
        svc = self._require_service(name)
        if svc.status == "Stopped":
            return False
        running_deps = [d for d in self.dependents(svc.name) if d.status != "Stopped"]
        if running_deps and not force:
            raise ServiceError(
                f"Cannot stop service '{svc.display_name} ({svc.name})' because it has dependent services. It can "
                f"only be stopped if the Force flag is set.",
                "ServiceHasDependentServices,Microsoft.PowerShell.Commands.StopServiceCommand", "InvalidOperation")
        for d in running_deps:
            await self.stop_service(d.name, force=True)
        if not svc.can_stop:
            raise ServiceError(
                f"Service '{svc.display_name} ({svc.name})' cannot be stopped due to the following error: Cannot "
                f"stop {svc.name} service on computer '.'.",
                "CouldNotStopService,Microsoft.PowerShell.Commands.StopServiceCommand", "CloseError")
        svc.status = "StopPending"
        hook = self.on_service_stop.get(svc.name)
        try:
            if hook is not None:
                await hook(self, svc)
        finally:
            svc.status = "Stopped"
        self._mutated(f"stop service {svc.name}")
        return True

    def _require_service(self, name: str) -> Service:
        svc = self.service(name)
        if svc is None:
            raise ServiceError(f"Cannot find any service with service name '{name}'.",
                               "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand",
                               "ObjectNotFound")
        return svc

    # ---- container runtime -----------------------------------------------------------------------------------
    def runtime_running(self) -> bool:
        """True if the container runtime's service is Running."""
        svc = self.service(self.runtime.service_name) if self.runtime.service_name else None
        return svc is not None and svc.status == "Running"

    # ---- network ---------------------------------------------------------------------------------------------
    def tcp_reachable(self, host: str, port: int) -> bool:
        """Whether a TCP connection from this host to host:port succeeds."""
        return (host.lower().strip("[]"), int(port)) in self.reachable

    def allow_tcp(self, host: str, port: int) -> None:
        """Make host:port reachable from this host (the lab's API server endpoint, for one)."""
        self.reachable.add((host.lower().strip("[]"), int(port)))

    def add_firewall_rule(self, rule: FirewallRule) -> None:
        """Add a firewall rule (duplicate names are allowed, as on Windows)."""
        self.firewall_rules.append(rule)
        self._mutated(f"firewall rule {rule.name}")

    def firewall_rule(self, name: str) -> FirewallRule | None:
        """The first rule whose Name or DisplayName is `name`."""
        n = name.lower()
        return next((r for r in self.firewall_rules if n in (r.name.lower(), r.display_name.lower())), None)

    def add_ip_address(self, entry: IPAddressEntry) -> None:
        """Assign an address (e.g. to a vEthernet adapter after an HNS network is created)."""
        self.ip_addresses.append(entry)
        self._mutated(f"ip {entry.ip_address} on {entry.interface_alias}")

    def add_adapter(self, adapter: NetAdapter) -> None:
        """Add a network adapter (e.g. `vEthernet (Ethernet)` created by an HNS network)."""
        self.adapters.append(adapter)
        self._mutated(f"adapter {adapter.name}")

    # ---- disk ------------------------------------------------------------------------------------------------
    def free_bytes(self, drive: str = "C") -> int:
        """Free space on a volume."""
        v = self.volumes.get(drive[0].upper())
        if v is None:
            return 0
        return max(v.size_bytes - v.base_used_bytes - self.fs.used_bytes(v.drive_letter), 0)

    def set_free_bytes(self, drive: str, free: int) -> None:
        """Make `drive` have `free` bytes free now (the disk_full fault)."""
        v = self.volumes[drive[0].upper()]
        v.base_used_bytes = max(v.size_bytes - free - self.fs.used_bytes(v.drive_letter), 0)

    def _check_space(self, drive: str, extra: int) -> None:
        if extra > self.free_bytes(drive):
            raise DiskFull("There is not enough space on the disk.", f"{drive}:")

    def apply_disk_full(self) -> None:
        """Leave ~0.5 GB free on C: (the disk_full fault)."""
        self.set_free_bytes("C", DISK_FULL_FREE_BYTES)


class _CIDict(dict):
    """A dict with case-insensitive string keys (for service hook tables)."""

    def __setitem__(self, k: str, v: Any) -> None:
        super().__setitem__(k.lower(), v)

    def __getitem__(self, k: str) -> Any:
        return super().__getitem__(k.lower())

    def get(self, k: str, default: Any = None) -> Any:
        return super().get(k.lower(), default)

    def __contains__(self, k: object) -> bool:
        return isinstance(k, str) and super().__contains__(k.lower())

    def pop(self, k: str, *default: Any) -> Any:
        return super().pop(k.lower(), *default)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=500000)


def format_datetime_text(dt: datetime) -> str:
    """en-US `DateTime.ToString()`: `6/10/2021 9:36:12 AM`."""
    hour = dt.hour % 12 or 12
    return f"{dt.month}/{dt.day}/{dt.year} {hour}:{dt.minute:02d}:{dt.second:02d} {'AM' if dt.hour < 12 else 'PM'}"


def format_datetime_iso(dt: datetime) -> str:
    """`DateTime.ToString('o')`: `2021-06-10T09:36:12.5000000+00:00`."""
    off = dt.utcoffset() or timedelta(0)
    sign = "+" if off >= timedelta(0) else "-"
    mins = abs(int(off.total_seconds())) // 60
    return (dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{dt.microsecond * 10:07d}" + f"{sign}{mins // 60:02d}:{mins % 60:02d}")
