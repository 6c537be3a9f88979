// /account/identities/: my linked social accounts, each with an Unlink button.
import {
  _,
  ApiError,
  LiveSocket,
  LoggedOut,
  api,
  apiJson,
  errorText,
  format,
  formatNodes,
  isolate,
  requireLogin,
  setUpHeader,
  showConnection,
  showError,
  whenText,
} from "./api.js";

const $ = (id) => document.getElementById(id);

const PROVIDER_TEXT = {
  weibo: () => _("Weibo"),
  wechat_mp: () => _("WeChat mini-program"),
};

function providerText(provider) {
  return (PROVIDER_TEXT[provider] || (() => provider))();
}

function identityItem(identity) {
  const item = document.createElement("li");
  item.className = "identity";
  item.dataset.identity = identity.id;
  const heading = document.createElement("h2");
  heading.id = `identity-${identity.id}`;
  heading.textContent = providerText(identity.provider);
  if (identity.nickname) heading.append(" · ", isolate(identity.nickname));
  const bound = document.createElement("p");
  bound.className = "hint";
  const time = document.createElement("time");
  time.dateTime = identity.bound_at;
  time.textContent = whenText(identity.bound_at);
  bound.append(...formatNodes(_("Linked %(when)s"), { when: time }));
  const button = document.createElement("button");
  button.type = "button";
  button.className = "button danger";
  button.textContent = _("Unlink");
  button.setAttribute("aria-describedby", heading.id);
  button.addEventListener("click", () => unlink(identity, button));
  if (typeof identity.avatar_url === "string" && /^https?:\/\//.test(identity.avatar_url)) {
    const avatar = document.createElement("img");
    avatar.className = "avatar";
    avatar.src = identity.avatar_url;
    avatar.alt = "";
    avatar.width = avatar.height = 40;
    item.append(avatar);
  }
  item.append(heading, bound, button);
  return item;
}

async function load() {
  const identities = await apiJson("/api/me/identities/");
  $("identity-list").replaceChildren(...identities.map(identityItem));
  $("identities-empty").hidden = identities.length > 0;
}

async function unlink(identity, button) {
  button.disabled = true;
  showError($("identities-error"), "");
  try {
    const reply = await api(`/api/me/identities/${encodeURIComponent(identity.id)}/`, { method: "DELETE" });
    if (!reply.ok && reply.status !== 404) throw new ApiError(reply.status, await reply.json().catch(() => null), null);
    await load();
    $("identities-status").textContent = format(_("%(provider)s is no longer linked."), { provider: providerText(identity.provider) });
  } catch (error) {
    if (error instanceof LoggedOut) return;
    button.disabled = false;
    showError(
      $("identities-error"),
      error instanceof ApiError ? errorText(error.data, _("Could not unlink that account.")) : _("Cannot reach the server."),
    );
  }
}

async function main() {
  await requireLogin();
  // The socket closes 4401 when this session is revoked elsewhere, and the page then leaves at once.
  const socket = new LiveSocket({ onState: showConnection });
  await Promise.all([setUpHeader(), load()]);
  socket.connect();
}

main().catch((error) => {
  if (!(error instanceof LoggedOut)) {
    console.error(error);
    showError($("identities-error"), _("Could not load your linked accounts."));
  }
});
