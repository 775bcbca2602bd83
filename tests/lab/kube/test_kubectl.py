"""kubectl (whatever version is on PATH) against the lab: it must not be able to tell it from a real cluster for
the operations our flows and runbooks use. TLS is verified against the lab CA; the admin kubeconfig uses a bearer
token."""

from __future__ import annotations

import asyncio
import json

import pytest
from kubernetes.aio import client as kclient

from .conftest import KUBECTL, kubectl_minor

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
  labels: {app: nginx}
spec:
  replicas: 2
  selector:
    matchLabels: {run: nginx}
  template:
    metadata:
      labels: {run: nginx}
    spec:
      containers:
      - name: nginx
        image: nginx:1.21
        ports:
        - containerPort: 80
      - name: sidecar
        image: busybox:1.35
"""


async def test_get_nodes_wide_prints_the_real_columns(kubectl):
    r = await kubectl("get", "nodes", "-o", "wide")
    assert r.code == 0 and r.err == ""
    lines = r.out.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP",
                                "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert rows["k8s-m"].split()[:3] == ["k8s-m", "Ready", "control-plane"]
    assert rows["k8s-lw"].split()[:3] == ["k8s-lw", "Ready", "<none>"]
    for token in ("v1.22.6", "172.16.3.170", "Ubuntu 20.04.2 LTS", "5.4.0-100-generic", "docker://20.10.13"):
        assert token in rows["k8s-m"]


async def test_get_pods_table_columns(kubectl, api, ns):
    await kclient.CoreV1Api(api).create_namespaced_pod(ns, {"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}]}})
    r = await kubectl("get", "pods", "-n", ns, "-o", "wide")
    assert r.code == 0 and r.err == ""
    header, row = r.out.splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE",
                              "READINESS", "GATES"]
    assert row.split()[:4] == ["p", "0/1", "Pending", "0"]


async def test_create_apply_and_server_side_apply(kubectl, api, ns):
    r = await kubectl("apply", "-n", ns, "-f", "-", stdin=DEPLOYMENT.encode())
    assert (r.code, r.err) == (0, ""), r.err
    assert r.out.strip() == "deployment.apps/nginx created"
    changed = DEPLOYMENT.replace("nginx:1.21", "nginx:1.22").replace("replicas: 2", "replicas: 3")
    r = await kubectl("apply", "-n", ns, "-f", "-", stdin=changed.encode())
    assert (r.code, r.err, r.out.strip()) == (0, "", "deployment.apps/nginx configured")
    d = await kclient.AppsV1Api(api).read_namespaced_deployment("nginx", ns)
    assert d.spec.replicas == 3
    assert [c.image for c in d.spec.template.spec.containers] == ["nginx:1.22", "busybox:1.35"]
    # dropping the sidecar from the manifest removes it (three-way strategic merge by container name)
    no_sidecar = changed.split("      - name: sidecar")[0]
    r = await kubectl("apply", "-n", ns, "-f", "-", stdin=no_sidecar.encode())
    assert r.code == 0, r.err
    d = await kclient.AppsV1Api(api).read_namespaced_deployment("nginx", ns)
    assert [c.name for c in d.spec.template.spec.containers] == ["nginx"]

    r = await kubectl("apply", "--server-side", "-n", ns, "-f", "-", stdin=changed.encode())
    assert (r.code, r.err, r.out.strip()) == (0, "", "deployment.apps/nginx serverside-applied")
    d = await kclient.AppsV1Api(api).read_namespaced_deployment("nginx", ns)
    assert [c.name for c in d.spec.template.spec.containers] == ["nginx", "sidecar"]
    # another manager changing a field kubectl owns conflicts, unless forced
    other = changed.replace("replicas: 3", "replicas: 5")
    r = await kubectl("apply", "--server-side", "--field-manager", "other", "-n", ns, "-f", "-",
                      stdin=other.encode())
    assert r.code != 0 and 'conflict with "kubectl"' in r.err and ".spec.replicas" in r.err
    r = await kubectl("apply", "--server-side", "--force-conflicts", "--field-manager", "other", "-n", ns,
                      "-f", "-", stdin=other.encode())
    assert r.code == 0, r.err
    assert (await kclient.AppsV1Api(api).read_namespaced_deployment("nginx", ns)).spec.replicas == 5


async def test_server_side_apply_creates_and_prunes_own_fields(kubectl, api, ns):
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: '1'\n  b: '2'\n"
    r = await kubectl("apply", "--server-side", "-n", ns, "-f", "-", stdin=cm.encode())
    assert (r.code, r.out.strip()) == (0, "configmap/cfg serverside-applied"), r.err
    r = await kubectl("apply", "--server-side", "-n", ns, "-f", "-", stdin=cm.replace("  b: '2'\n", "").encode())
    assert r.code == 0, r.err
    got = await kclient.CoreV1Api(api).read_namespaced_config_map("cfg", ns)
    assert got.data == {"a": "1"}


async def test_patch_types_label_and_selectors(kubectl, ns):
    assert (await kubectl("apply", "-n", ns, "-f", "-", stdin=DEPLOYMENT.encode())).code == 0
    r = await kubectl("patch", "deployment", "nginx", "-n", ns, "--type=json",
                      "-p", '[{"op":"replace","path":"/spec/replicas","value":1}]')
    assert r.code == 0, r.err
    r = await kubectl("patch", "deployment", "nginx", "-n", ns, "--type=merge",
                      "-p", '{"metadata":{"labels":{"tier":"web"}}}')
    assert r.code == 0, r.err
    r = await kubectl("patch", "deployment", "nginx", "-n", ns,
                      "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:2"}]}}}}')
    assert r.code == 0, r.err
    r = await kubectl("get", "deployment", "nginx", "-n", ns, "-o",
                      "jsonpath={.spec.replicas} {.metadata.labels.tier} {.spec.template.spec.containers[*].image}")
    assert r.out == "1 web nginx:1.21 busybox:2"
    assert (await kubectl("label", "deployment", "nginx", "-n", ns, "stage=prod")).code == 0
    r = await kubectl("get", "deployments", "-n", ns, "-l", "stage=prod,tier in (web)", "-o", "name")
    assert r.out.split() == ["deployment.apps/nginx"]
    r = await kubectl("get", "deployments", "-n", ns, "-l", "stage!=prod", "-o", "name")
    assert r.out.split() == []
    r = await kubectl("get", "deployments", "-n", ns, "--field-selector", "metadata.name=nginx", "-o", "name")
    assert r.out.split() == ["deployment.apps/nginx"]
    r = await kubectl("get", "deployments", "-n", ns, "--field-selector", "spec.bogus=1")
    assert r.code != 0 and "field label not supported: spec.bogus" in r.err


async def test_delete_waits_until_gone(kubectl, api, ns):
    await kclient.CoreV1Api(api).create_namespaced_config_map(ns, {"metadata": {"name": "cm"}})
    r = await kubectl("delete", "configmap", "cm", "-n", ns)
    assert (r.code, r.out.strip()) == (0, 'configmap "cm" deleted'), r.err
    r = await kubectl("get", "configmap", "cm", "-n", ns)
    assert r.code == 1 and 'configmaps "cm" not found' in r.err


async def test_calico_crds_and_jsonpath(kubectl):
    pool = ("apiVersion: crd.projectcalico.org/v1\nkind: IPPool\nmetadata:\n  name: test-pool\nspec:\n"
            "  cidr: 10.244.0.0/16\n  ipipMode: Always\n  vxlanMode: Never\n  natOutgoing: true\n")
    r = await kubectl("apply", "-f", "-", stdin=pool.encode())
    assert (r.code, r.err) == (0, ""), r.err
    r = await kubectl("get", "ippools.crd.projectcalico.org", "test-pool", "-o", "jsonpath={.spec.ipipMode}")
    assert (r.code, r.out) == (0, "Always")
    r = await kubectl("patch", "ippools.crd.projectcalico.org", "test-pool", "--type=merge",
                      "-p", '{"spec":{"ipipMode":"Never","vxlanMode":"Always"}}')
    assert r.code == 0, r.err
    r = await kubectl("get", "ippool", "test-pool", "-o", "jsonpath={.spec.vxlanMode}")
    assert r.out == "Always"
    bad = "apiVersion: crd.projectcalico.org/v1\nkind: IPAMConfig\nmetadata:\n  name: default\nspec:\n" \
          "  strictAffinity: true\n"
    r = await kubectl("apply", "-f", "-", stdin=bad.encode())
    assert r.code != 0
    assert 'The IPAMConfig "default" is invalid: spec.autoAllocateBlocks: Required value' in r.err
    r = await kubectl("delete", "ippool", "test-pool")
    assert r.code == 0, r.err


async def test_api_resources_and_versions(kubectl):
    r = await kubectl("api-resources")
    assert r.code == 0 and r.err == ""
    names = {line.split()[0] for line in r.out.splitlines()[1:]}
    assert {"pods", "nodes", "deployments", "ippools", "installations", "certificatesigningrequests"} <= names
    r = await kubectl("api-versions")
    assert {"v1", "apps/v1", "crd.projectcalico.org/v1", "operator.tigera.io/v1"} <= set(r.out.split())


async def test_version(kubectl):
    r = await kubectl("version", "-o", "json")
    assert r.code == 0
    assert json.loads(r.out)["serverVersion"]["gitVersion"] == "v1.22.6"


async def test_logs(kubectl, kube, api, ns):
    await _running_pod(kube, api, ns, "p")
    kube.log_provider = lambda pod, container: "one\ntwo\nthree\n" if pod["metadata"]["name"] == "p" else ""
    r = await kubectl("logs", "p", "-n", ns)
    assert (r.code, r.out) == (0, "one\ntwo\nthree\n")
    r = await kubectl("logs", "p", "-n", ns, "--tail=1")
    assert r.out == "three\n"


@pytest.mark.skipif(kubectl_minor() < 30, reason="kubectl < 1.30 execs over SPDY, which the lab does not serve")
async def test_exec_over_websocket(kubectl, kube, api, ns):
    from lab.kube.exec import ExecResult

    await _running_pod(kube, api, ns, "p")

    async def runtime(pod, container, argv, stdin):
        if argv[:1] == ["cat"]:
            return ExecResult(stdin or b"", b"", 0)
        return ExecResult(f"ran {' '.join(argv)}\n".encode(), b"oops\n", 3)

    saved_runtime, saved_version = kube.exec_runtime, dict(kube.version)
    kube.exec_runtime = runtime
    kube.set_version("v1.30.2")  # kubectl's websocket executor speaks only v5, which servers offer from 1.30
    try:
        r = await kubectl("exec", "p", "-n", ns, "--", "sh", "-c", "x")
        assert r.code == 3 and r.out == "ran sh -c x\n" and "oops" in r.err
        r = await kubectl("exec", "-i", "p", "-n", ns, "--", "cat", stdin=b"hello stdin")
        assert (r.code, r.out) == (0, "hello stdin")
    finally:
        kube.exec_runtime = saved_runtime
        kube.set_version(saved_version)


async def test_watch_prints_events(kubectl, kube, api, ns):
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "--kubeconfig", str(kube.kubeconfig_path), "get", "configmaps", "-n", ns, "--watch",
        "--output-watch-events", "-o", "jsonpath={.type} {.object.metadata.name}{\"\\n\"}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await kclient.CoreV1Api(api).create_namespaced_config_map(ns, {"metadata": {"name": "watched"}})
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.decode().strip() == "ADDED watched"
    finally:
        proc.terminate()
        await proc.wait()


async def _running_pod(kube, api, ns: str, name: str) -> None:
    await kclient.CoreV1Api(api).create_namespaced_pod(ns, {"metadata": {"name": name}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}], "nodeName": "k8s-lw"}})

    def running(o):
        o["status"] = {"phase": "Running", "podIP": "192.168.1.5", "containerStatuses": [
            {"name": "c", "ready": True, "restartCount": 0, "image": "busybox", "imageID": "docker://sha256:1",
             "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}}}]}

    kube.store.mutate(kube.registry.get("", "pods"), ns, name, running, subresource="status")


@pytest.mark.skipif(kubectl_minor() < 24, reason="kubectl < 1.24 lacks `create token --duration`")
async def test_typed_create_commands_send_protobuf(kubectl, kube, api, ns):
    kube.requests.clear()
    cmds = [
        ("create", "configmap", "cfg", "--from-literal=a=1", "-n", ns),
        ("create", "secret", "generic", "sec", "--from-literal=pw=s3cret", "-n", ns),
        ("create", "serviceaccount", "robot", "-n", ns),
        ("create", "deployment", "web", "--image=nginx:1.21", "--replicas=0", "--port=80", "-n", ns),
        ("create", "role", "reader", "--verb=get,list", "--resource=pods", "-n", ns),
        ("create", "rolebinding", "robot-reads", "--role=reader", f"--serviceaccount={ns}:robot", "-n", ns),
        ("create", "service", "clusterip", "web", "--tcp=80:8080", "-n", ns),
    ]
    for cmd in cmds:
        r = await kubectl(*cmd)
        assert r.code == 0, (cmd, r.err)
    assert any(e.verb == "create" for e in kube.requests.entries)
    v1 = kclient.CoreV1Api(api)
    assert (await v1.read_namespaced_config_map("cfg", ns)).data == {"a": "1"}
    assert (await v1.read_namespaced_secret("sec", ns)).data == {"pw": "czNjcmV0"}
    d = await kclient.AppsV1Api(api).read_namespaced_deployment("web", ns)
    assert d.spec.replicas == 0 and d.spec.template.spec.containers[0].ports[0].container_port == 80
    svc = await v1.read_namespaced_service("web", ns)
    assert (svc.spec.ports[0].port, svc.spec.ports[0].target_port) == (80, 8080)

    r = await kubectl("create", "token", "robot", "-n", ns, "--duration=20m")
    token = r.out.strip()
    assert r.code == 0 and token.count(".") == 2
    r = await kubectl("auth", "whoami", "--token", token)
    assert f"system:serviceaccount:{ns}:robot" in r.out
    r = await kubectl("auth", "can-i", "list", "pods", "-n", ns, f"--as=system:serviceaccount:{ns}:robot")
    assert r.out.strip() == "yes"
    r = await kubectl("auth", "can-i", "delete", "pods", "-n", ns, f"--as=system:serviceaccount:{ns}:robot")
    assert r.out.strip() == "no"
    r = await kubectl("get", "pods", "-n", ns, "--token", token, "--as=kubernetes-admin")
    assert r.code != 0 and "cannot impersonate" in r.err


async def test_cordon_drain_uncordon(kubectl, api, ns):
    await kclient.CoreV1Api(api).create_namespaced_pod(ns, {"metadata": {"name": "evictme", "labels": {
        "drain-test": ns}}, "spec": {"containers": [{"name": "c", "image": "busybox"}], "nodeName": "k8s-lw"}})
    try:
        # no kubelet runs in the API-only lab to finish a graceful deletion: grace 0 deletes at once
        r = await kubectl("drain", "k8s-lw", "--pod-selector", f"drain-test={ns}", "--force", "--grace-period=0",
                          "--timeout=30s")
        assert r.code == 0, r.err  # typed-client DELETEs carry protobuf DeleteOptions
        node = await kclient.CoreV1Api(api).read_node("k8s-lw")
        assert node.spec.unschedulable is True
        pods = await kclient.CoreV1Api(api).list_namespaced_pod(ns)
        assert pods.items == []
    finally:
        assert (await kubectl("uncordon", "k8s-lw")).code == 0
    assert not (await kclient.CoreV1Api(api).read_node("k8s-lw")).spec.unschedulable
