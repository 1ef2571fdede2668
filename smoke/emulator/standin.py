"""The emulator standing in for Stripe itself: https://api.stripe.com and https://checkout.stripe.com, over TLS."""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from smoke.emulator import RunningEmulator, main_banner, start_emulator
from smoke.emulator.objects import build
from smoke.emulator.tls import CA_DIR_ENV, STRIPE_HOSTS, LocalCA, ensure_ca
from smoke.errors import ConfigError
from smoke.servers import LOOPBACK, port_in_use, probe

API_HOST, CHECKOUT_HOST = "api.stripe.com", "checkout.stripe.com"
HTTPS_PORT = 443
README_SECTION = "'Standing in for api.stripe.com' in the README"


def stripe_url(host: str, port: int) -> str:
    """``https://api.stripe.com`` on 443, else ``https://api.stripe.com:8443``."""
    return f"https://{host}" if port == HTTPS_PORT else f"https://{host}:{port}"


@dataclass
class Forwarding:
    """The webhook endpoint registered at start (``--forward-to``) and where its secret came from."""

    endpoint_id: str
    url: str
    secret: str
    secret_given: bool


def start_as_stripe(port: int = HTTPS_PORT, *, ca: LocalCA | None = None, host: str = LOOPBACK,
                    **options: Any) -> tuple[RunningEmulator, LocalCA]:
    """Start the emulator over TLS with a certificate for Stripe's names; sessions' URLs say https://checkout.stripe.com."""
    ca = ca or ensure_ca()
    context = ca.server_context()
    running = bind(port, host, lambda: start_emulator(port, host=host, ssl_context=context, **options))
    running.store.base_url = stripe_url(CHECKOUT_HOST, running.port)
    return running, ca


def bind(port: int, host: str, start: Callable[[], RunningEmulator]) -> RunningEmulator:
    """Call ``start``, turning a port it cannot listen on into one sentence saying what to do."""
    try:
        probe(host, port)  # a refusal worded here, for the stand-in's options
        return start()
    except PermissionError:
        raise ConfigError(f"Listening on port {port} needs root (or CAP_NET_BIND_SERVICE); run as root or in a "
                          f"container, or pick a port above 1023 and redirect 443 to it (see {README_SECTION}).") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(port_in_use(host, port)) from None
        raise ConfigError(f"Cannot listen on {host}:{port} ({exc.strerror or exc}); give --host an address of this "
                          "machine (127.0.0.1, or 0.0.0.0 inside a container).") from None


def check_forward(url: str, secret: str | None) -> str | None:
    """ConfigError unless ``url`` is an http(s) URL and ``secret`` (when given) a ``whsec_`` secret; the secret."""
    from smoke.signing import check_webhook_secret

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--forward-to {url!r} is not an http:// or https:// URL; give your webhook's full URL, "
                          "e.g. http://api:3000/api/webhooks/stripe.")
    return check_webhook_secret(secret, "STRIPE_WEBHOOK_SECRET") if secret else None


def forward_to(running: RunningEmulator, url: str, secret: str | None = None) -> Forwarding:
    """Register an endpoint for every event at ``url`` (any host: the operator named it), signed with ``secret``."""
    import secrets as random

    given = check_forward(url, secret)
    store = running.store
    with store.lock:
        endpoint = build("webhook_endpoint", {
            "url": url, "enabled_events": ["*"], "api_version": None, "description": "stripe-smoke --forward-to",
            "metadata": {}, "status": "enabled", "application": None}, prefix="we")
        store.put(endpoint)
        chosen = given or "whsec_" + random.token_urlsafe(32)
        store.state["endpoint_secrets"][endpoint["id"]] = chosen
    store.save()
    return Forwarding(endpoint["id"], url, chosen, secret_given=given is not None)


