"""Pipeline helpers clients commonly add after a cmdlet: Select-Object, Out-String, Write-Output, Write-Host,
Start-Sleep (scaled by the lab clock)."""

from __future__ import annotations

from typing import Any

from lab.windows.dispatch import PSObj

from .core import Invocation, register
from .objects import match_any


def _props(obj: Any) -> dict[str, Any]:
    if isinstance(obj, PSObj):
        return obj.properties
    if isinstance(obj, dict):
        return obj
    return {}


@register("Select-Object", parameters=("Property", "ExpandProperty", "First", "Last", "Skip", "Unique",
                                       "ExcludeProperty", "InputObject", "Index", "Wait", "SkipLast"),
          positional=("Property",), command_aliases=("select",))
def select_object(inv: Invocation) -> None:
    """Select-Object -Property (wildcards) / -ExpandProperty / -First / -Last / -Skip."""
    items = list(inv.input)
    if inv.has("Skip"):
        items = items[int(inv.get("Skip")):]
    if inv.has("First"):
        items = items[:int(inv.get("First"))]
    if inv.has("Last"):
        n = int(inv.get("Last"))
        items = items[-n:] if n else []
    wanted = inv.str_list("Property")
    expand = inv.get("ExpandProperty")
    for it in items:
        props = _props(it)
        if expand:
            key = next((k for k in props if k.lower() == str(expand).lower()), None)
            if key is None:
                inv.error(f"Property \"{expand}\" cannot be found.", "ExpandPropertyNotFound", "InvalidArgument",
                          exception_type="System.Management.Automation.PSArgumentException")
                continue
            v = props[key]
            for x in (v if isinstance(v, list) else [v]):
                inv.output(x)
        elif wanted:
            inv.output({k: v for k, v in props.items() if match_any(k, wanted)} if props else it)
        else:
            inv.output(it)


def _render(obj: Any) -> str:
    if isinstance(obj, PSObj):
        if obj.properties and not obj.type_names[0].endswith("Enum"):
            width = max(len(k) for k in obj.properties)
            return "\r\n".join(f"{k.ljust(width)} : {_render(v)}" for k, v in obj.properties.items())
        return obj.to_string or ""
    if isinstance(obj, dict):
        width = max((len(str(k)) for k in obj), default=0)
        return "\r\n".join(f"{str(k).ljust(width)} : {_render(v)}" for k, v in obj.items())
    if isinstance(obj, list):
        return "{" + ", ".join(_render(x) for x in obj) + "}"
    if isinstance(obj, bool):
        return "True" if obj else "False"
    return "" if obj is None else str(obj)


@register("Out-String", parameters=("Stream", "Width", "InputObject"), command_aliases=())
def out_string(inv: Invocation) -> None:
    """Out-String: the input rendered as text (list format for objects)."""
    parts = [_render(x) for x in inv.input]
    if inv.switch("Stream"):
        for p in parts:
            inv.output(p)
    else:
        inv.output("\r\n".join(parts) + ("\r\n" if parts else ""))


@register("Write-Output", parameters=("InputObject", "NoEnumerate"), positional=("InputObject",),
          command_aliases=("echo", "write"))
def write_output(inv: Invocation) -> None:
    """Write-Output."""
    v = inv.get("InputObject")
    for x in (v if isinstance(v, list) else [v]) if inv.has("InputObject") else inv.input:
        inv.output(x)


@register("Write-Host", parameters=("Object", "NoNewline", "Separator", "ForegroundColor", "BackgroundColor"),
          positional=("Object",))
def write_host(inv: Invocation) -> None:
    """Write-Host: the information stream."""
    v = inv.get("Object")
    inv.information(" ".join(_render(x) for x in v) if isinstance(v, list) else _render(v))


@register("Start-Sleep", parameters=("Seconds", "Milliseconds"), positional=("Seconds",), command_aliases=("sleep",))
async def start_sleep(inv: Invocation) -> None:
    """Start-Sleep (scaled by the lab clock)."""
    secs = float(inv.get("Seconds", 0) or 0) + float(inv.get("Milliseconds", 0) or 0) / 1000
    await inv.host.clock.sleep(secs)
