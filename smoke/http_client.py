"""HTTP to a target: requests paced per route, 429s waited out, and every exchange kept as redacted evidence."""

from __future__ import annotations

import functools
import json
import os
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from smoke.errors import ConfigError, TargetUnreachable
from smoke.redact import Redactor
from smoke.waiting import RateGate, RateLimited

__all__ = ["EVIDENCE_KEPT", "Exchange", "HttpClient"]

# How many exchanges a client keeps (the evidence of the current check and the ones just before it).
EVIDENCE_KEPT = 200


@dataclass
class Exchange:
    """One request and its answer: the evidence attached to reports, redacted whenever it is read.

    The bodies are kept raw and redacted on access, so a secret learnt from this very answer (a step's
    ``secrets``, registered after it arrives) is masked too.
    """

    step: str
    method: str
    url: str
    status: int
    elapsed: float
    raw_request: str = field(default="", repr=False)
    raw_response: str = field(default="", repr=False)
    seq: int = 0
    redactor: Redactor = field(default_factory=Redactor, repr=False, compare=False)
    # For a command step (method "RUN", url its argv): "exit 0", "timed out after 60 s"…, shown instead of the status.
    outcome: str = ""

    @property
    def request_body(self) -> str:
        """The request body, redacted."""
        return self.redactor.redact(self.raw_request)

    @property
    def response_body(self) -> str:
        """The response body (its first 4000 characters), redacted."""
        return self.redactor.redact(self.raw_response)

    def as_dict(self) -> dict[str, Any]:
        """The exchange as reports show it (redacted)."""
        return {"step": self.step, "method": self.method, "url": self.redactor.redact(self.url), "status": self.status,
                "elapsed": self.elapsed, "request_body": self.request_body, "response_body": self.response_body,
                **({"outcome": self.outcome} if self.outcome else {})}

    def summary(self) -> str:
        """``POST /api/x → 200 (12 ms)``; a command: ``RUN python manage.py … → exit 0 (80 ms)``."""
        return f"{self.method} {self.redactor.redact(self.url)} → {self.outcome or self.status} ({self.elapsed * 1000:.0f} ms)"


