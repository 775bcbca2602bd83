"""The PowerShell Remoting (PSRP) side of one WinRM shell: a psrpcore `ServerRunspacePool`, its pipelines, and
the calls into the host model's `Dispatcher`.

The WSMan layer feeds raw PSRP bytes in (`create` / `command` / `send`), asks for what to send back
(`receive`, which waits up to the operation timeout), and forwards `signal` and `close`. Each pipeline runs as an
asyncio task; whatever its handler writes to `Streams` is queued per target (the pool, or one pipeline) so that
a Receive for one command never returns another command's data.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import psrpcore
from psrpcore import PSRPPayload, StreamType
from psrpcore.types import (
    ErrorCategory,
    ErrorCategoryInfo,
    NETException,
    PSInvocationState,
    PSVersion,
)
from psrpcore.types import ErrorRecord as PSErrorRecord

from .dispatch import Dispatcher, ErrorRecord, PipelineCommand, PipelineFailed
from .psvalues import NULL_OUTPUT, from_ps, to_ps

log = logging.getLogger(__name__)

SIGNAL_TERMINATE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate"
SIGNAL_PS_CTRL_C = "powershell/signal/crtl_c"  # sic: the PSRP spelling


class OperationTimedOut(Exception):
    """Nothing to send within the Receive's operation timeout (WSMan answers fault 2150858793)."""


class UnknownCommand(KeyError):
    """A Receive/Send/Signal named a CommandId this shell does not have."""


def default_private_data(ps_version: str = "5.1.17763.1999") -> dict[str, Any]:
    """Application private data a Windows PowerShell 5.1 endpoint announces when a pool opens."""
    return {
        "PSVersionTable": {
            "PSVersion": PSVersion(ps_version),
            "PSEdition": "Desktop",
            "BuildVersion": PSVersion(ps_version.replace("5.1.", "10.0.", 1)),
            "CLRVersion": PSVersion("4.0.30319.42000"),
            "WSManStackVersion": PSVersion("3.0"),
            "PSRemotingProtocolVersion": PSVersion("2.3"),
            "SerializationVersion": PSVersion("1.1.0.1"),
        }
    }


def ps_error_record(rec: ErrorRecord, activity: str = "") -> PSErrorRecord:
    """A psrpcore ErrorRecord that pypsrp shows with `rec.message`, its category and its FullyQualifiedErrorId."""
    short_type = rec.exception_type.rsplit(".", 1)[-1]
    exception = NETException(Message=rec.message, HResult=-2146233087)
    type_names = [rec.exception_type]
    if rec.exception_type.startswith("System.Management.Automation.") and short_type != "RuntimeException":
        type_names.append("System.Management.Automation.RuntimeException")
    if rec.exception_type not in ("System.Exception", "System.SystemException"):
        type_names.append("System.SystemException")
    type_names += [t for t in exception.PSTypeNames if t not in type_names]
    exception.PSObject.type_names = type_names
    try:
        category = ErrorCategory[rec.category]
    except KeyError:
        category = ErrorCategory.NotSpecified
    target = to_ps(rec.target) if rec.target is not None else None
    info = ErrorCategoryInfo(
        Category=category,
        Activity=activity or None,
        Reason=short_type,
        TargetName=str(rec.target) if rec.target is not None else None,
        TargetType=type(rec.target).__name__ if rec.target is not None else None,
    )
    return PSErrorRecord(Exception=exception, CategoryInfo=info, TargetObject=target,
                         FullyQualifiedErrorId=rec.fqid or short_type)


class _PipelineStreams:
    """`Streams` for one running pipeline: every write is queued for the client's next Receive."""

    def __init__(self, shell: "PSRPShell", run: "_Run") -> None:
        self._shell = shell
        self._run = run
        self.activity = ""

    def _write(self, fn: str, *args: Any, **kwargs: Any) -> None:
        pipeline = self._run.pipeline
        if pipeline.state != PSInvocationState.Running:
            return  # stopped or already ended: real PowerShell drops late writes too
        getattr(pipeline, fn)(*args, **kwargs)
        self._shell._queued()

    def output(self, obj: Any) -> None:
        self._write("write_output", NULL_OUTPUT if obj is None else to_ps(obj))

    def error(self, rec: ErrorRecord) -> None:
        r = ps_error_record(rec, self.activity)
        self._write("write_error", r.Exception, r.CategoryInfo, r.TargetObject, r.FullyQualifiedErrorId)

    def warning(self, text: str) -> None:
        self._write("write_warning", str(text))

    def verbose(self, text: str) -> None:
        self._write("write_verbose", str(text))

    def debug(self, text: str) -> None:
        self._write("write_debug", str(text))

    def information(self, text: str) -> None:
        self._write("write_information", str(text), "Write-Host", tags=["PSHOST"])

    def progress(self, activity: str, status: str, percent: int) -> None:
        self._write("write_progress", str(activity), 0, str(status), percent_complete=int(percent))


