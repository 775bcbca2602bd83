"""Disks: Get-PSDrive and Get-Volume (free space follows the files the lab writes; disk_full leaves ~0.5 GB)."""

from __future__ import annotations

from lab.windows.dispatch import PSObj

from .core import Invocation, register
from .objects import cim, match_any

_REGISTRY_DRIVES = (("HKLM", "HKEY_LOCAL_MACHINE"), ("HKCU", "HKEY_CURRENT_USER"))


@register("Get-PSDrive", parameters=("Name", "LiteralName", "Scope", "PSProvider", "UseTransaction"),
          positional=("Name",), command_aliases=("gdr",))
def get_psdrive(inv: Invocation) -> None:
    """Get-PSDrive [-Name C] [-PSProvider FileSystem]: Used/Free bytes for volumes; registry drives too."""
    h = inv.host
    names = inv.str_list("Name") + inv.str_list("LiteralName")
    provider = str(inv.get("PSProvider") or "").lower()
    rows = []
    if provider in ("", "filesystem"):
        for v in h.volumes.values():
            free = h.free_bytes(v.drive_letter)
            rows.append((v.drive_letter, PSObj(["System.Management.Automation.PSDriveInfo", "System.Object"], {
                "Name": v.drive_letter, "Root": f"{v.drive_letter}:\\", "Description": v.label,
                "Provider": "Microsoft.PowerShell.Core\\FileSystem", "CurrentLocation": "",
                "Used": v.size_bytes - free, "Free": free, "Credential": None, "DisplayRoot": None,
            }, v.drive_letter)))
    if provider in ("", "registry"):
        for short, root in _REGISTRY_DRIVES:
            rows.append((short, PSObj(["System.Management.Automation.PSDriveInfo", "System.Object"], {
                "Name": short, "Root": root, "Description": "", "Provider": "Microsoft.PowerShell.Core\\Registry",
                "CurrentLocation": "", "Used": None, "Free": None}, short)))
    for n in names:
        if not any(match_any(name, [n]) for name, _ in rows) and not any(c in n for c in "*?["):
            inv.error(f"Cannot find drive. A drive with the name '{n}' does not exist.",
                      "GetLocationNoMatchingDrive", "ObjectNotFound",
                      exception_type="System.Management.Automation.DriveNotFoundException", target=n)
    for name, obj in rows:
        if not names or match_any(name, names):
            inv.output(obj)


@register("Get-Volume", parameters=("DriveLetter", "FileSystemLabel", "Path", "ObjectId", "UniqueId", "Partition",
                                    "DiskImage", "CimSession", "ThrottleLimit", "AsJob"),
          positional=("DriveLetter",), aliases={"Session": "CimSession", "FriendlyName": "FileSystemLabel"},
          cmdlet_type="Get-Volume")
def get_volume(inv: Invocation) -> None:
    """Get-Volume [-DriveLetter C]: SizeRemaining / Size."""
    h = inv.host
    letters = [str(x)[0].upper() for x in inv.str_list("DriveLetter")]
    for l in letters:
        if l not in h.volumes:
            inv.error(f"No MSFT_Volume objects found with property 'DriveLetter' equal to '{l}'.  Verify the value of "
                      f"the property and retry.", "CmdletizationQuery_NotFound_DriveLetter", "ObjectNotFound",
                      exception_type="Microsoft.PowerShell.Cmdletization.Cim.CimJobException", target=l)
    for v in h.volumes.values():
        if letters and v.drive_letter not in letters:
            continue
        inv.output(cim("MSFT_Volume", {
            "DriveLetter": v.drive_letter, "FileSystemLabel": v.label, "FileSystem": v.file_system,
            "FileSystemType": v.file_system, "DriveType": "Fixed", "HealthStatus": "Healthy",
            "OperationalStatus": "OK", "SizeRemaining": h.free_bytes(v.drive_letter), "Size": v.size_bytes,
            "Path": f"\\\\?\\Volume{{4c1b02c1-d990-11dc-99ae-806e6f6e6963}}\\",
        }, namespace="ROOT/Microsoft/Windows/Storage", parents=("MSFT_StorageObject",), to_string=v.drive_letter))
