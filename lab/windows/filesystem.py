"""The emulated host's files and directories: case-insensitive Windows paths, sizes that count against the disk.

Paths are accepted the way PowerShell accepts them (`c:\\k`, `C:/k/`, `C:\\K\\config`, `FileSystem::C:\\k`) and
kept with the casing they were created with. A file may carry a `logical_size` larger than its stored bytes, so an
installer can stand in for a 120 MB tarball with a few bytes and still have it count against free space.
"""

from __future__ import annotations

import fnmatch
import ntpath
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterator


class WinPathError(OSError):
    """A filesystem operation failed the way .NET reports it; `message` is the text PowerShell shows."""

    exception_type = "System.IO.IOException"

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


class PathNotFound(WinPathError):
    """`Cannot find path 'X' because it does not exist.` / `Could not find a part of the path 'X'.`"""

    exception_type = "System.Management.Automation.ItemNotFoundException"


class DirectoryNotFound(WinPathError):
    """The parent directory of a file being written does not exist."""

    exception_type = "System.IO.DirectoryNotFoundException"


class DiskFull(WinPathError):
    """A write would exceed the volume's free space."""

    exception_type = "System.IO.IOException"


class NotEmpty(WinPathError):
    """Removing a non-empty directory without recursion."""


def normalize(path: str) -> str:
    """The display form of a Windows path: `C:\\k\\config` (drive letter upper-cased, `/` → `\\`, no trailing `\\`
    except at a drive root, `.`/`..` resolved). Raises ValueError for a path that is not absolute."""
    p = str(path).strip().strip('"').strip("'")
    for prefix in ("Microsoft.PowerShell.Core\\FileSystem::", "FileSystem::"):
        if p.lower().startswith(prefix.lower()):
            p = p[len(prefix):]
    p = p.replace("/", "\\")
    if p.startswith("\\\\?\\"):
        p = p[4:]
    if len(p) < 2 or p[1] != ":" or not p[0].isalpha():
        raise ValueError(f"not an absolute Windows path: {path!r}")
    drive = p[0].upper() + ":"
    parts: list[str] = []
    for part in p[2:].split("\\"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part.rstrip(" ."))  # Windows ignores trailing dots and spaces in names
    return drive + "\\" + "\\".join(parts)


def key(path: str) -> str:
    """The case-insensitive lookup key of a path."""
    return normalize(path).lower()


def parent(path: str) -> str | None:
    """The parent directory of `path`, or None at a drive root."""
    n = normalize(path)
    if len(n) <= 3:
        return None
    return normalize(ntpath.dirname(n))


@dataclass
class FileEntry:
    """One file or directory."""

    path: str                                  # display path, casing as created
    is_dir: bool
    data: bytes = b""
    logical_size: int = 0                      # bytes it occupies on disk (>= len(data) for stand-in payloads)
    created: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    modified: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def name(self) -> str:
        """The last path component (`config` for `C:\\k\\config`; `C:\\` for a root)."""
        return ntpath.basename(self.path) or self.path

    @property
    def length(self) -> int:
        """What `Get-Item` reports as Length."""
        return 0 if self.is_dir else self.logical_size


