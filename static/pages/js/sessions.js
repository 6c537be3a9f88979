// /account/sessions/: my login sessions; log out one, or all but this one. The page keeps a
// /ws/chat/ socket open so that, when this session is revoked elsewhere, it leaves at once.
import {
  _,
  ApiError,
  LiveSocket,
  LoggedOut,
  api,
  apiJson,
  errorText,
  format,
  logout,
  ngettext,
  number,
  textDir,
  requireLogin,
  setUpHeader,
  showConnection,
  whenText,
} from "./api.js";

const $ = (id) => document.getElementById(id);

const DEVICE_KIND_TEXT = {
  phone: () => _("Phone"),
  tablet: () => _("Tablet"),
  pc: () => _("Computer"),
  bot: () => _("Bot"),
  other: () => _("Other device"),
};

const METHOD_TEXT = {
  sms: () => _("SMS code"),
  auth4app: () => _("Messenger confirmation"),
  social: () => _("Social login"),
};

function status(text) {
  $("sessions-status").textContent = text || "";
}

function fail(text) {
  const element = $("sessions-error");
  element.textContent = text || "";
  element.hidden = !text;
}

function field(list, term, value, iso, direction) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  if (iso) {
    const time = document.createElement("time");
    time.dateTime = iso;
    time.textContent = value;
    dd.append(time);
  } else {
    dd.textContent = value || "—";
  }
  if (direction) dd.dir = direction;
  list.append(dt, dd);
}

function sessionItem(session) {
  const item = document.createElement("li");
  item.className = session.current ? "session current" : "session";
  item.dataset.session = session.id;
  const heading = document.createElement("h2");
  heading.id = `session-${session.id}`;
  // The kind in the page's language, then the model and the browser as the browser reported them.
  const kind = DEVICE_KIND_TEXT[session.device_kind];
  const device = kind ? [kind(), session.device_model] : [session.device];
  heading.textContent = [...device, session.browser].filter(Boolean).join(" · ") || _("Unknown device");
  heading.dir = textDir(heading.textContent);
  if (session.current) {
    const badge = document.createElement("span");
    badge.className = "tag";
    badge.textContent = _("This device");
    heading.append(" ", badge);
  }
  const details = document.createElement("dl");
  field(details, _("Operating system"), session.os, null, "auto");
  field(details, _("IP address"), session.ip, null, "ltr");
  field(details, _("Logged in with"), (METHOD_TEXT[session.login_method] || (() => session.login_method))());
  field(details, _("Logged in"), whenText(session.created_at), session.created_at);
  field(details, _("Last active"), whenText(session.last_seen_at), session.last_seen_at);
  const button = document.createElement("button");
  button.type = "button";
  button.className = session.current ? "button" : "button danger";
  button.textContent = session.current ? _("Log out") : _("Log out this session");
  button.setAttribute("aria-describedby", heading.id);
  button.addEventListener("click", () => (session.current ? logout() : revoke(session, button)));
  item.append(heading, details, button);
  return item;
}

async function load() {
  const sessions = await apiJson("/api/sessions/");
  $("session-list").replaceChildren(...sessions.map(sessionItem));
  $("revoke-others").hidden = !sessions.some((session) => !session.current);
  return sessions;
}

async function revoke(session, button) {
  button.disabled = true;
  fail("");
  try {
    const reply = await api(`/api/sessions/${encodeURIComponent(session.id)}/`, { method: "DELETE" });
    if (!reply.ok && reply.status !== 404) throw new ApiError(reply.status, await reply.json().catch(() => null), null);
    await load();
    status(_("That session is logged out."));
    $("revoke-others").hidden || $("revoke-others").focus();
  } catch (error) {
    if (error instanceof LoggedOut) return;
    button.disabled = false;
    fail(error instanceof ApiError ? errorText(error.data, _("Could not log out that session.")) : _("Cannot reach the server."));
  }
}

async function revokeOthers() {
  const button = $("revoke-others");
  button.disabled = true;
  fail("");
  try {
    const { revoked } = await apiJson("/api/sessions/revoke-others/", { method: "POST" });
    await load();
    status(format(ngettext("%(n)s other session logged out.", "%(n)s other sessions logged out.", revoked), { n: number(revoked) }));
  } catch (error) {
    if (error instanceof LoggedOut) return;
    fail(error instanceof ApiError ? errorText(error.data, _("Could not log out the other sessions.")) : _("Cannot reach the server."));
  } finally {
    button.disabled = false;
  }
}

async function main() {
  await requireLogin();
  const socket = new LiveSocket({ onState: showConnection });
  $("revoke-others").addEventListener("click", revokeOthers);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") load().catch(() => {});
  });
  await Promise.all([setUpHeader(), load()]);
  socket.connect();
}

main().catch((error) => {
  if (!(error instanceof LoggedOut)) {
    console.error(error);
    fail(_("Could not load your sessions."));
  }
});
