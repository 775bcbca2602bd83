"""An EmulatedWindowsNode through the unmodified pypsrp client: cmdlets, several statements in one invocation,
PowerShell's error records, and every host fault showing the symptom a real host shows."""

from __future__ import annotations

import asyncio

import pytest
import requests
from pypsrp.exceptions import AuthenticationError, WinRMTransportError
from pypsrp.powershell import PowerShell, RunspacePool

from prefect_windows_nodes.blocks._psrp import error_record_from_pypsrp, to_plain

from .conftest import ainvoke, client_for

CURRENT_VERSION = "HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"
CBS_PENDING = "HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending"


def _facts_statements(ps: PowerShell) -> None:
    """A few statements in one invocation, each behind a marker, as a client reading a host's facts sends them."""
    statements = [
        [("Get-ItemProperty", {"LiteralPath": CURRENT_VERSION})],
        [("Get-HotFix", {}), ("Select-Object", {"ExpandProperty": "HotFixID"})],
        [("Get-WindowsFeature", {"Name": "Containers"})],
        [("Test-Path", {"LiteralPath": CBS_PENDING})],
        [("Get-Service", {"Name": ["containerd", "docker"], "ErrorAction": "SilentlyContinue"})],
        [("Get-CimInstance", {"ClassName": "Win32_LogicalDisk", "Filter": "DeviceID='C:'"})],
        [("Get-CimInstance", {"ClassName": "Win32_OperatingSystem"}),
         ("Select-Object", {"ExpandProperty": "LastBootUpTime"}), ("Get-Date", {"Format": "G"})],
    ]
    for i, statement in enumerate(statements):
        if i:
            ps.add_statement()
        ps.add_cmdlet("Write-Output").add_parameter("InputObject", f"--{i}--").add_statement()
        for name, params in statement:
            ps.add_cmdlet(name)
            for k, v in params.items():
                ps.add_parameter(k, v)


def facts_of(result) -> dict:
    """The facts a join reads, from the output of `_facts_statements`."""
    assert not result.had_errors and result.errors == [], [str(e) for e in result.errors]
    parts: list[list] = []
    for obj in (to_plain(o) for o in result.output):
        if isinstance(obj, str) and obj.startswith("--") and obj.endswith("--"):
            parts.append([])
        else:
            parts[-1].append(obj)
    version, hotfixes, feature, pending, services, disk, boot = parts
    running = [s for s in services if s["Status"] == "Running"]
    return {"UBR": int(version[0]["UBR"]), "OsBuild": f"10.0.{version[0]['CurrentBuildNumber']}.{version[0]['UBR']}",
            "HotFixIds": hotfixes, "ContainersFeature": feature[0]["InstallState"], "PendingReboot": pending[0],
            "ContainerRuntime": services[0]["Name"] if services else "", "ContainerRuntimeRunning": bool(running),
            "FreeDiskGB": int(disk[0]["FreeSpace"]) / 1024 ** 3, "LastBootTime": boot[0]}


async def test_structured_cmdlets(start_node) -> None:
    node = await start_node()
    r = await ainvoke(node, lambda ps: ps.add_cmdlet("Get-Service").add_parameter("Name", "containerd"))
    svc = to_plain(r.output[0])
    assert (svc["Name"], svc["Status"], svc["StartType"]) == ("containerd", "Running", "Automatic")
    await ainvoke(node, lambda ps: ps.add_cmdlet("New-Item").add_parameter("Path", "c:\\k")
                  .add_parameter("ItemType", "Directory"))
    r = await ainvoke(node, lambda ps: ps.add_cmdlet("Test-Path").add_parameter("Path", "C:\\K"))
    assert r.output == [True]
    made = [c for c in node.records.mutations()]
    assert [(c.name, c.parameters) for c in made] == [("New-Item", {"Path": "c:\\k", "ItemType": "Directory"})]


