"""Counts the Prefect client's HTTP requests to the API, by status, while a flow-mode phase runs.

Prefect's client retries 408/429/502/503 responses itself, sleeping 2, 4, 8... seconds (with jitter) between
attempts, so a busy API server shows up as flow runs that start late rather than as errors. Counting the
responses makes that visible. The probe wraps `httpx.AsyncClient.send` in this process only (the benchmark's
own instrumentation; product code is unchanged) and counts only requests to `api_url`.
"""

from __future__ import annotations

import re
from collections import Counter
from contextlib import contextmanager
from typing import Any, Iterator

import httpx

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
RETRIED_BY_CLIENT = frozenset({408, 429, 502, 503})


class ApiProbe:
    """Response counts of one measured stretch: `report()` summarizes them."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.responses: Counter = Counter()  # (method, path template, status) -> count
        self.errors = 0                      # requests that raised (connection errors, timeouts)

    def note(self, request: httpx.Request, status: int | None) -> None:
        if not str(request.url).startswith(self.api_url):
            return
        if status is None:
            self.errors += 1
            return
        path = _ID.sub("{id}", request.url.path)
        self.responses[(request.method, path, status)] += 1

    def report(self) -> dict[str, Any]:
        """`{"requests", "by_status", "retried_by_client", "non_2xx"}`: totals, the responses Prefect's client
        retries after a back-off sleep, and the most frequent non-2xx responses ("METHOD path status": n)."""
        by_status: Counter = Counter()
        for (_, _, status), n in self.responses.items():
            by_status[status] += n
        non_2xx = Counter({f"{m} {p} {s}": n for (m, p, s), n in self.responses.items() if not 200 <= s < 300})
        return {"requests": sum(self.responses.values()) + self.errors,
                "by_status": {str(k): v for k, v in sorted(by_status.items())},
                "retried_by_client": sum(n for (_, _, s), n in self.responses.items() if s in RETRIED_BY_CLIENT),
                "transport_errors": self.errors,
                "non_2xx": dict(non_2xx.most_common(10))}


@contextmanager
def probe_prefect_api(api_url: str) -> Iterator[ApiProbe]:
    """Count responses of every `httpx.AsyncClient` request to `api_url` made inside the block."""
    probe = ApiProbe(api_url)
    original = httpx.AsyncClient.send

    async def send(self: httpx.AsyncClient, request: httpx.Request, *args: Any, **kwargs: Any) -> httpx.Response:
        try:
            response = await original(self, request, *args, **kwargs)
        except Exception:
            probe.note(request, None)
            raise
        probe.note(request, response.status_code)
        return response

    httpx.AsyncClient.send = send  # type: ignore[method-assign]
    try:
        yield probe
    finally:
        httpx.AsyncClient.send = original  # type: ignore[method-assign]
