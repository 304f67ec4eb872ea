// Program pages, progressively enhanced: without this script every field shows and the
// preview language links still load into the preview frame (they target it by name).
(function () {
  "use strict";

  // Which reward fields matter for which kind / fulfilment method.
  const VALUE_FOR_KIND = {
    percent_discount: "percent",
    fixed_discount: "amount",
    account_credit: "amount",
    cash: "amount",
    charity_donation: "amount",
    points: "points",
  };
  const LABEL_KINDS = ["free_product", "charity_donation"];

  function fieldOf(form, name) {
    const input = form.querySelector("[data-reward-field='" + name + "']");
    return input ? input.closest(".field") : null;
  }

  // Only the fields that fit the kind are sent to the service, so a server error is always on a
  // field shown here; once the kind changes, the old field (and its message) no longer applies.
  function show(field, visible) {
    if (field) field.classList.toggle("is-irrelevant", !visible);
  }

  function syncReward(form) {
    const kindInput = form.querySelector("[data-reward-field='kind']");
    const methodInput = form.querySelector("[data-reward-field='fulfilment']");
    if (!kindInput) return;
    const kind = kindInput.value;
    const method = methodInput ? methodInput.value : "";
    const chosen = kind !== "";
    ["amount", "percent", "points"].forEach(function (name) {
      show(fieldOf(form, name), VALUE_FOR_KIND[kind] === name);
    });
    show(fieldOf(form, "label"), LABEL_KINDS.indexOf(kind) !== -1);
    show(fieldOf(form, "fulfilment"), chosen);
    show(fieldOf(form, "expires_after_days"), chosen);
    show(fieldOf(form, "code_prefix"), chosen && method === "generated_code");
    show(fieldOf(form, "code_length"), chosen && method === "generated_code");
    show(fieldOf(form, "code_pool"), chosen && method === "code_pool");
  }

  document.querySelectorAll("[data-reward-form]").forEach(function (form) {
    syncReward(form);
    form.addEventListener("change", function () { syncReward(form); });
  });

  // Preview language switcher: mark the chosen language (the link itself loads the frame).
  document.querySelectorAll("[data-preview-langs]").forEach(function (nav) {
    nav.addEventListener("click", function (event) {
      const link = event.target.closest("[data-preview-lang]");
      if (!link) return;
      nav.querySelectorAll("[data-preview-lang]").forEach(function (other) {
        other.removeAttribute("aria-current");
      });
      link.setAttribute("aria-current", "true");
    });
  });
})();
