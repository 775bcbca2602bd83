"""What the PSRP wire hands to a Windows host model, and what the host model hands back.

The wire (`lab/windows/psrp.py`) turns each PSRP pipeline into a list of `PipelineCommand`s plus its input objects
and calls `Dispatcher.run_pipeline` once per statement. The dispatcher writes objects and records to `Streams`;
raising `PipelineFailed` (or any other exception) ends the pipeline in the Failed state, which pypsrp reports as
`had_errors=True`.

`FileTransfer` implements pypsrp's `Client.copy` / `Client.fetch` scripts over any object with
`write_bytes(path, data)` / `read_bytes(path)`, so a host model only has to recognise them with
`is_pypsrp_copy_script` / `is_pypsrp_fetch_script`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class PipelineCommand:
    """One command of a PSRP pipeline, as received."""

    name: str  # cmdlet name, or the script text when is_script
    is_script: bool
    parameters: dict[str, Any] = field(default_factory=dict)  # named parameters (switches → True); names as sent
    args: list[Any] = field(default_factory=list)  # positional arguments


@dataclass
class ErrorRecord:
    """A PowerShell ErrorRecord as the host model describes it; the wire fills in the .NET details."""

    message: str
    category: str = "NotSpecified"  # an ErrorCategory name, e.g. "ObjectNotFound", "InvalidArgument"
    fqid: str = ""  # FullyQualifiedErrorId, e.g. "PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand"
    exception_type: str = "System.Exception"
    target: Any = None


class PipelineFailed(Exception):
    """A terminating error: the pipeline ends Failed with `record` as its reason."""

    def __init__(self, record: ErrorRecord | str) -> None:
        if isinstance(record, str):
            record = ErrorRecord(message=record, category="OperationStopped", fqid=record,
                                 exception_type="System.Management.Automation.RuntimeException")
        super().__init__(record.message)
        self.record = record


@dataclass
class PSObj:
    """A PowerShell object with note properties, e.g. a PSCustomObject or a deserialized CIM instance."""

    type_names: list[str]
    properties: dict[str, Any]
    to_string: str | None = None


class Hashtable(dict):
    """A dict to send as a real `System.Collections.Hashtable` (pypsrp gives back a dict); a plain dict is sent as a
    PSCustomObject with note properties (pypsrp gives back an object whose `extended_properties` hold them)."""


class SecureString:
    """A SecureString parameter value received from the client (after the PSRP session key exchange).

    `value` is the clear text; `repr()` and `str()` never show it."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "SecureString(****)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecureString) and other.value == self.value

    def __hash__(self) -> int:
        return hash(("SecureString", self.value))


class Streams(Protocol):
    """What a handler writes to while a pipeline runs (implemented by the wire)."""

    def output(self, obj: Any) -> None: ...  # str/int/bool/float/None/list/dict/PSObj/bytes
    def error(self, rec: ErrorRecord) -> None: ...  # non-terminating: the pipeline still Completes
    def warning(self, text: str) -> None: ...
    def verbose(self, text: str) -> None: ...
    def information(self, text: str) -> None: ...  # Write-Host / Write-Information
    def progress(self, activity: str, status: str, percent: int) -> None: ...


class Dispatcher(Protocol):
    """A host model: runs one PowerShell statement (a pipeline of commands) against its state."""

    async def run_pipeline(self, commands: list[PipelineCommand], input: list[Any], streams: Streams) -> None: ...


# --- pypsrp Client.copy / Client.fetch -------------------------------------------------------------------------

def _pypsrp_script(name: str) -> str | None:
    try:
        from pypsrp._utils import get_pwsh_script
    except ImportError:  # pragma: no cover - pypsrp is a lab dependency
        return None
    return get_pwsh_script(name)


_COPY_SCRIPT = _pypsrp_script("copy.ps1")
_FETCH_SCRIPT = _pypsrp_script("fetch.ps1")
# Markers that survive pypsrp's comment stripping and identify the scripts across pypsrp releases.
_COPY_MARKERS = ("MaximumAllowedMemory", "[System.IO.File]::Move($path, $output_path)", "FromBase64String($input)")
_FETCH_MARKERS = ("ToBase64String($bytes)", "src must be a file", "$fs = $src.OpenRead()")


def is_pypsrp_copy_script(text: str) -> bool:
    """True when `text` is the script pypsrp's `Client.copy` sends (its `copy.ps1`)."""
    return text == _COPY_SCRIPT or all(m in text for m in _COPY_MARKERS)


