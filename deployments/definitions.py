"""The deployments, defined once: names, entrypoints, descriptions, parameters, the `vm.tagged` trigger, the drift
schedule and concurrency. Serve mode (`deployments/serve.py`) builds them from here; the top-level `prefect.yaml`
states the same for `prefect deploy --all`, and a test proves the two agree.

What a platform team sets (`DeploymentConfig`, from `prefect-windows-nodes serve` options): the names of the saved
blocks that event-started joins use (host template, cluster, settings, policy) and the drift schedule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prefect.events import DeploymentEventTrigger
from pydantic import BaseModel, ConfigDict, Field, field_validator

JOIN = "join-windows-node"
VERIFY = "verify-windows-node"
DRIFT = "drift-check"
#: The label a VM's tag becomes on a `vm.tagged` event, and the value that asks for a Windows worker.
ROLE_LABEL, WINDOWS_WORKER = "vm.tag.k8s-role", "windows-worker"
_BLOCK_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class DeploymentConfig(BaseModel):
    """The settings of the served deployments that differ between platform teams."""

    model_config = ConfigDict(extra="forbid")

    host_template_block: str = Field(default="windows-node-template",
                                     description="WindowsHost block that event-started joins use as a template.")
    cluster_block: str = Field(default="default", description="KubernetesCluster block of the cluster to join.")
    settings_block: str | None = Field(default=None, description="JoinSettings block; defaults apply when unset.")
    policy_block: str = Field(default="join-policy", description="JoinPolicy block event-started joins must fit.")
    drift_cron: str = Field(default="30 2 * * *", description="When the drift check runs (cron, nightly default).")
    timezone: str = Field(default="UTC", description="Time zone of the drift schedule (IANA name).")

    @field_validator("host_template_block", "cluster_block", "settings_block", "policy_block")
    @classmethod
    def _names(cls, v: str | None, info: Any) -> str | None:
        if v is not None and not _BLOCK_NAME.match(v):
            raise ValueError(f"{info.field_name} {v!r} is not a Prefect block name: lowercase letters, digits, dashes")
        return v

    @field_validator("drift_cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        if len(v.split()) != 5:
            raise ValueError(f"drift_cron {v!r} is not a five-field cron expression, e.g. '30 2 * * *'")
        return v

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {v!r} is not an IANA time zone name, e.g. Europe/Berlin") from None
        return v


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment as both serve mode and prefect.yaml state it."""

    name: str
    entrypoint: str                      # module path of the flow function
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    triggers: tuple[DeploymentEventTrigger, ...] = ()
    cron: str | None = None
    timezone: str | None = None
    concurrency_limit: int | None = None
    tags: tuple[str, ...] = ("windows-nodes",)


def join_trigger(cfg: DeploymentConfig) -> DeploymentEventTrigger:
    """`vm.tagged` with `vm.tag.k8s-role=windows-worker` starts a join of that VM. The request is templated from
    the event's labels with `.get`, so a VM whose address or hostname the platform did not send still renders
    (the flow then refuses a VM without an address rather than joining the template's host)."""
    return DeploymentEventTrigger(
        name="join a VM tagged k8s-role=windows-worker",
        expect={"vm.tagged"},
        match={ROLE_LABEL: WINDOWS_WORKER},
        parameters={"request": {
            "host_block": cfg.host_template_block,
            "cluster_block": cfg.cluster_block,
            "settings_block": cfg.settings_block,
            "policy_block": cfg.policy_block,
            "address": "{{ event.resource.get('vm.address') }}",
            "vm_id": "{{ event.resource.get('vm.id') }}",
            "hostname": "{{ event.resource.get('vm.hostname') }}",
        }},
    )


def deployment_specs(cfg: DeploymentConfig | None = None) -> list[DeploymentSpec]:
    """Every deployment of the plugin, configured by `cfg`."""
    cfg = cfg or DeploymentConfig()
    return [
        DeploymentSpec(
            name=JOIN, entrypoint="prefect_windows_nodes.flows.join.join_windows_node",
            description="Join a Windows Server host to the cluster as a Calico VXLAN node (idempotent; plan mode). "
                        "Started from the UI, the API (request_join) or a vm.tagged event.",
            triggers=(join_trigger(cfg),),
        ),
        DeploymentSpec(
            name=VERIFY, entrypoint="prefect_windows_nodes.flows.verify.verify_windows_node",
            description="Run the workload smoke test and the network-policy matrix against a joined Windows node.",
        ),
    ]
