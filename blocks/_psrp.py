"""The async PowerShell session a `WindowsHost` opens: PSRP over WinRM (pypsrp in worker threads), its typed
errors, and the conversion of PSRP output to plain Python.

Commands are structured, never text: a command (a cmdlet, a script path, or a native executable) with named
parameters and, for executables, positional arguments. Several statements may share one invocation (one round
trip, see `PowerShellSession.run_statements`). Values are never formatted into script text.

Decisions documented here:
- `ca_bundle` is PEM *text*; while a session is open it sits in a private temp file (mode 0600, removed on close)
  because `requests` wants a path.
- No proxies, ever: `no_proxy=True`, so `HTTP(S)_PROXY` in the runner's environment cannot redirect WinRM.
- Output objects come back as plain Python (see `to_plain`); `run`/`run_statements` raise `RemoteCommandError`
  when a pipeline failed or wrote to the error stream without failing (`Write-Error`). `invoke` returns
  non-terminating error records instead (for scripts that tolerate errors by design).
- Auth: ntlm and basic need nothing more; credssp uses requests-credssp (a dependency); kerberos needs
  pyspnego[kerberos] (gssapi) and a krb5 configuration on the runner, and says so when missing.
- pypsrp's DEBUG logs carry whole WSMan/PSRP payloads (parameter values, copied files): they are redacted.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence, TypeVar

import requests
from pydantic import SecretStr
from pypsrp.client import Client
from pypsrp.complex_objects import GenericComplexObject
from pypsrp.exceptions import (
    AuthenticationError,
    WinRMError,
    WinRMTransportError,
    WSManFaultError,
    _InvalidStateError,
)
from pypsrp.powershell import PowerShell, RunspacePool

if TYPE_CHECKING:
    from prefect_windows_nodes.blocks.windows import WindowsHost

class _RedactPayloads(logging.Filter):
    """pypsrp logs every WSMan message and PSRP payload at DEBUG, i.e. parameter values, copied file contents
    (kubeconfigs) and fetched data. Keep those records, but without the payload."""

    PREFIXES = ("Sending message", "Received message", "Packing PSRP message", "Unpacking PSRP message")

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.msg if isinstance(record.msg, str) else ""
        for prefix in self.PREFIXES:
            if msg.startswith(prefix):
                record.msg = f"{prefix}: <{len(msg)} characters redacted by prefect-windows-nodes>"
                record.args = ()
                break
        return True


for _name in ("pypsrp.wsman", "pypsrp.messages"):
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, _RedactPayloads) for f in _logger.filters):
        _logger.addFilter(_RedactPayloads())

T = TypeVar("T")


# --------------------------------------------------------------------------------------------------- errors
class WindowsHostError(Exception):
    """Base class of every error the Windows session raises."""


class WinRMTransientError(WindowsHostError, ConnectionError):
    """The connection failed in a way worth retrying: reset, refused, timed out, HTTP 429 or 5xx.
    (Also a builtin `ConnectionError`, so generic transient-error checks such as `tasks.retry` see it.)"""


class WinRMAuthError(WindowsHostError):
    """The host rejected the credentials (HTTP 401). Never retried."""


class WinRMCertificateError(WindowsHostError):
    """The host's TLS certificate did not validate against the configured trust. Never retried."""


class WinRMProtocolError(WindowsHostError):
    """Any other WinRM/PSRP failure (unexpected HTTP status, WSMan fault, protocol state)."""


@dataclass(frozen=True)
class RemoteErrorRecord:
    """One PowerShell ErrorRecord, reduced to what a report needs."""

    message: str
    category: str = "NotSpecified"
    fqid: str = ""
    target: str = ""

    def __str__(self) -> str:
        return f"{self.message} ({self.category}; {self.fqid})" if self.fqid else self.message


class RemoteCommandError(WindowsHostError):
    """A command ran on the host and reported errors (pipeline failed, or the error stream is not empty)."""

    def __init__(self, command: str, errors: list[RemoteErrorRecord], output: list[Any] | None = None) -> None:
        self.command = command
        self.errors = list(errors)
        self.output = list(output or [])
        first = errors[0].message if errors else "the pipeline failed"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{command}: {first}{more}")


