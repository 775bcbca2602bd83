"""Faults injected at the WinRM wire: HTTP errors, dropped connections and slow answers.

A `WireFaults` is shared between a `WinRMServer` and whoever injects (tests, the host model, `lab up` options).
Connection drops that must happen at a precise moment (the HNS network creation) call
`WinRMServer.drop_connections()` directly instead.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class WireFaults:
    """Per-host wire faults.

    - `fail_next(n, status)`: the next `n` authenticated WSMan POSTs are answered with HTTP `status` (no body)
      instead of being processed; pypsrp raises `WinRMTransportError` for each.
    - `drop_on_next_request`: the next request's connection is closed without an answer (pypsrp sees a
      `requests.exceptions.ConnectionError`); resets itself after one use.
    - `slow_ms`: every request is answered this many milliseconds late (real time, not scaled).
    """

    fail_status: int = 500
    fail_remaining: int = 0
    drop_on_next_request: bool = False
    slow_ms: int = 0

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer the next `n` WSMan POSTs with HTTP `status`."""
        self.fail_remaining = int(n)
        self.fail_status = int(status)

    def take_failure(self) -> int | None:
        """The status to fail this request with, consuming one injected failure; None when none is pending."""
        if self.fail_remaining <= 0:
            return None
        self.fail_remaining -= 1
        return self.fail_status

    def take_drop(self) -> bool:
        """Whether to drop this request's connection (consumes `drop_on_next_request`)."""
        if self.drop_on_next_request:
            self.drop_on_next_request = False
            return True
        return False
