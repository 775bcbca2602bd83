"""Registry values: Get-ItemProperty, Get-ItemPropertyValue, Set-ItemProperty, New-ItemProperty,
Remove-ItemProperty (keys themselves are items: see files.py)."""

from __future__ import annotations

from typing import Any

from lab.windows.dispatch import PSObj
from lab.windows.winregistry import VALUE_KINDS, is_registry_path, long_form

from .core import Invocation, register
from .files import not_found, resolve

_KINDS = {k.lower(): k for k in VALUE_KINDS}
_KINDS.update({"reg_sz": "String", "reg_dword": "DWord", "reg_qword": "QWord", "reg_multi_sz": "MultiString",
               "reg_expand_sz": "ExpandString", "reg_binary": "Binary"})


def _ps_props(path: str) -> dict[str, Any]:
    name = long_form(path)
    parent = name.rsplit("\\", 1)[0]
    return {"PSPath": f"Microsoft.PowerShell.Core\\Registry::{name}",
            "PSParentPath": f"Microsoft.PowerShell.Core\\Registry::{parent}",
            "PSChildName": name.rsplit("\\", 1)[-1], "PSDrive": path.split(":", 1)[0],
            "PSProvider": "Microsoft.PowerShell.Core\\Registry"}


def _props_obj(values: dict[str, Any], path: str) -> PSObj:
    props = {**values, **_ps_props(path)}
    return PSObj(["System.Management.Automation.PSCustomObject", "System.Object"], props,
                 "@{" + "; ".join(f"{k}={v}" for k, v in props.items()) + "}")


def _missing_value(inv: Invocation, name: str, path: str) -> None:
    inv.error(f"Property {name} does not exist at path {long_form(path)}.",
              "System.Management.Automation.PSArgumentException", "InvalidArgument",
              exception_type="System.Management.Automation.PSArgumentException", target=name)


def _keys(inv: Invocation) -> list[str]:
    out = []
    for p in inv.str_list("Path") + inv.str_list("LiteralPath"):
        path = resolve(inv, p)
        if not is_registry_path(path):
            inv.fail("lab: only registry item properties are modelled", "NotImplemented", "NotImplemented")
        if not inv.host.registry.key_exists(path):
            not_found(inv, path)
            continue
        out.append(path)
    return out


@register("Get-ItemProperty", parameters=("Path", "LiteralPath", "Name", "Filter", "Include", "Exclude",
                                          "Credential"),
          positional=("Path", "Name"), aliases={"PSPath": "LiteralPath", "LP": "LiteralPath", "PSProperty": "Name"},
          command_aliases=("gp",))
def get_item_property(inv: Invocation) -> None:
    """Get-ItemProperty KEY [-Name N]: an object with the values (and PSPath etc.); a missing key is PathNotFound,
    a missing value a PSArgumentException error."""
    reg = inv.host.registry
    names = inv.str_list("Name")
    for path in _keys(inv):
        values = {v.name: v.value for v in reg.values(path)}
        if names:
            picked = {}
            for n in names:
                hit = next((k for k in values if k.lower() == n.lower()), None)
                if hit is None:
                    _missing_value(inv, n, path)
                else:
                    picked[hit] = values[hit]
            if not picked:
                continue
            values = picked
        inv.output(_props_obj(values, path))


@register("Get-ItemPropertyValue", parameters=("Path", "LiteralPath", "Name", "Filter", "Include", "Exclude",
                                               "Credential"),
          positional=("Path", "Name"), aliases={"PSPath": "LiteralPath", "LP": "LiteralPath", "PSProperty": "Name"},
          mandatory=("Name",), command_aliases=("gpv",))
def get_item_property_value(inv: Invocation) -> None:
    """Get-ItemPropertyValue KEY NAME: the value's data."""
    reg = inv.host.registry
    for path in _keys(inv):
        for n in inv.str_list("Name"):
            try:
                inv.output(reg.get_value(path, n))
            except LookupError:
                _missing_value(inv, n, path)


