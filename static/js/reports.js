// The reports: the print button of the monthly report (its print styles lay it out on A4 pages).
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-print]");
  if (button) {
    event.preventDefault();
    window.print();
  }
});
