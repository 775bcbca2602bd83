"""Named statements: several structured PowerShell statements in one round trip, their outputs by name."""

from __future__ import annotations

from typing import Any, Mapping

from prefect_windows_nodes.blocks import PowerShellSession


async def run_named(ps: PowerShellSession, statements: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Run `statements` (name → a `Command` or a pipeline of them) in one invocation; return name → output
    objects. Raises RemoteCommandError like `PowerShellSession.run_statements`."""
    outputs = await ps.run_statements(list(statements.values()))
    return dict(zip(statements, outputs))