async def test_several_statements_in_one_invocation(start_node) -> None:
    node = await start_node()
    node.host.allow_tcp("127.0.0.1", 6443)

    def build(ps: PowerShell) -> None:
        ps.add_cmdlet("hostname").add_statement()
        ps.add_cmdlet("Test-NetConnection").add_parameter("ComputerName", "127.0.0.1").add_parameter("Port", 6443)
        ps.add_parameter("InformationLevel", "Quiet").add_statement()
        ps.add_cmdlet("Get-Service").add_parameter("Name", ["CalicoNode", "containerd"])
        ps.add_parameter("ErrorAction", "SilentlyContinue").add_statement()
        ps.add_cmdlet("Get-NetIPAddress").add_parameter("AddressFamily", "IPv4")
        ps.add_cmdlet("Select-Object").add_parameter("ExpandProperty", "IPAddress")

    r = await ainvoke(node, build)
    assert not r.had_errors and r.errors == []
    out = [to_plain(o) for o in r.output]
    assert out[0] == "k8s-ww" and out[1] is True and out[2]["Name"] == "containerd"
    assert "172.16.3.172" in out[3:]
    names = [c.name for c in node.records.commands]
    assert names == ["hostname", "Test-NetConnection", "Get-Service", "Get-NetIPAddress", "Select-Object"]
    assert node.records.commands[1].parameters == {"ComputerName": "127.0.0.1", "Port": 6443,
                                                   "InformationLevel": "Quiet"}
    facts = facts_of(await ainvoke(node, _facts_statements))
    assert facts["OsBuild"] == "10.0.17763.1999" and facts["HotFixIds"][-1] == "KB5003646"
    assert facts["LastBootTime"] == node.host.boot_time_text() and facts["ContainerRuntime"] == "containerd"


async def test_unknown_command_and_unknown_parameter_error_records(start_node) -> None:
    node = await start_node()
    r = await ainvoke(node, lambda ps: ps.add_cmdlet("Get-Nothing"))
    assert r.had_errors
    rec = error_record_from_pypsrp(r.errors[0])
    assert rec.message.startswith("The term 'Get-Nothing' is not recognized as the name of a cmdlet")
    assert (rec.category, rec.fqid) == ("ObjectNotFound", "CommandNotFoundException")
    r = await ainvoke(node, lambda ps: ps.add_cmdlet("Get-Service").add_parameter("Bogus", 1))
    rec = error_record_from_pypsrp(r.errors[0])
    assert r.had_errors and rec.message == "A parameter cannot be found that matches parameter name 'Bogus'."
    assert (rec.category, rec.fqid) == ("InvalidArgument",
                                        "NamedParameterNotFound,Microsoft.PowerShell.Commands.GetServiceCommand")
    r = await ainvoke(node, lambda ps: ps.add_cmdlet("Get-Service").add_parameter("Name", "nope"))
    assert not r.had_errors and "Cannot find any service" in error_record_from_pypsrp(r.errors[0]).message


async def test_basic_auth_and_plain_http(start_node) -> None:
    node = await start_node(auth="basic")
    r = await ainvoke(node, lambda ps: ps.add_cmdlet("hostname"), auth="basic")
    assert r.output == ["k8s-ww"]
    plain = await start_node("k8s-ww2", https=False)
    assert plain.winrm_url.startswith("http://") and plain.lab_json()["ca_file"] is None
    r = await ainvoke(plain, lambda ps: ps.add_cmdlet("hostname"))
    assert r.output == ["k8s-ww2"] and plain.host.primary_ipv4() == "172.16.3.173"


async def test_missing_hotfix_shows_an_old_hotfix_list(start_node) -> None:
    node = await start_node(faults={"missing_hotfix": True})
    facts = facts_of(await ainvoke(node, _facts_statements))
    assert facts["HotFixIds"] == ["KB4470788", "KB4480116"] and facts["UBR"] < 379
    assert node.lab_json()["os_build"] == "10.0.17763.253"


async def test_no_container_runtime(start_node) -> None:
    node = await start_node(faults={"no_container_runtime": True})
    facts = facts_of(await ainvoke(node, _facts_statements))
    assert (facts["ContainerRuntime"], facts["ContainerRuntimeRunning"]) == ("", False)


async def test_disk_full_fails_large_writes(start_node) -> None:
    from lab.windows.installers import catalog

    node = await start_node(faults={"disk_full": True})
    facts = facts_of(await ainvoke(node, _facts_statements))
    assert facts["FreeDiskGB"] <= 0.5
    url = next(u for u, e in catalog.DEFAULT_CATALOG._entries.items() if e.kind == "calico-zip")  # ~75 MB
    failure = None
    for i in range(10):
        r = await ainvoke(node, lambda ps: ps.add_cmdlet("Invoke-WebRequest").add_parameter("Uri", url)
                          .add_parameter("OutFile", f"c:\\copy{i}.zip").add_parameter("UseBasicParsing", True))
        if r.had_errors:
            failure = error_record_from_pypsrp(r.errors[0])
            break
    assert failure is not None and failure.message == "There is not enough space on the disk."
    assert 5 <= i <= 7


