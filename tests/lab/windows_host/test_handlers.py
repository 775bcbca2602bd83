"""Cmdlet handlers called through HostDispatcher directly (no wire)."""

from __future__ import annotations

import hashlib

from lab.windows.dispatch import PipelineCommand, PSObj
from lab.windows.handlers import HandlerTable, HostDispatcher, Invocation
from lab.windows.handlers.core import DEFAULT_TABLE
from lab.windows.records import HostRecords

from .conftest import HostUnderTest, make_host


def enum_name(v) -> str:
    return v.to_string if isinstance(v, PSObj) else v


# ---- PowerShell's own errors --------------------------------------------------------------------------------------
async def test_unknown_command_is_command_not_found(hut: HostUnderTest) -> None:
    r = await hut.run("Get-Servcie", Name="x")
    assert r.failed is not None
    assert r.failed.message.startswith("The term 'Get-Servcie' is not recognized as the name of a cmdlet, function, "
                                       "script file, or operable program.")
    assert (r.failed.category, r.failed.fqid) == ("ObjectNotFound", "CommandNotFoundException")
    assert hut.records.commands[-1].error is not None


async def test_unknown_parameter_is_named_parameter_not_found(hut: HostUnderTest) -> None:
    r = await hut.run("Get-Service", Nmae="kubelet")
    assert r.failed.message == "A parameter cannot be found that matches parameter name 'Nmae'."
    assert r.failed.category == "InvalidArgument"
    assert r.failed.fqid == "NamedParameterNotFound,Microsoft.PowerShell.Commands.GetServiceCommand"


async def test_parameter_names_bind_case_insensitively_by_prefix_alias_and_position(hut: HostUnderTest) -> None:
    assert [o.properties["Name"] for o in (await hut.run("get-service", name="WinRM")).out] == ["WinRM"]
    assert [o.properties["Name"] for o in (await hut.run("Get-Service", ServiceName="winrm")).out] == ["WinRM"]
    assert [o.properties["Name"] for o in (await hut.run("gsv", _args=["winrm"])).out] == ["WinRM"]
    amb = await hut.run("Get-Service", D="x")     # DisplayName / DependentServices / Debug
    assert amb.failed.fqid.startswith("AmbiguousParameter,")
    extra = await hut.run("Get-Service", _args=["a", "b"])
    assert extra.failed.fqid.startswith("PositionalParameterNotFound,")
    missing = await hut.run("New-Service", Name="x")
    assert "missing mandatory parameters: BinaryPathName" in missing.failed.message


async def test_error_action_controls_non_terminating_errors(hut: HostUnderTest) -> None:
    r = await hut.run("Get-Service", Name="nope")
    assert r.failed is None and r.errors[0].message == "Cannot find any service with service name 'nope'."
    assert r.errors[0].fqid == "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand"
    quiet = await hut.run("Get-Service", Name="nope", ErrorAction="SilentlyContinue")
    assert quiet.errors == [] and quiet.failed is None
    stop = await hut.run("Get-Service", Name="nope", ErrorAction="Stop")
    assert stop.failed is not None and "nope" in stop.failed.message


async def test_pipeline_feeds_output_to_the_next_command(hut: HostUnderTest) -> None:
    r = await hut.pipeline([PipelineCommand("Get-Service", False, {"Name": "win*"}),
                            PipelineCommand("Select-Object", False, {"ExpandProperty": "Name"})])
    assert r.out == ["WinRM"]


# ---- system -----------------------------------------------------------------------------------------------------
async def test_os_and_computer_system(hut: HostUnderTest) -> None:
    os_ = (await hut.run("Get-CimInstance", ClassName="Win32_OperatingSystem")).out[0]
    assert os_.properties["Caption"] == "Microsoft Windows Server 2019 Datacenter Evaluation"
    assert os_.properties["BuildNumber"] == "17763"
    assert os_.properties["LastBootUpTime"] == hut.host.last_boot_time
    cs = (await hut.run("Get-WmiObject", Class="Win32_ComputerSystem")).out[0]
    assert cs.properties["Name"] == "K8S-WW" and cs.properties["DNSHostName"] == "k8s-ww"
    assert (await hut.run("hostname")).out == ["k8s-ww"]
    bad = await hut.run("Get-CimInstance", ClassName="Win32_Nope")
    assert bad.failed.category == "MetadataError"
    disk = (await hut.run("Get-CimInstance", _args=["Win32_LogicalDisk"], Filter="DeviceID='C:'")).out
    assert len(disk) == 1 and disk[0].properties["FreeSpace"] == hut.host.free_bytes()


