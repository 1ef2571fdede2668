"""Stripe outages on demand (the emulator's faults, through the official SDK) and the drill that uses them: a
webhook that asks Stripe must not acknowledge an event it could not process, and must credit on Stripe's retry."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import stripe

from smoke.cli import main
from smoke.embedded import Embedded, start_embedded
from smoke.emulator import RunningEmulator, start_emulator
from smoke.emulator.faults import clear_faults, controllable, list_faults, stripe_outage
from smoke.profiles import load_profile
from smoke.stripe_api import client

from _verdicts import other_causes_named, read_junit
from _wait import wait_until

DRILL = "test_credit_survives_a_stripe_outage"
# fault of the credits reference target → (the cause the drill must name, words its message must contain)
CAUGHT_BY = {
    "acks_on_stripe_error": ("acknowledged_during_outage", "Stripe will not retry a 2xx, so the credit is lost"),
    "records_before_processing": ("records_before_processing", "the retry was taken for a duplicate"),
}


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[RunningEmulator]:
    """One emulator for this module's fault tests (stopping one takes half a second)."""
    running = start_emulator()
    yield running
    running.stop()


@pytest.fixture
def emulator(shared_emulator: RunningEmulator) -> Iterator[RunningEmulator]:
    """The shared emulator, its faults ended after each test."""
    yield shared_emulator
    clear_faults(shared_emulator.url)


def target_client(emulator: RunningEmulator, timeout: float = 5.0) -> stripe.StripeClient:
    """A client as a target would make it: the official SDK, no harness header, no retries."""
    return stripe.StripeClient(emulator.api_key, base_addresses={"api": emulator.url},
                               http_client=stripe.new_default_http_client(timeout=timeout))


def new_intent(emulator: RunningEmulator) -> str:
    return str(client(emulator.api_key, emulator.url).v1.payment_intents.create(
        params={"amount": 500, "currency": "usd"}).id)


# -- the faults, through the SDK -----------------------------------------------------------------------------------

def test_api_error_fails_the_next_call_then_stripe_is_back(emulator: RunningEmulator) -> None:
    intent, target = new_intent(emulator), target_client(emulator)
    with stripe_outage(emulator.url, calls=1, route="/v1/payment_intents") as outage:
        with pytest.raises(stripe.APIError) as failed:
            target.v1.payment_intents.retrieve(intent)
        assert failed.value.http_status == 500
        assert failed.value.error is not None and failed.value.error.type == "api_error"
        assert target.v1.payment_intents.retrieve(intent).id == intent  # one call failed, the next one is answered
        assert outage.fired() == 1 and outage.failed_calls() == [f"GET /v1/payment_intents/{intent}"]
    assert list_faults(emulator.url) == []


def test_a_timeout_is_a_connection_error_for_a_client_with_a_short_timeout(emulator: RunningEmulator) -> None:
    intent, target = new_intent(emulator), target_client(emulator, timeout=0.5)
    with stripe_outage(emulator.url, calls=1, kind="timeout", hold_seconds=20):
        started = time.monotonic()
        with pytest.raises(stripe.APIConnectionError, match=r"(?i)timeout|timed out"):
            target.v1.payment_intents.retrieve(intent)
        assert time.monotonic() - started < 5
        assert target.v1.payment_intents.retrieve(intent).id == intent


def test_a_held_call_is_closed_after_hold_seconds_never_held_forever(emulator: RunningEmulator) -> None:
    intent = new_intent(emulator)
    with stripe_outage(emulator.url, calls=1, kind="timeout", hold_seconds=0.3):
        started = time.monotonic()
        with pytest.raises(httpx.RemoteProtocolError):  # closed without an answer, long before the client gives up
            httpx.get(f"{emulator.url}/v1/payment_intents/{intent}", auth=(emulator.api_key, ""), timeout=10)
        assert 0.3 <= time.monotonic() - started < 5


def test_a_held_call_is_released_when_the_emulator_stops() -> None:
    running = start_emulator()
    intent = new_intent(running)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            target_client(running, timeout=60).v1.payment_intents.retrieve(intent)
        except stripe.StripeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    try:
        with stripe_outage(running.url, calls=1, kind="timeout", hold_seconds=300) as outage:
            thread.start()
            wait_until(outage.fired, timeout=5, message="the call is held")
            outage.ended = True  # the emulator stops below: nothing left to end
    finally:
        running.stop()
    thread.join(timeout=5)
    assert not thread.is_alive() and isinstance(errors[0], stripe.APIConnectionError)


