"""Signed webhook delivery in background threads, with Stripe-like retries and a record of every attempt."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from smoke.events import to_body
from smoke.signing import delivery_headers

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# Each retry waits this many times longer than the one before (base, 6×base, 36×base…):
# with the default 60 s base, three retries span well under an hour, like test mode's "a few hours" but shorter.
BACKOFF_FACTOR = 6


def check_endpoint_url(url: str) -> str | None:
    """None when ``url`` is an http(s) URL on loopback, else the reason it is refused."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"Invalid URL: {url!r} must be an absolute http:// or https:// URL."
    if parts.hostname not in LOOPBACK_HOSTS:
        return (f"The local Stripe emulator only delivers events to loopback addresses (127.0.0.1, localhost, ::1), "
                f"never to {parts.hostname!r}: tests must not send traffic off this machine.")
    return None


@dataclass
class AttemptRecord:
    """One delivery attempt of one event to one endpoint."""

    event_id: str
    type: str
    endpoint_id: str
    url: str
    attempt: int
    status_code: int | None
    error: str | None
    timestamp: float
    duration: float
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


class Deliverer:
    """Sends events to endpoints off the request thread and schedules retries of the failed ones."""

    def __init__(self, store: Any, workers: int = 8) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smoke-emulator-delivery")
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, str, str, int]] = []  # (when, seq, event id, endpoint id, attempt)
        self._seq = itertools.count()
        self._attempts: list[AttemptRecord] = []
        self._generation = 0
        self._stopped = False
        self._scheduler = threading.Thread(target=self._run_scheduler, name="smoke-emulator-retries", daemon=True)
        self._scheduler.start()
        # One client for every attempt (making one loads the CA bundle: ~0.1 s of CPU that starves the API's threads);
        # no keep-alive, so each attempt still has its own connection.
        self._http = httpx.Client(follow_redirects=False, trust_env=False,
                                  limits=httpx.Limits(max_keepalive_connections=0))

    # -- public ---------------------------------------------------------------------
    def enqueue(self, event_id: str, endpoint_ids: list[str]) -> None:
        """Deliver ``event_id`` to each endpoint now, in the background."""
        for endpoint_id in endpoint_ids:
            self._submit(event_id, endpoint_id, 1)

    def attempts(self) -> list[dict[str, Any]]:
        """Every attempt so far, oldest first."""
        with self._cond:
            return [a.to_dict() for a in self._attempts]

    def scheduled(self) -> list[dict[str, Any]]:
        """Retries waiting for their time."""
        with self._cond:
            return [{"due_at": when, "event_id": ev, "endpoint_id": ep, "attempt": n}
                    for when, _, ev, ep, n in sorted(self._due)]

    def fast_forward(self, timeout: float | None = None) -> int:
        """Run every scheduled retry now and wait for them (up to ``timeout``); returns how many ran."""
        with self._cond:
            due, self._due = self._due, []
        futures = [self._submit(ev, ep, n) for _, _, ev, ep, n in due]
        wait([f for f in futures if f is not None], timeout=timeout or self.store.settings.delivery_timeout + 5)
        return len(due)

    def clear(self) -> None:
        """Forget attempts and scheduled retries (in-flight attempts finish but are not recorded)."""
        with self._cond:
            self._generation += 1
            self._due.clear()
            self._attempts.clear()

    def stop(self) -> None:
        """Stop the scheduler and drop pending work."""
        with self._cond:
            self._stopped = True
            self._due.clear()
            self._cond.notify_all()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._scheduler.join(timeout=5)

    # -- internals ---------------------------------------------------------------------
    def _submit(self, event_id: str, endpoint_id: str, attempt: int) -> Future[None] | None:
        with self._cond:
            if self._stopped:
                return None
            generation = self._generation
        try:
            return self._pool.submit(self._attempt, event_id, endpoint_id, attempt, generation)
        except RuntimeError:  # pool shut down while stopping
            return None

    def _run_scheduler(self) -> None:
        with self._cond:
            while not self._stopped:
                if not self._due:
                    self._cond.wait()
                    continue
                delay = self._due[0][0] - time.monotonic()
                if delay > 0:
                    self._cond.wait(timeout=delay)
                    continue
                _, _, event_id, endpoint_id, attempt = heapq.heappop(self._due)
                self._cond.release()
                try:
                    self._submit(event_id, endpoint_id, attempt)
                finally:
                    self._cond.acquire()

    def _attempt(self, event_id: str, endpoint_id: str, attempt: int, generation: int) -> None:
        store = self.store
        with store.lock:
            endpoint = store.get("webhook_endpoint", endpoint_id)
            event = store.get("event", event_id)
            if endpoint is None or event is None:
                return  # the endpoint was deleted, or the emulator reset
            body = to_body(store.render(event, endpoint.get("api_version")))
            secret = store.state["endpoint_secrets"][endpoint_id]
            url = endpoint["url"]
            timeout = store.settings.delivery_timeout
            base, max_retries = store.settings.retry_base_seconds, store.settings.max_retries
        headers = delivery_headers(body, secret)
        headers["Accept-Encoding"] = "gzip"
        started, status, error = time.time(), None, None
        try:
            status = self._http.post(url, content=body, headers=headers, timeout=timeout).status_code
        except httpx.TimeoutException:
            error = f"timed out after {timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300  # a redirect counts as a failure, as at Stripe
        record = AttemptRecord(event_id, event["type"], endpoint_id, url, attempt, status, error, started,
                               round(time.time() - started, 4), ok)
        with self._cond:
            if generation != self._generation or self._stopped:
                return
            self._attempts.append(record)
            if not ok and attempt <= max_retries:
                when = time.monotonic() + base * BACKOFF_FACTOR ** (attempt - 1)
                heapq.heappush(self._due, (when, next(self._seq), event_id, endpoint_id, attempt + 1))
                self._cond.notify_all()
        if ok:
            store.delivered(event_id)
