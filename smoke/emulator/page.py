"""The emulator's hosted Checkout page: the real page's layouts, fields, Pay button states and 3D Secure frames."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, request, url_for
from jinja2 import Environment, FileSystemLoader, select_autoescape

from smoke.emulator.checkout import PayResult
from smoke.emulator.store import Store

blueprint = Blueprint("hosted_checkout", __name__)

# The page's own Jinja environment, so its template names never collide with an app's.
_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "page_templates"),
                   autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)

PAGE_LAYOUTS = ("accordion", "card", "iframe", "embedded", "legacy", "botcheck")
CHALLENGE_STYLES = ("current", "legacy")
# The name field's label differs between page versions; a driver must find it by any of them.
NAME_LABELS = {"accordion": "Name on card", "card": "Cardholder name", "iframe": "Full name on card",
               "embedded": "Name on card", "legacy": "Name on card"}
# Real Checkout guesses the country from the buyer's IP; each layout starts elsewhere so a driver must choose.
DEFAULT_COUNTRY = {"accordion": "US", "card": "GB", "iframe": "IE", "embedded": "DE", "legacy": "US"}
COUNTRIES = [("AU", "Australia"), ("BR", "Brazil"), ("CA", "Canada"), ("FR", "France"), ("DE", "Germany"),
             ("IN", "India"), ("IE", "Ireland"), ("JP", "Japan"), ("NL", "Netherlands"),
             ("GB", "United Kingdom"), ("US", "United States")]
POSTAL_COUNTRIES = {"US": "ZIP", "GB": "Postal code", "CA": "Postal code", "AU": "Postcode"}
CURRENCY_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$", "inr": "₹"}
ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf",
                "xof", "xpf"}
NOT_ACTIVE = "This Checkout Session is no longer active."


def format_amount(amount: int, currency: str) -> str:
    """``500, "usd"`` → ``$5.00``, as the Pay button shows it."""
    currency = (currency or "usd").lower()
    value = f"{amount:,}" if currency in ZERO_DECIMAL else f"{amount / 100:,.2f}"
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{value}" if symbol else f"{currency.upper()} {value}"


def _store() -> Store:
    return current_app.config["STORE"]


def _html(template: str, status: int = 200, **context: Any) -> Response:
    response = Response(_ENV.get_template(template).render(**context), status=status, mimetype="text/html")
    # Checkout refuses to be framed by other origins; framing by its own pages is how the layouts work.
    response.headers["Content-Security-Policy"] = "frame-ancestors 'self'"
    response.headers["Cache-Control"] = "no-store"
    return response


def _choice(name: str, allowed: tuple[str, ...], default: str) -> str:
    value = request.args.get(name, "")
    return value if value in allowed else default


def _challenge_style(session: dict[str, Any]) -> str:
    """The 3D Secure nesting: ``?challenge=`` on the URL, else the session's ``smoke_challenge`` metadata."""
    from_metadata = (session.get("metadata") or {}).get("smoke_challenge", "current")
    return _choice("challenge", CHALLENGE_STYLES, from_metadata if from_metadata in CHALLENGE_STYLES else "current")


def _captcha_on_pay() -> bool:
    """``?captcha=pay``: an hCaptcha challenge answers Pay instead of a payment (the real page's other bot check)."""
    return request.args.get("captcha") == "pay"


def _options(session: dict[str, Any]) -> dict[str, Any]:
    """The page options a frame passes on to the frames it nests."""
    options = {"challenge": _challenge_style(session)}
    if _captcha_on_pay():
        options["captcha"] = "pay"
    return options


def _summary(store: Store, session: dict[str, Any]) -> dict[str, Any]:
    items = []
    line_items = getattr(store, "session_line_items", None)
    for item in (line_items(session["id"]) if line_items else []):
        items.append({"name": item.get("description") or "Item", "quantity": item.get("quantity", 1),
                      "amount": format_amount(item.get("amount_total", 0), item.get("currency", ""))})
    return {"merchant": "Smoke Test Merchant", "total": format_amount(session.get("amount_total") or 0,
                                                                        session.get("currency") or "usd"),
            "items": items, "mode": session.get("mode"), "cancel_url": session.get("cancel_url")}


