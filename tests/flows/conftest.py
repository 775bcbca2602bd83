"""Fixtures for flow tests: a fresh lab per test with its blocks saved (the Prefect API is `prefect_api` in
tests/conftest.py).

Flows run for real inside `prefect_test_harness` (its own SQLite API server); the lab is the cluster and the
Windows hosts at the wire. Nothing is mocked.
"""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

from lab.blocks import save_lab_blocks
from lab.world import Lab


@contextlib.asynccontextmanager
async def started_lab(scenario: str = "default", *, windows: int = 1, **kw: Any) -> AsyncIterator[tuple[Lab, dict]]:
    """A running lab and the names of its blocks, saved on the Prefect API."""
    async with Lab(scenario, windows=windows, **kw) as lab:
        names = await save_lab_blocks(lab.describe(), prefix=f"lab-{scenario}".replace(".", "-"))
        yield lab, names
