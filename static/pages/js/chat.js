// /chat/: rooms with unread counts and presence, live messages over one /ws/chat/ socket,
// typing, read receipts, pending -> sent, and catch-up from the last message seen after a reconnect.
import {
  _,
  ApiError,
  LiveSocket,
  LoggedOut,
  apiJson,
  asciiDigits,
  dateFormat,
  errorText,
  format,
  ltr,
  ngettext,
  number,
  textDir,
  requireLogin,
  setUpHeader,
  showConnection,
} from "./api.js";

const $ = (id) => document.getElementById(id);
const TYPING_SEND_EVERY_MS = 2000;
const TYPING_SHOWN_MS = 4000;
const ROOMS_REFRESH_MS = 30_000;

const state = {
  me: null, // my user id
  rooms: new Map(), // id -> room from the API (+ local fields)
  order: [], // room ids, most recent activity first
  active: null, // open room id
  messages: new Map(), // room id -> Map(message id -> message)
  loaded: new Set(), // rooms whose history has been fetched
  lastSeen: new Map(), // room id -> highest message id this page has seen (the resume point)
  countedUpTo: new Map(), // room id -> highest message id already reflected in unread_count
  pending: new Map(), // client_id -> {room, text, failed}
  online: new Map(), // room id -> Set(user ids)
  readBy: new Map(), // room id -> Map(user id -> message id)
  typing: new Map(), // room id -> Map(user id -> timeout)
  lastTypingSent: 0,
  lastReadSent: new Map(), // room id -> message id
};

let socket;

// --- helpers ---------------------------------------------------------------------------

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function memberNumber(room, userId) {
  const member = (room.members || []).find((m) => m.id === userId);
  return member ? member.mobile_number : format(_("user %(id)s"), { id: number(userId) });
}

function roomTitle(room) {
  if (room.title) return room.title;
  const others = (room.members || []).filter((m) => m.id !== state.me).map((m) => m.mobile_number);
  return others.length ? others.join(", ") : _("Just you");
}

function othersOnline(roomId) {
  const room = state.rooms.get(roomId);
  const online = state.online.get(roomId) || new Set();
  return (room?.members || []).filter((m) => m.id !== state.me && online.has(m.id));
}

const timeFormat = dateFormat({ hour: "2-digit", minute: "2-digit" });

function timeText(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : timeFormat.format(date);
}

function roomMessages(roomId) {
  if (!state.messages.has(roomId)) state.messages.set(roomId, new Map());
  return state.messages.get(roomId);
}

function seen(roomId, messageId) {
  if (messageId > (state.lastSeen.get(roomId) || 0)) state.lastSeen.set(roomId, messageId);
}

function bumpRoom(roomId) {
  state.order = [roomId, ...state.order.filter((id) => id !== roomId)];
}

// --- rooms list ------------------------------------------------------------------------

function renderRooms() {
  const list = $("room-list");
  list.replaceChildren();
  $("rooms-empty").hidden = state.order.length > 0;
  for (const id of state.order) {
    const room = state.rooms.get(id);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "room";
    button.dataset.room = String(id);
    if (id === state.active) button.setAttribute("aria-current", "true");

    const online = othersOnline(id).length > 0;
    const dot = document.createElement("span");
    dot.className = online ? "dot online" : "dot";
    dot.dataset.online = String(online);
    dot.setAttribute("aria-hidden", "true");

    const body = document.createElement("span");
    body.className = "room-body";
    const title = document.createElement("span");
    title.className = "room-title";
    title.textContent = roomTitle(room);
    title.dir = textDir(title.textContent);
    const preview = document.createElement("span");
    preview.className = "room-preview";
    preview.textContent = room.last_message ? room.last_message.text : _("No messages yet");
    preview.dir = textDir(preview.textContent);
    body.append(title, preview);

    const status = document.createElement("span");
    status.className = "visually-hidden";
    status.textContent = online ? _("online") : _("offline");

    button.append(dot, body, status);
    if (room.unread_count > 0) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = number(room.unread_count);
      const label = document.createElement("span");
      label.className = "visually-hidden";
      label.textContent = format(ngettext("%(n)s unread message", "%(n)s unread messages", room.unread_count), {
        n: number(room.unread_count),
      });
      badge.setAttribute("aria-hidden", "true");
      button.append(badge, label);
    }
    button.addEventListener("click", () => openRoom(id));
    const item = document.createElement("li");
    item.append(button);
    list.append(item);
  }
}

function adoptRoom(room) {
  const known = state.rooms.get(room.id);
  state.rooms.set(room.id, { ...known, ...room });
  const lastId = room.last_message ? room.last_message.id : 0;
  state.countedUpTo.set(room.id, Math.max(state.countedUpTo.get(room.id) || 0, lastId));
  if (!state.loaded.has(room.id)) seen(room.id, lastId);
  if (!state.order.includes(room.id)) state.order.push(room.id);
  return !known;
}

