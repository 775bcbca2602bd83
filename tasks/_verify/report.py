"""Prefect artifacts of the verification steps: a progress artifact while workloads start, and a table of checks.

Artifacts are created only inside a flow or task run (calling a task's `.fn` in a test makes none). They are
awaited through the `a*` functions: in async code the sync names silently create nothing. An artifact that cannot
be written is logged and does not fail the verification.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from uuid import UUID

from prefect.artifacts import acreate_progress_artifact, acreate_table_artifact, aupdate_progress_artifact
from prefect.context import FlowRunContext, TaskRunContext

from prefect_windows_nodes.tasks._core.results import StepRecorder, StepResult

log = logging.getLogger(__name__)


def in_run() -> bool:
    """True inside a Prefect flow or task run."""
    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def artifact_key(prefix: str, node: str) -> str:
    """`prefix-node` reduced to what artifact keys allow (lowercase letters, digits, dashes)."""
    key = re.sub(r"[^a-z0-9-]+", "-", f"{prefix}-{node}".lower()).strip("-")
    return re.sub(r"-{2,}", "-", key)[:100]


class ProgressArtifact:
    """A progress artifact created on the first update and updated as the percentage changes."""

    def __init__(self, key: str, title: str) -> None:
        self.key, self.title = key, title
        self.id: UUID | None = None
        self.updates: list[tuple[float, str]] = []  # what was reported (also outside a run)
        self._broken = False

    async def __call__(self, percent: float, text: str) -> None:
        self.updates.append((percent, text))
        if not in_run() or self._broken:
            return
        description = f"{self.title}: {text}"
        try:
            if self.id is None:
                self.id = await acreate_progress_artifact(percent, key=self.key, description=description)
            else:
                await aupdate_progress_artifact(self.id, percent, description=description)
        except Exception as exc:  # noqa: BLE001 - a report must not break the verification
            self._broken = True
            log.warning("progress artifact %s not written: %s", self.key, exc)


async def publish_table(key: str, rows: list[dict[str, Any]], description: str) -> UUID | None:
    """Create a table artifact from `rows` (inside a run only); returns its id."""
    if not in_run() or not rows:
        return None
    try:
        return await acreate_table_artifact(rows, key=key, description=description)
    except Exception as exc:  # noqa: BLE001
        log.warning("table artifact %s not written: %s", key, exc)
        return None


async def conclude(rec: StepRecorder, logger: Any, table_key: str, rows: list[dict[str, Any]],
                   description: str) -> StepResult:
    """Finish a verification step: publish its table artifact, log every check (failed ones as errors), and
    raise StepFailed when a check failed; otherwise return the step's result."""
    await publish_table(table_key, rows, description)
    for c in rec.checks:
        (logger.info if c.ok else logger.error)("%s", c.describe())
    rec.raise_if_failed()
    return rec.result()
