/* fpic: small conveniences on pages that work without script (loaded from a file: the
   Content-Security-Policy allows no inline script). */
(function () {
  "use strict";

  // a form sent with mistakes: the summary of its errors takes the focus, so a keyboard or a
  // screen reader starts from the list of what to correct (each a link to its field)
  var summary = document.querySelector(".error-summary");
  if (summary) {
    summary.focus();
  }

  // a field read only when another has one of some values (a qualified majority's share,
  // under a qualified majority only) is hidden while it does not apply; without script its
  // label and hint say when it applies, and the engine ignores it otherwise
  var dependent = document.querySelectorAll("[data-when]");
  Array.prototype.forEach.call(dependent, function (input) {
    var form = input.form;
    // a field inside a row of entries is named after its row: conditions-0-...
    var prefix = input.name.slice(0, input.name.lastIndexOf("-") + 1);
    var controller = form ? form.elements.namedItem(prefix + input.getAttribute("data-when")) : null;
    if (!controller) {
      return;
    }
    var values = (input.getAttribute("data-when-values") || "").split(" ");
    var block = input.closest(".field") || input;
    function update() {
      block.hidden = values.indexOf(controller.value) < 0;
    }
    if (controller.addEventListener) {
      controller.addEventListener("change", update);
    }
    update();
  });
})();
