// dirsync console: small progressive enhancements. Every flow works without
// this file: a link with data-dialog opens its page when JavaScript is off.
(function () {
  "use strict";

  // A link or button with data-dialog="ID" opens the <dialog id=ID> as a modal
  // instead of navigating: the dialog's form posts to the link's href, and
  // elements with data-fill="NAME" take the opener's data-NAME. The browser
  // keeps focus inside a modal dialog and closes it on Escape; focus then
  // returns to the opener.
  document.addEventListener("click", function (ev) {
    var opener = ev.target.closest("[data-dialog]");
    if (opener) {
      var dlg = document.getElementById(opener.dataset.dialog);
      if (!dlg || typeof dlg.showModal !== "function") return;
      ev.preventDefault();
      var form = dlg.querySelector("form");
      if (form && opener.getAttribute("href")) form.setAttribute("action", opener.getAttribute("href"));
      dlg.querySelectorAll("[data-fill]").forEach(function (el) {
        el.textContent = opener.dataset[el.dataset.fill] || "";
      });
      if (form) form.reset();
      dlg._opener = opener;
      dlg.showModal();
      var first = dlg.querySelector("[autofocus], input:not([type=hidden]), select, textarea, button");
      if (first) first.focus();
      return;
    }
    var closer = ev.target.closest("[data-close]");
    if (closer) {
      var d = closer.closest("dialog");
      if (d) { ev.preventDefault(); d.close(); }
    }
  });
  // Tab and Shift+Tab wrap around inside an open modal dialog, so focus never
  // leaves it for the browser's own controls.
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Tab") return;
    var dlg = document.querySelector("dialog[open]");
    if (!dlg) return;
    var items = Array.prototype.filter.call(
      dlg.querySelectorAll("a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])"),
      function (el) { return el.offsetParent !== null; });
    if (!items.length) return;
    var first = items[0], last = items[items.length - 1];
    if (ev.shiftKey && (document.activeElement === first || !dlg.contains(document.activeElement))) {
      ev.preventDefault(); last.focus();
    } else if (!ev.shiftKey && (document.activeElement === last || !dlg.contains(document.activeElement))) {
      ev.preventDefault(); first.focus();
    }
  });
  document.addEventListener("close", function (ev) {
    var dlg = ev.target;
    if (dlg && dlg._opener && document.contains(dlg._opener)) dlg._opener.focus();
  }, true);

  // A form or button with data-confirm asks before it is sent (used where no
  // dialog is rendered).
  document.addEventListener("submit", function (ev) {
    var msg = ev.target.dataset && ev.target.dataset.confirm;
    if (msg && !window.confirm(msg)) ev.preventDefault();
  }, true);

  // After htmx swaps the page, focus stays on an element that kept its id (a
  // sort header, a filter); otherwise it moves to the main region, so keyboard
  // and screen reader users start at the new content.
  document.addEventListener("htmx:afterSettle", function (ev) {
    var lost = !document.activeElement || document.activeElement === document.body;
    if (ev.detail && ev.detail.boosted && lost) {
      var main = document.getElementById("main");
      if (main) main.focus({ preventScroll: true });
    }
  });
})();

// Held operations (holds.html): "Approve selected…" and "Reject selected…"
// open the decision dialog for the list's ticked boxes. The dialog's form
// posts to the button's formaction with the ticked ids and says what the
// decision does, in the words of console/holds.go decisionSummary (keep the
// two in step). Without this, the buttons open the confirmation page.
(function () {
  "use strict";
  var past = { disable: "disabled", "delete": "deleted", enable: "enabled", update: "updated", create: "created" };
  function count(n, one, many) { return n === 1 ? "1 " + one : n + " " + many; }
  function summary(decision, n, counts, order) {
    if (n === 0) return "No held operations are selected: tick the ones to decide, or use a group's buttons.";
    var ops = count(n, "held operation", "held operations");
    if (decision === "reject") return ops + " will be rejected: no user will be disabled or deleted, and the store is left as it is.";
    var rank = function (a) { return a === "disable" ? 0 : a === "delete" ? 1 : 2; };
    order.sort(function (a, b) { return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0); });
    var parts = order.map(function (a) { return count(counts[a], "user", "users") + " will be " + (past[a] || a + "d"); });
    var list = parts.length > 1 ? parts.slice(0, -1).join(", ") + " and " + parts[parts.length - 1] : parts[0];
    return ops + " will be applied: " + list + ".";
  }
  document.addEventListener("click", function (ev) {
    var opener = ev.target.closest("[data-dialog='holds-dialog']");
    var dlg = document.getElementById("holds-dialog");
    if (!opener || !dlg || typeof dlg.showModal !== "function") return;
    var submit = dlg.querySelector("button[type=submit]");
    if (submit) submit.disabled = false;
    if (!opener.dataset.selection || !opener.form) return;
    var ids = [], counts = {}, order = [];
    opener.form.querySelectorAll("input[type=checkbox][name=id]:checked").forEach(function (b) {
      ids.push("id=" + encodeURIComponent(b.value));
      var a = b.dataset.action || "";
      if (!counts[a]) { counts[a] = 0; order.push(a); }
      counts[a]++;
    });
    var form = dlg.querySelector("form");
    if (form) form.setAttribute("action", opener.getAttribute("formaction") + "?" + ids.join("&"));
    var text = summary(opener.dataset.selection, ids.length, counts, order);
    dlg.querySelectorAll("[data-fill=summary]").forEach(function (el) { el.textContent = text; });
    if (submit) submit.disabled = ids.length === 0;
  });
})();
