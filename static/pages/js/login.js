// /login/: SMS code, or live confirmation in a messenger (auth4app) pushed over a WebSocket, or
// "Log in with Weibo" (finished on /login/weibo/).
import {
  _,
  ApiError,
  asciiDigits,
  busy,
  clockText,
  errorText,
  format,
  ltr,
  ngettext,
  number as numberText,
  postJson,
  readJson,
  showError,
  SOCIAL_NEXT_KEY,
  startSession,
  tooManyText,
} from "./api.js";

const config = JSON.parse(document.getElementById("login-config").textContent);
const $ = (id) => document.getElementById(id);

async function finishLogin(reply) {
  await startSession(reply);
  location.replace(config.next || "/chat/");
}

// --- Tabs (WAI-ARIA tabs pattern: arrow keys move between tabs) -----------------------------

const tabs = [$("tab-sms"), $("tab-messenger")];

function selectTab(tab, focus) {
  for (const other of tabs) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(other.getAttribute("aria-controls")).hidden = !selected;
  }
  if (focus) tab.focus();
}

for (const tab of tabs) {
  tab.addEventListener("click", () => selectTab(tab, false));
  tab.addEventListener("keydown", (event) => {
    const index = tabs.indexOf(tab);
    const next = {
      ArrowRight: tabs[(index + 1) % tabs.length],
      ArrowLeft: tabs[(index - 1 + tabs.length) % tabs.length],
      Home: tabs[0],
      End: tabs[tabs.length - 1],
    }[event.key];
    if (next) {
      event.preventDefault();
      selectTab(next, true);
    }
  });
}

// --- SMS code ----------------------------------------------------------------------------

const sms = { number: "", resendTimer: null };

function startResendCountdown(seconds) {
  const button = $("sms-resend");
  clearInterval(sms.resendTimer);
  const until = Date.now() + seconds * 1000;
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left <= 0) {
      clearInterval(sms.resendTimer);
      button.disabled = false;
      button.textContent = _("Send a new code");
      return;
    }
    button.disabled = true;
    button.textContent = format(_("Send a new code in %(time)s"), { time: clockText(left) });
  };
  tick();
  sms.resendTimer = setInterval(tick, 1000);
}

function showCodeForm(message, resendIn) {
  $("sms-phone-form").hidden = true;
  $("sms-code-form").hidden = false;
  $("sms-sent").textContent = message;
  showError($("sms-code-error"), "");
  startResendCountdown(resendIn);
  $("sms-code").focus();
}

async function sendSmsCode(number, errorElement, button) {
  busy(button, true);
  showError(errorElement, "");
  try {
    const data = await readJson(await postJson("/api/otp/send/", { mobile_number: number }));
    sms.number = number;
    const minutes = Math.max(1, Math.round((data.expires_in || 300) / 60));
    showCodeForm(
      format(ngettextMinutes(minutes), { number: ltr(number), n: numberText(minutes) }),
      data.resend_in ?? 60,
    );
  } catch (error) {
    if (!(error instanceof ApiError)) {
      showError(errorElement, _("Cannot reach the server. Check your connection and try again."));
    } else if (error.status === 409) {
      // A code was sent moments ago: it still works, so let the person type it.
      sms.number = number;
      showCodeForm(_("A code was sent to this number a moment ago. Type it below."), error.retryAfter || 60);
    } else if (error.status === 429) {
      showError(errorElement, tooManyText(error));
    } else {
      showError(errorElement, errorText(error.data, _("Enter a valid mobile number.")));
    }
  } finally {
    busy(button, false);
  }
}

function ngettextMinutes(minutes) {
  return ngettext(
    "We sent a code to %(number)s. It works for %(n)s minute.",
    "We sent a code to %(number)s. It works for %(n)s minutes.",
    minutes,
  );
}

$("sms-phone-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const number = asciiDigits($("sms-phone").value.trim());
  if (!number) {
    showError($("sms-phone-error"), _("Enter your mobile number."));
    $("sms-phone").focus();
    return;
  }
  sendSmsCode(number, $("sms-phone-error"), $("sms-send"));
});

$("sms-resend").addEventListener("click", () => {
  sendSmsCode(sms.number, $("sms-code-error"), $("sms-resend")).then(() => $("sms-code").select());
});