def test_a_reset_closes_the_connection_without_an_answer(emulator: RunningEmulator) -> None:
    intent, target = new_intent(emulator), target_client(emulator)
    with stripe_outage(emulator.url, calls=2, kind="reset") as outage:
        for _ in range(2):
            with pytest.raises(stripe.APIConnectionError):
                target.v1.payment_intents.retrieve(intent)
        assert target.v1.payment_intents.retrieve(intent).id == intent
        assert outage.fired() == 2


def test_a_window_fails_every_call_to_the_route_until_it_ends(emulator: RunningEmulator) -> None:
    intent, target = new_intent(emulator), target_client(emulator)
    started = time.monotonic()
    with stripe_outage(emulator.url, seconds=0.5, route="/v1/payment_intents") as outage:
        for _ in range(3):
            with pytest.raises(stripe.APIError):
                target.v1.payment_intents.retrieve(intent)
        assert target.v1.customers.list().object == "list"  # another route is untouched

        def answered() -> bool:
            try:
                return target.v1.payment_intents.retrieve(intent).id == intent
            except stripe.APIError:
                return False

        wait_until(answered, timeout=5, message="the window ends")
        assert time.monotonic() - started >= 0.5
        assert outage.fired() >= 3
        assert [f["active"] for f in list_faults(emulator.url)] == [False]  # listed, with what it did, until cleared


def test_the_harness_client_is_never_failed(emulator: RunningEmulator) -> None:
    intent, harness = new_intent(emulator), client(emulator.api_key, emulator.url)
    with stripe_outage(emulator.url, calls=1, kind="reset") as outage:
        assert harness.v1.payment_intents.retrieve(intent).id == intent
        assert harness.v1.payment_intents.confirm(intent, params={"payment_method": "pm_card_visa"}).status == "succeeded"
        assert outage.fired() == 0
        with pytest.raises(stripe.APIConnectionError):
            target_client(emulator).v1.payment_intents.retrieve(intent)
        assert outage.fired() == 1


def test_about_fails_only_calls_about_that_payment(emulator: RunningEmulator) -> None:
    ours, other, target = new_intent(emulator), new_intent(emulator), target_client(emulator)
    harness = client(emulator.api_key, emulator.url)
    harness.v1.payment_intents.confirm(ours, params={"payment_method": "pm_card_visa"})
    event = next(e for e in harness.v1.events.list(params={"type": "payment_intent.succeeded"}).data
                 if e.data.object["id"] == ours)
    with stripe_outage(emulator.url, calls=10, about=[ours]) as outage:
        assert target.v1.payment_intents.retrieve(other).id == other
        with pytest.raises(stripe.APIError):
            target.v1.payment_intents.retrieve(ours)
        with pytest.raises(stripe.APIError):  # the event about it counts too
            target.v1.events.retrieve(event.id)
        assert outage.fired() == 2


@pytest.mark.parametrize("body, phrase", [
    ({"kind": "api_error"}, "exactly one of calls"),
    ({"calls": 1, "seconds": 2}, "exactly one of calls"),
    ({"calls": 0}, "calls must be a whole number"),
    ({"seconds": -1}, "seconds must be a number"),
    ({"calls": 1, "kind": "boom"}, "kind must be one of api_error, timeout, reset"),
    ({"calls": 1, "route": "/_emulator"}, "route must be a path prefix"),
    ({"calls": 1, "about": ["not an id"]}, "about must be a list of Stripe ids"),
    ({"calls": 1, "hold_seconds": 301}, "hold_seconds must be"),
    ({"calls": 1, "colour": "red"}, "unknown field 'colour'"),
    ([], "send a JSON object"),
])
def test_control_api_refuses_a_bad_fault_in_one_sentence(emulator: RunningEmulator, body: object, phrase: str) -> None:
    response = httpx.post(f"{emulator.url}/_emulator/faults", json=body, timeout=10)
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert phrase in message and message.replace("e.g. ", "").count(". ") == 0 and message.endswith(".")


