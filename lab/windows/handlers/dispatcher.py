"""`HostDispatcher`: the wire's `Dispatcher` for one emulated host — resolves each command of a pipeline to a
handler, binds its parameters, runs it against the host model and records it."""

from __future__ import annotations

import re
from typing import Any

from lab.windows.dispatch import (ErrorRecord, FileTransfer, PipelineCommand, PipelineFailed, Streams,
                                  is_pypsrp_copy_script, is_pypsrp_fetch_script)
from lab.windows.filesystem import DiskFull, PathNotFound, WinPathError, normalize
from lab.windows.host import ServiceError, WindowsHost
from lab.windows.records import HostRecords
from lab.windows.winregistry import KeyNotFound, ValueNotFound

from .core import (DEFAULT_TABLE, CommandSpec, HandlerTable, HostContext, Invocation, bind, call_handler,
                   command_not_found)

_PATH_ONLY = re.compile(r"""^\s*(?:&\s*)?(['"]?)([A-Za-z]:[\\/][^'"\r\n]*?)\1\s*$""")
_BARE_WORD = re.compile(r"^\s*([A-Za-z][\w-]*)\s*$")


class _FsAdapter:
    """The host filesystem with the errors FileTransfer expects (FileNotFoundError / IsADirectoryError)."""

    def __init__(self, host: WindowsHost) -> None:
        self._fs = host.fs

    def write_bytes(self, path: str, data: bytes) -> None:
        self._fs.write_bytes(path, data)

    def read_bytes(self, path: str) -> bytes:
        if self._fs.is_dir(path):
            raise IsADirectoryError(path)
        if not self._fs.is_file(path):
            raise FileNotFoundError(path)
        return self._fs.read_bytes(path)


class _Capture:
    """Streams for a command that is not last in the pipeline: output is kept for the next command."""

    def __init__(self, outer: Streams) -> None:
        self.outer = outer
        self.captured: list[Any] = []

    def output(self, obj: Any) -> None:
        self.captured.append(obj)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.outer, name)