class WindowsFileSystem:
    """Files and directories of one host. Every change goes through `write_bytes`, `mkdir`, `remove`, `copy`; each
    change calls the `on_write(path)` hooks (files only) and `on_change(description)` hooks; a write that changes
    nothing (same bytes) calls neither. `space_check(drive, extra_bytes)` (set by the host) raises DiskFull."""

    def __init__(self, drives: tuple[str, ...] = ("C",)) -> None:
        self._entries: dict[str, FileEntry] = {}
        self.on_write: list[Callable[[str], None]] = []
        self.on_change: list[Callable[[str], None]] = []
        self.space_check: Callable[[str, int], None] | None = None
        for d in drives:
            root = normalize(d + ":\\")
            self._entries[root.lower()] = FileEntry(root, True)

    # ---- queries ---------------------------------------------------------------------------------------------
    def entry(self, path: str) -> FileEntry | None:
        """The entry at `path`, or None (also for a malformed path)."""
        try:
            return self._entries.get(key(path))
        except ValueError:
            return None

    def exists(self, path: str) -> bool:
        """True if a file or directory exists at `path`."""
        return self.entry(path) is not None

    def is_dir(self, path: str) -> bool:
        """True if `path` is an existing directory."""
        e = self.entry(path)
        return e is not None and e.is_dir

    def is_file(self, path: str) -> bool:
        """True if `path` is an existing file."""
        e = self.entry(path)
        return e is not None and not e.is_dir

    def read_bytes(self, path: str) -> bytes:
        """The stored bytes of a file. Raises PathNotFound."""
        e = self.entry(path)
        if e is None or e.is_dir:
            raise PathNotFound(f"Cannot find path '{_display(path)}' because it does not exist.", _display(path))
        return e.data

    def read_text(self, path: str) -> str:
        """A file decoded as PowerShell reads text: UTF-8 (BOM stripped), or UTF-16 LE with its BOM."""
        data = self.read_bytes(path)
        if data.startswith(b"\xff\xfe"):
            return data[2:].decode("utf-16-le", errors="replace")
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        return data.decode("utf-8", errors="replace")

    def list(self, path: str, *, recurse: bool = False) -> list[FileEntry]:
        """Children of a directory (directories first, then by name, as Get-ChildItem shows them)."""
        d = self.entry(path)
        if d is None:
            raise PathNotFound(f"Cannot find path '{_display(path)}' because it does not exist.", _display(path))
        if not d.is_dir:
            return [d]
        prefix = d.path.lower().rstrip("\\") + "\\"
        out = []
        for k, e in self._entries.items():
            if k.startswith(prefix) and k != d.path.lower():
                rest = k[len(prefix):]
                if recurse or "\\" not in rest:
                    out.append(e)
        return sorted(out, key=lambda e: (not e.is_dir, e.path.lower()))

    def glob(self, pattern: str) -> list[FileEntry]:
        """Entries whose full path matches a wildcard pattern in the last component (`C:\\k\\*.log`)."""
        n = normalize(pattern)
        base, leaf = ntpath.split(n)
        if not _has_wildcard(leaf):
            e = self.entry(n)
            return [e] if e else []
        if not self.is_dir(base):
            return []
        return [e for e in self.list(base) if fnmatch.fnmatch(e.name.lower(), leaf.lower())]

    def used_bytes(self, drive: str = "C") -> int:
        """Sum of the logical sizes of every file on `drive`."""
        prefix = drive[0].lower() + ":"
        return sum(e.logical_size for k, e in self._entries.items() if k.startswith(prefix) and not e.is_dir)

    def walk(self) -> Iterator[FileEntry]:
        """Every entry (for tests and records)."""
        return iter(list(self._entries.values()))

    # ---- changes ---------------------------------------------------------------------------------------------
    def mkdir(self, path: str, *, parents: bool = True) -> bool:
        """Create a directory (and its parents). Returns True if anything was created. Raises WinPathError if a
        file is in the way, DirectoryNotFound if the parent is missing and `parents` is False."""
        n = normalize(path)
        e = self._entries.get(n.lower())
        if e is not None:
            if not e.is_dir:
                raise WinPathError(f"An item with the specified name {n} already exists.", n)
            return False
        par = parent(n)
        if par is not None and not self.is_dir(par):
            if not parents:
                raise DirectoryNotFound(f"Could not find a part of the path '{n}'.", n)
            self.mkdir(par, parents=True)
        self._entries[n.lower()] = FileEntry(n, True)
        self._changed(f"mkdir {n}")
        return True

    def write_bytes(self, path: str, data: bytes, *, logical_size: int | None = None,
                    create_parents: bool = False) -> bool:
        """Write a file. Returns True if the content changed. Raises DirectoryNotFound when the parent directory
        is missing (unless `create_parents`), WinPathError when `path` is a directory, DiskFull when the new
        size does not fit in the drive's free space."""
        n = normalize(path)
        data = bytes(data)
        size = max(len(data), logical_size or 0)
        old = self._entries.get(n.lower())
        if old is not None and old.is_dir:
            raise WinPathError(f"Access to the path '{n}' is denied.", n)
        par = parent(n)
        if par is not None and not self.is_dir(par):
            if not create_parents:
                raise DirectoryNotFound(f"Could not find a part of the path '{n}'.", n)
            self.mkdir(par)
        if old is not None and old.data == data and old.logical_size == size:
            return False
        growth = size - (old.logical_size if old else 0)
        if growth > 0 and self.space_check is not None:
            self.space_check(n[0], growth)
        now = datetime.now(timezone.utc)
        if old is None:
            self._entries[n.lower()] = FileEntry(n, False, data, size, now, now)
        else:
            old.data, old.logical_size, old.modified = data, size, now
        for hook in list(self.on_write):
            hook(n)
        self._changed(f"write {n}")
        return True

    def write_text(self, path: str, text: str, *, create_parents: bool = False) -> bool:
        """Write text as UTF-8 (what Set-Content does on PowerShell 5.1 is ANSI; the lab keeps UTF-8)."""
        return self.write_bytes(path, text.encode("utf-8"), create_parents=create_parents)

    def append_text(self, path: str, text: str) -> bool:
        """Append text to a file, creating it if absent (parent must exist)."""
        old = self.read_bytes(path) if self.is_file(path) else b""
        return self.write_bytes(path, old + text.encode("utf-8"))

    def remove(self, path: str, *, recurse: bool = False) -> bool:
        """Remove a file or directory. Returns True if something was removed; raises PathNotFound when absent and
        NotEmpty for a non-empty directory without `recurse`."""
        n = normalize(path)
        e = self._entries.get(n.lower())
        if e is None:
            raise PathNotFound(f"Cannot find path '{n}' because it does not exist.", n)
        if len(n) <= 3:
            raise WinPathError(f"Cannot remove the root of drive {n}.", n)
        if e.is_dir:
            children = self.list(n, recurse=True)
            if children and not recurse:
                raise NotEmpty(f"The item at {n} has children and the Recurse parameter was not specified.", n)
            for c in children:
                del self._entries[c.path.lower()]
        del self._entries[n.lower()]
        self._changed(f"remove {n}")
        return True

    def copy(self, src: str, dst: str, *, recurse: bool = False) -> bool:
        """Copy a file (or a directory tree with `recurse`) to `dst`. If `dst` is an existing directory the item
        goes inside it. Returns True if anything changed."""
        s = self.entry(src)
        if s is None:
            raise PathNotFound(f"Cannot find path '{_display(src)}' because it does not exist.", _display(src))
        target = normalize(dst)
        if self.is_dir(target):
            target = normalize(target + "\\" + s.name)
        if not s.is_dir:
            return self.write_bytes(target, s.data, logical_size=s.logical_size)
        changed = self.mkdir(target)
        if recurse:
            for c in self.list(s.path, recurse=True):
                rel = c.path[len(s.path.rstrip("\\")) + 1:]
                dest = normalize(target + "\\" + rel)
                if c.is_dir:
                    changed |= self.mkdir(dest)
                else:
                    changed |= self.write_bytes(dest, c.data, logical_size=c.logical_size, create_parents=True)
        return changed

    def _changed(self, what: str) -> None:
        for hook in list(self.on_change):
            hook(what)


def _has_wildcard(s: str) -> bool:
    return any(ch in s for ch in "*?[")


def _display(path: str) -> str:
    try:
        return normalize(path)
    except ValueError:
        return str(path)
