"""PowerShellSession against the lab's real WinRM/PSRP endpoint: what arrives on the wire, what comes back."""

from __future__ import annotations

import logging
import os
import stat

import pytest

from prefect_windows_nodes.blocks import Command, RemoteCommandError, WinRMAuthError, WinRMTransientError

from .conftest import PASSWORD


async def test_cmdlet_parameters_arrive_structured_never_as_script_text(wire):
    tricky = "10.96.0.0/12'; Remove-Item c:\\ -Recurse; '"
    async with wire.block.open_session() as ps:
        out = await ps.run("Set-Thing", Name=tricky, Count=3, Force=True, Items=["a", "b"])
    cmd = wire.host.calls[-1]
    assert (cmd.name, cmd.is_script) == ("Set-Thing", False)
    assert cmd.parameters == {"Name": tricky, "Count": 3, "Force": True, "Items": ["a", "b"]}
    assert out == [{"Command": "Set-Thing", "Parameters": {"Name": tricky, "Count": 3, "Force": True,
                                                           "Items": ["a", "b"]}}]


async def test_output_objects_become_plain_python(wire):
    async with wire.block.open_session() as ps:
        out = await ps.run("Get-Facts")
    assert out == [{"ComputerName": "K8S-WW", "UBR": 1999, "Flags": [True, False],
                    "Nested": {"Name": "x", "Empty": None}}, "second"]


async def test_statements_share_one_invocation_and_come_back_apart(wire):
    async with wire.block.open_session() as ps:
        outs = await ps.run_statements([
            Command("Get-Facts"),
            [Command("Get-Thing", {"Name": "a'; b"}), Command("Select-Object", {"First": 1})],
            Command("C:\\Program Files\\containerd\\containerd.exe", args=("--version",)),
        ])
    assert outs[0] == [{"ComputerName": "K8S-WW", "UBR": 1999, "Flags": [True, False],
                        "Nested": {"Name": "x", "Empty": None}}, "second"]
    assert outs[1] == [{"Command": "Get-Thing", "Parameters": {"Name": "a'; b"}},
                       {"Command": "Select-Object", "Parameters": {"First": 1}}]
    assert [o["Command"] for o in outs[2]] == ["C:\\Program Files\\containerd\\containerd.exe"]
    calls = wire.host.calls
    assert [c.name for c in calls if c.name != "Write-Output"] == [
        "Get-Facts", "Get-Thing", "Select-Object", "C:\\Program Files\\containerd\\containerd.exe"]
    assert not any(c.is_script for c in calls)
    assert calls[-1].args == ["--version"]
    markers = [c.parameters["InputObject"] for c in calls if c.name == "Write-Output"]
    assert len(markers) == 3 and len({m.rsplit(":", 1)[0] for m in markers}) == 1  # one nonce per invocation


async def test_a_failing_statement_fails_the_whole_invocation(wire):
    async with wire.block.open_session() as ps:
        with pytest.raises(RemoteCommandError) as info:
            await ps.run_statements([Command("Get-Facts"), Command("Throw")])
    assert "VNI must be 4096" in str(info.value)


async def test_host_output_of_the_last_command_is_kept(wire):
    async with wire.block.open_session() as ps:
        assert await ps.run("Write-Host") == ["done"]
        assert ps.last_host_output == ["Calico for Windows installer v3.22.5", "Backend networking is vxlan",
                                       "WARNING: careful"]
        await ps.run("Get-Facts")
        assert ps.last_host_output == []


async def test_error_stream_raises_even_when_the_pipeline_completed(wire):
    async with wire.block.open_session() as ps:
        with pytest.raises(RemoteCommandError) as info:
            await ps.run("Write-Error", Message="Cannot find path 'c:\\k'")
        assert info.value.command == "Write-Error"
        assert [e.message for e in info.value.errors] == ["Cannot find path 'c:\\k'"]
        assert info.value.errors[0].category == "WriteError"
        assert info.value.output == ["partial"]
        # The session stays usable after a remote error.
        assert await ps.run("Get-Facts")


