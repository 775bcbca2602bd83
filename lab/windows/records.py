"""What an emulated Windows host received and what it changed: readable from tests.

Every command (each command of each pipeline, plus pypsrp copy/fetch transfers) becomes a `CommandRecord`.
A record is marked `changed` when any host state changes while it runs — including changes made later by
background work it started (asyncio tasks inherit the record through a context variable).
"""

from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass, field
from typing import Any

_current: contextvars.ContextVar["CommandRecord | None"] = contextvars.ContextVar("lab_windows_command",
                                                                                  default=None)


@dataclass
class CommandRecord:
    """One command as received, and its effect."""

    name: str                     # cmdlet name / path, or the script text when is_script
    parameters: dict[str, Any]    # named parameters exactly as received (names as sent)
    is_script: bool
    script_name: str | None = None    # for a script file run by path: its kind (e.g. "calico-installer")
    args: list[Any] = field(default_factory=list)
    changed: bool = False
    changes: list[str] = field(default_factory=list)
    files_written: list[str] = field(default_factory=list)
    error: str | None = None      # the terminating error's message, if the command failed
    at: float = field(default_factory=time.time)


class HostRecords:
    """The host's command log. `commands` in arrival order; `files_written` every file path written on the host
    (by commands, transfers or services)."""

    def __init__(self) -> None:
        self.commands: list[CommandRecord] = []
        self.files_written: list[str] = []
        self.background_changes: list[str] = []   # state changes no command caused (service loops, boot)

    def begin(self, name: str, parameters: dict[str, Any], *, is_script: bool, script_name: str | None = None,
              args: list[Any] | None = None) -> tuple[CommandRecord, contextvars.Token]:
        """Start recording a command; state changes until `end` are attributed to it."""
        rec = CommandRecord(name, dict(parameters), is_script, script_name, list(args or []))
        self.commands.append(rec)
        return rec, _current.set(rec)

    def end(self, token: contextvars.Token) -> None:
        """Stop attributing changes to the command begun with `token`."""
        _current.reset(token)

    def note_mutation(self, what: str) -> None:
        """Host hook: a state change happened (attributed to the running command, if any)."""
        rec = _current.get()
        if rec is None:
            self.background_changes.append(what)
            return
        rec.changed = True
        rec.changes.append(what)

    def note_file_written(self, path: str) -> None:
        """Host hook: a file was written."""
        self.files_written.append(path)
        rec = _current.get()
        if rec is not None:
            rec.files_written.append(path)

    def mutations(self) -> list[CommandRecord]:
        """The commands that changed host state."""
        return [c for c in self.commands if c.changed]

    def names(self) -> list[str]:
        """Command names in order (script records show their script_name when known)."""
        return [c.script_name or c.name for c in self.commands]

    def clear(self) -> None:
        """Forget everything recorded so far (e.g. between a first and a second run)."""
        self.commands.clear()
        self.files_written.clear()
        self.background_changes.clear()
