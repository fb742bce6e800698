// onexbusd dashboard: the page behaviour htmx does not cover. No inline
// scripts anywhere (the CSP forbids them); everything hooks in here.
(function () {
  "use strict";
  var csrf = document.body.getAttribute("data-csrf") || "";

  function addCSRF(root) {
    root.querySelectorAll("form.csrf").forEach(function (f) {
      if (f.querySelector("input[name=csrf]")) return;
      var i = document.createElement("input");
      i.type = "hidden"; i.name = "csrf"; i.value = csrf;
      f.appendChild(i);
    });
  }

  document.addEventListener("click", function (e) {
    var b = e.target.closest("button.copy");
    if (b) {
      var text = b.getAttribute("data-copy");
      var done = function () { b.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { fallback(text); done(); });
      } else { fallback(text); done(); }
      return;
    }
    var p = e.target.closest("#pause");
    if (p) {
      var paused = p.getAttribute("data-paused") === "1";
      p.setAttribute("data-paused", paused ? "0" : "1");
      p.textContent = paused ? "Pause" : "Resume";
      document.getElementById("tail-state").textContent = paused ? "live" : "paused";
    }
    if (e.target.id === "select-all") {
      document.querySelectorAll("#letters input[name=id]").forEach(function (c) { c.checked = e.target.checked; });
    }
  });

  function fallback(text) {
    var t = document.createElement("textarea");
    t.value = text; document.body.appendChild(t); t.select();
    try { document.execCommand("copy"); } catch (err) { /* nothing more to try */ }
    t.remove();
  }

  // Paused tail: drop incoming rows (and count them, so the page can say
  // how many it skipped).
  document.body.addEventListener("htmx:sseBeforeMessage", function (e) {
    var p = document.getElementById("pause");
    if (p && p.getAttribute("data-paused") === "1") {
      e.preventDefault();
      p.setAttribute("data-dropped", String(Number(p.getAttribute("data-dropped") || "0") + 1));
    }
  });

  // Purge needs the typed confirmation before the form goes.
  document.addEventListener("submit", function (e) {
    var s = e.submitter;
    if (s && s.id === "purge") {
      var c = document.getElementById("confirm");
      if (!c || c.value !== "purge") { e.preventDefault(); c && c.focus(); alert("Type purge to confirm."); }
    }
  });

  function chart(el) {
    fetch(el.getAttribute("data-url"), { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
      el.textContent = "";
      if (!data[0].length) { el.textContent = "no samples yet"; return; }
      var w = Math.max(260, el.clientWidth || 600);
      new uPlot({ width: w, height: 180, series: [{}, { label: "lag (messages)", stroke: "#2563eb" },
        { label: "lag (seconds)", stroke: "#dc2626", scale: "s" }], axes: [{}, {}, { scale: "s", side: 1 }] }, data, el);
    }).catch(function (err) { el.textContent = "chart unavailable: " + err; });
  }

  addCSRF(document);
  document.body.addEventListener("htmx:afterSwap", function (e) { addCSRF(e.target); });
  document.querySelectorAll(".chart[data-url]").forEach(chart);
})();
