"""Cmdlet handlers of the emulated Windows host, by area, and the table that maps commands to them.

Extension points for other lab parts (see `core` for details):
- `register(name_or_path_pattern, handler, parameters=..., positional=...)`: a cmdlet, or a script/executable
  file invoked by path (`"*\\install-kube-services.ps1"`).
- `register_script_kind(kind, handler, parameters=...)`: script files whose text carries `lab-script: <kind>`.
- `HostDispatcher(host, records)`: the wire's Dispatcher for one host.

The host answers each command from its model; it has no table of any client's script texts.
"""

from __future__ import annotations

from .core import (DEFAULT_TABLE, CommandSpec, HandlerTable, HostContext, Invocation, bind, command_not_found,
                   enum_value, register, register_script_kind)
from .dispatcher import HostDispatcher

# Importing an area module registers its cmdlets into DEFAULT_TABLE.
from . import system, features, services, files, registry, network, disk, web, binaries, utility  # noqa: E402,F401

__all__ = [
    "DEFAULT_TABLE", "CommandSpec", "HandlerTable", "HostContext", "HostDispatcher", "Invocation", "bind",
    "command_not_found", "enum_value", "register", "register_script_kind",
]
