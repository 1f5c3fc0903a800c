/* The printable decision record's print button (cases/record.html): shown only where this
   script runs, it opens the browser's print dialog. Without JavaScript the page says to use
   the browser's Print command instead. No inline script: the CSP allows only files from here. */
(function () {
  "use strict";
  var button = document.getElementById("print-record");
  if (!button || typeof window.print !== "function") {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    window.print();
  });
})();
