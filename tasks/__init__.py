"""The join's steps — one async Prefect task per module — and the typed facts they hand each other.

Steps: `windows_prereqs`, `calico_reconfigure`, `install_calico_windows`, `install_kube_services`,
`wait_node_ready`, `workload_smoke`, `netpol_verify`. `discover_cluster_facts` reads the cluster once per join;
its `ClusterFacts` and `windows_prereqs`' `HostFacts` are what later steps take instead of asking again. Every step
returns a `StepResult` and raises `StepFailed` when a check fails. Internals live in the private subpackages.
"""

from prefect_windows_nodes.tasks._core.results import Check, StepFailed, StepResult
from prefect_windows_nodes.tasks._host.facts import HostFacts
from prefect_windows_nodes.tasks._kube.discovery import ClusterFacts, discover_cluster_facts
from prefect_windows_nodes.tasks._verify.manifests import SmokeImages, is_node_name
from prefect_windows_nodes.tasks._verify.report import artifact_key
from prefect_windows_nodes.tasks._verify.workload_wait import SmokeDeadlines
from prefect_windows_nodes.tasks.calico_reconfigure import calico_reconfigure
from prefect_windows_nodes.tasks.install_calico_windows import install_calico_windows
from prefect_windows_nodes.tasks.install_kube_services import install_kube_services
from prefect_windows_nodes.tasks.netpol_verify import netpol_verify
from prefect_windows_nodes.tasks.wait_node_ready import wait_node_ready
from prefect_windows_nodes.tasks.windows_prereqs import HostPrereqsResult, windows_prereqs
from prefect_windows_nodes.tasks.workload_smoke import workload_smoke

__all__ = [
    "Check", "ClusterFacts", "HostFacts", "HostPrereqsResult", "SmokeDeadlines", "SmokeImages", "StepFailed",
    "StepResult", "artifact_key", "calico_reconfigure", "discover_cluster_facts", "install_calico_windows",
    "install_kube_services", "is_node_name", "netpol_verify", "wait_node_ready", "windows_prereqs",
    "workload_smoke",
]
