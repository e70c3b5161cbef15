// What the console's pages share: who is calling (a GitHub user signed in through the app,
// whose session cookie is HttpOnly and whose state-changing calls carry the session's CSRF
// token; or an API token pasted into this tab, kept in sessionStorage), the REST API as them,
// and building elements. Text from the API is only ever set as textContent, never as HTML.
"use strict";
window.slipwayConsole = (() => {
  const tokenKey = "slipway.token";
  const state = { user: null, csrfToken: null, signInWithGithub: false };

  class UnauthorizedError extends Error {}

  /** Reads who is signed in; a page calls it once before its first API call. */
  async function loadSession() {
    try {
      const response = await fetch("/auth/session", { credentials: "same-origin" });
      if (response.ok) Object.assign(state, await response.json());
    } catch {
      // No session endpoint answering: tokens still work.
    }
    return state;
  }

  // A browser that refuses storage (a locked-down profile) still works: the token then lives
  // in this page only, until it is reloaded.
  let tokenInPage = null;
  function storage() {
    try {
      return window.sessionStorage;
    } catch {
      return null;
    }
  }
  const token = () => {
    try {
      return storage()?.getItem(tokenKey) ?? tokenInPage;
    } catch {
      return tokenInPage;
    }
  };
  const setToken = (value) => {
    tokenInPage = value;
    try {
      storage()?.setItem(tokenKey, value);
    } catch {
      // Kept in this page only.
    }
  };
  const signedIn = () => Boolean(token() || state.user);

  async function api(method, path, body) {
    const headers = body ? { "content-type": "application/json" } : {};
    const sentToken = token();
    if (sentToken) headers.authorization = `Bearer ${sentToken}`;
    else if (method !== "GET" && state.csrfToken) headers["x-slipway-csrf"] = state.csrfToken;
    const response = await fetch(path, { method, headers, credentials: "same-origin", body: body ? JSON.stringify(body) : undefined });
    const type = response.headers.get("content-type") || "";
    const payload = type.includes("application/json") ? await response.json() : await response.text();
    if (response.status === 401) throw new UnauthorizedError(sentToken ? "The token was refused. Paste a server token." : "Sign in to see this.");
    if (!response.ok) throw new Error((payload && payload.error) || `${method} ${path} answered ${response.status}`);
    return payload;
  }

  async function signOut() {
    tokenInPage = null;
    try {
      storage()?.removeItem(tokenKey);
    } catch {
      // Nothing was stored.
    }
    if (state.user) {
      await fetch("/auth/sign-out", { method: "POST", credentials: "same-origin", headers: { "x-slipway-csrf": state.csrfToken || "" } }).catch(() => undefined);
      state.user = null;
      state.csrfToken = null;
    }
  }

  /**
   * Follows a Server-Sent Events endpoint: `handlers[event](data)` for each event, data
   * parsed from JSON. With a session it is an EventSource (which reconnects by itself); a
   * pasted token cannot ride on an EventSource, so then the stream is read through fetch and
   * taken again 3 s after it drops. Returns the function that stops following.
   */
  function follow(path, handlers) {
    const dispatch = (event, data) => handlers[event] && handlers[event](JSON.parse(data));
    if (!token()) {
      const source = new EventSource(path);
      for (const event of Object.keys(handlers)) source.addEventListener(event, (message) => dispatch(event, message.data));
      return () => source.close();
    }
    const abort = new AbortController();
    void (async () => {
      while (!abort.signal.aborted) {
        let response = null;
        try {
          response = await fetch(path, { headers: { authorization: `Bearer ${token()}`, accept: "text/event-stream" }, signal: abort.signal });
          if (!response.ok) throw new Error(`${path} answered ${response.status}`);
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffered = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffered += value;
            let end;
            while ((end = buffered.indexOf("\n\n")) >= 0) {
              const block = buffered.slice(0, end);
              buffered = buffered.slice(end + 2);
              const event = /^event: (.*)$/m.exec(block);
              const data = block.split("\n").filter((line) => line.startsWith("data: ")).map((line) => line.slice(6)).join("\n");
              if (event && data) dispatch(event[1], data);
            }
          }
        } catch {
          // Dropped or refused: let the connection go, and try again shortly unless stopped.
          if (response && response.body) response.body.cancel().catch(() => undefined);
        }
        if (!abort.signal.aborted) await new Promise((resolve) => setTimeout(resolve, 3000));
      }
    })();
    return () => abort.abort();
  }

  /** Where "Sign in with GitHub" goes, coming back to this page. */
  const signInUrl = () => `/auth/github?returnTo=${encodeURIComponent(location.pathname + location.search)}`;

  /** Who is signed in, as the header says it. */
  const whoText = () => (state.user ? `@${state.user.login}` : token() ? "API token" : "");

  function element(tag, text, attributes = {}) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    return node;
  }

  function button(text, onClick, className = "action", accessibleName = undefined) {
    const node = element("button", text, { type: "button", class: className, ...(accessibleName ? { "aria-label": accessibleName } : {}) });
    node.addEventListener("click", onClick);
    return node;
  }

  /**
   * Names each body cell after its column (`data-label`, shown before it when a phone's
   * stylesheet stacks a table's rows) and gives the table explicit ARIA roles, which stay
   * when the stylesheet makes the table's parts blocks. Rows are added later by the pages,
   * so this watches for them.
   */
  function labelTables() {
    const label = (table) => {
      const headers = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
      table.setAttribute("role", "table");
      for (const group of table.querySelectorAll("thead, tbody")) group.setAttribute("role", "rowgroup");
      for (const row of table.querySelectorAll("tr")) row.setAttribute("role", "row");
      for (const th of table.querySelectorAll("thead th")) th.setAttribute("role", "columnheader");
      for (const row of table.querySelectorAll("tbody tr")) {
        [...row.children].forEach((cell, column) => {
          cell.setAttribute("role", "cell");
          // A cell that spans the row (a "none yet" line) or has no header is not named.
          if (headers[column] && !cell.hasAttribute("colspan")) cell.setAttribute("data-label", headers[column]);
        });
      }
    };
    const labelAll = () => document.querySelectorAll("table").forEach(label);
    labelAll();
    new MutationObserver((changes) => changes.some((change) => change.target.closest && change.target.closest("table")) && labelAll()).observe(document.body, { childList: true, subtree: true });
  }
  document.addEventListener("DOMContentLoaded", labelTables);

  const duration = (ms) => (ms < 1000 ? `${Math.round(ms)} ms` : ms < 90_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`);

  return { state, loadSession, token, setToken, signedIn, api, follow, signOut, signInUrl, whoText, element, button, duration, UnauthorizedError };
})();
