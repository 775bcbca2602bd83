"""Files and items: Test-Path, New-Item, Get-Content, Set-Content, Add-Content, Remove-Item, Copy-Item,
Get-ChildItem, Get-Item, Get-FileHash — over the host's filesystem, and over registry keys where PowerShell's
registry provider applies (Test-Path, New-Item, Get-Item, Get-ChildItem, Remove-Item on `HKLM:\\...`)."""

from __future__ import annotations

import hashlib
from typing import Any

from lab.windows.dispatch import PSObj
from lab.windows.filesystem import (DirectoryNotFound, DiskFull, FileEntry, PathNotFound, WinPathError, normalize)
from lab.windows.winregistry import is_registry_path, long_form, normalize_key

from .core import Invocation, register
from .objects import file_item, has_wildcard, match_any

_NOT_FOUND = "System.Management.Automation.ItemNotFoundException"


# ---- paths -------------------------------------------------------------------------------------------------------
def resolve(inv: Invocation, raw: Any) -> str:
    """The absolute form of a -Path value: registry paths normalized, relative file paths joined to the cwd."""
    p = str(raw).strip()
    if is_registry_path(p):
        return normalize_key(p)
    if p.startswith("\\") and not p.startswith("\\\\"):
        p = inv.context.cwd[:2] + p
    elif not (len(p) >= 2 and p[1] == ":"):
        p = inv.context.cwd + "\\" + p
    return normalize(p)


def paths_of(inv: Invocation) -> list[tuple[str, bool]]:
    """(path, literal) for each -Path / -LiteralPath value (pipeline strings count as -Path)."""
    out = [(resolve(inv, p), False) for p in inv.str_list("Path")]
    out += [(resolve(inv, p), True) for p in inv.str_list("LiteralPath")]
    if not out and inv.input and not inv.has("Value"):
        for item in inv.input:
            v = item.properties.get("FullName") if isinstance(item, PSObj) else item
            if v is not None:
                out.append((resolve(inv, v), True))
    return out


def expand(inv: Invocation, path: str, literal: bool) -> list[FileEntry]:
    """File entries a path names (wildcards in the last component unless literal)."""
    if not literal and has_wildcard(path):
        return inv.host.fs.glob(path)
    e = inv.host.fs.entry(path)
    return [e] if e else []


def not_found(inv: Invocation, path: str) -> None:
    """PowerShell's PathNotFound error (non-terminating)."""
    inv.error(f"Cannot find path '{path}' because it does not exist.", "PathNotFound", "ObjectNotFound",
              exception_type=_NOT_FOUND, target=path)


def registry_key_obj(inv: Invocation, path: str) -> PSObj:
    """A Microsoft.Win32.RegistryKey as Get-Item / New-Item return it."""
    reg = inv.host.registry
    key = reg.get_key(path)
    name = long_form(key.path)
    parent = name.rsplit("\\", 1)[0] if "\\" in name else ""
    return PSObj(["Microsoft.Win32.RegistryKey", "System.MarshalByRefObject", "System.Object"], {
        "PSPath": f"Microsoft.PowerShell.Core\\Registry::{name}",
        "PSParentPath": f"Microsoft.PowerShell.Core\\Registry::{parent}" if parent else "",
        "PSChildName": name.rsplit("\\", 1)[-1], "PSDrive": key.path.split(":", 1)[0],
        "PSProvider": "Microsoft.PowerShell.Core\\Registry", "PSIsContainer": True,
        "Name": name, "SubKeyCount": len(reg.subkeys(path)), "ValueCount": len(key.values),
        "Property": [v.name for v in key.values.values()], "View": "Default", "Handle": None,
    }, name)


def write_error_for(inv: Invocation, exc: WinPathError, prefix: str) -> None:
    """Map a filesystem write failure to the cmdlet's error (DirectoryNotFound / disk full / other IO)."""
    if isinstance(exc, DirectoryNotFound):
        inv.error(exc.message, f"{prefix}DirectoryNotFoundError", "ObjectNotFound",
                  exception_type="System.IO.DirectoryNotFoundException", target=exc.path)
    elif isinstance(exc, DiskFull):
        inv.error(exc.message, f"{prefix}IOError", "WriteError", exception_type="System.IO.IOException",
                  target=exc.path)
    elif isinstance(exc, PathNotFound):
        not_found(inv, exc.path)
    else:
        inv.error(exc.message, f"{prefix}UnauthorizedAccessError" if "denied" in exc.message else f"{prefix}IOError",
                  "PermissionDenied" if "denied" in exc.message else "WriteError",
                  exception_type="System.UnauthorizedAccessException" if "denied" in exc.message
                  else "System.IO.IOException", target=exc.path)


