"""The host model on its own: filesystem, registry, services and their hooks, features, reboot, faults."""

from __future__ import annotations

import pytest

from lab.windows.filesystem import DirectoryNotFound, DiskFull, PathNotFound, normalize
from lab.windows.host import (CBS_REBOOT_PENDING, Service, ServiceError, ServiceStartFailed, format_datetime_iso,
                              format_datetime_text)
from lab.windows.winregistry import KeyNotFound, ValueNotFound, normalize_key

from .conftest import make_host


def test_paths_normalize_like_windows() -> None:
    assert normalize("c:/k//config") == "C:\\k\\config"
    assert normalize("C:\\k\\") == "C:\\k"
    assert normalize("c:") == "C:\\"
    assert normalize("FileSystem::c:\\K\\..\\x") == "C:\\x"
    with pytest.raises(ValueError):
        normalize("relative\\path")
    assert normalize_key("HKEY_LOCAL_MACHINE\\SOFTWARE\\Tigera") == "HKLM:\\SOFTWARE\\Tigera"
    assert normalize_key("Registry::HKLM\\Software") == "HKLM:\\Software"


def test_filesystem_is_case_insensitive_and_needs_parents() -> None:
    fs = make_host().host.fs
    fs.mkdir("C:\\K")
    assert fs.write_bytes("c:\\k\\config", b"abc") is True
    assert fs.read_bytes("C:\\K\\CONFIG") == b"abc"
    assert fs.write_bytes("C:\\k\\config", b"abc") is False          # same bytes: no change
    assert [e.name for e in fs.list("c:\\k")] == ["config"]
    with pytest.raises(DirectoryNotFound):
        fs.write_bytes("C:\\nope\\x.txt", b"x")
    with pytest.raises(PathNotFound):
        fs.read_bytes("C:\\k\\missing")


def test_logical_size_counts_against_free_space_and_disk_full() -> None:
    h = make_host().host
    free = h.free_bytes()
    h.fs.write_bytes("C:\\big.zip", b"zip", logical_size=100 * 1024 ** 2)
    assert h.free_bytes() == free - 100 * 1024 ** 2
    full = make_host({"disk_full": True}).host
    assert 0.45 < full.free_bytes() / 1024 ** 3 <= 0.5
    with pytest.raises(DiskFull, match="There is not enough space on the disk."):
        full.fs.write_bytes("C:\\big.zip", b"zip", logical_size=1024 ** 3)
    full.fs.write_bytes("C:\\small.txt", b"ok")                      # small writes still fit


def test_registry_values_and_missing_keys() -> None:
    reg = make_host().host.registry
    assert reg.get_value("HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion", "ubr") == 1999
    with pytest.raises(KeyNotFound):
        reg.get_value("HKLM:\\Software\\Tigera\\Calico", "LastBootTime")
    reg.set_value("HKLM:\\Software\\Tigera\\Calico", "LastBootTime", "x", create_key=True)
    assert reg.get_value("hklm:\\software\\tigera\\calico", "LASTBOOTTIME") == "x"
    with pytest.raises(ValueNotFound, match="Property Nope does not exist at path HKEY_LOCAL_MACHINE"):
        reg.get_value("HKLM:\\Software\\Tigera\\Calico", "Nope")


async def test_service_hooks_dependencies_and_failures() -> None:
    h = make_host().host
    calls: list[str] = []

    async def start_node(host, svc) -> None:
        calls.append("start " + svc.name)

    async def start_felix(host, svc) -> None:
        raise ServiceStartFailed("felix cannot start")

    h.add_service(Service("CalicoNode", "Calico Windows Startup", start_type="Automatic"))
    h.add_service(Service("CalicoFelix", "Calico Windows Agent", start_type="Automatic", depends_on=["CalicoNode"]))
    h.on_service_start["caliconode"] = start_node
    assert await h.start_service("CalicoFelix") is True                # starts its dependency first
    assert calls == ["start CalicoNode"]
    assert h.service("calicofelix").status == "Running"
    with pytest.raises(ServiceError, match="because it has dependent services"):
        await h.stop_service("CalicoNode")
    await h.stop_service("CalicoNode", force=True)
    assert h.service("CalicoFelix").status == "Stopped"
    h.on_service_start["CalicoFelix"] = start_felix
    with pytest.raises(ServiceError, match=r"Service 'Calico Windows Agent \(CalicoFelix\)' cannot be started"):
        await h.start_service("CalicoFelix")
    assert h.service("CalicoFelix").status == "Stopped"


async def test_feature_install_pending_until_reboot() -> None:
    hut = make_host({"reboot_required": True})
    h = hut.host
    assert h.feature("Containers").install_state == "Available"
    assert not h.runtime_running()
    assert h.install_feature("Containers") == (True, True)
    assert h.pending_reboot() and h.registry.key_exists(CBS_REBOOT_PENDING)
    old_boot = h.last_boot_time
    dropped: list[int] = []
    h.connection_droppers.append(lambda: dropped.append(1) or 1)
    await h.reboot()
    assert dropped, "a reboot drops the WinRM connections"
    assert not h.pending_reboot()
    assert h.feature("Containers").install_state == "Installed"
    assert h.last_boot_time > old_boot
    assert h.runtime_running(), "the runtime service is Automatic and starts at boot once Containers is installed"


async def test_reboot_removes_non_persistent_hns_networks() -> None:
    h = make_host(runtime="docker").host
    h.hns.create_network("External", "Overlay")
    await h.reboot()
    assert [n.name for n in h.hns.networks] == ["nat"]


def test_os_profiles_and_missing_hotfix() -> None:
    assert make_host().host.os.os_build == "10.0.17763.1999"
    assert make_host(build=20348).host.os.os_build == "10.0.20348.2527"
    old = make_host({"missing_hotfix": True}).host
    assert old.os.ubr < 379 and "KB4489899" not in [f.hotfix_id for f in old.hotfixes]
    assert make_host({"no_container_runtime": True}).host.runtime.kind == ""


def test_datetime_formats() -> None:
    from datetime import datetime, timezone

    dt = datetime(2021, 6, 10, 21, 36, 12, 500000, tzinfo=timezone.utc)
    assert format_datetime_text(dt) == "6/10/2021 9:36:12 PM"
    assert format_datetime_iso(dt) == "2021-06-10T21:36:12.5000000+00:00"


def test_unknown_fault_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown Windows host fault"):
        make_host({"cosmic_rays": True})
