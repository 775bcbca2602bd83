"""`prefect --no-prompt deploy --all` from the top-level prefect.yaml against the session's Prefect server, a
process worker that runs a deployed join to completion, and `request_join`: validation before any call and one
run per VM however often it is retried."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from pydantic import ValidationError

from prefect_windows_nodes.blocks import JoinPolicy, WindowsHost
from prefect_windows_nodes.deployments import deployment_specs, join_idempotency_key, request_join

from tests.flows.conftest import started_lab

from .conftest import ROOT, final_state, runs_of, served_env

pytestmark = pytest.mark.usefixtures("prefect_api")
BIN = Path(sys.executable).parent


def prefect_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    done = subprocess.run([str(BIN / "prefect"), *args], cwd=ROOT, env=served_env(), capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


async def test_deploy_all_then_a_process_worker_runs_a_join():
    prefect_cli("work-pool", "create", "windows-nodes", "--type", "process", "--overwrite")
    prefect_cli("--no-prompt", "deploy", "--all")
    async with get_client() as client:
        for spec in deployment_specs():
            deployment = await client.read_deployment_by_name(f"{spec.name}/{spec.name}")
            assert deployment.entrypoint == spec.entrypoint and deployment.work_pool_name == "windows-nodes"
            assert deployment.pull_steps == [{"prefect.deployments.steps.set_working_directory": {
                "directory": str(ROOT)}}], "the pull step points at this checkout"
        limit = await client.read_global_concurrency_limit_by_name("windows-node-joins")
        assert limit.limit >= 1

    async with started_lab() as (lab, names):
        template = await WindowsHost.aload(names["k8s-ww"])
        await template.asave("worker-template", overwrite=True)
        await JoinPolicy(host_blocks=["worker-template"], address_cidrs=["127.0.0.0/8"]).asave(
            "join-policy", overwrite=True)
        vm_id = f"vm-{uuid.uuid4().hex[:8]}"
        run = await request_join(vm_id=vm_id, host_block="worker-template", address="127.0.0.1",
                                 cluster_block=names["cluster"], smoke=False, netpol=False)
        again = await request_join(vm_id=vm_id, host_block="worker-template", address="127.0.0.1",
                                   cluster_block=names["cluster"], smoke=False, netpol=False)
        assert again.id == run.id, "a retried request_join must not start a second join"

        env = {**served_env(), "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5"}
        worker = await asyncio.create_subprocess_exec(
            str(BIN / "prefect"), "worker", "start", "--pool", "windows-nodes", "--run-once", cwd=str(ROOT.parent),
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            done = await final_state(run.id, timeout_s=300)
        finally:
            if worker.returncode is None:
                worker.send_signal(signal.SIGINT)
            out, _ = await asyncio.wait_for(worker.communicate(), timeout=60)
        assert done.state.is_completed(), f"{done.state}\n{out.decode(errors='replace')[-4000:]}"
        node = lab.kube.store.get(lab.kube.registry.get("", "nodes"), None, "k8s-ww")
        assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "True"


async def test_request_join_validates_before_any_call():
    before = len(await runs_of("join-windows-node"))
    with pytest.raises(ValidationError, match="smoke_image"):
        await request_join(vm_id="vm-1", host_block="worker-template", address="127.0.0.1", smoke_image="x")
    with pytest.raises(ValidationError, match="address"):
        await request_join(vm_id="vm-1", host_block="worker-template", address="not an address!")
    assert len(await runs_of("join-windows-node")) == before
    assert join_idempotency_key("vm-1") == "join-windows-node:vm-1"
    assert join_idempotency_key("vm-1", "after-remove") != join_idempotency_key("vm-1")
