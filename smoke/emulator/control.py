"""The emulator's own JSON control API under ``/_emulator/`` (no auth: it only ever listens on loopback)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from smoke.emulator.store import Store


def _store() -> Store:
    return current_app.config["STORE"]


def blueprint() -> Blueprint:
    """Routes to inspect deliveries, run retries now, change settings and reset."""
    bp = Blueprint("emulator_control", __name__, url_prefix="/_emulator")

    @bp.get("/health")
    def health() -> Any:
        """``GET /_emulator/health``: the emulator is up."""
        return jsonify({"ok": True})

    @bp.get("/deliveries")
    def deliveries() -> Any:
        """``GET /_emulator/deliveries``: every attempt (filter by event_id, type, endpoint_id) and the scheduled retries."""
        store = _store()
        attempts = store.deliverer.attempts()
        for key in ("event_id", "type", "endpoint_id"):
            if request.args.get(key):
                attempts = [a for a in attempts if a[key] == request.args[key]]
        return jsonify({"deliveries": attempts, "scheduled": store.deliverer.scheduled()})

    @bp.post("/retries/fast-forward")
    def fast_forward() -> Any:
        """``POST /_emulator/retries/fast-forward``: run every scheduled retry now."""
        return jsonify({"ran": _store().deliverer.fast_forward()})

    @bp.get("/settings")
    def get_settings() -> Any:
        """``GET /_emulator/settings``."""
        return jsonify(asdict(_store().settings))

    @bp.post("/settings")
    def set_settings() -> Any:
        """``POST /_emulator/settings``: change layout, retry_base_seconds, max_retries, delivery_timeout."""
        store = _store()
        values = request.get_json(silent=True)
        if not isinstance(values, dict):
            return jsonify({"error": {"message": "Send a JSON object of settings, e.g. {\"layout\": \"card\"}."}}), 400
        with store.lock:
            try:
                store.settings.update(values)
            except ValueError as exc:
                return jsonify({"error": {"message": str(exc)}}), 400
        return jsonify(asdict(store.settings))

    @bp.post("/reset")
    def reset() -> Any:
        """``POST /_emulator/reset``: forget all state."""
        _store().reset()
        return jsonify({"reset": True})

    return bp
