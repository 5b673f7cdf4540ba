// The support board: the print button (the page's print styles fit the wall chart on one A3 landscape page).
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-print]");
  if (button) {
    event.preventDefault();
    window.print();
  }
});
