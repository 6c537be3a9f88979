// Shared client of the hotline pages: tokens, REST calls, the session-bound WebSocket.
//
// Tokens (docs/security.md, "Browser tokens"): the access token lives only in this module's
// memory; the refresh token lives only in an HttpOnly, SameSite=Strict cookie scoped to /web/,
// which page scripts cannot read. Every page load gets a fresh access token from
// POST /web/refresh/, which rotates the cookie through the same service as /api/token/refresh/.

export const _ = (text) => (window.gettext ? window.gettext(text) : text);
export const ngettext = (one, many, n) => (window.ngettext ? window.ngettext(one, many, n) : n === 1 ? one : many);
export const format = (text, values) =>
  window.interpolate ? window.interpolate(text, values, !Array.isArray(values)) : text;

/** The page's language (`<html lang>`, set by Django): dates, times and numbers are written in it. */
export const pageLanguage = document.documentElement.lang || "en";
const numbers = new Intl.NumberFormat(pageLanguage);
const twoDigits = new Intl.NumberFormat(pageLanguage, { minimumIntegerDigits: 2 });

/** `format` for DOM: the text's %(name)s placeholders become the given nodes (or strings), so an
 *  element such as <time> sits where the translation puts it. */
export function formatNodes(text, values) {
  return text.split(/%\((\w+)\)s/).map((part, index) => (index % 2 ? values[part] ?? "" : part)).filter((part) => part !== "");
}

/** A number in the page's digits (Persian digits in a Persian page). */
export const number = (n) => numbers.format(n);

/** `Intl.DateTimeFormat` of the page's language: a Persian page gets the Persian calendar, as browsers do. */
export const dateFormat = (options) => new Intl.DateTimeFormat(pageLanguage, options);

// Persian (۰-۹), Arabic-Indic (٠-٩) and full-width (０-９, Chinese input methods) digits.
const DIGIT_ZEROS = [0x06f0, 0x0660, 0xff10];

/** `text` with the digits people type on Persian, Arabic and Chinese keyboards as ASCII digits. */
export function asciiDigits(text) {
  return text.replace(/[\u06f0-\u06f9\u0660-\u0669\uff10-\uff19]/g, (digit) => {
    const code = digit.charCodeAt(0);
    const zero = DIGIT_ZEROS.find((start) => code >= start && code <= start + 9);
    return String(code - zero);
  });
}

/** Left-to-right text (a phone number) set inside a sentence of any direction: a bidi isolate keeps
 *  "+98..." from turning into "98...+" in a right-to-left sentence. */
export const ltr = (text) => `\u2066${text}\u2069`;

const PHONE_LIKE = /^[+\d\s().,-]*$/;

/** A name or title set inside a sentence: a bidi isolate in the direction of its own first letter (a
 *  Latin name in a Persian sentence, or the reverse, keeps its order and leaves the sentence's alone);
 *  a phone number left to right. */
export const isolate = (text) => (PHONE_LIKE.test(text || "") ? ltr(text) : `\u2068${text}\u2069`);

const lists = new Intl.ListFormat(pageLanguage, { style: "long", type: "conjunction" });

/** "A, B and C" in the page's language ("A، B و C", "A、B和C"). */
export const listText = (items) => lists.format(items);

/** The `dir` of an element showing a name, a title or a message: a phone number (no letters) reads left
 *  to right; anything else in the direction of its first letter. (`dir="auto"` alone would give a bare
 *  number the page's direction, and "+98..." would read "98...+" in a Persian page.) */
export const textDir = (text) => (PHONE_LIKE.test(text || "") ? "ltr" : "auto");

/** Thrown after the page has started leaving for /login/; callers just stop. */
export class LoggedOut extends Error {}

/** A non-2xx API reply: `status`, parsed JSON `data` (or null) and `retryAfter` seconds. */
export class ApiError extends Error {
  constructor(status, data, retryAfter) {
    super(`HTTP ${status}`);
    this.status = status;
    this.data = data;
    this.retryAfter = retryAfter;
  }
}

let access = null;
let accessExpiresAt = 0;
let claims = null;
let leaving = false;

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function decodeJwt(token) {
  const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  const padded = part + "===".slice((part.length + 3) % 4);
  return JSON.parse(atob(padded));
}

function adopt(token) {
  access = token;
  claims = decodeJwt(token);
  accessExpiresAt = claims.exp * 1000;
}

/** POST to one of the pages' own /web/ views (CSRF-protected, cookie-carrying). */
export function postWeb(path, body) {
  return fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body || {}),
  });
}

function underRefreshLock(task) {
  // Tabs share the cookie: a rotation in one tab while another presents the old token would
  // look like refresh-token reuse, so tabs rotate one at a time.
  return navigator.locks ? navigator.locks.request("hotline-web-refresh", task) : task();
}

let refreshing = null;

/** Rotate the cookie's refresh token; resolves true with a new access token, false when logged out.
 *  Rejects on network errors (the caller retries later). */
