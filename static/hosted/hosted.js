/* Hosted pages: copy buttons and the phone's own share sheet. Everything works without it. */
(function () {
  "use strict";

  function flash(button) {
    var original = button.textContent;
    button.textContent = button.getAttribute("data-copied") || original;
    window.setTimeout(function () { button.textContent = original; }, 1800);
  }

  function copy(text, button, input) {
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { flash(button); }, function () {
        if (input) { input.select(); }
      });
      return;
    }
    if (input) {
      input.select();
      try { document.execCommand("copy"); flash(button); } catch (e) { /* selected: the user copies */ }
    }
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) { return; }
    var button = target.closest("[data-copy]");
    if (button) {
      var input = document.querySelector(button.getAttribute("data-copy"));
      if (input) { copy(input.value, button, input); }
      return;
    }
    button = target.closest("[data-copy-text]");
    if (button) {
      copy(button.getAttribute("data-copy-text"), button, null);
      return;
    }
    button = target.closest("[data-native-share]");
    if (button && navigator.share) {
      navigator.share({
        title: button.getAttribute("data-title") || "",
        text: button.getAttribute("data-text") || "",
        url: button.getAttribute("data-url") || ""
      }).catch(function () { /* cancelled */ });
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (navigator.share) {
      document.querySelectorAll("[data-native-share-item]").forEach(function (item) {
        item.hidden = false;
      });
    }
    document.querySelectorAll("[data-referral-link]").forEach(function (input) {
      input.addEventListener("focus", function () { input.select(); });
    });
  });
})();
