"""Watches through `kubernetes.aio.watch`: resume from a resourceVersion, 410 Gone past the event log, selector
transitions as ADDED/DELETED, timeoutSeconds, bookmarks, client disconnects; and many at once."""

from __future__ import annotations

import asyncio
import json

import pytest
from kubernetes.aio import client as kclient
from kubernetes.aio import config as kconfig
from kubernetes.aio import watch as kwatch
from kubernetes.aio.client.exceptions import ApiException


async def _next_event(stream) -> dict:
    return await asyncio.wait_for(stream.__anext__(), 10)


async def test_watch_from_resource_version_resumes(api, ns):
    v1 = kclient.CoreV1Api(api)
    first = await v1.create_namespaced_config_map(ns, {"metadata": {"name": "a"}})
    await v1.create_namespaced_config_map(ns, {"metadata": {"name": "b"}})
    await v1.patch_namespaced_config_map("a", ns, {"data": {"x": "1"}})
    w = kwatch.Watch()
    seen = []
    async with w.stream(v1.list_namespaced_config_map, ns, resource_version=first.metadata.resource_version,
                        timeout_seconds=5) as stream:
        async for ev in stream:
            seen.append((ev["type"], ev["object"].metadata.name))
            if len(seen) == 2:
                w.stop()
                break
    assert seen == [("ADDED", "b"), ("MODIFIED", "a")]


async def test_watch_without_version_lists_first_then_streams(api, ns):
    v1 = kclient.CoreV1Api(api)
    await v1.create_namespaced_config_map(ns, {"metadata": {"name": "old"}})
    w = kwatch.Watch()
    async with w.stream(v1.list_namespaced_config_map, ns, timeout_seconds=10) as stream:
        ev = await _next_event(stream)
        assert (ev["type"], ev["object"].metadata.name) == ("ADDED", "old")
        await v1.delete_namespaced_config_map("old", ns)
        ev = await _next_event(stream)
        assert (ev["type"], ev["object"].metadata.name) == ("DELETED", "old")


async def test_too_old_resource_version_is_410(api, kube, ns):
    v1 = kclient.CoreV1Api(api)
    cm = await v1.create_namespaced_config_map(ns, {"metadata": {"name": "c"}})
    await v1.patch_namespaced_config_map("c", ns, {"data": {"a": "b"}})
    kube.store.compact()  # the change after cm's version has left the log
    await v1.patch_namespaced_config_map("c", ns, {"data": {"a": "c"}})
    w = kwatch.Watch()
    with pytest.raises(ApiException) as err:
        async with w.stream(v1.list_namespaced_config_map, ns, resource_version=cm.metadata.resource_version,
                            timeout_seconds=5) as stream:
            async for _ in stream:
                pass
    assert err.value.status == 410
    assert "too old resource version" in err.value.reason


async def test_watch_410_arrives_as_error_event(http, kube, ns):
    await http("POST", f"/api/v1/namespaces/{ns}/configmaps", json={"metadata": {"name": "x"}})
    kube.store.compact()
    await http("POST", f"/api/v1/namespaces/{ns}/configmaps", json={"metadata": {"name": "y"}})
    reply = await http("GET", f"/api/v1/namespaces/{ns}/configmaps?watch=1&resourceVersion=1&timeoutSeconds=2")
    assert reply.status == 200
    event = json.loads(reply.body.splitlines()[0])
    assert event["type"] == "ERROR"
    assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")


async def test_label_selector_transitions(api, ns):
    v1 = kclient.CoreV1Api(api)
    await v1.create_namespaced_config_map(ns, {"metadata": {"name": "c", "labels": {"tier": "back"}}})
    w = kwatch.Watch()
    async with w.stream(v1.list_namespaced_config_map, ns, label_selector="tier=front",
                        timeout_seconds=10) as stream:
        await v1.patch_namespaced_config_map("c", ns, {"metadata": {"labels": {"tier": "front"}}})
        ev = await _next_event(stream)
        assert ev["type"] == "ADDED"
        await v1.patch_namespaced_config_map("c", ns, {"data": {"k": "v"}})
        ev = await _next_event(stream)
        assert ev["type"] == "MODIFIED"
        await v1.patch_namespaced_config_map("c", ns, {"metadata": {"labels": {"tier": "back"}}})
        ev = await _next_event(stream)
        assert ev["type"] == "DELETED" and ev["object"].metadata.labels == {"tier": "back"}


