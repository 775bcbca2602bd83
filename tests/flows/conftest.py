"""Fixtures for flow tests: one Prefect test server per session, and a fresh lab per test with its blocks saved.

Flows run for real inside `prefect_test_harness` (its own SQLite API server); the lab is the cluster and the
Windows hosts at the wire. Nothing is mocked.
"""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

import pytest
from prefect.testing.utilities import prefect_test_harness

from deployments.lab_blocks import save_lab_blocks
from lab.world import Lab


@pytest.fixture(scope="session")
def prefect_api() -> Any:
    """A Prefect API for the whole session (starting one takes 10+ s)."""
    with prefect_test_harness(server_startup_timeout=120):
        yield


@contextlib.asynccontextmanager
async def started_lab(scenario: str = "default", *, windows: int = 1, **kw: Any) -> AsyncIterator[tuple[Lab, dict]]:
    """A running lab and the names of its blocks, saved on the Prefect API."""
    async with Lab(scenario, windows=windows, **kw) as lab:
        names = await save_lab_blocks(lab.describe(), prefix=f"lab-{scenario}".replace(".", "-"))
        yield lab, names
