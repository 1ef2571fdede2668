"""The embedded default: a reference target, and (for Checkout) the local Stripe emulator wired to it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from smoke.profiles import Profile
from smoke.signing import check_webhook_secret


@dataclass
class Embedded:
    """A running embedded target: where it is, its webhook secret, and the Stripe it talks to."""

    base_url: str
    webhook_secret: str
    stripe_api_key: str | None = None
    stripe_api_base: str | None = None
    emulator: Any = None
    target: Any = None  # the reference target's RunningServer
    _servers: list[Any] = field(default_factory=list, repr=False)

    def stop(self) -> None:
        """Stop everything that was started."""
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()


def emulator_available() -> bool:
    """True when the local Stripe emulator is part of this installation."""
    try:
        from smoke.emulator import start_emulator  # noqa: F401
    except ImportError:
        return False
    return True


def start_embedded(profile: Profile, webhook_secret: str | None = None, *, with_stripe: bool = True,
                   emulator_port: int = 0, **target_options: Any) -> Embedded:
    """Start the profile's embedded target; with the emulator, its Checkout Sessions are real (local) ones.

    ``target_options`` go to the reference target's ``start`` (``port``, ``faults``, …).
    """
    from smoke.reference import embedded

    start = embedded(profile.embedded or "")
    if not (with_stripe and emulator_available()):
        secret = check_webhook_secret(webhook_secret) if webhook_secret else "whsec_" + secrets.token_urlsafe(24)
        server = start(secret, **target_options)
        return Embedded(server.url, secret, target=server, _servers=[server])

    from smoke.emulator import start_emulator
    from smoke.stripe_api import client

    emulator = start_emulator(emulator_port)
    running = Embedded("", "", stripe_api_key=emulator.api_key, stripe_api_base=emulator.url, emulator=emulator,
                       _servers=[emulator])
    try:
        server = start("whsec_pending_registration", stripe_api_key=emulator.api_key, stripe_api_base=emulator.url,
                       **target_options)
        running._servers.append(server)
        running.target = server
        endpoint = client(emulator.api_key, emulator.url).v1.webhook_endpoints.create(params={
            "url": server.url + profile.webhook_path, "enabled_events": ["*"],
            "api_version": profile.api_version,
        })
        # Stripe makes the secret; simulated events are signed with the same one.
        server.app.config["WEBHOOK_SECRET"] = endpoint.secret
        running.base_url, running.webhook_secret = server.url, endpoint.secret
    except BaseException:
        running.stop()
        raise
    return running