$("sms-change").addEventListener("click", () => {
  clearInterval(sms.resendTimer);
  $("sms-code-form").hidden = true;
  $("sms-phone-form").hidden = false;
  $("sms-code").value = "";
  $("sms-phone").focus();
});

$("sms-code-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = asciiDigits($("sms-code").value).replace(/\s+/g, "");
  const errorElement = $("sms-code-error");
  if (!/^[0-9]{4,10}$/.test(code)) {
    showError(errorElement, _("Type the digits from the SMS."));
    $("sms-code").focus();
    return;
  }
  busy($("sms-verify"), true);
  showError(errorElement, "");
  try {
    const reply = await readJson(await postJson("/api/authenticate/", { mobile_number: sms.number, code }));
    await finishLogin(reply);
  } catch (error) {
    busy($("sms-verify"), false);
    if (!(error instanceof ApiError)) {
      showError(errorElement, _("Cannot reach the server. Check your connection and try again."));
    } else if (error.status === 401) {
      showError(errorElement, _("That code is wrong or no longer valid. Check it, or ask for a new one."));
    } else if (error.status === 429) {
      showError(errorElement, tooManyText(error));
    } else {
      showError(errorElement, errorText(error.data, _("Type the digits from the SMS.")));
    }
    $("sms-code").select();
  }
});

// --- Confirm in messenger (auth4app): push over WebSocket, never polling --------------------

const SAFE_LINK = /^(https?:|tg:|whatsapp:|viber:)/i;
const SAFE_COLOR = /^#[0-9a-f]{3,8}$/i;
const live = { login: null, socket: null, timer: null, finished: false, number: "" };

function stopLive() {
  clearInterval(live.timer);
  live.timer = null;
  if (live.socket) {
    live.socket.onclose = live.socket.onmessage = null;
    live.socket.close();
    live.socket = null;
  }
}

function liveEnded(message) {
  stopLive();
  live.finished = true;
  $("msg-status").textContent = "";
  showError($("msg-error"), message);
  $("msg-new-code").hidden = false;
  $("msg-new-code").focus();
}

function startExpiryCountdown(seconds) {
  clearInterval(live.timer);
  const until = Date.now() + seconds * 1000;
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left <= 0) {
      liveEnded(_("This code has expired. Get a new one to try again."));
      return;
    }
    $("msg-status").textContent = format(_("Waiting for your message… The code expires in %(time)s."), {
      time: clockText(left),
    });
  };
  tick();
  live.timer = setInterval(tick, 1000);
}

function renderChallenge(login) {
  $("msg-phone-form").hidden = true;
  $("msg-challenge").hidden = false;
  $("msg-new-code").hidden = true;
  showError($("msg-error"), "");
  $("msg-code").textContent = String(login.code);
  const list = $("msg-links");
  list.replaceChildren();
  for (const item of login.links || []) {
    if (!item || typeof item.link !== "string" || !SAFE_LINK.test(item.link)) continue;
    const anchor = document.createElement("a");
    anchor.className = "messenger";
    anchor.href = item.link;
    anchor.rel = "noopener noreferrer";
    anchor.textContent = format(_("Open %(messenger)s"), { messenger: item.title || _("messenger") });
    if (typeof item.color === "string" && SAFE_COLOR.test(item.color)) anchor.style.setProperty("--brand", item.color);
    const entry = document.createElement("li");
    entry.append(anchor);
    list.append(entry);
  }
  const qr = $("msg-qr");
  if (login.qrLink) {
    qr.src = "/login/qr.svg?data=" + encodeURIComponent(login.qrLink);
    qr.closest("figure").hidden = false;
  } else {
    qr.closest("figure").hidden = true;
  }
}

async function completeLiveLogin() {
  $("msg-status").textContent = _("Confirmed. Logging you in…");
  try {
    const reply = await readJson(
      await postJson("/proxy/auth/complete", { code_id: live.login.code_id, login_token: live.login.login_token }),
    );
    await finishLogin(reply);
  } catch (error) {
    liveEnded(
      error instanceof ApiError
        ? errorText(error.data, _("Could not finish the login. Get a new code to try again."))
        : _("Cannot reach the server. Check your connection and try again."),
    );
  }
}

