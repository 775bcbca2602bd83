"""Serve mode, the embedded default: every deployment of the plugin with its trigger and schedule, served by this
process (no work pool), after the fleet-wide concurrency limits exist."""

from __future__ import annotations

from typing import Any

from prefect import aserve
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.flows import load_flow_from_entrypoint
from prefect.schedules import Cron

from prefect_windows_nodes.deployments.definitions import DeploymentConfig, DeploymentSpec, deployment_specs
from prefect_windows_nodes.flows import ensure_fleet_limits


async def runner_deployment(spec: DeploymentSpec) -> RunnerDeployment:
    """The RunnerDeployment for one spec (module-path entrypoint: it loads from the installed package, whatever
    the working directory holds)."""
    flow = load_flow_from_entrypoint(spec.entrypoint, use_placeholder_flow=False)
    schedules: list[Any] = [Cron(spec.cron, timezone=spec.timezone)] if spec.cron else []
    return await flow.ato_deployment(
        name=spec.name, description=spec.description, parameters=dict(spec.parameters),
        triggers=list(spec.triggers), schedules=schedules, concurrency_limit=spec.concurrency_limit,
        tags=list(spec.tags), entrypoint_type=EntrypointType.MODULE_PATH)


async def serve(cfg: DeploymentConfig | None = None, *, limit: int | None = None) -> None:
    """Create the fleet-wide limits, then serve every deployment until the process is stopped (stopping pauses
    their schedules and triggers, as Prefect's serve does)."""
    await ensure_fleet_limits()
    deployments = [await runner_deployment(spec) for spec in deployment_specs(cfg)]
    await aserve(*deployments, limit=limit)
