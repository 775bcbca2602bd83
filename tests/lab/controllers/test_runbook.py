"""Issue 2 acceptance: the runbook's workload test through the real API with `kubernetes.aio` — netshoot,
nginx Deployment + nginx-svc; nslookup answers from 10.96.0.10; `curl -Is` gets 200; the runbook's
NetworkPolicy then blocks netshoot (non-zero exit) but still lets a `run=iis` pod through."""

from __future__ import annotations

import asyncio

from kubernetes.aio import client as kclient
from kubernetes.aio import watch as kwatch

from .conftest import api_client, api_exec, deployment_obj, pod_obj, service_obj

POLICY = {
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "allow-nginx-ingress-from-iis", "namespace": "default"},
    "spec": {"podSelector": {"matchLabels": {"run": "nginx"}}, "policyTypes": ["Ingress"],
             "ingress": [{"from": [{"podSelector": {"matchLabels": {"run": "iis"}}}],
                          "ports": [{"protocol": "TCP", "port": 80}]}]},
}


async def _wait_ready(api: kclient.ApiClient) -> None:
    """Watch until nginx has 2 ready replicas and the client pods run."""
    apps, core = kclient.AppsV1Api(api), kclient.CoreV1Api(api)
    w = kwatch.Watch()
    async with asyncio.timeout(30):
        async for ev in w.stream(apps.list_namespaced_deployment, "default", field_selector="metadata.name=nginx"):
            if (ev["object"].status.ready_replicas or 0) == 2:
                break
        w.stop()
        w = kwatch.Watch()
        running: set[str] = set()
        async for ev in w.stream(core.list_namespaced_pod, "default", label_selector="run in (netshoot,iis)"):
            if ev["object"].status.phase == "Running":
                running.add(ev["object"].metadata.name)
            if running == {"netshoot", "iis"}:
                break
        w.stop()


async def test_runbook_workload_dns_http_and_policy(lab):
    async with lab("default") as kube, api_client(kube) as api:
        core, apps = kclient.CoreV1Api(api), kclient.AppsV1Api(api)
        net = kclient.NetworkingV1Api(api)
        await core.create_namespaced_pod("default", pod_obj("netshoot", "nicolaka/netshoot",
                                                            command=["sleep", "360000"]))
        # a Linux stand-in for the IIS pod: what matters to the policy is its label
        await core.create_namespaced_pod("default", pod_obj("iis", "nicolaka/netshoot", command=["sleep", "1d"]))
        await apps.create_namespaced_deployment("default", deployment_obj("nginx", "nginx", replicas=2))
        svc = await core.create_namespaced_service("default", service_obj("nginx-svc", {"run": "nginx"}))
        cluster_ip = svc.spec.cluster_ip
        assert cluster_ip.startswith("10.") and cluster_ip != "10.96.0.10"
        await _wait_ready(api)

        r = await api_exec(api, "default", "netshoot", ["nslookup", "nginx-svc"])
        out = r.stdout.decode()
        assert r.exit_code == 0, r
        assert "Server:\t\t10.96.0.10" in out
        assert "Name:\tnginx-svc.default.svc.cluster.local" in out
        assert f"Address: {cluster_ip}" in out

        r = await api_exec(api, "default", "netshoot", ["curl", "-Is", "http://nginx-svc"])
        assert r.exit_code == 0, r
        assert r.stdout.decode().startswith("HTTP/1.1 200 OK\r\n")
        assert "Content-Length: 615" in r.stdout.decode()

        await net.create_namespaced_network_policy("default", POLICY)
        r = await api_exec(api, "default", "netshoot", ["curl", "-m", "5", "-sI", "http://nginx-svc"])
        assert r.exit_code == 28 and r.stdout == b"", r
        r = await api_exec(api, "default", "iis", ["curl", "-m", "5", "-sI", "http://nginx-svc"])
        assert r.exit_code == 0 and b"HTTP/1.1 200 OK" in r.stdout, r

        # nginx logged the requests that reached it, from the allowed client only after the policy
        nginx = (await core.list_namespaced_pod("default", label_selector="run=nginx")).items
        logs = "".join([await core.read_namespaced_pod_log(p.metadata.name, "default") for p in nginx])
        assert logs.count('"HEAD / HTTP/1.1" 200 0') == 2