@dataclass
class CommandResult:
    """Everything one command produced: output objects (plain Python), error records, whether the pipeline
    failed (terminating error), and what it printed to the host (Write-Host and warnings)."""

    command: str
    output: list[Any]
    errors: list[RemoteErrorRecord]
    failed: bool = False
    host_output: list[str] | None = None

    def raise_on_errors(self) -> "CommandResult":
        """Raise RemoteCommandError if the pipeline failed or wrote error records; else return self."""
        if self.failed or self.errors:
            raise RemoteCommandError(self.command, self.errors or [RemoteErrorRecord("the pipeline failed")],
                                     self.output)
        return self


@dataclass(frozen=True)
class Command:
    """One structured command: a name (cmdlet, script path or executable), named parameters, and positional
    arguments (for executables only). Values travel as typed PSRP objects, never as script text."""

    name: str
    parameters: dict[str, Any] = field(default_factory=dict)
    args: tuple[Any, ...] = ()


_MARKER = "prefect-windows-nodes-statement:"


def _split_outputs(output: list[Any], prefix: str, count: int) -> list[list[Any]]:
    """Cut a flat output list at the marker objects `run_statements` wrote before each statement."""
    parts: list[list[Any]] = [[] for _ in range(count)]
    current: list[Any] | None = None
    for obj in output:
        if isinstance(obj, str) and obj.startswith(prefix):
            current = parts[int(obj[len(prefix):])]
            continue
        if current is None:  # only if the host reordered output; never drop objects silently
            raise WinRMProtocolError(f"output arrived before the first statement marker: {obj!r:.80}")
        current.append(obj)
    return parts


# PowerShell's System.Management.Automation.ErrorCategory, by value.
_ERROR_CATEGORIES = [
    "NotSpecified", "OpenError", "CloseError", "DeviceError", "DeadlockDetected", "InvalidArgument",
    "InvalidData", "InvalidOperation", "InvalidResult", "InvalidType", "MetadataError", "NotImplemented",
    "NotInstalled", "ObjectNotFound", "OperationStopped", "OperationTimeout", "SyntaxError", "ParserError",
    "PermissionDenied", "ResourceBusy", "ResourceExists", "ResourceUnavailable", "ReadError", "WriteError",
    "FromStdErr", "SecurityError", "ProtocolError", "ConnectionError", "AuthenticationError", "LimitsExceeded",
    "QuotaExceeded", "NotEnabled",
]


def error_record_from_pypsrp(rec: Any) -> RemoteErrorRecord:
    """Reduce a pypsrp ErrorRecord (or anything printable) to a `RemoteErrorRecord`."""
    message = ""
    exc = getattr(rec, "exception", None)
    if isinstance(exc, GenericComplexObject):
        props = {**exc.adapted_properties, **exc.extended_properties}
        if isinstance(props.get("Message"), str):
            message = props["Message"]
    if not message:
        message = str(rec) if getattr(rec, "_to_string", None) is not None else ""
    if not message:
        message = getattr(rec, "message", None) or getattr(rec, "details_message", None) or "unknown error"
    cat = getattr(rec, "category", None)
    category = _ERROR_CATEGORIES[cat] if isinstance(cat, int) and 0 <= cat < len(_ERROR_CATEGORIES) else (
        str(cat) if cat else "NotSpecified")
    target = getattr(rec, "target_name", None) or ""
    return RemoteErrorRecord(message=str(message), category=category, fqid=str(getattr(rec, "fq_error", "") or ""),
                             target=str(target))


