"""The flows: compositions of the steps.

- `join_windows_node(JoinRequest)`: join one Windows host (deployment `join-windows-node`).
- `verify_windows_node(VerifyRequest)`: smoke and policy checks of a joined node (`verify-windows-node`).

`ensure_fleet_limits()` creates the fleet-wide concurrency limits the flows take; serving or deploying runs it.
"""

from prefect_windows_nodes.flows._locks import FLEET_JOIN_LIMIT, FLEET_JOIN_PARALLELISM, ensure_fleet_limits
from prefect_windows_nodes.flows.join import JoinRequest, JoinSummary, join_windows_node
from prefect_windows_nodes.flows.verify import VerifyRequest, VerifySummary, verify_windows_node

__all__ = ["FLEET_JOIN_LIMIT", "FLEET_JOIN_PARALLELISM", "JoinRequest", "JoinSummary", "VerifyRequest",
           "VerifySummary", "ensure_fleet_limits", "join_windows_node", "verify_windows_node"]