# ---- Test-Path ---------------------------------------------------------------------------------------------------
@register("Test-Path", parameters=("Path", "LiteralPath", "Filter", "Include", "Exclude", "PathType", "IsValid",
                                   "Credential", "OlderThan", "NewerThan"),
          positional=("Path",), aliases={"PSPath": "LiteralPath", "LP": "LiteralPath", "Type": "PathType"})
def test_path(inv: Invocation) -> None:
    """Test-Path [-PathType Any|Container|Leaf]: one bool per path, files and registry keys."""
    kind = str(inv.get("PathType", "Any")).lower()
    for path, literal in paths_of(inv):
        if inv.switch("IsValid"):
            inv.output(True)
            continue
        if is_registry_path(path):
            ok = inv.host.registry.key_exists(path) and kind in ("any", "container")
        else:
            entries = expand(inv, path, literal)
            if kind == "container":
                ok = any(e.is_dir for e in entries)
            elif kind == "leaf":
                ok = any(not e.is_dir for e in entries)
            else:
                ok = bool(entries)
        inv.output(ok)


# ---- New-Item ----------------------------------------------------------------------------------------------------
@register("New-Item", parameters=("Path", "Name", "ItemType", "Value", "Force", "Credential"),
          positional=("Path",), aliases={"Type": "ItemType", "FullName": "Path"}, should_process=True,
          command_aliases=("ni",))
def new_item(inv: Invocation) -> None:
    """New-Item -ItemType Directory|File [-Force] [-Value], and registry keys. An existing directory without
    -Force is a ResourceExists error; with -Force the existing item is returned unchanged."""
    h = inv.host
    item_type = str(inv.get("ItemType", "File")).lower()
    bases = inv.str_list("Path") or [inv.context.cwd]
    for base in bases:
        path = resolve(inv, base)
        if inv.has("Name"):
            path = normalize_key(path + "\\" + str(inv.get("Name"))) if is_registry_path(path) else \
                normalize(path + "\\" + str(inv.get("Name")))
        if inv.what_if:
            inv.information(f'What if: Performing the operation "Create {"Directory" if item_type.startswith("d") else "File"}" '
                            f'on target "Destination: {path}".')
            continue
        if is_registry_path(path):
            if h.registry.key_exists(path) and not inv.switch("Force"):
                inv.error(f"A key at this path already exists.", "System.IO.IOException", "ResourceExists",
                          exception_type="System.IO.IOException", target=path)
                continue
            if not inv.switch("Force"):
                parent = path.rsplit("\\", 1)[0]
                if not h.registry.key_exists(parent if not parent.endswith(":") else parent + "\\"):
                    not_found(inv, parent)
                    continue
            h.registry.create_key(path)
            inv.output(registry_key_obj(inv, path))
            continue
        existing = h.fs.entry(path)
        try:
            if item_type in ("directory", "d", "dir", "container"):
                if existing is not None and not inv.switch("Force"):
                    inv.error(f"An item with the specified name {path} already exists.", "DirectoryExist",
                              "ResourceExists", exception_type="System.IO.IOException", target=path)
                    continue
                if existing is not None and not existing.is_dir:
                    inv.error(f"An item with the specified name {path} already exists.", "DirectoryExist",
                              "ResourceExists", exception_type="System.IO.IOException", target=path)
                    continue
                h.fs.mkdir(path, parents=True)
            elif item_type in ("file", "f", "leaf"):
                if existing is not None and not inv.switch("Force"):
                    inv.error(f"The file '{path}' already exists.", "NewItemIOError", "WriteError",
                              exception_type="System.IO.IOException", target=path)
                    continue
                value = inv.get("Value")
                data = value if isinstance(value, bytes) else str(value if value is not None else "").encode()
                h.fs.write_bytes(path, data, create_parents=inv.switch("Force"))
            else:
                inv.fail(f"The type is not a known type for the file system. Only \"file\" and \"directory\" can be "
                         f"created.", "Argument", "InvalidArgument",
                         exception_type="System.Management.Automation.PSArgumentException")
        except WinPathError as exc:
            write_error_for(inv, exc, "NewItem")
            continue
        inv.output(file_item(h.fs.entry(path)))


