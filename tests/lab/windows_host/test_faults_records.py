"""Faults switched on a running host, the `slow` multiplier, and what the records attribute to each command."""

from __future__ import annotations

from dataclasses import dataclass, field

from lab.clock import LabClock
from lab.windows.host import Service

from .conftest import make_host


@dataclass
class RecordingClock(LabClock):
    """A clock that remembers every emulated duration asked for (and does not wait)."""

    asked: list[float] = field(default_factory=list)

    async def sleep(self, real_seconds: float) -> None:
        self.asked.append(real_seconds)


async def test_slow_fault_multiplies_one_operation_only() -> None:
    hut = make_host({"slow": {"download": 10}})
    clock = RecordingClock(0.0)
    hut.host.clock = clock
    await hut.host.delay("download", 2.0)
    await hut.host.delay("hns", 2.0)
    assert clock.asked == [20.0, 2.0]
    hut.host.faults.set("slow", 3)
    await hut.host.delay("image_pull", 1.0)
    assert clock.asked[-1] == 3.0


async def test_download_time_scales_with_size_and_slow_fault() -> None:
    from lab.windows.installers import catalog

    url = next(u for u, e in catalog.DEFAULT_CATALOG._entries.items() if e.kind == "calico-zip")
    times = []
    for faults in ({}, {"slow": {"download": 4}}):
        hut = make_host(faults)
        clock = RecordingClock(0.0)
        hut.host.clock = clock
        await hut.run("Invoke-WebRequest", Uri=url, OutFile="c:\\calico-windows.zip")
        times.append(sum(clock.asked))
    assert times[0] > 1.0 and times[1] == 4 * times[0]


async def test_faults_switched_on_a_running_host() -> None:
    hut = make_host()
    hut.host.faults.listeners.append(lambda name, value: __import__(
        "lab.windows.host_defaults", fromlist=["apply_fault"]).apply_fault(hut.host, name, value))
    hut.host.faults.set("missing_hotfix")
    hut.host.faults.set("disk_full")
    hut.host.faults.set("no_container_runtime")
    version = (await hut.run("Get-ItemProperty", LiteralPath="HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion")).out[0]
    assert int(version.properties["UBR"]) == 253
    disk = (await hut.run("Get-CimInstance", ClassName="Win32_LogicalDisk", Filter="DeviceID='C:'")).out[0]
    assert disk.properties["FreeSpace"] <= 0.5 * 1024 ** 3
    runtime = await hut.run("Get-Service", Name=["containerd", "docker"], ErrorAction="SilentlyContinue")
    assert runtime.out == [] and runtime.errors == []


async def test_records_keep_parameters_as_received_and_attribute_background_changes() -> None:
    hut = make_host()
    h = hut.host

    spawned = []

    async def start_slowly(host, svc):
        async def later():
            host.fs.write_text("C:\\svc.log", "started\r\n")
        spawned.append(host.spawn(later()))

    h.add_service(Service("demo", "Demo"))
    h.on_service_start["demo"] = start_slowly
    await hut.run("Start-Service", name="demo", ErrorAction="Stop")
    rec = hut.records.commands[-1]
    assert rec.parameters == {"name": "demo", "ErrorAction": "Stop"}      # names as sent, not canonical
    await spawned[0]                                  # the service's background work, started by the command
    await hut.run("Get-Service", Name="demo")
    assert [c.name for c in hut.records.mutations()] == ["Start-Service"]
    assert rec.files_written == ["C:\\svc.log"] and rec.changes[-1] == "write C:\\svc.log"
    assert hut.records.background_changes == ["new service demo"]     # the test's own setup


async def test_test_setup_changes_are_not_attributed_to_commands() -> None:
    hut = make_host()
    hut.host.fs.write_text("C:\\setup.txt", "x")
    assert hut.records.commands == [] and hut.records.background_changes == ["write C:\\setup.txt"]
