// Polls the run's state while a run is going and shows it; reloads the page once the run has ended so the
// last-runs table shows its counts. A static file: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  var box = document.getElementById("runbox");
  if (!box) { return; }
  var line = document.getElementById("run-state");
  var url = box.getAttribute("data-state-url");
  var wasRunning = box.getAttribute("data-state") === "running";

  function describe(s) {
    if (s.state === "running") {
      var text = "running" + (s.holder ? " (held by " + s.holder + ")" : "");
      if (s.label) { text += ": " + s.label; }
      if (s.total) { text += " (" + s.done + "/" + s.total + ")"; }
      return text;
    }
    if (s.state === "idle") { return "no run started from this console yet"; }
    return s.state + ": " + s.result;
  }

  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) { return; }
        line.textContent = describe(s);  // textContent: whatever the state says is shown as text
        if (s.state === "running") { wasRunning = true; setTimeout(poll, 1000); }
        else if (wasRunning) { window.location.reload(); }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  if (wasRunning) { poll(); }
})();
