"""The starting state of a freshly provisioned Windows Server host, and how host faults reshape it."""

from __future__ import annotations

from typing import Any

from .host import (CURRENT_VERSION, GB, SESSION_MANAGER, ContainerRuntime, Feature, FirewallRule, IPAddressEntry,
                   NetAdapter, Service, ServiceStartFailed, Volume, WindowsHost, os_profile)

RUNTIMES = {
    "containerd": ContainerRuntime("containerd", "1.7.20", "containerd"),
    "docker": ContainerRuntime("docker", "20.10.9", "docker"),
}

CONTAINERD_CONFIG = """version = 2
root = "C:\\\\ProgramData\\\\containerd\\\\root"
state = "C:\\\\ProgramData\\\\containerd\\\\state"

[grpc]
  address = "\\\\\\\\.\\\\pipe\\\\containerd-containerd"

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "mcr.microsoft.com/oss/kubernetes/pause:3.9"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "C:\\\\Program Files\\\\containerd\\\\cni\\\\bin"
      conf_dir = "C:\\\\Program Files\\\\containerd\\\\cni\\\\conf"
"""

_BASE_DIRS = [
    "C:\\Windows\\System32\\drivers\\etc", "C:\\Windows\\Temp", "C:\\Program Files", "C:\\Program Files (x86)",
    "C:\\ProgramData", "C:\\Users\\Administrator\\Documents", "C:\\Users\\Administrator\\AppData\\Local\\Temp",
    "C:\\PerfLogs",
]

_FEATURES = [
    # name, display name, state, type, restart on install, DISM name
    ("FileAndStorage-Services", "File and Storage Services", "Installed", "Role", False, None),
    ("Storage-Services", "Storage Services", "Installed", "Role Service", False, None),
    ("Hyper-V", "Hyper-V", "Available", "Role", True, "Microsoft-Hyper-V"),
    ("Web-Server", "Web Server (IIS)", "Available", "Role", False, "IIS-WebServerRole"),
    ("Containers", "Containers", "Installed", "Feature", True, "Containers"),
    ("NET-Framework-45-Core", ".NET Framework 4.7", "Installed", "Feature", False, "NetFx4"),
    ("PowerShellRoot", "Windows PowerShell", "Installed", "Feature", False, None),
    ("PowerShell", "Windows PowerShell 5.1", "Installed", "Feature", False, "MicrosoftWindowsPowerShell"),
    ("Windows-Defender", "Windows Defender Antivirus", "Installed", "Feature", True, "Windows-Defender"),
    ("WoW64-Support", "WoW64 Support", "Installed", "Feature", False, None),
    ("Telnet-Client", "Telnet Client", "Available", "Feature", False, "TelnetClient"),
    ("RSAT-Hyper-V-Tools", "Hyper-V Management Tools", "Available", "Feature", False, None),
]

_SERVICES = [
    # name, display name, status, start type, depends on
    ("WinRM", "Windows Remote Management (WS-Management)", "Running", "Automatic", ["RPCSS", "HTTP"]),
    ("RPCSS", "Remote Procedure Call (RPC)", "Running", "Automatic", []),
    ("HTTP", "HTTP Service", "Running", "Manual", []),
    ("Dnscache", "DNS Client", "Running", "Automatic", []),
    ("EventLog", "Windows Event Log", "Running", "Automatic", []),
    ("W32Time", "Windows Time", "Running", "Manual", []),
    ("LanmanServer", "Server", "Running", "Automatic", []),
    ("MpsSvc", "Windows Defender Firewall", "Running", "Automatic", []),
    ("hns", "Host Network Service", "Running", "Manual", []),
    ("vmcompute", "Hyper-V Host Compute Service", "Running", "Manual", []),
    ("wuauserv", "Windows Update", "Stopped", "Manual", []),
    ("TrustedInstaller", "Windows Modules Installer", "Stopped", "Manual", []),
    ("Spooler", "Print Spooler", "Running", "Automatic", []),
]


