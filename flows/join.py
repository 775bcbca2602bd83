"""`join_windows_node`: one run takes a cluster and a Windows Server host and ends with a Ready Windows node.

The flow is a composition only: it loads blocks, takes the node's lock, runs the steps in order, and reports.
Parameters are block NAMES and switches, never credentials, so nothing secret is stored with a flow run.
"""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger
from pydantic import BaseModel, ConfigDict, Field, field_validator

from prefect_windows_nodes.blocks import ControlPlaneSSH, JoinSettings, KubernetesCluster, WindowsHost
from prefect_windows_nodes.flows._locks import cluster_lock, node_lock
from prefect_windows_nodes.flows._params import block_name, host_address
from prefect_windows_nodes.flows._report import RunReport
from prefect_windows_nodes.tasks import (SmokeImages, StepResult, calico_reconfigure, discover_cluster_facts,
                                         install_calico_windows, install_kube_services, netpol_verify,
                                         wait_node_ready, windows_prereqs, workload_smoke)


class JoinRequest(BaseModel):
    """What to join, by block name. The Prefect UI renders this as the run form.

    `host_block` names a saved WindowsHost block. A VM-provisioning system that knows only the new VM's address
    passes `address` too: the block then serves as a template (its credentials, port, TLS and auth settings) for
    that address, so one saved credential serves a whole pool of identically provisioned hosts.
    """

    model_config = ConfigDict(extra="forbid")

    host_block: str = Field(description="Name of the saved WindowsHost block (or template) for the host.")
    address: str | None = Field(default=None, description="Address of the host, overriding the block's address.")
    cluster_block: str = Field(default="default", description="Name of the saved KubernetesCluster block.")
    ssh_block: str | None = Field(default=None, description="Name of a saved ControlPlaneSSH block; needed only "
                                                             "when Calico uses an etcd datastore.")
    settings_block: str | None = Field(default=None, description="Name of a saved JoinSettings block; defaults "
                                                                  "apply when omitted.")
    plan: bool = Field(default=False, description="Report the changes the join would make, and make none.")
    smoke: bool = Field(default=True, description="Run the workload smoke test once the node is Ready.")
    netpol: bool = Field(default=True, description="Verify network policy enforcement once the node is Ready.")
    smoke_images: SmokeImages = Field(default_factory=SmokeImages,
                                      description="Image overrides for the smoke workloads (private registries).")

    @field_validator("host_block", "cluster_block", "ssh_block", "settings_block")
    @classmethod
    def _names(cls, v: str | None, info) -> str | None:
        return block_name(info.field_name, v)

    @field_validator("address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        return host_address("address", v)


class JoinSummary(BaseModel):
    """What a join run did: its outcome, the node, and every step's result."""

    node: str | None
    address: str
    outcome: Literal["joined", "unchanged", "planned"]
    steps: list[StepResult]


class LoadedBlocks(BaseModel):
    """The blocks a join needs, loaded from the request's names."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    host: WindowsHost
    cluster: KubernetesCluster
    ssh: ControlPlaneSSH | None
    settings: JoinSettings


async def load_blocks(request: JoinRequest) -> LoadedBlocks:
    """Load the named blocks; a request naming a block that does not exist fails here, before anything changes."""
    host = await WindowsHost.aload(request.host_block)
    if request.address:
        host = host.model_copy(update={"address": request.address})
    cluster = await KubernetesCluster.aload(request.cluster_block)
    ssh = await ControlPlaneSSH.aload(request.ssh_block) if request.ssh_block else None
    settings = await JoinSettings.aload(request.settings_block) if request.settings_block else JoinSettings()
    return LoadedBlocks(host=host, cluster=cluster, ssh=ssh, settings=settings)


def _planned_after(step: str, target: str, because: str, change: str) -> StepResult:
    """A plan-mode result for a step that depends on changes an earlier step would make (so it cannot be asked)."""
    return StepResult(step=step, target=target, status="planned", changes=[change],
                      facts={"depends_on": because})


async def run_join_steps(blocks: LoadedBlocks, request: JoinRequest, report: RunReport) -> str | None:
    """Run the join steps in order, keeping each result in `report`; return the node name once known.

    The cluster is discovered once and its facts handed to every step. `windows_prereqs` runs first: everything
    that can be checked before the first change (the host, and what the install will need from the cluster) is
    checked before `calico_reconfigure` changes the cluster, so a join that will be refused changes nothing.
    Raises StepFailed from the first step that fails (its result is kept first).
    """
    plan = request.plan
    host, cluster, settings = blocks.host, blocks.cluster, blocks.settings
    step = report.step

    facts = await discover_cluster_facts(cluster, settings)
    prereqs = await step(windows_prereqs(host, cluster, settings, cluster_facts=facts, plan=plan))
    node = prereqs.host.node_name
    report.subject = node
    async with cluster_lock(cluster.server_url()):
        await step(calico_reconfigure(cluster, blocks.ssh, cluster_facts=facts, plan=plan))
    calico = await step(install_calico_windows(host, cluster, settings, cluster_facts=facts, host_facts=prereqs.host,
                                               plan=plan))
    if plan and calico.changes:  # the services and the node depend on an install that plan mode does not do
        report.steps.append(_planned_after("install_kube_services", host.address, "install_calico_windows",
                                           "install and start kubelet and kube-proxy"))
        report.steps.append(_planned_after("wait_node_ready", node, "install_calico_windows",
                                           f"wait for Node {node} to become Ready"))
    else:
        await step(install_kube_services(host, settings, plan=plan))
        await step(wait_node_ready(cluster, node, settings, host=host, plan=plan))
    if request.smoke:
        await step(workload_smoke(cluster, node, images=request.smoke_images, plan=plan))
    if request.netpol:
        await step(netpol_verify(cluster, node, images=request.smoke_images, plan=plan))
    return node


def _outcome(plan: bool, results: list[StepResult]) -> str:
    if plan:
        return "planned" if any(r.changes for r in results) else "unchanged"
    return "joined" if any(r.status == "changed" for r in results) else "unchanged"


@flow(name="join-windows-node", log_prints=False, validate_parameters=True)
async def join_windows_node(request: JoinRequest) -> JoinSummary:
    """Join a Windows Server host to the cluster as a Calico VXLAN node, idempotently, with a report.

    Takes the node's lock (one join per host at a time), discovers the cluster once, then runs `windows_prereqs`
    (everything checkable before a change), `calico_reconfigure`, `install_calico_windows`,
    `install_kube_services` and `wait_node_ready`, then (each switchable) the
    `workload_smoke` and `netpol_verify` checks. Every step says what it checked and changed; a second run on a
    joined node changes nothing on the node or in the cluster (the checks create and remove a namespace of their
    own). With `plan=True` every step reports what it would change and nothing is changed. Writes a markdown
    artifact `join-<node>` and emits `windows-node.join.started`, `.completed` or `.failed` with the node as the
    resource.

    Raises:
        StepFailed: a step failed; the artifact names the failed check, what was seen, and the fix.

    Example:
        ```python
        from prefect_windows_nodes.flows.join import JoinRequest, join_windows_node

        summary = await join_windows_node(JoinRequest(host_block="winnode04", cluster_block="prod"))
        ```
    """
    logger = get_run_logger()
    blocks = await load_blocks(request)
    target = blocks.host.address
    report = RunReport("join", target, target)
    report.started({"plan": request.plan})
    async with node_lock(f"{target}:{blocks.host.port}"):  # address:port names one WinRM endpoint, one host
        try:
            node = await run_join_steps(blocks, request, report)
        except BaseException as exc:
            await report.failed(exc)
            logger.error("join of %s failed: %s", report.subject, type(exc).__name__)
            raise
    outcome = _outcome(request.plan, report.steps)
    await report.completed(outcome)
    for r in report.steps:
        logger.info("%s", r.summary())
    return JoinSummary(node=node, address=target, outcome=outcome, steps=report.steps)