async def test_hotfixes(hut: HostUnderTest) -> None:
    ids = [o.properties["HotFixID"] for o in (await hut.run("Get-HotFix")).out]
    assert "KB5003646" in ids
    missing = await hut.run("Get-HotFix", Id="KB4489899")
    assert missing.errors[0].fqid == "GetHotFixNoEntriesFound,Microsoft.PowerShell.Commands.GetHotFixCommand"
    old = make_host({"missing_hotfix": True})
    assert [o.properties["HotFixID"] for o in (await old.run("Get-HotFix")).out] == ["KB4470788", "KB4480116"]


async def test_computer_info_property_filter(hut: HostUnderTest) -> None:
    info = (await hut.run("Get-ComputerInfo", Property=["WindowsProductName", "Os*Version"])).out[0]
    assert info.properties == {"WindowsProductName": "Windows Server 2019 Datacenter Evaluation",
                               "OsVersion": "10.0.17763"}


async def test_restart_computer_reboots_and_commands_wait_for_the_boot() -> None:
    hut = make_host({"reboot_required": True})
    r = await hut.run("Install-WindowsFeature", Name="Containers")
    res = r.out[0].properties
    assert enum_name(res["RestartNeeded"]) == "Yes" and enum_name(res["ExitCode"]) == "SuccessRestartRequired"
    assert r.warnings == ["You must restart this server to finish the installation process."]
    assert hut.host.pending_reboot()
    before = hut.host.last_boot_time
    await hut.run("Restart-Computer", Force=True)
    feature = (await hut.run("Get-WindowsFeature", Name="Containers")).out[0]   # waits for the boot
    assert enum_name(feature.properties["InstallState"]) == "Installed"
    assert hut.host.last_boot_time > before and not hut.host.pending_reboot()


# ---- features ---------------------------------------------------------------------------------------------------
async def test_features(hut: HostUnderTest) -> None:
    assert (await hut.run("Get-WindowsFeature", Name="Nope")).out == []
    again = (await hut.run("Install-WindowsFeature", Name="Containers")).out[0].properties
    assert enum_name(again["ExitCode"]) == "NoChangeNeeded"
    assert hut.records.mutations() == []
    bad = await hut.run("Install-WindowsFeature", Name="Nope")
    assert "The role, role service, or feature name is not valid: 'Nope'" in bad.failed.message
    opt = (await hut.run("Get-WindowsOptionalFeature", Online=True, FeatureName="Containers")).out[0]
    assert enum_name(opt.properties["State"]) == "Enabled"
    hv = (await hut.run("Enable-WindowsOptionalFeature", Online=True, FeatureName="Microsoft-Hyper-V")).out[0]
    assert hv.properties["RestartNeeded"] is True and hut.host.pending_reboot()


# ---- services ---------------------------------------------------------------------------------------------------
async def test_service_lifecycle_and_records(hut: HostUnderTest) -> None:
    r = await hut.run("New-Service", Name="kubelet", BinaryPathName="c:\\k\\kubelet.exe", StartupType="Manual")
    assert enum_name(r.out[0].properties["Status"]) == "Stopped"
    dup = await hut.run("New-Service", Name="kubelet", BinaryPathName="x")
    assert dup.errors[0].fqid == "CouldNotNewService,Microsoft.PowerShell.Commands.NewServiceCommand"
    await hut.run("Start-Service", Name="kubelet")
    status = (await hut.run("Get-Service", Name="kubelet")).out[0].properties
    assert enum_name(status["Status"]) == "Running" and enum_name(status["StartType"]) == "Manual"
    await hut.run("Set-Service", Name="kubelet", StartupType="Automatic")
    assert hut.host.service("kubelet").start_type == "Automatic"
    bad = await hut.run("Set-Service", Name="kubelet", StartupType="Sometimes")
    assert bad.failed.fqid.startswith("CannotConvertArgumentNoMessage")
    await hut.run("Restart-Service", Name="kubelet")
    await hut.run("Stop-Service", Name="kubelet")
    assert hut.host.service("kubelet").status == "Stopped"
    changed = [c.name for c in hut.records.mutations()]
    assert changed == ["New-Service", "Start-Service", "Set-Service", "Restart-Service", "Stop-Service"]
    # starting a running service again changes nothing
    await hut.run("Start-Service", Name="WinRM")
    assert hut.records.commands[-1].changed is False