def populate(host: WindowsHost, *, ip: str, runtime: str) -> None:
    """Fill a new host with the state of a freshly installed, patched Server with `runtime` ("containerd" or
    "docker") running and one NIC at `ip`/24, then apply the host's start-time faults."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown container runtime {runtime!r}; known: {', '.join(RUNTIMES)}")
    faults = host.faults
    host.volumes["C"] = Volume("C", 127 * GB, 31 * GB + 412 * 1024 ** 2)
    for d in _BASE_DIRS:
        host.fs.mkdir(d)
    host.fs.write_bytes("C:\\Windows\\System32\\drivers\\etc\\hosts",
                        b"# Copyright (c) 1993-2009 Microsoft Corp.\r\n#\r\n", logical_size=824)
    _registry(host)
    for name, disp, state, ftype, restart, dism in _FEATURES:
        host.features[name.lower()] = Feature(name, disp, state, ftype, restart, dism)
    for name, disp, status, start, deps in _SERVICES:
        host.services[name.lower()] = Service(name, disp, status, start, list(deps),
                                              binary_path=f"C:\\Windows\\system32\\svchost.exe -k {name}")
    _network(host, ip)
    _env(host)
    host.firewall_rules += [
        FirewallRule("WINRM-HTTP-In-TCP", "Windows Remote Management (HTTP-In)", protocol="TCP", local_port="5985",
                     group="Windows Remote Management"),
        FirewallRule("WinRM-HTTPS-In-TCP", "WinRM HTTPS", protocol="TCP", local_port="5986"),
        FirewallRule("FPS-ICMP4-ERQ-In", "File and Printer Sharing (Echo Request - ICMPv4-In)", protocol="ICMPv4",
                     group="File and Printer Sharing"),
    ]
    install_runtime(host, runtime)
    for name in ("reboot_required", "no_container_runtime", "disk_full"):
        if getattr(faults, name):
            apply_fault(host, name, True)


def install_runtime(host: WindowsHost, runtime: str) -> None:
    """Put the container runtime's files and service on the host, running."""
    rt = RUNTIMES[runtime]
    host.runtime = ContainerRuntime(rt.kind, rt.version, rt.service_name)
    if runtime == "containerd":
        base = "C:\\Program Files\\containerd"
        host.fs.mkdir(base + "\\cni\\bin")
        host.fs.mkdir(base + "\\cni\\conf")
        host.fs.write_bytes(base + "\\containerd.exe", b"MZ containerd " + rt.version.encode(), logical_size=48 << 20)
        host.fs.write_bytes(base + "\\ctr.exe", b"MZ ctr", logical_size=27 << 20)
        host.fs.write_bytes(base + "\\config.toml", CONTAINERD_CONFIG.encode())
        svc = Service("containerd", "containerd container runtime", "Running", "Automatic",
                      binary_path=f'"{base}\\containerd.exe" --run-service')
    else:
        base = "C:\\Program Files\\Docker"
        host.fs.mkdir(base)
        host.fs.write_bytes(base + "\\dockerd.exe", b"MZ dockerd " + rt.version.encode(), logical_size=61 << 20)
        host.fs.write_bytes(base + "\\docker.exe", b"MZ docker", logical_size=33 << 20)
        svc = Service("docker", "Docker Engine", "Running", "Automatic",
                      binary_path=f'"{base}\\dockerd.exe" --run-service')
        host.hns.create_network("nat", "NAT", subnets=[{"AddressPrefix": "172.22.96.0/20",
                                                        "GatewayAddress": "172.22.96.1"}], persistent=True)
    host.services[svc.name.lower()] = svc
    host.on_service_start[svc.name] = _runtime_needs_containers_feature


async def _runtime_needs_containers_feature(host: WindowsHost, svc: Service) -> None:
    f = host.feature("Containers")
    if f is None or f.install_state != "Installed":
        raise ServiceStartFailed("The Containers feature is not installed.")