async def test_wrong_password_is_a_401(start_node) -> None:
    node = await start_node(faults={"wrong_password": True})
    with pytest.raises(AuthenticationError):       # pypsrp's answer to the final HTTP 401
        await ainvoke(node, lambda ps: ps.add_cmdlet("hostname"))
    assert node.server.records.auth_failures >= 1
    assert node.records.commands == []
    node.faults.set("wrong_password", False)
    assert (await ainvoke(node, lambda ps: ps.add_cmdlet("hostname"))).output == ["k8s-ww"]


async def test_winrm_500_then_recovery(start_node) -> None:
    node = await start_node(faults={"winrm_500": 2})
    failures = 0
    for _ in range(4):
        try:
            r = await ainvoke(node, lambda ps: ps.add_cmdlet("hostname"))
        except WinRMTransportError as exc:
            assert exc.code == 500
            failures += 1
            continue
        assert r.output == ["k8s-ww"]
        break
    assert failures == 2


async def test_drop_during_a_named_step_drops_open_connections_once(start_node) -> None:
    node = await start_node(faults={"drop_during": "hns-create"})
    loop = asyncio.get_running_loop()
    drops: list[int] = []

    async def step() -> None:           # what the installer's HNS network creation does, on the host
        drops.append(node.host.drop_point("hns-create"))
        drops.append(node.host.drop_point("hns-create"))

    def session() -> tuple[str, str]:
        client = client_for(node)
        pool = RunspacePool(client.wsman)
        pool.open()
        ps = PowerShell(pool)
        ps.add_cmdlet("hostname")
        first = ps.invoke()[0]
        asyncio.run_coroutine_threadsafe(step(), loop).result()
        ps = PowerShell(pool)
        ps.add_cmdlet("hostname")
        try:
            ps.invoke()
        except (requests.exceptions.ConnectionError, WinRMTransportError) as exc:
            return first, type(exc).__name__
        finally:
            client.close()
        return first, "no error"

    first, err = await asyncio.to_thread(session)
    assert first == "k8s-ww" and err == "ConnectionError"
    assert drops[0] >= 1 and drops[1] == 0          # the step dropped the open connection, once
    assert node.faults.drops_done == ["hns-create"]
    assert (await ainvoke(node, lambda ps: ps.add_cmdlet("hostname"))).output == ["k8s-ww"]


async def test_reboot_required_until_restart(start_node) -> None:
    node = await start_node(faults={"reboot_required": True})
    facts = facts_of(await ainvoke(node, _facts_statements))
    assert facts["ContainersFeature"] == "Available" and facts["ContainerRuntimeRunning"] is False
    r = await ainvoke(node, lambda ps: ps.add_cmdlet("Install-WindowsFeature").add_parameter("Name", "Containers"))
    assert to_plain(r.output[0])["RestartNeeded"] == "Yes"
    facts = facts_of(await ainvoke(node, _facts_statements))
    assert facts["PendingReboot"] is True and facts["ContainersFeature"] == "InstallPending"
    boot = facts["LastBootTime"]
    try:
        await ainvoke(node, lambda ps: ps.add_cmdlet("Restart-Computer").add_parameter("Force", True))
    except requests.exceptions.ConnectionError:
        pass        # the session may die with the host before the client closes it, as on Windows
    await node.host.wait_booted()
    facts = facts_of(await ainvoke(node, _facts_statements))
    assert facts["PendingReboot"] is False and facts["ContainersFeature"] == "Installed"
    assert facts["ContainerRuntimeRunning"] is True and facts["LastBootTime"] != boot


async def test_copy_and_fetch_reach_the_host_filesystem(start_node) -> None:
    node = await start_node()
    data = bytes(range(256)) * 8192   # 2 MB
    node.host.fs.mkdir("C:\\k")

    def roundtrip(tmp: str) -> bytes:
        import os

        src = os.path.join(tmp, "src.bin")
        with open(src, "wb") as f:
            f.write(data)
        client = client_for(node)
        client.copy(src, "C:\\k\\blob.bin")
        dst = os.path.join(tmp, "dst.bin")
        client.fetch("C:\\k\\blob.bin", dst)
        client.close()
        with open(dst, "rb") as f:
            return f.read()

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        assert await asyncio.to_thread(roundtrip, tmp) == data
    assert node.host.fs.read_bytes("c:\\K\\BLOB.BIN") == data
    assert "C:\\k\\blob.bin" in node.records.files_written
