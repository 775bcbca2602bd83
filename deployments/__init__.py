"""How users start the flows: deployments (served with `prefect-windows-nodes serve`, or deployed with
`prefect deploy --all` from the top-level prefect.yaml), their `vm.tagged` trigger and drift schedule, and
`request_join` for provisioning systems calling the Prefect API."""

from prefect_windows_nodes.deployments.definitions import DeploymentConfig, deployment_specs
from prefect_windows_nodes.deployments.request import join_idempotency_key, request_join

__all__ = ["DeploymentConfig", "deployment_specs", "join_idempotency_key", "request_join"]