async def test_start_service_failure_is_could_not_start(hut: HostUnderTest) -> None:
    from lab.windows.host import Service, ServiceStartFailed

    async def fail(host, svc):
        raise ServiceStartFailed("boom")

    hut.host.add_service(Service("CalicoNode", "Calico Windows Startup"))
    hut.host.on_service_start["CalicoNode"] = fail
    r = await hut.run("Start-Service", Name="CalicoNode")
    assert r.errors[0].message == ("Service 'Calico Windows Startup (CalicoNode)' cannot be started due to the "
                                   "following error: Cannot start service CalicoNode on computer '.'.")
    assert r.errors[0].fqid == "CouldNotStartService,Microsoft.PowerShell.Commands.StartServiceCommand"


# ---- files ------------------------------------------------------------------------------------------------------
async def test_files(hut: HostUnderTest) -> None:
    assert (await hut.run("Test-Path", Path="c:\\k")).out == [False]
    d = await hut.run("New-Item", Path="c:\\k", ItemType="Directory")
    assert d.out[0].properties["FullName"] == "C:\\k"
    again = await hut.run("New-Item", Path="C:\\K", ItemType="Directory")
    assert again.errors[0].fqid == "DirectoryExist,Microsoft.PowerShell.Commands.NewItemCommand"
    forced = await hut.run("New-Item", Path="C:\\K", ItemType="Directory", Force=True)
    assert forced.errors == [] and hut.records.commands[-1].changed is False
    await hut.run("Set-Content", Path="c:\\k\\a.log", Value=["one", "two", "three"])
    assert hut.host.fs.read_bytes("C:\\k\\a.log") == b"one\r\ntwo\r\nthree\r\n"
    assert (await hut.run("Get-Content", Path="c:\\k\\a.log", Tail=2)).out == ["two", "three"]
    assert (await hut.run("Get-Content", Path="c:\\k\\a.log", Raw=True)).out == ["one\r\ntwo\r\nthree\r\n"]
    nf = await hut.run("Get-Content", Path="c:\\k\\missing.log")
    assert nf.errors[0].message == "Cannot find path 'C:\\k\\missing.log' because it does not exist."
    assert nf.errors[0].fqid == "PathNotFound,Microsoft.PowerShell.Commands.GetContentCommand"
    nodir = await hut.run("Set-Content", Path="c:\\nope\\x.txt", Value="x")
    assert nodir.errors[0].message == "Could not find a part of the path 'C:\\nope\\x.txt'."
    await hut.run("Copy-Item", Path="c:\\k\\a.log", Destination="c:\\k\\b.log")
    names = (await hut.run("Get-ChildItem", Path="c:\\k", Name=True)).out
    assert names == ["a.log", "b.log"]
    h = (await hut.run("Get-FileHash", Path="c:\\k\\b.log")).out[0].properties
    assert h["Hash"] == hashlib.sha256(b"one\r\ntwo\r\nthree\r\n").hexdigest().upper()
    item = (await hut.run("Get-Item", Path="c:\\k\\b.log")).out[0].properties
    assert item["Length"] == len(b"one\r\ntwo\r\nthree\r\n")
    await hut.run("Remove-Item", Path="c:\\k\\*.log")
    assert (await hut.run("Get-ChildItem", Path="c:\\k")).out == []
    assert "C:\\k\\a.log" in hut.records.files_written


async def test_write_fails_when_the_disk_is_full() -> None:
    hut = make_host({"disk_full": True})
    big = "x" * 1024
    ok = await hut.run("Set-Content", Path="c:\\small.txt", Value=big)
    assert ok.errors == []
    hut.host.set_free_bytes("C", 100)
    r = await hut.run("Set-Content", Path="c:\\big.txt", Value=big)
    assert r.errors[0].message == "There is not enough space on the disk."
    assert r.errors[0].category == "WriteError"