async def test_field_selector_watch(api, ns):
    v1 = kclient.CoreV1Api(api)
    w = kwatch.Watch()
    async with w.stream(v1.list_namespaced_config_map, ns, field_selector="metadata.name=want",
                        timeout_seconds=10) as stream:
        await v1.create_namespaced_config_map(ns, {"metadata": {"name": "other"}})
        await v1.create_namespaced_config_map(ns, {"metadata": {"name": "want"}})
        ev = await _next_event(stream)
        assert ev["object"].metadata.name == "want"


async def test_timeout_seconds_ends_the_stream(http, ns):
    reply = await http("GET", f"/api/v1/namespaces/{ns}/configmaps?watch=true&timeoutSeconds=1")
    assert reply.status == 200 and reply.body == b""


async def test_initial_events_end_with_a_bookmark(http, ns):
    await http("POST", f"/api/v1/namespaces/{ns}/configmaps", json={"metadata": {"name": "one"}})
    reply = await http("GET", f"/api/v1/namespaces/{ns}/configmaps?watch=1&sendInitialEvents=true"
                              "&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1")
    events = [json.loads(line) for line in reply.body.splitlines()]
    assert [e["type"] for e in events[:2]] == ["ADDED", "BOOKMARK"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_disconnected_watchers_are_dropped(kube, api, ns):
    v1 = kclient.CoreV1Api(api)
    before = len(kube.store._watchers)
    resp = await v1.list_namespaced_config_map_without_preload_content(ns, watch=True)
    await v1.create_namespaced_config_map(ns, {"metadata": {"name": "x"}})
    await asyncio.wait_for(resp.content.readline(), 10)  # the watch is open and delivering
    assert len(kube.store._watchers) == before + 1
    resp.close()  # the client goes away
    while len(kube.store._watchers) > before:  # the server notices on its own (handler cancelled)
        await asyncio.sleep(0.01)


async def test_many_concurrent_lists_and_watches(api, kube, ns):
    v1 = kclient.CoreV1Api(api)
    await v1.create_namespaced_config_map(ns, {"metadata": {"name": "seed"}})
    results = await asyncio.gather(*(v1.list_namespaced_config_map(ns) for _ in range(200)))
    assert all([c.metadata.name for c in r.items] == ["seed"] for r in results)

    cfg = kclient.Configuration()
    await kconfig.load_kube_config(config_file=str(kube.kubeconfig_path), client_configuration=cfg)
    cfg.connection_pool_maxsize = 150  # the client's default pool (100) would be all watches
    watcher = kclient.ApiClient(cfg)
    wv1 = kclient.CoreV1Api(watcher)
    streams = await asyncio.gather(*(wv1.list_namespaced_config_map_without_preload_content(
        ns, watch=True, resource_version="0") for _ in range(100)))
    try:
        firsts = await asyncio.gather(*(asyncio.wait_for(s.content.readline(), 30) for s in streams))
        assert all(json.loads(line)["object"]["metadata"]["name"] == "seed" for line in firsts)
        await v1.create_namespaced_config_map(ns, {"metadata": {"name": "news"}})
        lines = await asyncio.gather(*(asyncio.wait_for(s.content.readline(), 30) for s in streams))
        events = [json.loads(line) for line in lines]
        assert all((e["type"], e["object"]["metadata"]["name"]) == ("ADDED", "news") for e in events)
    finally:
        for s in streams:
            s.close()
        await watcher.close()
