"""Pure logic of the verification: reading nslookup/curl/PowerShell output, pod stages, fail-fast rules, and the
shielded cleanup under cancellation."""

from __future__ import annotations

import asyncio

import pytest

from prefect_windows_nodes.tasks._kube.pod_exec import exit_code_of
from prefect_windows_nodes.tasks._verify.probes import dns_argv, http_argv, parse_http_status, parse_nslookup
from prefect_windows_nodes.tasks._kube.objects import shielded
from prefect_windows_nodes.tasks._verify.podstatus import fatal_reason, pod_stage

BIND = "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\nName:\tnginx-svc.default.svc.cluster.local\n" \
       "Address: 10.103.180.29\n\n"
WINDOWS = ("Server:  kube-dns.kube-system.svc.cluster.local\r\nAddress:  10.96.0.10\r\n\r\n"
           "Name:    nginx-svc.default.svc.cluster.local\r\nAddresses:  10.103.180.29\r\n          10.103.180.30\r\n")


def test_nslookup_answers_exclude_the_server_address():
    assert parse_nslookup(BIND) == ["10.103.180.29"]
    assert parse_nslookup(WINDOWS) == ["10.103.180.29", "10.103.180.30"]
    assert parse_nslookup("Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\n** server can't find x: NXDOMAIN\n") == []


def test_http_status_from_curl_head_and_powershell():
    assert parse_http_status("linux", "HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\nHTTP/1.1 200 OK\r\n") == 200
    assert parse_http_status("linux", "") is None
    assert parse_http_status("windows", "200\r\n") == 200
    assert parse_http_status("windows", "\r\nStatusCode        : 200\r\n") == 200


def test_commands_only_take_service_names():
    assert http_argv("linux", "nginx-svc") == ["curl", "-sI", "-m", "5", "http://nginx-svc"]
    assert dns_argv("windows", "iis-svc") == ["nslookup.exe", "iis-svc"]
    with pytest.raises(ValueError):
        http_argv("windows", "x; Remove-Item c:\\")


def test_exit_code_from_the_error_channel_status():
    assert exit_code_of({"status": "Success"}) == 0
    assert exit_code_of({"status": "Failure", "reason": "NonZeroExitCode",
                         "details": {"causes": [{"reason": "ExitCode", "message": "28"}]}}) == 28
    assert exit_code_of({"status": "Failure", "reason": "InternalError", "message": "boom"}) is None


def pod(phase="Pending", node="k8s-ww", waiting=None, running=False, ready=False):
    cs = {"name": "iis", "state": {"running": {}} if running else {"waiting": waiting or {"reason": "ContainerCreating"}}}
    conds = [{"type": "PodScheduled", "status": "True" if node else "False"},
             {"type": "Ready", "status": "True" if ready else "False"}]
    return {"metadata": {"name": "iis-1"}, "spec": {"nodeName": node},
            "status": {"phase": phase, "conditions": conds, "containerStatuses": [cs]}}


def test_pod_stages():
    assert pod_stage(None) == 0
    assert pod_stage(pod(node=None)) == 0
    assert pod_stage(pod()) == 1
    assert pod_stage(pod("Running", running=True)) == 2
    assert pod_stage(pod("Running", running=True, ready=True)) == 3


def test_os_mismatch_fails_fast_with_the_runtime_message():
    msg = ("failed to create containerd task: failed to create shim task: hcs::CreateComputeSystem abc: The "
           "container operating system does not match the host operating system.: unknown")
    why = fatal_reason(pod(waiting={"reason": "CreateContainerError", "message": msg}), [])
    assert "does not match the host operating system" in why


def test_ipam_sandbox_error_fails_fast_but_a_cni_not_ready_does_not():
    ipam = ("Failed to create pod sandbox: rpc error: ... plugin type=\"calico\" failed (add): global strict "
            "affinity should not be false for Windows node")
    assert "strict affinity" in fatal_reason(pod(), [("FailedCreatePodSandBox", ipam)])
    assert fatal_reason(pod(), [("NetworkNotReady", "network is not ready: cni plugin not initialized")]) is None


def test_pull_errors_fail_fast_unless_transient():
    missing = 'rpc error: code = NotFound desc = failed to pull and unpack image "x": not found'
    assert "not found" in fatal_reason(pod(waiting={"reason": "ErrImagePull", "message": missing}), [])
    throttled = "toomanyrequests: You have reached your pull rate limit"
    assert fatal_reason(pod(waiting={"reason": "ErrImagePull", "message": throttled}), []) is None
    backoff = pod(waiting={"reason": "ImagePullBackOff", "message": 'Back-off pulling image "x"'})
    assert "not found" in fatal_reason(backoff, [("Failed", f'Failed to pull image "x": {missing}')])


async def test_shielded_cleanup_completes_when_the_caller_is_cancelled():
    started, finished = asyncio.Event(), []

    async def cleanup():
        started.set()
        await asyncio.sleep(0.05)
        finished.append(True)
        return True

    async def body():
        try:
            await asyncio.Event().wait()
        finally:
            await shielded(cleanup)

    t = asyncio.ensure_future(body())
    await asyncio.sleep(0)
    t.cancel()
    await asyncio.sleep(0)
    await started.wait()
    t.cancel()                      # a second cancel while cleaning up
    with pytest.raises(asyncio.CancelledError):
        await t
    assert finished == [True]


async def test_shielded_cleanup_survives_an_anyio_cancel_scope():
    import anyio

    finished = []

    async def cleanup():
        await asyncio.sleep(0.05)
        finished.append(True)

    with anyio.move_on_after(0.01) as scope:
        try:
            await asyncio.Event().wait()
        finally:
            await shielded(cleanup)
    assert scope.cancelled_caught and finished == [True]