# ---- registry ---------------------------------------------------------------------------------------------------
async def test_registry_cmdlets(hut: HostUnderTest) -> None:
    key = "HKLM:\\Software\\Tigera\\Calico"
    r = await hut.run("Get-ItemProperty", Path=key)
    assert r.errors[0].fqid == "PathNotFound,Microsoft.PowerShell.Commands.GetItemPropertyCommand"
    await hut.run("New-Item", Path=key, Force=True)
    assert (await hut.run("Test-Path", Path=key)).out == [True]
    await hut.run("New-ItemProperty", Path=key, Name="LastBootTime", Value="6/10/2021 9:36:12 AM")
    dup = await hut.run("New-ItemProperty", Path=key, Name="LastBootTime", Value="x")
    assert dup.errors[0].message == "The property already exists."
    assert (await hut.run("Get-ItemPropertyValue", Path=key, Name="LastBootTime")).out == ["6/10/2021 9:36:12 AM"]
    await hut.run("Set-ItemProperty", Path=key, Name="Count", Value=3)
    props = (await hut.run("Get-ItemProperty", Path=key)).out[0].properties
    assert props["Count"] == 3 and props["PSChildName"] == "Calico"
    missing = await hut.run("Get-ItemProperty", Path=key, Name="Nope")
    assert missing.errors[0].message == "Property Nope does not exist at path HKEY_LOCAL_MACHINE\\Software\\Tigera\\Calico."


# ---- network ----------------------------------------------------------------------------------------------------
async def test_network_cmdlets(hut: HostUnderTest) -> None:
    hut.host.allow_tcp("127.0.0.1", 6443)
    adapters = (await hut.run("Get-NetAdapter")).out
    assert [a.properties["Name"] for a in adapters] == ["Ethernet"]
    ips = [o.properties["IPAddress"] for o in (await hut.run("Get-NetIPAddress", AddressFamily="IPv4")).out]
    assert ips == ["172.16.3.172", "127.0.0.1"]
    ok = (await hut.run("Test-NetConnection", ComputerName="127.0.0.1", Port=6443)).out[0].properties
    assert ok["TcpTestSucceeded"] is True
    bad = await hut.run("Test-NetConnection", ComputerName="10.9.9.9", Port=6443)
    assert bad.out[0].properties["TcpTestSucceeded"] is False
    assert "TCP connect to (10.9.9.9 : 6443) failed" in bad.warnings
    assert (await hut.run("Test-NetConnection", ComputerName="127.0.0.1", Port=22,
                          InformationLevel="Quiet")).out == [False]
    nores = await hut.run("Test-NetConnection", ComputerName="nowhere.example", Port=443)
    assert nores.out[0].properties["NameResolutionSucceeded"] is False


async def test_hns_and_firewall(hut: HostUnderTest) -> None:
    assert (await hut.run("Get-HnsNetwork")).out == []
    net = hut.host.hns.create_network("Calico", "L2Bridge", subnets=[{"AddressPrefix": "192.168.1.0/26"}])
    hut.host.hns.create_endpoint("Calico_ep", "Calico", "192.168.1.2")
    nets = (await hut.run("Get-HnsNetwork")).out
    assert [(n["Name"], n["Type"], n["ID"]) for n in nets] == [("Calico", "L2Bridge", net.id)]
    eps = (await hut.run("Get-HnsEndpoint")).out
    assert eps[0]["Name"] == "Calico_ep" and eps[0]["VirtualNetworkName"] == "Calico"
    r = await hut.pipeline([PipelineCommand("Get-HnsNetwork", False, {}), PipelineCommand("Remove-HnsNetwork", False, {})])
    assert r.failed is None and hut.host.hns.networks == []
    await hut.run("New-NetFirewallRule", Name="KubectlExec10250", DisplayName="kubectl exec 10250",
                  Direction="Inbound", Protocol="TCP", LocalPort="10250", Action="Allow")
    rule = (await hut.run("Get-NetFirewallRule", Name="KubectlExec10250")).out[0].properties
    assert rule["Direction"] == "Inbound" and rule["Enabled"] == "True"
    ports = await hut.pipeline([PipelineCommand("Get-NetFirewallRule", False, {"Name": "KubectlExec10250"}),
                                PipelineCommand("Get-NetFirewallPortFilter", False, {})])
    assert ports.out[0].properties["LocalPort"] == "10250"
    dup = await hut.run("New-NetFirewallRule", Name="KubectlExec10250", DisplayName="x")
    assert dup.errors[0].message == "Cannot create a file when that file already exists."
    nf = await hut.run("Get-NetFirewallRule", Name="Nope")
    assert nf.errors[0].fqid == "CmdletizationQuery_NotFound_Name,Get-NetFirewallRule"


