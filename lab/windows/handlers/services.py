"""Services: Get-Service, Start-Service, Stop-Service, Restart-Service, Set-Service, New-Service (Windows
PowerShell 5.1 semantics; Remove-Service does not exist there). Start/stop run the host's service hooks."""

from __future__ import annotations

from typing import Any

from lab.windows.dispatch import PSObj
from lab.windows.host import Service, ServiceError

from .core import Invocation, register
from .objects import has_wildcard, match_any, service_start_mode, service_status

_SERVICE_TYPES = ["System.ServiceProcess.ServiceController", "System.ComponentModel.Component",
                  "System.MarshalByRefObject", "System.Object"]
_START_MODES = {"automatic": "Automatic", "manual": "Manual", "disabled": "Disabled", "boot": "Boot",
                "system": "System"}


def service_obj(inv: Invocation, s: Service) -> PSObj:
    """A ServiceController as Get-Service returns it."""
    h = inv.host
    return PSObj(list(_SERVICE_TYPES), {
        "Name": s.name, "ServiceName": s.name, "DisplayName": s.display_name, "Status": service_status(s.status),
        "StartType": service_start_mode(s.start_type), "CanStop": s.status == "Running" and s.can_stop,
        "CanPauseAndContinue": False, "CanShutdown": False, "MachineName": ".",
        "ServiceType": "Win32OwnProcess", "ServiceHandle": None, "Site": None, "Container": None,
        "DependentServices": [d.name for d in h.dependents(s.name)],
        "ServicesDependedOn": list(s.depends_on), "RequiredServices": list(s.depends_on),
    }, "System.ServiceProcess.ServiceController")


def _not_found(inv: Invocation, name: str, by: str = "service name") -> None:
    inv.error(f"Cannot find any service with {by} '{name}'.", "NoServiceFoundForGivenName", "ObjectNotFound",
              exception_type="Microsoft.PowerShell.Commands.ServiceCommandException", target=name)


def select_services(inv: Invocation) -> list[Service]:
    """The services named by -Name / -DisplayName / -InputObject (pipeline input), writing PowerShell's
    not-found errors for names without wildcards that match nothing."""
    h = inv.host
    out: list[Service] = []
    names = inv.str_list("Name")
    displays = inv.str_list("DisplayName")
    objs = inv.get("InputObject")
    inputs: list[Any] = list(objs if isinstance(objs, list) else [objs] if objs is not None else [])
    if not names and not displays and not inputs and inv.input:
        inputs = list(inv.input)
    for item in inputs:
        name = item.properties.get("Name") if isinstance(item, PSObj) else str(item)
        s = h.service(str(name))
        if s is None:
            _not_found(inv, str(name))
        else:
            out.append(s)
    for n in names:
        matches = [s for s in h.services.values() if match_any(s.name, [n])]
        if not matches and not has_wildcard(n):
            _not_found(inv, n)
        out += matches
    for d in displays:
        matches = [s for s in h.services.values() if match_any(s.display_name, [d])]
        if not matches and not has_wildcard(d):
            _not_found(inv, d, "display name")
        out += matches
    include, exclude = inv.str_list("Include"), inv.str_list("Exclude")
    if include:
        out = [s for s in out if match_any(s.name, include)]
    if exclude:
        out = [s for s in out if not match_any(s.name, exclude)]
    seen: set[str] = set()
    uniq = []
    for s in out:
        if s.name.lower() not in seen:
            seen.add(s.name.lower())
            uniq.append(s)
    return uniq


@register("Get-Service", parameters=("Name", "DisplayName", "Include", "Exclude", "InputObject", "DependentServices",
                                     "RequiredServices", "ComputerName"),
          positional=("Name",), aliases={"ServiceName": "Name", "DS": "DependentServices",
                                         "SDO": "RequiredServices", "ServicesDependedOn": "RequiredServices",
                                         "Cn": "ComputerName"},
          command_aliases=("gsv",))
def get_service(inv: Invocation) -> None:
    """Get-Service [-Name <wildcards>]: sorted by name; an unknown exact name writes a non-terminating
    NoServiceFoundForGivenName error."""
    if not inv.has("Name") and not inv.has("DisplayName") and not inv.has("InputObject") and not inv.input:
        found = list(inv.host.services.values())
    else:
        found = select_services(inv)
    if inv.switch("DependentServices"):
        found = [d for s in found for d in inv.host.dependents(s.name)]
    elif inv.switch("RequiredServices"):
        found = [r for s in found for r in (inv.host.service(n) for n in s.depends_on) if r is not None]
    for s in sorted(found, key=lambda s: s.name.lower()):
        inv.output(service_obj(inv, s))


_CONTROL = ("Name", "DisplayName", "InputObject", "PassThru", "Include", "Exclude")


async def _start(inv: Invocation, s: Service) -> None:
    if inv.what_if:
        inv.information(f'What if: Performing the operation "Start-Service" on target "{s.display_name} ({s.name})".')
        return
    try:
        await inv.host.start_service(s.name)
    except ServiceError as exc:
        inv.error(exc.message, "CouldNotStartService", "OpenError",
                  exception_type="Microsoft.PowerShell.Commands.ServiceCommandException", target=s.name)