class HostDispatcher:
    """Runs PSRP pipelines against one `WindowsHost`; every command lands in `records`."""

    def __init__(self, host: WindowsHost, records: HostRecords | None = None, *,
                 table: HandlerTable = DEFAULT_TABLE, context: HostContext | None = None) -> None:
        self.host = host
        self.records = records or HostRecords()
        self.table = table
        self.context = context or HostContext()
        self.transfer = FileTransfer(_FsAdapter(host), cwd=self.context.cwd, env=host.env)

    async def run_pipeline(self, commands: list[PipelineCommand], input: list[Any], streams: Streams) -> None:
        """Run one statement: bind every command first (a binding error runs nothing), then run them in order,
        each command's output feeding the next."""
        await self.host.wait_booted()
        if len(commands) == 1 and commands[0].is_script and await self._transfer(commands[0], input, streams):
            return
        resolved = []
        for cmd in commands:
            try:
                resolved.append(self._resolve(cmd))
            except PipelineFailed as exc:
                rec, token = self.records.begin(cmd.name, cmd.parameters, is_script=cmd.is_script, args=cmd.args)
                rec.error = exc.record.message
                self.records.end(token)
                raise
        data = list(input)
        for i, (cmd, spec, params, extra) in enumerate(resolved):
            last = i == len(resolved) - 1
            out = streams if last else _Capture(streams)
            script_name = spec.name if spec.kind == "script-file" else None
            rec, token = self.records.begin(cmd.name, cmd.parameters, is_script=cmd.is_script,
                                            script_name=script_name, args=cmd.args)
            inv = Invocation(self.host, spec, cmd, params, data, out, self.context, **extra)
            try:
                await call_handler(spec.handler, inv)
            except PipelineFailed as exc:
                rec.error = exc.record.message
                raise
            except Exception as exc:  # a model error the handler did not map: fail the way PowerShell would
                failed = PipelineFailed(_record_for(exc, spec))
                rec.error = failed.record.message
                raise failed from exc
            finally:
                self.records.end(token)
            if not last:
                data = out.captured

    # ---- resolution ------------------------------------------------------------------------------------------
    def _resolve(self, cmd: PipelineCommand) -> tuple[PipelineCommand, CommandSpec, dict[str, Any], dict[str, Any]]:
        if cmd.is_script:
            m = _PATH_ONLY.match(cmd.name)
            if m:
                return self._resolve_path(cmd, m.group(2))
            m = _BARE_WORD.match(cmd.name)
            if m and self.table.cmdlet(m.group(1)) is not None:
                spec = self.table.cmdlet(m.group(1))
                return cmd, spec, bind(spec, cmd), {}
            first = cmd.name.strip().splitlines()[0][:120] if cmd.name.strip() else ""
            raise PipelineFailed(ErrorRecord(
                "lab: this emulated host runs cmdlets and script files by path; it "
                f"cannot interpret this free-text script: {first}", "NotImplemented", "LabScriptNotEmulated"))
        spec = self.table.cmdlet(cmd.name)
        if spec is not None:
            return cmd, spec, bind(spec, cmd), {}
        if re.match(r"^[A-Za-z]:[\\/]", cmd.name) or cmd.name.startswith((".\\", "./")):
            return self._resolve_path(cmd, cmd.name)
        raise command_not_found(cmd.name)

    def _resolve_path(self, cmd: PipelineCommand, raw: str):
        path = raw
        if path.startswith((".\\", "./")):
            path = self.context.cwd + "\\" + path[2:]
        try:
            path = normalize(path)
        except ValueError:
            raise command_not_found(raw) from None
        if not self.host.fs.is_file(path):
            raise command_not_found(raw)
        spec = self.table.path_command(path)
        text = None
        if path.lower().endswith(".ps1"):
            text = self.host.fs.read_text(path)
            if spec is None:
                kind = self.table.script_kind_of(text)
                if kind is not None:
                    spec = self.table.script_kinds[kind]
        if spec is None:
            raise PipelineFailed(ErrorRecord(
                f"lab: no behaviour is registered for the file {path} (its content kind is unknown to the "
                f"emulated host)", "NotImplemented", "LabScriptNotEmulated", target=path))
        return cmd, spec, bind(spec, cmd), {"script_path": path, "script_text": text}

    async def _transfer(self, cmd: PipelineCommand, input: list[Any], streams: Streams) -> bool:
        if is_pypsrp_copy_script(cmd.name):
            label = "pypsrp copy"
        elif is_pypsrp_fetch_script(cmd.name):
            label = "pypsrp fetch"
        else:
            return False
        rec, token = self.records.begin(cmd.name, cmd.parameters, is_script=True, script_name=label, args=cmd.args)
        try:
            await self.transfer.handle([cmd], input, streams)
        except WinPathError as exc:
            rec.error = exc.message
            raise PipelineFailed(ErrorRecord(exc.message, _category_for(exc), "System.IO.IOException",
                                             exception_type=exc.exception_type, target=exc.path)) from exc
        except PipelineFailed as exc:
            rec.error = exc.record.message
            raise
        finally:
            self.records.end(token)
        return True


def _category_for(exc: Exception) -> str:
    if isinstance(exc, (PathNotFound, KeyNotFound, ValueNotFound)):
        return "ObjectNotFound"
    if isinstance(exc, DiskFull):
        return "WriteError"
    return "NotSpecified"


def _record_for(exc: Exception, spec: CommandSpec) -> ErrorRecord:
    if isinstance(exc, WinPathError):
        return ErrorRecord(exc.message, _category_for(exc), spec.fqid("System.IO.IOException"),
                           exception_type=exc.exception_type, target=exc.path)
    if isinstance(exc, (KeyNotFound, ValueNotFound)):
        return ErrorRecord(exc.message, "ObjectNotFound", spec.fqid("PathNotFound"),
                           exception_type="System.Management.Automation.ItemNotFoundException")
    if isinstance(exc, ServiceError):
        return ErrorRecord(exc.message, exc.category, exc.fqid, exception_type=exc.exception_type)
    return ErrorRecord(f"lab: {spec.name} handler failed: {type(exc).__name__}: {exc}", "NotSpecified",
                       spec.fqid("LabHandlerError"), exception_type="System.InvalidOperationException")
