"""Fixtures for the WinRM/PSRP wire tests: a tiny host (dict file system + a handful of cmdlets) behind a
`WinRMServer`, and pypsrp clients built the way product code builds them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
from pypsrp.client import Client
from pypsrp.wsman import WSMan

from lab.tls import LabCA
from lab.windows.dispatch import (
    ErrorRecord,
    FileTransfer,
    Hashtable,
    PipelineCommand,
    PipelineFailed,
    PSObj,
    Streams,
)
from lab.windows.wire_faults import WireFaults
from lab.windows.wsman import WinRMServer

USER = "Administrator"
PASSWORD = "Lab-Passw0rd!"
DOMAIN = "K8S-WW"


class DictFS:
    """A Windows file system as a dict of path → bytes (case-insensitive like NTFS)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.dirs: set[str] = {"c:\\", "c:\\users\\administrator\\documents"}

    def write_bytes(self, path: str, data: bytes) -> None:
        self.files[path.lower()] = bytes(data)

    def read_bytes(self, path: str) -> bytes:
        if path.lower().rstrip("\\") + "\\" in {d.rstrip("\\") + "\\" for d in self.dirs}:
            raise IsADirectoryError(path)
        try:
            return self.files[path.lower()]
        except KeyError:
            raise FileNotFoundError(path) from None


@dataclass
class TestHost:
    """A test Dispatcher: records every statement it runs and implements a few cmdlets."""

    __test__ = False
    fs: DictFS = field(default_factory=DictFS)
    calls: list[tuple[list[PipelineCommand], list[Any]]] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    gate_entered: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: list[str] = field(default_factory=list)  # handlers cancelled by a stop signal

    def __post_init__(self) -> None:
        self.transfer = FileTransfer(self.fs)

    async def run_pipeline(self, commands: list[PipelineCommand], input: list[Any], streams: Streams) -> None:
        self.calls.append((commands, input))
        if await self.transfer.handle(commands, input, streams):
            return
        objects: list[Any] = list(input)
        for cmd in commands:
            objects = await self._run_one(cmd, objects, streams)
        for obj in objects:
            streams.output(obj)

    async def _run_one(self, cmd: PipelineCommand, objects: list[Any], streams: Streams) -> list[Any]:
        p = cmd.parameters
        name = cmd.name if not cmd.is_script else "<script>"
        if name == "<script>":
            return [PSObj(["Lab.ScriptResult"], {"Script": cmd.name, "Parameters": Hashtable(p), "Args": list(cmd.args)},
                          to_string="script")]
        if name == "Write-Output":
            return objects + ([p["InputObject"]] if "InputObject" in p else list(cmd.args))
        if name == "Get-Values":
            return objects + ["text", 42, 2**40, True, None, 1.25, b"\x00\x01", ["a", 1]]
        if name == "Get-Params":
            return objects + [{"Name": cmd.name, "Parameters": p, "Args": cmd.args}]
        if name == "Get-Item":
            path = p.get("Path") or (cmd.args[0] if cmd.args else "")
            if path.lower() in self.fs.files:
                return objects + [PSObj(["System.IO.FileInfo", "System.IO.FileSystemInfo", "System.Object"],
                                        {"FullName": path, "Length": len(self.fs.files[path.lower()])},
                                        to_string=path)]
            streams.error(ErrorRecord(
                message=f"Cannot find path '{path}' because it does not exist.", category="ObjectNotFound",
                fqid="PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand",
                exception_type="System.Management.Automation.ItemNotFoundException", target=path))
            return objects
        if name == "Measure-Input":
            return [{"Count": len(objects), "Items": objects}]
        if name == "Write-Streams":
            streams.warning("careful")
            streams.verbose("details")
            streams.information("hello host")
            streams.progress("Installing", "50% done", 50)
            return objects + ["streams written"]
        if name == "Get-Big":
            size = int(p["Size"])
            return objects + ["x" * size for _ in range(int(p.get("Count", 1)))]
        if name == "Stop-Hard":
            raise PipelineFailed(ErrorRecord(message="The installer failed: VNI must be 4096 or greater",
                                             category="InvalidArgument", fqid="Lab.InstallFailed",
                                             exception_type="System.Management.Automation.RuntimeException"))
        if name == "Raise-Bug":
            raise ValueError("handler bug: unexpected state")
        if name == "Wait-Gate":
            self.gate_entered.set()
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.cancelled.append(name)
                raise
            return objects + ["gate passed"]
        if name == "Invoke-Expression":
            return objects + [f"ran: {p['Command']}"]
        if name == "Out-String":
            return [str(o) for o in objects]
        if name == "Out-Null":
            return []
        if name == "New-Item":
            return objects
        raise PipelineFailed(ErrorRecord(
            message=f"The term '{cmd.name}' is not recognized as the name of a cmdlet, function, script file, or "
                    "operable program.", category="ObjectNotFound", fqid="CommandNotFoundException",
            exception_type="System.Management.Automation.CommandNotFoundException", target=cmd.name))


@pytest.fixture(scope="session")
def lab_ca(tmp_path_factory) -> LabCA:
    return LabCA(tmp_path_factory.mktemp("wire-ca"))


@dataclass
class WireHost:
    """A started WinRMServer with its test host; `client()` builds a pypsrp Client for it."""

    server: WinRMServer
    host: TestHost
    faults: WireFaults
    ca_file: Path

    def wsman_kwargs(self, *, auth: str = "ntlm", username: str = USER, password: str = PASSWORD,
                     **extra: Any) -> dict[str, Any]:
        https = self.server.tls is not None
        kwargs: dict[str, Any] = dict(port=self.server.port, username=username, password=password, ssl=https,
                                      auth=auth, no_proxy=True, connection_timeout=5, read_timeout=30)
        if https:
            kwargs["cert_validation"] = str(self.ca_file)
        elif auth == "basic":
            kwargs["encryption"] = "never"
        kwargs.update(extra)
        return kwargs

    def client(self, **kw: Any) -> Client:
        return Client("127.0.0.1", **self.wsman_kwargs(**kw))

    def wsman(self, **kw: Any) -> WSMan:
        return WSMan("127.0.0.1", **self.wsman_kwargs(**kw))


@pytest.fixture
async def start_host(lab_ca) -> Callable[..., Any]:
    """Start a WinRMServer (`https=True` by default) with a fresh TestHost; stopped at teardown."""
    started: list[WinRMServer] = []

    async def start(*, https: bool = True, auth: tuple[str, ...] = ("ntlm", "basic"),
                    users: dict[str, str] | None = None, domain: str = DOMAIN) -> WireHost:
        host = TestHost()
        faults = WireFaults()
        server = WinRMServer(host, users=users or {USER: PASSWORD}, domain=domain,
                             tls=lab_ca.server_context("127.0.0.1", "localhost") if https else None,
                             auth=auth, faults=faults)
        await server.start()
        started.append(server)
        return WireHost(server, host, faults, lab_ca.ca_file)

    yield start
    for server in started:
        await server.stop()


@pytest.fixture
async def https_host(start_host) -> WireHost:
    return await start_host()
