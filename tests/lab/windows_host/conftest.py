"""Fixtures for the Windows host model tests: a fresh host with its dispatcher (handlers called directly), and
a started EmulatedWindowsNode reached through the unmodified pypsrp client."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
from pypsrp.client import Client
from pypsrp.powershell import PowerShell, RunspacePool

from lab.clock import LabClock
from lab.tls import LabCA
from lab.windows.dispatch import ErrorRecord, PipelineCommand, PipelineFailed
from lab.windows.faults import HostFaults
from lab.windows.handlers import HostDispatcher
from lab.windows.host import WindowsHost
from lab.windows.node import EmulatedWindowsNode
from lab.windows.records import HostRecords

FAST = LabClock(0.0005)


class FakeStreams:
    """Collects what handlers write."""

    def __init__(self) -> None:
        self.out: list[Any] = []
        self.errors: list[ErrorRecord] = []
        self.warnings: list[str] = []
        self.verbose_lines: list[str] = []
        self.info: list[str] = []
        self.progress_records: list[tuple[str, str, int]] = []

    def output(self, obj: Any) -> None:
        self.out.append(obj)

    def error(self, rec: ErrorRecord) -> None:
        self.errors.append(rec)

    def warning(self, text: str) -> None:
        self.warnings.append(text)

    def verbose(self, text: str) -> None:
        self.verbose_lines.append(text)

    def information(self, text: str) -> None:
        self.info.append(text)

    def progress(self, activity: str, status: str, percent: int) -> None:
        self.progress_records.append((activity, status, percent))


@dataclass
class Result:
    """One pipeline's outcome."""

    out: list[Any]
    errors: list[ErrorRecord]
    warnings: list[str]
    info: list[str]
    failed: ErrorRecord | None = None
    streams: FakeStreams = field(default_factory=FakeStreams)


@dataclass
class HostUnderTest:
    """A host model with its dispatcher and records; `run()` sends one command as the wire would."""

    host: WindowsHost
    dispatcher: HostDispatcher
    records: HostRecords

    async def run(self, name: str, /, _args: list[Any] | None = None, _script: bool = False,
                  _input: list[Any] | None = None, **params: Any) -> Result:
        return await self.pipeline([PipelineCommand(name, _script, params, list(_args or []))], _input or [])

    async def pipeline(self, commands: list[PipelineCommand], input: list[Any] | None = None) -> Result:
        s = FakeStreams()
        failed = None
        try:
            await self.dispatcher.run_pipeline(commands, list(input or []), s)
        except PipelineFailed as exc:
            failed = exc.record
        return Result(s.out, s.errors, s.warnings, s.info, failed, s)


def make_host(faults: dict | None = None, *, build: int = 17763, runtime: str = "containerd",
              name: str = "k8s-ww") -> HostUnderTest:
    """A host model with records wired the way EmulatedWindowsNode wires them."""
    host = WindowsHost.create(name=name, build=build, runtime=runtime, clock=FAST,
                              faults=HostFaults.from_dict(faults))
    records = HostRecords()
    host.on_mutation.append(records.note_mutation)
    host.fs.on_write.append(records.note_file_written)
    return HostUnderTest(host, HostDispatcher(host, records), records)


@pytest.fixture
def hut() -> HostUnderTest:
    """A fresh Windows Server 2019 host with containerd."""
    return make_host()


@pytest.fixture(scope="session")
def lab_ca(tmp_path_factory) -> LabCA:
    return LabCA(tmp_path_factory.mktemp("winhost-ca"))


class FakeKube:
    """Just enough of KubeLab for a node: the API URL the host can reach."""

    url = "https://127.0.0.1:6443"

    def register_node_runtime(self, node_name: str, runtime: Any) -> None:
        pass


@pytest.fixture
async def start_node(lab_ca, tmp_path) -> Callable[..., Any]:
    """Start EmulatedWindowsNodes (stopped at teardown)."""
    nodes: list[EmulatedWindowsNode] = []

    async def start(name: str = "k8s-ww", **kw: Any) -> EmulatedWindowsNode:
        kw.setdefault("build", 17763)
        kw.setdefault("clock", FAST)
        node = await EmulatedWindowsNode.start(name=name, kube=kw.pop("kube", FakeKube()), ca=lab_ca,
                                               state_dir=tmp_path, **kw)
        nodes.append(node)
        return node

    yield start
    for n in nodes:
        await n.stop()


@dataclass
class PSResult:
    """What pypsrp returned for one PowerShell invocation."""

    output: list[Any]
    errors: list[Any]
    had_errors: bool
    warnings: list[Any]


def client_for(node: EmulatedWindowsNode, *, password: str | None = None, auth: str = "ntlm") -> Client:
    """An unmodified pypsrp Client as product code builds it (HTTPS, CA validation, no proxy)."""
    return Client("127.0.0.1", port=node.server.port, username=node.username,
                  password=password if password is not None else node.password, ssl=node.ca_file is not None,
                  auth=auth, cert_validation=str(node.ca_file) if node.ca_file else False, no_proxy=True,
                  connection_timeout=5, read_timeout=30, operation_timeout=20, reconnection_retries=0)


def invoke(node: EmulatedWindowsNode, build: Callable[[PowerShell], Any], **client_kw: Any) -> PSResult:
    """Run one PowerShell pipeline through pypsrp (call in a thread: pypsrp is synchronous)."""
    client = client_for(node, **client_kw)
    try:
        with RunspacePool(client.wsman) as pool:
            ps = PowerShell(pool)
            build(ps)
            out = ps.invoke()
            return PSResult(list(out), list(ps.streams.error), ps.had_errors, list(ps.streams.warning))
    finally:
        client.close()


async def ainvoke(node: EmulatedWindowsNode, build: Callable[[PowerShell], Any], **client_kw: Any) -> PSResult:
    """`invoke` off the event loop."""
    return await asyncio.to_thread(invoke, node, build, **client_kw)


def props(obj: Any) -> dict[str, Any]:
    """A pypsrp object's properties (adapted + extended)."""
    return {**getattr(obj, "adapted_properties", {}), **getattr(obj, "extended_properties", {})}
