"""Pure prerequisite checks, evaluated from a Get-WindowsNodeFacts object (no host needed)."""

from __future__ import annotations

import pytest

from prefect_windows_nodes.tasks.windows_prereqs import evaluate_prereqs, node_name_for, summarize_facts

DEFAULT_FACTS = {
    "ComputerName": "K8S-WW", "OsCaption": "Microsoft Windows Server 2019 Datacenter Evaluation",
    "OsBuild": "10.0.17763.1999", "BuildNumber": 17763, "UBR": 1999, "HotFixIds": ["KB5005112", "KB5005030"],
    "ContainersFeature": "Installed", "PendingReboot": False, "ContainerRuntime": "containerd",
    "ContainerRuntimeVersion": "1.6.8", "ContainerRuntimeRunning": True, "FreeDiskGB": 80.5,
    "ApiServerReachable": True, "KubeDirExists": False, "LastBootTime": "2022-03-01T10:00:00Z",
    "IPv4Addresses": ["172.16.3.172"],
}


def failed(facts, **kw):
    checks = evaluate_prereqs(facts, api_server_host="172.16.3.170", api_server_port=6443, **kw)
    return {c.name: c for c in checks if not c.ok}


def with_(**changes):
    return {**DEFAULT_FACTS, **changes}


def test_default_host_passes_every_check():
    assert failed(DEFAULT_FACTS) == {}


@pytest.mark.parametrize("build,ubr,ok", [
    (17763, 1432, True), (17763, 1431, False), (20348, 169, True), (20348, 143, False),
    (26100, 1, True), (19041, 9999, False), (14393, 5000, False),
])
def test_os_build_thresholds(build, ubr, ok):
    f = failed(with_(BuildNumber=build, UBR=ubr, OsBuild=f"10.0.{build}.{ubr}", HotFixIds=["KB4489899"]))
    assert ("os-build" not in f) is ok
    if not ok:
        assert f["os-build"].observed == f"10.0.{build}.{ubr}" and f["os-build"].fix


def test_missing_hotfix_is_reported_with_fix():
    f = failed(with_(UBR=253, OsBuild="10.0.17763.253", HotFixIds=["KB4480116"]))
    assert "KB4489899" in f["overlay-hotfix"].fix
    assert "KB4480116" in f["overlay-hotfix"].observed
    assert "os-build" in f


def test_hotfix_listed_or_later_cumulative_update_counts():
    assert "overlay-hotfix" not in failed(with_(UBR=300, HotFixIds=["KB4489899"]))
    assert "overlay-hotfix" not in failed(with_(UBR=379, HotFixIds=[]))
    assert "overlay-hotfix" in failed(with_(UBR=378, HotFixIds=[]))
    assert "overlay-hotfix" not in failed(with_(BuildNumber=20348, UBR=169, HotFixIds=[]))


def test_containers_feature_and_reboot():
    f = failed(with_(ContainersFeature="Available", PendingReboot=True))
    assert f["containers-feature"].observed == "Available"
    assert "Install-WindowsFeature" in f["containers-feature"].fix
    assert "Restart-Computer" in f["pending-reboot"].fix


def test_container_runtime():
    assert "container-runtime" in failed(with_(ContainerRuntime="", ContainerRuntimeRunning=False))
    f = failed(with_(ContainerRuntimeRunning=False))
    assert "Start-Service containerd" in f["container-runtime"].fix
    assert "container-runtime" not in failed(with_(ContainerRuntime="docker", ContainerRuntimeVersion="20.10.9"))


@pytest.mark.parametrize("name,ok", [
    ("K8S-WW", True), ("WIN-1234567890A", True), ("WIN-1234567890AB", False), ("web_01", False),
    ("-lead", False), ("", False),
])
def test_hostname_rules(name, ok):
    assert ("hostname" not in failed(with_(ComputerName=name))) is ok


def test_free_disk_and_api_server():
    f = failed(with_(FreeDiskGB=0.5, ApiServerReachable=False), min_free_gb=20)
    assert f["free-disk"].observed == "0.5 GB free"
    assert "Test-NetConnection 172.16.3.170 -Port 6443" in f["api-server-reachable"].fix


def test_missing_facts_fail_closed():
    f = failed({})
    assert set(f) >= {"os-build", "containers-feature", "pending-reboot", "container-runtime", "hostname",
                      "free-disk", "api-server-reachable"}


def test_node_name_and_summary():
    assert node_name_for("K8S-WW") == "k8s-ww"
    s = summarize_facts(DEFAULT_FACTS)
    assert s["node_name"] == "k8s-ww" and s["os_build"] == "10.0.17763.1999"
    assert s["container_runtime"] == "containerd 1.6.8" and s["ipv4"] == "172.16.3.172"