async function loadRooms() {
  const rooms = await apiJson("/api/chat/rooms/");
  const fresh = [];
  for (const room of rooms) {
    if (room.id === state.active) room.unread_count = 0;
    if (adoptRoom(room)) fresh.push(room.id);
  }
  // The server's order is "most recent activity first".
  const serverOrder = rooms.map((room) => room.id);
  state.order = [...serverOrder, ...state.order.filter((id) => !serverOrder.includes(id))];
  renderRooms();
  return fresh;
}

/** Re-read the room list and subscribe the socket to rooms it did not know. */
function refreshRooms() {
  loadRooms()
    .then((fresh) => {
      for (const id of fresh) socket.send({ type: "subscribe", room: id, after: state.lastSeen.get(id) || 0 });
    })
    .catch(() => {});
}

// --- messages ---------------------------------------------------------------------------

function statusOf(message) {
  if (message.pending) return message.failed ? "failed" : "pending";
  const readers = state.readBy.get(message.room) || new Map();
  for (const [userId, upTo] of readers) if (userId !== state.me && upTo >= message.id) return "read";
  return "sent";
}

const STATUS_TEXT = {
  pending: () => _("Sending…"),
  sent: () => _("Sent"),
  read: () => _("Read"),
  failed: () => _("Not sent"),
};
const STATUS_ICON = { pending: "◷", sent: "✓", read: "✓✓", failed: "!" };

function messageElement(message) {
  const mine = message.sender.id === state.me;
  const item = document.createElement("li");
  item.className = mine ? "msg mine" : "msg theirs";
  if (message.pending) item.dataset.clientId = message.client_id;
  else item.dataset.id = String(message.id);

  const bubble = document.createElement("div");
  bubble.className = "bubble";
  const sender = document.createElement("p");
  sender.className = "sender";
  sender.textContent = mine ? _("You") : message.sender.mobile_number;
  sender.dir = textDir(sender.textContent);
  const text = document.createElement("p");
  text.className = "text";
  text.textContent = message.text;
  text.dir = textDir(message.text); // a Latin message in a Persian page, and the reverse, reads in its own direction
  const meta = document.createElement("p");
  meta.className = "meta";
  const time = document.createElement("time");
  if (message.created_at) {
    time.dateTime = message.created_at;
    time.textContent = timeText(message.created_at);
  }
  meta.append(time);
  if (mine) {
    const status = statusOf(message);
    const badge = document.createElement("span");
    badge.className = "status";
    badge.dataset.status = status;
    const icon = document.createElement("span");
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = STATUS_ICON[status];
    badge.append(icon, " ", STATUS_TEXT[status]());
    meta.append(badge);
    if (status === "failed") {
      const retry = document.createElement("button");
      retry.type = "button";
      retry.className = "button link retry";
      retry.textContent = _("Retry");
      retry.addEventListener("click", () => {
        const entry = state.pending.get(message.client_id);
        if (entry) {
          entry.failed = false;
          renderMessages();
          flushPending();
        }
      });
      meta.append(retry);
    }
  }
  bubble.append(sender, text, meta);
  item.append(bubble);
  return item;
}

function renderMessages() {
  if (state.active === null) return;
  const list = $("messages");
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const stored = [...roomMessages(state.active).values()].sort((a, b) => a.id - b.id);
  const pending = [...state.pending.entries()]
    .filter(([, entry]) => entry.room === state.active)
    .map(([clientId, entry]) => ({
      pending: true,
      failed: entry.failed,
      client_id: clientId,
      room: entry.room,
      text: entry.text,
      sender: { id: state.me },
      created_at: entry.created_at,
    }));
  list.replaceChildren(...stored.map(messageElement), ...pending.map(messageElement));
  if (nearBottom || pending.length) list.scrollTop = list.scrollHeight;
}

function storeMessage(message) {
  const messages = roomMessages(message.room);
  const isNew = !messages.has(message.id);
  messages.set(message.id, message);
  if (message.client_id && message.sender.id === state.me) state.pending.delete(message.client_id);
  seen(message.room, message.id);
  return isNew;
}

function onMessage(message) {
  const roomId = message.room;
  const room = state.rooms.get(roomId);
  if (!room) {
    // A room this page does not know yet (someone started a chat with me): fetch the list.
    refreshRooms();
    return;
  }
  const isNew = storeMessage(message);
  if (!room.last_message || message.id >= room.last_message.id) room.last_message = message;
  if (isNew && message.sender.id !== state.me && message.id > (state.countedUpTo.get(roomId) || 0)) {
    state.countedUpTo.set(roomId, message.id);
    if (roomId !== state.active) room.unread_count = (room.unread_count || 0) + 1;
  }
  if (isNew) {
    bumpRoom(roomId);
    clearTyping(roomId, message.sender.id);
  }
  renderRooms();
  if (roomId === state.active) {
    renderMessages();
    markRead();
  }
}

