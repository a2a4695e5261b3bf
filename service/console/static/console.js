// Tessera console: the API key (kept in this browser session only), error banners, heat map focus.
(function () {
  "use strict";
  var KEY = "tessera-api-key";

  function key() { return sessionStorage.getItem(KEY) || ""; }

  function banner(text) {
    var box = document.getElementById("banner");
    if (!box) return;
    box.textContent = text || "";
    box.hidden = !text;
  }

  document.addEventListener("htmx:configRequest", function (event) {
    var k = key();
    if (k) event.detail.headers["Authorization"] = "Bearer " + k;
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful) banner("");
  });
  document.addEventListener("htmx:sendError", function () {
    banner("The server does not answer. Check that it is running (make run, or tessera serve) " +
           "at this page's address, then try again.");
  });
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr, detail = "", id = "";
    try { var body = JSON.parse(xhr.responseText); detail = body.detail || ""; id = body.request_id || ""; }
    catch (ignored) { detail = ""; }
    banner("The server could not answer this request (HTTP " + xhr.status + ")" +
           (detail ? ": " + detail : "") + (id ? " (request id " + id + ")" : "") + ". Try again; report it if it persists.");
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "explanation") {
      event.detail.target.scrollIntoView({ block: "start" });
    }
  });

  document.addEventListener("click", function (event) {
    var chip = event.target.closest("[data-focus]");
    if (!chip) return;
    var map = chip.closest("section").querySelector(".heatmap");
    var same = map.dataset.focus === chip.dataset.focus;
    map.dataset.focus = same ? "" : chip.dataset.focus;
    map.classList.toggle("focused", !same);
    map.querySelectorAll(".tok").forEach(function (tok) {
      tok.classList.toggle("focus", !same && tok.dataset.q === chip.dataset.focus);
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("key-form");
    var input = document.getElementById("api-key");
    var state = document.getElementById("key-state");
    state.textContent = key() ? "key in use for this session" : "no key";
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (input.value.trim()) sessionStorage.setItem(KEY, input.value.trim());
      location.reload();
    });
    document.getElementById("forget-key").addEventListener("click", function () {
      sessionStorage.removeItem(KEY);
      location.reload();
    });
  });
})();
