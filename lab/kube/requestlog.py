"""What the emulated API server was asked: one entry per request, readable from tests so they can assert what a
flow did (and did not do)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

MUTATING_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(frozen=True)
class RequestEntry:
    """One request. `verb` is the Kubernetes verb (get, list, watch, create, update, patch, delete,
    deletecollection; non-resource paths are get/post...); `resource` is the plural ("" for non-resource URLs);
    `conn_id` numbers the client's TCP connections in order of first use."""

    verb: str
    path: str
    group: str
    resource: str
    namespace: str | None
    name: str | None
    subresource: str | None
    code: int
    user: str
    conn_id: int
    at: float = field(default_factory=time.time)
    patch_type: str | None = None
    user_agent: str = ""

    @property
    def mutating(self) -> bool:
        return self.verb in MUTATING_VERBS


class RequestLog:
    """Every request the API server answered, in order."""

    def __init__(self) -> None:
        self.entries: list[RequestEntry] = []

    def record(self, entry: RequestEntry) -> None:
        self.entries.append(entry)

    def _select(self, verb: str | None, resource: str | None, group: str | None, user: str | None,
                mutating: bool | None, subresource: str | None = None, name: str | None = None,
                namespace: str | None = None) -> list[RequestEntry]:
        return [e for e in self.entries
                if (verb is None or e.verb == verb)
                and (resource is None or e.resource == resource)
                and (group is None or e.group == group)
                and (user is None or e.user == user)
                and (mutating is None or e.mutating == mutating)
                and (subresource is None or e.subresource == subresource)
                and (name is None or e.name == name)
                and (namespace is None or e.namespace == namespace)]

    def count(self, verb: str | None = None, resource: str | None = None, group: str | None = None,
              user: str | None = None, mutating: bool | None = None, *, subresource: str | None = None,
              name: str | None = None, namespace: str | None = None) -> int:
        """How many requests matched every given criterion (None = any)."""
        return len(self._select(verb, resource, group, user, mutating, subresource, name, namespace))

    def find(self, verb: str | None = None, resource: str | None = None, group: str | None = None,
             user: str | None = None, mutating: bool | None = None, *, subresource: str | None = None,
             name: str | None = None, namespace: str | None = None) -> list[RequestEntry]:
        """The matching entries, oldest first."""
        return self._select(verb, resource, group, user, mutating, subresource, name, namespace)

    def mutations(self) -> list[RequestEntry]:
        """Every create/update/patch/delete/deletecollection, oldest first."""
        return [e for e in self.entries if e.mutating]

    def connections(self) -> set[int]:
        """The ids of every client connection seen."""
        return {e.conn_id for e in self.entries}

    def clear(self) -> None:
        self.entries.clear()
