"""The shipped tasks/ps scripts: valid PowerShell, a lab handler each with the same parameters, and handlers that
report the model's state in the contract's shape."""

from __future__ import annotations

from pathlib import Path

import pytest
import tree_sitter_powershell
from tree_sitter import Language, Parser

from lab.windows.handlers import DEFAULT_TABLE
from lab.windows.handlers.scripts import log_candidates
from lab.windows.host import Service

from .conftest import PS_DIR, HostUnderTest, make_host

SCRIPTS = sorted(PS_DIR.glob("*.ps1"))
PARSER = Parser(Language(tree_sitter_powershell.language()))


def param_names(path: Path) -> list[str]:
    """Names declared in the script's own param() block (the first in the tree), read from the syntax tree."""
    tree = PARSER.parse(path.read_bytes())
    block = next(n for n in _descendants(tree.root_node) if n.type == "param_block")
    names = []
    for n in _descendants(block):
        if n.type == "script_parameter":
            var = next(c for c in _descendants(n) if c.type == "variable")
            names.append(var.text.decode().lstrip("$"))
    return names


def _descendants(node):
    for c in node.children:
        yield c
        yield from _descendants(c)


def test_there_are_shipped_scripts() -> None:
    assert {p.name for p in SCRIPTS} >= {"Get-WindowsNodeFacts.ps1", "Get-CalicoNodeState.ps1",
                                         "Get-NodeLogTail.ps1"}


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_script_parses_without_errors(path: Path) -> None:
    assert PARSER.parse(path.read_bytes()).root_node.has_error is False


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_script_has_a_lab_handler_with_its_parameters(path: Path) -> None:
    spec = DEFAULT_TABLE.shipped.get(path.name.lower())
    assert spec is not None, f"no lab handler registered for {path.name}"
    assert "[CmdletBinding()]" in path.read_text()
    assert sorted(param_names(path)) == sorted(spec.parameters)


def test_log_candidates_match_the_script() -> None:
    text = (PS_DIR / "Get-NodeLogTail.ps1").read_text()
    for files in log_candidates("C:\\CalicoWindows").values():
        for f in files:
            leaf = f.rsplit("\\", 1)[-1]
            assert leaf in text, f"{leaf} is not read by Get-NodeLogTail.ps1"


async def test_facts_reflect_the_model(hut: HostUnderTest) -> None:
    hut.host.allow_tcp("10.0.0.1", 6443)
    r = await hut.script("Get-WindowsNodeFacts.ps1", ApiServerHost="10.0.0.1", ApiServerPort=6443)
    assert r.failed is None and len(r.out) == 1
    facts = r.out[0]
    assert facts == {
        "ComputerName": "k8s-ww", "OsCaption": "Windows Server 2019 Datacenter Evaluation",
        "OsBuild": "10.0.17763.1999", "BuildNumber": 17763, "UBR": 1999,
        "HotFixIds": ["KB5003243", "KB4535680", "KB4577586", "KB4589208", "KB5003711", "KB5003646"],
        "ContainersFeature": "Installed", "PendingReboot": False, "ContainerRuntime": "containerd",
        "ContainerRuntimeVersion": "1.7.20", "ContainerRuntimeRunning": True,
        "FreeDiskGB": facts["FreeDiskGB"], "ApiServerReachable": True, "KubeDirExists": False,
        "LastBootTime": hut.host.boot_time_iso(), "IPv4Addresses": ["172.16.3.172"],
    }
    assert isinstance(facts["FreeDiskGB"], float) and facts["FreeDiskGB"] > 50
    other = await hut.script("Get-WindowsNodeFacts.ps1", ApiServerHost="10.0.0.2")
    assert other.out[0]["ApiServerReachable"] is False
    assert hut.records.mutations() == []
    assert hut.records.commands[-1].script_name == "Get-WindowsNodeFacts.ps1"


@pytest.mark.parametrize("fault,key,expected", [
    ("missing_hotfix", "OsBuild", "10.0.17763.253"),
    ("no_container_runtime", "ContainerRuntime", ""),
    ("reboot_required", "ContainersFeature", "Available"),
])
async def test_facts_show_host_faults(fault: str, key: str, expected: str) -> None:
    hut = make_host({fault: True})
    facts = (await hut.script("Get-WindowsNodeFacts.ps1")).out[0]
    assert facts[key] == expected
    if fault == "missing_hotfix":
        assert facts["HotFixIds"] == ["KB4470788", "KB4480116"] and facts["UBR"] == 253


