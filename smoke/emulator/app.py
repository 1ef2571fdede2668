"""The emulator's Flask app: the Stripe API, the control API, injected faults, and the hosted Checkout page when present."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from smoke.emulator import billing, billing_routes, clock, control, faults, routes
from smoke.emulator.errors import invalid
from smoke.emulator.store import Store


def create_app(store: Store) -> Flask:
    """A Flask app serving ``store``; the hosted page finds the store in ``app.config["STORE"]``."""
    app = Flask("smoke.emulator")
    app.config["STORE"] = store
    app.config["FAULTS"] = book = faults.FaultBook()
    app.register_blueprint(routes.blueprint())
    app.register_blueprint(billing_routes.blueprint())
    app.register_blueprint(clock.blueprint(billing.advance_to))
    app.register_blueprint(control.blueprint())
    app.register_blueprint(faults.blueprint())
    # Injected outages fail the target's /v1 calls before Flask sees them (a reset needs the raw connection).
    app.wsgi_app = faults.FaultMiddleware(app.wsgi_app, book, store)  # type: ignore[method-assign]
    page_blueprint: Any
    try:
        from smoke.emulator.page import blueprint as page_blueprint
    except ImportError:
        page_blueprint = None
    if page_blueprint is not None:
        app.register_blueprint(page_blueprint)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response | HTTPException:
        """Stripe's JSON 404 for unknown ``/v1`` routes; Flask's default elsewhere."""
        if not request.path.startswith("/v1/") or exc.code not in (404, 405):
            return exc
        # Stripe's answer to a route it does not have.
        error = invalid(f"Unrecognized request URL ({request.method}: {request.path}). Please see "
                        "https://stripe.com/docs or we can help at https://support.stripe.com/.", status=404)
        return Response(json.dumps(error.body(), indent=2), status=404, mimetype="application/json")

    return app