export function refreshAccess() {
  if (!refreshing) {
    refreshing = underRefreshLock(async () => {
      const reply = await postWeb("/web/refresh/");
      if (reply.status === 401 || reply.status === 403) {
        access = null;
        return false;
      }
      if (!reply.ok) throw new ApiError(reply.status, null, null);
      adopt((await reply.json()).access);
      return true;
    }).finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/** Store a login reply ({access, refresh, ...}) as the browser session: refresh token into the cookie. */
export async function startSession(loginReply) {
  const reply = await postWeb("/web/session/", { refresh: loginReply.refresh });
  if (!reply.ok) throw new ApiError(reply.status, await reply.json().catch(() => null), null);
  adopt((await reply.json()).access);
}

export function goLogin() {
  if (leaving) return;
  leaving = true;
  const here = location.pathname + location.search;
  location.replace("/login/?next=" + encodeURIComponent(here));
}

export function isLeaving() {
  return leaving;
}

/** True once this page holds an access token (someone is logged in here). */
export function isLoggedIn() {
  return access !== null;
}

/** For pages behind login: resolves with the access token's claims ({user_id, sid, ...}) or leaves for /login/. */
export async function requireLogin() {
  let ok;
  try {
    ok = await refreshAccess();
  } catch (error) {
    ok = false;
  }
  if (!ok) {
    goLogin();
    throw new LoggedOut();
  }
  return claims;
}

async function currentAccess() {
  if (!access || Date.now() > accessExpiresAt - 30_000) {
    if (!(await refreshAccess())) {
      goLogin();
      throw new LoggedOut();
    }
  }
  return access;
}

/** fetch() an API path with the in-memory Bearer token; one refresh-and-retry on 401. */
export async function api(path, { method = "GET", body } = {}) {
  for (let attempt = 0; ; attempt += 1) {
    const token = await currentAccess();
    const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
    // A FormData body (a file upload) goes as multipart, with the boundary the browser picks.
    const isForm = body instanceof FormData;
    if (body !== undefined && !isForm) headers["Content-Type"] = "application/json";
    const reply = await fetch(path, {
      method,
      headers,
      credentials: "omit",
      body: body === undefined || isForm ? body : JSON.stringify(body),
    });
    if (reply.status !== 401) return reply;
    access = null;
    if (attempt >= 1) {
      goLogin();
      throw new LoggedOut();
    }
  }
}

/** api() that parses JSON and throws ApiError for non-2xx replies. */
export async function apiJson(path, options) {
  const reply = await api(path, options);
  return readJson(reply);
}

/** Parse a fetch reply: JSON body, or ApiError for non-2xx. */
export async function readJson(reply) {
  const data = reply.status === 204 ? null : await reply.json().catch(() => null);
  if (!reply.ok) {
    const retry = Number(reply.headers.get("Retry-After")) || (data && Number(data.retry_after)) || null;
    throw new ApiError(reply.status, data, retry);
  }
  return data;
}

/** POST JSON without a token (login endpoints). */
export function postJson(path, body) {
  return fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
}

/** The first human-readable message in an API error body, or `fallback`. */
export function errorText(data, fallback) {
  if (!data) return fallback;
  if (typeof data === "string") return data;
  for (const key of ["error", "detail", "details", "non_field_errors"]) {
    const value = data[key];
    if (typeof value === "string" && value) return value;
    if (Array.isArray(value) && value.length) return String(value[0]);
  }
  for (const value of Object.values(data)) {
    if (Array.isArray(value) && value.length && typeof value[0] === "string") return value[0];
  }
  return fallback;
}

/** "in 2 min" / "in 40 s" for a number of seconds. */
export function durationText(seconds) {
  seconds = Math.max(0, Math.ceil(seconds));
  if (seconds >= 120) {
    const minutes = Math.ceil(seconds / 60);
    return format(ngettext("%(n)s minute", "%(n)s minutes", minutes), { n: number(minutes) });
  }
  return format(ngettext("%(n)s second", "%(n)s seconds", seconds), { n: number(seconds) });
}

/** sessionStorage key of where to land after a social login's round trip (the login page's `next`). */
export const SOCIAL_NEXT_KEY = "hotline-social-next";

/** A same-site path to go to after logging in, or /chat/. */
export function safeNext(path) {
  return typeof path === "string" && path.startsWith("/") && !path.startsWith("//") && !path.startsWith("/\\")
    ? path
    : "/chat/";
}

/** Show `text` in an error element, given as the element or its id (hidden when there is no text). */
export function showError(target, text) {
  const element = typeof target === "string" ? document.getElementById(target) : target;
  element.textContent = text || "";
  element.hidden = !text;
}

/** Disable a button while its request runs, and say so to assistive technology. */
export function busy(button, on) {
  button.disabled = on;
  button.setAttribute("aria-busy", on ? "true" : "false");
}

/** The words for a 429: when to try again. */
export function tooManyText(error) {
  return error.retryAfter
    ? format(_("Too many attempts. Try again in %(wait)s."), { wait: durationText(error.retryAfter) })
    : _("Too many attempts. Try again later.");
}

const whenFormat = dateFormat({ dateStyle: "medium", timeStyle: "short" });

/** A date and time from the API (ISO 8601) in the page's language and calendar, or "" when unreadable. */
export function whenText(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : whenFormat.format(date);
}

/** "1:05" for 65 seconds, in the page's digits. */
export function clockText(seconds) {
  seconds = Math.max(0, Math.ceil(seconds));
  return `${number(Math.floor(seconds / 60))}:${twoDigits.format(seconds % 60)}`;
}

/** Log out: end this session through the API, drop the cookie, go to /login/. */
export async function logout() {
  leaving = true;
  try {
    if (access) await fetch("/api/logout/", { method: "POST", headers: { Authorization: `Bearer ${access}` } });
  } catch (error) {
    // The /web/logout/ call below ends the session from the cookie anyway.
  }
  try {
    await postWeb("/web/logout/");
  } finally {
    access = null;
    location.replace("/login/");
  }
}

const CLOSE_UNAUTHENTICATED = 4401;

/**
 * The page's /ws/chat/ socket: opened with a one-time ticket, reconnected with backoff, paused
 * while the browser is offline. A 4401 close means this session was revoked (or the ticket was
 * refused): unless a refresh still works, the page leaves for /login/ at once.
 */
export class LiveSocket {
  constructor({ onOpen = () => {}, onFrame = () => {}, onState = () => {} } = {}) {
    this.onOpen = onOpen;
    this.onFrame = onFrame;
    this.onState = onState;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.state = "connecting";
    window.addEventListener("offline", () => this.drop());
    window.addEventListener("online", () => this.reconnectNow());
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN && this.state === "open";
  }

  setState(state) {
    this.state = state;
    this.onState(state);
  }

  send(frame) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  async connect() {
    clearTimeout(this.timer);
    this.timer = null;
    if (leaving || this.ws) return;
    if (!navigator.onLine) {
      this.setState("reconnecting");
      return;
    }
    let ticket;
    try {
      ticket = (await apiJson("/api/ws/ticket/", { method: "POST" })).ticket;
    } catch (error) {
      if (error instanceof LoggedOut) return;
      this.retryLater();
      return;
    }
    if (this.ws || leaving) return;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(`${scheme}${location.host}/ws/chat/?ticket=${encodeURIComponent(ticket)}`);
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.setState("open");
      this.onOpen();
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      this.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.closed(event.code);
    };
  }

  async closed(code) {
    if (leaving) return;
    this.setState("reconnecting");
    if (code === CLOSE_UNAUTHENTICATED) {
      let stillLoggedIn;
      try {
        stillLoggedIn = await refreshAccess();
      } catch (error) {
        stillLoggedIn = true; // network trouble: keep trying to reconnect
      }
      if (!stillLoggedIn) {
        goLogin();
        return;
      }
    }
    this.retryLater();
  }

  retryLater() {
    if (leaving || this.timer) return;
    const base = Math.min(10_000, 500 * 2 ** this.attempt);
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(), base / 2 + Math.random() * (base / 2));
  }

  /** The browser went offline: stop using this socket now rather than wait for TCP to notice. */
  drop() {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onopen = null;
      ws.close();
    }
    if (!leaving) this.setState("reconnecting");
  }

  reconnectNow() {
    this.attempt = 0;
    this.connect();
  }
}

