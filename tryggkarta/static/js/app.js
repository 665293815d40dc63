/* tryggkarta page helpers that every page may use (no inline handlers: the CSP forbids them).
 * [data-print] buttons print the page. */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var target = event.target;
    var button = target && target.closest ? target.closest("[data-print]") : null;
    if (button) {
      event.preventDefault();
      window.print();
    }
  });
})();
