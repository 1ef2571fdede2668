"""The emulator over TLS as api.stripe.com and checkout.stripe.com: its CA, and clients that only know Stripe's URLs.

Every client here resolves Stripe's names to 127.0.0.1 itself (a transport adapter, a patched connect, a Node
preload, Chromium's resolver rules): nothing edits the hosts file and nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import stripe
from _emulator_receiver import Receiver
from cryptography import x509
from flask import Flask
from requests.adapters import HTTPAdapter

from smoke.emulator import RunningEmulator, start_emulator
from smoke.emulator.standin import bind, forward_to, start_as_stripe, stripe_url, tls_banner
from smoke.emulator.tls import STRIPE_HOSTS, LocalCA, default_ca_dir, ensure_ca
from smoke.errors import ConfigError
from smoke.servers import RunningServer, serve
from smoke.stripe_api import client as harness_client
from smoke.stripe_api import pay_session

from _wait import wait_until

FAST = {"retry_base_seconds": 0.05, "delivery_timeout": 2.0, "max_retries": 3}
LOOPBACK = "127.0.0.1"
SESSION = {"mode": "payment", "line_items[0][price_data][currency]": "usd",
           "line_items[0][price_data][unit_amount]": "500", "line_items[0][price_data][product_data][name]": "500 credits",
           "line_items[0][quantity]": "1"}


def _is_stripe(host: str | None) -> bool:
    return bool(host) and (host == "stripe.com" or str(host).endswith(".stripe.com"))


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    """A CA of the tests' own (never the user's folder)."""
    return ensure_ca(tmp_path_factory.mktemp("stripe-smoke-ca"))


@pytest.fixture(scope="module")
def as_stripe(ca: LocalCA) -> Iterator[RunningEmulator]:
    """The emulator over TLS on a free loopback port, as Stripe's names."""
    running, _ = start_as_stripe(0, ca=ca, **FAST)
    with running:
        yield running


@pytest.fixture(scope="module")
def success_page() -> Iterator[RunningServer]:
    """A merchant's success page on loopback, for the browser to land on."""
    app = Flask("tls-success-page")
    app.add_url_rule("/thanks", "thanks", lambda: "<h1>Thanks for your order</h1>")
    with serve(app, name="tls-success-page") as running:
        yield running


class ResolveStripeToLoopback(HTTPAdapter):
    """A requests transport that connects Stripe's names to 127.0.0.1, while SNI, the certificate check and Host keep the name."""

    def __init__(self) -> None:
        super().__init__()
        self.connected: list[str] = []

    def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None) -> tuple[dict, dict]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        name = host_params["host"]
        assert _is_stripe(name) or name == LOOPBACK, f"{name} is neither Stripe nor loopback"
        if _is_stripe(name):
            self.connected.append(name)
            host_params["host"] = LOOPBACK
            pool_kwargs.update(server_hostname=name, assert_hostname=name)
        return host_params, pool_kwargs

    def add_headers(self, request: Any, **kwargs: Any) -> None:
        request.headers["Host"] = urlsplit(request.url).netloc


