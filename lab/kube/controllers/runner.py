"""A single work queue shared by every controller: store listeners enqueue keys, one task reconciles them.

Reconcile functions are synchronous (the store is synchronous and every call is atomic on the loop), so the
same queue can be drained inline at start-up, which lets a seeded scenario converge before the API serves.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Hashable

from ..errors import Conflict, NotFound

log = logging.getLogger("lab.kube.controllers")

Reconcile = Callable[[Any], None]


class Runner:
    """An ordered, de-duplicated queue of (reconcile function, key) with a worker task and an idle signal."""

    def __init__(self) -> None:
        self._queue: dict[tuple[str, Hashable], tuple[Reconcile, Any]] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._busy = 0  # background work (image pulls, delayed steps) that will enqueue more
        self._task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self.errors: list[BaseException] = []  # unexpected reconcile errors, for tests and diagnosis

    def enqueue(self, name: str, fn: Reconcile, key: Hashable) -> None:
        """Ask for `fn(key)` to run soon; a key already waiting under `name` is not queued twice."""
        self._queue.setdefault((name, key), (fn, key))
        self._idle.clear()
        self._wake.set()

    def drain(self, max_steps: int = 200_000) -> int:
        """Run queued work inline until the queue is empty; returns the number of steps taken."""
        steps = 0
        conflicts: dict[tuple[str, Hashable], int] = {}
        while self._queue and steps < max_steps:
            item = next(iter(self._queue))
            fn, key = self._queue.pop(item)
            steps += 1
            try:
                fn(key)
            except Conflict:
                conflicts[item] = conflicts.get(item, 0) + 1
                if conflicts[item] < 10:
                    self._queue.setdefault(item, (fn, key))
            except NotFound:
                pass
            except Exception as exc:  # a controller bug must not stop the cluster
                log.exception("reconcile %s %r failed", item[0], key)
                self.errors.append(exc)
        self._update_idle()
        return steps

    def spawn(self, coro, *, busy: bool = True) -> asyncio.Task:
        """Run background work; while `busy` work runs the runner does not count as idle."""
        if busy:
            self._busy += 1
            self._idle.clear()
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if busy:
                self._busy -= 1
                self._update_idle()
            if not t.cancelled() and t.exception() is not None:
                log.error("controller task failed", exc_info=t.exception())
                self.errors.append(t.exception())
        task.add_done_callback(done)
        return task

    def start(self) -> None:
        """Start the worker task on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self.drain(max_steps=500)
            if self._queue:  # let the API serve between large batches
                self._wake.set()
                await asyncio.sleep(0)

    def _update_idle(self) -> None:
        if not self._queue and self._busy == 0:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no work is queued and no background work is pending (a sync point for tests)."""
        while True:
            await self._idle.wait()
            await asyncio.sleep(0)
            if not self._queue and self._busy == 0:
                return

    async def stop(self) -> None:
        """Cancel the worker and every background task."""
        tasks = list(self._tasks) + ([self._task] if self._task else [])
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._task = None