# ---- Get-Content / Set-Content / Add-Content -------------------------------------------------------------------
def _lines(text: str) -> list[str]:
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


@register("Get-Content", parameters=("Path", "LiteralPath", "ReadCount", "TotalCount", "Tail", "Filter", "Include",
                                     "Exclude", "Force", "Credential", "Delimiter", "Wait", "Raw", "Encoding",
                                     "Stream"),
          positional=("Path",), aliases={"PSPath": "LiteralPath", "LP": "LiteralPath", "First": "TotalCount",
                                         "Head": "TotalCount", "Last": "Tail"},
          command_aliases=("gc", "cat", "type"))
def get_content(inv: Invocation) -> None:
    """Get-Content: lines (or -Raw one string; -Encoding Byte the bytes), -Tail N / -TotalCount N."""
    h = inv.host
    for path, literal in paths_of(inv):
        entries = expand(inv, path, literal)
        if not entries:
            not_found(inv, path)
            continue
        for e in entries:
            if e.is_dir:
                inv.error(f"Access to the path '{e.path}' is denied.", "GetContentReaderUnauthorizedAccessError",
                          "PermissionDenied", exception_type="System.UnauthorizedAccessException", target=e.path)
                continue
            if str(inv.get("Encoding", "")).lower() == "byte":
                data = h.fs.read_bytes(e.path)
                inv.output(data if inv.switch("Raw") else list(data))
                continue
            text = h.fs.read_text(e.path)
            if inv.switch("Raw"):
                inv.output(text)
                continue
            lines = _lines(text)
            if inv.has("TotalCount") and int(inv.get("TotalCount")) >= 0:
                lines = lines[:int(inv.get("TotalCount"))]
            if inv.has("Tail"):
                n = int(inv.get("Tail"))
                lines = lines[-n:] if n > 0 else ([] if n == 0 else lines)
            for line in lines:
                inv.output(line)


def _content_bytes(inv: Invocation) -> bytes:
    value = inv.get("Value") if inv.has("Value") else list(inv.input)
    enc = str(inv.get("Encoding", "")).lower()
    if enc == "byte":
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        return bytes(int(x) for x in (value if isinstance(value, list) else [value]))
    items = value if isinstance(value, list) else [value]
    parts = ["" if v is None else str(v) for v in items]
    text = "".join(parts) if inv.switch("NoNewline") else "".join(p + "\r\n" for p in parts)
    if enc in ("unicode", "utf16"):
        return b"\xff\xfe" + text.encode("utf-16-le")
    if enc == "utf8":
        return b"\xef\xbb\xbf" + text.encode("utf-8")
    return text.encode("utf-8")


def _set_or_add(inv: Invocation, append: bool, prefix: str) -> None:
    h = inv.host
    data = _content_bytes(inv)
    for path, literal in paths_of(inv):
        targets = [e.path for e in expand(inv, path, literal)] if (not literal and has_wildcard(path)) else [path]
        for target in targets:
            if inv.what_if:
                inv.information(f'What if: Performing the operation "{"Add" if append else "Set"} Content" on target '
                                f'"Path: {target}".')
                continue
            try:
                if h.fs.is_dir(target):
                    raise WinPathError(f"Access to the path '{target}' is denied.", target)
                old = h.fs.read_bytes(target) if (append and h.fs.is_file(target)) else b""
                h.fs.write_bytes(target, old + data)
            except WinPathError as exc:
                write_error_for(inv, exc, prefix)
                continue
            if inv.switch("PassThru"):
                for line in _lines(data.decode("utf-8", "replace")):
                    inv.output(line)


_SET_PARAMS = ("Path", "LiteralPath", "Value", "PassThru", "Filter", "Include", "Exclude", "Force", "Credential",
               "NoNewline", "Encoding", "Stream")


