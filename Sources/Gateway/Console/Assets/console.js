// reelgate console (SPEC §17): plain JavaScript, no build step, no dependencies.
//
// Safety rule: every value that comes from the API (prompts, errors, URLs, key names) reaches the
// page through `textContent` or an attribute set by `el`, never parsed as HTML (a test checks
// that no HTML sink is used). No inline script or style either: the Content-Security-Policy
// forbids them.
"use strict";

(function () {
  const REFRESH_MS = 2000;         // lists and running tasks
  const SLOW_REFRESH_MS = 10000;   // figures, and a task that has settled
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
  const STATES = ["queued", "dispatching", "running", "fetching", "delivering", "succeeded", "failed", "cancelled"];

  let session = null;       // {name, role, csrfToken, expiresAt}
  let timer = null;         // the current page's refresh
  let pageToken = 0;        // bumps on every navigation: late replies of a page left are dropped

  // ---- DOM helpers ------------------------------------------------------------------------

  /** Makes an element; children are nodes or text (strings and numbers become text nodes). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else if (name === "onclick" || name === "onsubmit" || name === "onchange" || name === "oninput") node.addEventListener(name.slice(2), value);
      else if (name === "href") node.setAttribute("href", safeHref(value));
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  /** Links go to the console's own pages or to same-origin media; anything else is dropped. */
  function safeHref(value) {
    const text = String(value);
    if (text.startsWith("#/")) return text;
    try {
      const url = new URL(text, location.href);
      if (url.origin === location.origin) return url.href;
    } catch (_) { /* not a URL */ }
    return "#";
  }

  function replace(node, ...children) {
    node.replaceChildren();
    append(node, children);
  }

  /**
   * Makes `node`'s children look like `children`, keeping every existing node that already
   * looks right: a refresh then leaves focus, text selection and a playing video alone.
   */
  function patch(node, ...children) {
    const wanted = [];
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      wanted.push(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    for (let i = 0; i < wanted.length; i++) {
      const have = node.childNodes[i];
      const want = wanted[i];
      if (have === want) continue;
      if (!have) { node.appendChild(want); continue; }
      if (have.nodeType === Node.TEXT_NODE && want.nodeType === Node.TEXT_NODE) {
        if (have.nodeValue !== want.nodeValue) have.nodeValue = want.nodeValue;
      } else if (have.nodeType === Node.ELEMENT_NODE && want.nodeType === Node.ELEMENT_NODE && sameShell(have, want)) {
        patch(have, Array.from(want.childNodes));
      } else {
        node.replaceChild(want, have);
      }
    }
    while (node.childNodes.length > wanted.length) node.removeChild(node.lastChild);
  }

  /** Same tag and attributes (an element patched in place keeps its listeners: they are built alike). */
  function sameShell(a, b) {
    if (a.tagName !== b.tagName || a.attributes.length !== b.attributes.length || a.tagName === "VIDEO") return a === b;
    for (const attr of b.attributes) if (a.getAttribute(attr.name) !== attr.value) return false;
    return true;
  }

  function say(text) {
    const status = document.getElementById("status");
    status.textContent = text;
    if (text) setTimeout(() => { if (status.textContent === text) status.textContent = ""; }, 5000);
  }

  function stateBadge(state) {
    return el("span", { class: "state " + String(state).replace(/[^A-Za-z]/g, "") }, String(state));
  }

  // ---- formatting -------------------------------------------------------------------------

  function seconds(value) {
    if (value === null || value === undefined || !isFinite(value)) return "–";
    const s = Math.max(0, value);
    if (s < 1) return (s * 1000).toFixed(0) + " ms";
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + Math.floor(s % 60) + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  }

  function when(epoch) {
    if (!epoch) return "–";
    const d = new Date(epoch * 1000);
    return d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function timeEl(epoch) {
    return el("time", { datetime: epoch ? new Date(epoch * 1000).toISOString() : null }, when(epoch));
  }

  const now = () => Date.now() / 1000;

  function duration(task) {
    const end = TERMINAL.has(task.state) ? task.updatedAt : now();
    return seconds(end - task.createdAt);
  }

  function money(value) {
    return typeof value === "number" ? "$" + value.toFixed(4) : "–";
  }

  function short(uuid) { return String(uuid || "").slice(0, 8); }

  // ---- the API ----------------------------------------------------------------------------

  class APIError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  async function api(method, path, body, retried) {
    const headers = { "Accept": "application/json" };
    if (method !== "GET" && session) headers["X-CSRF-Token"] = session.csrfToken;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method, headers, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 204) return null;
    let json = null;
    try { json = await response.json(); } catch (_) { /* not JSON */ }
    if (!response.ok) {
      const first = json && Array.isArray(json.errors) && json.errors[0] ? json.errors[0] : {};
      const error = new APIError(response.status, first.code || "httpError", first.message || ("HTTP " + response.status));
      // Another tab signed in since this one read its token: read it again, and try once more.
      if (error.code === "invalidCsrfToken" && !retried) {
        const current = await api("GET", "/console/session");
        signedIn(current);
        return api(method, path, body, true);
      }
      if (response.status === 401 && path !== "/console/session") signedOut("Your session has ended; sign in again.");
      throw error;
    }
    return json;
  }

  // ---- session ----------------------------------------------------------------------------

  function signedIn(s) {
    session = s;
    document.getElementById("nav").hidden = false;
    document.getElementById("who").hidden = false;
    document.getElementById("who-name").textContent = s.name + " (" + s.role + ")";
  }

  function signedOut(message) {
    session = null;
    stopRefresh();
    document.getElementById("nav").hidden = true;
    document.getElementById("who").hidden = true;
    go("#/signin");
    if (message) say(message);
  }

  async function signOut() {
    try {
      await api("DELETE", "/console/session");
    } catch (error) {
      if (error.status !== 401) { say("Signing out failed: " + error.message + ". Try again."); return; }
      // 401: the session had ended already.
    }
    signedOut("Signed out.");
  }

  // ---- pages ------------------------------------------------------------------------------

  function stopRefresh() {
    if (timer) clearTimeout(timer);
    timer = null;
  }

  /**
   * Runs `load` now and again while the page is the current one and visible; `load` may return
   * how long to wait next (a settled task is re-read seldom), else REFRESH_MS.
   */
  function every(token, load) {
    const tick = async () => {
      if (token !== pageToken) return;
      let wait = REFRESH_MS;
      if (!document.hidden) {
        try { wait = (await load()) || REFRESH_MS; } catch (error) { if (token === pageToken) showError(error); }
      }
      if (token === pageToken && session) timer = setTimeout(tick, wait);
    };
    tick();
  }

  function showError(error) {
    if (error && error.status === 401) return;
    say(error && error.message ? error.message : String(error));
  }

  function main(title, ...children) {
    const node = document.getElementById("main");
    replace(node, title ? el("h1", {}, title) : null, ...children);
    document.title = (title ? title + " · " : "") + "reelgate console";
    return node;
  }

  function markNav(page) {
    for (const a of document.querySelectorAll("#nav a")) {
      if (a.dataset.page === page) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
  }

  function signInPage() {
    markNav(null);
    const asked = location.hash.startsWith("#/") && !location.hash.startsWith("#/signin") ? location.hash : "#/tasks";
    const error = el("p", { class: "error", role: "alert", hidden: true });
    const input = el("input", { id: "key", name: "key", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
    const form = el("form", {
      onsubmit: async (event) => {
        event.preventDefault();
        error.hidden = true;
        try {
          signedIn(await api("POST", "/console/session", { key: input.value }));
          input.value = "";
          go(asked);
        } catch (e) {
          error.textContent = e.status === 401 ? "That key is not valid." : e.message;
          error.hidden = false;
          input.focus();
        }
      },
    },
      el("label", { for: "key" }, "API key", input),
      el("button", { type: "submit" }, "Sign in"),
      error);
    const node = main(null, el("div", { class: "signin panel" },
      el("h1", {}, "Sign in to reelgate"),
      el("p", { class: "muted" }, "Use an ops key to see every task, or a client key to see that key's tasks. The key is exchanged for a session cookie; it is not kept in the browser."),
      form));
    input.focus();
    return node;
  }

  // The task list: filters, a table that follows the store, and older pages on request.
  function tasksPage(token, params) {
    markNav("tasks");
    const filters = {
      state: params.get("state") || "", model: params.get("model") || "",
      apiKey: params.get("apiKey") || "", since: params.get("since") || "",
    };
    const stateSelect = el("select", { id: "f-state", name: "state" },
      el("option", { value: "" }, "any"), STATES.map((s) => el("option", { value: s, selected: s === filters.state }, s)));
    const modelInput = el("input", { id: "f-model", name: "model", value: filters.model, placeholder: "e.g. google:omni@1", size: 18 });
    const keyInput = el("input", { id: "f-key", name: "apiKey", value: filters.apiKey, placeholder: "key name", size: 12 });
    const sinceSelect = el("select", { id: "f-since", name: "since" },
      [["", "any time"], ["900", "last 15 min"], ["3600", "last hour"], ["86400", "last day"]]
        .map(([v, t]) => el("option", { value: v, selected: v === filters.since }, t)));
    const live = el("span", { class: "live", "aria-live": "off" }, "");
    const apply = (event) => {
      if (event) event.preventDefault();
      const q = new URLSearchParams();
      if (stateSelect.value) q.set("state", stateSelect.value);
      if (modelInput.value.trim()) q.set("model", modelInput.value.trim());
      if (session.role === "ops" && keyInput.value.trim()) q.set("apiKey", keyInput.value.trim());
      if (sinceSelect.value) q.set("since", sinceSelect.value);
      go("#/tasks" + (q.toString() ? "?" + q.toString() : ""));
    };
    const form = el("form", { class: "filters", onsubmit: apply, "aria-label": "Filter tasks" },
      el("label", { for: "f-state" }, "State", stateSelect),
      el("label", { for: "f-model" }, "Model", modelInput),
      session.role === "ops" ? el("label", { for: "f-key" }, "Key", keyInput) : null,
      el("label", { for: "f-since" }, "Created", sinceSelect),
      el("button", { type: "submit" }, "Apply"),
      live);
    stateSelect.addEventListener("change", apply);
    sinceSelect.addEventListener("change", apply);

    const body = el("tbody", { id: "task-rows" });
    const table = el("div", { class: "table-wrap" }, el("table", {},
      el("caption", { class: "sr-only" }, "Tasks, newest first"),
      el("thead", {}, el("tr", {},
        el("th", { scope: "col" }, "Task"), el("th", { scope: "col" }, "State"), el("th", { scope: "col" }, "Model"),
        el("th", { scope: "col" }, "Key"), el("th", { scope: "col", class: "optional" }, "Provider"),
        el("th", { scope: "col", class: "num" }, "Age"), el("th", { scope: "col", class: "num" }, "Duration"),
        el("th", { scope: "col", class: "num optional" }, "Cost"))),
      body));
    const moreButton = el("button", { type: "button", class: "quiet more", hidden: true }, "Older tasks");
    main("Tasks", form, table, moreButton);

    // Every task shown, by id: a refresh updates the newest page's, and "Older tasks" adds
    // pages below; a task pushed off the first page by new ones stays where it was.
    const shown = new Map();
    let cursor = null;
    let olderLoaded = false;

    function query(extra) {
      const q = new URLSearchParams({ limit: "50" });
      if (filters.state) q.set("state", filters.state);
      if (filters.model) q.set("model", filters.model);
      if (filters.apiKey && session.role === "ops") q.set("apiKey", filters.apiKey);
      if (filters.since) q.set("since", String(Math.floor(now() - Number(filters.since))));
      for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
      return "/v1/tasks?" + q.toString();
    }

    function row(task) {
      return el("tr", { "data-task": task.taskUUID },
        el("td", { class: "mono" }, el("a", { href: "#/tasks/" + encodeURIComponent(task.taskUUID), "aria-label": "Task " + task.taskUUID }, short(task.taskUUID))),
        el("td", {}, stateBadge(task.state)),
        el("td", { class: "wrap" }, task.model),
        el("td", {}, task.apiKey),
        el("td", { class: "optional" }, task.provider || "–"),
        el("td", { class: "num" }, seconds(now() - task.createdAt)),
        el("td", { class: "num" }, duration(task)),
        el("td", { class: "num optional" }, money(task.cost)));
    }

    const newestFirst = (a, b) => b.createdAt - a.createdAt || (a.taskUUID < b.taskUUID ? 1 : -1);

    function render() {
      const tasks = Array.from(shown.values()).sort(newestFirst);
      if (tasks.length === 0) patch(body, el("tr", {}, el("td", { colspan: 8, class: "muted" }, "No tasks match.")));
      else patch(body, tasks.map(row));
    }

    moreButton.addEventListener("click", async () => {
      try {
        const page = await api("GET", query({ cursor }));
        for (const task of page.tasks) shown.set(task.taskUUID, task);
        cursor = page.nextCursor || null;
        olderLoaded = true;
        moreButton.hidden = !cursor;
        render();
      } catch (error) { showError(error); }
    });

    every(token, async () => {
      const page = await api("GET", query());
      if (token !== pageToken) return;
      // Within the span the first page covers, it is the truth: a task missing there no longer
      // matches the filters (its state moved on). Older ones stay as loaded.
      const oldest = page.tasks.length ? page.tasks[page.tasks.length - 1] : null;
      for (const [uuid, task] of shown) {
        if (!oldest || page.nextCursor === undefined || newestFirst(task, oldest) <= 0) shown.delete(uuid);
      }
      for (const task of page.tasks) shown.set(task.taskUUID, task);
      if (!olderLoaded) {
        cursor = page.nextCursor || null;
        moreButton.hidden = !cursor;
      }
      render();
      live.textContent = "Updated " + new Date().toLocaleTimeString();
    });
  }

  // One task: facts, results with a player, the event log, deliveries and their attempts.
  function taskPage(token, uuid) {
    markNav("tasks");
    const badge = el("span", { id: "task-state" });
    const cancelButton = el("button", { type: "button", class: "danger", id: "cancel", disabled: true }, "Cancel");
    const redeliverButton = el("button", { type: "button", id: "redeliver", disabled: true }, "Redeliver");
    const heading = el("div", { class: "title-row" }, el("h1", {}, "Task ", el("span", { class: "mono" }, uuid)), badge,
      el("div", { class: "actions" }, cancelButton, redeliverButton));
    const facts = el("dl", { class: "facts" });
    const results = el("div", { class: "results" });
    const timeline = el("ol", { class: "timeline", id: "timeline" });
    const deliveries = el("div", { id: "deliveries" });
    const request = el("pre", { class: "request", id: "request", tabindex: "0" });
    const node = document.getElementById("main");
    replace(node, heading,
      el("div", { class: "grid2" },
        el("section", { class: "panel", "aria-labelledby": "h-facts" }, el("h2", { id: "h-facts" }, "Details"), facts),
        el("section", { class: "panel", "aria-labelledby": "h-timeline" }, el("h2", { id: "h-timeline" }, "Timeline"), timeline)),
      el("section", { "aria-labelledby": "h-results" }, el("h2", { id: "h-results" }, "Results"), results),
      el("section", { "aria-labelledby": "h-deliveries" }, el("h2", { id: "h-deliveries" }, "Deliveries"), deliveries),
      el("section", { "aria-labelledby": "h-request" }, el("h2", { id: "h-request" }, "Request"), request));
    document.title = "Task " + short(uuid) + " · reelgate console";

    const players = new Map();  // videoUUID → the result's element, kept across refreshes so playback goes on
    let task = null;

    cancelButton.addEventListener("click", async () => {
      if (!confirmAction("Cancel task " + uuid + "?")) return;
      cancelButton.disabled = true;
      try { await api("POST", "/v1/tasks/" + encodeURIComponent(uuid) + "/cancel"); say("Cancelled."); await load(); }
      catch (error) { showError(error); cancelButton.disabled = false; }
    });
    redeliverButton.addEventListener("click", async () => {
      redeliverButton.disabled = true;
      try {
        const reply = await api("POST", "/v1/tasks/" + encodeURIComponent(uuid) + "/redeliver");
        say("Redelivering " + reply.deliveries + " deliver" + (reply.deliveries === 1 ? "y" : "ies") + ".");
        await load();
      } catch (error) { showError(error); }
      redeliverButton.disabled = false;
    });

    function fact(name, ...value) { return [el("dt", {}, name), el("dd", {}, ...value)]; }

    function resultCard(result, index) {
      let card = players.get(result.videoUUID);
      if (!card) {
        card = { root: el("article", { class: "result panel", "aria-label": "Result " + (index + 1) }), video: null, info: el("dl", { class: "facts" }) };
        card.root.append(card.info);
        players.set(result.videoUUID, card);
      }
      const source = result.mediaPath || result.videoURL;
      if (source && !card.video) {
        card.video = el("video", { controls: true, preload: "metadata", playsinline: true, muted: true, src: source,
          "aria-label": "Video of result " + (index + 1) });
        card.root.insertBefore(card.video, card.info);
      }
      patch(card.info,
        fact("Video", el("span", { class: "mono" }, result.videoUUID)),
        fact("State", stateBadge(result.state)),
        result.bytes !== undefined ? fact("Size", (result.bytes / 1048576).toFixed(2) + " MiB") : null,
        result.expiresAt ? fact("Link expires", timeEl(result.expiresAt)) : null,
        result.error ? fact("Error", (result.error.code || "") + ": " + (result.error.message || "")) : null,
        fact("Edits", el("a", { href: "#/lineage/" + encodeURIComponent(result.videoUUID) }, "Lineage tree")));
      return card.root;
    }

    function deliveryBlock(d) {
      return el("article", { class: "delivery panel" },
        el("h3", {}, d.kind === "upload" ? "Upload" : "Webhook", stateBadge(d.state), el("span", { class: "muted" }, "to " + d.target)),
        el("dl", { class: "facts" },
          fact("Webhook id", el("span", { class: "mono" }, d.webhookId)),
          d.videoUUID ? fact("Video", el("span", { class: "mono" }, d.videoUUID)) : null,
          d.lastError ? fact("Last error", d.lastError) : null),
        el("div", { class: "table-wrap" }, el("table", {},
          el("caption", { class: "sr-only" }, "Attempts"),
          el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "#"), el("th", { scope: "col" }, "At"), el("th", { scope: "col" }, "Host"),
            el("th", { scope: "col" }, "Outcome"), el("th", { scope: "col", class: "num" }, "Latency"), el("th", { scope: "col" }, "Error"))),
          el("tbody", {}, d.attempts.length === 0
            ? el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No attempt yet."))
            : d.attempts.map((a, i) => el("tr", { class: "attempt" },
              el("td", {}, String(i + 1)), el("td", {}, timeEl(a.at)), el("td", {}, a.targetHost),
              el("td", {}, a.statusCode === null ? "no response" : "HTTP " + a.statusCode),
              el("td", { class: "num" }, a.latencyMs.toFixed(0) + " ms"), el("td", { class: "wrap" }, a.error || ""))))))
      );
    }

    async function load() {
      let t;
      try { t = await api("GET", "/v1/tasks/" + encodeURIComponent(uuid)); }
      catch (error) {
        if (error.status === 404 && token === pageToken) {
          stopRefresh();
          pageToken++;
          main("Task not found", el("p", {}, "No task ", el("span", { class: "mono" }, uuid), " is visible to this key."),
            el("p", {}, el("a", { href: "#/tasks" }, "Back to the task list")));
          return;
        }
        throw error;
      }
      if (token !== pageToken) return;
      task = t;
      patch(badge, stateBadge(t.state));
      cancelButton.disabled = TERMINAL.has(t.state);
      redeliverButton.disabled = !TERMINAL.has(t.state) || t.deliveries.length === 0;
      patch(facts,
        fact("Model", t.model), fact("Key", t.apiKey), fact("Provider", t.provider || "–"),
        fact("Upstream id", t.upstreamId ? el("span", { class: "mono" }, t.upstreamId) : "–"),
        fact("Attempts", String(t.attempts)),
        fact("Created", timeEl(t.createdAt)), fact("Dispatched", timeEl(t.dispatchedAt)),
        fact("Deadline", timeEl(t.deadlineAt)), fact("Duration", duration(t)), fact("Cost", money(t.cost)),
        t.error ? fact("Error", el("strong", {}, t.error.code), ": ", t.error.message) : null,
        t.openaiVideoId ? fact("OpenAI video", el("span", { class: "mono" }, t.openaiVideoId)) : null,
        t.deletedAt ? fact("Deleted", timeEl(t.deletedAt)) : null,
        t.request && t.request.positivePrompt !== undefined ? fact("Prompt", el("span", { class: "prompt" }, String(t.request.positivePrompt))) : null);
      patch(timeline, t.events.map((e, i) => {
        const previous = i > 0 ? t.events[i - 1].at : null;
        return el("li", {}, timeEl(e.at), stateBadge(e.state), e.detail ? " " + e.detail : "",
          previous !== null ? el("span", { class: "muted" }, " (+" + seconds(e.at - previous) + ")") : "");
      }));
      patch(results, t.results.length === 0 ? el("p", { class: "muted" }, "No result yet.") : t.results.map(resultCard));
      patch(deliveries, t.deliveries.length === 0 ? el("p", { class: "muted" }, "This task has no webhook or upload.") : t.deliveries.map(deliveryBlock));
      const text = JSON.stringify(t.request, null, 2);
      if (request.textContent !== text) request.textContent = text;
      // Settled (ended, and no delivery still going): little will change; read it seldom.
      const settled = TERMINAL.has(t.state) && t.deliveries.every((d) => d.state === "delivered" || d.state === "failed");
      return settled ? SLOW_REFRESH_MS : REFRESH_MS;
    }

    every(token, load);
  }

  function confirmAction(question) {
    // A real confirmation would be a dialog of our own; `confirm` is plain and keyboard-usable.
    return window.confirm(question);
  }

  // The edit tree around a video: every node links to its task, the current one is marked.
  function lineagePage(token, video) {
    markNav("tasks");
    main("Lineage", el("p", { class: "muted" }, "Loading…"));
    api("GET", "/v1/videos/" + encodeURIComponent(video) + "/lineage").then((tree) => {
      if (token !== pageToken) return;
      const byVideo = new Map(tree.nodes.map((n) => [n.videoUUID, n]));
      const build = (node, seen) => {
        if (seen.has(node.videoUUID)) return null;
        seen.add(node.videoUUID);
        const current = node.videoUUID === video;
        const label = el("span", { class: "node", "aria-current": current ? "true" : null },
          stateBadge(node.state),
          el("a", { href: "#/tasks/" + encodeURIComponent(node.taskUUID) }, el("span", { class: "prompt" }, node.prompt || "(no prompt)")),
          el("span", { class: "mono muted" }, short(node.videoUUID)),
          current ? el("span", { class: "muted" }, "(this video)") : el("a", { href: "#/lineage/" + encodeURIComponent(node.videoUUID) }, "centre here"));
        const children = node.children.map((c) => byVideo.get(c)).filter(Boolean).map((c) => build(c, seen)).filter(Boolean);
        return el("li", {}, label, children.length ? el("ul", {}, children) : null);
      };
      const root = byVideo.get(tree.root) || tree.nodes[0];
      main("Lineage of " + short(video),
        el("p", { class: "muted" }, "Each edit (a new task with this video as its input) is a child of the video it edits. Select a prompt to open its task."),
        el("div", { class: "panel" }, el("ul", { class: "tree", "aria-label": "Edit tree" }, root ? build(root, new Set()) : null)));
    }).catch((error) => {
      if (token !== pageToken) return;
      main("Lineage", el("p", { class: "error", role: "alert" }, error.message));
    });
  }

  // Headline numbers over a window, and each provider's health (ops keys).
  function overviewPage(token, params) {
    markNav("overview");
    const windowSeconds = ["900", "3600", "86400"].includes(params.get("window")) ? params.get("window") : "3600";
    const select = el("select", { id: "f-window" },
      [["900", "last 15 min"], ["3600", "last hour"], ["86400", "last day"]].map(([v, t]) => el("option", { value: v, selected: v === windowSeconds }, t)));
    select.addEventListener("change", () => { location.hash = "#/overview?window=" + select.value; });
    const cards = el("div", { class: "cards", id: "headline" });
    const states = el("p", { class: "muted" });
    const providers = el("div", { id: "providers" });
    main("Overview",
      el("form", { class: "filters", onsubmit: (e) => e.preventDefault() }, el("label", { for: "f-window" }, "Window", select)),
      el("section", { "aria-labelledby": "h-headline" }, el("h2", { id: "h-headline" }, "Headline numbers"), cards, states),
      session.role === "ops" ? el("section", { "aria-labelledby": "h-providers" }, el("h2", { id: "h-providers" }, "Providers"), providers) : null);

    const card = (label, figure) => el("div", { class: "card" }, el("div", { class: "figure" }, figure), el("div", { class: "label" }, label));
    every(token, async () => {
      const stats = await api("GET", "/v1/stats?windowSeconds=" + windowSeconds);
      if (token !== pageToken) return;
      patch(cards,
        card("tasks per minute", stats.tasksPerMinute.toFixed(stats.tasksPerMinute < 10 ? 2 : 0)),
        card("success rate", stats.successRate === null ? "–" : (stats.successRate * 100).toFixed(1) + " %"),
        card("latency p50", seconds(stats.latencySeconds.p50)),
        card("latency p95", seconds(stats.latencySeconds.p95)),
        card("tasks in window", String(stats.submitted)));
      states.textContent = STATES.map((s) => s + ": " + (stats.byState[s] || 0)).join(" · ") + (stats.sampled ? " (newest tasks only)" : "");
      if (session.role !== "ops") return SLOW_REFRESH_MS;
      const health = await api("GET", "/v1/providers");
      if (token !== pageToken) return;
      patch(providers, el("div", { class: "table-wrap" }, el("table", {},
        el("caption", { class: "sr-only" }, "Providers"),
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Provider"), el("th", { scope: "col", class: "num" }, "In flight"),
          el("th", { scope: "col" }, "Breaker"), el("th", { scope: "col", class: "num" }, "Failures in a row"),
          el("th", { scope: "col", class: "num" }, "Budget (requests/min)"), el("th", { scope: "col", class: "num" }, "Available now"))),
        el("tbody", {}, health.providers.map((p) => el("tr", {},
          el("th", { scope: "row" }, p.name),
          el("td", { class: "num" }, p.inFlight + " / " + p.maxConcurrent),
          el("td", {}, stateBadge(p.breaker.state), p.breaker.retryAfterSeconds > 0 ? " retry in " + seconds(p.breaker.retryAfterSeconds) : ""),
          el("td", { class: "num" }, String(p.breaker.consecutiveFailures)),
          el("td", { class: "num" }, String(p.budget.requestsPerMinute)),
          el("td", { class: "num" }, p.budget.requestsAvailable.toFixed(1))))))));
      return SLOW_REFRESH_MS;
    });
  }

  // ---- routing ----------------------------------------------------------------------------

  /** Shows the page of `hash`, also when it is the current one (no hashchange then). */
  function go(hash) {
    if (location.hash === hash) route(); else location.hash = hash;
  }

  function route() {
    stopRefresh();
    const token = ++pageToken;
    const hash = location.hash.startsWith("#/") ? location.hash : "#/tasks";
    const [path, search] = hash.slice(1).split("?");
    const params = new URLSearchParams(search || "");
    let parts;
    try { parts = path.split("/").filter(Boolean).map(decodeURIComponent); } catch (_) { parts = []; }
    if (!session) { signInPage(); return; }
    if (parts[0] === "signin") { go("#/tasks"); return; }
    const id = parts[1] && UUID.test(parts[1]) ? parts[1].toLowerCase() : null;
    if ((parts[0] === "tasks" || parts[0] === "lineage") && parts[1] && !id) {
      main("Not found", el("p", {}, "That is not a task or video id."), el("p", {}, el("a", { href: "#/tasks" }, "Back to the task list")));
    } else if (parts[0] === "tasks" && id) taskPage(token, id);
    else if (parts[0] === "lineage" && id) lineagePage(token, id);
    else if (parts[0] === "overview") overviewPage(token, params);
    else tasksPage(token, params);
    document.getElementById("main").focus({ preventScroll: true });
  }

  async function start() {
    document.getElementById("sign-out").addEventListener("click", signOut);
    // The skip link moves focus without touching the hash (the hash is the page).
    document.querySelector(".skip").addEventListener("click", (event) => {
      event.preventDefault();
      document.getElementById("main").focus();
    });
    window.addEventListener("hashchange", route);
    try { signedIn(await api("GET", "/console/session")); } catch (_) { session = null; }
    route();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
