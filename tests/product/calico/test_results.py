"""StepResult / StepRecorder / StepFailed behaviour, and which errors count as transient."""

from __future__ import annotations

import pickle

import aiohttp
import asyncssh
import pytest
from kubernetes.aio.client.exceptions import ApiException
from prefect.states import Completed, Failed

from prefect_windows_nodes.tasks._core.results import StepFailed, StepRecorder
from prefect_windows_nodes.tasks._core.retry import is_transient, retry_on_transient


def test_recorder_status_and_duration():
    rec = StepRecorder("s", "t")
    assert rec.result().status == "unchanged"
    rec.change("x: a → b")
    assert rec.result().status == "changed"
    planned = StepRecorder("s", "t", plan=True)
    planned.change("x: a → b")
    assert planned.result().status == "planned"
    rec.check("c", ok=False, observed="1", expected="2", fix="do y")
    assert rec.result().status == "failed"
    assert rec.result().duration_s >= 0


def test_step_failed_carries_diagnosis_and_survives_pickling():
    rec = StepRecorder("calico_reconfigure", "https://x")
    rec.check("vxlan-vni", ok=False, observed="4095", expected=">= 4096", fix="set it")
    rec.check("fine", ok=True, observed="ok")
    with pytest.raises(StepFailed) as info:
        rec.raise_if_failed()
    text = str(info.value)
    assert "vxlan-vni: FAILED (observed 4095; expected >= 4096). Fix: set it" in text and "fine" not in text
    again = pickle.loads(pickle.dumps(info.value))
    assert again.result == info.value.result


@pytest.mark.parametrize("exc, transient", [
    (ApiException(status=429), True),
    (ApiException(status=503), True),
    (ApiException(status=0, reason="connect failed"), True),
    (ApiException(status=401), False),
    (ApiException(status=403), False),
    (ApiException(status=409), False),
    (ApiException(status=422), False),
    (ConnectionResetError(), True),
    (aiohttp.ClientConnectorError.__new__(aiohttp.ClientConnectorError), True),
    (asyncssh.ConnectionLost("gone"), True),
    (asyncssh.PermissionDenied("no"), False),
    (asyncssh.HostKeyNotVerifiable("bad key"), False),
    (ValueError("bad"), False),
])
def test_is_transient(exc, transient):
    assert is_transient(exc) is transient


def test_step_failed_is_never_transient_even_when_caused_by_a_connection_error():
    rec = StepRecorder("s", "t")
    rec.check("c", ok=False, observed="x")
    try:
        try:
            raise ConnectionResetError()
        except ConnectionResetError:
            rec.raise_if_failed()
    except StepFailed as exc:
        assert not is_transient(exc)


def test_wrapped_transient_error_is_found_through_cause():
    try:
        try:
            raise ApiException(status=502)
        except ApiException as inner:
            raise RuntimeError("step broke") from inner
    except RuntimeError as exc:
        assert is_transient(exc)


async def test_retry_condition_reads_the_failed_state():
    assert await retry_on_transient(None, None, Failed(data=ApiException(status=500))) is True
    assert await retry_on_transient(None, None, Failed(data=ApiException(status=403))) is False
    assert await retry_on_transient(None, None, Completed(data=1)) is False


def test_calico_task_retries_only_through_the_async_transient_condition():
    import inspect

    from prefect_windows_nodes.tasks.calico_reconfigure import calico_reconfigure

    from prefect.cache_policies import NO_CACHE

    assert calico_reconfigure.retries == 3
    assert calico_reconfigure.cache_policy is NO_CACHE  # a second run must run, not return the first result
    assert calico_reconfigure.retry_condition_fn is retry_on_transient
    assert inspect.iscoroutinefunction(retry_on_transient)  # sync would never see the async task's exception


def test_winrm_errors_are_classified():
    from prefect_windows_nodes.blocks import WinRMAuthError, WinRMTransientError

    assert is_transient(WinRMTransientError("connection reset"))
    assert not is_transient(WinRMAuthError("401"))


def test_auth_failure_caused_by_a_connection_error_is_not_retried():
    from prefect_windows_nodes.blocks import WinRMAuthError

    try:
        try:
            raise ConnectionResetError()
        except ConnectionResetError as inner:
            raise WinRMAuthError("401") from inner
    except WinRMAuthError as exc:
        assert not is_transient(exc)
