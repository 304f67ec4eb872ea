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
  const COMMISSION_KINDS = ["cash", "account_credit"];

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
    const valueTypeInput = form.querySelector("[data-reward-field='value_type']");
    // Cash and account credit: a fixed amount, or a commission (a share of the order).
    const commissionKind = COMMISSION_KINDS.indexOf(kind) !== -1;
    const commission = commissionKind && valueTypeInput && valueTypeInput.value === "percent";
    const value = commission ? "percent" : VALUE_FOR_KIND[kind];
    ["amount", "percent", "points"].forEach(function (name) {
      show(fieldOf(form, name), value === name);
    });
    const percentField = fieldOf(form, "percent");
    const percentLabel = percentField ? percentField.querySelector("label") : null;
    const percentInput = percentField ? percentField.querySelector("input") : null;
    if (percentLabel && percentInput && percentInput.dataset.commissionLabel) {
      percentLabel.textContent = commission
        ? percentInput.dataset.commissionLabel
        : percentInput.dataset.discountLabel;
    }
    show(fieldOf(form, "value_type"), commissionKind);
    show(fieldOf(form, "max_amount"), commission);
    show(fieldOf(form, "recurring_months"), commission);
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

  // Preview switchers (language, and variant when the program has some): mark the choice and
  // point the clicked link at both choices (the link itself loads the frame).
  document.querySelectorAll("[data-preview-base]").forEach(function (preview) {
    function chosen(attribute) {
      const link = preview.querySelector("[" + attribute + "][aria-current='true']");
      return link ? link.getAttribute(attribute) : "";
    }
    preview.addEventListener("click", function (event) {
      const link = event.target.closest("[data-preview-lang], [data-preview-variant]");
      if (!link) return;
      const attribute = link.hasAttribute("data-preview-lang")
        ? "data-preview-lang"
        : "data-preview-variant";
      preview.querySelectorAll("[" + attribute + "]").forEach(function (other) {
        other.removeAttribute("aria-current");
      });
      link.setAttribute("aria-current", "true");
      const query = new URLSearchParams();
      query.set("lang", chosen("data-preview-lang"));
      const variant = chosen("data-preview-variant");
      if (variant) query.set("variant", variant);
      link.href = preview.dataset.previewBase + "?" + query.toString();
    });
  });

  // Variants editor: a reward override's fields show only while its box is ticked, spare empty
  // rows wait behind "Add a variant", and each row shows its share of the weights.
  document.querySelectorAll("[data-override]").forEach(function (block) {
    const box = block.querySelector("input[type='checkbox']");
    const panel = block.querySelector("[data-override-panel]");
    if (!box || !panel) return;
    const sync = function () { panel.hidden = !box.checked; };
    sync();
    box.addEventListener("change", sync);
  });

  document.querySelectorAll("[data-variants-form]").forEach(function (form) {
    const rows = Array.prototype.slice.call(form.querySelectorAll("[data-variant]"));
    const add = form.querySelector("[data-variant-add]");
    const spare = rows.filter(function (row, index) {
      return index >= 2 && row.hasAttribute("data-variant-empty");
    });
    spare.forEach(function (row) { row.hidden = true; });
    function syncAdd() {
      if (add) add.hidden = !rows.some(function (row) { return row.hidden; });
    }
    syncAdd();
    if (add) {
      add.addEventListener("click", function () {
        const next = rows.find(function (row) { return row.hidden; });
        if (!next) return;
        next.hidden = false;
        const key = next.querySelector("input[name$='-key']");
        if (key) key.focus();
        syncAdd();
      });
    }

    function weightOf(row) {
      const removed = row.querySelector("input[name$='-DELETE']");
      const input = row.querySelector("[data-variant-weight]");
      if (row.hidden || (removed && removed.checked) || !input || input.value === "") return null;
      const value = Number(input.value);
      return Number.isFinite(value) && value >= 0 ? value : null;
    }
    function syncShares() {
      const weights = rows.map(weightOf);
      const total = weights.reduce(function (sum, w) { return sum + (w || 0); }, 0);
      rows.forEach(function (row, index) {
        const badge = row.querySelector("[data-variant-share]");
        if (!badge) return;
        const weight = weights[index];
        badge.hidden = weight === null;
        if (weight === null) return;
        badge.textContent = total > 0
          ? String(Math.round((1000 * weight) / total) / 10) + "%"
          : "\u2013";
      });
    }
    form.addEventListener("input", syncShares);
    form.addEventListener("change", syncShares);
  });
})();