def _form_context(session: dict[str, Any], layout: str, *, stable_names: bool, challenge: str,
                  challenge_up: int) -> dict[str, Any]:
    """What the form template and its script need for one layout."""
    sid = session["id"]
    amount = format_amount(session.get("amount_total") or 0, session.get("currency") or "usd")
    pay_label = "Subscribe" if session.get("mode") == "subscription" else f"Pay {amount}"
    config = {
        "sessionId": sid, "layout": layout, "payLabel": pay_label,
        "confirmUrl": url_for("hosted_checkout.confirm", session_id=sid),
        "challengeStyle": challenge, "challengeUp": challenge_up,
        # Absolute, like the real js.stripe.com/v3/three-ds-2-challenge… src, so src^= selectors have a host to match.
        "challengeUrl": url_for("hosted_checkout.challenge_current" if challenge == "current"
                                else "hosted_checkout.challenge_legacy", session=sid, _external=True),
        "postalCountries": POSTAL_COUNTRIES, "readyDelayMs": 300,
        "captchaOnPay": _captcha_on_pay(), "captchaUrl": url_for("hosted_checkout.hcaptcha") + "#frame=challenge",
    }
    return {
        "layout": layout, "stable": stable_names, "session_email": session.get("customer_email"),
        "name_label": NAME_LABELS.get(layout, "Name on card"), "countries": COUNTRIES,
        "default_country": DEFAULT_COUNTRY.get(layout, "US"), "postal_countries": POSTAL_COUNTRIES,
        "chooser": layout in ("accordion", "iframe", "embedded"), "pay_with_card": layout == "legacy",
        "address": layout == "legacy", "pay_label": pay_label, "config": config,
    }


def _open_session(session_id: str) -> tuple[Store, dict[str, Any] | None, Response | None]:
    """The session when it can be paid; otherwise the error page to show instead."""
    store = _store()
    session = store.get_session(session_id)
    if session is None:
        return store, None, _html("error.html", 404, title="Something went wrong",
                                  detail="The page you were looking for could not be found.")
    if session.get("status") != "open":
        return store, None, _html("error.html", 200, title="Something went wrong", detail=NOT_ACTIVE)
    return store, session, None


@blueprint.get("/c/pay/<session_id>")
def page(session_id: str) -> Response:
    """The hosted page; options: ``?layout=``, ``?challenge=legacy`` (3DS nesting), ``?captcha=pay`` (bot check on Pay)."""
    store, session, error = _open_session(session_id)
    if session is None:
        assert error is not None
        return error
    challenge = _challenge_style(session)
    summary = _summary(store, session)
    if request.args.get("frame") == "embedded":
        # The inside of an Embedded Checkout frame: the accordion page without the merchant's chrome.
        context = _form_context(session, "embedded", stable_names=False, challenge=challenge, challenge_up=0)
        return _html("page.html", summary=summary, check_hash=True, show_summary=True, **context)
    # The store knows the payable layouts; "botcheck" is the page's own, so read it from the metadata here.
    wanted = (session.get("metadata") or {}).get("smoke_layout")
    layout = _choice("layout", PAGE_LAYOUTS, "botcheck" if wanted == "botcheck" else store.session_layout(session_id))
    if layout == "botcheck":
        return _html("botcheck.html", summary=summary,
                     captcha_url=url_for("hosted_checkout.hcaptcha") + "#frame=checkbox&id=0s1mk0k3")
    if layout == "embedded":
        inner = url_for("hosted_checkout.page", session_id=session_id, frame="embedded", **_options(session))
        return _html("embedded_host.html", summary=summary, inner_url=inner)
    if layout == "iframe":
        elements = url_for("hosted_checkout.elements", session_id=session_id, **_options(session))
        return _html("page.html", summary=summary, check_hash=True, show_summary=True, layout="iframe",
                     elements_url=elements, config=None)
    context = _form_context(session, layout, stable_names=False, challenge=challenge, challenge_up=0)
    return _html("page.html", summary=summary, check_hash=True, show_summary=True, **context)


