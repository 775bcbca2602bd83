"""Numbers the benchmarks report: percentiles, process memory and CPU time (per thread), in plain JSON types."""

from __future__ import annotations

import os
import resource
import threading
from typing import Iterable


def percentile(values: Iterable[float], q: float) -> float | None:
    """The `q`-th percentile (0..100) of `values`, linearly interpolated between ranks; None when empty."""
    data = sorted(values)
    if not data:
        return None
    rank = (len(data) - 1) * q / 100.0
    lo = int(rank)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (rank - lo)


def summary(values: Iterable[float], digits: int = 3) -> dict[str, float | int | None]:
    """`{"n", "p50", "p95", "max"}` of `values` (seconds, counts...), rounded to `digits`."""
    data = list(values)

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, digits)

    return {"n": len(data), "p50": r(percentile(data, 50)), "p95": r(percentile(data, 95)),
            "max": r(max(data) if data else None)}


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def _thread_cpu_s() -> dict[int, float]:
    """CPU seconds (user+system) of every live thread of this process, by native thread id (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                # The command name (field 2) may hold spaces; fields after the closing parenthesis are fixed.
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return out


class CpuMeter:
    """CPU time spent between `start()` and `stop()`, split into the calling thread (the asyncio event loop: the
    emulated servers and the async client code) and every other thread (the WinRM client's worker threads,
    Prefect's). Threads that end in between are counted in the process total only."""

    def __init__(self) -> None:
        self._loop_tid = threading.get_native_id()
        self._before: dict[int, float] = {}
        self._proc_before = 0.0
        self.result: dict[str, float] = {}

    @staticmethod
    def _process_cpu_s() -> float:
        t = os.times()
        return t.user + t.system

    def start(self) -> "CpuMeter":
        self._before = _thread_cpu_s()
        self._proc_before = self._process_cpu_s()
        return self

    def stop(self) -> dict[str, float]:
        """`{"process", "event_loop_thread", "other_threads"}` CPU seconds since `start()`."""
        after = _thread_cpu_s()
        total = self._process_cpu_s() - self._proc_before
        loop = after.get(self._loop_tid, 0.0) - self._before.get(self._loop_tid, 0.0)
        self.result = {"process": round(total, 2), "event_loop_thread": round(loop, 2),
                       "other_threads": round(max(total - loop, 0.0), 2)}
        return self.result