def tls_banner(running: RunningEmulator, ca: LocalCA, forwarding: Forwarding | None = None,
               host: str = LOOPBACK) -> str:
    """What ``stripe-smoke emulator --tls`` prints: where it is, how to trust it, how to reach it, the port caveat."""
    port, key = running.port, running.api_key
    api, checkout = stripe_url(API_HOST, port), stripe_url(CHECKOUT_HOST, port)
    names = " ".join(STRIPE_HOSTS[:4])
    lines = [
        f"Local Stripe emulator as api.stripe.com (test mode, TLS, listening on {host}:{port})",
        f"  API base:     {api}   (also {running.url})",
        f"  API key:      {key}   (any sk_test_… or rk_test_… key works)",
        f"  Checkout:     sessions' `url` open {checkout}/c/pay/<session id>",
        f"  Deliveries:   GET {api}/_emulator/deliveries · run retries now: POST {api}/_emulator/retries/fast-forward",
        f"  Outages:      POST {api}/_emulator/faults {{\"calls\": 3, \"kind\": \"api_error\"}} (or: stripe-smoke emulator "
        "fault --help)",
    ]
    if forwarding is not None:
        secret = "STRIPE_WEBHOOK_SECRET" if forwarding.secret_given else forwarding.secret
        lines.append(f"  Forwarding:   every event to {forwarding.url} (endpoint {forwarding.endpoint_id}, signed with "
                     f"{secret})")
    lines += [
        f"  CA:           {ca.ca_cert}   (made once, kept in {ca.directory}: key mode 0600; {CA_DIR_ENV} moves it)",
        "",
        "Trust it (the processes that call Stripe):",
        f"  Node:      export NODE_EXTRA_CA_CERTS={ca.ca_cert}",
        f"  Python:    export SSL_CERT_FILE={ca.bundle} REQUESTS_CA_BUNDLE={ca.bundle}",
        f"             (the stripe package ignores both: stripe.ca_bundle_path = \"{ca.bundle}\")",
        f"  curl:      curl --cacert {ca.ca_cert} {api}/v1/customers -u {key}:",
        f"  Chromium:  --ignore-certificate-errors-spki-list={ca.spki_sha256()}",
        "",
        f"Reach it ({API_HOST} and {CHECKOUT_HOST} must resolve to this emulator):",
        f"  hosts file:  echo '127.0.0.1 {names}' | sudo tee -a /etc/hosts",
        f"  container:   network aliases {API_HOST} and {CHECKOUT_HOST} on this service (examples/docker-compose.yml)",
        f"  one process: curl --resolve {API_HOST}:{port}:127.0.0.1 … · Chromium "
        f"--host-resolver-rules='MAP *.stripe.com 127.0.0.1'",
    ]
    if port != HTTPS_PORT:
        lines += ["", f"Port: clients of https://{API_HOST} connect to 443, and this listens on {port}: run "
                      "`stripe-smoke emulator --tls --port 443` as root or in a container, or redirect 443 here "
                      f"(sudo iptables -t nat -A OUTPUT -p tcp -d 127.0.0.1 --dport 443 -j REDIRECT --to-ports {port})."]
    lines += ["", "Press Ctrl-C to stop."]
    return "\n".join(lines)


def run(port: int, *, tls: bool, host: str = LOOPBACK, forward: str | None = None, secret: str | None = None,
        ca_dir: str | Path | None = None) -> None:
    """Start the emulator (over TLS as Stripe's names with ``tls``), print its banner, and block until Ctrl-C."""
    if forward:
        check_forward(forward, secret)
    if tls:
        running, ca = start_as_stripe(port, ca=ensure_ca(ca_dir), host=host)
    else:
        running = bind(port, host, lambda: start_emulator(port, host=host))
    try:
        forwarding = forward_to(running, forward, secret) if forward else None
        if tls:
            print(tls_banner(running, ca, forwarding, host), flush=True)
        else:
            banner = main_banner(running)
            if forwarding is not None:
                shown = "STRIPE_WEBHOOK_SECRET" if forwarding.secret_given else forwarding.secret
                banner = banner.replace("\n\nRegister", f"\n  Forwarding:   every event to {forwarding.url} (endpoint "
                                                        f"{forwarding.endpoint_id}, signed with {shown})\n\nRegister", 1)
            print(banner, flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
