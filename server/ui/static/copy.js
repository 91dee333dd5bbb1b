// Copy buttons: the only JavaScript in latchkey's UI. Pages work without it; with it, a button
// marked data-copy="<id>" copies the text of that element and says so.
"use strict";
(function () {
  function status(msg) {
    var s = document.getElementById("copy-status");
    if (s) { s.textContent = msg; }
  }
  function copy(el) {
    var text = el.value !== undefined ? el.value : el.textContent;
    if (el.select) { el.focus(); el.select(); }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { status("Copied to the clipboard."); },
        function () { legacyCopy(); });
    } else {
      legacyCopy();
    }
  }
  function legacyCopy() {
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    status(ok ? "Copied to the clipboard." : "Press Ctrl+C (or ⌘C) to copy the selected token.");
  }
  document.addEventListener("DOMContentLoaded", function () {
    var buttons = document.querySelectorAll("button[data-copy]");
    for (var i = 0; i < buttons.length; i++) {
      var b = buttons[i];
      var target = document.getElementById(b.getAttribute("data-copy"));
      if (!target) { continue; }
      b.hidden = false;
      b.addEventListener("click", function (t) { return function () { copy(t); }; }(target));
    }
    var reveal = document.querySelectorAll("input.token-reveal");
    for (var j = 0; j < reveal.length; j++) {
      reveal[j].addEventListener("focus", function (ev) { ev.target.select(); });
      if (document.activeElement === reveal[j]) { reveal[j].select(); }
    }
  });
})();
