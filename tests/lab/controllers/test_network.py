"""The network model: exit codes and messages of the pod tools, DNS blocked by egress policy, Linux↔Windows
traffic needing VXLAN end to end, and policy on a Windows pod enforced only while its node runs Felix."""

from __future__ import annotations

from .conftest import (FakeWindowsRuntime, calico_patch, create, linux_basics, make_vxlan, pod_obj, pods_of, run,
                       service_obj, settle, windows_setup)


async def test_tool_exit_codes_and_messages(lab):
    async with lab() as kube:
        ip = await linux_basics(kube)
        create(kube, "", "services", service_obj("empty-svc", {"run": "nobody"}))
        nginx_ip = pods_of(kube, run="nginx")[0]["status"]["podIP"]

        r = await run(kube, "netshoot", ["curl", "-sS", "http://no-such-svc"])
        assert (r.exit_code, r.stderr) == (6, b"curl: (6) Could not resolve host: no-such-svc\n")
        r = await run(kube, "netshoot", ["curl", "-sS", f"http://{nginx_ip}:8080/"])
        assert r.exit_code == 7 and b"Connection refused" in r.stderr
        r = await run(kube, "netshoot", ["curl", "-s", "http://empty-svc"])
        assert r.exit_code == 7  # kube-proxy rejects Services without endpoints
        r = await run(kube, "netshoot", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://nginx-svc"])
        assert (r.exit_code, r.stdout) == (0, b"200")
        r = await run(kube, "netshoot", ["curl", "-sf", "http://nginx-svc/missing"])
        assert r.exit_code == 22
        r = await run(kube, "netshoot", ["wget", "-qO-", "-T", "3", "http://nginx-svc.default.svc"])
        assert r.exit_code == 0 and b"Welcome to nginx!" in r.stdout
        r = await run(kube, "netshoot", ["nc", "-zv", "-w", "2", "nginx-svc", "80"])
        assert r.exit_code == 0 and f"({ip}) 80 port [tcp/http] succeeded!".encode() in r.stderr
        r = await run(kube, "netshoot", ["nslookup", "nginx-svc.default.svc.cluster.local"])
        assert r.exit_code == 0 and f"Address: {ip}".encode() in r.stdout
        r = await run(kube, "netshoot", ["nslookup", "nope"])
        assert r.exit_code == 1 and b"** server can't find nope: NXDOMAIN" in r.stdout
        r = await run(kube, "netshoot", ["sh", "-c", "curl -sI http://nginx-svc | grep -i '^http' && echo ok"])
        assert r.stdout == b"HTTP/1.1 200 OK\r\nok\n"
        r = await run(kube, "netshoot", ["no-such-tool"])
        assert r.exit_code == 126 and b"executable file not found in $PATH" in r.stderr


async def test_egress_default_deny_blocks_dns(lab):
    async with lab() as kube:
        await linux_basics(kube)
        create(kube, "networking.k8s.io", "networkpolicies", {
            "metadata": {"name": "deny-egress"},
            "spec": {"podSelector": {"matchLabels": {"run": "netshoot"}}, "policyTypes": ["Egress"]}})
        r = await run(kube, "netshoot", ["curl", "-sS", "http://nginx-svc"])
        assert (r.exit_code, r.stderr) == (6, b"curl: (6) Could not resolve host: nginx-svc\n")
        r = await run(kube, "netshoot", ["curl", "-sS", "-m", "5", "http://nginx-svc"])
        assert r.exit_code == 28 and b"Resolving timed out" in r.stderr
        r = await run(kube, "netshoot", ["nslookup", "nginx-svc"])
        assert r.exit_code == 1 and b"connection timed out; no servers could be reached" in r.stdout
        # allowing DNS (and nginx) again restores both
        create(kube, "networking.k8s.io", "networkpolicies", {
            "metadata": {"name": "allow-dns-and-nginx"},
            "spec": {"podSelector": {"matchLabels": {"run": "netshoot"}}, "policyTypes": ["Egress"],
                     "egress": [{"to": [{"namespaceSelector": {"matchLabels": {
                         "kubernetes.io/metadata.name": "kube-system"}}}],
                                 "ports": [{"protocol": "UDP", "port": 53}]},
                                {"to": [{"podSelector": {"matchLabels": {"run": "nginx"}}}]}]}})
        r = await run(kube, "netshoot", ["curl", "-sI", "http://nginx-svc"])
        assert r.exit_code == 0, r


async def test_calico_global_policy_denies(lab):
    async with lab() as kube:
        await linux_basics(kube)
        create(kube, "crd.projectcalico.org", "globalnetworkpolicies", {
            "metadata": {"name": "deny-nginx"},
            "spec": {"order": 10, "selector": "run == 'nginx'", "types": ["Ingress"],
                     "ingress": [{"action": "Deny", "protocol": "TCP", "source": {"selector": "run == 'netshoot'"}},
                                 {"action": "Allow"}]}}, None)
        r = await run(kube, "netshoot", ["curl", "-s", "-m", "3", "http://nginx-svc"])
        assert r.exit_code == 28
        create(kube, "", "pods", pod_obj("other", "nicolaka/netshoot"))
        await settle(kube)
        r = await run(kube, "other", ["curl", "-s", "-m", "3", "http://nginx-svc"])
        assert r.exit_code == 0


async def test_linux_windows_traffic_needs_vxlan_everywhere(lab):
    async with lab() as kube:
        win = await windows_setup(kube)
        iis = pods_of(kube, run="iis")[0]
        assert iis["spec"]["nodeName"] == "k8s-ww" and iis["status"]["phase"] == "Running"
        iwr = ["powershell", "-command", "iwr -UseBasicParsing -TimeoutSec 5 http://nginx-svc"]

        # the runbook's start: IPIP pool -> nothing crosses between Linux and Windows (DNS included)
        r = await run(kube, "netshoot", ["curl", "-sI", "-m", "5", "http://iis-svc"])
        assert r.exit_code == 28
        r = await run(kube, iis["metadata"]["name"], iwr)
        assert r.exit_code == 1 and b"iwr : The operation has timed out." in r.stderr

        # pool VXLAN but Felix vxlanEnabled unset (the runbook's own steps, Calico 3.22): still nothing
        make_vxlan(kube, felix_vxlan=False)
        r = await run(kube, "netshoot", ["curl", "-sI", "-m", "5", "http://iis-svc"])
        assert r.exit_code == 28

        # VXLAN on both sides
        calico_patch(kube, "felixconfigurations", "default", vxlanEnabled=True)
        r = await run(kube, "netshoot", ["curl", "-sI", "-m", "5", "http://iis-svc"])
        assert r.exit_code == 0 and b"Server: Microsoft-IIS/10.0" in r.stdout
        assert b"Content-Length: 703" in r.stdout
        r = await run(kube, iis["metadata"]["name"], iwr)
        assert r.exit_code == 0, r
        assert b"StatusCode        : 200" in r.stdout and b"RawContentLength  : 615" in r.stdout
        r = await run(kube, iis["metadata"]["name"], ["nslookup", "nginx-svc"])
        assert r.exit_code == 0 and b"Name:    nginx-svc.default.svc.cluster.local" in r.stdout
        assert win.execs, "the node runtime was consulted first"

        # a Windows node on another VNI is cut off again
        win.vni_port = (4097, 4789)
        r = await run(kube, "netshoot", ["curl", "-sI", "-m", "5", "http://iis-svc"])
        assert r.exit_code == 28


async def test_policy_on_windows_pod_needs_felix_on_that_node(lab):
    async with lab() as kube:
        win = await windows_setup(kube)
        make_vxlan(kube)
        create(kube, "networking.k8s.io", "networkpolicies", {
            "metadata": {"name": "iis-only-from-client"},
            "spec": {"podSelector": {"matchLabels": {"run": "iis"}}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
                                  "ports": [{"protocol": "TCP", "port": 80}]}]}})
        r = await run(kube, "netshoot", ["curl", "-sI", "-m", "5", "http://iis-svc"])
        assert r.exit_code == 28
        win.felix_running = False  # CalicoFelix stopped: nothing enforces the policy there
        r = await run(kube, "netshoot", ["curl", "-sI", "-m", "5", "http://iis-svc"])
        assert r.exit_code == 0


async def test_windows_pod_waits_for_cni_and_reports_start_errors(lab):
    async with lab() as kube:
        runtime = FakeWindowsRuntime("k8s-ww", cni=(False, "cni config uninitialized"))
        await windows_setup(kube, runtime)
        iis = pods_of(kube, run="iis")[0]
        waiting = iis["status"]["containerStatuses"][0]["state"]["waiting"]
        assert waiting["reason"] == "ContainerCreating"
        assert any(e["reason"] == "NetworkNotReady" and "cni config uninitialized" in e["message"]
                   for e in kube.controllers.ctx.events.for_object(iis))
        runtime.cni = (True, "")
        runtime.start_error = "The container operating system does not match the host operating system."
        kube.controllers.kick("k8s-ww")
        await settle(kube)
        iis = pods_of(kube, run="iis")[0]
        waiting = iis["status"]["containerStatuses"][0]["state"]["waiting"]
        assert waiting["reason"] == "CreateContainerError"
        assert "does not match the host operating system" in waiting["message"]
        runtime.start_error = None
        kube.controllers.kick("k8s-ww")
        await settle(kube)
        assert pods_of(kube, run="iis")[0]["status"]["phase"] == "Running"
