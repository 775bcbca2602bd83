"""No secret value reaches Prefect: logs, flow-run parameters, artifacts and events are read back and searched."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, LogFilter, LogFilterFlowRunId

from prefect_windows_nodes.blocks import JoinSettings
from prefect_windows_nodes.flows.join import JoinRequest, join_windows_node

from .conftest import started_lab

pytestmark = pytest.mark.usefixtures("prefect_api")


def lab_secrets(lab) -> list[str]:
    """Every secret value the lab handed out: the Windows password, the admin token, the SSH private key body,
    and every token the API server issued during the run (TokenRequest, legacy SA token secrets)."""
    info = lab.describe()
    secrets = [h["password"] for h in info["windows_hosts"]] + [info["kube"]["admin_token"]]
    key = Path(info["control_plane_ssh"]["private_key_file"]).read_text()
    secrets += [line for line in key.splitlines() if line and "PRIVATE KEY" not in line]
    secrets += list(lab.kube.authn.issued_tokens)
    return [s for s in secrets if len(s) >= 8]


async def read_back(flow_run_id) -> str:
    """Everything Prefect stored about a flow run, as one text."""
    async with get_client() as client:
        run = await client.read_flow_run(flow_run_id)
        logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
        arts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
        text = [repr(run.parameters)] + [log.message for log in logs] + [repr(a.data) for a in arts]
        # Events are stored asynchronously; the filter endpoint sees them after a moment.
        for _ in range(20):
            resp = await client._client.post("/events/filter", json={"filter": {"any_resource": {
                "id_prefix": ["windows-node."]}}, "limit": 50})
            events = resp.json().get("events", [])
            if len(events) >= 2:
                break
            await asyncio.sleep(0.5)
        text.append(repr(events))
        return "\n".join(text), len(logs), len(arts), len(events)


async def test_no_secret_in_logs_parameters_artifacts_or_events():
    async with started_lab() as (lab, names):
        await JoinSettings(least_privilege=True).asave("secrets-test", overwrite=True)
        req = JoinRequest(host_block="k8s-ww", cluster_block=names["cluster"], ssh_block=names["ssh"],
                          settings_block="secrets-test", smoke=False, netpol=False)
        state = await join_windows_node(req, return_state=True)
        assert state.is_completed(), state
        text, n_logs, n_arts, n_events = await read_back(state.state_details.flow_run_id)
        assert n_logs > 0 and n_arts > 0 and n_events >= 2, "nothing to search: the test would prove nothing"
        secrets = lab_secrets(lab)
        assert lab.kube.authn.issued_tokens, "least privilege should have issued an installer token"
        assert len(secrets) >= 4
        for s in secrets:
            assert s not in text, f"a secret ({s[:3]}...) reached Prefect"
        assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.", text), "a JWT-looking token reached Prefect"
