"""Fixtures for the product Windows tests.

- `wire`: the lab's real WinRM/PSRP endpoint (`lab.windows.wsman.WinRMServer`) in front of a small scripted host,
  for session-level behaviour (parameters on the wire, error streams, files, drops, HTTP faults).
- `lab` (module scope, added as the lab lands): `lab.world.Lab(windows=1)` end to end.
The product code under test is unmodified: pypsrp and the kubernetes client talk to the lab over real sockets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from prefect_windows_nodes.blocks import WindowsHost
from lab.tls import LabCA
from lab.windows.dispatch import ErrorRecord, FileTransfer, PipelineCommand, PipelineFailed, PSObj
from lab.windows.wire_faults import WireFaults
from lab.windows.wsman import WinRMServer

USER = "Administrator"
PASSWORD = "Wire-Passw0rd-9f3a!"
DOMAIN = "K8S-WW"


class DictFS:
    """Files as a case-insensitive dict (what pypsrp's copy/fetch need)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def write_bytes(self, path: str, data: bytes) -> None:
        self.files[path.lower()] = bytes(data)

    def read_bytes(self, path: str) -> bytes:
        try:
            return self.files[path.lower()]
        except KeyError:
            raise FileNotFoundError(path) from None


@dataclass
class ScriptedHost:
    """A Dispatcher that records every statement and answers a few commands."""

    fs: DictFS = field(default_factory=DictFS)
    calls: list[PipelineCommand] = field(default_factory=list)
    server: WinRMServer | None = None
    drop_on: str | None = None  # command name whose run drops every connection (like HNS creation)

    async def run_pipeline(self, commands: list[PipelineCommand], input: list[Any], streams: Any) -> None:
        if await FileTransfer(self.fs).handle(commands, input, streams):
            return
        for cmd in commands:
            self.calls.append(cmd)
            name = "<script>" if cmd.is_script else cmd.name
            if self.drop_on and name == self.drop_on and self.server is not None:
                self.drop_on = None
                self.server.drop_connections()
                return
            if name == "<script>":
                streams.output(PSObj(["Lab.Script", "System.Object"],
                                     {"Text": cmd.name, "Parameters": dict(cmd.parameters)}))
            elif name == "Write-Output":
                streams.output(cmd.parameters.get("InputObject"))
            elif name == "Get-Facts":
                streams.output({"ComputerName": "K8S-WW", "UBR": 1999, "Flags": [True, False],
                                "Nested": {"Name": "x", "Empty": None}})
                streams.output("second")
            elif name == "Write-Error":
                streams.output("partial")
                streams.error(ErrorRecord(message=str(cmd.parameters.get("Message")), category="WriteError",
                                          fqid="Microsoft.PowerShell.Commands.WriteErrorException"))
            elif name == "Write-Host":
                streams.information("Calico for Windows installer v3.22.5")
                streams.information("Backend networking is vxlan")
                streams.warning("careful")
                streams.output("done")
            elif name == "Throw":
                raise PipelineFailed(ErrorRecord(message="The installer failed: VNI must be 4096 or greater",
                                                 category="InvalidArgument", fqid="Lab.InstallFailed"))
            else:
                streams.output({"Command": cmd.name, "Parameters": dict(cmd.parameters)})


@dataclass
class Wire:
    server: WinRMServer
    host: ScriptedHost
    faults: WireFaults
    block: WindowsHost


@pytest.fixture(scope="session")
def wire_ca(tmp_path_factory) -> LabCA:
    return LabCA(tmp_path_factory.mktemp("wire-ca"))


@pytest.fixture
async def wire(wire_ca):
    """A running WinRM endpoint (HTTPS, NTLM) and a `WindowsHost` block that trusts its CA."""
    host = ScriptedHost()
    faults = WireFaults()
    server = WinRMServer(host, users={USER: PASSWORD}, domain=DOMAIN,
                         tls=wire_ca.server_context("127.0.0.1", "localhost"), faults=faults)
    host.server = server
    await server.start()
    block = WindowsHost(address="127.0.0.1", port=server.port, username=USER, password=PASSWORD,
                        ca_bundle=wire_ca.ca_pem.decode(), connection_timeout=5, operation_timeout=5,
                        read_timeout=10)
    try:
        yield Wire(server, host, faults, block)
    finally:
        await server.stop()


# --------------------------------------------------------------------------------------------------- the lab
def lab_blocks(lab: Any, name: str = "k8s-ww", **host_overrides: Any):
    """(WindowsHost, KubernetesCluster) for one lab host, built only from `Lab.describe()` (what lab.json says)."""
    from pathlib import Path
    from urllib.parse import urlsplit

    from prefect_windows_nodes.blocks import KubernetesCluster

    desc = lab.describe()
    h = next(w for w in desc["windows_hosts"] if w["name"] == name)
    url = urlsplit(h["winrm_url"])
    host = WindowsHost(address=url.hostname, port=url.port, use_https=url.scheme == "https",
                       ca_bundle=Path(h["ca_file"]).read_text() if url.scheme == "https" else None,
                       auth=h.get("auth", "ntlm"), username=h["username"], password=h["password"],
                       connection_timeout=5, operation_timeout=5, read_timeout=15, **host_overrides)
    return host, KubernetesCluster.from_file(desc["kubeconfig"])


def api_endpoint(cluster: Any) -> tuple[str, int]:
    """The API server (host, port) as the Windows host reaches it."""
    from urllib.parse import urlsplit

    u = urlsplit(cluster.server_url())
    return u.hostname, u.port or 443
