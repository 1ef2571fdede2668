"""The public API (``from smoke import …``), used the way a user writes a check of their own."""

from __future__ import annotations

import importlib.metadata
import inspect
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import smoke
from smoke.servers import RunningServer

from _verdicts import read_junit

# A user's own checks, as README "Writing your own check" describes them: public imports only.
MY_CHECKS = '''
"""My billing API's own checks."""

from __future__ import annotations

import pytest

from smoke import Finding, Payment, Smoke, Verdict, conclude, fail, signature_header, to_body

pytestmark = pytest.mark.smoke_simulated


@pytest.mark.smoke_needs("state", "simulated_credit")
@pytest.mark.smoke_depends_on("route")
def test_my_top_up_is_credited(smoke: Smoke) -> None:
    """A top-up credits exactly its amount."""
    baseline = smoke.read()
    sent = smoke.send(smoke.crediting_event())
    if not sent.delivery.ok:
        fail(f"my webhook refused a top-up: {sent.summary}", "my_top_up_refused")
    credit = smoke.await_credit(baseline)
    if credit.code != "credited":
        fail(f"my top-up of {smoke.amount} cents came out {credit.code}: balance {baseline} -> {credit.seen}",
             "my_top_up")


@pytest.mark.smoke_needs("state")
@pytest.mark.smoke_depends_on("credit")
def test_an_unpaid_session_credits_nothing(smoke: Smoke) -> None:
    """A completed session whose payment is still unpaid is acknowledged and credits nothing."""
    baseline = smoke.read()
    sent = smoke.send(smoke.event("checkout.session.completed", overrides={"payment_status": "unpaid"}))
    seen = smoke.changed(baseline)
    conclude(Finding(Verdict.PASSED) if sent.delivery.ok and seen is None else
             Finding(Verdict.FAILED, f"an unpaid session: {sent.summary}, balance {baseline} -> {seen}", "my_unpaid"))


@pytest.mark.smoke_needs("state")
@pytest.mark.smoke_depends_on("credit")
def test_a_payment_signed_by_someone_else_is_refused(smoke: Smoke) -> None:
    """An event signed with a secret that is not the endpoint's is refused and credits nothing."""
    baseline = smoke.read()
    event = smoke.crediting_event(Payment(amount=smoke.amount))
    sent = smoke.send(event, signature=signature_header(to_body(event), "whsec_" + "x" * 32))
    if sent.delivery.ok:
        fail(f"my webhook accepted a forgery: {sent.summary}", "my_forgery")
    smoke.expect_unchanged(baseline, "a forged top-up", "my_forgery_credited")
'''

# Hypothesis's plugin imports all of hypothesis at the end of each run; the user's project needs none of it.
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example() -> str:
    """The custom check README's "Writing your own check" shows (its first Python block)."""
    section = README.read_text().split("## Writing your own check", 1)[-1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


HEAVY = ("httpx", "flask", "stripe", "playwright", "allure", "jwt", "dotenv", "pydantic")


@pytest.fixture
def user_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A user's project: one file of custom checks, no stripe-smoke settings left over from the environment."""
    for name in ("BASE_URL", "STRIPE_WEBHOOK_SECRET", "SMOKE_TARGET", "SMOKE_TOPUP_CENTS", "SMOKE_BUYER_EMAIL",
                 "SMOKE_BUYER_PASSWORD", "SMOKE_REPORTS_DIR", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_my_check=MY_CHECKS, test_my_api=readme_example())
    return pytester


def test_a_custom_check_passes_against_the_embedded_demo(user_project: pytest.Pytester) -> None:
    """No base URL: the plugin starts the demo itself, and the user's checks (every marker used), README's
    example among them, pass."""
    result = user_project.runpytest_subprocess("--target", "demo", *QUIET, "-rA",
                                               "--settle-seconds", "0.2", "--smoke-timeout", "3",
                                               "--junitxml=junit.xml")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=4)
    cases = read_junit(user_project.path / "junit.xml")
    assert {name: case.verdict for name, case in cases.items()} == {
        "test_my_top_up_is_credited": "passed", "test_an_unpaid_session_credits_nothing": "passed",
        "test_a_payment_signed_by_someone_else_is_refused": "passed", "test_two_top_ups_credit_once_each": "passed"}
    # The user's checks are the harness's checks: the summary table and summary.md list them.
    assert "stripe-smoke summary" in result.stdout.str()
    summary = (user_project.path / "reports" / "summary.md").read_text()
    assert "`test_my_check.py::test_my_top_up_is_credited`" in summary and "**4 passed**" in summary
    assert "### my api" in summary and "### my check" in summary  # areas named after the files


