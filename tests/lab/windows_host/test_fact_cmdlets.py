"""The cmdlets a join reads a host's facts with, answered from the host model as Windows answers them: registry,
CIM/WMI, hotfixes, features, services, drives, addresses, reachability, files, boot time, executables' versions.
(The product sends these as several statements in one invocation; `test_e2e` covers that over the wire.)"""

from __future__ import annotations

import pytest

from lab.windows.dispatch import PipelineCommand
from lab.windows.host import Service

from .conftest import HostUnderTest, make_host

CURRENT_VERSION = "HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"
CBS_PENDING = "HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending"
SESSION_MANAGER = "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\Session Manager"


def cmd(name: str, *args: str, **params) -> PipelineCommand:
    return PipelineCommand(name, False, params, list(args))


async def expand(hut: HostUnderTest, first: PipelineCommand, prop: str) -> list:
    r = await hut.pipeline([first, cmd("Select-Object", ExpandProperty=prop)])
    assert r.failed is None and r.errors == [], (r.failed, r.errors)
    return r.out


def props(obj) -> dict:
    return dict(getattr(obj, "properties", None) or obj)


async def test_os_identity_from_the_registry(hut: HostUnderTest) -> None:
    r = await hut.run("Get-ItemProperty", LiteralPath=CURRENT_VERSION)
    version = props(r.out[0])
    assert (version["ProductName"], str(version["CurrentBuildNumber"]), int(version["UBR"])) == (
        "Windows Server 2019 Datacenter Evaluation", "17763", 1999)


async def test_hotfix_ids_and_the_containers_feature(hut: HostUnderTest) -> None:
    assert await expand(hut, cmd("Get-HotFix"), "HotFixID") == [
        "KB5003243", "KB4535680", "KB4577586", "KB4589208", "KB5003711", "KB5003646"]
    feature = props((await hut.run("Get-WindowsFeature", Name="Containers")).out[0])
    assert str(feature["InstallState"].to_string) == "Installed"


@pytest.mark.parametrize("fault,hotfixes,ubr", [({}, 6, 1999), ({"missing_hotfix": True}, 2, 253)])
async def test_an_unpatched_host_shows_an_old_build(fault, hotfixes, ubr) -> None:
    hut = make_host(fault)
    assert len(await expand(hut, cmd("Get-HotFix"), "HotFixID")) == hotfixes
    assert int(props((await hut.run("Get-ItemProperty", LiteralPath=CURRENT_VERSION)).out[0])["UBR"]) == ubr


async def test_pending_reboot_markers(hut: HostUnderTest) -> None:
    assert (await hut.run("Test-Path", LiteralPath=CBS_PENDING)).out == [False]
    quiet = await hut.run("Get-ItemProperty", LiteralPath=SESSION_MANAGER, Name="PendingFileRenameOperations",
                          ErrorAction="SilentlyContinue")
    assert quiet.out == [] and quiet.errors == [] and quiet.failed is None
    loud = await hut.run("Get-ItemProperty", LiteralPath=SESSION_MANAGER, Name="PendingFileRenameOperations")
    assert loud.out == [] and loud.errors and "PendingFileRenameOperations" in loud.errors[0].message
    hut.host.request_reboot()
    assert (await hut.run("Test-Path", LiteralPath=CBS_PENDING)).out == [True]


async def test_runtime_services_by_wql_filter_with_or(hut: HostUnderTest) -> None:
    r = await hut.run("Get-CimInstance", ClassName="Win32_Service", Filter="Name='containerd' OR Name='docker'")
    rows = [props(o) for o in r.out]
    assert [(s["Name"], s["State"]) for s in rows] == [("containerd", "Running")]
    assert rows[0]["PathName"] == '"C:\\Program Files\\containerd\\containerd.exe" --run-service'
    bad = await hut.run("Get-CimInstance", ClassName="Win32_Service", Filter="Name='containerd' OR")
    assert bad.failed is not None and bad.failed.message.startswith("Invalid query")


async def test_runtime_versions_from_the_executables() -> None:
    containerd = make_host()
    r = await containerd.run("C:\\Program Files\\containerd\\containerd.exe", _args=["--version"])
    assert r.out == ["containerd github.com/containerd/containerd v1.7.20 8fc6bcff51318944179630522a095cc9dbf9f353"]
    assert containerd.records.commands[-1].args == ["--version"]
    docker = make_host(build=20348, runtime="docker", name="k8s-ww2")
    r = await docker.run("C:\\Program Files\\Docker\\dockerd.exe", _args=["--version"])
    assert r.out == ["Docker version 20.10.9, build 8fc6bcf"]
    wrong = await containerd.run("C:\\Program Files\\containerd\\containerd.exe", _args=["--bogus"])
    assert wrong.out == [] and wrong.errors[0].message == "flag provided but not defined: --bogus"


async def test_calico_node_version(hut: HostUnderTest) -> None:
    hut.host.fs.write_bytes("C:\\CalicoWindows\\calico-node.exe", b"MZ\nlab-binary: calico-node v3.22.5\n",
                            create_parents=True)
    assert (await hut.run("C:\\CalicoWindows\\calico-node.exe", _args=["-v"])).out == ["v3.22.5"]
    missing = await hut.run("C:\\CalicoWindows\\nope.exe", _args=["-v"])
    assert missing.failed is not None and "is not recognized" in missing.failed.message