def test_control_api_lists_and_clears(emulator: RunningEmulator) -> None:
    created = httpx.post(f"{emulator.url}/_emulator/faults", json={"calls": 2, "kind": "reset"}, timeout=10)
    assert created.status_code == 201 and created.json()["id"].startswith("flt_")
    httpx.post(f"{emulator.url}/_emulator/faults", json={"seconds": 60}, timeout=10).raise_for_status()
    listed = httpx.get(f"{emulator.url}/_emulator/faults", timeout=10).json()["faults"]
    assert [(f["kind"], f["route"], f["fired"], f["active"]) for f in listed] == [("reset", "/v1/", 0, True),
                                                                                ("api_error", "/v1/", 0, True)]
    assert httpx.delete(f"{emulator.url}/_emulator/faults/flt_nope", timeout=10).status_code == 404
    assert httpx.delete(f"{emulator.url}/_emulator/faults", timeout=10).json() == {"cleared": 2}
    assert controllable(emulator.url) and not controllable(emulator.url + "/not-an-emulator")  # a 404 there


def test_cli_injects_lists_and_clears_faults(emulator: RunningEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    intent, target = new_intent(emulator), target_client(emulator)
    assert main(["emulator", "fault", "--api-base", emulator.url, "--calls", "2", "--kind", "reset",
                 "--route", "/v1/payment_intents"]) == 0
    assert "closes the connection to /v1/payment_intents: the next 2 call(s)" in capsys.readouterr().out
    with pytest.raises(stripe.APIConnectionError):
        target.v1.payment_intents.retrieve(intent)
    assert main(["emulator", "fault", "--api-base", emulator.url, "--list"]) == 0
    assert "(failed 1, 1 left), active" in capsys.readouterr().out
    assert main(["emulator", "fault", "--api-base", emulator.url, "--clear"]) == 0
    assert "ended 1 fault(s)" in capsys.readouterr().out
    assert main(["emulator", "fault", "--api-base", emulator.url, "--list"]) == 0
    assert "0 fault(s)" in capsys.readouterr().out
    assert target.v1.payment_intents.retrieve(intent).id == intent


def test_cli_fault_errors_keep_the_exit_code_contract(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    assert main(["emulator", "fault", "--api-base", closed, "--calls", "1"]) == 3
    assert "did not answer" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["emulator", "fault", "--api-base", closed])
    assert usage.value.code == 4 and "one of the arguments --calls --seconds --list --clear is required" in capsys.readouterr().err


# -- the drill ---------------------------------------------------------------------------------------------------

def _run(run_suites: Callable[..., pytest.RunResult], running: Embedded, monkeypatch: pytest.MonkeyPatch, *args: str,
         target: str = "credits", stripe_env: bool = True) -> pytest.RunResult:
    if stripe_env:
        monkeypatch.setenv("STRIPE_API_KEY", running.stripe_api_key or "")
        monkeypatch.setenv("STRIPE_API_BASE", running.stripe_api_base or "")
    else:
        monkeypatch.delenv("STRIPE_API_KEY", raising=False)
        monkeypatch.delenv("STRIPE_API_BASE", raising=False)
    return run_suites(*args, base_url=running.base_url, target=target, secret=running.webhook_secret)


def _profile_with_kind(tmp_path: Path, kind: str) -> str:
    text = load_profile("credits").source.read_text(encoding="utf-8")
    route = 'route = "/v1/payment_intents"\n'
    assert route in text
    path = tmp_path / f"credits-{kind}.toml"
    path.write_text(text.replace(route, f'{route}kind = "{kind}"\n'), encoding="utf-8")
    return str(path)


@pytest.fixture
def credits_stack() -> Iterator[Callable[..., Embedded]]:
    """The credits reference target (faults and options given) wired to its own emulator."""
    started: list[Embedded] = []

    def start(*faults: str, **options: object) -> Embedded:
        running = start_embedded(load_profile("credits"), faults=set(faults), **options)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.mark.parametrize("kind", ["api_error", "timeout", "reset"])
def test_drill_passes_against_the_correct_credits_target(kind: str, credits_stack: Callable[..., Embedded], tmp_path: Path,
                                                          run_suites: Callable[..., pytest.RunResult],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The faithful target answers 503 while Stripe fails (an error, a timeout, a reset) and credits on the retry."""
    running = credits_stack(stripe_timeout=0.5)
    target = "credits" if kind == "api_error" else _profile_with_kind(tmp_path, kind)
    result = _run(run_suites, running, monkeypatch, "-k", DRILL, f"--junitxml={tmp_path / 'run.xml'}", target=target)
    assert result.ret == 0, result.stdout.str()
    assert read_junit(tmp_path / "run.xml")[DRILL].verdict == "passed"


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["serial", "xdist"])
@pytest.mark.parametrize("fault", sorted(CAUGHT_BY))
def test_drill_names_exactly_the_fault(fault: str, xdist: tuple[str, ...], stack: Callable[..., Embedded], tmp_path: Path,
                                       run_suites: Callable[..., pytest.RunResult], monkeypatch: pytest.MonkeyPatch) -> None:
    """Against each faulty variant the drill fails naming that cause and no other, serial and under xdist."""
    cause, words = CAUGHT_BY[fault]
    result = _run(run_suites, stack(fault, profile="credits"), monkeypatch, "-k", DRILL, *xdist,
                  f"--junitxml={tmp_path / 'run.xml'}")
    cases = read_junit(tmp_path / "run.xml")
    failures = {name: case for name, case in cases.items() if case.verdict == "failed"}
    assert set(failures) == {DRILL}, result.stdout.str()
    assert failures[DRILL].cause == cause
    assert words in failures[DRILL].message and other_causes_named(failures[DRILL].message, cause) == [], failures


@pytest.mark.parametrize("fault", [None, "acks_on_stripe_error"])
def test_drill_delivers_the_event_itself_when_the_emulator_has_no_endpoint_for_the_target(
        fault: str | None, emulator: RunningEmulator, webhook_secret: str, tmp_path: Path,
        run_suites: Callable[..., pytest.RunResult], monkeypatch: pytest.MonkeyPatch) -> None:
    """An API pointed at the emulator but not registered there: the harness delivers Stripe's real event, signed."""
    from smoke.reference import credits

    server = credits.start(webhook_secret, faults={fault} if fault else set(), stripe_api_key=emulator.api_key,
                           stripe_api_base=emulator.url)
    try:
        running = Embedded(server.url, webhook_secret, stripe_api_key=emulator.api_key, stripe_api_base=emulator.url)
        _run(run_suites, running, monkeypatch, "-k", DRILL, f"--junitxml={tmp_path / 'run.xml'}")
    finally:
        server.stop()
    case = read_junit(tmp_path / "run.xml")[DRILL]
    assert (case.verdict, case.cause) == (("failed", "acknowledged_during_outage") if fault else ("passed", "")), case


def test_drill_is_green_beside_the_whole_credits_suite_under_xdist(stack: Callable[..., Embedded], tmp_path: Path,
                                                                   run_suites: Callable[..., pytest.RunResult],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The outage is scoped to the drill's own payment: the checks beside it that make the target ask Stripe pass."""
    result = _run(run_suites, stack(profile="credits"), monkeypatch, "-n", "2", f"--junitxml={tmp_path / 'run.xml'}")
    cases = read_junit(tmp_path / "run.xml")
    assert result.ret == 0 and cases[DRILL].verdict == "passed", result.stdout.str()
    assert cases["test_confirmed_payment_intent_credits_exact_amount"].verdict == "passed"


def test_drill_says_why_it_skips(stack: Callable[..., Embedded], run_suites: Callable[..., pytest.RunResult],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Not opted in, Stripe not a local emulator, or a production target: skipped, saying so."""
    running = stack(profile="credits")
    cases = [
        (_run(run_suites, stack(), monkeypatch, "-k", DRILL, target="demo"), "add [drills.stripe_outage]"),
        (_run(run_suites, running, monkeypatch, "-k", DRILL, stripe_env=False), "not a stripe-smoke emulator the harness can"),
        (_run(run_suites, running, monkeypatch, "-k", DRILL, "--production"), "refused: the target is marked production"),
    ]
    for result, reason in cases:
        assert result.ret == 0 and result.parseoutcomes().get("skipped") == 1, result.stdout.str()
        assert reason in result.stdout.str(), result.stdout.str()