# ------------------------------------------------------------------------------------------ object conversion
def to_plain(value: Any, _depth: int = 0) -> Any:
    """Convert a deserialized PSRP value to plain Python: PSObjects with properties become dicts (adapted and
    extended properties merged), enums their name, collections lists/dicts, primitives stay as they are."""
    if _depth > 20:
        return str(value)
    if value is None or isinstance(value, (str, bool, int, float, bytes)):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [to_plain(v, _depth + 1) for v in value]
    if isinstance(value, Queue):
        return [to_plain(v, _depth + 1) for v in list(value.queue)]
    if isinstance(value, dict):
        return {_key(to_plain(k, _depth + 1)): to_plain(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, GenericComplexObject):
        props = {**value.adapted_properties, **value.extended_properties}
        if props:
            return {str(k): to_plain(v, _depth + 1) for k, v in props.items()}
        if any(t.endswith("System.Enum") for t in value.types) and value.to_string is not None:
            return value.to_string
        if len(value.property_sets) == 1:  # a primitive wrapped in a PSObject (e.g. with a note property)
            return to_plain(value.property_sets[0], _depth + 1)
        if value.property_sets:
            return [to_plain(v, _depth + 1) for v in value.property_sets]
        return value.to_string
    return str(value)


def _key(k: Any) -> Any:
    return k if isinstance(k, (str, int, float, bool)) or k is None else str(k)


# --------------------------------------------------------------------------------------------- error mapping
_TRANSIENT_HTTP = {408, 425, 429}


def map_winrm_error(exc: BaseException, what: str) -> WindowsHostError:
    """Map a pypsrp/requests exception to this module's typed errors (no secret ever in the message)."""
    if isinstance(exc, WindowsHostError):
        return exc
    if isinstance(exc, requests.exceptions.SSLError) and _is_certificate_failure(exc):
        return WinRMCertificateError(f"{what}: the host's TLS certificate was not accepted: {_short(exc)}")
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError,
                        TimeoutError)):
        return WinRMTransientError(f"{what}: connection failed: {_short(exc)}")
    if isinstance(exc, AuthenticationError):
        return WinRMAuthError(f"{what}: the host rejected the credentials (HTTP 401)")
    if isinstance(exc, WinRMTransportError):
        code = exc.code
        if code == 401:
            return WinRMAuthError(f"{what}: the host rejected the credentials (HTTP 401)")
        if code >= 500 or code in _TRANSIENT_HTTP:
            return WinRMTransientError(f"{what}: HTTP {code} from the WinRM endpoint")
        return WinRMProtocolError(f"{what}: HTTP {code} from the WinRM endpoint")
    if isinstance(exc, WSManFaultError):
        return WinRMProtocolError(f"{what}: {_short(exc)}")
    if isinstance(exc, _InvalidStateError):
        # The pool or pipeline ended up Broken/Closed under us: usually the connection was lost mid-call.
        return WinRMTransientError(f"{what}: session state lost: {_short(exc)}")
    if isinstance(exc, WinRMError):
        return WinRMProtocolError(f"{what}: {_short(exc)}")
    return WinRMProtocolError(f"{what}: {type(exc).__name__}: {_short(exc)}")