async function loadHistory(roomId) {
  const messages = await apiJson(`/api/chat/rooms/${roomId}/messages/?limit=50`);
  for (const message of messages) storeMessage(message);
  state.loaded.add(roomId);
}

function markRead() {
  const roomId = state.active;
  if (roomId === null || document.visibilityState !== "visible") return;
  const last = state.lastSeen.get(roomId) || 0;
  if (!last || last <= (state.lastReadSent.get(roomId) || 0)) return;
  if (socket.send({ type: "read", room: roomId, message: last })) state.lastReadSent.set(roomId, last);
  const room = state.rooms.get(roomId);
  if (room && room.unread_count) {
    room.unread_count = 0;
    renderRooms();
  }
}

// --- room view --------------------------------------------------------------------------

function renderRoomHeader() {
  const room = state.rooms.get(state.active);
  if (!room) return;
  $("room-title").textContent = roomTitle(room);
  $("room-title").dir = textDir($("room-title").textContent);
  const online = othersOnline(state.active);
  const presence = $("room-presence");
  presence.dataset.online = String(online.length > 0);
  if (room.kind === "direct") presence.textContent = online.length ? _("online") : _("offline");
  else presence.textContent = format(ngettext("%(n)s member online", "%(n)s members online", online.length), { n: number(online.length) });
}

async function openRoom(roomId) {
  state.active = roomId;
  const room = state.rooms.get(roomId);
  room.unread_count = 0;
  document.body.classList.add("room-open");
  $("no-room").hidden = true;
  $("room-view").hidden = false;
  renderRooms();
  renderRoomHeader();
  renderTyping();
  renderMessages();
  $("composer-text").focus();
  if (!state.loaded.has(roomId)) {
    try {
      await loadHistory(roomId);
    } catch (error) {
      if (error instanceof LoggedOut) return;
    }
    if (state.active === roomId) renderMessages();
  }
  markRead();
}

function closeRoom() {
  state.active = null;
  document.body.classList.remove("room-open");
  $("room-view").hidden = true;
  $("no-room").hidden = false;
  renderRooms();
  document.querySelector(".room-list button")?.focus();
}

// --- typing -------------------------------------------------------------------------------

function clearTyping(roomId, userId) {
  const timers = state.typing.get(roomId);
  if (timers?.has(userId)) {
    clearTimeout(timers.get(userId));
    timers.delete(userId);
    if (roomId === state.active) renderTyping();
  }
}

function onTyping(frame) {
  if (frame.user === state.me) return;
  if (!state.typing.has(frame.room)) state.typing.set(frame.room, new Map());
  const timers = state.typing.get(frame.room);
  clearTimeout(timers.get(frame.user));
  timers.set(frame.user, setTimeout(() => clearTyping(frame.room, frame.user), TYPING_SHOWN_MS));
  if (frame.room === state.active) renderTyping();
}

function renderTyping() {
  const element = $("typing");
  const room = state.rooms.get(state.active);
  const users = [...(state.typing.get(state.active)?.keys() || [])];
  element.textContent = users.length
    ? format(ngettext("%(who)s is typing…", "%(who)s are typing…", users.length), {
        who: users.map((id) => ltr(memberNumber(room, id))).join(", "),
      })
    : "";
}

// --- sending -------------------------------------------------------------------------------

function flushPending() {
  for (const [clientId, entry] of state.pending) {
    if (entry.failed) continue;
    socket.send({ type: "message.send", room: entry.room, text: entry.text, client_id: clientId });
  }
}

function sendMessage(text) {
  const clientId = newClientId();
  state.pending.set(clientId, { room: state.active, text, failed: false, created_at: new Date().toISOString() });
  renderMessages();
  // Sent now if connected; otherwise when the socket is back (same client_id: never a duplicate).
  socket.send({ type: "message.send", room: state.active, text, client_id: clientId });
}

function onAck(frame) {
  if (frame.message) onMessage(frame.message);
  state.pending.delete(frame.client_id);
  renderMessages();
}

function onError(frame) {
  const entry = frame.ref ? state.pending.get(frame.ref) : null;
  if (entry) {
    entry.failed = true;
    renderMessages();
    const wait = frame.retry_after ? " " + format(_("Try again in %(n)s s."), { n: number(frame.retry_after) }) : "";
    showComposerError(errorText(frame, _("The message was not sent.")) + wait);
  }
}