@register("Set-Content", parameters=_SET_PARAMS, positional=("Path", "Value"),
          aliases={"PSPath": "LiteralPath", "LP": "LiteralPath"}, should_process=True, command_aliases=("sc",))
def set_content(inv: Invocation) -> None:
    """Set-Content: lines joined with CRLF (a missing parent directory, or no space, is a non-terminating
    error)."""
    _set_or_add(inv, False, "GetContentWriter")


@register("Add-Content", parameters=_SET_PARAMS, positional=("Path", "Value"),
          aliases={"PSPath": "LiteralPath", "LP": "LiteralPath"}, should_process=True, command_aliases=("ac",))
def add_content(inv: Invocation) -> None:
    """Add-Content: append lines (creating the file)."""
    _set_or_add(inv, True, "GetContentWriter")


# ---- Remove-Item / Copy-Item -----------------------------------------------------------------------------------
@register("Remove-Item", parameters=("Path", "LiteralPath", "Filter", "Include", "Exclude", "Recurse", "Force",
                                     "Credential", "Stream"),
          positional=("Path",), aliases={"PSPath": "LiteralPath", "LP": "LiteralPath"}, should_process=True,
          command_aliases=("rm", "del", "erase", "rd", "ri", "rmdir"))
def remove_item(inv: Invocation) -> None:
    """Remove-Item [-Recurse] [-Force]: files, directories, registry keys. A non-empty directory without -Recurse
    would prompt, which a remote session cannot: it fails as PowerShell does in NonInteractive mode."""
    h = inv.host
    for path, literal in paths_of(inv):
        if is_registry_path(path):
            if not h.registry.key_exists(path):
                not_found(inv, path)
            elif not inv.what_if:
                h.registry.delete_key(path)
            continue
        entries = expand(inv, path, literal)
        if not entries:
            not_found(inv, path)
            continue
        for e in entries:
            if inv.what_if:
                continue
            try:
                h.fs.remove(e.path, recurse=inv.switch("Recurse"))
            except WinPathError as exc:
                if "children" in exc.message:
                    inv.error("Windows PowerShell is in NonInteractive mode. Read and Prompt functionality is not "
                              "available.", "RemoveFileSystemItemUnAuthorizedAccess", "InvalidOperation",
                              exception_type="System.Management.Automation.PSInvalidOperationException",
                              target=e.path)
                else:
                    inv.error(exc.message, "RemoveItemIOError", "WriteError", target=e.path)


@register("Copy-Item", parameters=("Path", "LiteralPath", "Destination", "Container", "Force", "Filter", "Include",
                                   "Exclude", "Recurse", "PassThru", "Credential", "FromSession", "ToSession"),
          positional=("Path", "Destination"), aliases={"PSPath": "LiteralPath", "LP": "LiteralPath"},
          should_process=True, command_aliases=("cp", "copy", "cpi"))
def copy_item(inv: Invocation) -> None:
    """Copy-Item [-Recurse]: files and directory trees (into an existing directory, or to a new name)."""
    h = inv.host
    dest = resolve(inv, inv.get("Destination") or inv.context.cwd)
    for path, literal in paths_of(inv):
        entries = expand(inv, path, literal)
        if not entries:
            not_found(inv, path)
            continue
        for e in entries:
            if inv.what_if:
                continue
            try:
                h.fs.copy(e.path, dest, recurse=inv.switch("Recurse"))
            except WinPathError as exc:
                write_error_for(inv, exc, "CopyFileInfoItem")
                continue
            if inv.switch("PassThru"):
                target = dest if not h.fs.is_dir(dest) or e.is_dir and not h.fs.exists(dest + "\\" + e.name) \
                    else normalize(dest + "\\" + e.name)
                inv.output(file_item(h.fs.entry(target)))


# ---- Get-ChildItem / Get-Item ----------------------------------------------------------------------------------
@register("Get-ChildItem", parameters=("Path", "LiteralPath", "Filter", "Include", "Exclude", "Recurse", "Depth",
                                       "Force", "Name", "Attributes", "Directory", "File", "Hidden", "ReadOnly",
                                       "System"),
          positional=("Path", "Filter"), aliases={"PSPath": "LiteralPath", "LP": "LiteralPath", "s": "Recurse",
                                                   "ad": "Directory", "d": "Directory", "af": "File",
                                                   "ah": "Hidden", "h": "Hidden", "ar": "ReadOnly", "as": "System"},
          command_aliases=("gci", "ls", "dir"))