def apply_fault(host: WindowsHost, name: str, value: Any) -> None:
    """Reshape a host's state for a fault switched on (at start, or later through HostFaults.set)."""
    if not value:
        return
    if name == "missing_hotfix":
        info, fixes = os_profile(host.os.build_number, missing_hotfix=True)
        host.os, host.hotfixes = info, fixes
        host.registry.set_value(CURRENT_VERSION, "UBR", info.ubr, "DWord")
    elif name == "no_container_runtime":
        if host.runtime.service_name:
            host.services.pop(host.runtime.service_name.lower(), None)
            host.on_service_start.pop(host.runtime.service_name, None)
        host.runtime = ContainerRuntime("", "", "")
    elif name == "reboot_required":
        f = host.feature("Containers")
        if f is not None:
            f.install_state = "Available"
        svc = host.service(host.runtime.service_name) if host.runtime.service_name else None
        if svc is not None:
            svc.status = "Stopped"
    elif name == "disk_full":
        host.apply_disk_full()


def _registry(host: WindowsHost) -> None:
    r, o = host.registry, host.os
    product = o.product_name
    for name, value, kind in [
        ("ProductName", product, "String"), ("EditionID", o.edition_id, "String"),
        ("InstallationType", "Server", "String"), ("CurrentBuild", str(o.build_number), "String"),
        ("CurrentBuildNumber", str(o.build_number), "String"), ("UBR", o.ubr, "DWord"),
        ("ReleaseId", o.release_id, "String"), ("CurrentVersion", "6.3", "String"),
        ("CurrentMajorVersionNumber", 10, "DWord"), ("CurrentMinorVersionNumber", 0, "DWord"),
        ("RegisteredOwner", "Windows User", "String"), ("SystemRoot", "C:\\Windows", "String"),
    ]:
        r.set_value(CURRENT_VERSION, name, value, kind, create_key=True)
    if o.display_version:
        r.set_value(CURRENT_VERSION, "DisplayVersion", o.display_version)
    r.create_key(SESSION_MANAGER)
    r.create_key("HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing")
    r.create_key("HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update")
    r.set_value("HKLM:\\SYSTEM\\CurrentControlSet\\Control\\ComputerName\\ComputerName", "ComputerName",
                host.netbios_name, create_key=True)
    r.set_value("HKLM:\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters", "Hostname", host.computer_name,
                create_key=True)


def _network(host: WindowsHost, ip: str) -> None:
    last = int(ip.rsplit(".", 1)[1])
    mac = f"00-15-5D-03-{(last >> 8) & 0xFF:02X}-{last & 0xFF:02X}"
    host.adapters.append(NetAdapter("Ethernet", "Microsoft Hyper-V Network Adapter", 6, mac))
    host.ip_addresses += [
        IPAddressEntry(ip, 24, "Ethernet", 6, prefix_origin="Manual"),
        IPAddressEntry(f"fe80::215:5dff:fe03:{last:x}%6", 64, "Ethernet", 6, "IPv6", "WellKnown"),
        IPAddressEntry("127.0.0.1", 8, "Loopback Pseudo-Interface 1", 1, prefix_origin="WellKnown"),
        IPAddressEntry("::1", 128, "Loopback Pseudo-Interface 1", 1, "IPv6", "WellKnown"),
    ]


def _env(host: WindowsHost) -> None:
    host.env.update({
        "COMPUTERNAME": host.netbios_name, "USERNAME": "Administrator", "USERDOMAIN": host.netbios_name,
        "SystemRoot": "C:\\Windows", "windir": "C:\\Windows", "SystemDrive": "C:",
        "ProgramFiles": "C:\\Program Files", "ProgramData": "C:\\ProgramData",
        "TEMP": "C:\\Users\\Administrator\\AppData\\Local\\Temp", "TMP": "C:\\Users\\Administrator\\AppData\\Local\\Temp",
        "USERPROFILE": "C:\\Users\\Administrator", "OS": "Windows_NT", "PROCESSOR_ARCHITECTURE": "AMD64",
        "NUMBER_OF_PROCESSORS": "2",
    })

