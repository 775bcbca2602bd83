"""`workload_smoke` and `netpol_verify` against the real lab after a join: the product's kubernetes client and
pypsrp talk to the emulated API server and Windows host over real sockets."""

from __future__ import annotations

import asyncio

import kubernetes_validate
import pytest
from kubernetes.aio import client as kclient
from prefect.logging import disable_run_logger

from prefect_windows_nodes.tasks._kube.pod_exec import ExecError, exec_in_pod
from prefect_windows_nodes.tasks._verify.manifests import SmokeImages
from prefect_windows_nodes.tasks.netpol_verify import netpol_verify
from prefect_windows_nodes.tasks._core.results import StepFailed
from prefect_windows_nodes.tasks.workload_smoke import SMOKE_CHECKS, workload_smoke
from prefect_windows_nodes.tasks._kube.objects import delete_namespace

from prefect_windows_nodes.blocks import KubernetesCluster

from .conftest import FAST, NODE, join_node, leftovers, pulling_started, stuck_iis_image
from .test_manifests import all_manifests, schema_version


async def smoke(j, **kw):
    with disable_run_logger():
        return await workload_smoke.fn(j.cluster, j.node, deadlines=kw.pop("deadlines", FAST),
                                       settle_s=kw.pop("settle_s", 0.5), **kw)


async def netpol(j, **kw):
    with disable_run_logger():
        return await netpol_verify.fn(j.cluster, j.node, deadlines=kw.pop("deadlines", FAST),
                                      settle_s=kw.pop("settle_s", 1.0), **kw)


async def namespace_exists(cluster, name: str) -> bool:
    async with cluster.get_client() as api:
        items = (await kclient.CoreV1Api(api).list_namespace(field_selector=f"metadata.name={name}")).items
    return bool(items)


async def test_smoke_passes_after_a_join_and_leaves_nothing(joined):
    result = await smoke(joined)
    assert result.status == "unchanged"
    assert all(c.ok for c in result.checks), [c.describe() for c in result.checks if not c.ok]
    probe_checks = [c for c in result.checks if c.name.startswith(("dns ", "http "))]
    assert len(probe_checks) == len(SMOKE_CHECKS)
    assert {c.name for c in probe_checks} >= {"dns iis → nginx-svc", "http iis → nginx-svc",
                                              "http netshoot → iis-svc"}
    assert result.facts["iis_image"].endswith(":windowsservercore-ltsc2019")
    ns = result.facts["namespace"]
    assert ns.startswith("win-smoke-")
    assert not await namespace_exists(joined.cluster, ns)
    assert await leftovers(joined.cluster) == []


async def test_netpol_matrix_matches_before_and_after_the_policies(joined):
    result = await netpol(joined)
    assert all(c.ok for c in result.checks), [c.describe() for c in result.checks if not c.ok]
    matrix = {c.name: c for c in result.checks if ": " in c.name}
    assert set(matrix) == {
        "allow-nginx-ingress-from-iis: iis → nginx-svc allowed",
        "allow-nginx-ingress-from-iis: netshoot → nginx-svc denied",
        "allow-iis-ingress-from-clients: iis-client → iis-svc allowed",
        "allow-iis-ingress-from-clients: netshoot → iis-svc denied",
    }
    for c in matrix.values():  # the state before the policies is part of every case
        assert "(before: allowed" in c.expected
    assert matrix["allow-iis-ingress-from-clients: netshoot → iis-svc denied"].observed.startswith("denied")
    assert "enforcement_missing_on" not in result.facts
    assert await leftovers(joined.cluster) == []


async def test_felix_stopped_on_windows_fails_the_windows_case_only(joined):
    async with joined.host.open_session() as ps:
        await ps.run("Stop-Service", Name="CalicoFelix")
    try:
        with pytest.raises(StepFailed) as info:
            await netpol(joined)
    finally:
        async with joined.host.open_session() as ps:
            await ps.run("Start-Service", Name="CalicoFelix")
    result = info.value.result
    failed = {c.name: c for c in result.failed_checks}
    assert set(failed) == {"allow-iis-ingress-from-clients: netshoot → iis-svc denied"}
    check = next(iter(failed.values()))
    assert check.observed.startswith("allowed (HTTP 200)")
    assert f"enforcement is missing on Windows node {NODE}" in check.observed
    assert "CalicoFelix" in check.fix
    assert result.facts["enforcement_missing_on"] == NODE
    # the Linux-side cases still hold, and everything was removed
    assert all(c.ok for c in result.checks if "nginx" in c.name)
    assert await leftovers(joined.cluster) == []


async def test_keep_leaves_the_workloads_and_exec_reports_exit_codes(joined):
    result = await smoke(joined, keep=True)
    ns = result.facts["kept_namespace"]
    try:
        async with joined.cluster.get_client() as api:
            out = await exec_in_pod(api, ns, "netshoot", ["sh", "-c", "echo out; no-such-tool; exit 3"])
            assert (out.stdout, out.exit_code) == ("out\n", 3) and "no-such-tool: not found" in out.stderr
            ok = await exec_in_pod(api, ns, "netshoot", ["curl", "-sI", "-m", "5", "http://nginx-svc"])
            assert ok.exit_code == 0 and ok.stdout.startswith("HTTP/1.1 200 OK")
            with pytest.raises(ExecError):
                await exec_in_pod(api, ns, "no-such-pod", ["true"])
            assert await delete_namespace(api, ns, timeout_s=30)
    finally:
        assert await leftovers(joined.cluster) == []


