// The agent page: waiting times tick every second, the list refreshes itself, and a
// browser phone call is picked up with its button. The token the page was opened with
// (?token=) goes with every request as a Bearer token.
"use strict";
(function () {
  const token = new URLSearchParams(location.search).get("token");
  const headers = token ? { Authorization: "Bearer " + token } : {};
  let loaded = Date.now(); // when the waiting times on the page were measured

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function tick() {
    const gone = (Date.now() - loaded) / 1000;
    document.querySelectorAll(".tick[data-waited]").forEach((cell) => {
      cell.textContent = clock(Number(cell.dataset.waited) + gone);
    });
  }

  function say(text, ok) {
    const status = document.getElementById("status");
    status.textContent = text;
    status.className = ok ? "muted" : "error";
  }

  async function refresh() {
    let page;
    try {
      const reply = await fetch(location.pathname + location.search, { headers });
      if (!reply.ok) return;
      page = new DOMParser().parseFromString(await reply.text(), "text/html");
    } catch (error) {
      return; // the server may be restarting: the next refresh tries again
    }
    const fresh = page.getElementById("queue");
    if (!fresh) return;
    const status = document.getElementById("status");
    fresh.querySelector("#status").replaceWith(status);
    document.getElementById("queue").replaceWith(fresh);
    document.title = page.title;
    document.querySelector("header.bar h1").textContent = page.title;
    loaded = Date.now();
  }

  async function pickup(button) {
    button.disabled = true;
    say("", true);
    try {
      const reply = await fetch("/agent/answer", {
        method: "POST",
        headers: Object.assign({ "Content-Type": "application/json" }, headers),
        body: JSON.stringify({ call_sid: button.dataset.call, queue: button.dataset.queue }),
      });
      const body = await reply.json();
      say(reply.ok ? "Picked up: the caller is connected." : body.error, reply.ok);
    } catch (error) {
      say("The server did not answer: " + error, false);
    }
    await refresh();
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.pickup");
    if (button) pickup(button);
  });
  const every = Number(document.getElementById("queue").dataset.refresh || 5) * 1000;
  setInterval(tick, 1000);
  setInterval(refresh, every);
})();
