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


COMPOSE = Path(__file__).parent.parent / "examples" / "docker-compose.yml"


def test_compose_stands_the_emulator_in_for_stripe_and_the_api_trusts_its_ca() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"stripe", "api", "smoke"} <= set(services)
    stripe = services["stripe"]
    emulator = build_parser().parse_args(stripe["command"][1:])
    assert (emulator.command, emulator.tls, emulator.port, emulator.host) == ("emulator", True, 443, "0.0.0.0")
    assert emulator.forward_to.startswith("http://api:")
    aliases = stripe["networks"]["ci"]["aliases"]
    assert {"api.stripe.com", "checkout.stripe.com"} <= set(aliases)
    assert compose["networks"]["ci"].get("internal") is True  # hermetic: no route out
    ca_dir = stripe["environment"]["STRIPE_SMOKE_CA_DIR"]
    assert f"stripe-ca:{ca_dir}" in stripe["volumes"]
    # The API is unchanged (no STRIPE_API_BASE): it trusts the CA from the shared volume and waits for it.
    api = services["api"]
    assert "STRIPE_API_BASE" not in api["environment"]
    assert api["environment"]["NODE_EXTRA_CA_CERTS"] == f"{ca_dir}/ca.pem"
    assert api["environment"]["SSL_CERT_FILE"] == api["environment"]["REQUESTS_CA_BUNDLE"] == f"{ca_dir}/ca-bundle.pem"
    assert f"stripe-ca:{ca_dir}:ro" in api["volumes"] and "ci" in api["networks"]
    assert api["depends_on"]["stripe"]["condition"] == "service_healthy"
    # The webhook secret the emulator signs with is the API's.
    assert api["environment"]["STRIPE_WEBHOOK_SECRET"] == stripe["environment"]["STRIPE_WEBHOOK_SECRET"]


def test_compose_job_runs_the_two_phases_with_commands_the_cli_accepts() -> None:
    smoke = yaml.safe_load(COMPOSE.read_text())["services"]["smoke"]
    assert "STRIPE_API_BASE" not in smoke["environment"] and smoke["environment"]["SSL_CERT_FILE"].endswith("ca-bundle.pem")
    lines = [line.strip() for line in smoke["command"][-1].splitlines() if line.strip().startswith("stripe-smoke ")]
    parser = build_parser()
    parsed = [parser.parse_args(shlex.split(line.replace("$$", "$"))[1:]) for line in lines]
    assert [(p.command, p.action) for p in parsed] == [("checkout", "create"), ("checkout", "pay"), ("checkout", "verify")]
    assert parsed[0].base_url == "http://api:3000" and parsed[1].via == "api"
