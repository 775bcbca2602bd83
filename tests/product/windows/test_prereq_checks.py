"""Pure prerequisite rules over typed HostFacts, and how the host's cmdlet answers become HostFacts (no host
needed)."""

from __future__ import annotations

import pytest

from prefect_windows_nodes.tasks._host.facts import (HostFacts, executable_of, fact_statements, interpret_facts,
                                                     node_name_for, version_in)
from prefect_windows_nodes.tasks._host.prereqs import evaluate_prereqs

DEFAULT = HostFacts(
    computer_name="K8S-WW", os_caption="Windows Server 2019 Datacenter Evaluation", build_number=17763, ubr=1999,
    hotfixes=["KB5005112", "KB5005030"], containers_feature="Installed", pending_reboot=False,
    runtime="containerd", runtime_version="1.6.8", runtime_running=True, free_disk_gb=80.5,
    api_server_reachable=True, ipv4_addresses=["172.16.3.172"],
)


def failed(facts: HostFacts, min_free_gb: float = 20.0):
    checks = evaluate_prereqs(facts, api_server_host="172.16.3.170", api_server_port=6443, min_free_gb=min_free_gb)
    return {c.name: c for c in checks if not c.ok}


def with_(**changes) -> HostFacts:
    return DEFAULT.model_copy(update=changes)


def test_default_host_passes_every_check():
    assert failed(DEFAULT) == {}


@pytest.mark.parametrize("build,ubr,ok", [
    (17763, 1432, True), (17763, 1431, False), (20348, 169, True), (20348, 143, False),
    (26100, 1, True), (19041, 9999, False), (14393, 5000, False),
])
def test_os_build_thresholds(build, ubr, ok):
    f = failed(with_(build_number=build, ubr=ubr, hotfixes=["KB4489899"]))
    assert ("os-build" not in f) is ok
    if not ok:
        assert f["os-build"].observed == f"10.0.{build}.{ubr}" and f["os-build"].fix


def test_missing_hotfix_is_reported_with_fix():
    f = failed(with_(ubr=253, hotfixes=["KB4480116"]))
    assert "KB4489899" in f["overlay-hotfix"].fix
    assert "KB4480116" in f["overlay-hotfix"].observed
    assert "os-build" in f


def test_hotfix_listed_or_later_cumulative_update_counts():
    assert "overlay-hotfix" not in failed(with_(ubr=300, hotfixes=["KB4489899"]))
    assert "overlay-hotfix" not in failed(with_(ubr=379, hotfixes=[]))
    assert "overlay-hotfix" in failed(with_(ubr=378, hotfixes=[]))
    assert "overlay-hotfix" not in failed(with_(build_number=20348, ubr=169, hotfixes=[]))


def test_containers_feature_and_reboot():
    f = failed(with_(containers_feature="Available", pending_reboot=True))
    assert f["containers-feature"].observed == "Available"
    assert "Install-WindowsFeature" in f["containers-feature"].fix
    assert "Restart-Computer" in f["pending-reboot"].fix


def test_container_runtime():
    assert "container-runtime" in failed(with_(runtime="", runtime_running=False))
    f = failed(with_(runtime_running=False))
    assert "Start-Service containerd" in f["container-runtime"].fix
    assert f["container-runtime"].observed == "containerd 1.6.8 not running"
    assert "container-runtime" not in failed(with_(runtime="docker", runtime_version="20.10.9"))


@pytest.mark.parametrize("name,ok", [
    ("K8S-WW", True), ("WIN-1234567890A", True), ("WIN-1234567890AB", False), ("web_01", False),
    ("-lead", False), ("", False),
])
def test_hostname_rules(name, ok):
    assert ("hostname" not in failed(with_(computer_name=name))) is ok


def test_free_disk_and_api_server():
    f = failed(with_(free_disk_gb=0.5, api_server_reachable=False), min_free_gb=20)
    assert f["free-disk"].observed == "0.5 GB free"
    assert f["free-disk"].expected == "≥ 20 GB free on the system drive"
    assert "Test-NetConnection 172.16.3.170 -Port 6443" in f["api-server-reachable"].fix
    assert "free-disk" not in failed(with_(free_disk_gb=0.5), min_free_gb=0.5)