async def validate_against(cluster) -> str:
    async with cluster.get_client() as api:
        version = (await kclient.VersionApi(api).get_code()).git_version
    for obj in all_manifests():
        body = {**obj, "metadata": {**obj["metadata"], "name": obj["metadata"].get("name", "win-smoke-x")}}
        kubernetes_validate.validate(body, schema_version(version), strict=True)
    return version


async def test_manifests_validate_against_the_lab_version(joined):
    assert (await validate_against(joined.cluster)).startswith("v1.22")


async def test_manifests_validate_against_a_newer_cluster():
    from lab.world import Lab

    async with Lab("k8s-1.30", windows=0, ssh=False) as lab:
        cluster = KubernetesCluster.from_file(lab.describe()["kubeconfig"])
        assert (await validate_against(cluster)).startswith("v1.30")


async def test_kube_proxy_stopped_on_windows_fails_the_windows_side_checks(joined):
    async with joined.host.open_session() as ps:
        await ps.run("Stop-Service", Name="kube-proxy")
    try:
        with pytest.raises(StepFailed) as info:
            await smoke(joined)
    finally:
        async with joined.host.open_session() as ps:
            await ps.run("Start-Service", Name="kube-proxy")
    failed = {c.name: c for c in info.value.result.failed_checks}
    # the IIS pod reaches no Service (not even cluster DNS); the Linux pod's checks, IIS as a target included, pass
    assert set(failed) == {"dns iis → nginx-svc", "dns iis → iis-svc", "http iis → nginx-svc"}
    assert failed["http iis → nginx-svc"].observed.startswith("no response")
    assert "-DNSServerIPs" in failed["dns iis → nginx-svc"].fix
    assert "kube-proxy" in failed["http iis → nginx-svc"].fix
    assert await leftovers(joined.cluster) == []


async def test_cancelling_while_the_iis_image_pulls_leaves_nothing(joined):
    image = stuck_iis_image(joined, "cancel-task")
    pulling = pulling_started(joined, image)
    task = asyncio.ensure_future(smoke(joined, images=SmokeImages(iis=image)))
    await asyncio.wait_for(pulling.wait(), 30)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await leftovers(joined.cluster) == []


async def test_a_missing_image_fails_fast_with_the_pull_error(joined):
    bad = "docker.io/library/nginx:0.0-does-not-exist"
    joined.kubelet.set_image_missing(bad)
    with pytest.raises(StepFailed) as info:
        await smoke(joined, images=SmokeImages(nginx=bad))
    failed = info.value.result.failed_checks
    assert failed[0].name == "nginx-started" and "not found" in failed[0].observed
    assert "image" in failed[0].fix.lower()
    assert await leftovers(joined.cluster) == []


async def test_a_node_that_is_not_windows_is_refused(joined):
    with disable_run_logger(), pytest.raises(StepFailed) as info:
        await workload_smoke.fn(joined.cluster, "k8s-lw", deadlines=FAST)
    assert [c.name for c in info.value.result.failed_checks] == ["node-windows"]


async def test_plan_creates_nothing_even_before_the_node_exists(joined):
    before = joined.lab.kube.requests.count(mutating=True)
    result = await smoke(joined, plan=True)
    assert result.status == "planned" and "win-smoke-" in result.changes[0]
    assert result.facts["node_state"] == "Ready"
    with disable_run_logger():
        future = await netpol_verify.fn(joined.cluster, "k8s-ww9", plan=True)
    assert future.status == "planned" and future.facts["node_state"] == "not registered yet"
    assert joined.lab.kube.requests.count(mutating=True) == before


@pytest.fixture(scope="module")
async def joined_2022():
    pytest.importorskip("lab.kube.cluster")
    from lab.world import Lab

    async with Lab(windows=1, windows_build=20348) as lab:
        yield await join_node(lab)


async def test_a_2022_host_runs_ltsc2022_and_rejects_ltsc2019(joined_2022):
    result = await smoke(joined_2022)
    assert result.facts["iis_image"].endswith(":windowsservercore-ltsc2022")
    assert all(c.ok for c in result.checks)

    forced = "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2019"
    with pytest.raises(StepFailed) as info:
        await smoke(joined_2022, images=SmokeImages(iis=forced))
    failed = info.value.result.failed_checks
    assert [c.name for c in failed] == ["iis-started"]
    assert "The container operating system does not match the host operating system" in failed[0].observed
    assert "ltsc2022" in failed[0].fix
    assert await leftovers(joined_2022.cluster) == []


async def test_a_missed_pull_deadline_fails_with_the_pod_state_and_cleans_up(joined):
    image = stuck_iis_image(joined, "deadline")
    short = FAST.model_copy(update={"windows_start_s": 0.5})
    with pytest.raises(StepFailed) as info:
        await smoke(joined, images=SmokeImages(iis=image), deadlines=short)
    result = info.value.result
    assert [c.name for c in result.failed_checks] == ["iis-started"]
    assert result.failed_checks[0].observed == "not started within 0.5s"
    assert "windows_start_s" in result.failed_checks[0].fix
    assert "ContainerCreating" in result.facts["diagnosis"] and NODE in result.facts["diagnosis"]
    assert await leftovers(joined.cluster) == []
