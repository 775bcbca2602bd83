"""Join a fleet of emulated Windows hosts to the lab cluster, then join them all again, and print the numbers.

    python -m benchmarks.join_fleet --hosts N [--concurrency C] [--time-scale S] [--mode tasks|flow|both] [--json]

Starts `Lab(windows=N)`, joins every host (C at a time) and re-runs every join (the idempotent path, what a fleet
drift check costs). `--mode tasks` (default) calls the join tasks in the flow's order without Prefect's engine;
`flow` runs `join_windows_node` through a Prefect API (`prefect_test_harness`, or the configured
PREFECT_API_URL with `--prefect-api env`); `both` does each on its own fresh lab. Prints JSON with `--json`
(see benchmarks/README.md for the fields), else a short summary. Exit status 1 when a join failed or the re-run
changed anything, 2 when the lab could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

from .stats import peak_rss_mb


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.join_fleet", description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=10, help="emulated Windows hosts (default 10)")
    p.add_argument("--concurrency", type=int, default=10, help="joins running at once (default 10)")
    p.add_argument("--time-scale", type=float, default=0.02,
                   help="lab clock scale for emulated durations (1.0 = real time; default 0.02)")
    p.add_argument("--mode", choices=("tasks", "flow", "both"), default="tasks",
                   help="tasks directly, the flow through Prefect, or both (default tasks)")
    p.add_argument("--scenario", default="default", help="lab scenario (default, operator, k8s-1.30, etcd)")
    p.add_argument("--threads", type=int, default=None,
                   help="size of the event loop's default thread pool, which runs the WinRM client's blocking "
                        "calls (default: Python's, min(32, CPUs + 4))")
    p.add_argument("--prefect-api", choices=("harness", "env"), default="harness",
                   help="flow mode: start prefect_test_harness (default) or use the configured PREFECT_API_URL")
    p.add_argument("--idle-seconds", type=float, default=1.0,
                   help="how long to measure the idle lab's CPU before the join and the re-run (default 1)")
    p.add_argument("--json", action="store_true", help="print the JSON report (else a summary)")
    args = p.parse_args(argv)
    if args.hosts < 1 or args.concurrency < 1:
        p.error("--hosts and --concurrency must be at least 1")
    return args


def _default_workers() -> int:
    return min(32, (os.cpu_count() or 1) + 4)  # ThreadPoolExecutor's default


async def run_mode(mode: str, *, hosts: int, concurrency: int, time_scale: float, scenario: str,
                   idle_s: float = 1.0) -> dict[str, Any]:
    """Start a fresh lab, join its hosts with `mode` ("tasks" or "flow"), re-run every join; the mode's report.
    Before the join and before the re-run the lab sits idle for `idle_s` seconds: what its background work
    (emulated services and kubelets) costs by itself.

    Flow mode needs a Prefect API already configured (the caller enters `prefect_test_harness` or points
    PREFECT_API_URL at a server). Raises LabStartError when the lab cannot start."""
    from prefect.logging import disable_run_logger

    from prefect_windows_nodes.blocks import JoinSettings
    from lab.blocks import cluster_block, save_lab_blocks, ssh_block, windows_host_block
    from lab.world import Lab

    from .fleet import FlowJoiner, TaskJoiner, idle_phase, run_phase
    from .labcheck import fleet_issues
    from .prefect_probe import probe_prefect_api

    t0 = time.perf_counter()
    lab = Lab(scenario, windows=hosts, time_scale=time_scale)
    try:
        await lab.__aenter__()
    except Exception as exc:
        raise LabStartError(f"Lab(windows={hosts}) failed to start: {type(exc).__name__}: {exc}") from exc
    try:
        report: dict[str, Any] = {"lab": {"start_s": round(time.perf_counter() - t0, 3),
                                          "issues": fleet_issues(lab)}}
        desc = lab.describe()
        targets = [(e["name"], windows_host_block(e)) for e in desc["windows_hosts"]]
        if mode == "tasks":
            joiner: Any = TaskJoiner(cluster_block(desc), ssh_block(desc), JoinSettings())
            logs = disable_run_logger()
        else:
            t1 = time.perf_counter()
            names = await save_lab_blocks(desc, prefix="bench")
            report["lab"]["save_blocks_s"] = round(time.perf_counter() - t1, 3)
            joiner = FlowJoiner(names)
            logs = contextlib.nullcontext()

        async def phase() -> dict[str, Any]:
            if mode == "tasks":
                return await run_phase(lab, targets, joiner, concurrency)
            from prefect.settings import PREFECT_API_URL

            with probe_prefect_api(PREFECT_API_URL.value() or "") as probe:
                result = await run_phase(lab, targets, joiner, concurrency)
            result["prefect_api"] = probe.report()
            return result

        with logs:
            report["idle_before_join"] = await idle_phase(lab, idle_s)
            report["join"] = await phase()
            report["idle_after_join"] = await idle_phase(lab, idle_s)
            report["rerun"] = await phase()
        return report
    finally:
        await lab.aclose()


class LabStartError(RuntimeError):
    """The lab could not start with the requested number of hosts."""


@contextlib.contextmanager
def prefect_api(kind: str, report: dict[str, Any]) -> Iterator[None]:
    """A Prefect API for flow mode: a temporary `prefect_test_harness` server, or the configured one."""
    if kind == "env":
        from prefect.settings import PREFECT_API_URL

        report["prefect_api"] = {"kind": "env", "url": PREFECT_API_URL.value()}
        yield
        return
    from prefect.testing.utilities import prefect_test_harness

    t0 = time.perf_counter()
    with prefect_test_harness(server_startup_timeout=120):
        report["prefect_api"] = {"kind": "harness", "start_s": round(time.perf_counter() - t0, 3)}
        yield


async def _main_async(args: argparse.Namespace, report: dict[str, Any], modes: list[str]) -> None:
    if args.threads:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(args.threads, "bench-worker"))
    for mode in modes:
        report[mode] = await run_mode(mode, hosts=args.hosts, concurrency=args.concurrency,
                                      time_scale=args.time_scale, scenario=args.scenario,
                                      idle_s=args.idle_seconds)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark `args` describe; return the full report (see README for the fields)."""
    modes = ["tasks", "flow"] if args.mode == "both" else [args.mode]
    report: dict[str, Any] = {
        "benchmark": "join_fleet", "hosts": args.hosts, "concurrency": args.concurrency,
        "time_scale": args.time_scale, "scenario": args.scenario, "mode": args.mode,
        "environment": {"python": platform.python_version(), "cpus": os.cpu_count(),
                        "executor_workers": args.threads or _default_workers(),
                        # Other work on the machine skews every number: the 1-minute load before and after.
                        "load_avg_1m_before": round(os.getloadavg()[0], 2)},
    }
    with prefect_api(args.prefect_api, report) if "flow" in modes else contextlib.nullcontext():
        try:
            asyncio.run(_main_async(args, report, modes))
        except LabStartError as exc:
            report["error"] = str(exc)
    reruns = [report[m]["rerun"] for m in modes if m in report]
    report["rerun_mutating_requests"] = sum(r["mutating_requests"] for r in reruns) if reruns else None
    report["failures"] = sum(len(report[m][ph]["failures"]) for m in modes if m in report for ph in ("join", "rerun"))
    report["environment"]["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    report["peak_rss_mb"] = peak_rss_mb()
    return report


def render_summary(report: dict[str, Any]) -> str:
    """A few human-readable lines of the report."""
    lines = [f"join_fleet: {report['hosts']} hosts, concurrency {report['concurrency']}, "
             f"time scale {report['time_scale']}, peak RSS {report['peak_rss_mb']} MiB"]
    if "error" in report:
        lines.append(f"  ERROR: {report['error']}")
    for mode in ("tasks", "flow"):
        if mode not in report:
            continue
        m = report[mode]
        lines.append(f"  [{mode}] lab start {m['lab']['start_s']} s" +
                     (f"; lab issues: {'; '.join(m['lab']['issues'])}" if m["lab"]["issues"] else ""))
        for ph in ("idle_before_join", "idle_after_join"):
            i = m[ph]
            lines.append(f"  [{mode}] {ph}: CPU {i['cpu_pct']} % of one core, "
                         f"{i['kube_requests_per_s']} API requests/s (lab internal)")
        for ph in ("join", "rerun"):
            r = m[ph]
            lines.append(f"  [{mode}] {ph:5}: wall {r['wall_s']} s, ok {r['hosts_ok']}/{report['hosts']}, "
                         f"mutating {r['mutating_requests']}, API {r['kube_api']['product_requests_per_host']}"
                         f"/host, WinRM p50 {r['winrm']['http_requests_per_host']['p50']}/host, "
                         f"CPU {r['cpu_s']['process']} s")
            for step, s in r["per_host_s"].items():
                lines.append(f"           {step:24} p50 {s['p50']} s  p95 {s['p95']} s")
            if "prefect_api" in r:
                api = r["prefect_api"]
                lines.append(f"           Prefect API: {api['requests']} requests, {api['retried_by_client']} "
                             f"answered 408/429/502/503 (the client sleeps and retries), {api['by_status']}")
            for host, err in list(r["failures"].items())[:5]:
                lines.append(f"           FAILED {host}: {err}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    print(json.dumps(report, indent=2) if args.json else render_summary(report), flush=True)
    if "error" in report:
        return 2
    return 1 if report["failures"] or report["rerun_mutating_requests"] else 0


if __name__ == "__main__":
    sys.exit(main())