async def test_invoke_returns_non_terminating_errors_but_raises_on_a_failed_pipeline(wire):
    async with wire.block.open_session() as ps:
        result = await ps.invoke("Write-Error", Message='Error from server (NotFound): namespaces "x" not found')
        assert (result.output, result.failed) == (["partial"], False)
        assert [e.message for e in result.errors] == ['Error from server (NotFound): namespaces "x" not found']
        with pytest.raises(RemoteCommandError):
            await ps.invoke("Throw")


async def test_failed_pipeline_raises_with_its_record(wire):
    async with wire.block.open_session() as ps:
        with pytest.raises(RemoteCommandError) as info:
            await ps.run("Throw")
    assert info.value.errors[0].message == "The installer failed: VNI must be 4096 or greater"
    assert info.value.errors[0].fqid == "Lab.InstallFailed"


async def test_copy_and_fetch_bytes_round_trip(wire):
    data = bytes(range(256)) * 300  # binary, several fragments
    async with wire.block.open_session() as ps:
        await ps.copy_bytes(data, "c:\\k\\config")
        assert wire.host.fs.files["c:\\k\\config"] == data
        assert await ps.fetch_bytes("c:\\k\\config") == data
        with pytest.raises(RemoteCommandError) as info:
            await ps.fetch_bytes("c:\\nope")
        assert "does not exist" in info.value.errors[0].message


async def test_ca_bundle_file_is_private_and_removed(wire):
    session_cm = wire.block.open_session()
    ps = await session_cm.__aenter__()
    try:
        path = ps._ca_path
        assert path and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        await session_cm.__aexit__(None, None, None)
    assert not os.path.exists(path)


async def test_dropped_connection_is_transient_and_reconnect_recovers(wire):
    async with wire.block.open_session() as ps:
        wire.faults.drop_on_next_request = True  # the next request's connection closes without an answer
        with pytest.raises(WinRMTransientError):
            await ps.run("Get-Facts")
        await ps.reconnect()
        assert (await ps.run("Get-Facts"))[1] == "second"


async def test_connections_dropped_while_a_command_runs_do_not_lose_its_result(wire):
    # Like the HNS network creation: every open connection is cut while the command runs on the host.
    wire.host.drop_on = "Create-Network"
    async with wire.block.open_session() as ps:
        try:
            await ps.run("Create-Network")
        except WinRMTransientError:
            await ps.reconnect()  # the cut hit a request in flight: the caller reconnects and carries on
        assert (await ps.run("Get-Facts"))[1] == "second"
    assert [c.name for c in wire.host.calls].count("Create-Network") == 1


async def test_http_500_is_transient_and_the_next_call_works(wire):
    async with wire.block.open_session() as ps:
        wire.faults.fail_next(1, 500)
        with pytest.raises(WinRMTransientError):
            await ps.run("Get-Facts")
        assert (await ps.run("Get-Facts"))[1] == "second"  # the session reopened by itself


async def test_wrong_password_is_an_auth_error_without_the_password(wire, caplog):
    caplog.set_level(logging.DEBUG)
    bad = wire.block.model_copy(update={"password": wire.block.password.__class__("not-the-password")})
    with pytest.raises(WinRMAuthError) as info:
        async with bad.open_session():
            pass
    assert "not-the-password" not in str(info.value)
    assert "not-the-password" not in caplog.text and PASSWORD not in caplog.text


async def test_debug_logs_never_carry_parameter_values_or_file_contents(wire, caplog):
    import base64

    caplog.set_level(logging.DEBUG)
    secret = "token-5f1e9c0d-never-in-logs"
    async with wire.block.open_session() as ps:
        await ps.run("Set-Secret", Value=secret)
        await ps.copy_bytes(f"users:\n- token: {secret}\n".encode(), "c:\\k\\config")
        await ps.fetch_bytes("c:\\k\\config")
    # Client side only: the in-process lab server (psrpcore) logs what it receives, as a real host's logs would.
    client_side = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("psrpcore", "lab")))
    assert "redacted by prefect-windows-nodes" in client_side  # pypsrp did log its payloads, without them
    for needle in (secret, base64.b64encode(secret.encode()).decode()[:20], PASSWORD):
        assert needle not in client_side
