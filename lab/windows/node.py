"""One emulated Windows Server node: the host model, its command handlers, the installers' behaviours and the
WinRM endpoint, started and stopped together (`EmulatedWindowsNode.start(...)`)."""

from __future__ import annotations

import re
import secrets
import string
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lab.clock import LabClock
from lab.tls import LabCA

from .faults import HostFaults
from .handlers import HostContext, HostDispatcher
from .host import WindowsHost
from .host_defaults import apply_fault
from .records import HostRecords
from .wire_faults import WireFaults
from .wsman import WinRMServer

USERNAME = "Administrator"
FIRST_HOST_OCTET = 172          # k8s-ww is 172.16.3.172, the runbook's address; k8s-ww2 .173, ...
_AUTH = {"ntlm": ("ntlm", "negotiate"), "negotiate": ("ntlm", "negotiate"), "basic": ("basic", "ntlm", "negotiate")}


def _password() -> str:
    """A random password meeting Windows' complexity rules (upper, lower, digit, symbol)."""
    alphabet = string.ascii_letters + string.digits
    body = "".join(secrets.choice(alphabet) for _ in range(14))
    return f"Lab{body}7!"


def host_ip(name: str) -> str:
    """The node's IPv4 address from its name: `k8s-ww` → 172.16.3.172, `k8s-ww2` → 172.16.3.173, ... counting on
    into 172.16.4.x and beyond (skipping network and broadcast addresses) for large fleets."""
    m = re.search(r"(\d+)$", name)
    index = int(m.group(1)) if m else 1
    offset = 3 * 254 + FIRST_HOST_OCTET - 1 + max(index, 1) - 1  # position among usable .1-.254 addresses
    return f"172.16.{offset // 254}.{offset % 254 + 1}"


class EmulatedWindowsNode:
    """A running emulated Windows host reachable over WinRM. Build with `await EmulatedWindowsNode.start(...)`."""

    name: str
    host: WindowsHost
    server: WinRMServer
    records: HostRecords
    faults: HostFaults
    username: str
    password: str
    ca_file: Path | None
    auth: str

    @classmethod
    async def start(cls, *, name: str, build: int, kube: Any, clock: LabClock, ca: LabCA, state_dir: Path,
                    host: str = "127.0.0.1", faults: dict | HostFaults | None = None, https: bool = True,
                    auth: str = "ntlm", runtime: str = "containerd") -> "EmulatedWindowsNode":
        """Build the host model (hostname `name`, node name its lowercase, OS of `build` 17763/20348, `runtime`
        containerd 1.7 or docker 20.10.9, the `faults` applied), attach the installers and kubelet behaviours to
        the Kubernetes lab `kube`, and serve WinRM on a free port of `host` (HTTPS with a certificate from `ca`
        unless `https` is False; `auth` "ntlm" or "basic"). User `Administrator` gets a random password."""
        if auth not in _AUTH:
            raise ValueError(f"unsupported WinRM auth {auth!r}; use one of {', '.join(_AUTH)}")
        self = cls()
        self.name = name
        self.auth = auth
        self.faults = faults if isinstance(faults, HostFaults) else HostFaults.from_dict(faults)
        self.host = WindowsHost.create(name=name, build=build, runtime=runtime, clock=clock, ip=host_ip(name),
                                       faults=self.faults)
        self.records = HostRecords()
        self.host.on_mutation.append(self.records.note_mutation)
        self.host.fs.on_write.append(self.records.note_file_written)
        self.kube = kube
        api = _api_endpoint(kube)
        if api is not None:
            self.host.allow_tcp(*api)
        catalog = _attach_installers(self.host, kube)
        self.dispatcher = HostDispatcher(self.host, self.records, context=HostContext(catalog=catalog))
        self.username = USERNAME
        self.password = _password()
        server_password = _password() if self.faults.wrong_password else self.password
        self.ca_file = Path(ca.ca_file) if https and ca is not None else None
        tls = ca.server_context(host, "localhost", name) if https and ca is not None else None
        wire_faults = WireFaults()
        if self.faults.winrm_500:
            wire_faults.fail_next(self.faults.winrm_500)
        self.server = WinRMServer(self.dispatcher, users={USERNAME: server_password}, domain=self.host.netbios_name,
                                  tls=tls, host=host, auth=_AUTH[auth], faults=wire_faults)
        self.host.connection_droppers.append(self.server.drop_connections)
        self.host.on_boot.append(self._on_boot)
        self.faults.listeners.append(self._fault_changed)
        await self.server.start()
        return self

    # ---- contract attributes -----------------------------------------------------------------------------------
    @property
    def winrm_url(self) -> str:
        """`https://127.0.0.1:PORT/wsman`."""
        return self.server.url

    @property
    def os_build(self) -> str:
        """`10.0.17763.1999` (changes with the missing_hotfix fault)."""
        return self.host.os.os_build

    @property
    def node_name(self) -> str:
        """The Kubernetes node name (lowercased hostname)."""
        return self.host.node_name

    def lab_json(self) -> dict[str, Any]:
        """What lab.json says about this host (the password is the one clients are told, even under the
        wrong_password fault)."""
        return {
            "name": self.name, "node_name": self.node_name, "winrm_url": self.winrm_url, "username": self.username,
            "password": self.password, "ca_file": str(self.ca_file) if self.ca_file else None,
            "os_build": self.os_build, "auth": self.auth, "domain": self.host.netbios_name,
            "ip": self.host.primary_ipv4(), "runtime": self.host.runtime.kind,
        }

    async def stop(self) -> None:
        """Stop the WinRM endpoint and the host's background work."""
        await self.server.stop()
        await self.host.close()

    # ---- faults and reboots ------------------------------------------------------------------------------------
    def _fault_changed(self, name: str, value: Any) -> None:
        if name == "winrm_500":
            self.server.faults.fail_next(int(value or 0))
        elif name == "wrong_password":
            self.server.users.users[USERNAME] = _password() if value else self.password
        elif name in ("missing_hotfix", "no_container_runtime", "reboot_required", "disk_full"):
            apply_fault(self.host, name, value)

    async def _on_boot(self, host: WindowsHost) -> None:
        # A reboot ends every PowerShell session on the host; new connections after the boot work normally
        # (the wire's "drop the next request too" applies to keep-alive clients of a running host, not here).
        self.server.service.close_all()
        self.server.faults.drop_on_next_request = False


def _api_endpoint(kube: Any) -> tuple[str, int] | None:
    url = getattr(kube, "url", None)
    if not url:
        return None
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)


def _attach_installers(host: WindowsHost, kube: Any) -> Any:
    """Give the host the installers' behaviours (Calico services, kubelet) and their download catalog, when the
    installers part is present. Returns the catalog (or None)."""
    try:
        from .installers.runtime import attach
    except ImportError:
        return None
    rt = attach(host, kube=kube)
    return rt.catalog
