"""Serve mode and prefect.yaml define the same deployments: names, entrypoints, descriptions, parameters, tags,
triggers, schedules and concurrency. (`test_deploy.py` then deploys prefect.yaml for real.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from prefect_windows_nodes.deployments import DeploymentConfig, deployment_specs

ROOT = Path(__file__).resolve().parents[2]


def yaml_deployments() -> dict[str, dict]:
    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    return {d["name"]: d for d in doc["deployments"]}


def spec_as_yaml(spec) -> dict:
    """A DeploymentSpec in prefect.yaml's vocabulary."""
    out = {
        "name": spec.name, "entrypoint": spec.entrypoint, "description": spec.description,
        "parameters": spec.parameters, "tags": list(spec.tags),
        "triggers": [{"type": "event", "name": t.name, "enabled": t.enabled, "expect": sorted(t.expect),
                      "match": dict(t.match.root if hasattr(t.match, "root") else t.match),
                      "parameters": t.parameters} for t in spec.triggers],
        "schedules": [{"cron": spec.cron, "timezone": spec.timezone}] if spec.cron else [],
        "concurrency_limit": spec.concurrency_limit,
    }
    return out


def yaml_as_comparable(d: dict) -> dict:
    return {
        "name": d["name"], "entrypoint": d["entrypoint"], "description": " ".join(d["description"].split()),
        "parameters": d.get("parameters") or {}, "tags": d.get("tags") or [],
        "triggers": [{**t, "expect": sorted(t["expect"])} for t in d.get("triggers") or []],
        "schedules": [{"cron": s["cron"], "timezone": s.get("timezone")} for s in d.get("schedules") or []],
        "concurrency_limit": d.get("concurrency_limit"),
    }


def test_prefect_yaml_states_what_serve_mode_serves():
    specs = {s.name: spec_as_yaml(s) for s in deployment_specs(DeploymentConfig())}
    assert set(yaml_deployments()) == set(specs)
    for name, d in yaml_deployments().items():
        assert yaml_as_comparable(d) == specs[name], name


def test_every_yaml_deployment_has_a_work_pool_and_a_pull_step():
    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    assert doc["pull"] and all(d["work_pool"]["name"] == "windows-nodes" for d in doc["deployments"])
    assert any("prefect-windows-nodes limits" in str(step) for step in doc["build"])


@pytest.mark.parametrize("field,value,fix", [
    ("timezone", "Mars/Olympus", "IANA"), ("drift_cron", "nightly", "five-field"),
    ("host_template_block", "Template_1", "block name"),
])
def test_config_refuses_bad_values(field, value, fix):
    with pytest.raises(ValueError, match=fix):
        DeploymentConfig(**{field: value})
