// Dashboard behaviour, progressively enhanced: every page works without it.
(function () {
  "use strict";

  // Copy a secret to the clipboard and announce it to screen readers.
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy-target]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copyTarget);
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.textContent = "Copied";
      const status = document.querySelector("[data-copy-status]");
      if (status) status.textContent = "Key copied to the clipboard.";
      window.setTimeout(function () { button.textContent = "Copy"; }, 2500);
    });
  });

  // Ask before destructive actions (remove a member, revoke a key).
  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  // Drop-down menus built on <details>: close on outside click and on Escape.
  function closeMenus(except) {
    document.querySelectorAll("details[data-menu][open], details.disclosure[open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest("details[data-menu], details.disclosure"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    const open = document.activeElement && document.activeElement.closest("details[open]");
    closeMenus(null);
    if (open) open.querySelector("summary").focus();
  });

  // API key form: allowed origins only apply to publishable keys.
  function syncKeyForm(form) {
    const checked = form.querySelector("input[name='kind']:checked");
    const origins = form.querySelector("[data-field='allowed_origins']");
    if (checked && origins) origins.hidden = checked.value !== "publishable";
  }
  document.querySelectorAll("form[data-key-form]").forEach(function (form) {
    syncKeyForm(form);
    form.addEventListener("change", function () { syncKeyForm(form); });
  });
})();