def _is_certificate_failure(exc: BaseException) -> bool:
    """True when a TLS error is a certificate verification failure (not worth retrying), as opposed to a TLS
    connection cut mid-handshake or mid-stream (SSLEOFError, resets: the host dropped connections)."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ssl.SSLCertVerificationError):
            return True
        if isinstance(e, BaseException):
            text = str(e)
            if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
                return True
            todo.extend([e.__cause__, e.__context__, getattr(e, "reason", None), *e.args])
    return False


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "..."



# ---------------------------------------------------------------------------------------------- the session
class PowerShellSession:
    """An open PSRP runspace pool on one host. Calls are serialized (pypsrp is not thread-safe) and each
    runs in a worker thread so the event loop is never blocked."""

    def __init__(self, host: WindowsHost) -> None:
        self._host = host
        self._lock = asyncio.Lock()
        self._client: Client | None = None
        self._pool: RunspacePool | None = None
        self._ca_path: str | None = None
        self._tmpdir: tempfile.TemporaryDirectory | None = None
        #: What the last command printed to the host (Write-Host / information) and its warnings, as text lines.
        #: Installers report through these; a caller may quote them in a failure report.
        self.last_host_output: list[str] = []

    def __repr__(self) -> str:
        state = "open" if self._pool is not None else "closed"
        return f"PowerShellSession({self._host.username}@{self._host.address}:{self._host.port}, {state})"

    @property
    def target(self) -> str:
        """`address:port` of the host, for reports."""
        return f"{self._host.address}:{self._host.port}"

    # ---- lifecycle
    async def open(self) -> None:
        """Connect and open the runspace pool (idempotent)."""
        async with self._lock:
            await self._ensure_open()

    async def close(self) -> None:
        """Close the runspace pool and the HTTP session; remove the temporary CA file. Never raises."""
        async with self._lock:
            await asyncio.to_thread(self._close_sync)
            if self._tmpdir is not None:
                self._tmpdir.cleanup()
                self._tmpdir = None
                self._ca_path = None

    async def reconnect(self) -> None:
        """Drop the current connection and runspace pool (the host may have cut them) and open new ones."""
        async with self._lock:
            await asyncio.to_thread(self._close_sync)
            await self._ensure_open()

    async def _ensure_open(self) -> None:
        if self._pool is not None:
            return
        if self._host.ca_bundle and self._ca_path is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="winrm-ca-")
            fd, path = tempfile.mkstemp(suffix=".pem", dir=self._tmpdir.name)  # mkstemp: mode 0600
            with os.fdopen(fd, "w") as f:
                f.write(self._host.ca_bundle)
            self._ca_path = path
        if self._host.auth == "kerberos" and not _kerberos_available():
            raise WinRMProtocolError(f"connect to {self.target}: auth 'kerberos' needs the Kerberos libraries on "
                                     "this runner: pip install 'pyspnego[kerberos]' (gssapi), a krb5.conf for the "
                                     "realm, and the host's name (not its IP) as address.")
        try:
            await asyncio.to_thread(self._open_sync)
        except Exception as exc:
            await asyncio.to_thread(self._close_sync)
            raise map_winrm_error(exc, f"connect to {self.target}") from exc

    def _open_sync(self) -> None:
        client = Client(**self._host.client_kwargs(self._ca_path))
        self._client = client
        pool = RunspacePool(client.wsman)
        pool.open()
        self._pool = pool

    def _close_sync(self) -> None:
        pool, client = self._pool, self._client
        self._pool = self._client = None
        if pool is not None:
            try:
                pool.close()
            except Exception:  # the connection may already be gone; nothing to clean up remotely then
                pass
        if client is not None:
            try:
                client.close()
            except Exception:
                pass

    async def _call(self, what: str, fn: Callable[[], T]) -> T:
        async with self._lock:
            await self._ensure_open()
            try:
                return await asyncio.to_thread(fn)
            except RemoteCommandError:
                raise
            except Exception as exc:
                mapped = map_winrm_error(exc, what)
                if isinstance(mapped, WinRMTransientError):
                    # The pool is unusable after a lost connection; the next call opens a fresh one.
                    await asyncio.to_thread(self._close_sync)
                raise mapped from exc

    # ---- commands
    async def run(self, command: str, /, *args: Any, **parameters: Any) -> list[Any]:
        """Run one command (a cmdlet, a script path like `c:\\x.ps1`, or an executable) with named parameters
        (and positional `args`, for executables: `run("C:\\k\\kubelet.exe", "--version")`); return its output
        objects as plain Python. A parameter value of `True` is sent as `-Name:$true` (switches).

        Raises RemoteCommandError if the pipeline failed or wrote error records."""
        return (await self.invoke(command, *args, **parameters)).raise_on_errors().output

    async def invoke(self, command: str, /, *args: Any, **parameters: Any) -> "CommandResult":
        """Like `run`, but non-terminating error records do not raise: they come back in the result with the
        output and host output, for commands whose scripts tolerate errors by design (e.g. the Calico installer
        runs `kubectl get ns calico-system`, expecting NotFound on stderr, which a remote session turns into an
        error record). A pipeline that *failed* (terminating error) still raises RemoteCommandError."""
        statement = [Command(command, parameters, args)]
        result = await self._call(command, lambda: self._invoke_sync(command, [statement]))
        if result.failed:
            result.raise_on_errors()
        return result

    async def run_statements(self, statements: Sequence["Command | Sequence[Command]"]) -> list[list[Any]]:
        """Run several statements in ONE invocation (one round trip) and return each statement's output objects,
        in order. A statement is a `Command` or a pipeline of them (`[Command("Get-CimInstance", ...),
        Command("Select-Object", {...})]`).

        The outputs are told apart by a marker object written before each statement (a random nonce per call).
        Raises RemoteCommandError if any statement failed or wrote error records; commands that may find nothing
        take `ErrorAction="SilentlyContinue"`."""
        pipelines = [[s] if isinstance(s, Command) else list(s) for s in statements]
        label = "; ".join(" | ".join(c.name for c in p) for p in pipelines)
        nonce = uuid.uuid4().hex
        marked: list[list[Command]] = []
        for i, pipeline in enumerate(pipelines):
            marked.append([Command("Write-Output", {"InputObject": f"{_MARKER}{nonce}:{i}"})])
            marked.append(pipeline)
        result = await self._call(label, lambda: self._invoke_sync(label, marked))
        result.raise_on_errors()
        return _split_outputs(result.output, f"{_MARKER}{nonce}:", len(pipelines))

    def _invoke_sync(self, label: str, statements: list[list["Command"]]) -> "CommandResult":
        assert self._pool is not None
        ps = PowerShell(self._pool)
        for i, statement in enumerate(statements):
            if i:
                ps.add_statement()
            for cmd in statement:
                ps.add_cmdlet(cmd.name)
                for name, value in cmd.parameters.items():
                    ps.add_parameter(name, _ps_value(value))
                for value in cmd.args:
                    ps.add_argument(_ps_value(value))
        self.last_host_output = []
        ps.invoke()
        self.last_host_output = _host_lines(ps.streams)
        result = CommandResult(command=label, output=[to_plain(o) for o in ps.output],
                               errors=[error_record_from_pypsrp(r) for r in ps.streams.error],
                               failed=bool(ps.had_errors), host_output=list(self.last_host_output))
        try:
            ps.close()
        except WinRMError:
            pass  # the pipeline is finished either way; the server reaps it with the pool
        return result

    # ---- files
    async def copy_bytes(self, data: bytes, remote_path: str) -> None:
        """Write `data` to `remote_path` on the host (replacing it) via pypsrp's `Client.copy`. The bytes pass
        through a private temporary file (mode 0600) that is removed right after."""
        def do() -> None:
            assert self._client is not None
            with tempfile.TemporaryDirectory(prefix="winrm-copy-") as d:
                fd, path = tempfile.mkstemp(dir=d)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                with _remote_failure(f"copy to {remote_path}"):
                    self._client.copy(path, remote_path)

        await self._call(f"copy to {remote_path}", do)

    async def fetch_bytes(self, remote_path: str) -> bytes:
        """Read the file `remote_path` from the host via pypsrp's `Client.fetch` (checksum verified)."""
        def do() -> bytes:
            assert self._client is not None
            with tempfile.TemporaryDirectory(prefix="winrm-fetch-") as d:
                dest = os.path.join(d, "data")
                with _remote_failure(f"fetch {remote_path}"):
                    self._client.fetch(remote_path, dest)
                with open(dest, "rb") as f:
                    return f.read()

        return await self._call(f"fetch {remote_path}", do)