def _create_session(http: requests.Session, api: str, key: str, verify: str | bool, success_url: str,
                    **extra: str) -> dict[str, Any]:
    answer = http.post(f"{api}/v1/checkout/sessions", auth=(key, ""),
                       data={**SESSION, "success_url": success_url, **extra}, verify=verify, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_ca_is_made_once_in_a_user_folder_and_its_keys_are_private(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIPE_SMOKE_CA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_ca_dir() == tmp_path / "xdg" / "stripe-smoke" / "ca"
    monkeypatch.setenv("STRIPE_SMOKE_CA_DIR", str(tmp_path / "mine"))
    assert default_ca_dir() == tmp_path / "mine"

    first = ensure_ca()
    made = first.ca_cert.read_bytes()
    assert first.directory == tmp_path / "mine"
    for key in (first.ca_key, first.server_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    first.server_cert.unlink()  # a lost server certificate is issued again by the same CA
    again = ensure_ca()
    assert again.ca_cert.read_bytes() == made and again.server_cert.is_file()

    leaf = x509.load_pem_x509_certificates(again.server_cert.read_bytes())[0]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"api.stripe.com", "checkout.stripe.com", "localhost"} <= set(names.get_values_for_type(x509.DNSName))
    assert LOOPBACK in {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    assert again.bundle.read_bytes().endswith(made)  # the public roots, then this CA
    # The CA vouches only for Stripe's names and loopback, even where someone trusts it.
    ca_cert = x509.load_pem_x509_certificate(made)
    constraints = ca_cert.extensions.get_extension_for_class(x509.NameConstraints).value
    assert {n.value for n in constraints.permitted_subtrees or [] if isinstance(n, x509.DNSName)} == {"stripe.com",
                                                                                                       "localhost"}


def test_requests_reaches_api_stripe_com_with_the_ca_and_not_without(as_stripe: RunningEmulator, ca: LocalCA) -> None:
    api = stripe_url("api.stripe.com", as_stripe.port)
    with requests.Session() as http:
        adapter = ResolveStripeToLoopback()
        http.mount("https://", adapter)
        session = _create_session(http, api, as_stripe.api_key, str(ca.ca_cert), "http://127.0.0.1:9/ok")
        with pytest.raises(requests.exceptions.SSLError):
            _create_session(http, api, as_stripe.api_key, True, "http://127.0.0.1:9/ok")  # the public roots only
    assert set(adapter.connected) == {"api.stripe.com"}
    checkout = urlsplit(session["url"])
    assert (checkout.scheme, checkout.netloc) == ("https", f"checkout.stripe.com:{as_stripe.port}")
    assert checkout.path == f"/c/pay/{session['id']}" and checkout.fragment
    # The same server answers on 127.0.0.1 (in the certificate too), for clients that can be pointed anywhere.
    with requests.get(f"{as_stripe.url}/_emulator/health", verify=str(ca.ca_cert), timeout=10) as health:
        assert health.json() == {"ok": True} and as_stripe.url.startswith("https://127.0.0.1:")


NODE_PRELOAD = r"""
// Resolve Stripe's names to 127.0.0.1 and refuse every other name: this process never leaves the machine.
const dns = require('dns');
const original = dns.lookup;
dns.lookup = function lookup(hostname, options, callback) {
  if (typeof options === 'function') { callback = options; options = {}; }
  if (typeof options === 'number') options = {family: options};
  options = options || {};
  if (/(^|\.)stripe\.com$/i.test(hostname) || hostname === 'localhost') {
    process.nextTick(() => options.all ? callback(null, [{address: '127.0.0.1', family: 4}])
                                       : callback(null, '127.0.0.1', 4));
    return {};
  }
  const error = Object.assign(new Error(`refused to resolve ${hostname}`), {code: 'ENOTFOUND'});
  process.nextTick(() => callback(error));
  return {};
};
"""

NODE_FLOW = r"""
// A top-ups API's way of calling Stripe: plain fetch to https://api.stripe.com, no SDK, no host setting.
const [api, key, successUrl] = process.argv.slice(2);
const body = new URLSearchParams({...JSON.parse(process.env.SESSION_FIELDS), success_url: successUrl});
fetch(`${api}/v1/checkout/sessions`, {method: 'POST', body, headers: {Authorization: `Bearer ${key}`},
                                      signal: AbortSignal.timeout(10000)})
  .then(async (res) => console.log(JSON.stringify({status: res.status, session: await res.json()})))
  .catch((err) => console.log(JSON.stringify({error: String((err.cause && err.cause.code) || err)})));
"""


def test_node_fetch_creates_a_session_on_api_stripe_com_with_node_extra_ca_certs(
        as_stripe: RunningEmulator, ca: LocalCA, tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.skip("Node.js is needed to call the emulator with fetch as a Node API does; install nodejs")
    (tmp_path / "stripe-hosts.cjs").write_text(NODE_PRELOAD, encoding="utf-8")
    (tmp_path / "flow.cjs").write_text(NODE_FLOW, encoding="utf-8")
    api = stripe_url("api.stripe.com", as_stripe.port)
    env = {k: v for k, v in os.environ.items() if k not in ("NODE_OPTIONS", "NODE_EXTRA_CA_CERTS")}
    env["SESSION_FIELDS"] = json.dumps(SESSION)

    def node(extra_ca: str | None) -> dict[str, Any]:
        trust = {"NODE_EXTRA_CA_CERTS": extra_ca} if extra_ca else {}
        run = subprocess.run(["node", "--require", str(tmp_path / "stripe-hosts.cjs"), str(tmp_path / "flow.cjs"), api,
                              as_stripe.api_key, "http://127.0.0.1:9/ok"], env={**env, **trust},
                             capture_output=True, text=True, timeout=30)
        assert run.returncode == 0, run.stderr[-2000:]
        return json.loads(run.stdout.strip().splitlines()[-1])

    out = node(str(ca.ca_cert))
    assert out.get("status") == 200, out
    session = out["session"]
    assert session["url"].startswith(f"https://checkout.stripe.com:{as_stripe.port}/c/pay/{session['id']}#")
    assert as_stripe.store.get_session(session["id"]) is not None
    # Without the variable, Node's own roots refuse the emulator's certificate.
    refused = node(None)
    assert "status" not in refused and "CERT" in refused["error"], refused


@pytest.fixture
def loopback_connect(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Resolve Stripe's names to 127.0.0.1 for urllib3 (so the stripe SDK); any other non-loopback host fails."""
    import urllib3.util.connection as connection

    original = connection.create_connection
    resolved: list[str] = []

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        host, port = address
        if _is_stripe(host):
            resolved.append(host)
            host = LOOPBACK
        assert host in (LOOPBACK, "localhost"), f"a test tried to reach {host}"
        return original((host, port), *args, **kwargs)

    monkeypatch.setattr(connection, "create_connection", create_connection)
    return resolved


@pytest.fixture
def forwarded(as_stripe: RunningEmulator, receiver: Callable[..., Receiver]) -> Iterator[Receiver]:
    """A receiver that ``forward_to`` delivers every event to (as ``--forward-to``), removed afterwards."""
    hook = receiver(secret="whsec_tls_" + os.urandom(8).hex())
    forwarding = forward_to(as_stripe, hook.url, hook.secret)
    assert forwarding.secret_given and forwarding.secret == hook.secret
    yield hook
    with as_stripe.store.lock:
        del as_stripe.store.table("webhook_endpoint")[forwarding.endpoint_id]


def test_the_api_payer_pays_through_the_harness_client_trusting_the_bundle(
        as_stripe: RunningEmulator, ca: LocalCA, loopback_connect: list[str], monkeypatch: pytest.MonkeyPatch,
        forwarded: Receiver) -> None:
    api = stripe_url("api.stripe.com", as_stripe.port)
    with requests.Session() as http:
        http.mount("https://", ResolveStripeToLoopback())
        session = _create_session(http, api, as_stripe.api_key, str(ca.ca_cert), "http://127.0.0.1:9/ok")

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.bundle))
    paid = pay_session(harness_client(as_stripe.api_key, api), session["id"])
    assert paid.status == "succeeded", paid.message
    assert set(loopback_connect) == {"api.stripe.com"}
    assert as_stripe.store.get_session(session["id"])["payment_status"] == "paid"
    # --forward-to delivers to the URL it was given, signed with the given secret (the receiver checks the signature).
    wait_until(lambda: [e for e in forwarded.events("checkout.session.completed")
                        if e["data"]["object"]["id"] == session["id"]], timeout=10)

    # Without a bundle the SDK trusts only its own roots, which refuse the emulator.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    with pytest.raises(stripe.APIConnectionError):
        harness_client(as_stripe.api_key, api).v1.checkout.sessions.retrieve(session["id"])


def test_the_browser_payer_pays_on_checkout_stripe_com(as_stripe: RunningEmulator, ca: LocalCA,
                                                       success_page: RunningServer, tmp_path: Path) -> None:
    from smoke.checkout.browser import CHROMIUM_ARGS, chromium_path, start_playwright
    from smoke.checkout.driver import PayOutcome, pay

    api = stripe_url("api.stripe.com", as_stripe.port)
    with requests.Session() as http:
        http.mount("https://", ResolveStripeToLoopback())
        # The card layout is the quickest to fill; the layouts themselves are tests/checkout's business.
        session = _create_session(http, api, as_stripe.api_key, str(ca.ca_cert), success_page.url + "/thanks",
                                  **{"metadata[smoke_layout]": "card"})

    def pay_in_own_playwright() -> PayOutcome | str:
        # A thread of its own: the worker's main thread may already run another Playwright (tests/checkout's
        # session browser), and the sync API refuses a second one there.
        playwright = start_playwright()
        try:
            try:
                path = chromium_path(playwright)
            except ConfigError as exc:
                return str(exc)
            # Stripe's names → 127.0.0.1, every other name unresolvable; trust comes from the CA's key, not from
            # ignoring certificate errors.
            rules = "MAP api.stripe.com 127.0.0.1, MAP checkout.stripe.com 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
            browser = playwright.chromium.launch(executable_path=path, args=[
                *CHROMIUM_ARGS, f"--host-resolver-rules={rules}",
                f"--ignore-certificate-errors-spki-list={ca.spki_sha256()}"])
            try:
                return pay(session["url"], browser=browser, timeout=30, artifacts_dir=tmp_path,
                           success_url_prefix=success_page.url + "/thanks")
            finally:
                browser.close()
        finally:
            playwright.stop()

    with ThreadPoolExecutor(max_workers=1) as pool:
        outcome = pool.submit(pay_in_own_playwright).result(timeout=120)
    if isinstance(outcome, str):
        pytest.skip(outcome)
    assert outcome.status == "succeeded", outcome.message
    assert as_stripe.store.get_session(session["id"])["payment_status"] == "paid"


def _read_banner(process: subprocess.Popen[str], timeout: float) -> str:
    """The lines up to "Press Ctrl-C"; the process is killed if they do not come within ``timeout``."""
    lines: list[str] = []
    assert process.stdout is not None
    watchdog = threading.Timer(timeout, process.kill)  # a blocked readline ends when the process does
    watchdog.start()
    try:
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                return "".join(lines)
    finally:
        watchdog.cancel()
    raise AssertionError(f"no banner within {timeout:g} s; got {''.join(lines)!r}")


def test_the_command_serves_tls_and_prints_how_to_trust_and_reach_it(ca: LocalCA) -> None:
    command = [sys.executable, "-m", "smoke.cli", "emulator", "--tls", "--port", "0", "--ca-dir", str(ca.directory)]
    env = {k: v for k, v in os.environ.items() if k != "STRIPE_WEBHOOK_SECRET"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as process:
        try:
            banner = _read_banner(process, 30)
        finally:
            process.terminate()
            process.wait(timeout=10)
    port = int(banner.split("listening on 127.0.0.1:")[1].split(")")[0])
    assert f"API base:     https://api.stripe.com:{port}" in banner
    assert f"https://checkout.stripe.com:{port}/c/pay/<session id>" in banner
    assert f"NODE_EXTRA_CA_CERTS={ca.ca_cert}" in banner
    assert f"SSL_CERT_FILE={ca.bundle}" in banner and f"REQUESTS_CA_BUNDLE={ca.bundle}" in banner
    assert f"--cacert {ca.ca_cert}" in banner and ca.spki_sha256() in banner
    assert "127.0.0.1 api.stripe.com checkout.stripe.com" in banner and "network aliases api.stripe.com" in banner
    assert "--port 443" in banner and f"--to-ports {port}" in banner  # the port caveat
    assert ca.ca_key.name not in banner


def test_the_banner_on_443_has_no_port_in_its_urls_and_no_caveat(as_stripe: RunningEmulator, ca: LocalCA) -> None:
    banner = tls_banner(as_stripe, ca)
    assert stripe_url("api.stripe.com", 443) == "https://api.stripe.com"
    assert "Port: clients" in banner
    on_443 = SimpleNamespace(port=443, api_key=as_stripe.api_key, url="https://127.0.0.1:443")
    quiet = tls_banner(on_443, ca)  # type: ignore[arg-type]
    assert "API base:     https://api.stripe.com   " in quiet and "Port: clients" not in quiet
    assert all(name in STRIPE_HOSTS for name in ("api.stripe.com", "checkout.stripe.com"))


def test_a_port_it_cannot_listen_on_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    def denied() -> RunningEmulator:
        raise PermissionError(13, "Permission denied")

    with pytest.raises(ConfigError) as raised:
        bind(443, LOOPBACK, denied)
    message = str(raised.value)
    assert "root" in message and "--port" not in message.split(";")[0] and "\n" not in message
    assert message.count(". ") == 0 and message.endswith(").")

    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"Port {port} on 127.0.0.1 is already in use; .*another --port."):
            bind(port, LOOPBACK, lambda: start_emulator(port))


def test_the_cli_refuses_a_ca_folder_without_tls(capsys: pytest.CaptureFixture[str]) -> None:
    from smoke.cli import main

    assert main(["emulator", "--ca-dir", "/nonexistent", "--port", "0"]) == 4
    err = capsys.readouterr().err.strip()
    assert err == "stripe-smoke: --ca-dir works only with --tls: without TLS there is no certificate to keep."


def test_a_connection_that_never_speaks_tls_does_not_stall_the_server(as_stripe: RunningEmulator, ca: LocalCA) -> None:
    # A port probe that never speaks TLS must not stall the others (handshakes happen per connection thread).
    with socket.create_connection((LOOPBACK, as_stripe.port), timeout=5):
        context = ssl.create_default_context(cafile=str(ca.ca_cert))
        with socket.create_connection((LOOPBACK, as_stripe.port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="checkout.stripe.com") as tls:
            tls.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: checkout.stripe.com\r\nConnection: close\r\n\r\n")
            assert tls.recv(64).startswith(b"HTTP/1.1 200")


def test_a_bundle_variable_naming_no_file_is_one_sentence_for_https_only(monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match=r"^REQUESTS_CA_BUNDLE is '.*missing\.pem', which is not a file; .*unset it\.$"):
        harness_client("sk_test_abcdef", "https://api.stripe.com:8443")
    harness_client("sk_test_abcdef", "http://127.0.0.1:12111")  # plain HTTP needs no bundle