def test_a_custom_check_fails_against_a_faulty_target_with_its_own_message(
        user_project: pytest.Pytester, start_topups: Callable[..., RunningServer], webhook_secret: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A target crediting dollars for cents: the user's check fails with the user's message and cause; the checks
    standing on the credit foundation are blocked, not blamed; the run exits 1."""
    server = start_topups("wrong_amount")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", webhook_secret)
    result = user_project.runpytest_inprocess("--target", "topups", "--base-url", server.url, *QUIET,
                                              "-rA", "--settle-seconds", "0.2", "--smoke-timeout", "1",
                                              "--rate-limit", "6000", "--junitxml=junit.xml")
    assert result.ret == 1, result.stdout.str()
    cases = read_junit(user_project.path / "junit.xml")
    mine = cases["test_my_top_up_is_credited"]
    assert mine.verdict == "failed" and mine.cause == "my_top_up", mine
    assert mine.message.startswith("my top-up of 500 cents came out wrong_amount: balance "), mine.message
    for name in ("test_an_unpaid_session_credits_nothing", "test_a_payment_signed_by_someone_else_is_refused",
                 "test_two_top_ups_credit_once_each"):
        assert cases[name].verdict == "blocked", cases[name]
        assert cases[name].message.startswith("blocked: test_signed_event_credits_exact_amount failed (wrong amount)")
    result.stdout.fnmatch_lines(["*test_my_top_up_is_credited*failed*my top-up of 500 cents came out wrong_amount*"])
    assert webhook_secret not in result.stdout.str()


def test_every_public_name_resolves_without_making_import_smoke_heavy() -> None:
    """``import smoke`` loads nothing heavy; each name of ``smoke.__all__`` then resolves, ``import *`` included."""
    code = ("import sys, smoke\n"
            f"heavy = set({HEAVY!r})\n"
            "print(sorted(heavy & set(sys.modules)))\n"
            "values = {name: getattr(smoke, name) for name in smoke.__all__}\n"
            "namespace = {}\n"
            "exec('from smoke import *', namespace)\n"
            "print(sorted(set(smoke.__all__) - set(namespace)))\n"
            "print(all(namespace[n] is v for n, v in values.items()))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == ["[]", "[]", "True"], result.stdout


def test_the_public_names_are_the_ones_the_modules_define() -> None:
    """Each public name is the object its home module defines, listed in that module's ``__all__``."""
    from smoke.checks import Smoke
    from smoke.target import TargetClient

    assert smoke.Smoke is Smoke and smoke.TargetClient is TargetClient
    assert set(smoke.__all__) <= set(dir(smoke))
    for name in smoke.__all__:
        if name == "__version__":
            continue
        home = sys.modules[getattr(smoke, name).__module__]
        assert name in home.__all__, f"{name} is public in smoke but not in {home.__name__}.__all__"
    assert not hasattr(smoke, "no_such_name")
    with pytest.raises(AttributeError, match="module 'smoke' has no attribute 'Smok'"):
        smoke.Smok  # noqa: B018


def _own_doc(obj: object) -> str:
    doc = vars(obj).get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    if isinstance(obj, type) and doc and doc.startswith(f"{obj.__name__}("):
        return ""  # the signature a dataclass puts where a docstring is missing
    return (doc or "").strip()


def test_every_public_name_and_its_public_methods_have_a_docstring() -> None:
    """What ``help()`` and an IDE show a user: every public name, and each public method or property of a public
    class, has a docstring of its own."""
    missing = []
    for name in smoke.__all__:
        if name == "__version__":
            continue
        obj = getattr(smoke, name)
        if not _own_doc(obj):
            missing.append(name)
        if isinstance(obj, type):
            for attr, value in vars(obj).items():
                member = value.fget if isinstance(value, property) else value
                if attr.startswith("_") or not (inspect.isfunction(member) or isinstance(value, property)):
                    continue
                if not (getattr(member, "__doc__", None) or "").strip():
                    missing.append(f"{name}.{attr}")
    assert missing == []
    assert smoke.__version__ == importlib.metadata.version("stripe-smoke")


def test_the_package_is_typed() -> None:
    """A user's type checker reads the public API's annotations (PEP 561 marker beside the package)."""
    assert (Path(smoke.__file__).parent / "py.typed").is_file()
