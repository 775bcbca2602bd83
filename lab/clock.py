"""One time scale for every emulated duration, so the demo and tests run fast and benchmarks can run realistic."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass
class LabClock:
    """Scales emulated durations: `scale=1.0` is real time, `0.01` makes a 90 s HNS wait take 0.9 s."""

    scale: float = 0.02

    def seconds(self, real_seconds: float) -> float:
        """How long an operation that takes `real_seconds` on a real host takes in the lab."""
        return real_seconds * self.scale

    async def sleep(self, real_seconds: float) -> None:
        """Sleep for the lab's share of `real_seconds`."""
        await asyncio.sleep(self.seconds(real_seconds))
