"""The example CI workflow is valid YAML and every stripe-smoke command in it is one the CLI accepts."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from smoke.cli import build_parser

WORKFLOW = Path(__file__).parent.parent / "examples" / "github-actions.yml"


def _commands(workflow: dict) -> list[tuple[str, list[str], dict]]:
    found = []
    for name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            for line in str(step.get("run", "")).splitlines():
                if line.strip().startswith("stripe-smoke "):
                    found.append((name, shlex.split(line)[1:], {**workflow.get("env", {}), **step.get("env", {})}))
    return found


def test_workflow_has_smoke_gate_and_two_phase_jobs_joined_by_the_receipt() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    assert {"staging-smoke", "release-gate", "deploy", "checkout-create", "checkout-verify"} <= set(jobs)
    assert jobs["deploy"]["needs"] == "release-gate" and jobs["checkout-verify"]["needs"] == "checkout-create"
    uploaded = [s["with"] for s in jobs["checkout-create"]["steps"] if "upload-artifact" in s.get("uses", "")]
    downloaded = [s["with"] for s in jobs["checkout-verify"]["steps"] if "download-artifact" in s.get("uses", "")]
    assert any(u["name"] == d["name"] == "checkout-receipt" and u["path"] == d["path"] for u in uploaded for d in downloaded)
    # Secrets come from the CI's secret store, never written into the file.
    env = workflow["env"]
    for name in ("STRIPE_WEBHOOK_SECRET", "STRIPE_API_KEY", "SMOKE_BUYER_PASSWORD"):
        assert env[name] == "${{ secrets." + name + " }}"
    assert "whsec_" not in WORKFLOW.read_text().replace("whsec_…", "") and "sk_test_" not in WORKFLOW.read_text().replace("sk_test_…", "")


def test_every_command_in_the_workflow_parses() -> None:
    commands = _commands(yaml.safe_load(WORKFLOW.read_text()))
    actions = {args[0] + (" " + args[1] if args[0] == "checkout" else "") for _, args, _ in commands}
    assert actions == {"run", "checkout create", "checkout verify"}
    parser = build_parser()
    for job, args, _env in commands:
        parsed, extra = parser.parse_known_args(args)
        assert parsed.command in ("run", "checkout"), job
        if parsed.command == "checkout":
            assert not extra, f"{job}: {extra} is not a checkout option"
