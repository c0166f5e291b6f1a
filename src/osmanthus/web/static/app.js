// Osmanthus: automatic sign-out after inactivity (90 s at a kiosk). The server enforces
// the same limit on its side; this only makes the screen follow it.
(function () {
  "use strict";
  var body = document.body;
  if (!body || body.dataset.signedIn !== "yes") { return; }
  var limit = parseInt(body.dataset.idleSeconds || "900", 10) * 1000;
  var timer = null;
  function signOut() {
    var form = document.querySelector('form[action$="/signout"]');
    if (form) { form.submit(); }
  }
  function reset() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(signOut, limit);
  }
  ["click", "keydown", "touchstart", "pointerdown", "scroll"].forEach(function (name) {
    document.addEventListener(name, reset, { passive: true });
  });
  reset();
})();

// Buttons that print the page (data-print): no inline handlers, the pages allow no
// inline script.
document.addEventListener("click", function (event) {
  var found = event.target && event.target.closest ? event.target.closest("[data-print]") : null;
  if (found) { window.print(); }
});