# ---- disk and web -----------------------------------------------------------------------------------------------
async def test_disk_free_space() -> None:
    full = make_host({"disk_full": True})
    drive = (await full.run("Get-PSDrive", Name="C")).out[0].properties
    assert 0.45 * 1024 ** 3 < drive["Free"] <= 0.5 * 1024 ** 3
    vol = (await full.run("Get-Volume", DriveLetter="C")).out[0].properties
    assert vol["SizeRemaining"] == drive["Free"]
    nodrive = await full.run("Get-PSDrive", Name="Q")
    assert nodrive.errors[0].message == "Cannot find drive. A drive with the name 'Q' does not exist."


async def test_invoke_web_request_from_the_catalog(hut: HostUnderTest) -> None:
    from lab.windows.installers import catalog

    url = next(u for u, e in catalog.DEFAULT_CATALOG._entries.items() if e.kind == "calico-installer")
    await hut.run("Invoke-WebRequest", Uri=url, OutFile="c:\\install-calico-windows.ps1", UseBasicParsing=True)
    assert hut.host.fs.read_bytes("c:\\install-calico-windows.ps1") == catalog.DEFAULT_CATALOG.fetch(url)
    bad = await hut.run("Invoke-WebRequest", Uri="https://example.invalid/x.zip", OutFile="c:\\x.zip")
    assert bad.failed.fqid == "WebCmdletWebResponseException,Microsoft.PowerShell.Commands.InvokeWebRequestCommand"
    assert bad.failed.exception_type == "System.Net.WebException"
    assert not hut.host.fs.exists("c:\\x.zip")


async def test_download_of_a_large_file_fails_on_a_full_disk() -> None:
    from lab.windows.installers import catalog

    hut = make_host({"disk_full": True})
    url = next(u for u, e in catalog.DEFAULT_CATALOG._entries.items() if e.kind == "calico-zip")
    hut.host.set_free_bytes("C", 10 * 1024 ** 2)
    r = await hut.run("Invoke-WebRequest", Uri=url, OutFile="c:\\calico-windows.zip")
    assert r.failed.message == "There is not enough space on the disk."


# ---- script files by path ---------------------------------------------------------------------------------------
async def test_script_file_by_path_dispatches_on_content_kind() -> None:
    hut = make_host()
    table = HandlerTable()
    table.cmdlets.update(DEFAULT_TABLE.cmdlets)
    seen: list[dict] = []

    def handler(inv: Invocation) -> None:
        seen.append(dict(inv.params))
        inv.output(f"ran {inv.spec.name} from {inv.script_path}")

    table.register_script_kind("demo-installer", handler, parameters=("KubeVersion",), name="demo.ps1")
    d = HostDispatcher(hut.host, HostRecords(), table=table)
    hut = HostUnderTest(hut.host, d, d.records)
    missing = await hut.run("c:\\demo.ps1", KubeVersion="1.22.6")
    assert missing.failed.fqid == "CommandNotFoundException"
    hut.host.fs.write_text("C:\\demo.ps1", "# lab-script: demo-installer v1\nparam($KubeVersion)\n")
    r = await hut.run("c:\\demo.ps1", KubeVersion="1.22.6")
    assert r.out == ["ran demo.ps1 from C:\\demo.ps1"] and seen == [{"KubeVersion": "1.22.6"}]
    bad = await hut.run("c:\\demo.ps1", KubeVersoin="1.22.6")
    assert bad.failed.message == "A parameter cannot be found that matches parameter name 'KubeVersoin'."
    hut.host.fs.write_text("C:\\other.ps1", "Write-Host hi\n")
    unknown = await hut.run("C:\\other.ps1")
    assert unknown.failed.fqid == "LabScriptNotEmulated"


async def test_free_text_script_is_refused_but_bare_commands_run(hut: HostUnderTest) -> None:
    r = await hut.run("Get-Service | Where-Object Status -eq Running", _script=True)
    assert r.failed.fqid == "LabScriptNotEmulated"
    assert (await hut.run("hostname", _script=True)).out == ["k8s-ww"]
