"""The cluster's behaviour inside the lab: controllers reacting to store events, and the network model.

`start_controllers(kube)` is called by `KubeLab.start` after the scenario is seeded (with the event loop running).
It converges the seeded objects inline — so a fresh lab already has its system pods Running — then keeps
reconciling from store events. It sets `kube.exec_runtime`, `kube.log_provider`, `kube.calico_etcd` and
`kube.controllers`.
"""

from __future__ import annotations

import logging
from typing import Any

from ..store import Event
from .admission import install as install_admission
from .batch import Jobs, admit_job
from .disruption import Disruption
from .endpointslices import EndpointSlices
from .statefulsets import StatefulSets
from .calico_node import CalicoNode
from .context import Ctx
from .ipam import CalicoIpam
from .kubelet import Kubelet, LinuxNodeRuntime, NodeRuntime, RuntimeRegistry
from .namespaces import Namespaces
from .nodes import NodeLifecycle
from .operator import TigeraOperator
from .scheduler import Scheduler
from .services import Services
from .workloads import Workloads

__all__ = ["Controllers", "start_controllers", "NodeRuntime", "LinuxNodeRuntime"]

log = logging.getLogger("lab.kube.controllers")


class Controllers:
    """Every controller of one KubeLab, the node runtime registry and the network model."""

    def __init__(self, kube: Any) -> None:
        from .. import scenarios
        from ..net.network import Network

        if getattr(kube, "calico_etcd", None) is None:
            kube.calico_etcd = scenarios.calico_etcd_for(getattr(kube, "scenario", "default"))
        self.kube = kube
        self.ctx = ctx = Ctx(kube)
        self.ipam = CalicoIpam(ctx)
        self.kubelet = Kubelet(ctx, self.ipam)
        self.runtimes = ctx.runtimes = RuntimeRegistry(ctx, on_change=self.kubelet.kick)
        self.scheduler = Scheduler(ctx)
        self.workloads = Workloads(ctx)
        self.services = Services(ctx)
        self.namespaces = Namespaces(ctx)
        self.node_lifecycle = NodeLifecycle(ctx)
        self.calico_node = CalicoNode(ctx, self.ipam)
        self.operator = TigeraOperator(ctx)
        self.network = Network(ctx)
        self.jobs, self.statefulsets = Jobs(ctx), StatefulSets(ctx)
        self.disruption, self.endpoint_slices = Disruption(ctx), EndpointSlices(ctx)
        self._parts = [self.node_lifecycle, self.namespaces, self.workloads, self.scheduler, self.kubelet,
                       self.services, self.calico_node, self.operator, self.jobs, self.statefulsets,
                       self.disruption, self.endpoint_slices]
        self._stopped = False
        install_admission(ctx, self.services, self.namespaces)
        if ctx.has("batch", "jobs"):
            ctx.store.add_admission(admit_job, ctx.rt("batch", "jobs"))
        ctx.store.add_listener(self._on_event)
        if ctx.calico_etcd is not None:
            ctx.calico_etcd.add_listener(self._on_event)
        for name, rt in (getattr(kube, "node_runtimes", None) or {}).items():
            self.runtimes.register(name, rt)

    # --- public --------------------------------------------------------------------------------------------------
    def register_node_runtime(self, node_name: str, runtime: NodeRuntime) -> None:
        """Use `runtime` for `node_name` (KubeLab.register_node_runtime delegates here)."""
        self.runtimes.register(node_name, runtime)

    def unregister_node_runtime(self, node_name: str) -> None:
        self.runtimes.unregister(node_name)

    def kick(self, node_name: str | None = None) -> None:
        """Re-evaluate pending pods on a node now (call after a runtime's CNI/policy state changed)."""
        self.kubelet.kick(node_name)

    async def wait_idle(self) -> None:
        """Return once every queued reconcile and background step (image pulls...) has finished."""
        await self.ctx.runner.wait_idle()

    @property
    def errors(self) -> list[BaseException]:
        """Unexpected reconcile errors (a healthy lab has none)."""
        return self.ctx.runner.errors

    async def stop(self) -> None:
        """Stop reacting to events and cancel background work."""
        self._stopped = True
        await self.ctx.runner.stop()

    # --- wiring --------------------------------------------------------------------------------------------------
    def _on_event(self, ev: Event) -> None:
        # Listeners run inside someone else's store write (often an API request): never let a controller's
        # bug fail that write.
        if self._stopped:
            return
        try:
            for part in self._parts:
                part.on_event(ev)
            if ev.rt.key == ("", "serviceaccounts"):
                self.namespaces.on_serviceaccount(ev)
            if ev.rt.group.endswith("projectcalico.org") and ev.rt.plural in ("ipamconfigs", "ippools"):
                self.kubelet.kick()
        except Exception as exc:
            log.exception("controller listener failed on %s %s", ev.type, ev.rt.qualified)
            self.ctx.runner.errors.append(exc)

    def _enqueue_all(self) -> None:
        store, ctx = self.ctx.store, self.ctx
        for rt in ctx.registry.all():
            if rt.key in (("", "events"), ("", "endpoints"), ("", "configmaps"), ("", "secrets")):
                continue
            for obj in store.list(rt):
                self._on_event(Event("ADDED", rt, obj, None, int(obj["metadata"].get("resourceVersion") or 0)))

    def start(self) -> None:
        from .. import scenarios
        ca = self.namespaces.ca_pem()
        if ca:
            scenarios.fill_ca(self.ctx.store, self.ctx.registry, ca)
        self._enqueue_all()
        self.operator.reconcile("default")
        self.ctx.runner.drain()
        self.ctx.runner.start()
        self.kubelet.start()


def start_controllers(kube: Any) -> Controllers:
    """Start every controller for `kube` (needs a running event loop) and return them.

    Sets `kube.exec_runtime` (pod exec through the network model, after a node runtime's own `exec`),
    `kube.log_provider`, `kube.calico_etcd` (the etcd scenario's Calico store, else None) and `kube.controllers`.
    """
    from ..net.runtime import make_exec_runtime, make_log_provider

    c = Controllers(kube)
    kube.controllers = c
    kube.exec_runtime = make_exec_runtime(c.ctx, c.network)
    kube.log_provider = make_log_provider(c.ctx, c.network)
    c.start()
    return c