async def _stop(inv: Invocation, s: Service, force: bool) -> None:
    if inv.what_if:
        inv.information(f'What if: Performing the operation "Stop-Service" on target "{s.display_name} ({s.name})".')
        return
    try:
        await inv.host.stop_service(s.name, force=force)
    except ServiceError as exc:
        error_id = exc.fqid.split(",", 1)[0]
        inv.error(exc.message, error_id, exc.category,
                  exception_type="Microsoft.PowerShell.Commands.ServiceCommandException", target=s.name)


@register("Start-Service", parameters=_CONTROL, positional=("Name",),
          aliases={"ServiceName": "Name"}, should_process=True, command_aliases=("sasv",))
async def start_service(inv: Invocation) -> None:
    """Start-Service: starts dependencies first; a failing start writes CouldNotStartService."""
    for s in select_services(inv):
        await _start(inv, s)
        if inv.switch("PassThru"):
            inv.output(service_obj(inv, s))


@register("Stop-Service", parameters=_CONTROL + ("Force", "NoWait"), positional=("Name",),
          aliases={"ServiceName": "Name"}, should_process=True, command_aliases=("spsv",))
async def stop_service(inv: Invocation) -> None:
    """Stop-Service [-Force]: running dependents need -Force (ServiceHasDependentServices otherwise)."""
    for s in select_services(inv):
        await _stop(inv, s, inv.switch("Force"))
        if inv.switch("PassThru"):
            inv.output(service_obj(inv, s))


@register("Restart-Service", parameters=_CONTROL + ("Force",), positional=("Name",),
          aliases={"ServiceName": "Name"}, should_process=True)
async def restart_service(inv: Invocation) -> None:
    """Restart-Service: stop (if running) then start."""
    for s in select_services(inv):
        if s.status != "Stopped":
            await _stop(inv, s, inv.switch("Force"))
        await _start(inv, s)
        if inv.switch("PassThru"):
            inv.output(service_obj(inv, s))


def _start_mode(inv: Invocation, value: Any, param: str) -> str:
    mode = _START_MODES.get(str(value).lower())
    if mode is None:
        inv.fail(f"Cannot bind parameter '{param}'. Cannot convert value \"{value}\" to type "
                 f"\"System.ServiceProcess.ServiceStartMode\". Error: \"Unable to match the identifier name {value} "
                 f"to a valid enumerator name. Specify one of the following enumerator names and try again:\r\n"
                 f"Boot, System, Automatic, Manual, Disabled\"", "CannotConvertArgumentNoMessage", "InvalidArgument",
                 exception_type="System.Management.Automation.ParameterBindingException")
    return mode  # type: ignore[return-value]


@register("Set-Service", parameters=("Name", "DisplayName", "Description", "StartupType", "Status", "InputObject",
                                     "PassThru", "ComputerName"),
          positional=("Name",), aliases={"ServiceName": "Name", "SrvName": "Name", "StartMode": "StartupType",
                                         "SM": "StartupType", "ST": "StartupType", "cn": "ComputerName"},
          should_process=True)
async def set_service(inv: Invocation) -> None:
    """Set-Service: StartupType, DisplayName, Description, Status (Running/Stopped)."""
    h = inv.host
    mode = _start_mode(inv, inv.get("StartupType"), "StartupType") if inv.has("StartupType") else None
    for s in select_services(inv):
        if inv.what_if:
            continue
        if mode is not None:
            h.set_start_type(s.name, mode)
        if inv.has("DisplayName") and inv.has("Name") and s.display_name != inv.get("DisplayName"):
            s.display_name = str(inv.get("DisplayName"))
            h.note_change(f"service {s.name} display name")
        if inv.has("Description") and s.description != inv.get("Description"):
            s.description = str(inv.get("Description"))
            h.note_change(f"service {s.name} description")
        status = str(inv.get("Status") or "").lower()
        if status == "running":
            await _start(inv, s)
        elif status == "stopped":
            await _stop(inv, s, False)
        if inv.switch("PassThru"):
            inv.output(service_obj(inv, s))


@register("New-Service", parameters=("Name", "BinaryPathName", "DisplayName", "Description", "StartupType",
                                     "Credential", "DependsOn"),
          positional=("Name", "BinaryPathName"), aliases={"ServiceName": "Name", "Path": "BinaryPathName"},
          mandatory=("Name", "BinaryPathName"), should_process=True)
def new_service(inv: Invocation) -> None:
    """New-Service: the service is created Stopped; a duplicate name fails with CouldNotNewService."""
    h = inv.host
    name = str(inv.get("Name"))
    mode = _start_mode(inv, inv.get("StartupType", "Automatic"), "StartupType")
    if inv.what_if:
        return
    svc = Service(name, str(inv.get("DisplayName") or name), "Stopped", mode, inv.str_list("DependsOn"),
                  binary_path=str(inv.get("BinaryPathName")), description=str(inv.get("Description") or ""))
    try:
        h.add_service(svc)
    except ServiceError:
        inv.error(f"Service '{name}' cannot be created due to the following error: The specified service already "
                  f"exists", "CouldNotNewService", "PermissionDenied",
                  exception_type="Microsoft.PowerShell.Commands.ServiceCommandException", target=name)
        return
    inv.output(service_obj(inv, svc))