/** What a page shows for a user: their display name, else the number I typed (if any), else "User N". */
export function personName(user) {
  if (!user) return "";
  return user.display_name || user.mobile_number || format(_("User %(id)s"), { id: number(user.id) });
}

/** A round picture of a user: their avatar, or their initial. */
export function avatarElement(user, size = "small") {
  const element = document.createElement("span");
  element.className = `avatar ${size}`;
  element.setAttribute("aria-hidden", "true");
  if (user && user.avatar_url) {
    const image = document.createElement("img");
    image.src = user.avatar_url;
    image.alt = "";
    element.append(image);
  } else {
    // The first letter, not a bidi isolate's control character (see `isolate`).
    element.textContent = (personName(user) || "?").replace(/[\u2066-\u2069]/g, "").trim().charAt(0).toUpperCase();
  }
  return element;
}

/** Header shared by the logged-in pages: my number, log out, connection status. */
export async function setUpHeader() {
  document.getElementById("logout-button")?.addEventListener("click", () => logout());
  try {
    const me = await apiJson("/api/me/");
    const mine = document.getElementById("me-phone");
    if (mine) {
      // The number alone reads left to right; a name leads in its own direction, the number isolated.
      mine.textContent = me.display_name ? `${me.display_name} · ${ltr(me.mobile_number)}` : me.mobile_number;
      mine.dir = me.display_name ? "auto" : "ltr";
    }
    return me;
  } catch (error) {
    if (error instanceof LoggedOut) throw error;
    return null;
  }
}

export function showConnection(state) {
  const element = document.getElementById("connection");
  if (!element) return;
  element.dataset.state = state;
  element.textContent =
    state === "open" ? _("Connected") : state === "reconnecting" ? _("Reconnecting…") : _("Connecting…");
}
