"""Waiting for a host's WinRM endpoint: a VM that has just booted (or was just tagged) may not listen yet."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator

from prefect_windows_nodes.blocks import PowerShellSession, WindowsHost, WinRMTransientError


class HostNotReachable(Exception):
    """The host's WinRM endpoint did not answer before the deadline."""

    def __init__(self, target: str, waited_s: float, last_error: str) -> None:
        self.target, self.waited_s, self.last_error = target, waited_s, last_error
        super().__init__(f"{target}: no WinRM answer within {waited_s:.0f}s ({last_error})")


@asynccontextmanager
async def session_when_ready(host: WindowsHost, timeout_s: float, *, first_delay_s: float = 1.0,
                             max_delay_s: float = 10.0) -> AsyncIterator[tuple[PowerShellSession, float]]:
    """An open session on `host` and how many seconds it took to get one. Connection failures (refused, reset,
    timed out) are retried with a backoff until `timeout_s` has passed; credential and certificate errors are
    not (they do not get better by waiting). Raises HostNotReachable at the deadline."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    delay = first_delay_s
    session = PowerShellSession(host)
    while True:
        try:
            await session.open()
            break
        except WinRMTransientError as exc:
            waited = loop.time() - started
            if waited + delay > timeout_s:
                await session.close()
                raise HostNotReachable(session.target, waited, str(exc)) from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay_s)
    try:
        yield session, loop.time() - started
    finally:
        await session.close()
