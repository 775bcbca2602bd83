"""Fixtures for the deployment tests: the plugin served by `prefect-windows-nodes serve` in a subprocess against
the session's Prefect test server, and helpers to wait for flow runs with deadlines."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowRunFilter
from prefect.client.schemas.objects import FlowRun
from prefect.settings import PREFECT_API_URL

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "prefect-windows-nodes"


def served_env() -> dict[str, str]:
    """The environment of a process that talks to the session's Prefect server and polls for runs every second."""
    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_RUNNER_POLL_FREQUENCY": "1",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            # the venv's console scripts (prefect, prefect-windows-nodes), as in an activated environment
            "PATH": f"{CLI.parent}{os.pathsep}{os.environ.get('PATH', '')}"}


async def wait_for(predicate: Callable[[], Any], *, timeout_s: float, what: str, interval_s: float = 0.5) -> Any:
    """Await `predicate()` (sync or async) until it returns something truthy; fail naming `what` at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")
        await asyncio.sleep(interval_s)


async def runs_of(deployment_name: str) -> list[FlowRun]:
    """Every flow run of the deployment named `deployment_name`, oldest first."""
    async with get_client() as client:
        runs = await client.read_flow_runs(deployment_filter=DeploymentFilter(
            name=DeploymentFilterName(any_=[deployment_name])), flow_run_filter=FlowRunFilter())
    return sorted(runs, key=lambda r: r.created)


async def final_state(run_id: Any, *, timeout_s: float) -> FlowRun:
    """The flow run once it is in a final state."""
    async def done() -> FlowRun | None:
        async with get_client() as client:
            run = await client.read_flow_run(run_id)
        return run if run.state is not None and run.state.is_final() else None
    return await wait_for(done, timeout_s=timeout_s, what=f"flow run {run_id} to finish")


@pytest.fixture
async def serve_process() -> AsyncIterator[Callable[..., Any]]:
    """Start `prefect-windows-nodes serve ARGS...`; wait until its deployments exist; stop it afterwards."""
    procs: list[asyncio.subprocess.Process] = []

    async def start(*args: str) -> asyncio.subprocess.Process:
        started = datetime.now(timezone.utc)
        proc = await asyncio.create_subprocess_exec(str(CLI), "serve", *args, cwd=str(ROOT.parent),
                                                    env=served_env(), stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.DEVNULL)
        procs.append(proc)

        async def served() -> bool:
            async with get_client() as client:
                try:
                    deployment = await client.read_deployment_by_name("join-windows-node/join-windows-node")
                except Exception:  # noqa: BLE001 - not there yet
                    return False
            # this process's own registration (a deployment of that name may exist from an earlier test)
            return proc.returncode is None and deployment.updated is not None and deployment.updated >= started
        await wait_for(served, timeout_s=90, what="the served deployments")
        return proc

    yield start
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), timeout=20)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
