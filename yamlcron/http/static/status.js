// The status page's one script (no build step): refresh in place, and the actions.
// The pages read whole without it; it adds what needs it: a refresh that keeps the place
// (scroll, focus, what is being typed), and trigger / pause / resume through the JSON API
// with the token the person types once (kept in sessionStorage: this tab only).
(() => {
  "use strict";
  const root = document.querySelector('meta[name="yamlcron-root"]').content;
  const kept = window.sessionStorage;
  const TOKEN = "yamlcron-token";
  const AUTO = "yamlcron-auto-refresh";
  const $ = (id) => document.getElementById(id);
  const result = $("action-result");

  function say(text, bad) {
    result.textContent = text;
    result.classList.toggle("bad", Boolean(bad));
  }

  // What needs the script is hidden in the HTML; show it, and the buttons once a token is in.
  function reveal() {
    const has = Boolean(kept.getItem(TOKEN));
    for (const el of document.querySelectorAll(".js-only")) el.hidden = false;
    $("token-form").hidden = has;
    $("token-set").hidden = !has;
    for (const el of document.querySelectorAll(".actions .buttons")) el.hidden = !has;
    for (const el of document.querySelectorAll(".actions .token-needed")) el.hidden = has;
  }

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token").value.trim();
    if (!value) return;
    kept.setItem(TOKEN, value);
    $("token").value = "";
    reveal();
    say("Token kept for this tab: the job pages offer Run now, Pause and Resume.");
  });
  $("token-forget").addEventListener("click", () => {
    kept.removeItem(TOKEN);
    reveal();
    say("Token forgotten.");
    $("token").focus();
  });

  const DONE = {
    trigger: (job) => `Triggered ${job}: its run appears below in a moment.`,
    pause: (job) => `Paused ${job}.`,
    resume: (job) => `Resumed ${job}.`,
  };

  async function act(button) {
    const job = button.closest("[data-job]").dataset.job;
    const action = button.dataset.action;
    const address = `${root}api/v1/jobs/${encodeURIComponent(job)}/${action}`;
    button.disabled = true;
    say(`${action}: sending…`);
    try {
      const answer = await fetch(address, {
        method: "POST",
        headers: { Authorization: `Bearer ${kept.getItem(TOKEN)}` },
      });
      let detail = "";
      try {
        detail = (await answer.json()).error || "";
      } catch (_) {
        // no JSON body: the status says enough
      }
      if (answer.ok) {
        say(DONE[action](job));
        soon();
      } else if (answer.status === 401) {
        kept.removeItem(TOKEN);
        reveal();
        say(`The token was refused (401): type it again. ${detail}`, true);
      } else if (answer.status === 403) {
        say(`Actions are off: the daemon has no token configured (403). ${detail}`, true);
      } else {
        say(`${action} failed (${answer.status}): ${detail}`, true);
      }
    } catch (error) {
      say(`${action} failed: ${error}`, true);
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button) act(button);
  });

  // A selector that finds the focused element again in the refreshed content.
  function keyOf(element) {
    if (element.matches("a[href]")) return `a[href="${CSS.escape(element.getAttribute("href"))}"]`;
    if (element.matches("[data-action]")) return `[data-action="${element.dataset.action}"]`;
    if (element.id) return `#${CSS.escape(element.id)}`;
    return null;
  }

  async function refresh() {
    const main = $("main");
    const active = document.activeElement;
    const inside = active && active !== main && main.contains(active);
    // Someone typing in a filter, or selecting text to copy: not now.
    if (inside && active.matches("input, select, textarea")) return;
    if (String(window.getSelection())) return;
    const answer = await fetch(window.location.href, { headers: { Accept: "text/html" } });
    if (!answer.ok) return;
    const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
    const content = fresh.getElementById("main");
    if (!content) return;
    const key = inside ? keyOf(active) : null;
    main.replaceChildren(...content.childNodes);
    const footer = fresh.querySelector("footer p");
    if (footer) document.querySelector("footer p").replaceWith(footer);
    reveal();
    const again = key && main.querySelector(key);
    if (again) again.focus({ preventScroll: true });
  }

  const every = Number(document.body.dataset.refresh || 0);
  const auto = $("auto-refresh");
  auto.checked = kept.getItem(AUTO) !== "off";
  auto.addEventListener("change", () => kept.setItem(AUTO, auto.checked ? "on" : "off"));

  function quietly() {
    return refresh().catch(() => {
      // the daemon restarting, say: the next refresh tries again
    });
  }

  // After an action: a few quick refreshes, so the new run shows up without waiting.
  function soon() {
    for (const ms of [300, 1000, 2500]) setTimeout(quietly, ms);
  }

  function tick() {
    (auto.checked ? quietly() : Promise.resolve()).finally(() => setTimeout(tick, every * 1000));
  }

  reveal();
  if (every > 0) {
    setTimeout(tick, every * 1000);
  } else {
    auto.closest("p").hidden = true;
  }
})();