async def test_facts_unknown_parameter_fails_like_powershell(hut: HostUnderTest) -> None:
    r = await hut.script("Get-WindowsNodeFacts.ps1", ApiServer="x")
    assert r.failed.fqid == "AmbiguousParameter"
    assert "Possible matches include: -ApiServerHost -ApiServerPort." in r.failed.message
    ok = await hut.script("Get-WindowsNodeFacts.ps1", kubedir="c:\\k")      # case-insensitive
    assert ok.failed is None
    r = await hut.script("Get-WindowsNodeFacts.ps1", Nope="x")
    assert r.failed.message == "A parameter cannot be found that matches parameter name 'Nope'."


async def test_calico_state_of_a_fresh_host_is_empty(hut: HostUnderTest) -> None:
    state = (await hut.script("Get-CalicoNodeState.ps1")).out[0]
    assert state == {"Services": [], "Config": {}, "InstalledVersion": "", "StoredLastBootTime": "",
                     "CurrentLastBootTime": hut.host.boot_time_text(), "HnsNetworks": [],
                     "CalicoEndpointExists": False, "KubeconfigPresent": False}


async def test_calico_state_reads_services_config_registry_and_hns(hut: HostUnderTest) -> None:
    h = hut.host
    h.add_service(Service("CalicoNode", "Calico Windows Startup", "Running", "Automatic"))
    h.add_service(Service("kubelet", "kubelet service", "Stopped", "Automatic"))
    h.fs.mkdir("C:\\CalicoWindows")
    h.fs.write_text("C:\\CalicoWindows\\config.ps1",
                    '$env:CALICO_NETWORKING_BACKEND="vxlan"\n$env:K8S_SERVICE_CIDR = "10.96.0.0/12"\n'
                    '$env:KUBECONFIG = "$PSScriptRoot\\calico-kube-config"\n$env:VXLAN_VNI = 4096\n')
    h.fs.write_text("C:\\CalicoWindows\\calico-kube-config", "apiVersion: v1\n")
    h.fs.write_bytes("C:\\CalicoWindows\\calico-node.exe", b"MZ\nlab-binary: calico-node v3.22.5\n")
    h.registry.set_value("HKLM:\\Software\\Tigera\\Calico", "LastBootTime", h.boot_time_text(), create_key=True)
    h.hns.create_network("Calico", "L2Bridge")
    h.hns.create_endpoint("Calico_ep", "Calico")
    state = (await hut.script("Get-CalicoNodeState.ps1", CalicoRoot="C:\\CalicoWindows")).out[0]
    assert state["Services"] == [{"Name": "CalicoNode", "Status": "Running", "StartType": "Automatic"},
                                 {"Name": "kubelet", "Status": "Stopped", "StartType": "Automatic"}]
    assert state["Config"]["CALICO_NETWORKING_BACKEND"] == "vxlan"
    assert state["Config"]["K8S_SERVICE_CIDR"] == "10.96.0.0/12"
    assert state["Config"]["KUBECONFIG"] == "C:\\CalicoWindows\\calico-kube-config"
    assert state["InstalledVersion"] == "3.22.5"
    assert state["StoredLastBootTime"] == state["CurrentLastBootTime"]
    assert state["HnsNetworks"] == [{"Name": "Calico", "Type": "L2Bridge"}]
    assert state["CalicoEndpointExists"] is True and state["KubeconfigPresent"] is True


async def test_log_tail_reads_the_latest_log_of_each_component(hut: HostUnderTest) -> None:
    fs = hut.host.fs
    fs.mkdir("C:\\CalicoWindows\\logs")
    fs.write_text("C:\\CalicoWindows\\logs\\kubelet.err.log", "".join(f"line {i}\r\n" for i in range(10)))
    fs.write_text("C:\\CalicoWindows\\logs\\calico-node.log", "old\r\n")
    fs.write_text("C:\\CalicoWindows\\logs\\calico-node.err.log", "newer error\r\n")
    tail = (await hut.script("Get-NodeLogTail.ps1", Lines=3)).out[0]
    assert tail == {"Kubelet": "line 7\nline 8\nline 9", "KubeProxy": "", "CalicoNode": "newer error",
                    "CalicoFelix": ""}


async def test_facts_of_a_server_2022_host_with_docker() -> None:
    hut = make_host(build=20348, runtime="docker", name="k8s-ww2")
    facts = (await hut.script("Get-WindowsNodeFacts.ps1")).out[0]
    assert (facts["OsCaption"], facts["OsBuild"]) == ("Windows Server 2022 Datacenter", "10.0.20348.2527")
    assert (facts["ContainerRuntime"], facts["ContainerRuntimeVersion"]) == ("docker", "20.10.9")
    assert facts["ComputerName"] == "k8s-ww2" and hut.host.node_name == "k8s-ww2"
    state = (await hut.script("Get-CalicoNodeState.ps1")).out[0]
    assert state["HnsNetworks"] == [{"Name": "nat", "Type": "NAT"}]
