"""`prefect-windows-nodes`: the console command that serves the deployments and creates the limits they need.

    prefect-windows-nodes serve [--host-template NAME] [--cluster-block NAME] [--settings-block NAME]
                                [--policy-block NAME] [--drift-cron CRON] [--timezone TZ] [--limit N]
    prefect-windows-nodes limits        # the fleet-wide concurrency limits (prefect.yaml's build step runs it)
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import ValidationError

from prefect_windows_nodes.deployments.definitions import DeploymentConfig


def _serve(args: argparse.Namespace) -> int:
    from prefect_windows_nodes.deployments.serve import serve

    values = {k: v for k, v in {
        "host_template_block": args.host_template, "cluster_block": args.cluster_block,
        "settings_block": args.settings_block, "policy_block": args.policy_block,
        "drift_cron": args.drift_cron, "timezone": args.timezone}.items() if v is not None}
    try:
        cfg = DeploymentConfig(**values)
    except ValidationError as exc:
        print(f"prefect-windows-nodes serve: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(cfg, limit=args.limit))
    return 0


def _limits(_: argparse.Namespace) -> int:
    from prefect_windows_nodes.flows import FLEET_JOIN_LIMIT, ensure_fleet_limits

    asyncio.run(ensure_fleet_limits())
    print(f"global concurrency limit {FLEET_JOIN_LIMIT} exists")
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line of `prefect-windows-nodes`."""
    p = argparse.ArgumentParser(prog="prefect-windows-nodes", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the join, verify and drift-check deployments (no work pool needed)")
    s.add_argument("--host-template", help="WindowsHost block event-started joins use as a template")
    s.add_argument("--cluster-block", help="KubernetesCluster block to join")
    s.add_argument("--settings-block", help="JoinSettings block")
    s.add_argument("--policy-block", help="JoinPolicy block event-started joins must fit")
    s.add_argument("--drift-cron", help="cron schedule of the drift check (default: nightly, 30 2 * * *)")
    s.add_argument("--timezone", help="IANA time zone of the drift schedule (default UTC)")
    s.add_argument("--limit", type=int, help="how many flow runs this process runs at once")
    s.set_defaults(run=_serve)
    lim = sub.add_parser("limits", help="create the fleet-wide concurrency limits the flows take")
    lim.set_defaults(run=_limits)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `prefect-windows-nodes` console script."""
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
