// PEMS console: small vanilla helpers, no framework. Every page works without this file;
// it adds live refresh, selection for batch actions, one-submit forms and printing.
"use strict";

(function () {
  const DASH = "–";

  function each(selector, fn, root) {
    (root || document).querySelectorAll(selector).forEach(fn);
  }

  function setText(el, value) {
    const text = value === null || value === undefined || value === "" ? DASH : String(value);
    if (el.textContent !== text) el.textContent = text;
  }

  function setState(el, state) {
    el.className = el.className.replace(/\bstate-[a-z0-9-]+/g, "").trim() + " state-" + state;
    el.dataset.state = state;
  }

  // Poll a JSON URL every few seconds while the page is visible.
  function poll(url, seconds, apply) {
    let busy = false;
    async function tick() {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const response = await fetch(url, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        if (response.ok) apply(await response.json());
      } catch (error) {
        // Network hiccup: the next tick tries again.
      } finally {
        busy = false;
      }
    }
    window.setInterval(tick, Math.max(2, seconds) * 1000);
  }

  // Selects that submit their form on change (filters, site picker).
  each("[data-autosubmit]", (el) => el.addEventListener("change", () => el.form.submit()));

  // A form sends once: a double-click or a second Enter does nothing.
  each("form[data-once]", (form) => {
    form.addEventListener("submit", (event) => {
      if (form.dataset.sent) {
        event.preventDefault();
        return;
      }
      form.dataset.sent = "1";
      // Disable after the browser has read the clicked button's name.
      window.setTimeout(() => each("button[type=submit]", (b) => (b.disabled = true), form), 0);
    });
  });

  // Coming back with the browser's Back button restores the page as it was: sendable again.
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    each("form[data-once]", (form) => {
      delete form.dataset.sent;
      each("button[type=submit]", (b) => (b.disabled = false), form);
    });
  });

  each("[data-print]", (el) => el.addEventListener("click", () => window.print()));

  // Monitor grid: selection for batch actions.
  const batch = document.getElementById("batch-form");
  if (batch) {
    const picks = () => document.querySelectorAll("input.pick");
    const update = () => {
      const n = Array.from(picks()).filter((p) => p.checked).length;
      setText(document.getElementById("selected-count"), n);
      each("[data-needs-selection]", (b) => (b.disabled = n === 0), batch);
    };
    document.addEventListener("change", (event) => {
      if (event.target.classList && event.target.classList.contains("pick")) update();
    });
    each("[data-select]", (button) =>
      button.addEventListener("click", () => {
        const on = button.dataset.select === "all";
        picks().forEach((p) => (p.checked = on));
        update();
      })
    );
    update();
  }

  // Monitor grid: live tiles.
  const tiles = document.getElementById("tiles");
  if (tiles && tiles.dataset.refreshUrl) {
    poll(tiles.dataset.refreshUrl, Number(tiles.dataset.refreshSeconds || 5), (data) => {
      data.tiles.forEach((t) => {
        const tile = tiles.querySelector('[data-point="' + t.id + '"]');
        if (!tile) return;
        if (tile.dataset.state !== t.state) setState(tile, t.state);
        each("[data-field]", (el) => {
          const field = el.dataset.field;
          if (field === "busy") el.hidden = !t.busy;
          else setText(el, t[field]);
        }, tile);
      });
      // A state nobody is in any more is absent from the counts: it shows 0, not its old count.
      each("[data-count]", (el) => setText(el, data.counts[el.dataset.count] || 0));
    });
  }

  // Room page: live values and command statuses.
  const live = document.getElementById("live");
  if (live && live.dataset.liveUrl) {
    poll(live.dataset.liveUrl, Number(live.dataset.refreshSeconds || 5), (data) => {
      each("[data-live]", (el) => setText(el, data.values[el.dataset.live]));
      each("[data-live-state]", (el) => setState(el, data.values[el.dataset.liveState]));
      data.commands.forEach((c) => {
        const row = document.querySelector('[data-command="' + c.id + '"]');
        if (!row) return;
        const status = row.querySelector("[data-status]");
        status.className = "status status-" + c.status;
        setText(status, c.status_label);
        const failure = row.querySelector("[data-failure]");
        if (failure) failure.textContent = c.failure || "";
        // Only a pending command can be cancelled: once sent, its Cancel link goes.
        const cancel = row.querySelector("[data-cancel]");
        if (cancel) cancel.hidden = c.status !== "pending";
      });
    });
  }
})();
