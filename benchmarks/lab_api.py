"""The emulated Kubernetes API alone (no Windows hosts): how fast it creates, gets, lists and delivers watch events.

    python -m benchmarks.lab_api [--objects M] [--concurrency K] [--lists R] [--watch-events E] [--watchers W]
                                 [--json]

Starts `KubeLab` (default scenario, controllers running) and measures, with the product's own client
(`kubernetes.aio` through the `KubernetesCluster` block, HTTPS and a bearer token):
- creates, gets: M ConfigMaps, K requests in flight;
- lists: R lists of a namespace holding those M ConfigMaps;
- watch: W watchers on one namespace; E ConfigMaps written straight into the store; every event each watcher
  receives is counted (the API's fan-out and serialization, not the create path);
- store creates: M ConfigMaps written straight into the store (the in-process cost under every API create).
Prints JSON with `--json`, else a summary. Exit status 1 when a watcher missed events.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

from .stats import CpuMeter, peak_rss_mb, summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.lab_api", description=__doc__.split("\n\n")[0])
    p.add_argument("--objects", type=int, default=500, help="ConfigMaps to create and get (default 500)")
    p.add_argument("--concurrency", type=int, default=8, help="API requests in flight (default 8)")
    p.add_argument("--lists", type=int, default=50, help="lists of the namespace (default 50)")
    p.add_argument("--watch-events", type=int, default=1000, help="events each watcher should see (default 1000)")
    p.add_argument("--watchers", type=int, default=1, help="concurrent watchers (default 1)")
    p.add_argument("--json", action="store_true", help="print the JSON report (else a summary)")
    args = p.parse_args(argv)
    for name in ("objects", "concurrency", "lists", "watch_events", "watchers"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def _configmap(name: str, i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"bench": "lab-api"}},
            "data": {"index": str(i), "payload": "x" * 64}}


async def _timed_many(n: int, concurrency: int, fn: Callable[[int], Awaitable[Any]]) -> dict[str, Any]:
    """Run `fn(0..n-1)` with `concurrency` in flight; throughput and per-request latency."""
    slots = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(i: int) -> None:
        async with slots:
            t = time.perf_counter()
            await fn(i)
            latencies.append(time.perf_counter() - t)

    cpu = CpuMeter().start()
    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - t0
    return {"count": n, "wall_s": round(wall, 3), "per_s": round(n / wall, 1), "latency_s": summary(latencies, 4),
            "cpu_s": cpu.stop()["process"]}


async def _watch_delivery(kube: Any, cluster: Any, namespace: str, events: int, watchers: int) -> dict[str, Any]:
    """W watchers on `namespace`; E objects created straight in the store; events each watcher received."""
    from kubernetes.aio import client as kclient
    from kubernetes.aio import watch as kwatch

    rt = kube.registry.get("", "configmaps")
    received = [0] * watchers
    primed = [asyncio.Event() for _ in range(watchers)]
    done = asyncio.Event()
    finished: list[float] = []

    async def watcher(k: int) -> None:
        async with cluster.get_client() as api:
            core = kclient.CoreV1Api(api)
            async with kwatch.Watch() as w:
                async for ev in w.stream(core.list_namespaced_config_map, namespace=namespace, timeout_seconds=120):
                    if ev["type"] != "ADDED":
                        continue
                    if ev["raw_object"]["metadata"]["name"].startswith("prime-"):
                        primed[k].set()
                        continue
                    received[k] += 1
                    if received[k] >= events:
                        finished.append(time.perf_counter())
                        if all(r >= events for r in received):
                            done.set()
                        return

    tasks = [asyncio.create_task(watcher(k)) for k in range(watchers)]
    # Time delivery only: write marker objects until every watcher has seen one (its stream is then open;
    # a watch without resourceVersion starts from "now", so a marker written before it connected is not seen).
    for n in range(500):
        kube.store.create(rt, _configmap(f"prime-{n}", -1), namespace)
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in primed)), timeout=0.05)
            break
        except asyncio.TimeoutError:
            continue
    cpu = CpuMeter().start()
    t0 = time.perf_counter()
    for i in range(events):
        kube.store.create(rt, _configmap(f"w-{i}", i), namespace)
        if i % 100 == 99:
            await asyncio.sleep(0)  # let the server stream while we write, as concurrent writers would
    written = time.perf_counter() - t0
    try:
        await asyncio.wait_for(done.wait(), timeout=max(30.0, events / 50))
    except asyncio.TimeoutError:
        pass
    wall = (max(finished) if len(finished) == watchers else time.perf_counter()) - t0
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    delivered = sum(received)
    return {"watchers": watchers, "events_written": events, "events_delivered": delivered,
            "complete": delivered == events * watchers, "write_s": round(written, 3), "wall_s": round(wall, 3),
            "delivered_per_s": round(delivered / wall, 1) if wall > 0 else None, "cpu_s": cpu.stop()["process"]}


async def measure(objects: int = 500, concurrency: int = 8, lists: int = 50, watch_events: int = 1000,
                  watchers: int = 1) -> dict[str, Any]:
    """Start a KubeLab and measure it; the report (see the module docstring)."""
    from kubernetes.aio import client as kclient

    from prefect_windows_nodes.blocks import KubernetesCluster
    from lab.clock import LabClock
    from lab.kube.cluster import KubeLab
    from lab.tls import LabCA

    report: dict[str, Any] = {"benchmark": "lab_api", "objects": objects, "concurrency": concurrency,
                              "lists": lists, "watch_events": watch_events, "watchers": watchers,
                              "load_avg_1m_before": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="bench-lab-api-") as tmp:
        state = Path(tmp)
        t0 = time.perf_counter()
        kube = await KubeLab.start(scenario="default", state_dir=state, clock=LabClock(0.02), ca=LabCA(state))
        report["start_s"] = round(time.perf_counter() - t0, 3)
        try:
            cluster = KubernetesCluster.from_file(kube.kubeconfig_path)
            ns_rt = kube.registry.get("", "namespaces")
            for ns in ("bench-api", "bench-store", "bench-watch"):
                kube.store.create(ns_rt, {"metadata": {"name": ns}})
            first_request = len(kube.requests.entries)
            async with cluster.get_client() as api:
                core = kclient.CoreV1Api(api)
                report["api_creates"] = await _timed_many(
                    objects, concurrency,
                    lambda i: core.create_namespaced_config_map("bench-api", _configmap(f"cm-{i}", i)))
                report["api_gets"] = await _timed_many(
                    objects, concurrency, lambda i: core.read_namespaced_config_map(f"cm-{i}", "bench-api"))
                lists_report = await _timed_many(
                    lists, concurrency, lambda i: core.list_namespaced_config_map("bench-api"))
                lists_report["items_per_list"] = objects
                lists_report["items_per_s"] = round(lists_report["per_s"] * objects, 1)
                report["api_lists"] = lists_report
            report["requests_served"] = len(kube.requests.entries) - first_request

            rt = kube.registry.get("", "configmaps")
            t1 = time.perf_counter()
            for i in range(objects):
                kube.store.create(rt, _configmap(f"s-{i}", i), "bench-store")
            store_wall = time.perf_counter() - t1
            report["store_creates"] = {"count": objects, "wall_s": round(store_wall, 3),
                                       "per_s": round(objects / store_wall, 1)}
            report["watch"] = await _watch_delivery(kube, cluster, "bench-watch", watch_events, watchers)
        finally:
            await kube.stop()
    report["peak_rss_mb"] = peak_rss_mb()
    return report


def render_summary(r: dict[str, Any]) -> str:
    """A few human-readable lines of the report."""
    w = r["watch"]
    return "\n".join([
        f"lab_api: start {r['start_s']} s, peak RSS {r['peak_rss_mb']} MiB",
        f"  creates {r['api_creates']['per_s']}/s (p95 {r['api_creates']['latency_s']['p95']} s), "
        f"gets {r['api_gets']['per_s']}/s, lists of {r['objects']} {r['api_lists']['per_s']}/s "
        f"({r['api_lists']['items_per_s']} items/s), store creates {r['store_creates']['per_s']}/s",
        f"  watch: {w['events_delivered']}/{w['events_written'] * w['watchers']} events to {w['watchers']} "
        f"watcher(s) in {w['wall_s']} s ({w['delivered_per_s']}/s)",
    ])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = asyncio.run(measure(args.objects, args.concurrency, args.lists, args.watch_events, args.watchers))
    print(json.dumps(report, indent=2) if args.json else render_summary(report), flush=True)
    return 0 if report["watch"]["complete"] else 1


if __name__ == "__main__":
    sys.exit(main())
