"""`verify_windows_node`: run the post-join verification (`workload_smoke`, `netpol_verify`) against a node that is
already joined. A composition only: it loads the cluster block, runs the switched-on steps, and reports."""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger
from pydantic import BaseModel, ConfigDict, Field, field_validator

from prefect_windows_nodes.blocks import KubernetesCluster
from prefect_windows_nodes.flows._params import block_name, node_name
from prefect_windows_nodes.flows._report import RunReport
from prefect_windows_nodes.tasks import SmokeDeadlines, SmokeImages, StepResult, netpol_verify, workload_smoke


class VerifyRequest(BaseModel):
    """Which node to verify and how. The Prefect UI renders this as the run form."""

    model_config = ConfigDict(extra="forbid")

    node_name: str = Field(description="The Windows node as `kubectl get nodes` shows it (lowercased hostname).")
    cluster_block: str = Field(default="default", description="Name of the saved KubernetesCluster block.")
    smoke: bool = Field(default=True, description="Run the workload smoke test (DNS and cross-OS HTTP).")
    netpol: bool = Field(default=True, description="Run the NetworkPolicy matrix (Linux- and Windows-side).")
    keep: bool = Field(default=False, description="Leave the test namespaces in place for inspection.")
    images: SmokeImages = Field(default_factory=SmokeImages, description="Image overrides (private registries).")
    deadlines: SmokeDeadlines = Field(default_factory=SmokeDeadlines, description="Per-phase deadlines.")
    settle_s: float = Field(default=20.0, ge=0, description="How long a failing check is retried while new Services "
                                                          "and policies are programmed on the nodes.")

    @field_validator("cluster_block")
    @classmethod
    def _block(cls, v: str) -> str:
        return block_name("cluster_block", v)

    @field_validator("node_name")
    @classmethod
    def _node(cls, v: str) -> str:
        return node_name("node_name", v)


class VerifySummary(BaseModel):
    """The outcome of a verification run and every step's result."""

    node: str
    outcome: Literal["verified", "skipped"]
    steps: list[StepResult]


@flow(name="verify-windows-node", log_prints=False, validate_parameters=True)
async def verify_windows_node(request: VerifyRequest) -> VerifySummary:
    """Verify an already-joined Windows node: `workload_smoke`, then `netpol_verify` (each switchable).

    Writes a markdown artifact `verify-<node>` (plus the steps' table artifacts) and emits
    `windows-node.verify.completed` or `.failed` with the node as the resource.

    Raises:
        StepFailed: a step failed; its result (in the artifact) holds the check table and the diagnosis.

    Example:
        ```python
        from prefect_windows_nodes.flows.verify import VerifyRequest, verify_windows_node

        summary = await verify_windows_node(VerifyRequest(node_name="k8s-ww", cluster_block="prod"))
        ```
    """
    logger = get_run_logger()
    cluster = await KubernetesCluster.aload(request.cluster_block)
    node = request.node_name
    report = RunReport("verify", node)
    options = dict(images=request.images, keep=request.keep, deadlines=request.deadlines, settle_s=request.settle_s)
    try:
        if request.smoke:
            await report.step(workload_smoke(cluster, node, **options))
        if request.netpol:
            await report.step(netpol_verify(cluster, node, **options))
    except BaseException as exc:
        await report.failed(exc)
        logger.error("verification of %s failed: %s", node, type(exc).__name__)
        raise
    outcome = "verified" if report.steps else "skipped"
    await report.completed(outcome)
    for r in report.steps:
        logger.info("%s", r.summary())
    return VerifySummary(node=node, outcome=outcome, steps=report.steps)
