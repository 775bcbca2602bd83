"""Which errors are transient (worth a retry) and the async `retry_condition_fn` that Prefect tasks use.

Retried: HTTP 429 and 5xx from the Kubernetes API, connection errors (refused, reset, timed out, closed), SSH
connection loss. Never retried: 401/403/404/409/422 and other client errors, bad credentials, host-key mismatches,
and `StepFailed` (a failed check does not get better by asking again).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import asyncssh
from kubernetes.aio.client.exceptions import ApiException as AioApiException
from kubernetes.client.exceptions import ApiException

from prefect_windows_nodes.blocks import KubeconfigError, WinRMAuthError
from prefect_windows_nodes.tasks._core.results import StepFailed

TRANSIENT_HTTP = frozenset({429, 500, 502, 503, 504})
# Errors that stop the search through causes: retrying them cannot help, whatever caused them.
_PERMANENT = (StepFailed, asyncssh.PermissionDenied, asyncssh.HostKeyNotVerifiable, KubeconfigError, WinRMAuthError)
# Refused, reset, timed out, closed (aiohttp's include a server disconnect; asyncssh's a dropped transport).
_CONNECTION_ERRORS = (ConnectionError, TimeoutError, aiohttp.ClientConnectionError, asyncssh.ConnectionLost)


def is_transient(exc: BaseException) -> bool:
    """True when `exc` (or what it wraps) is a transient error worth retrying."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, _PERMANENT):
            return False
        if isinstance(exc, (AioApiException, ApiException)):
            # status 0: the client never got an HTTP answer (connection failed before a response).
            status = int(exc.status or 0)
            return status == 0 or status in TRANSIENT_HTTP
        if isinstance(exc, _CONNECTION_ERRORS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


async def retry_on_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect `retry_condition_fn` for async tasks: retry only when the failure is transient.

    Async on purpose: for an async task `state.result()` returns a coroutine and never raises,
    so a synchronous condition would never see the failure.
    """
    try:
        outcome = await state.aresult(raise_on_failure=False)
    except BaseException as exc:  # a failure that could not be materialized as a value
        outcome = exc
    return isinstance(outcome, BaseException) and is_transient(outcome)
