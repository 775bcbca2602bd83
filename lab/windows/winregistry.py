"""The emulated host's registry: keys and typed values under HKLM/HKCU, case-insensitive like the real one.

Key paths are accepted in every form PowerShell uses (`HKLM:\\Software\\Tigera\\Calico`,
`HKEY_LOCAL_MACHINE\\SOFTWARE\\...`, `Registry::HKEY_LOCAL_MACHINE\\...`) and shown in the PowerShell drive form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

_HIVES = {
    "hklm": "HKLM", "hkey_local_machine": "HKLM",
    "hkcu": "HKCU", "hkey_current_user": "HKCU",
}

VALUE_KINDS = ("String", "ExpandString", "Binary", "DWord", "MultiString", "QWord")


def is_registry_path(path: str) -> bool:
    """True if `path` names a registry key rather than a file."""
    p = str(path).strip().lower()
    if p.startswith("registry::") or p.startswith("microsoft.powershell.core\\registry::"):
        return True
    head = p.split("\\", 1)[0].rstrip(":")
    return head in _HIVES and (p.startswith(head + ":") or head.startswith("hkey_"))


def normalize_key(path: str) -> str:
    """`HKLM:\\SOFTWARE\\Tigera\\Calico` form of any registry key path. Raises ValueError for a non-registry path."""
    p = str(path).strip().strip('"').strip("'").replace("/", "\\")
    for prefix in ("Microsoft.PowerShell.Core\\Registry::", "Registry::"):
        if p.lower().startswith(prefix.lower()):
            p = p[len(prefix):]
    head, _, rest = p.partition("\\")
    hive = _HIVES.get(head.rstrip(":").lower())
    if hive is None:
        raise ValueError(f"not a registry path: {path!r}")
    parts = [x for x in rest.split("\\") if x]
    return hive + ":\\" + "\\".join(parts) if parts else hive + ":\\"


@dataclass
class RegValue:
    """One named value of a key."""

    name: str
    value: Any
    kind: str = "String"


@dataclass
class RegKey:
    """One key and its values (value names are case-insensitive)."""

    path: str
    values: dict[str, RegValue] = field(default_factory=dict)


class KeyNotFound(LookupError):
    """The key does not exist: `Cannot find path 'HKLM:\\X' because it does not exist.`"""

    def __init__(self, path: str) -> None:
        self.path = path
        self.message = f"Cannot find path '{path}' because it does not exist."
        super().__init__(self.message)


class ValueNotFound(LookupError):
    """The key exists but the value does not: `Property X does not exist at path HKEY_LOCAL_MACHINE\\...`."""

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self.name = name
        self.message = f"Property {name} does not exist at path {long_form(path)}."
        super().__init__(self.message)


def long_form(path: str) -> str:
    """`HKEY_LOCAL_MACHINE\\SOFTWARE\\X` form used in some error messages and PSPath."""
    n = normalize_key(path)
    hive, _, rest = n.partition(":\\")
    full = {"HKLM": "HKEY_LOCAL_MACHINE", "HKCU": "HKEY_CURRENT_USER"}[hive]
    return full + ("\\" + rest if rest else "")


class WindowsRegistry:
    """All keys of one host. Changing calls `on_change(description)` hooks; setting a value to what it already is
    calls none."""

    def __init__(self) -> None:
        self._keys: dict[str, RegKey] = {}
        self.on_change: list[Callable[[str], None]] = []
        for hive in ("HKLM:\\", "HKCU:\\"):
            self._keys[hive.lower()] = RegKey(hive)

    def key_exists(self, path: str) -> bool:
        """True if the key exists."""
        try:
            return normalize_key(path).lower() in self._keys
        except ValueError:
            return False

    def get_key(self, path: str) -> RegKey:
        """The key. Raises KeyNotFound."""
        n = normalize_key(path)
        k = self._keys.get(n.lower())
        if k is None:
            raise KeyNotFound(n)
        return k

    def create_key(self, path: str, *, parents: bool = True) -> bool:
        """Create the key (and parents). Returns True if it was created."""
        n = normalize_key(path)
        if n.lower() in self._keys:
            return False
        par = n.rsplit("\\", 1)[0]
        if par.endswith(":"):
            par += "\\"
        if par.lower() not in self._keys:
            if not parents:
                raise KeyNotFound(par)
            self.create_key(par)
        self._keys[n.lower()] = RegKey(n)
        self._changed(f"create key {n}")
        return True

    def delete_key(self, path: str, *, recurse: bool = True) -> bool:
        """Delete the key and its subkeys. Returns True if it existed."""
        n = normalize_key(path).lower()
        if n not in self._keys:
            return False
        for k in [k for k in self._keys if k == n or k.startswith(n + "\\")]:
            del self._keys[k]
        self._changed(f"delete key {path}")
        return True

    def subkeys(self, path: str) -> list[RegKey]:
        """Direct subkeys of a key."""
        n = self.get_key(path).path.lower().rstrip("\\") + "\\"
        return [k for p, k in sorted(self._keys.items()) if p.startswith(n) and "\\" not in p[len(n):]]

    def get_value(self, path: str, name: str) -> Any:
        """The value's data. Raises KeyNotFound or ValueNotFound."""
        k = self.get_key(path)
        v = k.values.get(name.lower())
        if v is None:
            raise ValueNotFound(k.path, name)
        return v.value

    def try_get_value(self, path: str, name: str, default: Any = None) -> Any:
        """The value's data, or `default` when the key or value is absent."""
        try:
            return self.get_value(path, name)
        except LookupError:
            return default

    def set_value(self, path: str, name: str, value: Any, kind: str = "String", *, create_key: bool = False) -> bool:
        """Set a value (creating it). Returns True if anything changed. Raises KeyNotFound unless `create_key`."""
        if create_key:
            self.create_key(path)
        k = self.get_key(path)
        old = k.values.get(name.lower())
        if old is not None and old.value == value and (old.kind == kind):
            return False
        k.values[name.lower()] = RegValue(old.name if old else name, value, kind)
        self._changed(f"set {k.path}\\{name}")
        return True

    def delete_value(self, path: str, name: str) -> bool:
        """Remove a value. Returns True if it existed."""
        k = self.get_key(path)
        if k.values.pop(name.lower(), None) is None:
            return False
        self._changed(f"delete {k.path}\\{name}")
        return True

    def values(self, path: str) -> list[RegValue]:
        """Every value of a key, in insertion order."""
        return list(self.get_key(path).values.values())

    def _changed(self, what: str) -> None:
        for hook in list(self.on_change):
            hook(what)