@dataclass
class _Run:
    pipeline: psrpcore.ServerPipeline
    command_id: str
    statements: list[list[PipelineCommand]] = field(default_factory=list)
    input: list[Any] = field(default_factory=list)
    created: bool = False
    task: asyncio.Task | None = None
    finished: bool = False


def _statements(powershell: psrpcore.PowerShell) -> list[list[PipelineCommand]]:
    """Split the received pipeline into statements (pypsrp's `add_statement`) of structured commands."""
    out: list[list[PipelineCommand]] = [[]]
    for cmd in powershell.commands:
        named: dict[str, Any] = {}
        positional: list[Any] = []
        for name, value in cmd.parameters:
            if name is None:
                positional.append(from_ps(value))
            else:
                # pypsrp sends a switch as a named parameter without a value.
                named[str(name)] = True if value is None else from_ps(value)
        out[-1].append(PipelineCommand(name=str(cmd.command_text), is_script=bool(cmd.is_script),
                                       parameters=named, args=positional))
        if cmd.end_of_statement:
            out.append([])
    return [s for s in out if s]


class PSRPShell:
    """One runspace pool (WinRM ShellId = the client's RunspacePool id) and its pipelines."""

    def __init__(self, shell_id: str, dispatcher: Dispatcher, *, application_private_data: dict | None = None
                 ) -> None:
        self.shell_id = shell_id.upper()
        self.dispatcher = dispatcher
        self.pool = psrpcore.ServerRunspacePool(application_private_data or default_private_data())
        self.runs: dict[uuid.UUID, _Run] = {}
        self.closed = False
        self._queues: dict[uuid.UUID | None, list] = {}
        self._changed = asyncio.Event()

    # --- input from the client --------------------------------------------------------------------------------

    def create(self, data: bytes) -> None:
        """Feed the creationXml of the WSMan Create (SESSION_CAPABILITY + INIT_RUNSPACEPOOL)."""
        self._feed(data, None)

    def command(self, command_id: str, data: bytes) -> str:
        """Start a pipeline for the WSMan Command (its first CREATE_PIPELINE fragments); return its CommandId."""
        pid = uuid.UUID(command_id)
        run = _Run(psrpcore.ServerPipeline(self.pool, pid), command_id.upper())
        self.runs[pid] = run
        self._feed(data, pid)
        return run.command_id

    def send(self, command_id: str | None, data: bytes) -> None:
        """Feed a WSMan Send: more pipeline fragments and input, or pool messages (key exchange) without an id."""
        pid = self._run(command_id).pipeline.pipeline_id if command_id else None
        self._feed(data, pid)

    def signal(self, command_id: str, code: str) -> None:
        """Terminate (pypsrp's close) or stop (Ctrl+C) a pipeline."""
        run = self._run(command_id)
        if run.task is not None and not run.task.done():
            run.task.cancel()
        if code == SIGNAL_PS_CTRL_C and run.pipeline.state == PSInvocationState.Running:
            run.pipeline.stop()
            run.finished = True
            self._queued()
        elif code != SIGNAL_PS_CTRL_C:
            self.runs.pop(run.pipeline.pipeline_id, None)
            self.pool.pipeline_table.pop(run.pipeline.pipeline_id, None)
            self._queues.pop(run.pipeline.pipeline_id, None)

    def close(self) -> None:
        """The WSMan Delete: stop everything in this pool."""
        self.closed = True
        for run in self.runs.values():
            if run.task is not None and not run.task.done():
                run.task.cancel()
        self.runs.clear()
        self._queues.clear()
        self._changed.set()

    # --- output to the client ---------------------------------------------------------------------------------

    async def receive(self, command_id: str | None, max_bytes: int, timeout: float) -> tuple[bytes, bool]:
        """Wait up to `timeout` for data for the pool (`command_id=None`) or one pipeline; return (PSRP bytes of at
        most `max_bytes`, whether that pipeline is done and fully drained). Raises `OperationTimedOut`."""
        run = self._run(command_id) if command_id else None
        key = run.pipeline.pipeline_id if run else None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            data = self._take(key, max_bytes)
            if data or (run is not None and run.finished):
                done = run is not None and run.finished and not self._queues.get(key)
                return data, done
            if self.closed:
                raise UnknownCommand(command_id or self.shell_id)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise OperationTimedOut()
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    # --- internals ---------------------------------------------------------------------------------------------

    def _run(self, command_id: str) -> _Run:
        try:
            run = self.runs.get(uuid.UUID(command_id))
        except ValueError:
            run = None
        if run is None:
            raise UnknownCommand(command_id)
        return run

    def _feed(self, data: bytes, pid: uuid.UUID | None) -> None:
        self.pool.receive_data(PSRPPayload(data, StreamType.default, pid))
        while (event := self.pool.next_event()) is not None:
            self._on_event(event)
        self._queued()

    def _on_event(self, event: psrpcore.PSRPEvent) -> None:
        if isinstance(event, psrpcore.CreatePipelineEvent):
            run = self.runs[event.pipeline_id]
            run.statements = _statements(event.pipeline)
            run.created = True
            if event.pipeline.no_input:
                self._start(run)
        elif isinstance(event, psrpcore.PipelineInputEvent):
            self.runs[event.pipeline_id].input.append(from_ps(event.data))
        elif isinstance(event, psrpcore.EndOfPipelineInputEvent):
            run = self.runs[event.pipeline_id]
            if run.created and run.task is None:
                self._start(run)
        elif isinstance(event, psrpcore.GetCommandMetadataEvent):
            self._start(self.runs[event.pipeline_id])
        elif isinstance(event, psrpcore.GetAvailableRunspacesEvent):
            busy = sum(1 for r in self.runs.values() if r.task is not None and not r.finished)
            self.pool.runspace_availability_response(event.ci, max(self.pool.max_runspaces - busy, 0))
        elif isinstance(event, (psrpcore.SetMaxRunspacesEvent, psrpcore.SetMinRunspacesEvent,
                                psrpcore.ResetRunspaceStateEvent)):
            self.pool.runspace_availability_response(event.ci, True)

    def _start(self, run: _Run) -> None:
        run.pipeline.start()
        run.task = asyncio.get_running_loop().create_task(self._execute(run))

    async def _execute(self, run: _Run) -> None:
        streams = _PipelineStreams(self, run)
        try:
            for i, statement in enumerate(run.statements):
                streams.activity = statement[0].name if not statement[0].is_script else ""
                await self.dispatcher.run_pipeline(statement, run.input if i == 0 else [], streams)
            if run.pipeline.state == PSInvocationState.Running:
                run.pipeline.complete()
        except asyncio.CancelledError:
            raise
        except PipelineFailed as exc:
            self._fail(run, ps_error_record(exc.record, streams.activity))
        except Exception as exc:  # a handler bug still ends the pipeline the way PowerShell would
            log.exception("pipeline handler raised")
            record = ErrorRecord(message=str(exc) or type(exc).__name__, category="NotSpecified",
                                 fqid=type(exc).__name__,
                                 exception_type="System.Management.Automation.RuntimeException")
            self._fail(run, ps_error_record(record, streams.activity))
        finally:
            run.finished = True
            self._queued()

    def _fail(self, run: _Run, record: PSErrorRecord) -> None:
        if run.pipeline.state == PSInvocationState.Running:
            # psrpcore's ServerPipeline has no public "fail"; this emits PIPELINE_STATE=Failed with the record.
            run.pipeline._change_state(PSInvocationState.Failed, error=record)

    def _queued(self) -> None:
        """Move what psrpcore prepared into the per-target queues and wake waiting Receives."""
        buffer = self.pool._send_buffer
        if buffer:
            for message in buffer:
                self._queues.setdefault(message.pipeline_id, []).append(message)
            buffer.clear()
        self._changed.set()

    def _take(self, key: uuid.UUID | None, max_bytes: int) -> bytes:
        """Up to `max_bytes` of fragments for one target (psrpcore only packs messages of the head target)."""
        queue = self._queues.get(key)
        if not queue:
            return b""
        saved = self.pool._send_buffer
        self.pool._send_buffer = queue
        try:
            payload = self.pool.data_to_send(max(max_bytes, 22))
        finally:
            self.pool._send_buffer = saved
        if not queue:
            self._queues.pop(key, None)
        return payload.data if payload else b""
