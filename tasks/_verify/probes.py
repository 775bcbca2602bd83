"""The checks run inside the smoke pods: DNS lookups and HTTP requests, as the runbook types them, with their
outcome read from the command's output and exit code.

Linux (netshoot): `nslookup <svc>`, `curl -sI -m 5 http://<svc>` (first line `HTTP/1.1 200 OK`; exit 28 timeout,
7 refused, 6 name not resolved). Windows (the IIS pod, servercore): `nslookup.exe <svc>` and PowerShell's
`Invoke-WebRequest`. Only Service names from our own manifests (RFC 1035 labels, checked) are put into a command.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Awaitable, Callable, Literal

from kubernetes.aio import client as kclient

from prefect_windows_nodes.tasks._kube.pod_exec import ExecError, exec_in_pod
from prefect_windows_nodes.tasks._verify.manifests import is_dns_label

Os = Literal["linux", "windows"]

CURL_EXIT = {6: "could not resolve host", 7: "connection refused", 28: "timed out", 52: "empty reply",
             56: "connection reset"}
_IPV4 = re.compile(r"\b(\d{1,3}(?:\.\d{1,3}){3})\b")


@dataclass(frozen=True)
class Endpoint:
    """A pod to run a probe from: namespace, pod name, OS, and a label for reports (e.g. `netshoot`)."""

    namespace: str
    pod: str
    os: Os
    label: str


@dataclass(frozen=True)
class ProbeResult:
    """What a probe saw. `ok` is whether the observation is a success (resolved / HTTP 200), not whether it
    matched an expectation."""

    source: str
    target: str
    check: Literal["dns", "http"]
    ok: bool
    observed: str
    detail: str = ""        # raw output, trimmed, for reports


def _url(service: str) -> str:
    if not is_dns_label(service):
        raise ValueError(f"{service!r} is not a Service name")
    return f"http://{service}"


def dns_argv(os: Os, service: str) -> list[str]:
    """The lookup command for `service` on `os`."""
    _url(service)
    return ["nslookup.exe", service] if os == "windows" else ["nslookup", service]


def http_argv(os: Os, service: str, timeout_s: int = 5) -> list[str]:
    """The HEAD/GET request command for `http://<service>` on `os`."""
    url = _url(service)
    if os == "windows":
        # The runbook's command; `.StatusCode` makes the outcome one line. An unreachable server is a terminating
        # error, and powershell.exe then exits 1.
        return ["powershell.exe", "-NoProfile", "-NonInteractive", "-Command",
                f"(Invoke-WebRequest -UseBasicParsing -TimeoutSec {int(timeout_s)} -Uri {url}).StatusCode"]
    return ["curl", "-sI", "-m", str(int(timeout_s)), url]


def parse_nslookup(text: str) -> list[str]:
    """The addresses nslookup printed for the queried name (those after its `Name:` line; the server's own
    `Address:` lines come before it)."""
    addrs: list[str] = []
    seen_name = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.lower().startswith("name:"):
            seen_name = True
            continue
        if seen_name and (stripped.lower().startswith("address") or _IPV4.fullmatch(stripped)):
            addrs += _IPV4.findall(stripped)
    return addrs


def parse_http_status(os: Os, text: str) -> int | None:
    """The HTTP status in curl's `-I` head (the last status line, after any redirects) or in PowerShell's
    `.StatusCode` output."""
    if os == "windows":
        for line in text.splitlines():
            m = re.fullmatch(r"\s*(?:StatusCode\s*:\s*)?(\d{3})\s*", line)
            if m:
                return int(m.group(1))
        return None
    status = None
    for line in text.splitlines():
        m = re.match(r"^HTTP/[\d.]+\s+(\d{3})", line.strip())
        if m:
            status = int(m.group(1))
    return status


def _trim(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def probe_dns(api: kclient.ApiClient, src: Endpoint, service: str, *, timeout_s: float) -> ProbeResult:
    """Resolve `service` from `src`; ok when at least one address came back (observed: the addresses)."""
    try:
        out = await exec_in_pod(api, src.namespace, src.pod, dns_argv(src.os, service), timeout_s=timeout_s)
    except ExecError as exc:
        return ProbeResult(src.label, service, "dns", False, f"exec failed: {exc}")
    addrs = parse_nslookup(out.stdout)
    if addrs:
        return ProbeResult(src.label, service, "dns", True, ", ".join(addrs), _trim(out.stdout))
    why = _trim(out.stderr or out.stdout) or f"exit code {out.exit_code}"
    return ProbeResult(src.label, service, "dns", False, f"not resolved ({why})", _trim(out.stdout + out.stderr))


async def probe_http(api: kclient.ApiClient, src: Endpoint, service: str, *, timeout_s: float,
                     request_timeout_s: int = 5) -> ProbeResult:
    """Request `http://<service>` from `src`; ok on HTTP 200 (observed: `HTTP 200`, or why there was none)."""
    try:
        out = await exec_in_pod(api, src.namespace, src.pod, http_argv(src.os, service, request_timeout_s),
                                timeout_s=timeout_s)
    except ExecError as exc:
        return ProbeResult(src.label, service, "http", False, f"exec failed: {exc}")
    status = parse_http_status(src.os, out.stdout) if out.exit_code == 0 else None
    if status is not None:
        return ProbeResult(src.label, service, "http", status == 200, f"HTTP {status}", _trim(out.stdout))
    if src.os == "linux":
        why = CURL_EXIT.get(out.exit_code, f"curl exit code {out.exit_code}")
        observed = f"no response ({why}, exit {out.exit_code})"
    else:
        first = next((ln.strip() for ln in out.stderr.splitlines() if ln.strip()), "")
        observed = f"no response (exit {out.exit_code}{': ' + _trim(first, 160) if first else ''})"
    return ProbeResult(src.label, service, "http", False, observed, _trim(out.stdout + out.stderr))


async def settle(probe: Callable[[], Awaitable[ProbeResult]], *, want_ok: bool, settle_s: float,
                 pause_s: float = 1.0) -> ProbeResult:
    """Run `probe` until its outcome is `want_ok` or `settle_s` has passed; return the last result.

    Changes to the data path are applied asynchronously — kube-proxy programming a new Service on Windows (HNS load
    balancers), Felix programming a new policy — and the API offers no status to watch for either, so an outcome
    different from the expectation is probed again after `pause_s`.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settle_s
    while True:
        result = await probe()
        if result.ok == want_ok or loop.time() >= deadline:
            return result
        await asyncio.sleep(min(pause_s, max(0.0, deadline - loop.time())))
