/*! Referral SaaS storefront snippet.
 *
 * <script src="https://<our host>/static/hosted/referral.js" data-key="pk_live_…" async></script>
 *
 * Optional attributes: data-consent="required" (default: EU mode, nothing is stored until the
 * shop calls Referral.consent(true) from its consent banner) or "granted" (the shop obtained
 * consent already, or none is needed); data-api="https://…" (defaults to this script's origin).
 *
 * What it does: reads `ref` (and `ref_click`, set by our /r/<code> redirect, which already
 * counted the visit) from the URL; records the click through POST /api/v1/clicks when the
 * visit did not come through our redirect; keeps the referral code, click id and a visitor id
 * in localStorage and a first-party cookie only once consent allows (before that, only in
 * memory for this page); and exposes:
 *
 *   Referral.ready            Promise resolved once the click is recorded (or not needed)
 *   Referral.code()           the referral code of this visit, or null
 *   Referral.consent(bool)    tell the snippet the visitor's choice (false also deletes storage)
 *   Referral.signup({email, name, customerId}) → Promise of the referral (or null: no referral)
 */
(function (window, document) {
  "use strict";
  if (window.Referral && window.Referral.version) { return; }

  var script = document.currentScript || document.querySelector("script[data-key][src*='referral.js']");
  var key = script ? script.getAttribute("data-key") : "";
  var api = (script && script.getAttribute("data-api")) || (script ? new URL(script.src).origin : "");
  var consentMode = (script && script.getAttribute("data-consent")) || "required";
  var STORE = "rs_referral";
  var VISITOR = "rs_vid";
  var DAYS = 30;
  var granted = consentMode === "granted";
  var state = { code: null, click: null, visitor: null, at: null };

  function log(message) { if (window.console) { window.console.warn("[Referral] " + message); } }

  function readStore() {
    try {
      var raw = window.localStorage.getItem(STORE);
      var saved = raw ? JSON.parse(raw) : null;
      if (saved && saved.at && Date.now() - saved.at < DAYS * 864e5) { return saved; }
    } catch (e) { /* storage blocked */ }
    return null;
  }

  function cookie(name, value, days) {
    var secure = window.location.protocol === "https:" ? "; Secure" : "";
    document.cookie = name + "=" + encodeURIComponent(value) + "; Max-Age=" + Math.round(days * 86400) +
      "; Path=/; SameSite=Lax" + secure;
  }

  function persist() {
    if (!granted) { return; }
    try {
      if (!state.visitor) {
        state.visitor = window.localStorage.getItem(VISITOR) || ("v_" + randomId());
      }
      window.localStorage.setItem(VISITOR, state.visitor);
      if (state.code) { window.localStorage.setItem(STORE, JSON.stringify(state)); }
    } catch (e) { /* storage blocked: memory only */ }
    if (state.visitor) { cookie(VISITOR, state.visitor, 365); }
  }

  function forget() {
    try { window.localStorage.removeItem(STORE); window.localStorage.removeItem(VISITOR); } catch (e) { /* blocked */ }
    cookie(VISITOR, "", 0);
    state.visitor = null;
  }

  function randomId() {
    var bytes = new Uint8Array(18);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function post(path, body) {
    return window.fetch(api + path, {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      headers: {
        "Authorization": "Bearer " + key,
        "Content-Type": "application/json",
        "Idempotency-Key": "js-" + randomId()
      },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          var error = new Error((data && data.error && data.error.message) || ("HTTP " + response.status));
          error.status = response.status;
          error.body = data;
          throw error;
        }
        return data;
      });
    });
  }

  function fromUrl() {
    var params = new URLSearchParams(window.location.search);
    var code = (params.get("ref") || "").trim().toUpperCase();
    if (!/^[A-Z0-9][A-Z0-9-]{2,39}$/.test(code)) { return null; }
    var click = params.get("ref_click") || "";
    return { code: code, click: /^clk_[A-Za-z0-9]{1,40}$/.test(click) ? click : null };
  }

  function start() {
    if (!key || key.indexOf("pk_") !== 0) {
      log("data-key must be a publishable key (pk_…)");
      return Promise.resolve(null);
    }
    if (granted) {
      var saved = readStore();
      if (saved) { state.code = saved.code; state.click = saved.click; state.at = saved.at; }
      try { state.visitor = window.localStorage.getItem(VISITOR); } catch (e) { /* blocked */ }
    }
    var visit = fromUrl();
    if (!visit) { return Promise.resolve(state.code); }
    state.code = visit.code;
    state.at = Date.now();
    if (visit.click) {
      state.click = visit.click;  // our /r/ redirect already counted this visit
      persist();
      return Promise.resolve(state.code);
    }
    var body = { code: visit.code, landing_url: window.location.href.slice(0, 500) };
    if (granted) { persist(); if (state.visitor) { body.visitor_id = state.visitor; } }
    return post("/api/v1/clicks", body).then(function (click) {
      state.click = click.id;
      persist();
      return state.code;
    }, function (error) {
      log("could not record the click: " + error.message);
      return state.code;
    });
  }

  var ready = start();

  window.Referral = {
    version: "1",
    ready: ready,
    code: function () { return state.code; },
    consent: function (allow) {
      granted = !!allow;
      if (granted) { persist(); } else { forget(); }
    },
    signup: function (person) {
      person = person || {};
      if (!person.email) { return Promise.reject(new Error("signup needs an email")); }
      return ready.then(function () {
        if (!state.code && !state.click) { return null; }
        var body = { email: person.email };
        if (state.click) { body.click_id = state.click; } else { body.code = state.code; }
        if (person.name) { body.name = person.name; }
        if (person.customerId) { body.customer_id = String(person.customerId); }
        return post("/api/v1/referrals", body);
      });
    }
  };
})(window, document);
