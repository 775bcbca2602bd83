"""Authentication and transport security of the emulated WinRM endpoint, driven by the unmodified pypsrp client."""

from __future__ import annotations

import asyncio

import pytest
import requests
from pypsrp.exceptions import AuthenticationError

from .conftest import DOMAIN, PASSWORD, USER


def _run(host, script: str = "hostname", **kw):
    with host.client(**kw) as client:
        return client.execute_ps(script)


@pytest.mark.parametrize("auth", ["ntlm", "negotiate", "basic"])
async def test_https_auth_schemes_run_a_command(https_host, auth):
    out, streams, had_errors = await asyncio.to_thread(_run, https_host, auth=auth)

    assert (out, streams.error, had_errors) == ("ran: hostname", [], False)
    conn = https_host.server.records.connections[-1]
    assert conn.user.lower().endswith(USER.lower())
    assert conn.auth == ("basic" if auth == "basic" else "ntlm" if auth == "ntlm" else "negotiate")
    assert https_host.server.records.encrypted_messages == 0  # TLS carries the messages as they are


@pytest.mark.parametrize("auth", ["ntlm", "negotiate"])
async def test_ntlm_over_http_encrypts_every_message(start_host, auth):
    host = await start_host(https=False)

    out, _, had_errors = await asyncio.to_thread(_run, host, auth=auth)

    assert (out, had_errors) == ("ran: hostname", False)
    records = host.server.records
    # Create, Receive (open), Command, Receive, Signal, Delete — every one arrived encrypted
    assert records.encrypted_messages == sum(records.actions.values()) >= 5


async def test_https_with_encryption_always_is_encrypted_inside_tls(https_host):
    out, _, _ = await asyncio.to_thread(_run, https_host, auth="ntlm", encryption="always")

    assert out == "ran: hostname"
    assert https_host.server.records.encrypted_messages == sum(https_host.server.records.actions.values())


async def test_basic_over_http_needs_encryption_never(start_host):
    host = await start_host(https=False)

    out, _, _ = await asyncio.to_thread(_run, host, auth="basic")

    assert out == "ran: hostname"
    assert host.server.records.connections[-1].auth == "basic"


async def test_domain_qualified_user_is_accepted(https_host):
    out, _, _ = await asyncio.to_thread(_run, https_host, auth="ntlm", username=f"{DOMAIN}\\{USER}")

    assert out == "ran: hostname"


@pytest.mark.parametrize("auth", ["ntlm", "basic"])
async def test_wrong_password_is_a_401(https_host, auth):
    with pytest.raises(AuthenticationError, match="Failed to authenticate"):
        await asyncio.to_thread(_run, https_host, auth=auth, password="not-the-password")

    assert https_host.server.records.auth_failures == 1
    assert https_host.server.records.actions["Create"] == 0
    assert https_host.host.calls == []


async def test_unknown_user_and_foreign_domain_are_refused(https_host):
    with pytest.raises(AuthenticationError):
        await asyncio.to_thread(_run, https_host, auth="ntlm", username="mallory", password=PASSWORD)
    with pytest.raises(AuthenticationError):
        await asyncio.to_thread(_run, https_host, auth="ntlm", username=f"OTHERDOM\\{USER}")


async def test_scheme_not_offered_is_refused(start_host):
    host = await start_host(auth=("ntlm",))

    with pytest.raises(AuthenticationError):
        await asyncio.to_thread(_run, host, auth="basic")


async def test_hosts_in_one_process_keep_their_own_passwords(start_host):
    """Every emulated host has an Administrator; each must accept only its own password."""
    first = await start_host(users={USER: "first-Passw0rd"}, domain="K8S-WW")
    second = await start_host(users={USER: "second-Passw0rd"}, domain="K8S-WW2")

    out1, _, _ = await asyncio.to_thread(_run, first, auth="ntlm", password="first-Passw0rd")
    out2, _, _ = await asyncio.to_thread(_run, second, auth="ntlm", password="second-Passw0rd")
    assert out1 == out2 == "ran: hostname"
    with pytest.raises(AuthenticationError):
        await asyncio.to_thread(_run, second, auth="ntlm", password="first-Passw0rd")


async def test_tls_certificate_is_verified_against_the_lab_ca(https_host):
    """The endpoint's certificate chains to the lab CA only: a client trusting the system store refuses it."""
    with pytest.raises(requests.exceptions.SSLError):
        await asyncio.to_thread(_run, https_host, auth="ntlm", cert_validation=True)
