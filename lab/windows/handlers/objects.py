"""Output objects shaped as Windows PowerShell 5.1 sends them over PSRP (type names, property names)."""

from __future__ import annotations

import fnmatch
from typing import Any

from lab.windows.dispatch import PSObj
from lab.windows.filesystem import FileEntry

from .core import enum_value


def cim(class_name: str, props: dict[str, Any], *, namespace: str = "root/cimv2",
        parents: tuple[str, ...] = (), to_string: str | None = None) -> PSObj:
    """A CIM instance as Get-CimInstance (or a CDXML cmdlet like Get-NetAdapter) returns it."""
    prefix = "Microsoft.Management.Infrastructure.CimInstance#"
    names = [f"{prefix}{namespace}/{class_name}"] + [f"{prefix}{namespace}/{p}" for p in parents]
    names += [f"{prefix}{p}" for p in parents[-1:]] if parents else []
    names += ["Microsoft.Management.Infrastructure.CimInstance", "System.Object"]
    return PSObj(names, dict(props), to_string or f"{class_name}")


def wmi(class_name: str, props: dict[str, Any], *, to_string: str | None = None) -> PSObj:
    """A WMI object as Get-WmiObject returns it."""
    names = [f"System.Management.ManagementObject#root\\cimv2\\{class_name}", "System.Management.ManagementObject",
             "System.Management.ManagementBaseObject", "System.ComponentModel.Component",
             "System.MarshalByRefObject", "System.Object"]
    props = {"__CLASS": class_name, "__NAMESPACE": "root\\cimv2", **props}
    return PSObj(names, props, to_string or "")


def file_item(e: FileEntry) -> PSObj:
    """A System.IO.FileInfo / DirectoryInfo as Get-Item / Get-ChildItem / New-Item return it."""
    parent = e.path.rsplit("\\", 1)[0] if len(e.path) > 3 else ""
    if parent.endswith(":"):
        parent += "\\"
    ps = {
        "PSPath": f"Microsoft.PowerShell.Core\\FileSystem::{e.path}",
        "PSParentPath": f"Microsoft.PowerShell.Core\\FileSystem::{parent}" if parent else "",
        "PSChildName": e.name,
        "PSDrive": e.path[0],
        "PSProvider": "Microsoft.PowerShell.Core\\FileSystem",
        "PSIsContainer": e.is_dir,
    }
    if e.is_dir:
        names = ["System.IO.DirectoryInfo", "System.IO.FileSystemInfo", "System.MarshalByRefObject", "System.Object"]
        props = {**ps, "Mode": "d-----", "BaseName": e.name, "Name": e.name, "FullName": e.path,
                 "Parent": parent.rsplit("\\", 1)[-1] if parent else None, "Exists": True,
                 "Root": e.path[:3], "Extension": "", "CreationTime": e.created, "LastWriteTime": e.modified,
                 "LastAccessTime": e.modified, "Attributes": "Directory"}
    else:
        base, dot, ext = e.name.rpartition(".")
        names = ["System.IO.FileInfo", "System.IO.FileSystemInfo", "System.MarshalByRefObject", "System.Object"]
        props = {**ps, "Mode": "-a----", "BaseName": base if dot else e.name, "Name": e.name, "Length": e.length,
                 "DirectoryName": parent, "Directory": parent, "IsReadOnly": False, "Exists": True,
                 "FullName": e.path, "Extension": "." + ext if dot else "", "CreationTime": e.created,
                 "LastWriteTime": e.modified, "LastAccessTime": e.modified, "Attributes": "Archive"}
    # FileSystemInfo's UTC twins (the local ones above are the same here: the emulated host runs on UTC).
    props.update({"CreationTimeUtc": e.created, "LastWriteTimeUtc": e.modified, "LastAccessTimeUtc": e.modified})
    return PSObj(names, props, e.path)


def match_any(value: str, patterns: list[str]) -> bool:
    """PowerShell -like matching (case-insensitive wildcards) against any pattern."""
    v = value.lower()
    return any(fnmatch.fnmatchcase(v, p.lower()) for p in patterns)


def has_wildcard(s: str) -> bool:
    """True if `s` has a PowerShell wildcard character."""
    return any(ch in s for ch in "*?[")


def service_status(status: str) -> PSObj:
    """ServiceControllerStatus enum value."""
    return enum_value("System.ServiceProcess.ServiceControllerStatus", status)


def service_start_mode(mode: str) -> PSObj:
    """ServiceStartMode enum value."""
    return enum_value("System.ServiceProcess.ServiceStartMode", mode)