class HttpClient:
    """Sends a target's requests through its rate gate and keeps each exchange (numbered) as evidence."""

    def __init__(self, base_url: str, gate: RateGate, *, redactor: Redactor, who: str, timeout: float = 15.0,
                 patience: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.gate = gate
        self.redactor = redactor
        self.who = who  # whose slots these are at the gate (the run id)
        self.timeout = timeout
        # How long one request may wait out the target's rate limit (a 429's Retry-After) before giving up.
        self.patience = patience
        self.last_sent_at = 0.0
        self.last_gate_wait = 0.0
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, follow_redirects=False, verify=_tls())
        # Steps with their own base_url (an admin API): one client each, so no cookie the target set travels there.
        self.other_http: dict[str, httpx.Client] = {}
        self.exchanges: list[Exchange] = []
        self.exchange_seq = 0

    def request(self, method: str, path: str, *, step: str = "", base_url: str | None = None,
                patience: float | None = None, **kwargs: Any) -> httpx.Response:
        """Send one request (paced per route, with the client's timeout) and record the redacted exchange.

        ``base_url`` sends it to another API (a step's own ``base_url``) instead of the target. A 429 is waited out
        (its Retry-After, or the reset its RateLimit headers give) and the request sent again, for up to ``patience``
        seconds (default: the client's); past that, RateLimited. With ``patience=0`` a 429 is returned as it came."""
        route = path if not base_url else f"{base_url.rstrip('/')}{path}"
        wait_until = time.monotonic() + (self.patience if patience is None else patience)
        while True:
            response = self._send_once(method, path, step=step, base_url=base_url, route=route,
                                       patience=max(0.0, wait_until - time.monotonic()), **kwargs)
            if response.status_code != 429 or patience == 0:
                return response
            held = self.gate.held_for(route, self.who)
            if time.monotonic() + held > wait_until:
                raise RateLimited(held, f"send {method} {path}")

    def _client_for(self, base_url: str | None) -> tuple[str, httpx.Client]:
        """The base URL and connection pool a request goes through (the target's, or another API's own)."""
        if not base_url:
            return self.base_url, self.http
        base = base_url.rstrip("/")
        if base not in self.other_http:
            self.other_http[base] = httpx.Client(timeout=self.timeout, follow_redirects=False, verify=_tls())
        return base, self.other_http[base]

    def _send_once(self, method: str, path: str, *, step: str, base_url: str | None, route: str, patience: float,
                   **kwargs: Any) -> httpx.Response:
        """One attempt: wait for the route's slot (RateLimited past ``patience``), send, learn from the answer."""
        base, http = self._client_for(base_url)
        began = time.monotonic()
        ticket = self.gate.acquire(route, patience, who=self.who)
        started = self.last_sent_at = time.monotonic()
        self.last_gate_wait = started - began
        try:
            response = http.request(method, path if not base_url else f"{base}{path}", **kwargs)
        except httpx.TimeoutException:
            knob = "the step's timeout" if "timeout" in kwargs else "--http-timeout"
            raise TargetUnreachable(
                f"{method} {base}{path} timed out; check that the {'target' if not base_url else 'API'} is up or raise {knob}."
            ) from None
        except httpx.TransportError as exc:
            raise TargetUnreachable(
                f"The {'target' if not base_url else f'API of [{step}]'} at {base} did not answer ({type(exc).__name__}); "
                f"check {'--base-url' if not base_url else 'its base_url'} and that the service is running."
            ) from None
        except (UnicodeEncodeError, httpx.InvalidURL) as exc:
            raise ConfigError(
                f"[{step or 'request'}] {method} {path} can't be sent ({type(exc).__name__}: a header or the URL holds "
                "characters HTTP can't carry); check the values the profile (or the receipt) puts there."
            ) from None
        elapsed = time.monotonic() - started
        self.gate.learn(route, ticket, response.status_code, response.headers, who=self.who)
        body = kwargs.get("content") or kwargs.get("json") or kwargs.get("data") or ""
        self.keep(Exchange(
            step=step, method=method, url=f"{base}{path}", status=response.status_code, elapsed=elapsed,
            raw_request=body.decode("utf-8", "replace") if isinstance(body, bytes) else json.dumps(body) if body else "",
            raw_response=response.text[:4000], redactor=self.redactor,
        ))
        return response

    def keep(self, exchange: Exchange) -> Exchange:
        """Number ``exchange`` after the last one and keep it (only the latest EVIDENCE_KEPT are kept)."""
        self.exchange_seq += 1
        exchange.seq = self.exchange_seq
        self.exchanges.append(exchange)
        del self.exchanges[:-EVIDENCE_KEPT]
        return exchange

    def excerpt(self, response: httpx.Response) -> str:
        """A short, redacted glimpse of an answer for an error message (an HTML page is named, not quoted)."""
        kind = response.headers.get("content-type", "").split(";")[0].strip()
        if "html" in kind or response.text.lstrip()[:1] == "<":
            return "an HTML page"
        text = " ".join(response.text.split())[:160]
        return repr(self.redactor.redact(text)) if text else "an empty body"

    def close(self) -> None:
        """Close the connection pools."""
        self.http.close()
        for http in self.other_http.values():
            http.close()


def _tls() -> ssl.SSLContext:
    """The TLS settings every client shares (as httpx makes them by default, SSL_CERT_FILE/SSL_CERT_DIR honoured)."""
    return _tls_for(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=4)
def _tls_for(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    # Loading the CA bundle takes ~20 ms; a run opens a client per buyer, phase and worker.
    return httpx.create_ssl_context(trust_env=True)