@contextmanager
def _remote_failure(command: str) -> Iterator[None]:
    """`Client.copy`/`fetch` report a failed remote pipeline as a bare `WinRMError` ("Failed to fetch file x: ...");
    that is a remote command error (e.g. the file does not exist), not a transport problem."""
    try:
        yield
    except WinRMError as exc:
        if type(exc) is not WinRMError:  # transport, auth, WSMan faults: mapped by the caller
            raise
        raise RemoteCommandError(command, [RemoteErrorRecord(message=str(exc))]) from None


def _kerberos_available() -> bool:
    try:
        import gssapi  # noqa: F401
    except ImportError:
        return False
    return True


def _host_lines(streams: Any) -> list[str]:
    """Information records (Write-Host) and warnings as text lines, in arrival order per stream."""
    lines: list[str] = []
    for rec in streams.information:
        data = to_plain(getattr(rec, "message_data", None))
        if isinstance(data, dict):
            data = data.get("Message", "")
        lines.extend(str(data or "").splitlines() or [""])
    lines.extend(f"WARNING: {w}" for w in (str(getattr(r, "message", r)) for r in streams.warning))
    return lines


def _ps_value(value: Any) -> Any:
    """Parameter values are sent as typed PSRP objects; SecretStr is unwrapped only here, on the wire."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_ps_value(v) for v in value]
    if isinstance(value, list):
        return [_ps_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _ps_value(v) for k, v in value.items()}
    return value


