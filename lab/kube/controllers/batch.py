"""The Job controller (batch/v1), with the defaults the Job registry sets on create.

On create a Job without `manualSelector` gets `spec.selector` = `controller-uid=<uid>` and its template the labels
`controller-uid` and `job-name`; `parallelism`, `completions` default to 1, `backoffLimit` to 6. The controller
keeps up to `parallelism` pods running (never more than the completions still missing), counts pods that
Succeeded or Failed, and ends the Job with a `Complete` condition (and `completionTime`) once `completions` pods
succeeded, or `Failed` / BackoffLimitExceeded when more pods failed than `backoffLimit` allows. Pods run to
completion in the kubelet model (their command runs in the emulated shell).
"""

from __future__ import annotations

import uuid
from typing import Any

from ..store import Event, now_iso
from .podutil import controller_ref, meta
from .workloads import pod_from_template


def admit_job(op: str, job: dict, old: dict | None) -> dict:
    """The Job strategy's PrepareForCreate: generated selector and template labels, spec defaults."""
    if op != "CREATE":
        return job
    spec = job.setdefault("spec", {})
    uid = meta(job).setdefault("uid", str(uuid.uuid4()))
    if not spec.get("manualSelector"):
        spec["selector"] = {"matchLabels": {"controller-uid": uid}}
        tmeta = spec.setdefault("template", {}).setdefault("metadata", {})
        tmeta.setdefault("labels", {}).update({"controller-uid": uid, "job-name": meta(job).get("name", "")})
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    return job


class Jobs:
    """Reconciles batch/v1 Jobs."""

    name = "job"

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def on_event(self, ev: Event) -> None:
        if ev.rt.key == ("batch", "jobs") and ev.type != "DELETED":
            self.ctx.enqueue(self.name, self.reconcile, (meta(ev.obj)["namespace"], meta(ev.obj)["name"]))
        elif ev.rt.key == ("", "pods"):
            ref = controller_ref(ev.obj)
            if ref and ref.get("kind") == "Job":
                self.ctx.enqueue(self.name, self.reconcile, (meta(ev.obj)["namespace"], ref["name"]))

    def reconcile(self, key: tuple[str, str]) -> None:
        store = self.ctx.store
        job_rt, pods_rt = self.ctx.rt("batch", "jobs"), self.ctx.rt("", "pods")
        job = store.try_get(job_rt, *key)
        if job is None or meta(job).get("deletionTimestamp"):
            return
        spec, old = job.get("spec") or {}, job.get("status") or {}
        if any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in old.get("conditions") or []):
            return
        uid = meta(job)["uid"]
        pods = store.list(pods_rt, key[0], lambda p: (controller_ref(p) or {}).get("uid") == uid)
        phase = lambda p: (p.get("status") or {}).get("phase")  # noqa: E731
        succeeded = sum(1 for p in pods if phase(p) == "Succeeded")
        failed = sum(1 for p in pods if phase(p) == "Failed")
        active = [p for p in pods if phase(p) not in ("Succeeded", "Failed") and not meta(p).get("deletionTimestamp")]
        completions = int(spec.get("completions") or 1)
        status: dict[str, Any] = {"startTime": old.get("startTime") or now_iso()}
        now = now_iso()
        if succeeded >= completions:
            status["completionTime"] = now
            status["conditions"] = [{"type": "Complete", "status": "True", "lastProbeTime": now,
                                     "lastTransitionTime": now}]
            self.ctx.events.record(job, "Normal", "Completed", "Job completed", component="job-controller")
        elif failed > int(spec.get("backoffLimit", 6)):
            for p in active:
                store.delete(pods_rt, key[0], meta(p)["name"])
            active = []
            status["conditions"] = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                     "message": "Job has reached the specified backoff limit", "lastProbeTime": now,
                                     "lastTransitionTime": now}]
            self.ctx.events.record(job, "Warning", "BackoffLimitExceeded",
                                   "Job has reached the specified backoff limit", component="job-controller")
        elif not spec.get("suspend") and not self.ctx.namespace_terminating(key[0]):
            want = min(int(spec.get("parallelism") or 1), completions - succeeded) - len(active)
            for _ in range(max(0, want)):
                pod = pod_from_template(spec.get("template") or {}, key[0], f"{key[1]}-", job)
                created = store.create(pods_rt, pod, key[0])
                active.append(created)
                self.ctx.events.record(job, "Normal", "SuccessfulCreate",
                                       f"Created pod: {created['metadata']['name']}", component="job-controller")
        if active:
            status["active"] = len(active)
        if succeeded:
            status["succeeded"] = succeeded
        if failed:
            status["failed"] = failed
        if status == old:
            return

        def put(o: dict) -> None:
            o["status"] = status
        store.mutate(job_rt, key[0], key[1], put, subresource="status")