def get_child_item(inv: Invocation) -> None:
    """Get-ChildItem [-Recurse] [-Filter] [-File|-Directory] [-Name], and registry subkeys."""
    h = inv.host
    targets = paths_of(inv) or [(inv.context.cwd, True)]
    for path, literal in targets:
        if is_registry_path(path):
            if not h.registry.key_exists(path):
                not_found(inv, path)
                continue
            for k in h.registry.subkeys(path):
                inv.output(k.path.rsplit("\\", 1)[-1] if inv.switch("Name") else registry_key_obj(inv, k.path))
            continue
        entries = expand(inv, path, literal)
        if not entries:
            not_found(inv, path)
            continue
        flt = inv.get("Filter")
        include, exclude = inv.str_list("Include"), inv.str_list("Exclude")
        for root in entries:
            children = h.fs.list(root.path, recurse=inv.switch("Recurse")) if root.is_dir else [root]
            for c in children:
                if flt and not match_any(c.name, [str(flt)]):
                    continue
                if include and not match_any(c.name, include):
                    continue
                if exclude and match_any(c.name, exclude):
                    continue
                if inv.switch("File") and c.is_dir or inv.switch("Directory") and not c.is_dir:
                    continue
                if inv.switch("Name"):
                    rel = c.path[len(root.path.rstrip("\\")) + 1:] if root.is_dir else c.name
                    inv.output(rel)
                else:
                    inv.output(file_item(c))


@register("Get-Item", parameters=("Path", "LiteralPath", "Filter", "Include", "Exclude", "Force", "Credential",
                                  "Stream"),
          positional=("Path",), aliases={"PSPath": "LiteralPath", "LP": "LiteralPath"}, command_aliases=("gi",))
def get_item(inv: Invocation) -> None:
    """Get-Item: a FileInfo/DirectoryInfo, or a RegistryKey."""
    h = inv.host
    for path, literal in paths_of(inv):
        if is_registry_path(path):
            if h.registry.key_exists(path):
                inv.output(registry_key_obj(inv, path))
            else:
                not_found(inv, path)
            continue
        entries = expand(inv, path, literal)
        if not entries:
            not_found(inv, path)
        for e in entries:
            inv.output(file_item(e))


_HASHES = {"SHA1": "sha1", "SHA256": "sha256", "SHA384": "sha384", "SHA512": "sha512", "MD5": "md5"}


@register("Get-FileHash", parameters=("Path", "LiteralPath", "InputStream", "Algorithm"), positional=("Path",),
          aliases={"PSPath": "LiteralPath", "LP": "LiteralPath"}, cmdlet_type="Get-FileHash")
def get_file_hash(inv: Invocation) -> None:
    """Get-FileHash [-Algorithm SHA256]: upper-case hex of the stored bytes."""
    algo = str(inv.get("Algorithm", "SHA256")).upper()
    if algo not in _HASHES:
        inv.fail(f"Cannot validate argument on parameter 'Algorithm'. The argument \"{algo}\" does not belong to the "
                 f"set \"SHA1,SHA256,SHA384,SHA512,MACTripleDES,MD5,RIPEMD160\" specified by the ValidateSet "
                 f"attribute. Supply an argument that is in the set and then try the command again.",
                 "ParameterArgumentValidationError", "InvalidData",
                 exception_type="System.Management.Automation.ParameterBindingValidationException")
    for path, literal in paths_of(inv):
        entries = [e for e in expand(inv, path, literal) if not e.is_dir]
        if not entries:
            inv.error(f"Cannot find path '{path}' because it does not exist.", "FileNotFound", "ObjectNotFound",
                      exception_type=_NOT_FOUND, target=path)
            continue
        for e in entries:
            digest = hashlib.new(_HASHES[algo], inv.host.fs.read_bytes(e.path)).hexdigest().upper()
            inv.output(PSObj(["Microsoft.Powershell.Utility.FileHash", "System.Management.Automation.PSCustomObject",
                              "System.Object"], {"Algorithm": algo, "Hash": digest, "Path": e.path},
                             f"@{{Algorithm={algo}; Hash={digest}; Path={e.path}}}"))
