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
 *   Referral.offer({email, name?, orderId?, locale?, program?, target?}) → Promise of the
 *                             advocate's link: on a thank-you page, enrols the buyer (the
 *                             program is data-program="prg_…" or `program`) and renders the
 *                             share panel inline (after `target`, default the end of <main> or
 *                             <body>). From an origin the key does not allow: nothing rendered,
 *                             a console warning, no enrolment. No inline script or style is
 *                             needed on the host page: the panel is built with the DOM and
 *                             styled through the CSSOM (allowed under a strict CSP), its styles
 *                             scoped to the panel's own elements.
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

  function post(path, body, extraHeaders) {
    var headers = {
      "Authorization": "Bearer " + key,
      "Content-Type": "application/json",
      "Idempotency-Key": "js-" + randomId()
    };
    if (extraHeaders) { for (var h in extraHeaders) { headers[h] = extraHeaders[h]; } }
    return window.fetch(api + path, {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      headers: headers,
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

  // --- The post-purchase share panel (Referral.offer) ------------------------------------------

  var TEXT = {
    en: { title: "Share with your friends", intro: "Thanks for your order! Invite friends with your link:",
          link: "Your link", code: "Your code", copy: "Copy link", copied: "Copied!", qr: "QR code of your link",
          share: "Share on", message: "I shop here and think you will like it too:" },
    it: { title: "Condividi con i tuoi amici", intro: "Grazie per il tuo ordine! Invita gli amici con il tuo link:",
          link: "Il tuo link", code: "Il tuo codice", copy: "Copia link", copied: "Copiato!", qr: "Codice QR del tuo link",
          share: "Condividi su", message: "Compro qui e penso che piacerà anche a te:" },
    ro: { title: "Distribuie prietenilor", intro: "Mulțumim pentru comandă! Invită-ți prietenii cu linkul tău:",
          link: "Linkul tău", code: "Codul tău", copy: "Copiază linkul", copied: "Copiat!", qr: "Codul QR al linkului tău",
          share: "Distribuie pe", message: "Cumpăr de aici și cred că îți va plăcea și ție:" },
    pl: { title: "Poleć znajomym", intro: "Dziękujemy za zamówienie! Zaproś znajomych swoim linkiem:",
          link: "Twój link", code: "Twój kod", copy: "Kopiuj link", copied: "Skopiowano!", qr: "Kod QR Twojego linku",
          share: "Udostępnij na", message: "Kupuję tutaj i myślę, że Tobie też się spodoba:" }
  };

  function language(requested) {
    var candidates = [requested, document.documentElement.getAttribute("lang"), window.navigator.language];
    for (var i = 0; i < candidates.length; i++) {
      var tag = String(candidates[i] || "").toLowerCase().split("-")[0];
      if (TEXT[tag]) { return tag; }
    }
    return "en";
  }

  // Styles set through the CSSOM: a strict CSP (no 'unsafe-inline') allows them, and they
  // apply to the panel's own elements only.
  function styled(tag, styles, text) {
    var element = document.createElement(tag);
    for (var name in styles) {
      if (Object.prototype.hasOwnProperty.call(styles, name)) { element.style.setProperty(name, styles[name]); }
    }
    if (text) { element.textContent = text; }
    return element;
  }

  function shareLinks(url, message) {
    var text = message + " " + url;
    var enc = window.encodeURIComponent;
    return [
      ["whatsapp", "WhatsApp", "https://wa.me/?text=" + enc(text)],
      ["email", "E-mail", "mailto:?subject=" + enc(message) + "&body=" + enc(text)],
      ["sms", "SMS", "sms:?&body=" + enc(text)],
      ["telegram", "Telegram", "https://t.me/share/url?url=" + enc(url) + "&text=" + enc(message)],
      ["facebook", "Facebook", "https://www.facebook.com/sharer/sharer.php?u=" + enc(url)],
      ["x", "X", "https://x.com/intent/post?text=" + enc(message) + "&url=" + enc(url)],
      ["linkedin", "LinkedIn", "https://www.linkedin.com/sharing/share-offsite/?url=" + enc(url)]
    ];
  }

  function panel(advocate, words) {
    var section = styled("section", {
      "box-sizing": "border-box", "max-width": "32rem", "margin": "1.5rem 0", "padding": "1rem 1.25rem",
      "border": "1px solid #d0d5dd", "border-radius": "12px", "background": "#ffffff", "color": "#1d2939",
      "font": "16px/1.5 system-ui, -apple-system, Segoe UI, Roboto, sans-serif"
    });
    section.setAttribute("data-referral-offer", "");
    section.setAttribute("aria-labelledby", "rs-offer-title");
    var title = styled("h2", { "margin": "0 0 .5rem", "font-size": "1.25rem" }, words.title);
    title.id = "rs-offer-title";
    section.appendChild(title);
    section.appendChild(styled("p", { "margin": "0 0 .75rem" }, words.intro));

    var label = styled("label", { "display": "block", "font-weight": "600" }, words.link);
    label.setAttribute("for", "rs-offer-link");
    var input = styled("input", {
      "box-sizing": "border-box", "width": "100%", "padding": ".5rem", "font": "inherit",
      "border": "1px solid #98a2b3", "border-radius": "8px"
    });
    input.id = "rs-offer-link";
    input.type = "text";
    input.readOnly = true;
    input.value = advocate.referral_url;
    input.setAttribute("data-referral-offer-link", "");
    var status = styled("span", { "margin-left": ".5rem" });
    status.setAttribute("role", "status");
    var copy = styled("button", {
      "margin": ".5rem 0", "padding": ".5rem 1rem", "font": "inherit", "cursor": "pointer",
      "border": "0", "border-radius": "8px", "background": "#1d2939", "color": "#ffffff"
    }, words.copy);
    copy.type = "button";
    copy.addEventListener("click", function () {
      input.select();
      var done = function () { status.textContent = words.copied; };
      if (window.navigator.clipboard && window.isSecureContext) {
        window.navigator.clipboard.writeText(input.value).then(done, function () { /* selected */ });
      } else {
        try { document.execCommand("copy"); done(); } catch (e) { /* selected: the buyer copies */ }
      }
    });
    section.appendChild(label);
    section.appendChild(input);
    section.appendChild(copy);
    section.appendChild(status);

    var code = styled("p", { "margin": ".25rem 0" }, words.code + ": ");
    var strong = styled("strong", { "font-family": "ui-monospace, monospace" }, advocate.code);
    strong.setAttribute("data-referral-offer-code", "");
    code.appendChild(strong);
    section.appendChild(code);

    if (advocate.qr_url) {
      var qr = styled("img", { "display": "block", "width": "8rem", "height": "8rem", "margin": ".5rem 0" });
      qr.src = advocate.qr_url;
      qr.alt = words.qr;
      section.appendChild(qr);
    }

    var list = styled("ul", { "display": "flex", "flex-wrap": "wrap", "gap": ".5rem", "list-style": "none",
                              "margin": ".5rem 0 0", "padding": "0" });
    list.setAttribute("aria-label", words.share);
    shareLinks(advocate.referral_url, words.message).forEach(function (item) {
      var li = document.createElement("li");
      var a = styled("a", { "display": "inline-block", "padding": ".35rem .75rem", "border": "1px solid #98a2b3",
                            "border-radius": "999px", "color": "#1d2939", "text-decoration": "none" }, item[1]);
      a.href = item[2];
      a.rel = "noopener";
      a.target = "_blank";
      a.setAttribute("data-share", item[0]);
      a.setAttribute("aria-label", words.share + " " + item[1]);
      li.appendChild(a);
      list.appendChild(li);
    });
    section.appendChild(list);
    return section;
  }

  function offer(buyer) {
    buyer = buyer || {};
    if (!key || key.indexOf("pk_") !== 0) {
      log("data-key must be a publishable key (pk_…)");
      return Promise.resolve(null);
    }
    var program = buyer.program || (script && script.getAttribute("data-program")) || "";
    if (!buyer.email || !program) {
      log("Referral.offer needs the buyer's email and the program (data-program)");
      return Promise.resolve(null);
    }
    var words = TEXT[language(buyer.locale)];
    var body = { program: program, email: String(buyer.email) };
    if (buyer.name) { body.name = String(buyer.name).slice(0, 120); }
    if (buyer.locale && TEXT[language(buyer.locale)]) { body.locale = language(buyer.locale); }
    var headers = buyer.orderId ? { "Idempotency-Key": "offer-" + String(buyer.orderId).slice(0, 200) } : null;
    return post("/api/v1/advocates", body, headers).then(function (advocate) {
      var node = panel(advocate, words);
      var previous = document.querySelector("[data-referral-offer]");
      if (previous) { previous.parentNode.replaceChild(node, previous); return advocate; }
      var target = buyer.target || document.querySelector("main") || document.body;
      target.appendChild(node);
      return advocate;
    }, function (error) {
      // A disallowed origin ends here too (the browser refuses the answer): render nothing.
      log("could not enrol the buyer: " + error.message);
      return null;
    });
  }

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
    },
    offer: offer
  };
})(window, document);
