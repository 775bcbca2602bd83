"""Session-wide fixtures. `prefect_api`: one Prefect test server for the whole session (starting one takes 10+ s;
two in one session would fight over the process-wide Prefect settings)."""

from __future__ import annotations

from typing import Any

import pytest
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="session")
def prefect_api() -> Any:
    """A Prefect API (SQLite, its own temporary server) for every test that runs flows through Prefect."""
    with prefect_test_harness(server_startup_timeout=120):
        yield
