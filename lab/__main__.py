"""`python -m lab up [--scenario NAME] [--state-dir DIR] [--windows N] [--windows-build B]`: run the lab."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from .world import Lab


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lab", description="Emulated Kubernetes cluster and Windows hosts.")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the lab in the foreground until interrupted")
    up.add_argument("--scenario", default="default", help="cluster scenario (default, operator, k8s-1.30, etcd)")
    up.add_argument("--state-dir", default=".lab", help="where kubeconfig and lab.json are written")
    up.add_argument("--windows", type=int, default=0, help="how many Windows Server hosts to emulate")
    up.add_argument("--windows-build", type=int, default=17763, choices=[17763, 20348])
    up.add_argument("--time-scale", type=float, default=0.02, help="emulated durations are multiplied by this")
    up.add_argument("--no-ssh", action="store_true", help="do not start the SSH control plane")
    up.add_argument("--fault", action="append", default=[], metavar="HOST:FAULT[=VALUE]",
                    help="inject a fault on a Windows host (e.g. k8s-ww:missing_hotfix, k8s-ww:winrm_500=3) or on "
                         "the control plane (k8s-m:calicoctl_drop=1, k8s-m:csr_never_signed='node-csr-*')")
    return p


def parse_faults(specs: list[str]) -> dict[str, dict[str, object]]:
    """`["k8s-ww:winrm_500=3", "k8s-ww:missing_hotfix"]` → `{"k8s-ww": {"winrm_500": 3, "missing_hotfix": True}}`."""
    out: dict[str, dict[str, object]] = {}
    for spec in specs:
        host, _, fault = spec.partition(":")
        name, eq, value = fault.partition("=")
        parsed: object = True
        if eq:
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = value
        out.setdefault(host, {})[name] = parsed
    return out


async def _up(args: argparse.Namespace) -> None:
    async with Lab(args.scenario, args.state_dir, windows=args.windows, windows_build=args.windows_build,
                   time_scale=args.time_scale, ssh=not args.no_ssh, faults=parse_faults(args.fault)) as lab:
        info = lab.describe()
        print(f"lab up: scenario {lab.scenario}, Kubernetes API at {lab.kube.url}")
        print(f"  kubectl --kubeconfig {info['kubeconfig']} get nodes -o wide")
        for h in info["windows_hosts"]:
            print(f"  Windows host {h['name']}: {h['winrm_url']} (build {h['os_build']})")
        if "control_plane_ssh" in info:
            s = info["control_plane_ssh"]
            print(f"  control plane: ssh -p {s['port']} -i {s['private_key_file']} {s['username']}@{s['host']}")
        print(f"  endpoints and credentials: {lab.state_dir / 'lab.json'}  (Ctrl-C stops the lab)", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "up":
        asyncio.run(_up(args))


if __name__ == "__main__":
    main()
