// /account/profile/: my display name, picture and email (with its verification state), and the
// people I blocked. Like every logged-in page it keeps a /ws/chat/ socket open, so it leaves at
// once when this session is revoked elsewhere, and shows my own profile changes made elsewhere.
import {
  _,
  ApiError,
  LiveSocket,
  LoggedOut,
  apiJson,
  avatarElement,
  errorText,
  format,
  ltr,
  personName,
  requireLogin,
  setUpHeader,
  showConnection,
  showError,
  textDir,
} from "./api.js";

const $ = (id) => document.getElementById(id);
let me = null;

function status(text) {
  $("profile-status").textContent = text || "";
}

function failure(error, fallback) {
  if (error instanceof ApiError) return errorText(error.data, fallback);
  return _("Cannot reach the server. Check your connection and try again.");
}

function render() {
  if (document.activeElement !== $("profile-name")) $("profile-name").value = me.display_name;
  if (document.activeElement !== $("profile-email")) $("profile-email").value = me.email || "";
  $("profile-avatar").replaceWith(Object.assign(avatarElement(me, "large"), { id: "profile-avatar" }));
  $("avatar-remove").hidden = !me.avatar_url;
  const state = $("email-state");
  state.dataset.verified = me.email ? String(me.email_verified) : "";
  state.textContent = !me.email
    ? ""
    : me.email_verified
      ? _("Confirmed.")
      : format(_("Not confirmed yet: open the link we sent to %(email)s."), { email: ltr(me.email) });
}

async function change(body, errorId, done) {
  showError(errorId, "");
  status("");
  try {
    me = await apiJson("/api/me/", { method: "PATCH", body });
    render();
    status(done);
  } catch (error) {
    if (error instanceof LoggedOut) return;
    showError(errorId, failure(error, _("Could not save.")));
  }
}

async function uploadAvatar() {
  const file = $("avatar-input").files[0];
  if (!file) return;
  showError("avatar-error", "");
  status("");
  if (file.size > 2 * 1024 * 1024) {
    showError("avatar-error", _("The picture is larger than 2 MB."));
    return;
  }
  const form = new FormData();
  form.append("avatar", file);
  try {
    me = await apiJson("/api/me/avatar/", { method: "PUT", body: form });
    render();
    status(_("Picture saved."));
  } catch (error) {
    if (error instanceof LoggedOut) return;
    showError("avatar-error", failure(error, _("Could not save the picture.")));
  } finally {
    $("avatar-input").value = "";
  }
}

async function removeAvatar() {
  try {
    await apiJson("/api/me/avatar/", { method: "DELETE" });
    me.avatar_url = null;
    render();
    status(_("Picture removed."));
  } catch (error) {
    if (error instanceof LoggedOut) return;
    showError("avatar-error", failure(error, _("Could not remove the picture.")));
  }
}

async function loadBlocked() {
  const people = await apiJson("/api/chat/blocks/");
  const list = $("blocked-list");
  list.replaceChildren();
  for (const person of people) {
    const item = document.createElement("li");
    item.dataset.user = String(person.id);
    const name = document.createElement("span");
    name.textContent = personName(person);
    name.dir = textDir(name.textContent);
    const unblock = document.createElement("button");
    unblock.type = "button";
    unblock.className = "button link";
    unblock.textContent = _("Unblock");
    unblock.addEventListener("click", async () => {
      try {
        await apiJson(`/api/chat/blocks/${person.id}/`, { method: "DELETE" });
      } catch (error) {
        if (error instanceof LoggedOut) return;
      }
      loadBlocked();
    });
    item.append(avatarElement(person), name, unblock);
    list.append(item);
  }
  $("blocked-empty").hidden = people.length > 0;
}

function onFrame(frame) {
  if (frame.type === "user.updated" && me && frame.user.id === me.id) {
    Object.assign(me, frame.user);
    render();
  }
}

async function main() {
  await requireLogin();
  const socket = new LiveSocket({ onState: showConnection, onFrame });
  me = await setUpHeader();
  if (!me) me = await apiJson("/api/me/");
  render();
  $("profile-name-form").addEventListener("submit", (event) => {
    event.preventDefault();
    change({ display_name: $("profile-name").value }, "profile-name-error", _("Name saved."));
  });
  $("profile-email-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const email = $("profile-email").value.trim();
    change({ email }, "profile-email-error", email ? _("We sent you a link to confirm this email.") : _("Email removed."));
  });
  $("avatar-input").addEventListener("change", uploadAvatar);
  $("avatar-remove").addEventListener("click", removeAvatar);
  await loadBlocked().catch(() => {});
  socket.connect();
}

main().catch((error) => {
  if (!(error instanceof LoggedOut)) console.error(error);
});
