// The pipeline board: drag a card to another column (SortableJS) or pick a stage in the card's menu; the move is
// saved at once (POST /projects/<id>/move). A move to "lost" first asks for a reason. When someone else changed the
// project meanwhile (409) the card is shown as it now is, in its real column; when the move is refused it goes back.
(function () {
  "use strict";

  var board = document.getElementById("board");
  if (!board) { return; }
  document.documentElement.classList.add("board-js");

  // on a wide screen the board ends at the window's bottom edge (its columns scroll on their own)
  function fitHeight() {
    board.style.setProperty("--board-top", Math.round(board.getBoundingClientRect().top + window.scrollY) + "px");
  }
  fitHeight();
  window.addEventListener("resize", fitHeight);

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var stageNames = JSON.parse(board.getAttribute("data-stage-names") || "{}");
  var alerts = document.getElementById("board-alerts");
  var lostModalEl = document.getElementById("board-lost-modal");
  var lostForm = document.getElementById("board-lost-form");
  var lostReason = document.getElementById("board-lost-reason");
  var lostProject = document.getElementById("board-lost-project");
  var NEEDS_REASON = ["lost"];

  function msg(name, values) {
    var text = board.getAttribute("data-msg-" + name) || "";
    Object.keys(values || {}).forEach(function (key) {
      text = text.split("%(" + key + ")s").join(String(values[key]));
    });
    return text;
  }

  // --- small helpers -------------------------------------------------------------------------------------------

  function cardList(stage) {
    return board.querySelector('.board-cards[data-stage="' + stage + '"]');
  }

  function cardsIn(list) {
    return list ? list.querySelectorAll(".board-card").length : 0;
  }

  function parseCard(html) {
    var holder = document.createElement("template");
    holder.innerHTML = html.trim();  // the server's own escaped markup (templates/projects/_card.html)
    return holder.content.firstElementChild;
  }

  function notify(text, kind) {
    var box = document.createElement("div");
    box.className = "alert alert-dismissible alert-" + (kind || "info");
    box.setAttribute("role", kind === "danger" || kind === "warning" ? "alert" : "status");
    var body = document.createElement("div");
    body.className = "board-alert-text";
    body.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close";
    close.setAttribute("data-bs-dismiss", "alert");
    close.setAttribute("aria-label", msg("close"));
    box.appendChild(body);
    box.appendChild(close);
    alerts.appendChild(box);
    window.setTimeout(function () { box.remove(); }, kind === "success" ? 4000 : 12000);
  }

  function updateColumns(columns) {
    Object.keys(columns || {}).forEach(function (stage) {
      var info = columns[stage];
      document.querySelectorAll('[data-count-for="' + stage + '"]').forEach(function (el) {
        el.textContent = info.count;
      });
      board.querySelectorAll('[data-total-for="' + stage + '"]').forEach(function (el) {
        el.textContent = info.total_label;
      });
      var column = board.querySelector('.board-column[data-stage="' + stage + '"]');
      if (column) { column.setAttribute("data-count", info.count); }
      updateMore(stage);
    });
  }

  // "show more": how many cards of the column are not on the page yet
  function updateMore(stage) {
    var column = board.querySelector('.board-column[data-stage="' + stage + '"]');
    var link = column && column.querySelector(".board-more-link");
    if (!link || !column.hasAttribute("data-count")) { return; }
    var left = Number(column.getAttribute("data-count")) - cardsIn(cardList(stage));
    var badge = link.querySelector(".board-more-left");
    if (badge) { badge.textContent = Math.max(0, left); }
    link.classList.toggle("d-none", left <= 0);
  }

  function putBack(card, list, index) {
    if (!list) { return; }
    var others = Array.prototype.filter.call(list.children, function (el) { return el !== card; });
    list.insertBefore(card, others[index] || null);
  }

  // place a card (fresh from the server) in the column of its stage: where it was dropped if that is the column,
  // else at the top; if the column is not on the board (filtered out), the card leaves the board
  function place(oldCard, fresh, stage) {
    var target = cardList(stage);
    if (!target) {
      oldCard.remove();
      return null;
    }
    if (oldCard.parentNode === target) {
      target.replaceChild(fresh, oldCard);
    } else {
      oldCard.remove();
      target.insertBefore(fresh, target.firstElementChild);
    }
    fresh.classList.add("board-card-flash");
    return fresh;
  }

  // --- the move itself -----------------------------------------------------------------------------------------

  // card: the card element; to: the stage key; origin: {list, index} where the card was before a drag (or now)
  function move(card, to, origin) {
    if (NEEDS_REASON.indexOf(to) >= 0) {
      askReason(card, function (reason) { send(card, to, origin, reason); },
        function () { putBack(card, origin.list, origin.index); });
      return;
    }
    send(card, to, origin, "");
  }

  function send(card, to, origin, reason) {
    var from = card.getAttribute("data-stage");
    var url = board.getAttribute("data-move-url").replace("{id}", card.getAttribute("data-id"));
    var body = new URLSearchParams();
    body.set("stage", to);
    body.set("from_stage", from);
    body.set("version", card.getAttribute("data-version"));
    body.set("note", "");
    body.set("reason", reason || "");
    body.set("filters", board.getAttribute("data-filters") || "");
    card.classList.add("board-card-busy");
    card.setAttribute("aria-busy", "true");
    fetch(url, {
      method: "POST", credentials: "same-origin", body: body,
      headers: {"X-CSRFToken": csrfMeta ? csrfMeta.content : "", "Accept": "application/json"}
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") < 0) {
        return {status: response.status, data: null};
      }
      return response.json().then(function (data) { return {status: response.status, data: data}; });
    }).then(function (result) {
      card.classList.remove("board-card-busy");
      card.removeAttribute("aria-busy");
      handle(card, to, origin, result.status, result.data);
    }).catch(function () {
      card.classList.remove("board-card-busy");
      card.removeAttribute("aria-busy");
      putBack(card, origin.list, origin.index);
      notify(msg("offline"), "danger");
    });
  }

  function handle(card, to, origin, status, data) {
    if (data && data.card_html && (status === 200 || status === 409)) {
      var fresh = parseCard(data.card_html);
      var placed = place(card, fresh, data.stage);
      updateColumns(data.columns);
      if (status === 409) {
        notify(data.error.message, "warning");
      } else if (!placed || origin.viaMenu) {
        notify(msg("moved", {stage: data.stage_label || stageNames[data.stage] || data.stage}), "success");
      }
      if (placed && origin.viaMenu) {
        placed.scrollIntoView({block: "nearest", inline: "nearest"});
      }
      return;
    }
    if (status === 404) {
      var stage = card.getAttribute("data-stage");
      card.remove();
      updateMore(stage);
      notify((data && data.error && data.error.message) || msg("gone"), "danger");
      return;
    }
    putBack(card, origin.list, origin.index);
    var text = data && data.error && data.error.message;
    notify(text || msg("failed", {status: status}), "danger");
  }

  // --- the reason for "lost" -----------------------------------------------------------------------------------

  var pending = null;
  var modal = lostModalEl && window.tabler && window.tabler.Modal ? window.tabler.Modal.getOrCreateInstance(lostModalEl)
    : null;

  function askReason(card, confirm, cancel) {
    if (!modal) {  // no Bootstrap: a plain prompt
      var answer = window.prompt(lostModalEl ? lostModalEl.querySelector(".modal-title").textContent : "?");
      if (answer && answer.trim()) { confirm(answer.trim()); } else { cancel(); }
      return;
    }
    pending = {confirm: confirm, cancel: cancel, done: false};
    lostReason.value = "";
    lostReason.classList.remove("is-invalid");
    var title = card.querySelector(".board-card-title");
    lostProject.textContent = title ? title.textContent : "";
    modal.show();
  }

  if (lostModalEl) {
    lostModalEl.addEventListener("shown.bs.modal", function () { lostReason.focus(); });
    lostModalEl.addEventListener("hidden.bs.modal", function () {
      if (pending && !pending.done) { pending.cancel(); }
      pending = null;
    });
    lostForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var reason = lostReason.value.trim();
      if (!reason) {
        lostReason.classList.add("is-invalid");
        lostReason.focus();
        return;
      }
      if (pending) {
        pending.done = true;
        pending.confirm(reason);
      }
      modal.hide();
    });
  }

  // --- drag and drop -------------------------------------------------------------------------------------------

  function makeSortable(list) {
    window.Sortable.create(list, {
      group: "board", sort: false, animation: 150, draggable: ".board-card",
      filter: ".board-card-locked, .board-card-busy, select, option, button", preventOnFilter: false,
      delay: 250, delayOnTouchOnly: true, fallbackTolerance: 4,
      onEnd: function (evt) {
        if (evt.from === evt.to) { return; }
        move(evt.item, evt.to.getAttribute("data-stage"), {list: evt.from, index: evt.oldIndex});
      }
    });
  }

  if (window.Sortable) {
    board.querySelectorAll(".board-cards").forEach(makeSortable);
  }

  // --- the stage menu on each card (phones, keyboards) ---------------------------------------------------------

  board.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.classList || !select.classList.contains("board-stage-menu") || !select.value) { return; }
    var card = select.closest(".board-card");
    var to = select.value;
    select.value = "";
    var list = card.parentNode;
    var index = Array.prototype.indexOf.call(list.children, card);
    move(card, to, {list: list, index: index, viaMenu: true});
  });
  board.addEventListener("submit", function (event) {
    // with the script on, the menu moves at once; its "Go" button (for pages without JavaScript) is hidden
    if (event.target.classList.contains("board-stage-form")) { event.preventDefault(); }
  });

  // --- "show more" (htmx): from the cards already there, and no card twice -------------------------------------

  document.addEventListener("htmx:configRequest", function (event) {
    var link = event.detail.elt;
    if (link && link.classList && link.classList.contains("board-more-link")) {
      event.detail.parameters.offset = cardsIn(cardList(link.getAttribute("data-stage")));
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var list = event.detail.target;
    if (!list || !list.classList || !list.classList.contains("board-cards")) { return; }
    var seen = {};
    list.querySelectorAll(".board-card").forEach(function (card) {
      if (seen[card.id]) { card.remove(); } else { seen[card.id] = true; }
    });
    updateMore(list.getAttribute("data-stage"));
  });

  // on a wide screen the filters apply as soon as one changes (on a phone, where they fold away, and for keyboards
  // the Filter button applies them)
  var filters = document.getElementById("board-filters");
  if (filters && window.matchMedia("(min-width: 768px)").matches) {
    filters.addEventListener("change", function () { filters.submit(); });
  }
}());
