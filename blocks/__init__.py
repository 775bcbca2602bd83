"""Prefect blocks of prefect-windows-nodes (registered through the `prefect.collections` entry point).

- `KubernetesCluster`: a kubeconfig (secret) and the `kubernetes.aio` client it opens.
- `WindowsHost`: a Windows Server host reached over WinRM/PSRP, and the PowerShell session it opens.
- `ControlPlaneSSH`: SSH to a control-plane host (calicoctl with an etcd datastore).
- `JoinSettings`: the non-secret knobs of a Windows node join.
"""

from prefect_windows_nodes.blocks.kubernetes import KubernetesCluster
from prefect_windows_nodes.blocks.settings import JoinSettings
from prefect_windows_nodes.blocks.ssh import ControlPlaneSSH, SSHCommandResult
from prefect_windows_nodes.blocks.windows import WindowsHost

__all__ = ["ControlPlaneSSH", "JoinSettings", "KubernetesCluster", "SSHCommandResult", "WindowsHost"]
