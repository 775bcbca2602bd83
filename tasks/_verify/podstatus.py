"""What a pod's status and its Warning events say: how far it got (scheduled, running, Ready), and whether it can
still start or needs a fix first (fail fast)."""

from __future__ import annotations

from typing import Any

# Container waiting reasons that never resolve on their own within a smoke test's deadline.
FATAL_WAITING = frozenset({"CreateContainerError", "CreateContainerConfigError", "RunContainerError",
                           "CrashLoopBackOff", "InvalidImageName", "ErrImageNeverPull"})
PULL_WAITING = frozenset({"ErrImagePull", "ImagePullBackOff"})
# Pull errors worth waiting through (registry throttling, network hiccups): kubelet retries them.
TRANSIENT_PULL = ("toomanyrequests", "429", "i/o timeout", "connection reset", "tls handshake timeout",
                  "context deadline exceeded", "temporary failure")
# Sandbox errors that need a fix on the cluster (Calico IPAM) rather than time.
FATAL_SANDBOX = ("ipam", "strict affinity", "strictaffinity")
OS_MISMATCH = "operating system does not match"


def pod_stage(pod: dict[str, Any] | None) -> int:
    """0 unscheduled, 1 scheduled, 2 containers running, 3 Ready."""
    if not pod:
        return 0
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    if not spec.get("nodeName") and conds.get("PodScheduled") != "True":
        return 0
    statuses = status.get("containerStatuses") or []
    running = status.get("phase") == "Running" and statuses and all(
        (s.get("state") or {}).get("running") is not None for s in statuses)
    if not running:
        return 1
    return 3 if conds.get("Ready") == "True" else 2


def pull_error_is_transient(message: str) -> bool:
    """True for a pull error kubelet retries through (registry throttling, network hiccups)."""
    low = message.lower()
    return any(m in low for m in TRANSIENT_PULL)


def fatal_reason(pod: dict[str, Any], warnings: list[tuple[str, str]]) -> str | None:
    """Why `pod` will not start without a fix, or None while it may still start.

    Fatal: phase Failed; a container waiting with CreateContainerError (the OS-mismatch error shows here),
    CrashLoopBackOff, InvalidImageName...; a container that terminated; an image pull error that is not throttling
    or a network hiccup; a sandbox error from Calico IPAM (e.g. strict affinity off); an event saying the container
    OS does not match the host's.
    """
    status = pod.get("status") or {}
    if status.get("phase") == "Failed":
        return f"pod failed: {status.get('reason') or ''} {status.get('message') or ''}".strip()
    last_pull_error = next((m for r, m in reversed(warnings) if r == "Failed" and "pull" in m.lower()), None)
    inits = status.get("initContainerStatuses") or []
    for cs in list(inits) + list(status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        reason, message = waiting.get("reason") or "", waiting.get("message") or ""
        if reason in FATAL_WAITING:
            return f"container {cs.get('name')} {reason}: {message or _last(warnings)}".rstrip(": ")
        if reason in PULL_WAITING:
            detail = message if reason == "ErrImagePull" and message else (last_pull_error or message)
            if detail and not pull_error_is_transient(detail):
                return f"container {cs.get('name')} {reason}: {detail}"
        term = state.get("terminated")
        if term and not (cs in inits and term.get("exitCode") == 0):  # a finished init container is fine
            return (f"container {cs.get('name')} terminated: {term.get('reason') or ''} exit code "
                    f"{term.get('exitCode')} {term.get('message') or ''}").strip()
    for reason, message in warnings:
        low = message.lower()
        if OS_MISMATCH in low:
            return message
        if reason == "FailedCreatePodSandBox" and any(m in low for m in FATAL_SANDBOX):
            return message
    return None


def _last(warnings: list[tuple[str, str]]) -> str:
    return warnings[-1][1] if warnings else ""


def describe_pod(pod: dict[str, Any] | None, warnings: list[tuple[str, str]]) -> str:
    """One paragraph: pod, node, phase, container states, last Warning events."""
    if pod is None:
        return "no pod created yet" + (f"; events: {'; '.join(f'{r}: {m}' for r, m in warnings[-3:])}"
                                       if warnings else "")
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    parts = [f"pod {meta.get('name')} on {spec.get('nodeName') or '(unscheduled)'} phase {status.get('phase')}"]
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        for key in ("waiting", "terminated", "running"):
            if state.get(key) is not None:
                detail = state[key] or {}
                text = f"{cs.get('name')} {key}"
                if detail.get("reason"):
                    text += f" {detail['reason']}"
                if detail.get("message"):
                    text += f": {detail['message']}"
                parts.append(text)
                break
    for c in status.get("conditions") or []:
        if c.get("status") != "True" and c.get("message"):
            parts.append(f"{c.get('type')}={c.get('status')} ({c.get('reason')}: {c.get('message')})")
    if warnings:
        parts.append("events: " + "; ".join(f"{r}: {m}" for r, m in warnings[-3:]))
    return "; ".join(parts)
