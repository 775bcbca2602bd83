"""Wire faults as pypsrp experiences them: injected HTTP errors, dropped connections, operation timeouts."""

from __future__ import annotations

import asyncio
import time

import pytest
import requests
from pypsrp.exceptions import WinRMTransportError
from pypsrp.powershell import PowerShell, RunspacePool

from lab.windows.wsman_soap import ERROR_OPERATION_TIMEDOUT


def _execute(host, script: str = "hostname", **kw):
    with host.client(**kw) as client:
        return client.execute_ps(script)


async def test_fail_next_gives_that_many_http_500s_then_works(https_host):
    https_host.faults.fail_next(3)

    for _ in range(3):
        with pytest.raises(WinRMTransportError) as info:
            await asyncio.to_thread(_execute, https_host)
        assert info.value.code == 500
    out, _, had_errors = await asyncio.to_thread(_execute, https_host)

    assert (out, had_errors) == ("ran: hostname", False)
    assert https_host.server.records.injected_failures == 3
    assert len(https_host.host.calls) == 1


async def test_fail_next_with_another_status(https_host):
    https_host.faults.fail_next(1, status=503)

    with pytest.raises(WinRMTransportError) as info:
        await asyncio.to_thread(_execute, https_host)
    assert info.value.code == 503
    assert (await asyncio.to_thread(_execute, https_host))[0] == "ran: hostname"


async def test_drop_connections_fails_the_in_flight_receive(https_host):
    """What creating the HNS network does: the long-polling Receive of a running command dies."""
    server, host = https_host.server, https_host.host

    def run() -> list:
        with https_host.wsman() as wsman, RunspacePool(wsman) as pool:
            ps = PowerShell(pool)
            ps.add_cmdlet("Wait-Gate")
            return ps.invoke()

    call = asyncio.create_task(asyncio.to_thread(run))
    await host.gate_entered.wait()
    await server.wait_for(lambda: server.waiting_receives >= 1)

    assert server.drop_connections() >= 1
    with pytest.raises(requests.exceptions.ConnectionError):
        await call
    host.gate.set()  # the command itself kept running on the host and now ends

    assert server.faults.drop_on_next_request is False  # the in-flight request already carried the error
    assert server.records.dropped >= 1
    out, _, had_errors = await asyncio.to_thread(_execute, https_host)  # a new session works
    assert (out, had_errors) == ("ran: hostname", False)


@pytest.mark.parametrize("https", [True, False])
async def test_drop_connections_between_calls_breaks_the_next_request(start_host, https):
    host = await start_host(https=https)

    def session() -> tuple:
        wsman = host.wsman(auth="ntlm")
        pool = RunspacePool(wsman)
        pool.open()
        first = PowerShell(pool).add_cmdlet("Write-Output").add_argument("before").invoke()
        asyncio.run_coroutine_threadsafe(_drop(host.server), loop).result()
        try:
            PowerShell(pool).add_cmdlet("Write-Output").add_argument("after").invoke()
        except requests.exceptions.ConnectionError as exc:
            return first, exc
        finally:
            # Over HTTP pypsrp keeps encrypting with the dropped connection's NTLM context, so this client cannot
            # even delete its shell afterwards (as against a real host); only a new client works.
            wsman.close()
        return first, None

    loop = asyncio.get_running_loop()
    first, error = await asyncio.to_thread(session)

    assert first == ["before"]
    assert isinstance(error, requests.exceptions.ConnectionError)
    assert host.server.records.dropped >= 2  # the idle keep-alive connection, then the next request's
    out, _, _ = await asyncio.to_thread(_execute, host, auth="ntlm")
    assert out == "ran: hostname"


async def _drop(server) -> int:
    return server.drop_connections()


async def test_drop_on_next_request_is_one_shot(https_host):
    https_host.faults.drop_on_next_request = True

    with pytest.raises(requests.exceptions.ConnectionError):
        await asyncio.to_thread(_execute, https_host)
    assert https_host.server.records.dropped == 1
    assert (await asyncio.to_thread(_execute, https_host))[0] == "ran: hostname"


async def test_operation_timeout_fault_is_tolerated_by_pipeline_receives(https_host):
    server, host = https_host.server, https_host.host

    def run() -> list:
        with https_host.wsman(operation_timeout=1) as wsman, RunspacePool(wsman) as pool:
            return PowerShell(pool).add_cmdlet("Wait-Gate").invoke()

    call = asyncio.create_task(asyncio.to_thread(run))
    await server.wait_for(lambda: server.records.faults[ERROR_OPERATION_TIMEDOUT] >= 1)
    host.gate.set()

    assert await call == ["gate passed"]


async def test_slow_requests_still_complete(https_host):
    https_host.faults.slow_ms = 20
    started = time.perf_counter()

    out, _, _ = await asyncio.to_thread(_execute, https_host)

    assert out == "ran: hostname"
    # each of the ~6 WSMan requests (plus NTLM legs) waited; a lower bound cannot flake
    assert time.perf_counter() - started >= 6 * 0.020


async def test_envelope_over_max_envelope_size_is_refused(https_host):
    """A client configured beyond the host's MaxEnvelopeSizekb (500) gets WinRM's quota fault."""
    from pypsrp.exceptions import WSManFaultError

    from lab.windows.wsman_soap import ERROR_MAX_ENVELOPE_SIZE

    def run() -> None:
        with https_host.wsman(max_envelope_size=4 * 1024 * 1024) as wsman, RunspacePool(wsman) as pool:
            PowerShell(pool).add_cmdlet("Get-Params").add_parameter("Blob", "z" * 1_000_000).invoke()

    with pytest.raises(WSManFaultError) as info:
        await asyncio.to_thread(run)
    assert info.value.code == ERROR_MAX_ENVELOPE_SIZE
    assert "exceeds the maximum envelope size that is allowed (512000)" in info.value.reason
    assert https_host.host.calls == []
