// Draws the overview's per-day charts from the JSON data block the page embeds
// (#analytics-series); Chart.js is vendored under static/vendor/chartjs.
(function () {
  "use strict";

  function draw() {
    var data = document.getElementById("analytics-series");
    if (!data || typeof window.Chart === "undefined") {
      return;
    }
    var series = JSON.parse(data.textContent);
    var style = getComputedStyle(document.documentElement);
    var primary = style.getPropertyValue("--primary").trim() || "#3b2fc9";
    var success = style.getPropertyValue("--success").trim() || "#0f7b5f";
    var warning = style.getPropertyValue("--warning").trim() || "#a35f00";
    var common = {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { position: "bottom" } },
    };
    var activity = document.querySelector("[data-chart='activity']");
    if (activity) {
      new window.Chart(activity, {
        type: "line",
        data: {
          labels: series.days,
          datasets: [
            { label: series.labels.clicks, data: series.clicks, borderColor: primary, backgroundColor: primary, tension: 0.25, pointRadius: 0 },
            { label: series.labels.referrals, data: series.referrals, borderColor: warning, backgroundColor: warning, tension: 0.25, pointRadius: 0 },
            { label: series.labels.conversions, data: series.conversions, borderColor: success, backgroundColor: success, tension: 0.25, pointRadius: 0 },
          ],
        },
        options: common,
      });
    }
    var revenue = document.querySelector("[data-chart='revenue']");
    if (revenue && series.currency) {
      new window.Chart(revenue, {
        type: "bar",
        data: {
          labels: series.days,
          datasets: [{ label: series.labels.revenue + " (" + series.currency + ")", data: series.revenue, backgroundColor: success }],
        },
        options: Object.assign({}, common, { scales: { y: { beginAtZero: true } } }),
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
