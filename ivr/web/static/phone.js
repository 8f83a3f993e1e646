// The browser phone (/phone): places a call through /phone/api, collects keys the way
// Twilio's <Gather> does (numDigits, finishOnKey, the timeout between keys), speaks the
// prompts (recordings through <audio>, said parts through the browser's speech synthesis),
// and draws the call on the flow's diagram. The token the page was opened with (?token=)
// goes with every request as a Bearer token.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const token = new URLSearchParams(location.search).get("token");
  const auth = token ? { Authorization: "Bearer " + token } : {};
  if (token) $("agents-link").href = "/agent/?token=" + encodeURIComponent(token);

  const LANG_NAMES = { "zh-CN": "中文 Chinese", "en-US": "English" };
  const POLL_MS = 1500; // how often a live call is read back (an agent may pick it up)
  const HOLD_MS = 10000; // a waiting caller hears the hold document again this often

  let call = null; // the call as the server last described it
  let seen = 0; // transcript turns shown
  let keys = ""; // keys pressed but not yet sent (the <Gather> is still collecting)
  let keyTimer = null;
  let busy = Promise.resolve();
  let lastHold = 0;
  let zoom = 0.6; // the diagram's scale (the hotline's is several thousand pixels wide)
  let nodes = new Map(); // state id -> its <g> in the diagram
  let diagrams = {}; // flow name -> its Mermaid source
  let mainFlow = null; // the flow an inbound call runs
  let drawn = null; // the flow drawn now
  let ring = null; // the callback ringing the page, as the server described it
  let awaited = 0; // callbacks of the chosen caller still to be placed or in progress
  let edges = []; // [source, target, element]

  // -- talking to the server ---------------------------------------------------------------

  async function api(method, path, body) {
    const options = { method, headers: Object.assign({}, auth) };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const reply = await fetch("/phone/api" + path, options);
    const data = await reply.json();
    if (!reply.ok) throw new Error(data.error || reply.statusText);
    return data;
  }

  function serial(work) {
    busy = busy.then(work, work);
    return busy;
  }

  function showError(error) {
    $("error").textContent = error ? String(error.message || error) : "";
  }

  async function act(action, value) {
    if (!call) return;
    stopSound(); // the caller acting cuts the prompt off, as on a phone
    return serial(async () => {
      if (!call || call.ended) return; // ended while this waited its turn (a hold, say)
      try {
        showError("");
        apply(await api("POST", `/calls/${call.id}/${action}`, { value: value || "", since: seen }));
      } catch (error) {
        showError(error);
        await refresh();
      }
    });
  }

  async function refresh() {
    if (!call) return;
    try {
      apply(await api("GET", `/calls/${call.id}?since=${seen}`));
    } catch (error) {
      showError(error);
    }
  }

  // -- placing a call ----------------------------------------------------------------------

  async function setup() {
    const data = await api("GET", "/setup");
    $("flow-name").textContent = data.flow;
    mainFlow = drawn = data.flow;
    diagrams = Object.assign({ [data.flow]: data.diagram }, data.diagrams || {});
    const caller = $("caller");
    for (const c of data.callers) {
      const option = new Option(`${c.name} ${c.name_en} · ${c.phone} · ${c.status}`, c.phone);
      option.lang = "zh-CN";
      caller.add(option);
    }
    caller.add(new Option("Another number…", ""));
    const lang = $("lang");
    for (const code of data.languages) lang.add(new Option(LANG_NAMES[code] || code, code));
    lang.add(new Option("Choose at the menu", ""));
    $("at-zone").textContent = `(${data.timezone}, optional)`;
    $("at").value = "";
    $("at").placeholder = data.now.slice(0, 16);
    if (!data.can_choose_time) {
      $("at").disabled = true;
      $("at-help").textContent = "This server cannot place a call at another time.";
    }
    await drawDiagram(data.diagram);
  }

  function chosenNumber() {
    return $("caller").value || $("number").value.trim();
  }

  function chosenTime() {
    // The hotline's wall-clock time: the server reads it in the flow's timezone.
    return $("at").value || null;
  }

  async function dial(event) {
    event.preventDefault();
    if (call && !call.ended) await act("hangup");
    showError("");
    $("transcript").replaceChildren();
    $("ended").hidden = true;
    $("script").hidden = $("script-help").hidden = $("download").hidden = true;
    seen = 0;
    keys = "";
    $("call").disabled = true;
    try {
      call = null;
      call = await api("POST", "/calls", {
        from: chosenNumber(),
        lang: $("lang").value || null,
        at: chosenTime(),
      });
      seen = 0;
      apply(call);
      $("say").value = "";
      document.querySelector(".keypad .key").focus({ preventScroll: true });
    } catch (error) {
      showError(error);
    } finally {
      $("call").disabled = false;
    }
  }

  // -- showing the call --------------------------------------------------------------------

  function apply(data) {
    call = data;
    for (const turn of data.turns) addTurn(turn);
    seen = data.next;
    $("state").textContent = data.state || "—";
    const waiting = data.ended ? null : data.waiting_for;
    $("status").textContent = data.ended
      ? `The call ${data.outcome ? data.outcome.text : "ended"}.`
      : {
          gather: "Listening for keys" + (data.gather && data.gather.input.includes("speech") ? " or speech." : "."),
          record: "Recording after the beep.",
          queue: "Waiting for an agent (an agent can pick up on the Waiting callers page).",
          dial: "Ringing the dialled phone.",
        }[waiting] || "In a call.";
    const listening = waiting === "gather" || waiting === "record";
    document.querySelectorAll(".keypad .key").forEach((key) => (key.disabled = !listening));
    $("say").disabled = $("say-button").disabled = waiting !== "gather";
    $("silence").disabled = !listening;
    $("hold").hidden = waiting !== "queue";
    $("record").hidden = waiting !== "record";
    $("answer").hidden = waiting !== "dial";
    $("hangup").disabled = data.ended;
    const flow = data.flow || mainFlow;
    if (flow !== drawn && diagrams[flow]) {
      drawn = flow;
      $("flow-name").textContent = flow;
      drawDiagram(diagrams[flow]).catch(showError);
    }
    highlight(data.path, data.state);
    if (data.ended) showEnd(data);
  }

  // -- callbacks: booked, the dialer, a callback ringing the page ----------------------------

  async function callbacks(path, body) {
    const phone = chosenNumber();
    if (!phone) return;
    const data = body
      ? await api("POST", path, Object.assign({ phone }, body))
      : await api("GET", `${path}?phone=${encodeURIComponent(phone)}`);
    if (phone !== chosenNumber()) return;
    showCallbacks(data);
  }

  function showCallbacks(data) {
    $("dial-time").textContent = data.dial_time.replace("T", " ");
    $("run-due").disabled = $("run-later").disabled = !data.can_move_time;
    const list = $("callbacks");
    list.replaceChildren();
    for (const c of data.callbacks) {
      const item = document.createElement("li");
      const tries = c.attempts.map((a) => a.outcome || "ringing").join(", ");
      item.textContent = `#${c.id} for ${c.queue}${c.issue ? " about " + c.issue : ""}: ${c.status}`
        + (c.status === "pending" ? `, from ${c.earliest_local.replace("T", " ")}` : "")
        + (tries ? ` (attempts: ${tries})` : "") + (c.ticket ? `, ticket ${c.ticket}` : "");
      list.append(item);
    }
    const waiting = data.callbacks.filter((c) => c.status === "pending" || c.status === "dialing");
    awaited = waiting.length;
    $("callbacks-status").textContent = !data.callbacks.length
      ? "No callback booked for this caller."
      : waiting.length
        ? `${waiting.length} callback(s) waiting` + (data.next_due ? `; the next is due at ${data.next_due.slice(0, 16).replace("T", " ")}.` : ".")
        : "No callback waiting.";
    showRinging(data.ringing[0] || null);
  }

  function showRinging(next) {
    const free = !call || call.ended;
    const fresh = next && (!ring || ring.call_sid !== next.call_sid);
    ring = next && free ? next : null;
    $("ringing").hidden = !ring;
    if (!ring) return;
    if (fresh) $("ringing").scrollIntoView({ block: "center" });
    $("ringing-from").textContent = ring.from;
    $("ringing-about").textContent = `The hotline calls back (callback #${ring.callback}, attempt ${ring.attempt}).`;
    $("status").textContent = "Ringing: a callback.";
  }

  async function pickUp(how) {
    if (!ring) return;
    const sid = ring.call_sid;
    ring = null;
    $("ringing").hidden = true;
    return serial(async () => {
      try {
        showError("");
        $("transcript").replaceChildren();
        $("ended").hidden = true;
        $("script").hidden = $("script-help").hidden = $("download").hidden = true;
        seen = 0;
        keys = "";
        call = null;
        const reply = await api("POST", `/ringing/${sid}/${how}`, {});
        seen = 0;
        apply(reply);
        await callbacks("/callbacks");
      } catch (error) {
        showError(error);
      }
    });
  }

  function addTurn(turn) {
    const item = document.createElement("li");
    item.className = turn.speaker;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = turn.speaker === "ivr" ? "IVR" : "You";
    const text = document.createElement("span");
    text.textContent = describeTurn(turn);
    if (turn.language) text.lang = turn.language;
    item.append(who, text);
    if (turn.state) {
      const where = document.createElement("span");
      where.className = "where";
      where.textContent = turn.state;
      item.append(where);
    }
    const list = $("transcript");
    list.append(item);
    list.scrollTop = list.scrollHeight; // the list scrolls, not the page
    if (turn.speaker === "ivr") speak(turn);
  }

  function describeTurn(turn) {
    switch (turn.kind) {
      case "press": return `pressed ${turn.text}`;
      case "speech": return `said “${turn.text}”`;
      case "silence": return "(silence)";
      case "hold": return "(waiting: the hold message plays)";
      case "agent": return `(an agent talks: ${turn.text})`;
      case "record": return `(left a message: ${turn.text})`;
      case "hangup": return "(hung up)";
      case "pause": return "(pause)";
      case "beep": return "(beep)";
      case "play": return turn.text + (turn.cut ? " …" : "");
      default: return turn.text + (turn.cut ? " …" : "");
    }
  }

  function showEnd(data) {
    clearTimeout(keyTimer);
    keys = "";
    $("keys").textContent = "";
    $("outcome").textContent = data.outcome ? data.outcome.text : "ended";
    const effects = $("effects");
    effects.replaceChildren();
    for (const effect of data.effects.length ? data.effects : ["no lasting effect"]) {
      const item = document.createElement("li");
      item.textContent = effect;
      effects.append(item);
    }
    $("ended").hidden = false;
    $("save").hidden = data.callback !== null && data.callback !== undefined;
    callbacks("/callbacks").catch(showError);
  }

  async function save() {
    if (!call) return;
    const reply = await fetch(`/phone/api/calls/${call.id}/script`, { headers: auth });
    const text = await reply.text();
    if (!reply.ok) return showError(text);
    $("script").textContent = text;
    $("script").hidden = $("script-help").hidden = false;
    const link = $("download");
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([text], { type: "application/yaml" }));
    link.download = `phone_${call.caller.replace("+", "")}.yaml`;
    link.hidden = false;
  }

  // -- keys, as a <Gather> collects them ----------------------------------------------------

  function pressKey(key) {
    if (!call || call.ended) return;
    const button = document.querySelector(`.key[data-key="${CSS.escape(key)}"]`);
    if (!button || button.disabled) return;
    button.classList.add("pressed");
    setTimeout(() => button.classList.remove("pressed"), 150);
    stopSound();
    if (call.waiting_for === "record") return act("press", key);
    const gather = call.gather || { num_digits: 1, finish_on_key: "#", timeout: 5 };
    keys += key;
    $("keys").textContent = keys;
    clearTimeout(keyTimer);
    const finished = gather.finish_on_key && gather.finish_on_key.includes(key);
    if (finished || (gather.num_digits && keys.replace(/#$/, "").length >= gather.num_digits)) {
      sendKeys();
    } else {
      keyTimer = setTimeout(sendKeys, gather.timeout * 1000);
    }
  }

  function sendKeys() {
    clearTimeout(keyTimer);
    const pressed = keys;
    keys = "";
    $("keys").textContent = "";
    if (pressed) act("press", pressed);
  }

  document.addEventListener("keydown", (event) => {
    const typing = event.target.closest("input, select, textarea");
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (/^[0-9*#]$/.test(event.key)) {
      event.preventDefault();
      pressKey(event.key);
    }
  });

  // -- sound: recordings through <audio>, said parts through speech synthesis -------------

  const sounds = [];
  let playing = null;
  const audio = new Audio();

  function speak(turn) {
    if ($("mute").checked) return;
    if (turn.kind === "play" && turn.audio) sounds.push({ url: turn.audio });
    else if (turn.kind === "say" && turn.text) sounds.push({ text: turn.text, lang: turn.language });
    else return;
    if (!playing) next();
  }

  function next() {
    playing = sounds.shift() || null;
    if (!playing) return;
    const done = () => { if (playing === item) next(); };
    const item = playing;
    if (item.url) {
      audio.src = item.url;
      audio.onended = audio.onerror = done;
      audio.play().catch(done); // autoplay refused, or no sound device: go on silently
    } else if ("speechSynthesis" in window) {
      const said = new SpeechSynthesisUtterance(item.text);
      if (item.lang) said.lang = item.lang; // else the browser's own language
      said.onend = said.onerror = done;
      speechSynthesis.speak(said);
      // Some browsers never end an utterance they cannot voice: go on after its length.
      setTimeout(done, 1500 + item.text.length * 180);
    } else {
      done();
    }
  }

  function stopSound() {
    sounds.length = 0;
    playing = null;
    audio.pause();
    if ("speechSynthesis" in window) speechSynthesis.cancel();
  }

  // -- the diagram -------------------------------------------------------------------------

  async function drawDiagram(source) {
    if (!window.mermaid) return;
    mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "default",
      flowchart: { useMaxWidth: false } });
    const { svg } = await mermaid.render("flow-diagram", source);
    $("diagram").innerHTML = svg; // mermaid's own output, sanitised by securityLevel strict
    nodes = new Map();
    $("diagram").querySelectorAll("g.node").forEach((g) => {
      const match = /flowchart-(.+)-\d+$/.exec(g.id);
      if (match) nodes.set(match[1], g);
    });
    edges = [];
    $("diagram").querySelectorAll("path[data-id], path[id^='L_'], path[id*='-L_']").forEach((p) => {
      const id = p.dataset.id || p.id;
      edges.push([id, p]);
    });
    scale(zoom);
    if (call) highlight(call.path, call.state);
  }

  function scale(factor) {
    const svg = $("diagram").querySelector("svg");
    if (!svg || !svg.viewBox.baseVal) return;
    zoom = Math.min(2, Math.max(0.1, factor));
    svg.style.width = svg.viewBox.baseVal.width * zoom + "px";
    svg.removeAttribute("height");
  }

  function fit() {
    const svg = $("diagram").querySelector("svg");
    if (svg) scale(($("diagram").clientWidth - 4) / svg.viewBox.baseVal.width);
  }

  // Mermaid puts each class's style on the shapes inline (with !important), so the path and
  // the current state are painted inline too, over the style it gave (kept to put back).
  const PATH_STYLE = { stroke: "#7c3aed", "stroke-width": "4px" };
  const EDGE_STYLE = { stroke: "#7c3aed", "stroke-width": "4px", "stroke-dasharray": "none" };
  const CURRENT_STYLE = { stroke: "#dc2626", "stroke-width": "7px", fill: "#fee2e2" };

  function paint(g, style) {
    const shapes = g.matches("path") ? [g] : g.querySelectorAll("rect, polygon, circle, ellipse, path");
    shapes.forEach((shape) => {
      if (shape.dataset.style === undefined) shape.dataset.style = shape.getAttribute("style") || "";
      shape.setAttribute("style", shape.dataset.style);
      for (const [name, value] of Object.entries(style || {})) {
        shape.style.setProperty(name, value, "important");
      }
    });
  }

  function highlight(path, state) {
    nodes.forEach((g) => {
      if (g.classList.contains("on-path")) paint(g, null);
      g.classList.remove("on-path", "is-current");
    });
    edges.forEach(([, p]) => {
      if (p.classList.contains("on-path")) paint(p, null);
      p.classList.remove("on-path");
    });
    // States the diagram has (the hold music reports "hold", which is no state of the flow).
    const way = ["_incoming", ...(path || [])].filter((id) => nodes.has(id));
    for (const id of way) {
      const g = nodes.get(id);
      if (g) {
        g.classList.add("on-path");
        paint(g, id === state ? CURRENT_STYLE : PATH_STYLE);
      }
    }
    for (let i = 1; i < way.length; i++) {
      const tag = `L_${way[i - 1]}_${way[i]}_`;
      for (const [id, p] of edges) {
        if (id.includes(tag)) {
          p.classList.add("on-path");
          paint(p, EDGE_STYLE);
        }
      }
    }
    const current = nodes.get(state);
    if (current) {
      current.classList.add("is-current");
      paint(current, CURRENT_STYLE);
      const box = $("diagram");
      const at = current.getBoundingClientRect();
      const frame = box.getBoundingClientRect();
      if (at.left < frame.left || at.right > frame.right || at.top < frame.top || at.bottom > frame.bottom) {
        box.scrollBy({ left: at.left - frame.left - frame.width / 3, top: at.top - frame.top - frame.height / 3 });
      }
    }
  }

  // -- wiring ------------------------------------------------------------------------------

  $("dial-form").addEventListener("submit", dial);
  $("caller").addEventListener("change", () => {
    $("number-field").hidden = $("caller").value !== "";
    if (!$("number-field").hidden) $("number").focus();
  });
  document.querySelector(".keypad").addEventListener("click", (event) => {
    const key = event.target.closest(".key");
    if (key) pressKey(key.dataset.key);
  });
  $("say-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const words = $("say").value.trim();
    if (!words) return;
    $("say").value = "";
    act("say", words);
  });
  $("silence").addEventListener("click", () => { keys = ""; act("silence"); });
  $("hold").addEventListener("click", () => { lastHold = Date.now(); act("hold"); });
  $("record").addEventListener("click", () => act("record"));
  $("answer").addEventListener("click", () => act("dial"));
  $("hangup").addEventListener("click", () => act("hangup"));
  $("save").addEventListener("click", save);
  const runDialer = (body) => () => {
    showError("");
    callbacks("/callbacks/run", body).catch(showError);
  };
  $("run-due").addEventListener("click", runDialer({ until_due: true }));
  $("run-later").addEventListener("click", runDialer({ advance: 600 }));
  $("run-now").addEventListener("click", runDialer({}));
  $("ringing").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-how]");
    if (button) pickUp(button.dataset.how);
  });
  $("caller").addEventListener("change", () => callbacks("/callbacks").catch(showError));
  $("number").addEventListener("change", () => callbacks("/callbacks").catch(showError));
  $("zoom-in").addEventListener("click", () => scale(zoom * 1.25));
  $("zoom-out").addEventListener("click", () => scale(zoom / 1.25));
  $("zoom-fit").addEventListener("click", fit);
  $("mute").addEventListener("change", () => { if ($("mute").checked) stopSound(); });

  // While the caller waits, the hold music plays on: a hold cycle every HOLD_MS, and a
  // question in it (a callback offer) times out, as Twilio's <Gather> does, unless answered.
  setInterval(() => {
    if (!call || call.ended) {
      // Between calls, while a callback of the caller waits, the page listens for it
      // ringing; unanswered, the server rings it out after Twilio's ring time.
      if (awaited) serial(() => callbacks("/callbacks").catch(() => {}));
      return;
    }
    const quiet = Date.now() - lastHold;
    if (call.waiting_for === "queue" && quiet > HOLD_MS) {
      lastHold = Date.now();
      act("hold");
    } else if (call.in_queue && call.waiting_for === "gather" && !keys
               && quiet > HOLD_MS + (call.gather ? call.gather.timeout * 1000 : 0)) {
      lastHold = Date.now();
      act("silence");
    } else {
      serial(refresh);
    }
  }, POLL_MS);

  // Closing the page hangs the call up, so that no caller is left waiting for an agent.
  window.addEventListener("pagehide", () => {
    if (!call || call.ended) return;
    fetch(`/phone/api/calls/${call.id}/hangup`, {
      method: "POST",
      keepalive: true,
      headers: Object.assign({ "Content-Type": "application/json" }, auth),
      body: "{}",
    }).catch(() => {});
  });

  setup().then(() => callbacks("/callbacks")).catch(showError);
})();
