"""System identity and lifecycle: Get-CimInstance / Get-WmiObject (Win32_OperatingSystem, Win32_ComputerSystem,
Win32_QuickFixEngineering, Win32_LogicalDisk, Win32_Service), hostname, Get-ComputerInfo, Get-HotFix,
Restart-Computer (→ the host's reboot), Get-Date."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from lab.windows.dispatch import PSObj
from lab.windows.host import GB, WindowsHost, format_datetime_iso, format_datetime_text

from .core import Invocation, register
from .objects import cim, match_any, wmi

_CIM_CLASSES: dict[str, tuple[str, tuple[str, ...]]] = {
    "win32_operatingsystem": ("Win32_OperatingSystem", ("CIM_OperatingSystem", "CIM_LogicalElement",
                                                        "CIM_ManagedSystemElement")),
    "win32_computersystem": ("Win32_ComputerSystem", ("CIM_UnitaryComputerSystem", "CIM_ComputerSystem",
                                                      "CIM_System", "CIM_LogicalElement",
                                                      "CIM_ManagedSystemElement")),
    "win32_quickfixengineering": ("Win32_QuickFixEngineering", ("CIM_LogicalElement", "CIM_ManagedSystemElement")),
    "win32_logicaldisk": ("Win32_LogicalDisk", ("CIM_LogicalDisk", "CIM_StorageExtent", "CIM_LogicalDevice",
                                                "CIM_LogicalElement", "CIM_ManagedSystemElement")),
    "win32_service": ("Win32_Service", ("Win32_BaseService", "CIM_Service", "CIM_LogicalElement",
                                        "CIM_ManagedSystemElement")),
}


def _os_props(h: WindowsHost) -> dict[str, Any]:
    o = h.os
    return {
        "Caption": o.caption, "Version": o.version, "BuildNumber": str(o.build_number), "OSArchitecture": "64-bit",
        "CSName": h.netbios_name, "LastBootUpTime": h.last_boot_time, "InstallDate": o.install_date,
        "LocalDateTime": datetime.now(timezone.utc), "SystemDrive": "C:", "WindowsDirectory": "C:\\Windows",
        "SystemDirectory": "C:\\Windows\\system32", "ProductType": 3, "OperatingSystemSKU": 80,
        "Manufacturer": "Microsoft Corporation", "Organization": "", "RegisteredUser": "Windows User",
        "SerialNumber": "00430-00000-00000-AA217", "Status": "OK", "Name": f"{o.caption}|C:\\Windows|\\Device\\Harddisk0\\Partition2",
        "TotalVisibleMemorySize": 8388152, "FreePhysicalMemory": 5123456, "MUILanguages": ["en-US"],
        "ServicePackMajorVersion": 0, "ServicePackMinorVersion": 0,
    }


def _cs_props(h: WindowsHost) -> dict[str, Any]:
    return {
        "Name": h.netbios_name, "DNSHostName": h.computer_name, "Domain": h.domain, "Workgroup": h.domain,
        "PartOfDomain": False, "Manufacturer": "Microsoft Corporation", "Model": "Virtual Machine",
        "SystemType": "x64-based PC", "TotalPhysicalMemory": 8589467648, "NumberOfProcessors": 1,
        "NumberOfLogicalProcessors": 2, "PrimaryOwnerName": "Windows User", "Status": "OK",
        "UserName": None, "HypervisorPresent": True,
    }


def _qfe_rows(h: WindowsHost) -> list[dict[str, Any]]:
    return [{"HotFixID": f.hotfix_id, "Description": f.description, "InstalledBy": f.installed_by,
             "InstalledOn": f"{f.installed_on.month}/{f.installed_on.day}/{f.installed_on.year}",
             "CSName": h.netbios_name, "Caption": f"http://support.microsoft.com/?kbid={f.hotfix_id[2:]}"}
            for f in h.hotfixes]


def _disk_rows(h: WindowsHost) -> list[dict[str, Any]]:
    return [{"DeviceID": f"{v.drive_letter}:", "DriveType": 3, "FileSystem": v.file_system,
             "FreeSpace": h.free_bytes(v.drive_letter), "Size": v.size_bytes, "VolumeName": v.label,
             "ProviderName": None} for v in h.volumes.values()]


def _service_rows(h: WindowsHost) -> list[dict[str, Any]]:
    return [{"Name": s.name, "DisplayName": s.display_name, "State": s.status,
             "StartMode": "Auto" if s.start_type == "Automatic" else s.start_type, "PathName": s.binary_path,
             "StartName": s.account, "Started": s.status == "Running", "Description": s.description}
            for s in h.services.values()]


_ROWS: dict[str, Callable[[WindowsHost], list[dict[str, Any]]]] = {
    "win32_operatingsystem": lambda h: [_os_props(h)],
    "win32_computersystem": lambda h: [_cs_props(h)],
    "win32_quickfixengineering": _qfe_rows,
    "win32_logicaldisk": _disk_rows,
    "win32_service": _service_rows,
}

SHUTDOWN_DELAY_S = 5.0     # Restart-Computer returns; Windows begins shutting down a few seconds later

_FILTER_RE = re.compile(r"""^\s*(\w+)\s*(=|like)\s*['"]([^'"]*)['"]\s*$""", re.IGNORECASE)


def _apply_filter(inv: Invocation, rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """WQL `-Filter "Name='x' OR Name='y'"`: comparisons (= or LIKE with %) joined by OR / AND (AND binds
    tighter, no parentheses); None when the filter is not understood (WMI answers "Invalid query")."""
    flt = inv.get("Filter")
    if not flt:
        return rows
    alternatives = []
    for part in re.split(r"\s+OR\s+", str(flt), flags=re.IGNORECASE):
        terms = []
        for term in re.split(r"\s+AND\s+", part, flags=re.IGNORECASE):
            m = _FILTER_RE.match(term)
            if not m:
                return None
            terms.append((m.group(1), m.group(2).lower(), m.group(3)))
        alternatives.append(terms)
    return [r for r in rows if any(all(_matches(r, *t) for t in terms) for terms in alternatives)]


def _matches(row: dict[str, Any], prop: str, op: str, val: str) -> bool:
    actual = next((v for k, v in row.items() if k.lower() == prop.lower()), None)
    if op == "=":
        return str(actual).lower() == val.lower()
    return match_any(str(actual), [val.replace("%", "*").replace("_", "?")])


@register("Get-CimInstance", parameters=("ClassName", "Namespace", "Filter", "Property", "ComputerName",
                                         "CimSession", "Query", "QueryDialect", "KeyOnly", "Shallow",
                                         "OperationTimeoutSec", "InputObject", "ResourceUri"),
          positional=("ClassName",), aliases={"Class": "ClassName", "CN": "ComputerName", "OT": "OperationTimeoutSec",
                                               "Select": "Property"},
          cmdlet_type="Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand",
          command_aliases=("gcim",))
def get_cim_instance(inv: Invocation) -> None:
    """Get-CimInstance for the Win32 classes the host models."""
    cls = str(inv.get("ClassName") or "")
    key = cls.lower()
    if key not in _ROWS:
        inv.fail("Invalid class ", "HRESULT 0x80041010", "MetadataError",
                 exception_type="Microsoft.Management.Infrastructure.CimException", target=cls)
    name, parents = _CIM_CLASSES[key]
    rows = _apply_filter(inv, _ROWS[key](inv.host))
    if rows is None:
        inv.fail("Invalid query ", "HRESULT 0x80041017", "InvalidArgument",
                 exception_type="Microsoft.Management.Infrastructure.CimException")
    for r in rows:
        inv.output(cim(name, r, parents=parents))


@register("Get-WmiObject", parameters=("Class", "Namespace", "Filter", "Property", "ComputerName", "Credential",
                                       "Query", "List", "Recurse", "Amended", "DirectRead", "AsJob",
                                       "Impersonation", "Authentication", "Locale", "EnableAllPrivileges",
                                       "Authority", "ThrottleLimit"),
          positional=("Class", "Property"), aliases={"CN": "ComputerName"},
          command_aliases=("gwmi",))
def get_wmi_object(inv: Invocation) -> None:
    """Get-WmiObject for the Win32 classes the host models (LastBootUpTime as a DMTF string, as WMI gives it)."""
    cls = str(inv.get("Class") or "")
    key = cls.lower()
    if key not in _ROWS:
        inv.fail("Invalid class \"" + cls + "\"", "GetWMIManagementException", "InvalidType",
                 exception_type="System.Management.ManagementException")
    name, _ = _CIM_CLASSES[key]
    rows = _apply_filter(inv, _ROWS[key](inv.host))
    if rows is None:
        inv.fail("Invalid query ", "GetWMIManagementException", "InvalidOperation",
                 exception_type="System.Management.ManagementException")
    for r in rows:
        inv.output(wmi(name, {k: (_dmtf(v) if isinstance(v, datetime) else v) for k, v in r.items()}))


def _dmtf(dt: datetime) -> str:
    off = int((dt.utcoffset() or timedelta(0)).total_seconds() // 60)
    return dt.strftime("%Y%m%d%H%M%S") + f".{dt.microsecond:06d}" + f"{off:+04d}"


@register("hostname", common_parameters=False, cmdlet_type="", command_aliases=("hostname.exe",))
def hostname(inv: Invocation) -> None:
    """hostname.exe: the computer name as configured."""
    inv.output(inv.host.computer_name)


@register("Get-ComputerInfo", parameters=("Property",), positional=("Property",))
def get_computer_info(inv: Invocation) -> None:
    """Get-ComputerInfo with the commonly used properties (filtered by -Property wildcards)."""
    h, o = inv.host, inv.host.os
    props: dict[str, Any] = {
        "WindowsBuildLabEx": f"{o.build_number}.1.amd64fre.rs5_release.180914-1434",
        "WindowsCurrentVersion": "6.3", "WindowsEditionId": o.edition_id, "WindowsInstallationType": "Server",
        "WindowsProductName": o.product_name, "WindowsVersion": o.release_id,
        "OsName": o.caption, "OsType": "WINNT", "OsVersion": o.version, "OsBuildNumber": str(o.build_number),
        "OsHotFixes": [{"HotFixID": f.hotfix_id, "Description": f.description,
                        "InstalledOn": f"{f.installed_on.month}/{f.installed_on.day}/{f.installed_on.year}"}
                       for f in h.hotfixes],
        "OsLastBootUpTime": h.last_boot_time, "OsArchitecture": "64-bit", "OsLanguage": "en-US",
        "CsName": h.netbios_name, "CsDNSHostName": h.computer_name, "CsDomain": h.domain,
        "CsPartOfDomain": False, "CsManufacturer": "Microsoft Corporation", "CsModel": "Virtual Machine",
        "CsNumberOfLogicalProcessors": 2, "CsTotalPhysicalMemory": 8589467648,
        "OsServerLevel": "FullServer", "HyperVisorPresent": True, "TimeZone": "(UTC) Coordinated Universal Time",
    }
    wanted = inv.str_list("Property")
    if wanted:
        props = {k: v for k, v in props.items() if match_any(k, wanted)}
    inv.output(PSObj(["Microsoft.PowerShell.Commands.ComputerInfo", "System.Object"], props,
                     "Microsoft.PowerShell.Commands.ComputerInfo"))


@register("Get-HotFix", parameters=("Id", "Description", "ComputerName", "Credential"), positional=("Id",),
          aliases={"HFID": "Id", "CN": "ComputerName", "__Server": "ComputerName"})
def get_hotfix(inv: Invocation) -> None:
    """Get-HotFix: the installed updates (missing_hotfix leaves only old ones)."""
    h = inv.host
    ids = [i.upper() for i in inv.str_list("Id")]
    desc = inv.str_list("Description")
    found = False
    for f in h.hotfixes:
        if ids and f.hotfix_id.upper() not in ids:
            continue
        if desc and not match_any(f.description, desc):
            continue
        found = True
        inv.output(PSObj(
            ["System.Management.ManagementObject#root\\cimv2\\Win32_QuickFixEngineering",
             "System.Management.ManagementObject", "System.Management.ManagementBaseObject",
             "System.ComponentModel.Component", "System.MarshalByRefObject", "System.Object"],
            {"Source": h.netbios_name, "Description": f.description, "HotFixID": f.hotfix_id,
             "InstalledBy": f.installed_by, "InstalledOn": f.installed_on, "CSName": h.netbios_name},
            f"\\\\{h.netbios_name}\\root\\cimv2:Win32_QuickFixEngineering.HotFixID=\"{f.hotfix_id}\""))
    if ids and not found:
        inv.error("Cannot find the requested hotfix on the 'localhost' computer. Verify the input and run the "
                  "command again.", "GetHotFixNoEntriesFound", "ObjectNotFound",
                  exception_type="System.ArgumentException", target=ids[0])


@register("Restart-Computer", parameters=("ComputerName", "Force", "Wait", "Timeout", "For", "Delay", "Credential",
                                          "WsmanAuthentication", "Protocol", "DcomAuthentication", "Impersonation",
                                          "ThrottleLimit", "AsJob"),
          positional=("ComputerName",), aliases={"CN": "ComputerName", "__Server": "ComputerName",
                                                  "Server": "ComputerName", "Addr": "ComputerName"},
          should_process=True)
def restart_computer(inv: Invocation) -> None:
    """Restart-Computer: the host goes down right after the command returns (open connections drop), and comes
    back after its boot time; commands arriving meanwhile wait for the boot."""
    h = inv.host
    if inv.what_if:
        inv.information(f'What if: Performing the operation "Enable the Remote shutdown access rights and restart '
                        f'the computer." on target "localhost ({h.netbios_name})".')
        return
    h.booting.clear()

    async def later() -> None:
        await h.clock.sleep(SHUTDOWN_DELAY_S)
        await h.reboot()

    h.spawn(later(), name=f"reboot {h.computer_name}")


@register("Get-Date", parameters=("Date", "Year", "Month", "Day", "Hour", "Minute", "Second", "Millisecond",
                                  "DisplayHint", "Format", "UFormat"), positional=("Date",))
def get_date(inv: Invocation) -> None:
    """Get-Date [-Date <DateTime>] [-Format o|s|G|g|...]: now (UTC on the emulated host), or each DateTime given
    by -Date or from the pipeline (`... | Select-Object -ExpandProperty LastBootUpTime | Get-Date -Format G`).
    The host's culture is en-US: `G` is `M/d/yyyy h:mm:ss tt`, what `DateTime.ToString()` prints there."""
    if inv.has("Date"):
        dates = [inv.get("Date")]
    elif inv.input:
        dates = list(inv.input)
    else:
        dates = [datetime.now(timezone.utc)]
    fmt = inv.get("Format")
    for value in dates:
        if not isinstance(value, datetime):
            inv.fail(f"Cannot bind parameter 'Date'. Cannot convert value \"{value}\" to type \"System.DateTime\".",
                     "CannotConvertArgumentNoMessage", "InvalidArgument",
                     exception_type="System.Management.Automation.ParameterBindingException")
        if fmt in ("o", "O"):
            inv.output(format_datetime_iso(value))
        elif fmt == "s":
            inv.output(value.strftime("%Y-%m-%dT%H:%M:%S"))
        elif fmt == "G":
            inv.output(format_datetime_text(value))
        elif fmt:
            inv.fail(f"lab: Get-Date -Format {fmt} is not emulated (o, s and G are)", "LabFormatNotEmulated",
                     "NotImplemented", exception_type="System.NotImplementedException")
        else:
            inv.output(value)


