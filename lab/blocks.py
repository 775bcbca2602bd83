"""Blocks for an environment described by a lab.json file (the built-in lab writes one; so can any test bed).

This reads a JSON file; it does not import the lab. Keys read: `kubeconfig`, `windows_hosts[]` (`name`,
`winrm_url`, `username`, `password`, `ca_file`, `auth`), `control_plane_ssh` (`host`, `port`, `username`,
`private_key_file`, `known_hosts_file`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from prefect_windows_nodes.blocks import ControlPlaneSSH, KubernetesCluster, WindowsHost


def read_lab_json(path: str | Path) -> dict[str, Any]:
    """The parsed lab.json."""
    return json.loads(Path(path).read_text())


def cluster_block(lab: dict[str, Any]) -> KubernetesCluster:
    """A KubernetesCluster block holding the environment's admin kubeconfig."""
    return KubernetesCluster.from_file(lab["kubeconfig"])


def windows_host_block(entry: dict[str, Any]) -> WindowsHost:
    """A WindowsHost block for one `windows_hosts` entry: HTTPS with the environment's CA, certificate checked."""
    url = urlsplit(entry["winrm_url"])
    https = url.scheme == "https"
    return WindowsHost(
        address=url.hostname, port=url.port or (5986 if https else 5985), use_https=https,
        ca_bundle=Path(entry["ca_file"]).read_text() if https and entry.get("ca_file") else None,
        auth=entry.get("auth", "ntlm"), username=entry["username"], password=SecretStr(entry["password"]),
    )


def ssh_block(lab: dict[str, Any]) -> ControlPlaneSSH | None:
    """A ControlPlaneSSH block for the control plane, host key pinned from the environment's known_hosts."""
    s = lab.get("control_plane_ssh")
    if not s:
        return None
    return ControlPlaneSSH(host=s["host"], port=s["port"], username=s["username"],
                           private_key=SecretStr(Path(s["private_key_file"]).read_text()),
                           known_hosts=Path(s["known_hosts_file"]).read_text())


async def save_lab_blocks(lab: dict[str, Any], *, prefix: str = "lab") -> dict[str, str]:
    """Save the environment's blocks on the Prefect server; return {role: block name}.

    Names: `<prefix>-cluster`, `<prefix>-ssh`, and one `<host name>` per Windows host (e.g. `k8s-ww`).
    """
    names = {"cluster": f"{prefix}-cluster"}
    await cluster_block(lab).asave(names["cluster"], overwrite=True)
    ssh = ssh_block(lab)
    if ssh is not None:
        names["ssh"] = f"{prefix}-ssh"
        await ssh.asave(names["ssh"], overwrite=True)
    for entry in lab.get("windows_hosts", []):
        await windows_host_block(entry).asave(entry["name"], overwrite=True)
        names[entry["name"]] = entry["name"]
    return names
