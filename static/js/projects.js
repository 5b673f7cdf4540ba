// The project pages: the company picker, fields shown only when they apply, the lost reason, the bulk checkboxes.
(function () {
  "use strict";

  function byId(id) { return document.getElementById(id); }

  // --- the company picker: a suggestion click fills the hidden company_id and the search box ---------------------
  document.addEventListener("click", function (event) {
    var option = event.target.closest("[data-company-id]");
    if (!option) { return; }
    var hidden = byId("company_id"), search = byId("company_q");
    if (!hidden || !search) { return; }
    hidden.value = option.getAttribute("data-company-id");
    search.value = option.getAttribute("data-company-name");
    search.setAttribute("data-chosen", search.value);
    search.classList.remove("is-invalid");
    search.classList.add("is-valid");
    var box = byId("company-options");
    if (box) { box.innerHTML = ""; }
  });
  document.addEventListener("input", function (event) {
    var search = event.target;
    if (!search.matches || !search.matches("[data-company-search]")) { return; }
    if (search.value !== search.getAttribute("data-chosen")) {
      var hidden = byId("company_id");
      if (hidden) { hidden.value = ""; }
      search.classList.remove("is-valid");
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      var box = byId("company-options");
      if (box) { box.innerHTML = ""; }
    }
    // Enter in the search box picks the first suggestion instead of sending the form
    if (event.key === "Enter" && event.target.matches && event.target.matches("[data-company-search]")) {
      event.preventDefault();
      var first = document.querySelector("#company-options [data-company-id]");
      if (first) { first.click(); }
    }
  });
  document.addEventListener("click", function (event) {
    if (!event.target.closest(".company-picker")) {
      var box = byId("company-options");
      if (box) { box.innerHTML = ""; }
    }
  });

  // --- fields shown only when a checkbox is (or is not) ticked: data-show-if / data-hide-if="<checkbox id>" -------
  function syncToggles() {
    document.querySelectorAll("[data-show-if], [data-hide-if]").forEach(function (el) {
      var showIf = el.getAttribute("data-show-if"), hideIf = el.getAttribute("data-hide-if");
      var box = byId(showIf || hideIf);
      if (!box) { return; }
      el.hidden = showIf ? !box.checked : box.checked;
    });
  }

  // --- the lost reason: shown when the form's stage select says "lost" --------------------------------------------
  function syncLostReason(form) {
    var select = form.querySelector('select[name="stage"]');
    if (!select) { return; }
    form.querySelectorAll("[data-lost-reason]").forEach(function (el) {
      el.hidden = select.value !== "lost";
    });
  }

  // --- bulk actions: select all, the count, buttons enabled only with a ticked row ----------------------------------
  function syncBulk() {
    var form = document.querySelector("[data-bulk-form]");
    if (!form) { return; }
    var items = document.querySelectorAll("[data-bulk-item]");
    var ticked = Array.prototype.filter.call(items, function (i) { return i.checked; }).length;
    var label = form.querySelector("[data-bulk-count]");
    if (label) {
      label.textContent = ticked ? label.getAttribute("data-some").replace("#", ticked) : label.getAttribute("data-none");
    }
    form.classList.toggle("none-ticked", ticked === 0);
    var stage = form.querySelector('select[name="stage"]'), owner = form.querySelector('select[name="owner_id"]');
    form.querySelectorAll('button[name="action"]').forEach(function (b) {
      var chosen = b.value === "move" ? stage && stage.value : owner && owner.value;
      b.disabled = ticked === 0 || !chosen;
    });
    document.querySelectorAll("[data-select-all]").forEach(function (all) {
      all.checked = ticked > 0 && ticked === items.length;
      all.indeterminate = ticked > 0 && ticked < items.length;
    });
  }

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.type === "checkbox") { syncToggles(); }
    if (el.matches('select[name="stage"]') && el.form) { syncLostReason(el.form); }
    if (el.matches("[data-select-all]")) {
      document.querySelectorAll("[data-bulk-item]").forEach(function (i) { i.checked = el.checked; });
    }
    if (el.matches("[data-select-all], [data-bulk-item]") || (el.form && el.form.matches("[data-bulk-form]"))) {
      syncBulk();
    }
  });

  function init() {
    syncToggles();
    document.querySelectorAll("form").forEach(syncLostReason);
    syncBulk();
    var search = byId("company_q");
    if (search && byId("company_id") && byId("company_id").value) { search.setAttribute("data-chosen", search.value); }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
