"""Pod exec through the unmodified `kubernetes.aio` WebSocket client (v4 channel protocol, binary frames), with
stdout, stderr and the exit code from the error channel; and pod logs."""

from __future__ import annotations

import json

import pytest
from kubernetes.aio import client as kclient
from kubernetes.aio import config as kconfig
from kubernetes.aio.client.exceptions import ApiException
from kubernetes.aio.stream import WsApiClient
from kubernetes.aio.stream.ws_client import ERROR_CHANNEL, STDERR_CHANNEL, STDOUT_CHANNEL

from lab.kube.exec import ExecResult


async def _running_pod(kube, api, ns: str, name: str, containers=("c",)) -> None:
    await kclient.CoreV1Api(api).create_namespaced_pod(ns, {"metadata": {"name": name}, "spec": {
        "containers": [{"name": c, "image": "busybox"} for c in containers], "nodeName": "k8s-lw"}})

    def running(o):
        o["status"] = {"phase": "Running", "containerStatuses": [
            {"name": c, "ready": True, "restartCount": 0, "image": "busybox", "imageID": "",
             "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}}} for c in containers]}

    kube.store.mutate(kube.registry.get("", "pods"), ns, name, running, subresource="status")


@pytest.fixture
async def ws_v1(kube):
    cfg = kclient.Configuration()
    await kconfig.load_kube_config(config_file=str(kube.kubeconfig_path), client_configuration=cfg)
    ws = WsApiClient(configuration=cfg)
    yield kclient.CoreV1Api(api_client=ws)
    await ws.close()


@pytest.fixture
def runtime(kube):
    calls = []

    async def run(pod, container, argv, stdin):
        calls.append((pod["metadata"]["name"], container, argv, stdin))
        if argv == ["fail"]:
            return ExecResult(b"partial\n", b"it broke\n", 3)
        return ExecResult(f"out:{' '.join(argv)}\n".encode(), b"err line\n", 0)

    saved = kube.exec_runtime
    kube.exec_runtime = run
    yield calls
    kube.exec_runtime = saved


async def test_exec_collects_output(ws_v1, kube, api, ns, runtime):
    await _running_pod(kube, api, ns, "p")
    out = await ws_v1.connect_get_namespaced_pod_exec("p", ns, command=["echo", "hi there"], stdout=True,
                                                      stderr=True, stdin=False, tty=False)
    assert out == "out:echo hi there\nerr line\n"
    assert runtime == [("p", "c", ["echo", "hi there"], None)]


async def _frames(ws_v1, ns: str, command: list[str]) -> dict[int, bytes]:
    resp = await ws_v1.connect_get_namespaced_pod_exec_without_preload_content(
        "p", ns, command=command, stdout=True, stderr=True, stdin=False, tty=False)
    channels: dict[int, bytes] = {}
    async with resp as ws:
        async for msg in ws:
            data = msg.data
            assert isinstance(data, bytes)  # binary frames, as the async client expects
            channels[data[0]] = channels.get(data[0], b"") + data[1:]
    return channels


async def test_exec_exit_codes_on_the_error_channel(ws_v1, kube, api, ns, runtime):
    await _running_pod(kube, api, ns, "p")
    ok = await _frames(ws_v1, ns, ["true"])
    assert ok[STDOUT_CHANNEL] == b"out:true\n" and ok[STDERR_CHANNEL] == b"err line\n"
    assert WsApiClient.parse_error_data(ok[ERROR_CHANNEL]) == 0
    bad = await _frames(ws_v1, ns, ["fail"])
    assert bad[STDOUT_CHANNEL] == b"partial\n" and bad[STDERR_CHANNEL] == b"it broke\n"
    assert WsApiClient.parse_error_data(bad[ERROR_CHANNEL]) == 3
    assert json.loads(bad[ERROR_CHANNEL])["reason"] == "NonZeroExitCode"


async def test_exec_default_runtime_reports_command_not_found(ws_v1, kube, api, ns):
    await _running_pod(kube, api, ns, "p")
    from lab.kube.exec import command_not_found

    saved, kube.exec_runtime = kube.exec_runtime, command_not_found
    try:
        frames = await _frames(ws_v1, ns, ["nslookup", "x"])
    finally:
        kube.exec_runtime = saved
    assert b'"nslookup": executable file not found' in frames[STDERR_CHANNEL]
    assert WsApiClient.parse_error_data(frames[ERROR_CHANNEL]) == 127


async def test_exec_errors_before_the_upgrade(ws_v1, kube, api, ns, runtime):
    await kclient.CoreV1Api(api).create_namespaced_pod(ns, {"metadata": {"name": "pending"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}]}})
    with pytest.raises(Exception) as err:
        await ws_v1.connect_get_namespaced_pod_exec("pending", ns, command=["true"], stdout=True, stderr=True,
                                                    stdin=False, tty=False)
    assert "400" in str(err.value)
    with pytest.raises(Exception) as err:
        await ws_v1.connect_get_namespaced_pod_exec("missing", ns, command=["true"], stdout=True)
    assert "404" in str(err.value)
    assert runtime == []


async def test_exec_v5_stdin_close_frame(http, kube, api, ns, runtime):
    """v5 (with its stdin close frame) is offered from 1.30 on; a 1.22 server speaks v4 and refuses a v5-only
    client (kubectl ≥ 1.30 then falls back to SPDY)."""
    import aiohttp

    await _running_pod(kube, api, ns, "p")
    url = f"{kube.url}/api/v1/namespaces/{ns}/pods/p/exec?command=cat&stdin=true&stdout=true&stderr=true"
    headers = {"Authorization": f"Bearer {kube.admin_token}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=kube.ca.client_context())) as s:
        async with s.ws_connect(url, protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"), headers=headers) as ws:
            assert ws.protocol == "v4.channel.k8s.io"  # v1.22.6
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await s.ws_connect(url, protocols=("v5.channel.k8s.io",), headers=headers)
        assert err.value.status == 400
        saved = dict(kube.version)
        kube.set_version("v1.30.2")
        try:
            async with s.ws_connect(url, protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"),
                                    headers=headers) as ws:
                assert ws.protocol == "v5.channel.k8s.io"
                await ws.send_bytes(b"\x00hello ")
                await ws.send_bytes(b"\x00world")
                await ws.send_bytes(b"\xff\x00")  # v5: close stdin
                got = [m.data async for m in ws]
        finally:
            kube.set_version(saved)
    assert runtime[-1][2:] == (["cat"], b"hello world")
    assert got[-1][0] == ERROR_CHANNEL and json.loads(got[-1][1:])["status"] == "Success"


async def test_pod_logs(api, kube, ns):
    await _running_pod(kube, api, ns, "p", containers=("app", "side"))
    kube_logs = {"app": "a1\na2\na3\n", "side": "s1\n"}
    saved = kube.log_provider
    kube.log_provider = lambda pod, container: kube_logs[container]
    v1 = kclient.CoreV1Api(api)
    try:
        assert await v1.read_namespaced_pod_log("p", ns, container="app") == "a1\na2\na3\n"
        assert await v1.read_namespaced_pod_log("p", ns, container="app", tail_lines=2) == "a2\na3\n"
        assert await v1.read_namespaced_pod_log("p", ns, container="side") == "s1\n"
        with pytest.raises(ApiException) as err:
            await v1.read_namespaced_pod_log("p", ns)
        assert err.value.status == 400
        assert "a container name must be specified for pod p, choose one of: [app side]" in err.value.body
    finally:
        kube.log_provider = saved
