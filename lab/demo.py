"""`make demo`: the main job on the built-in lab, end to end.

Starts the lab (an emulated cluster in the runbook's starting state plus one emulated Windows Server host) and a
local Prefect server (SQLite under `.demo/`), saves the blocks, runs `join_windows_node`, prints each step's
outcome and the node table, then runs the join again to show that every step is unchanged. Exits 0 on success.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import httpx

STATE = Path(".demo")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def lab_process(state_dir: Path, windows: int = 1) -> Iterator[dict]:
    """Run `python -m lab up` in a child process; yield its lab.json once it says it is up."""
    from lab.blocks import read_lab_json

    shutil.rmtree(state_dir, ignore_errors=True)
    proc = subprocess.Popen([sys.executable, "-m", "lab", "up", "--windows", str(windows), "--state-dir",
                             str(state_dir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:  # the lab prints its endpoints, ending with the lab.json line, once it is up
            print(f"  [lab] {line.rstrip()}")
            if "lab.json" in line:
                break
        else:
            raise RuntimeError(f"the lab exited with code {proc.wait()} before it was up")
        yield read_lab_json(state_dir / "lab.json")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """Run a local Prefect server (SQLite in `home`); yield its API URL once /api/health answers."""
    port = _free_port()
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PREFECT_HOME=str(home.resolve()), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    log = open(home / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
                             str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:  # a child process offers no readiness event: poll its health endpoint
            if proc.poll() is not None:
                raise RuntimeError(f"the Prefect server exited with code {proc.returncode}; see {home}/server.log")
            try:
                if httpx.get(f"{api}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Prefect server did not come up in 120 s; see {home}/server.log")
            time.sleep(0.5)
        yield api
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _age(ts: str | None) -> str:
    if not ts:
        return "<unknown>"
    secs = int((datetime.now(timezone.utc) - datetime.fromisoformat(ts.replace("Z", "+00:00"))).total_seconds())
    return f"{secs}s" if secs < 120 else f"{secs // 60}m"


async def node_table(cluster) -> str:
    """The node list in the shape of `kubectl get nodes -o wide`."""
    from kubernetes.aio import client

    async with cluster.get_client() as api:
        nodes = (await client.CoreV1Api(api).list_node()).items
    rows = [("NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE",
             "KERNEL-VERSION", "CONTAINER-RUNTIME")]
    for n in nodes:
        ready = next((c.status for c in n.status.conditions or [] if c.type == "Ready"), "Unknown")
        roles = ",".join(sorted(k.split("/", 1)[1] for k in (n.metadata.labels or {})
                                if k.startswith("node-role.kubernetes.io/"))) or "<none>"
        ip = next((a.address for a in n.status.addresses or [] if a.type == "InternalIP"), "<none>")
        external = next((a.address for a in n.status.addresses or [] if a.type == "ExternalIP"), "<none>")
        info = n.status.node_info
        created = n.metadata.creation_timestamp
        rows.append((n.metadata.name, "Ready" if ready == "True" else "NotReady", roles,
                     _age(created.isoformat() if created else None), info.kubelet_version, ip, external, info.os_image,
                     info.kernel_version, info.container_runtime_version))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows)


def _print_summary(title: str, summary) -> None:
    print(f"\n== {title}: {summary.outcome} (node {summary.node})")
    for s in summary.steps:
        print(f"  {s.step:<24} {s.status:<10} {len(s.changes)} change(s)  {s.duration_s:6.1f} s")
        for c in s.changes:
            print(f"      - {c}")


async def run_demo(lab: dict, api_url: str) -> int:
    """Save the blocks, join the lab's Windows host twice, print what happened; 0 when the node is Ready and
    the second run changed nothing."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogHandler
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        from prefect_windows_nodes.flows.join import JoinRequest, join_windows_node

        from lab.blocks import cluster_block, save_lab_blocks

        names = await save_lab_blocks(lab)
        host = lab["windows_hosts"][0]["name"]
        print(f"\nSaved blocks: {', '.join(sorted(names.values()))}")
        request = JoinRequest(host_block=host, cluster_block=names["cluster"], ssh_block=names.get("ssh"))
        first = await join_windows_node(request)
        _print_summary("join", first)
        print("\n$ kubectl get nodes -o wide")
        print(await node_table(cluster_block(lab)))
        second = await join_windows_node(request)
        _print_summary("join again", second)
        unchanged = all(s.status == "unchanged" for s in second.steps)
        print(f"\nSecond run: {'every step unchanged' if unchanged else 'SOME STEP CHANGED SOMETHING'}")
        # Ship the queued logs and events while the server is still up (else the workers retry at exit).
        await APILogHandler.aflush()
        await asyncio.to_thread(EventsWorker.drain_all)
        return 0 if first.outcome in ("joined", "unchanged") and unchanged else 1


def main() -> int:
    started = time.monotonic()
    STATE.mkdir(exist_ok=True)
    print("Starting the lab (emulated cluster + Windows Server host)...")
    with lab_process(STATE / "lab") as lab:
        print("Starting a local Prefect server (SQLite)...")
        with prefect_server(STATE / "prefect") as api:
            print(f"Prefect UI: {api.removesuffix('/api')}")
            code = asyncio.run(run_demo(lab, api))
    print(f"\nDemo finished in {time.monotonic() - started:.0f} s with exit code {code}.")
    return code


if __name__ == "__main__":
    sys.exit(main())
