"""PowerShell Remoting through the emulated endpoint: what the dispatcher receives from pypsrp's
RunspacePool/PowerShell, and what pypsrp gets back (objects, streams, errors, pipeline state)."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import pytest
from pypsrp.complex_objects import GenericComplexObject
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool

from lab.windows.dispatch import PipelineCommand, PSObj, SecureString


def _invoke(host, build: Callable[[PowerShell], Any], *, input: Any = None, exchange_keys: bool = False,
            **kw) -> PowerShell:
    with host.wsman(**kw) as wsman, RunspacePool(wsman) as pool:
        if exchange_keys:
            pool.exchange_keys()
        ps = PowerShell(pool)
        build(ps)
        ps.invoke(input=input)
        return ps


async def invoke(host, build, **kw) -> PowerShell:
    return await asyncio.to_thread(_invoke, host, build, **kw)


async def test_cmdlet_parameters_arrive_structured_with_their_types(https_host):
    ps = await invoke(https_host, lambda ps: (
        ps.add_cmdlet("Get-Params")
        .add_parameter("Name", "calico-node")
        .add_parameter("Port", 4789)
        .add_parameter("Enabled", False)
        .add_parameter("Force")  # a switch
        .add_parameters({"Tags": ["a", "b", 3], "Config": {"VXLAN_VNI": 4096, "Backend": "vxlan"}})
        .add_parameter("Ratio", 2.5)
        .add_parameter("Nothing", "")
        .add_argument("positional")))

    assert ps.state == PSInvocationState.COMPLETED and not ps.had_errors
    (commands, input_), = https_host.host.calls
    assert input_ == []
    assert commands == [PipelineCommand(
        name="Get-Params", is_script=False,
        parameters={"Name": "calico-node", "Port": 4789, "Enabled": False, "Force": True, "Tags": ["a", "b", 3],
                    "Config": {"VXLAN_VNI": 4096, "Backend": "vxlan"}, "Ratio": 2.5, "Nothing": ""},
        args=["positional"])]
    params = commands[0].parameters
    assert [type(params[k]) for k in ("Name", "Port", "Enabled", "Force", "Tags", "Config")] == \
        [str, int, bool, bool, list, dict]


async def test_secure_string_parameter_after_key_exchange(https_host):
    from pypsrp.complex_objects import ObjectMeta
    from pypsrp.serializer import Serializer

    def build(ps: PowerShell) -> None:
        serializer: Serializer = ps.runspace_pool._serializer
        secret = serializer.serialize("token-value", ObjectMeta("SS"))
        ps.add_cmdlet("Get-Params").add_parameter("Token", secret)

    await invoke(https_host, build, exchange_keys=True)

    token = https_host.host.calls[0][0][0].parameters["Token"]
    assert isinstance(token, SecureString) and token.value == "token-value"
    assert "token-value" not in repr(token)


async def test_script_with_parameters(https_host):
    script = "param([string]$KubeDir = 'c:\\k', [int]$Port = 6443)\n$KubeDir"
    ps = await invoke(https_host, lambda ps: ps.add_script(script).add_parameter("KubeDir", "d:\\k")
                      .add_parameter("Port", 16443))

    (commands, _), = https_host.host.calls
    assert commands == [PipelineCommand(name=script, is_script=True, parameters={"KubeDir": "d:\\k", "Port": 16443},
                                        args=[])]
    result = ps.output[0]
    assert result.types[0] == "Lab.ScriptResult"
    assert result.extended_properties["Parameters"] == {"KubeDir": "d:\\k", "Port": 16443}


async def test_output_objects_round_trip(https_host):
    ps = await invoke(https_host, lambda ps: ps.add_cmdlet("Get-Values"))
    https_host.host.calls.clear()
    assert ps.output == ["text", 42, 2**40, True, None, 1.25, b"\x00\x01", ["a", 1]]

    ps = await invoke(https_host, lambda ps: ps.add_cmdlet("Get-Params").add_parameter("Name", "x")
                      .add_parameter("List", [1, "two"]))
    obj = ps.output[0]
    assert isinstance(obj, GenericComplexObject)
    assert obj.types == ["System.Management.Automation.PSCustomObject", "System.Object"]
    # A dict becomes a PSCustomObject with note properties; nested dicts too, hashtables stay dicts.
    assert obj.extended_properties["Name"] == "Get-Params"
    assert obj.extended_properties["Args"] == []
    params = obj.extended_properties["Parameters"]
    assert isinstance(params, GenericComplexObject)
    assert params.extended_properties == {"Name": "x", "List": [1, "two"]}


async def test_psobj_keeps_type_names_and_to_string(https_host):
    https_host.host.fs.write_bytes("C:\\k\\config", b"apiVersion: v1")
    ps = await invoke(https_host, lambda ps: ps.add_cmdlet("Get-Item").add_parameter("Path", "C:\\k\\config"))

    item = ps.output[0]
    assert item.types[0] == "System.IO.FileInfo"
    assert item.extended_properties == {"FullName": "C:\\k\\config", "Length": 14}
    assert str(item) == "C:\\k\\config"


async def test_statements_run_in_order_and_input_goes_to_the_first(https_host):
    ps = await invoke(https_host, lambda ps: (
        ps.add_cmdlet("Measure-Input").add_statement()
        .add_cmdlet("Write-Output").add_parameter("InputObject", "second").add_statement()
        .add_cmdlet("Get-Params").add_parameter("Third", 3)), input=["in-1", "in-2"])

    calls = https_host.host.calls
    assert [[c.name for c in cmds] for cmds, _ in calls] == [["Measure-Input"], ["Write-Output"], ["Get-Params"]]
    assert [inp for _, inp in calls] == [["in-1", "in-2"], [], []]
    assert ps.output[0] == {"Count": 2, "Items": ["in-1", "in-2"]} or \
        ps.output[0].extended_properties == {"Count": 2, "Items": ["in-1", "in-2"]}
    assert ps.output[1] == "second"


async def test_piped_commands_and_input(https_host):
    ps = await invoke(https_host, lambda ps: ps.add_cmdlet("Write-Output").add_cmdlet("Measure-Input"),
                      input=[1, "two", {"three": 3}])

    (commands, input_), = https_host.host.calls
    assert [c.name for c in commands] == ["Write-Output", "Measure-Input"]
    assert input_ == [1, "two", {"three": 3}]
    assert ps.output[0].extended_properties["Count"] == 3


async def test_non_terminating_error_lands_in_streams_error(https_host):
    ps = await invoke(https_host, lambda ps: ps.add_cmdlet("Get-Item").add_parameter("Path", "C:\\missing.txt"))

    assert ps.had_errors is False
    assert ps.state == PSInvocationState.COMPLETED
    err, = ps.streams.error
    assert str(err) == "Cannot find path 'C:\\missing.txt' because it does not exist."
    assert err.fq_error == "PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand"
    assert err.reason == "ItemNotFoundException"
    assert err.activity == "Get-Item"
    assert err.category == 13  # ErrorCategory.ObjectNotFound
    assert err.exception.adapted_properties["Message"] == str(err)
    assert err.exception.types[0] == "System.Management.Automation.ItemNotFoundException"


async def test_pipeline_failed_gives_had_errors(https_host):
    ps = await invoke(https_host, lambda ps: ps.add_cmdlet("Write-Streams").add_statement().add_cmdlet("Stop-Hard")
                      .add_statement().add_cmdlet("Write-Output").add_argument("never"))

    assert ps.had_errors is True
    assert ps.state == PSInvocationState.FAILED
    assert ps.output == ["streams written"]  # the statement after the failure did not run
    assert len(https_host.host.calls) == 2
    err, = ps.streams.error
    assert str(err) == "The installer failed: VNI must be 4096 or greater"
    assert err.fq_error == "Lab.InstallFailed"
    assert err.category == 5  # InvalidArgument


async def test_handler_exception_fails_the_pipeline_with_its_message(https_host):
    ps = await invoke(https_host, lambda ps: ps.add_cmdlet("Raise-Bug"))

    assert ps.had_errors is True
    assert str(ps.streams.error[0]) == "handler bug: unexpected state"


async def test_unknown_command_is_command_not_found(https_host):
    ps = await invoke(https_host, lambda ps: ps.add_cmdlet("Get-Nonsense"))

    assert ps.had_errors is True
    assert "'Get-Nonsense' is not recognized" in str(ps.streams.error[0])


async def test_warning_verbose_information_progress(https_host):
    ps = await invoke(https_host, lambda ps: ps.add_cmdlet("Write-Streams"))

    assert ps.output == ["streams written"]
    assert [w.message for w in ps.streams.warning] == ["careful"]
    assert [v.message for v in ps.streams.verbose] == ["details"]
    assert [i.message_data for i in ps.streams.information] == ["hello host"]
    progress, = ps.streams.progress
    assert (progress.activity, progress.description, progress.percent_complete) == ("Installing", "50% done", 50)


async def test_large_output_spans_several_receives(https_host):
    ps = await invoke(https_host, lambda ps: ps.add_cmdlet("Get-Big").add_parameter("Size", 400_000)
                      .add_parameter("Count", 3))

    assert [len(o) for o in ps.output] == [400_000] * 3
    # pool open + at least 4 pipeline receives: each reply fits pypsrp's MaxEnvelopeSize of 512000 bytes
    assert https_host.server.records.actions["Receive"] >= 1 + 4


async def test_large_command_is_reassembled_across_command_and_send(https_host):
    """A CREATE_PIPELINE larger than one envelope arrives split over Command and Send."""
    blob = "y" * 1_200_000
    ps = await invoke(https_host, lambda ps: ps.add_cmdlet("Get-Params").add_parameter("Blob", blob))

    assert https_host.host.calls[0][0][0].parameters["Blob"] == blob
    assert https_host.server.records.actions["Send"] >= 2
    assert not ps.had_errors


async def test_several_pipelines_in_one_pool_and_multiple_pools(https_host):
    def run() -> list[list[Any]]:
        outputs = []
        with https_host.wsman() as wsman, RunspacePool(wsman) as pool1, RunspacePool(wsman) as pool2:
            for pool, word in [(pool1, "one"), (pool2, "two"), (pool1, "three")]:
                ps = PowerShell(pool)
                ps.add_cmdlet("Write-Output").add_argument(word)
                outputs.append(ps.invoke())
                ps.close()
        return outputs

    assert await asyncio.to_thread(run) == [["one"], ["two"], ["three"]]
    assert https_host.server.shells == {}  # both pools were deleted by pypsrp


async def test_psobj_input_from_client_becomes_psobj(https_host):
    obj = GenericComplexObject()
    obj.types = ["Lab.Thing", "System.Object"]
    obj.extended_properties = {"Name": "thing", "Size": 3}

    await invoke(https_host, lambda ps: ps.add_cmdlet("Write-Output"), input=[obj])

    received = https_host.host.calls[0][1][0]
    assert isinstance(received, PSObj)
    assert received.type_names[0] == "Deserialized.Lab.Thing"  # as PowerShell sees it and received.properties == {"Name": "thing", "Size": 3}


@pytest.mark.parametrize("https", [True, False])
async def test_execute_ps_with_environment(start_host, https):
    host = await start_host(https=https)

    def run():
        with host.client(auth="ntlm") as client:
            return client.execute_ps("Get-ChildItem", environment={"KUBECONFIG": "c:\\k\\config"})

    out, streams, had_errors = await asyncio.to_thread(run)
    assert (out, had_errors) == ("ran: Get-ChildItem", False)
    (env_cmds, _), (cmds, _) = host.host.calls
    assert [(c.name, c.parameters) for c in env_cmds] == [
        ("New-Item", {"Path": "env:", "Name": "KUBECONFIG", "Value": "c:\\k\\config", "Force": True}),
        ("Out-Null", {})]
    assert [(c.name, c.parameters) for c in cmds] == [
        ("Invoke-Expression", {"Command": "Get-ChildItem"}), ("Out-String", {"Stream": True})]


async def test_stop_a_running_pipeline(https_host):
    server, host = https_host.server, https_host.host

    def run() -> tuple:
        with https_host.wsman() as wsman, RunspacePool(wsman) as pool:
            ps = PowerShell(pool)
            ps.add_cmdlet("Wait-Gate")
            ps.begin_invoke()
            asyncio.run_coroutine_threadsafe(host.gate_entered.wait(), loop).result()
            ps.stop()
            after = PowerShell(pool).add_cmdlet("Write-Output").add_argument("still usable").invoke()
            return ps.state, after

    loop = asyncio.get_running_loop()
    state, after = await asyncio.to_thread(run)

    assert state == PSInvocationState.STOPPED
    assert after == ["still usable"]
    await server.wait_for(lambda: host.cancelled == ["Wait-Gate"])  # the handler was cancelled on the host
    assert server.shells == {}


async def test_pool_queries_is_alive_and_available_runspaces(https_host):
    def run() -> tuple:
        with https_host.wsman() as wsman, RunspacePool(wsman) as pool:
            return pool.is_alive(), pool.get_available_runspaces()

    assert await asyncio.to_thread(run) == (True, 1)
