"""`windows_prereqs`: everything a join needs that can be checked before the first change, checked — read-only.

One round trip of structured cmdlets gathers the host's facts (`tasks/_host/facts.py`); the host rules
(`tasks/_host/prereqs.py`) and the install rules that need only the cluster's facts (`tasks/_calico/install_plan.py`:
installer parameters known, kubelet version skew, installer vs Kubernetes version) are pure functions of those
facts. A join whose installer would be refused is refused here, before `calico_reconfigure` touches the cluster.
This step changes nothing, in any mode.
"""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from prefect_windows_nodes.blocks import JoinSettings, KubernetesCluster, WindowsHost
from prefect_windows_nodes.tasks._calico.install_plan import CALICO_ZIP, INSTALLER_PATH, cluster_checks
from prefect_windows_nodes.tasks._core.results import Check, StepRecorder, StepResult
from prefect_windows_nodes.tasks._core.retry import retry_on_transient
from prefect_windows_nodes.tasks._host.facts import HostFacts, gather_host_facts
from prefect_windows_nodes.tasks._host.prereqs import evaluate_prereqs
from prefect_windows_nodes.tasks._kube.discovery import ClusterFacts, read_cluster_facts

STEP = "windows_prereqs"


class HostPrereqsResult(StepResult):
    """A `windows_prereqs` result: the checks, plus the host's typed facts for the steps that follow."""

    host: HostFacts


def staged_paths(settings: JoinSettings) -> list[str]:
    """The files a pre-staged install needs on the host (empty for online installs)."""
    if settings.install_source != "prestaged":
        return []
    paths = [settings.release_file or CALICO_ZIP]
    if not settings.release_base_url:
        paths.append(INSTALLER_PATH)
    return paths


def install_source_checks(settings: JoinSettings, facts: HostFacts) -> list[Check]:
    """A pre-staged install has its release zip (and, without a mirror, the installer script) on the host."""
    checks = []
    for path in staged_paths(settings):
        what = "the installer script" if path == INSTALLER_PATH else "the pre-staged Calico release zip"
        ok = facts.exists(path)
        checks.append(Check(name="prestaged-files", ok=ok, observed=f"{path} {'present' if ok else 'absent'}",
                            expected=f"{what} on the host",
                            fix="" if ok else f"Copy {what} to {path} (or set release_base_url to a mirror the host "
                                              "can reach), then re-run the join."))
    return checks


def credential_source_check(cluster: KubernetesCluster, settings: JoinSettings) -> Check | None:
    """The admin-kubeconfig mode needs a kubeconfig to copy (in-cluster credentials cannot be)."""
    if settings.least_privilege or cluster.kubeconfig is not None:
        return None
    return Check(name="admin-kubeconfig", ok=False, observed="in-cluster credentials (no kubeconfig to copy)",
                 expected="a kubeconfig to copy, or least_privilege", fix="Set least_privilege in JoinSettings.")


# NO_CACHE: every run must really look at the host and cluster (and the inputs hold secrets).
@task(name=STEP, retries=3, retry_delay_seconds=[2, 5, 10], retry_condition_fn=retry_on_transient,
      cache_policy=NO_CACHE)
async def windows_prereqs(host: WindowsHost, cluster: KubernetesCluster, settings: JoinSettings | None = None, *,
                          cluster_facts: ClusterFacts | None = None, plan: bool = False) -> HostPrereqsResult:
    """Check that `host` can join `cluster` as a Calico VXLAN Windows node, and change nothing.

    Checks: OS build, overlay hotfix, Containers feature, no pending reboot, a running container runtime, a
    hostname valid as a node name, free disk (`settings.min_free_disk_gb`), the API server reachable from the host;
    then what the install will need: every installer parameter known, the Windows kubelet not newer than the API
    server, an installer that works on this Kubernetes version, pre-staged files present, a credential to copy.

    Args:
        host: the Windows host block.
        cluster: the cluster (read only when `cluster_facts` is not given).
        settings: JoinSettings (defaults when omitted).
        cluster_facts: the cluster's facts as the join discovered them; discovered here when omitted.
        plan: accepted for symmetry with the other steps; this step never changes anything.

    Returns:
        HostPrereqsResult "unchanged", with `host` (node name, build, runtime, addresses) for the later steps.

    Raises:
        StepFailed: a check failed; nothing was changed. The result names each failed check, what was seen, and
            how to fix it. (Raised in plan mode too: the join could not proceed.)

    Example:
        ```python
        from prefect_windows_nodes.blocks import KubernetesCluster, WindowsHost
        from prefect_windows_nodes.tasks import windows_prereqs

        result = await windows_prereqs(WindowsHost.load("BLOCK_NAME"), KubernetesCluster.load("BLOCK_NAME"))
        print(result.host.node_name)
        ```
    """
    settings = settings or JoinSettings()
    logger = get_run_logger()
    rec = StepRecorder(STEP, target=host.address, plan=plan)
    cf = cluster_facts or await read_cluster_facts(cluster, settings)
    api_host, api_port = cluster.server_endpoint()
    async with host.open_session() as ps:
        facts = await gather_host_facts(ps, api_host=api_host, api_port=api_port, paths=staged_paths(settings))
    for key, value in facts.report().items():
        rec.fact(key, value)
    rec.checks.extend(evaluate_prereqs(facts, api_server_host=api_host, api_server_port=api_port,
                                       min_free_gb=settings.min_free_disk_gb))
    rec.checks.extend(cluster_checks(cf))
    rec.checks.extend(install_source_checks(settings, facts))
    source = credential_source_check(cluster, settings)
    if source is not None:
        rec.checks.append(source)
    for c in rec.checks:
        (logger.info if c.ok else logger.error)("%s", c.describe())
    rec.raise_if_failed()
    return HostPrereqsResult(**rec.result().model_dump(), host=facts)
