// /login/weibo/ (WEIBO_REDIRECT_URI): Weibo sends the browser back here with ?code=&state= (or
// ?error=). The page posts them to /api/oauth/weibo/callback/: a bound account is logged in; an
// unbound one gets a bind step (mobile number, SMS code from /api/otp/send/) that ends logged in.
import {
  _,
  ApiError,
  SOCIAL_NEXT_KEY,
  asciiDigits,
  busy,
  errorText,
  format,
  isolate,
  ltr,
  postJson,
  readJson,
  safeNext,
  showError,
  startSession,
  tooManyText,
} from "./api.js";

const $ = (id) => document.getElementById(id);
const returned = new URLSearchParams(location.search);
// The code and state leave the address bar at once: not in history, bookmarks or a Referer.
history.replaceState(null, "", location.pathname);
const next = safeNext(sessionStorage.getItem(SOCIAL_NEXT_KEY));
const bind = { token: "", number: "" };

const OFFLINE = () => _("Cannot reach the server. Check your connection and try again.");

function failed(text) {
  sessionStorage.removeItem(SOCIAL_NEXT_KEY);
  $("weibo-status").textContent = "";
  $("bind").hidden = true;
  $("weibo-failed").hidden = false;
  showError($("weibo-error"), text);
}

/** Words for a refusal of the callback or the bind, by its stable `code`. */
function refusalText(error) {
  if (!(error instanceof ApiError)) return OFFLINE();
  if (error.status === 429) return tooManyText(error);
  const code = error.data && error.data.code;
  if (code === "invalid_state") return _("This login link has expired or was opened in another browser. Start again.");
  if (code === "invalid_code") return _("Weibo did not accept this login. Start again.");
  if (code === "provider_error") return _("Weibo is not answering right now. Try again in a minute, or log in with an SMS code.");
  if (code === "invalid_bind_token") return _("This login has expired. Log in with Weibo again.");
  return errorText(error.data, _("Weibo login did not work. Start again."));
}

async function finish(reply) {
  $("weibo-status").textContent = _("Logging you in…");
  await startSession(reply);
  sessionStorage.removeItem(SOCIAL_NEXT_KEY);
  location.replace(next);
}

function showBind(pending) {
  bind.token = pending.bind_token;
  const profile = pending.profile || {};
  $("weibo-status").textContent = "";
  $("bind").hidden = false;
  $("bind-greeting").textContent = profile.nickname
    ? format(_("Welcome, %(name)s."), { name: isolate(profile.nickname) })
    : _("Welcome.");
  if (typeof profile.avatar_url === "string" && /^https?:\/\//.test(profile.avatar_url)) {
    $("bind-avatar").src = profile.avatar_url;
    $("bind-avatar").hidden = false;
  }
  $("bind-phone").focus();
}

async function callback() {
  const error = returned.get("error");
  if (error) {
    failed(error === "access_denied" ? _("You cancelled the Weibo login.") : _("Weibo did not log you in. Try again."));
    return;
  }
  if (!returned.get("code")) {
    failed(_("Weibo sends you back to this page after you log in there. Start from the login page."));
    return;
  }
  try {
    const reply = await postJson("/api/oauth/weibo/callback/", { code: returned.get("code"), state: returned.get("state") || "" });
    const data = await readJson(reply);
    if (reply.status === 201) showBind(data);
    else await finish(data);
  } catch (error) {
    failed(refusalText(error));
  }
}

$("bind-phone-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const number = asciiDigits($("bind-phone").value.trim());
  const errorElement = $("bind-phone-error");
  if (!number) {
    showError(errorElement, _("Enter your mobile number."));
    $("bind-phone").focus();
    return;
  }
  busy($("bind-send"), true);
  showError(errorElement, "");
  try {
    const reply = await postJson("/api/otp/send/", { mobile_number: number });
    if (reply.status !== 409) await readJson(reply); // 409: a code was sent a moment ago and still works
    bind.number = number;
    $("bind-phone-form").hidden = true;
    $("bind-code-form").hidden = false;
    $("bind-sent").textContent = format(_("We sent a code to %(number)s."), { number: ltr(number) });
    $("bind-code").focus();
  } catch (error) {
    showError(
      errorElement,
      !(error instanceof ApiError)
        ? OFFLINE()
        : error.status === 429
          ? tooManyText(error)
          : errorText(error.data, _("Enter a valid mobile number.")),
    );
  } finally {
    busy($("bind-send"), false);
  }
});

$("bind-change").addEventListener("click", () => {
  $("bind-code-form").hidden = true;
  $("bind-phone-form").hidden = false;
  $("bind-code").value = "";
  $("bind-phone").focus();
});

$("bind-code-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = asciiDigits($("bind-code").value).replace(/\s+/g, "");
  const errorElement = $("bind-code-error");
  if (!/^[0-9]{4,10}$/.test(code)) {
    showError(errorElement, _("Type the digits from the SMS."));
    $("bind-code").focus();
    return;
  }
  busy($("bind-verify"), true);
  showError(errorElement, "");
  try {
    const reply = await readJson(
      await postJson("/api/oauth/bind/", { bind_token: bind.token, mobile_number: bind.number, code }),
    );
    await finish(reply);
  } catch (error) {
    busy($("bind-verify"), false);
    if (error instanceof ApiError && error.status === 401) {
      showError(errorElement, _("That code is wrong or no longer valid. Check it, or ask for a new one."));
    } else if (error instanceof ApiError && error.status === 409) {
      showError(
        errorElement,
        _("This Weibo account, or this number's Weibo link, is already taken. Log in with an SMS code instead."),
      );
    } else if (error instanceof ApiError && error.data && error.data.code === "invalid_bind_token") {
      failed(refusalText(error));
      return;
    } else {
      showError(errorElement, refusalText(error));
    }
    $("bind-code").select();
  }
});

callback();
