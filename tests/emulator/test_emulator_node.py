"""The main flows with the `stripe` npm package (stripe-node) talking to the emulator unchanged."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import stripe
from _emulator_receiver import Receiver

from smoke.emulator import RunningEmulator

from _wait import wait_until

SCRIPT = r"""
const Stripe = require('stripe');
const [key, port, webhookUrl] = process.argv.slice(2);
const stripe = new Stripe(key, {host: '127.0.0.1', port: Number(port), protocol: 'http', maxNetworkRetries: 0,
                                timeout: 10000, telemetry: false});
(async () => {
  const out = {};
  const customer = await stripe.customers.create({email: 'node@example.test', metadata: {org: 'o1'}});
  const price = await stripe.prices.create({currency: 'usd', unit_amount: 1200, product_data: {name: 'Credits'}});
  const session = await stripe.checkout.sessions.create({
    mode: 'payment', customer: customer.id, line_items: [{price: price.id, quantity: 2}],
    metadata: {org: 'o1'}, payment_intent_data: {metadata: {org: 'o1'}},
    success_url: 'http://127.0.0.1:9/ok?session_id={CHECKOUT_SESSION_ID}', cancel_url: 'http://127.0.0.1:9/no'});
  const endpoint = await stripe.webhookEndpoints.create({url: webhookUrl, enabled_events: ['checkout.session.completed']});
  const page = await stripe.rawRequest('GET', `/v1/payment_pages/${session.id}`);
  const pm = await stripe.paymentMethods.create({type: 'card', card: {token: 'tok_visa'}});
  const confirm = await stripe.rawRequest('POST', `/v1/payment_pages/${session.id}/confirm`,
                                          {payment_method: pm.id, expected_amount: page.amount_total});
  try {
    await stripe.paymentIntents.create({amount: 900, currency: 'usd', payment_method: 'pm_card_chargeDeclined', confirm: true});
  } catch (err) {
    out.decline = {type: err.type, code: err.code, statusCode: err.statusCode, decline_code: err.decline_code};
  }
  const paid = await stripe.checkout.sessions.retrieve(session.id, {expand: ['payment_intent.latest_charge', 'line_items']});
  const events = await stripe.events.list({type: 'checkout.session.completed', limit: 10});
  Object.assign(out, {
    customer: customer.id, session: session.id, url: session.url, secret: endpoint.secret,
    confirm_status: confirm.payment_intent.status, status: paid.status, payment_status: paid.payment_status,
    amount_total: paid.amount_total, intent_metadata: paid.payment_intent.metadata,
    charge_status: paid.payment_intent.latest_charge.status, line_item_quantity: paid.line_items.data[0].quantity,
    events: events.data.map(e => ({id: e.id, type: e.type, session: e.data.object.id})),
  });
  console.log(JSON.stringify(out));
})().catch(err => { console.error(err); process.exit(1); });
"""


@pytest.fixture(scope="module")
def node_dir() -> Path:
    """Where ``require('stripe')`` works; skips without Node."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed to drive the emulator with stripe-node; install nodejs")
    from _node import node_stripe_dir

    return node_stripe_dir()


def test_stripe_node_checkout_flow(node_dir: Path, emulator: RunningEmulator, client: stripe.StripeClient,
                                   receiver: Callable[..., Receiver]) -> None:
    rec = receiver()
    script = node_dir / "emulator_flow.js"
    script.write_text(SCRIPT, encoding="utf-8")
    run = subprocess.run(["node", str(script), emulator.api_key, str(emulator.port), rec.url], cwd=node_dir,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"stripe-node flow failed:\n{run.stderr[-3000:]}"
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["url"].startswith(f"{emulator.url}/c/pay/{out['session']}#")
    assert out["confirm_status"] == "succeeded"
    assert (out["status"], out["payment_status"], out["amount_total"]) == ("complete", "paid", 2400)
    assert out["intent_metadata"] == {"org": "o1"} and out["charge_status"] == "succeeded"
    assert out["line_item_quantity"] == 2
    assert out["decline"] == {"type": "StripeCardError", "code": "card_declined", "statusCode": 402,
                              "decline_code": "generic_decline"}
    assert [(e["type"], e["session"]) for e in out["events"]] == [("checkout.session.completed", out["session"])]
    # The endpoint stripe-node registered receives the event, signed with the secret it was given.
    rec.secret = out["secret"]
    delivered = wait_until(lambda: rec.events("checkout.session.completed"))
    assert delivered[0]["id"] == out["events"][0]["id"]
    assert client.v1.customers.retrieve(out["customer"]).metadata["org"] == "o1"
