"""Smoke tests of the benchmark harness: each benchmark runs with a tiny fleet and prints a report of the promised
shape, the re-run changes nothing, and the counts are the lab's real ones. No timing is asserted."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks.fleet import STEPS
from benchmarks.labcheck import fleet_issues
from benchmarks.stats import percentile, summary

REPO = Path(__file__).resolve().parents[2]


async def run_cli(*argv: str) -> tuple[int, dict, str]:
    """Run `python -m <argv>` in the repo; (exit status, parsed JSON stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", *argv, cwd=REPO,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=180)
    text = err.decode(errors="replace")
    assert out, f"no report on stdout; stderr:\n{text[-3000:]}"
    return proc.returncode, json.loads(out), text


def assert_phase_shape(phase: dict, hosts: int) -> None:
    assert set(phase) >= {"wall_s", "hosts_ok", "failures", "per_host_s", "statuses", "mutating_requests",
                          "kube_api", "winrm", "cpu_s"}
    assert phase["failures"] == {} and phase["hosts_ok"] == hosts
    for step in (*STEPS, "total"):
        s = phase["per_host_s"][step]
        assert s["n"] == hosts and 0 <= s["p50"] <= s["p95"] <= s["max"], (step, s)
    assert phase["kube_api"]["product_requests"] > 0
    assert phase["winrm"]["http_requests_per_host"]["n"] == hosts
    assert phase["winrm"]["http_requests_per_host"]["p50"] > 0


def assert_join_then_idempotent_rerun(mode_report: dict, hosts: int) -> None:
    join, rerun = mode_report["join"], mode_report["rerun"]
    assert_phase_shape(join, hosts)
    assert_phase_shape(rerun, hosts)
    # The first pass really joined every host; the second found every step already done.
    assert join["statuses"]["install_calico_windows"] == {"changed": hosts}
    assert join["winrm"]["mutating_commands"] >= hosts and join["mutating_requests"] > 0
    assert rerun["statuses"] == {step: {"unchanged": hosts} for step in STEPS}
    assert rerun["mutating_requests"] == 0
    assert rerun["kube_api"]["product_mutating"] == 0 and rerun["winrm"]["mutating_commands"] == 0
    assert mode_report["lab"]["issues"] == []


async def test_join_fleet_cli_reports_a_two_host_fleet_and_an_unchanged_rerun():
    code, report, err = await run_cli("benchmarks.join_fleet", "--hosts", "2", "--concurrency", "2",
                                      "--idle-seconds", "0.2", "--json")
    assert code == 0, err[-3000:]
    assert (report["hosts"], report["concurrency"], report["mode"]) == (2, 2, "tasks")
    assert report["time_scale"] == 0.02 and report["peak_rss_mb"] > 0
    assert report["rerun_mutating_requests"] == 0 and report["failures"] == 0
    assert_join_then_idempotent_rerun(report["tasks"], 2)
    assert set(report["tasks"]["idle_after_join"]) == {"seconds", "cpu_pct", "kube_requests_per_s"}


async def test_lab_api_cli_counts_every_request_and_watch_event():
    code, report, err = await run_cli("benchmarks.lab_api", "--objects", "20", "--lists", "3",
                                      "--watch-events", "50", "--watchers", "2", "--json")
    assert code == 0, err[-3000:]
    for key in ("api_creates", "api_gets", "api_lists"):
        assert report[key]["per_s"] > 0 and report[key]["latency_s"]["n"] == report[key]["count"]
    # Exactly the requests the benchmark made: 20 creates, 20 gets, 3 lists.
    assert report["requests_served"] == 43
    assert report["api_lists"]["items_per_list"] == 20
    assert report["store_creates"]["count"] == 20
    w = report["watch"]
    assert (w["watchers"], w["events_written"], w["events_delivered"], w["complete"]) == (2, 50, 100, True)


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_api")
async def test_flow_mode_runs_the_flow_through_prefect():
    from benchmarks.join_fleet import run_mode

    report = await run_mode("flow", hosts=1, concurrency=1, time_scale=0.02, scenario="default", idle_s=0.1)
    assert_join_then_idempotent_rerun(report, 1)
    assert report["join"]["outcomes"] == {"joined": 1} and report["rerun"]["outcomes"] == {"unchanged": 1}
    for phase in ("join", "rerun"):
        assert report[phase]["prefect_api"]["requests"] > 0
        assert report[phase]["per_host_s"]["flow_run_created"]["n"] == 1


def test_percentiles_interpolate_between_ranks():
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile(range(101), 95) == 95
    assert summary([1, 2, 3, 4]) == {"n": 4, "p50": 2.5, "p95": 3.85, "max": 4}


def _host(name: str, ip: str, port: int) -> SimpleNamespace:
    data = {"name": name, "node_name": name, "winrm_url": f"https://127.0.0.1:{port}/wsman", "ip": ip}
    return SimpleNamespace(lab_json=lambda: data)


def test_fleet_issues_name_duplicate_and_unusable_addresses():
    ok = SimpleNamespace(windows_hosts=[_host("k8s-ww", "172.16.3.172", 1), _host("k8s-ww2", "172.16.3.173", 2)])
    assert fleet_issues(ok) == []
    bad = SimpleNamespace(windows_hosts=[_host("a", "172.16.3.255", 1), _host("b", "172.16.3.255", 2),
                                         _host("c", "172.16.3.256", 3)])
    issues = fleet_issues(bad)
    assert "duplicate ip: 172.16.3.255" in issues
    assert "a: IP 172.16.3.255 is the broadcast address of 172.16.3.0/24" in issues
    assert "c: IP '172.16.3.256' is not an address" in issues
