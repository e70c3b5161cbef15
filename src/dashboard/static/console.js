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

  function button(text, onClick, className = "action") {
    const node = element("button", text, { type: "button", class: className });
    node.addEventListener("click", onClick);
    return node;
  }

  return { state, loadSession, token, setToken, signedIn, api, signOut, signInUrl, whoText, element, button, UnauthorizedError };
})();
