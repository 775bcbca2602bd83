"""Prefect blocks of prefect-windows-nodes (registered through the `prefect.collections` entry point).

- `KubernetesCluster`: a kubeconfig (secret) and the `kubernetes.aio` client it opens.
- `WindowsHost`: a Windows Server host reached over WinRM/PSRP, and the PowerShell session it opens.
- `ControlPlaneSSH`: SSH to a control-plane host (calicoctl with an etcd datastore).
- `JoinSettings`: the non-secret knobs of a Windows node join.
"""

from .kubernetes import KubernetesCluster
from .settings import JoinSettings
from .ssh import ControlPlaneSSH, SSHCommandResult
from .windows import WindowsHost

__all__ = ["ControlPlaneSSH", "JoinSettings", "KubernetesCluster", "SSHCommandResult", "WindowsHost"]