@blueprint.get("/c/pay/<session_id>/elements")
def elements(session_id: str) -> Response:
    """The Payment Element's outer frame: only another frame inside."""
    _, session, error = _open_session(session_id)
    if session is None:
        assert error is not None
        return error
    inner = url_for("hosted_checkout.elements_inner", session_id=session_id, **_options(session))
    return _html("elements_outer.html", inner_url=inner)


@blueprint.get("/c/pay/<session_id>/elements/inner")
def elements_inner(session_id: str) -> Response:
    """The Payment Element's inner frame: chooser, fields and Pay button."""
    store, session, error = _open_session(session_id)
    if session is None:
        assert error is not None
        return error
    # Two frames down from the page: the 3DS modal goes on the page itself, as stripe.js puts it.
    context = _form_context(session, "iframe", stable_names=True, challenge=_challenge_style(session), challenge_up=2)
    return _html("page.html", summary=_summary(store, session), check_hash=False, show_summary=False, **context)


def _result_json(result: PayResult) -> dict[str, Any]:
    return {"status": result.status, "message": result.message, "redirect_url": result.redirect_url}


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


@blueprint.post("/c/pay/<session_id>/confirm")
def confirm(session_id: str) -> dict[str, Any]:
    """Pay with the card typed on the page: the store decides success, decline or 3D Secure."""
    data = _body()
    digits = re.sub(r"\D", "", str(data.get("card_number") or ""))
    result = _store().pay_session(session_id, digits, email=(data.get("email") or None),
                                  name=(data.get("name") or None))
    return _result_json(result)


@blueprint.post("/c/pay/<session_id>/authenticate")
def authenticate(session_id: str) -> dict[str, Any]:
    """The test 3D Secure page's Complete / Fail buttons."""
    return _result_json(_store().finish_3ds(session_id, bool(_body().get("approve"))))


@blueprint.get("/v3/three-ds-2-challenge-emulated.html")
def challenge_current() -> Response:
    """Current nesting: this frame, then ``challengeFrame`` with the buttons."""
    sid = request.args.get("session", "")
    return _html("challenge_wrapper.html", inner_name="challengeFrame", inner_id="",
                 inner_url=url_for("hosted_checkout.acs", session=sid), title="3D Secure challenge")


@blueprint.get("/c/3ds/legacy")
def challenge_legacy() -> Response:
    """Older nesting, level 1 (inside ``__privateStripeFrame…``): ``#challengeFrame`` inside."""
    sid = request.args.get("session", "")
    return _html("challenge_wrapper.html", inner_name="stripe-challenge-outer", inner_id="challengeFrame",
                 inner_url=url_for("hosted_checkout.challenge_legacy_inner", session=sid), title="3D Secure")


@blueprint.get("/c/3ds/legacy/challenge")
def challenge_legacy_inner() -> Response:
    """Older nesting, level 2: ``iframe[name=acsFrame]`` inside."""
    sid = request.args.get("session", "")
    return _html("challenge_wrapper.html", inner_name="acsFrame", inner_id="",
                 inner_url=url_for("hosted_checkout.acs", session=sid), title="Authentication")


@blueprint.get("/c/3ds/acs")
def acs() -> Response:
    """The test issuer page with Complete / Fail buttons."""
    sid = request.args.get("session", "")
    return _html("acs.html", config={"sessionId": sid,
                                     "authenticateUrl": url_for("hosted_checkout.authenticate", session_id=sid)})


@blueprint.get("/hcaptcha/checkbox.html")
def hcaptcha() -> Response:
    """An hCaptcha-like checkbox that never lets anyone through."""
    return _html("hcaptcha.html")
