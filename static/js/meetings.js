// The meeting and task pages: the company picker (its projects and contacts follow the chosen company), the
// quick-log form's follow-up rows ("+ add follow-up", remove), and the officer picker on the tasks page.
(function () {
  "use strict";

  function byId(id) { return document.getElementById(id); }

  // --- the company picker: a suggestion click fills the hidden company_id and the search box, and the project
  // select (and the contacts) of that company are loaded into #company-parts -------------------------------------
  function loadParts(companyId) {
    var parts = byId("company-parts"), form = parts && parts.closest("[data-parts-url]");
    if (!parts || !form || !window.htmx) { return; }
    var url = form.getAttribute("data-parts-url") + "?company_id=" + encodeURIComponent(companyId || "") +
      "&contacts=" + (parts.getAttribute("data-with-contacts") === "0" ? "0" : "1");
    window.htmx.ajax("GET", url, { target: "#company-parts", swap: "innerHTML" });
  }

  function clearOptions() {
    var box = byId("company-options");
    if (box) { box.innerHTML = ""; }
  }

  document.addEventListener("click", function (event) {
    var option = event.target.closest("[data-company-id]");
    if (option) {
      var hidden = byId("company_id"), search = byId("company_q");
      if (!hidden || !search) { return; }
      var changed = hidden.value !== option.getAttribute("data-company-id");
      hidden.value = option.getAttribute("data-company-id");
      search.value = option.getAttribute("data-company-name");
      search.setAttribute("data-chosen", search.value);
      search.classList.remove("is-invalid");
      search.classList.add("is-valid");
      clearOptions();
      if (changed) { loadParts(hidden.value); }
      return;
    }
    if (!event.target.closest(".company-picker")) { clearOptions(); }
  });

  document.addEventListener("input", function (event) {
    var search = event.target;
    if (!search.matches || !search.matches("[data-company-search]")) { return; }
    if (search.value !== search.getAttribute("data-chosen")) {
      var hidden = byId("company_id");
      if (hidden && hidden.value) {
        hidden.value = "";
        loadParts("");
      }
      search.classList.remove("is-valid");
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { clearOptions(); }
    // Enter in the search box picks the first suggestion instead of sending the form
    if (event.key === "Enter" && event.target.matches && event.target.matches("[data-company-search]")) {
      event.preventDefault();
      var first = document.querySelector("#company-options [data-company-id]");
      if (first) { first.click(); }
    }
  });

  // --- follow-up rows: "+ add follow-up" copies the row template with the next free index ------------------------
  function followUpBox() { return document.querySelector("[data-follow-ups]"); }

  function rows() { return document.querySelectorAll("[data-follow-ups] [data-follow-up-row]"); }

  function nextIndex() {
    var highest = -1;
    document.querySelectorAll("[data-follow-ups] [name^='follow_ups-']").forEach(function (input) {
      var n = parseInt(input.name.split("-")[1], 10);
      if (!isNaN(n) && n > highest) { highest = n; }
    });
    return highest + 1;
  }

  function syncFollowUps() {
    var box = followUpBox(), add = document.querySelector("[data-add-follow-up]");
    if (!box || !add) { return; }
    var max = parseInt(box.getAttribute("data-max") || "20", 10);
    add.hidden = false;
    add.disabled = rows().length >= max;
    var many = rows().length > 1;
    box.querySelectorAll("[data-remove-follow-up]").forEach(function (button) { button.hidden = !many; });
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-add-follow-up]")) {
      var box = followUpBox(), template = document.querySelector("template[data-follow-up-template]");
      if (!box || !template) { return; }
      var index = String(nextIndex());
      var holder = document.createElement("div");
      holder.innerHTML = template.innerHTML.split("__index__").join(index);
      var row = holder.querySelector("[data-follow-up-row]");
      box.appendChild(row);
      syncFollowUps();
      var title = row.querySelector("input[name$='-title']");
      if (title) { title.focus(); }
      return;
    }
    var remove = event.target.closest("[data-remove-follow-up]");
    if (remove) {
      var gone = remove.closest("[data-follow-up-row]");
      if (gone && rows().length > 1) { gone.remove(); }
      syncFollowUps();
    }
  });

  // --- the tasks page: choosing an officer shows their tasks --------------------------------------------------------
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-auto-submit]") && event.target.form) {
      event.target.form.submit();
    }
  });

  // with JavaScript one empty row is enough ("+ add follow-up" adds more); without it the page brings two
  function trimEmptyRows() {
    var all = Array.prototype.slice.call(rows());
    all.slice(1).forEach(function (row) {
      var filled = Array.prototype.some.call(row.querySelectorAll("input"), function (i) { return i.value; });
      if (!filled && !row.querySelector(".is-invalid")) { row.remove(); }
    });
  }

  function init() {
    trimEmptyRows();
    syncFollowUps();
    var search = byId("company_q"), hidden = byId("company_id");
    if (search && hidden && hidden.value) { search.setAttribute("data-chosen", search.value); }
    document.querySelectorAll("[data-picker-submit]").forEach(function (b) { b.classList.add("d-none"); });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
