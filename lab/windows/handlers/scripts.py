"""The product's shipped scripts (`tasks/ps/*.ps1`, recognised by exact text) emulated over the host model:
each handler outputs exactly the object the real script builds (its output is documented in the script)."""

from __future__ import annotations

from typing import Any

from lab.windows.dispatch import Hashtable
from lab.windows.host import WindowsHost

from .core import Invocation, register_shipped_script
from .system import free_gb

CALICO_SERVICES = ("CalicoNode", "CalicoFelix", "CalicoConfd", "CalicoUpgrade", "kubelet", "kube-proxy")
API_CONNECT_TIMEOUT_S = 3.0   # Test-TcpPort's wait in Get-WindowsNodeFacts.ps1


def log_candidates(calico_root: str) -> dict[str, list[str]]:
    """The log files Get-NodeLogTail.ps1 considers per component (the most recently written one is read)."""
    logs = calico_root.rstrip("\\") + "\\logs"
    return {
        "Kubelet": [f"{logs}\\kubelet.err.log", f"{logs}\\kubelet.log", "c:\\k\\kubelet.err.log",
                    "c:\\k\\kubelet.out.log", "c:\\k\\kubelet.log"],
        "KubeProxy": [f"{logs}\\kube-proxy.err.log", f"{logs}\\kube-proxy.log", "c:\\k\\kube-proxy.err.log",
                      "c:\\k\\kube-proxy.out.log", "c:\\k\\kube-proxy.log"],
        "CalicoNode": [f"{logs}\\calico-node.err.log", f"{logs}\\calico-node.log"],
        "CalicoFelix": [f"{logs}\\calico-felix.err.log", f"{logs}\\calico-felix.log"],
    }


def node_facts(h: WindowsHost, *, api_host: str, api_port: int, kube_dir: str) -> dict[str, Any]:
    """The object Get-WindowsNodeFacts.ps1 outputs, from the model."""
    f = h.feature("Containers")
    return {
        "ComputerName": h.computer_name,
        "OsCaption": h.os.product_name,
        "OsBuild": h.os.os_build,
        "BuildNumber": h.os.build_number,
        "UBR": h.os.ubr,
        "HotFixIds": [x.hotfix_id for x in h.hotfixes],
        "ContainersFeature": f.install_state if f else "Removed",
        "PendingReboot": h.pending_reboot(),
        "ContainerRuntime": h.runtime.kind,
        "ContainerRuntimeVersion": h.runtime.version,
        "ContainerRuntimeRunning": h.runtime_running(),
        "FreeDiskGB": free_gb(h),
        "ApiServerReachable": bool(api_host) and h.tcp_reachable(api_host, api_port),
        "KubeDirExists": h.fs.is_dir(kube_dir),
        "LastBootTime": h.boot_time_iso(),
        "IPv4Addresses": h.ipv4_addresses(),
    }


@register_shipped_script("Get-WindowsNodeFacts.ps1", parameters=("ApiServerHost", "ApiServerPort", "KubeDir"))
async def get_windows_node_facts(inv: Invocation) -> None:
    """Get-WindowsNodeFacts.ps1 -ApiServerHost H -ApiServerPort P -KubeDir D."""
    api_host = str(inv.get("ApiServerHost") or "")
    port = int(inv.get("ApiServerPort", 6443))
    facts = node_facts(inv.host, api_host=api_host, api_port=port, kube_dir=str(inv.get("KubeDir") or "c:\\k"))
    if api_host and not facts["ApiServerReachable"]:
        await inv.host.delay("tcp", API_CONNECT_TIMEOUT_S)
    inv.output(facts)


def _calico_config(h: WindowsHost, root: str) -> dict[str, str]:
    try:
        from lab.windows.installers.config import read_config
    except ImportError:  # the installers are optional for this module
        return {}
    return read_config(h.fs, hostname=h.computer_name, root=root,
                       containerd_running=h.runtime.kind == "containerd" and h.runtime_running())


def _installed_version(h: WindowsHost, root: str) -> str:
    exe = root.rstrip("\\") + "\\calico-node.exe"
    if not h.fs.is_file(exe):
        return ""
    import re

    m = re.search(rb"lab-binary: calico-node v(\d+\.\d+\.\d+)", h.fs.read_bytes(exe)[:512])
    return m.group(1).decode() if m else ""


def calico_node_state(h: WindowsHost, *, calico_root: str) -> dict[str, Any]:
    """The object Get-CalicoNodeState.ps1 outputs, from the model."""
    services = []
    for name in CALICO_SERVICES:
        s = h.service(name)
        if s is not None and s.name.lower() == name.lower():
            services.append({"Name": s.name, "Status": s.status, "StartType": s.start_type})
    config = _calico_config(h, calico_root)
    stored = h.registry.try_get_value("HKLM:\\Software\\Tigera\\Calico", "LastBootTime", "")
    kubeconfig = config.get("KUBECONFIG") or calico_root.rstrip("\\") + "\\calico-kube-config"
    return {
        "Services": services,
        "Config": Hashtable(config),
        "InstalledVersion": _installed_version(h, calico_root),
        "StoredLastBootTime": "" if stored is None else str(stored),
        "CurrentLastBootTime": h.boot_time_text(),
        "HnsNetworks": [{"Name": n.name, "Type": n.type} for n in h.hns.networks],
        "CalicoEndpointExists": h.hns.endpoint("Calico_ep") is not None,
        "KubeconfigPresent": h.fs.is_file(kubeconfig),
    }


@register_shipped_script("Get-CalicoNodeState.ps1", parameters=("CalicoRoot",))
def get_calico_node_state(inv: Invocation) -> None:
    """Get-CalicoNodeState.ps1 -CalicoRoot R."""
    inv.output(calico_node_state(inv.host, calico_root=str(inv.get("CalicoRoot") or "C:\\CalicoWindows")))


def log_tail(h: WindowsHost, *, lines: int, calico_root: str) -> dict[str, str]:
    """The object Get-NodeLogTail.ps1 outputs, from the model."""
    out: dict[str, str] = {}
    for component, candidates in log_candidates(calico_root).items():
        entries = [e for e in (h.fs.entry(c) for c in candidates) if e is not None and not e.is_dir]
        if not entries:
            out[component] = ""
            continue
        latest = max(entries, key=lambda e: e.modified)
        text = h.fs.read_text(latest.path).replace("\r\n", "\n")
        all_lines = text.split("\n")
        if all_lines and all_lines[-1] == "":
            all_lines.pop()
        out[component] = "\n".join(all_lines[-lines:] if lines > 0 else [])
    return out


@register_shipped_script("Get-NodeLogTail.ps1", parameters=("Lines", "CalicoRoot"))
def get_node_log_tail(inv: Invocation) -> None:
    """Get-NodeLogTail.ps1 -Lines N -CalicoRoot R."""
    inv.output(log_tail(inv.host, lines=int(inv.get("Lines", 50)),
                        calico_root=str(inv.get("CalicoRoot") or "C:\\CalicoWindows")))
