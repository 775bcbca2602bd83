"""Prefect blocks of prefect-windows-nodes (registered through the `prefect.collections` entry point).

- `KubernetesCluster`: a kubeconfig (secret) and the `kubernetes.aio` client it opens.
- `WindowsHost`: a Windows Server host reached over WinRM/PSRP, and the PowerShell session it opens.
- `ControlPlaneSSH`: SSH to a control-plane host (calicoctl with an etcd datastore).
- `JoinSettings`: the non-secret knobs of a Windows node join.

The session types a `WindowsHost` hands out (`PowerShellSession`, `Command`, its errors) are exported here too.
"""

from prefect_windows_nodes.blocks._psrp import (
    Command,
    CommandResult,
    PowerShellSession,
    RemoteCommandError,
    RemoteErrorRecord,
    WindowsHostError,
    WinRMAuthError,
    WinRMCertificateError,
    WinRMProtocolError,
    WinRMTransientError,
)
from prefect_windows_nodes.blocks.kubernetes import KubeconfigError, KubeconfigIdentity, KubernetesCluster, kubeconfig_identity
from prefect_windows_nodes.blocks.settings import JoinSettings
from prefect_windows_nodes.blocks.ssh import ControlPlaneSSH, SSHCommandResult
from prefect_windows_nodes.blocks.windows import WindowsHost

__all__ = [
    "Command", "CommandResult", "ControlPlaneSSH", "JoinSettings", "KubeconfigError", "KubeconfigIdentity",
    "KubernetesCluster", "PowerShellSession", "RemoteCommandError", "RemoteErrorRecord", "SSHCommandResult",
    "WindowsHost", "WindowsHostError", "WinRMAuthError", "WinRMCertificateError", "WinRMProtocolError",
    "WinRMTransientError", "kubeconfig_identity",
]
