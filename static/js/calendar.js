// The calendar feed page: copy the new feed address, select it whole on a tap.
(function () {
  function copied(button) {
    var label = button.textContent;
    button.textContent = button.getAttribute("data-copied-text") || label;
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) { return; }
    var input = document.querySelector(button.getAttribute("data-copy"));
    if (!input) { return; }
    input.focus();
    input.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(function () { copied(button); }, function () {
        if (document.execCommand("copy")) { copied(button); }
      });
    } else if (document.execCommand("copy")) {
      copied(button);
    }
  });

  document.addEventListener("focusin", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-select-all")) { event.target.select(); }
  });
})();
