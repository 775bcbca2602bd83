"""Which errors are transient (worth a retry) and the async `retry_condition_fn` that Prefect tasks use.

Retried: HTTP 429 and 5xx from the Kubernetes API, connection errors (refused, reset, timed out, closed), SSH
connection loss. Never retried: 401/403/404/409/422 and other client errors, bad credentials, host-key mismatches,
and `StepFailed` (a failed check does not get better by asking again).
"""

from __future__ import annotations

import asyncio
from typing import Any

TRANSIENT_HTTP = frozenset({429, 500, 502, 503, 504})


def is_transient(exc: BaseException) -> bool:
    """True when `exc` (or what it wraps) is a transient error worth retrying."""
    from .results import StepFailed

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, StepFailed) or _is_permanent(exc):
            return False
        status = _http_status(exc)
        if status is not None:
            # status 0: the client never got an HTTP answer (connection failed before a response).
            return status == 0 or status in TRANSIENT_HTTP
        if _is_connection_error(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _is_permanent(exc: BaseException) -> bool:
    """Errors that stop the search through causes: retrying them cannot help, whatever caused them."""
    permanent: list[type] = []
    try:
        import asyncssh

        permanent += [asyncssh.PermissionDenied, asyncssh.HostKeyNotVerifiable]
    except ImportError:  # pragma: no cover
        pass
    try:
        from blocks.kubernetes import KubeconfigError
        from blocks.windows import WinRMAuthError

        permanent += [KubeconfigError, WinRMAuthError]
    except ImportError:  # pragma: no cover - blocks are part of this package
        pass
    return isinstance(exc, tuple(permanent))


def _http_status(exc: BaseException) -> int | None:
    try:
        from kubernetes.aio.client.exceptions import ApiException as AioApiException
        from kubernetes.client.exceptions import ApiException
    except ImportError:  # pragma: no cover - kubernetes is a dependency
        return None
    if isinstance(exc, (AioApiException, ApiException)):
        return int(exc.status or 0)
    return None


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, (ConnectionError, asyncio.TimeoutError, TimeoutError)):
        return True
    try:
        import aiohttp

        if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ServerDisconnectedError)):
            return True
    except ImportError:  # pragma: no cover
        pass
    try:
        import asyncssh

        # ConnectionLost covers a dropped transport; PermissionDenied / HostKeyNotVerifiable are never transient.
        if isinstance(exc, asyncssh.ConnectionLost):
            return True
    except ImportError:  # pragma: no cover
        pass
    return False


async def retry_on_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect `retry_condition_fn` for async tasks: retry only when the failure is transient.

    Async on purpose: for an async task `state.result()` returns a coroutine and never raises (prefect.md).
    """
    try:
        outcome = await state.aresult(raise_on_failure=False)
    except BaseException as exc:  # a failure that could not be materialized as a value
        outcome = exc
    return isinstance(outcome, BaseException) and is_transient(outcome)