def test_missing_facts_fail_closed():
    f = failed(HostFacts(computer_name=""))
    assert set(f) == {"os-build", "overlay-hotfix", "containers-feature", "pending-reboot", "container-runtime",
                      "hostname", "free-disk", "api-server-reachable"}


def test_node_name_and_report():
    assert node_name_for(" K8S-WW ") == "k8s-ww"
    s = DEFAULT.report()
    assert s["node_name"] == "k8s-ww" and s["os_build"] == "10.0.17763.1999"
    assert s["container_runtime"] == "containerd 1.6.8" and s["ipv4"] == "172.16.3.172"
    assert HostFacts(computer_name="x").os_build == ""


# ------------------------------------------------------------------------- the host's answers → HostFacts
def answers(**overrides):
    out = {
        "hostname": ["K8S-WW"],
        "version": [{"ProductName": "Windows Server 2019 Datacenter", "CurrentBuildNumber": "17763", "UBR": 1999}],
        "hotfixes": ["kb5003646", None],
        "feature": [{"Name": "Containers", "InstallState": "Installed"}],
        "reboot_key_0": [False], "reboot_key_1": [False],
        "renames": [],
        "services": [{"Name": "docker", "State": "Stopped", "PathName": "C:\\docker\\dockerd.exe --run-service"},
                     {"Name": "containerd", "State": "Running",
                      "PathName": '"C:\\Program Files\\containerd\\containerd.exe" --run-service'}],
        "os": [{"SystemDrive": "D:"}],
        "disks": [{"DeviceID": "C:", "FreeSpace": 1}, {"DeviceID": "D:", "FreeSpace": 40 * 1024 ** 3}],
        "ipv4": ["127.0.0.1", "169.254.1.1", "172.16.3.172"],
        "api": [True],
        "path_0": [True], "path_1": [False],
    }
    out.update(overrides)
    return out


def test_interpret_facts_reads_each_answer():
    f = interpret_facts(answers(), paths=["c:\\a.zip", "c:\\b.ps1"])
    assert (f.computer_name, f.build_number, f.ubr, f.os_caption) == (
        "K8S-WW", 17763, 1999, "Windows Server 2019 Datacenter")
    assert f.hotfixes == ["KB5003646"] and f.containers_feature == "Installed" and f.pending_reboot is False
    # containerd is preferred over docker, whatever order WMI lists them in
    assert (f.runtime, f.runtime_running, f.runtime_executable) == (
        "containerd", True, "C:\\Program Files\\containerd\\containerd.exe")
    assert f.free_disk_gb == 40.0                     # the system drive's, not C:'s
    assert f.ipv4_addresses == ["172.16.3.172"]
    assert f.api_server_reachable is True
    assert f.exists("C:\\A.ZIP") and not f.exists("c:\\b.ps1")


@pytest.mark.parametrize("overrides,field,value", [
    ({"reboot_key_1": [True]}, "pending_reboot", True),
    ({"renames": [{"PendingFileRenameOperations": ["\\??\\c:\\x"]}]}, "pending_reboot", True),
    ({"services": []}, "runtime", ""),
    ({"feature": []}, "containers_feature", "Removed"),
    ({"disks": []}, "free_disk_gb", None),
    ({"version": [{}]}, "ubr", None),
])
def test_interpret_facts_edges(overrides, field, value):
    assert getattr(interpret_facts(answers(**overrides), paths=[]), field) == value


def test_reachability_untested_without_an_api_host():
    out = answers()
    del out["api"]
    assert interpret_facts(out, paths=[]).api_server_reachable is None
    assert "api" not in fact_statements("", 6443, [])
    assert fact_statements("10.0.0.1", 6443, [])["api"].parameters["Port"] == 6443


def test_versions_and_executables():
    assert version_in(["containerd github.com/containerd/containerd v1.7.20 8fc6bc"]) == "1.7.20"
    assert version_in(["Docker version 20.10.9, build 79ea9d3"]) == "20.10.9"
    assert version_in(["no version here"]) == ""
    assert executable_of('"C:\\Program Files\\containerd\\containerd.exe" --run-service') == \
        "C:\\Program Files\\containerd\\containerd.exe"
    assert executable_of("C:\\docker\\dockerd.exe --run-service") == "C:\\docker\\dockerd.exe"
    assert executable_of("") == ""
