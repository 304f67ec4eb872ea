// Operations pages, progressively enhanced: "select all" for the review queue's bulk form.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    const toggle = event.target.closest("[data-check-all]");
    if (!toggle) return;
    const form = toggle.form;
    document.querySelectorAll("input[type='checkbox'][name='" + toggle.dataset.checkAll + "']").forEach(function (box) {
      if (box.form === form) box.checked = toggle.checked;
    });
  });
})();
