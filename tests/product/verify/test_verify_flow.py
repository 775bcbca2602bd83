"""`verify_windows_node` through Prefect (test harness) against the joined lab: artifacts are really written
(awaited `a*` calls), and a Prefect task timeout or a cancelled flow while images pull leaves nothing behind."""

from __future__ import annotations

import asyncio
import json

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from prefect_windows_nodes.flows.verify import VerifyRequest, verify_windows_node
from prefect_windows_nodes.tasks._verify.manifests import SmokeImages
from prefect_windows_nodes.tasks.workload_smoke import SMOKE_CHECKS, workload_smoke

from .conftest import FAST, NODE, leftovers, pulling_started, stuck_iis_image

pytestmark = pytest.mark.prefect


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


async def artifacts(key: str) -> list:
    async with get_client() as client:
        return await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))


def rows(artifact) -> list[dict]:
    """A table artifact's rows (the API returns the table as JSON text)."""
    return json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data


async def test_flow_verifies_the_node_and_writes_artifacts(harness, joined):
    await joined.cluster.asave("lab-cluster", overwrite=True)
    summary = await verify_windows_node(VerifyRequest(node_name=NODE, cluster_block="lab-cluster", deadlines=FAST,
                                                      settle_s=1))
    assert summary.outcome == "verified"
    assert [s.step for s in summary.steps] == ["workload_smoke", "netpol_verify"]

    table = (await artifacts(f"smoke-{NODE}"))[0]
    assert table.type == "table" and len(rows(table)) == len(SMOKE_CHECKS)
    assert all(row["pass"] for row in rows(table))
    assert {"source", "target", "check", "expected", "observed", "pass"} <= set(rows(table)[0])
    progress = (await artifacts(f"smoke-progress-{NODE}"))[0]
    assert progress.type == "progress" and progress.data == 100.0
    matrix = (await artifacts(f"netpol-{NODE}"))[0]
    assert {r["observed after"].split(" ")[0] for r in rows(matrix)} == {"allowed", "denied"}
    report = (await artifacts(f"verify-{NODE}"))[0]
    assert "workload_smoke" in report.data and "netpol_verify" in report.data
    assert await leftovers(joined.cluster) == []


async def test_a_prefect_task_timeout_during_the_image_pull_still_cleans_up(harness, joined):
    image = stuck_iis_image(joined, "prefect-timeout")

    @flow
    async def smoke_with_timeout():
        return await workload_smoke.with_options(timeout_seconds=3, retries=0)(
            joined.cluster, NODE, images=SmokeImages(iis=image), deadlines=FAST)

    state = await smoke_with_timeout(return_state=True)
    assert state.is_failed()
    assert await leftovers(joined.cluster) == []


async def test_cancelling_the_flow_while_images_pull_leaves_nothing(harness, joined):
    image = stuck_iis_image(joined, "cancel-flow")
    pulling = pulling_started(joined, image)
    await joined.cluster.asave("lab-cluster", overwrite=True)
    run = asyncio.ensure_future(verify_windows_node(VerifyRequest(
        node_name=NODE, cluster_block="lab-cluster", deadlines=FAST, netpol=False, images=SmokeImages(iis=image))))
    await asyncio.wait_for(pulling.wait(), 30)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert await leftovers(joined.cluster) == []