function listen(login) {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  // The login is bound to this browser by the HttpOnly cookie /proxy/auth/code set, so no secret
  // goes into the socket's URL.
  const socket = new WebSocket(scheme + location.host + login.ws_url);
  live.socket = socket;
  socket.onmessage = (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch (error) {
      return;
    }
    if (frame.type !== "auth.status" || live.login !== login) return;
    if (frame.status === "pending") {
      if (typeof frame.expires_in === "number") startExpiryCountdown(frame.expires_in);
    } else if (frame.status === "confirmed") {
      stopLive();
      live.finished = true;
      completeLiveLogin();
    } else if (frame.status === "expired") {
      liveEnded(_("This code has expired. Get a new one to try again."));
    } else if (frame.status === "error") {
      liveEnded(
        format(_("The confirmation service reported a problem: %(detail)s. Get a new code to try again."), {
          detail: frame.detail || _("unknown error"),
        }),
      );
    }
  };
  socket.onclose = (event) => {
    if (live.socket !== socket || live.finished) return;
    live.socket = null;
    if (event.code === 4403) {
      liveEnded(_("This login was started in another browser. Get a new code here."));
      return;
    }
    // The push channel dropped (network, server restart): open it again; the server answers
    // with the current status, so nothing is missed.
    $("msg-status").textContent = _("Reconnecting…");
    setTimeout(() => {
      if (live.login === login && !live.finished) listen(login);
    }, 1000);
  };
}

async function startLiveLogin(number) {
  const button = $("msg-start");
  const errorElement = $("msg-error").hidden === false && !$("msg-challenge").hidden ? $("msg-error") : $("msg-phone-error");
  busy(button, true);
  busy($("msg-new-code"), true);
  showError(errorElement, "");
  stopLive();
  try {
    const login = await readJson(await postJson("/proxy/auth/code", { phone: number }));
    live.login = login;
    live.finished = false;
    live.number = number;
    renderChallenge(login);
    startExpiryCountdown(login.expires_in || 300);
    listen(login);
    $("msg-code").setAttribute("tabindex", "-1");
    $("msg-code").focus();
  } catch (error) {
    if (!(error instanceof ApiError)) {
      showError(errorElement, _("Cannot reach the server. Check your connection and try again."));
    } else if (error.status === 429) {
      showError(errorElement, tooManyText(error));
    } else if (error.status === 502) {
      showError(errorElement, _("The messenger service is not answering right now. Try again in a minute, or use an SMS code."));
    } else {
      showError(errorElement, errorText(error.data, _("Enter a valid mobile number.")));
    }
  } finally {
    busy(button, false);
    busy($("msg-new-code"), false);
  }
}

$("msg-phone-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const number = asciiDigits($("msg-phone").value.trim());
  if (!number) {
    showError($("msg-phone-error"), _("Enter your mobile number."));
    $("msg-phone").focus();
    return;
  }
  startLiveLogin(number);
});

$("msg-new-code").addEventListener("click", () => startLiveLogin(live.number));

$("msg-change").addEventListener("click", () => {
  stopLive();
  live.login = null;
  $("msg-challenge").hidden = true;
  $("msg-phone-form").hidden = false;
  $("msg-phone").focus();
});

// --- Log in with Weibo: the browser goes to Weibo, which sends it back to /login/weibo/ ---------

$("weibo-login")?.addEventListener("click", async () => {
  const button = $("weibo-login");
  busy(button, true);
  showError($("weibo-error"), "");
  try {
    // The reply sets the HttpOnly cookie that binds the state to this browser.
    const { authorize_url: authorizeUrl } = await readJson(await postJson("/api/oauth/weibo/start/", {}));
    sessionStorage.setItem(SOCIAL_NEXT_KEY, config.next || "/chat/");
    location.assign(authorizeUrl);
  } catch (error) {
    busy(button, false);
    showError(
      $("weibo-error"),
      !(error instanceof ApiError)
        ? _("Cannot reach the server. Check your connection and try again.")
        : error.status === 429
          ? tooManyText(error)
          : errorText(error.data, _("Weibo login is not available right now.")),
    );
  }
});