def is_pypsrp_fetch_script(text: str) -> bool:
    """True when `text` is the script pypsrp's `Client.fetch` sends (its `fetch.ps1`)."""
    return text == _FETCH_SCRIPT or all(m in text for m in _FETCH_MARKERS)


class TransferFileSystem(Protocol):
    def write_bytes(self, path: str, data: bytes) -> None: ...
    def read_bytes(self, path: str) -> bytes: ...  # FileNotFoundError / IsADirectoryError


class FileTransfer:
    """pypsrp's copy and fetch semantics over a host file system.

    `cwd` resolves relative paths the way `GetUnresolvedProviderPathFromPSPath` does in the remote session;
    `env` expands `%VAR%` when the client asked for `expand_variables`.
    """

    def __init__(self, fs: TransferFileSystem, *, cwd: str = "C:\\Users\\Administrator\\Documents",
                 env: dict[str, str] | None = None) -> None:
        self.fs = fs
        self.cwd = cwd
        self.env = env or {}

    async def handle(self, commands: list[PipelineCommand], input: list[Any], streams: Streams) -> bool:
        """Run the statement if it is pypsrp's copy or fetch script and return True; otherwise return False."""
        if len(commands) != 1 or not commands[0].is_script:
            return False
        cmd = commands[0]
        if is_pypsrp_copy_script(cmd.name):
            self.copy(cmd, input, streams)
            return True
        if is_pypsrp_fetch_script(cmd.name):
            self.fetch(cmd, streams)
            return True
        return False

    def copy(self, cmd: PipelineCommand, input: list[Any], streams: Streams) -> str:
        """Write the file pypsrp streamed as base64 chunks (the last input is the base64 of its SHA-1 hex digest);
        output the absolute remote path, as copy.ps1 does."""
        path = self.resolve(*self._path_args(cmd))
        chunks = [base64.b64decode(str(x) if x is not None else "") for x in input]
        if not chunks:
            raise PipelineFailed("Transport failure, no data received")
        data, expected = b"".join(chunks[:-1]), chunks[-1].decode("utf-8", "replace")
        actual = hashlib.sha1(data).hexdigest()
        if actual != expected:
            raise PipelineFailed(f"Transport failure, hash mismatch\r\nActual: {actual}\r\nExpected: {expected}")
        self.fs.write_bytes(path, data)
        streams.output(path)
        return path

    def fetch(self, cmd: PipelineCommand, streams: Streams) -> None:
        """Output the file as one base64 string followed by its SHA-1 hex digest, as fetch.ps1 does; a missing path
        or a directory fails the pipeline with fetch.ps1's own messages."""
        path = self.resolve(*self._path_args(cmd))
        try:
            data = self.fs.read_bytes(path)
        except IsADirectoryError:
            raise PipelineFailed(f"The path at '{path}' is a directory, src must be a file") from None
        except FileNotFoundError:
            raise PipelineFailed(f"The path at '{path}' does not exist") from None
        streams.output(base64.b64encode(data).decode("ascii"))
        streams.output(hashlib.sha1(data).hexdigest())

    def resolve(self, raw: str, expand_variables: bool = False) -> str:
        """The absolute Windows path for `raw`, relative to `cwd`, with `%VAR%` expanded on request."""
        if expand_variables:
            raw = re.sub(r"%([^%]+)%", lambda m: self.env.get(m.group(1), m.group(0)), raw)
        path = raw.replace("/", "\\")
        if re.match(r"^[A-Za-z]:\\", path) or path.startswith("\\\\"):
            return path
        if re.match(r"^[A-Za-z]:$", path):
            return path + "\\"
        if path.startswith("\\"):
            return self.cwd[:2] + path
        parts = [p for p in self.cwd.rstrip("\\").split("\\")]
        for part in path.split("\\"):
            if part in ("", "."):
                continue
            if part == "..":
                if len(parts) > 1:
                    parts.pop()
                continue
            parts.append(part)
        return "\\".join(parts)

    @staticmethod
    def _path_args(cmd: PipelineCommand) -> tuple[str, bool]:
        if not cmd.args:
            raise PipelineFailed("Cannot bind argument to parameter 'Path' because it is null.")
        expand = bool(cmd.args[1]) if len(cmd.args) > 1 else False
        return str(cmd.args[0]), expand
