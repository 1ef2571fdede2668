(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("checkout-config").textContent);
  var form = document.getElementById("payment-form");
  if (!form) { return; }
  var $ = function (sel) { return form.querySelector(sel); };
  var button = $('[data-testid="hosted-payment-submit-button"]');
  var buttonText = button.querySelector(".SubmitButton-Text");
  var cardFields = document.getElementById("card-fields");
  var number = $('[data-field="number"]'), expiry = $('[data-field="expiry"]'), cvc = $('[data-field="cvc"]');
  var country = $("#billingCountry"), postalRow = document.getElementById("postal-row");
  var link = $("#enableStripePass"), phoneRow = document.getElementById("link-phone");
  var state = {ready: false, busy: false, method: cfg.layout === "card" ? "card" : null};

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }
  function setError(id, message) {
    var el = document.getElementById(id);
    if (el) { el.textContent = message || ""; }
  }
  function clearErrors() {
    form.querySelectorAll(".FieldError").forEach(function (el) { el.textContent = ""; });
    form.querySelectorAll(".Input--invalid").forEach(function (el) { el.classList.remove("Input--invalid"); });
  }
  function visible(el) { return !!el && el.offsetParent !== null; }
  function digits(value) { return (value || "").replace(/\D/g, ""); }

  // Framer Motion stand-in: the form slides in and is not interactive until it settles.
  setTimeout(function () {
    form.classList.remove("is-animating");
    form.classList.add("is-ready");
    state.ready = true;
    button.disabled = false;
  }, cfg.readyDelayMs);

  function expand() {
    cardFields.hidden = false;
    cardFields.classList.add("is-expanding");
    setTimeout(function () { cardFields.classList.remove("is-expanding"); }, 320);
  }
  function choose(value) {
    form.querySelectorAll(".AccordionItem").forEach(function (item) {
      var chosen = item.getAttribute("data-value") === value;
      item.classList.toggle("AccordionItem--selected", chosen);
      item.querySelector("input").checked = chosen;
    });
    if (state.method === value) { return; }
    state.method = value;
    setError("method-error", "");
    if (value === "card") { expand(); } else { cardFields.hidden = true; }
  }
  form.querySelectorAll(".AccordionItem").forEach(function (item) {
    item.addEventListener("click", function () { choose(item.getAttribute("data-value")); });
    item.querySelector("input").addEventListener("change", function () { choose(item.getAttribute("data-value")); });
  });
  var payWithCard = document.getElementById("pay-with-card");
  if (payWithCard) {
    payWithCard.addEventListener("click", function () {
      payWithCard.hidden = true;
      state.method = "card";
      expand();
    });
  }

  // Formatting as the real fields do, whatever the typing: "4242424242424242" → "4242 4242 4242 4242".
  number.addEventListener("input", function () {
    var d = digits(number.value).slice(0, 19);
    number.value = d.replace(/(\d{4})(?=\d)/g, "$1 ");
  });
  expiry.addEventListener("input", function () {
    var d = digits(expiry.value).slice(0, 4);
    expiry.value = d.length >= 2 ? d.slice(0, 2) + " / " + d.slice(2) : d;
  });
  cvc.addEventListener("input", function () { cvc.value = digits(cvc.value).slice(0, 4); });

  function updatePostal() {
    var label = cfg.postalCountries[country.value];
    postalRow.hidden = !label;
    if (label) {
      document.getElementById("postal-label").textContent = label;
      $("#billingPostalCode").placeholder = label;
    }
  }
  country.addEventListener("change", updatePostal);
  function updateLink() { phoneRow.hidden = !link.checked; }
  link.addEventListener("change", updateLink);
  updateLink();

  function luhn(d) {
    var sum = 0;
    for (var i = 0; i < d.length; i++) {
      var n = +d[d.length - 1 - i];
      if (i % 2) { n *= 2; if (n > 9) { n -= 9; } }
      sum += n;
    }
    return sum % 10 === 0;
  }
  function invalid(input, errorId, message) {
    if (input) { input.classList.add("Input--invalid"); }
    setError(errorId, message);
    return false;
  }
  function validate() {
    var ok = true;
    var email = $("#email");
    if (email && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email.value.trim())) {
      ok = invalid(email, "email-error", email.value ? "Your email address is invalid." : "Your email is required.");
    }
    if (state.method !== "card") {
      return invalid(null, cfg.layout === "legacy" ? "form-error" : "method-error", "Select a payment method.") && ok;
    }
    var n = digits(number.value), e = digits(expiry.value), now = new Date();
    if (n.length < 13) {
      ok = invalid(number, "card-errors", "Your card number is incomplete.");
    } else if (!luhn(n)) {
      ok = invalid(number, "card-errors", "Your card number is invalid.");
    } else if (e.length < 4) {
      ok = invalid(expiry, "card-errors", "Your card's expiration date is incomplete.");
    } else if (+e.slice(0, 2) < 1 || +e.slice(0, 2) > 12) {
      ok = invalid(expiry, "card-errors", "Your card's expiration month is invalid.");
    } else if (2000 + +e.slice(2) < now.getFullYear() ||
               (2000 + +e.slice(2) === now.getFullYear() && +e.slice(0, 2) < now.getMonth() + 1)) {
      ok = invalid(expiry, "card-errors", "Your card's expiration year is in the past.");
    } else if (digits(cvc.value).length < 3) {
      ok = invalid(cvc, "card-errors", "Your card's security code is incomplete.");
    }
    var name = $("#billingName");
    if (!name.value.trim()) { ok = invalid(name, "name-error", "Required"); }
    var line1 = $("#billingAddressLine1"), city = $("#billingLocality");
    if (line1 && (!line1.value.trim() || !city.value.trim())) {
      ok = invalid(line1.value.trim() ? city : line1, "address-error", "Your address is incomplete.");
    }
    var postal = $("#billingPostalCode");
    if (visible(postalRow) && !postal.value.trim()) {
      ok = invalid(postal, "postal-error", "Your " + cfg.postalCountries[country.value] + " is incomplete.");
    } else if (visible(postalRow) && country.value === "US" && !/^\d{5}(-\d{4})?$/.test(postal.value.trim())) {
      ok = invalid(postal, "postal-error", "Your ZIP is invalid.");
    }
    var phone = $("#phoneNumber");
    if (link.checked && digits(phone.value).length < 7) {
      ok = invalid(phone, "phone-error", "To save your information with Link, enter your phone number.");
    }
    return ok;
  }

  function setButton(mode) {
    button.classList.remove("SubmitButton--incomplete", "SubmitButton--processing", "SubmitButton--complete");
    button.classList.add("SubmitButton--" + mode);
    button.disabled = mode !== "incomplete";
    buttonText.textContent = mode === "processing" ? "Processing" : mode === "complete" ? "" : cfg.payLabel;
  }

  function challengeHost() {
    var host = window;
    for (var i = 0; i < cfg.challengeUp; i++) { host = host.parent; }
    return host.document;
  }
  function showChallenge() {
    var doc = challengeHost();
    var overlay = doc.createElement("div");
    overlay.className = "ThreeDS-overlay";
    overlay.id = "smoke-3ds-overlay";
    var frame = doc.createElement("iframe");
    // Stripe.js names all of its frames __privateStripeFrame<n>, the 3DS one included.
    frame.name = cfg.challengeStyle === "legacy" ? "__privateStripeFrame5837" : "__privateStripeFrame6153";
    frame.title = "3D Secure challenge";
    frame.src = cfg.challengeUrl;
    overlay.appendChild(frame);
    doc.body.appendChild(overlay);
    var channel = new BroadcastChannel("smoke-checkout-3ds-" + cfg.sessionId);
    channel.onmessage = function (event) {
      channel.close();
      overlay.remove();
      settle(event.data || {});
    };
  }

  function showCaptcha() {
    var overlay = challengeHost().createElement("div");
    overlay.className = "ThreeDS-overlay";
    overlay.innerHTML = '<iframe title="Main content of the hCaptcha challenge" style="width:400px;height:600px"></iframe>';
    overlay.firstChild.src = cfg.captchaUrl;
    challengeHost().body.appendChild(overlay);
  }

  function settle(result) {
    if (result.status === "succeeded") {
      setButton("complete");
      if (result.redirect_url) {
        setTimeout(function () { window.top.location.assign(result.redirect_url); }, 400);
      } else {
        setError("success-message", "Payment successful");
      }
    } else if (result.status === "requires_action") {
      showChallenge();
    } else {
      setButton("incomplete");
      state.busy = false;
      var message = result.message || "Something went wrong. Try again.";
      if (result.status === "declined") { invalid(number, "card-errors", message); }
      else { setError("form-error", message); }
    }
  }

  async function submit(event) {
    if (event) { event.preventDefault(); }
    if (!state.ready || state.busy) { return; }
    clearErrors();
    if (!validate()) { return; }
    state.busy = true;
    setButton("processing");
    if (cfg.captchaOnPay) { showCaptcha(); return; }
    var email = $("#email");
    var body = {card_number: digits(number.value), email: email ? email.value.trim() : null,
                name: $("#billingName").value.trim(), country: country.value};
    var result;
    try {
      var response = await fetch(cfg.confirmUrl, {method: "POST", headers: {"Content-Type": "application/json"},
                                                  body: JSON.stringify(body)});
      result = await response.json();
    } catch (err) {
      result = {status: "error", message: "Something went wrong. Try again."};
    }
    await sleep(150);
    settle(result);
  }
  form.addEventListener("submit", submit);
  button.addEventListener("click", submit);
})();