def _kind_for(inv: Invocation, value: Any, param: str) -> str:
    if inv.has(param):
        kind = _KINDS.get(str(inv.get(param)).lower())
        if kind is None:
            inv.fail(f"Cannot bind parameter '{param}'. Cannot convert value \"{inv.get(param)}\" to type "
                     f"\"Microsoft.Win32.RegistryValueKind\".", "CannotConvertArgumentNoMessage", "InvalidArgument",
                     exception_type="System.Management.Automation.ParameterBindingException")
        return kind  # type: ignore[return-value]
    if isinstance(value, bool) or not isinstance(value, int):
        return "MultiString" if isinstance(value, list) else ("Binary" if isinstance(value, bytes) else "String")
    return "DWord" if -(2**31) <= value < 2**32 else "QWord"


@register("Set-ItemProperty", parameters=("Path", "LiteralPath", "Name", "Value", "Type", "InputObject", "PassThru",
                                          "Force", "Filter", "Include", "Exclude", "Credential"),
          positional=("Path", "Name", "Value"),
          aliases={"PSPath": "LiteralPath", "LP": "LiteralPath", "PSProperty": "Name", "PropertyType": "Type"},
          should_process=True, command_aliases=("sp",))
def set_item_property(inv: Invocation) -> None:
    """Set-ItemProperty KEY NAME VALUE [-Type]: creates or updates the value (the key must exist)."""
    reg = inv.host.registry
    name = str(inv.get("Name", ""))
    value = inv.get("Value")
    for path in _keys(inv):
        if inv.what_if:
            continue
        existing = next((v for v in reg.values(path) if v.name.lower() == name.lower()), None)
        kind = _kind_for(inv, value, "Type") if (inv.has("Type") or existing is None) else existing.kind
        reg.set_value(path, name, value, kind)
        if inv.switch("PassThru"):
            inv.output(_props_obj({name: value}, path))


@register("New-ItemProperty", parameters=("Path", "LiteralPath", "Name", "PropertyType", "Value", "Force", "Filter",
                                          "Include", "Exclude", "Credential"),
          positional=("Path", "Name"),
          aliases={"PSPath": "LiteralPath", "LP": "LiteralPath", "PSProperty": "Name", "Type": "PropertyType"},
          mandatory=("Name",), should_process=True)
def new_item_property(inv: Invocation) -> None:
    """New-ItemProperty KEY -Name N -Value V [-PropertyType] [-Force]: an existing value needs -Force."""
    reg = inv.host.registry
    name = str(inv.get("Name"))
    value = inv.get("Value")
    kind = _kind_for(inv, value, "PropertyType") if inv.has("PropertyType") else (
        "String" if not isinstance(value, int) or isinstance(value, bool) else "DWord")
    for path in _keys(inv):
        exists = any(v.name.lower() == name.lower() for v in reg.values(path))
        if exists and not inv.switch("Force"):
            inv.error("The property already exists.", "System.IO.IOException", "ResourceExists",
                      exception_type="System.IO.IOException", target=path)
            continue
        if inv.what_if:
            continue
        reg.set_value(path, name, value, kind)
        inv.output(_props_obj({name: value}, path))


@register("Remove-ItemProperty", parameters=("Path", "LiteralPath", "Name", "Force", "Filter", "Include", "Exclude",
                                             "Credential"),
          positional=("Path", "Name"), aliases={"PSPath": "LiteralPath", "LP": "LiteralPath", "PSProperty": "Name"},
          mandatory=("Name",), should_process=True, command_aliases=("rp",))
def remove_item_property(inv: Invocation) -> None:
    """Remove-ItemProperty KEY -Name N."""
    reg = inv.host.registry
    for path in _keys(inv):
        for n in inv.str_list("Name"):
            if not any(v.name.lower() == n.lower() for v in reg.values(path)):
                _missing_value(inv, n, path)
            elif not inv.what_if:
                reg.delete_value(path, n)