async def test_system_drive_free_space_and_addresses(hut: HostUnderTest) -> None:
    assert await expand(hut, cmd("Get-CimInstance", ClassName="Win32_OperatingSystem"), "SystemDrive") == ["C:"]
    disks = [props(d) for d in (await hut.run("Get-CimInstance", ClassName="Win32_LogicalDisk")).out]
    c = next(d for d in disks if d["DeviceID"] == "C:")
    assert c["FreeSpace"] == hut.host.free_bytes("C") and c["FreeSpace"] > 50 * 1024 ** 3
    ips = await expand(hut, cmd("Get-NetIPAddress", AddressFamily="IPv4"), "IPAddress")
    assert "172.16.3.172" in ips and "127.0.0.1" in ips


async def test_api_server_reachability_quietly(hut: HostUnderTest) -> None:
    hut.host.allow_tcp("10.0.0.1", 6443)
    ok = await hut.run("Test-NetConnection", ComputerName="10.0.0.1", Port=6443, InformationLevel="Quiet",
                       WarningAction="SilentlyContinue")
    assert ok.out == [True] and ok.warnings == []
    no = await hut.run("Test-NetConnection", ComputerName="10.0.0.2", Port=6443, InformationLevel="Quiet")
    assert no.out == [False] and "TCP connect to (10.0.0.2 : 6443) failed" in no.warnings


async def test_services_by_names_quietly(hut: HostUnderTest) -> None:
    hut.host.add_service(Service("CalicoNode", "Calico Windows Startup", "Running", "Automatic"))
    r = await hut.run("Get-Service", Name=["CalicoNode", "CalicoFelix", "kubelet"], ErrorAction="SilentlyContinue")
    assert r.errors == [] and [props(s)["Name"] for s in r.out] == ["CalicoNode"]
    status = props(r.out[0])["Status"]
    assert status.to_string == "Running"
    loud = await hut.run("Get-Service", Name=["CalicoNode", "CalicoFelix"])
    assert len(loud.out) == 1 and "Cannot find any service with service name 'CalicoFelix'." in loud.errors[0].message


async def test_config_text_and_the_stored_boot_time(hut: HostUnderTest) -> None:
    h = hut.host
    h.fs.write_text("C:\\CalicoWindows\\config.ps1", '$env:CALICO_NETWORKING_BACKEND="vxlan"\r\n',
                    create_parents=True)
    assert (await hut.run("Get-Content", LiteralPath="C:\\CalicoWindows\\config.ps1", Raw=True)).out == [
        '$env:CALICO_NETWORKING_BACKEND="vxlan"\r\n']
    absent = await hut.run("Get-Content", LiteralPath="C:\\CalicoWindows\\nope.ps1", Raw=True,
                           ErrorAction="SilentlyContinue")
    assert absent.out == [] and absent.errors == []
    h.registry.set_value("HKLM:\\Software\\Tigera\\Calico", "LastBootTime", h.boot_time_text(), create_key=True)
    stored = await hut.run("Get-ItemProperty", LiteralPath="HKLM:\\Software\\Tigera\\Calico", Name="LastBootTime")
    assert props(stored.out[0])["LastBootTime"] == h.boot_time_text()


async def test_boot_time_as_calico_formats_it(hut: HostUnderTest) -> None:
    """`LastBootUpTime.ToString("G")` is what Calico stores; `Get-Date -Format G` formats the same in the host's
    culture (en-US); WMI gives the DMTF string older releases stored."""
    r = await hut.pipeline([cmd("Get-CimInstance", ClassName="Win32_OperatingSystem"),
                            cmd("Select-Object", ExpandProperty="LastBootUpTime"), cmd("Get-Date", Format="G")])
    assert r.out == [hut.host.boot_time_text()]
    boot = hut.host.last_boot_time
    assert r.out[0] == f"{boot.month}/{boot.day}/{boot.year} {boot.hour % 12 or 12}:{boot.minute:02d}:" \
                       f"{boot.second:02d} {'AM' if boot.hour < 12 else 'PM'}"
    dmtf = await expand(hut, cmd("Get-WmiObject", Class="Win32_OperatingSystem"), "LastBootUpTime")
    assert dmtf[0].startswith(boot.strftime("%Y%m%d%H%M%S") + ".")
    bad = await hut.pipeline([cmd("Write-Output", InputObject="yesterday"), cmd("Get-Date", Format="G")])
    assert bad.failed is not None and "Cannot convert value" in bad.failed.message


async def test_newest_log_and_its_tail(hut: HostUnderTest) -> None:
    fs = hut.host.fs
    fs.write_text("C:\\CalicoWindows\\logs\\calico-node.log", "old\r\n", create_parents=True)
    fs.write_text("C:\\CalicoWindows\\logs\\calico-node.err.log", "".join(f"line {i}\r\n" for i in range(10)))
    r = await hut.run("Get-Item", LiteralPath=["C:\\CalicoWindows\\logs\\calico-node.log",
                                              "C:\\CalicoWindows\\logs\\calico-node.err.log",
                                              "C:\\CalicoWindows\\logs\\felix.log"], ErrorAction="SilentlyContinue")
    assert r.errors == [] and len(r.out) == 2
    times = {props(f)["FullName"]: props(f)["LastWriteTimeUtc"] for f in r.out}
    assert times["C:\\CalicoWindows\\logs\\calico-node.err.log"] > times["C:\\CalicoWindows\\logs\\calico-node.log"]
    tail = await hut.run("Get-Content", LiteralPath="C:\\CalicoWindows\\logs\\calico-node.err.log", Tail=3)
    assert tail.out == ["line 7", "line 8", "line 9"]