function showComposerError(text) {
  const element = $("composer-error");
  element.textContent = text || "";
  element.hidden = !text;
}

// --- socket -------------------------------------------------------------------------------

function subscribeAll() {
  for (const roomId of state.order) {
    socket.send({ type: "subscribe", room: roomId, after: state.lastSeen.get(roomId) || 0 });
  }
}

function onFrame(frame) {
  switch (frame.type) {
    case "message.new":
      if (frame.message) onMessage(frame.message);
      break;
    case "message.ack":
      onAck(frame);
      break;
    case "typing":
      onTyping(frame);
      break;
    case "read": {
      if (!state.readBy.has(frame.room)) state.readBy.set(frame.room, new Map());
      const readers = state.readBy.get(frame.room);
      readers.set(frame.user, Math.max(readers.get(frame.user) || 0, frame.message));
      if (frame.user === state.me) {
        const room = state.rooms.get(frame.room);
        if (room && frame.message >= (room.last_message?.id || 0)) room.unread_count = 0;
        renderRooms();
      }
      if (frame.room === state.active) renderMessages();
      break;
    }
    case "presence.state":
      state.online.set(frame.room, new Set(frame.online || []));
      renderRooms();
      if (frame.room === state.active) renderRoomHeader();
      break;
    case "presence": {
      if (!state.online.has(frame.room)) state.online.set(frame.room, new Set());
      const online = state.online.get(frame.room);
      if (frame.online) online.add(frame.user);
      else online.delete(frame.user);
      renderRooms();
      if (frame.room === state.active) renderRoomHeader();
      break;
    }
    case "error":
      onError(frame);
      break;
    default:
      break;
  }
}

async function onSocketOpen() {
  // Catch up: rooms may have appeared and unread counts moved while this page was away.
  try {
    await loadRooms();
  } catch (error) {
    if (error instanceof LoggedOut) return;
  }
  subscribeAll();
  flushPending();
  markRead();
}

// --- start -------------------------------------------------------------------------------

async function startChat(event) {
  event.preventDefault();
  const input = $("new-chat-phone");
  const errorElement = $("new-chat-error");
  const phone = asciiDigits(input.value.trim());
  errorElement.hidden = true;
  if (!phone) {
    errorElement.textContent = _("Enter a phone number.");
    errorElement.hidden = false;
    input.focus();
    return;
  }
  $("new-chat-start").disabled = true;
  try {
    const room = await apiJson("/api/chat/rooms/", { method: "POST", body: { kind: "direct", mobile_number: phone } });
    const isNew = adoptRoom(room);
    bumpRoom(room.id);
    if (isNew) socket.send({ type: "subscribe", room: room.id, after: state.lastSeen.get(room.id) || 0 });
    input.value = "";
    openRoom(room.id);
  } catch (error) {
    if (error instanceof LoggedOut) return;
    errorElement.textContent =
      error instanceof ApiError
        ? error.status === 404
          ? _("Nobody with this number uses hotline yet.")
          : errorText(error.data, _("Could not start the chat."))
        : _("Cannot reach the server. Check your connection and try again.");
    errorElement.hidden = false;
    input.focus();
  } finally {
    $("new-chat-start").disabled = false;
  }
}

function wireComposer() {
  const textarea = $("composer-text");
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = textarea.value.trim();
    if (!text || state.active === null) return;
    if (text.length > 4000) {
      showComposerError(_("A message can have at most 4,000 characters."));
      return;
    }
    showComposerError("");
    textarea.value = "";
    sendMessage(text);
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  textarea.addEventListener("input", () => {
    const now = Date.now();
    if (state.active !== null && textarea.value && now - state.lastTypingSent > TYPING_SEND_EVERY_MS) {
      if (socket.send({ type: "typing", room: state.active })) state.lastTypingSent = now;
    }
  });
}

async function main() {
  const claims = await requireLogin();
  state.me = Number(claims.user_id); // the claim may be a string; ids in the API are numbers
  socket = new LiveSocket({ onOpen: onSocketOpen, onFrame, onState: showConnection });
  $("new-chat-form").addEventListener("submit", startChat);
  $("back-to-rooms").addEventListener("click", closeRoom);
  wireComposer();
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      markRead();
      if (socket.open) refreshRooms();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && document.body.classList.contains("room-open")) closeRoom();
  });
  await Promise.all([setUpHeader(), loadRooms()]);
  socket.connect();
  // The socket protocol has no "room created" frame: a light re-read of the room list finds chats
  // other people started with me (messages themselves always arrive over the socket).
  setInterval(() => {
    if (document.visibilityState === "visible" && socket.open) refreshRooms();
  }, ROOMS_REFRESH_MS);
}

main().catch((error) => {
  if (!(error instanceof LoggedOut)) console.error(error);
});
