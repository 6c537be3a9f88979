// /chat/: rooms with unread counts and presence, live messages over one /ws/chat/ socket,
// typing, read receipts, pending -> sent, and catch-up from the last message seen after a reconnect.
// The room list is live (room.added / room.updated / room.removed, room.invited, user.updated);
// groups are created and managed here; my messages can be edited and deleted.
import {
  _,
  ApiError,
  LiveSocket,
  LoggedOut,
  apiJson,
  asciiDigits,
  avatarElement,
  dateFormat,
  errorText,
  format,
  isolate,
  listText,
  ngettext,
  number,
  personName,
  requireLogin,
  setUpHeader,
  showConnection,
  showError,
  textDir,
} from "./api.js";

const $ = (id) => document.getElementById(id);
const TYPING_SEND_EVERY_MS = 2000;
const TYPING_SHOWN_MS = 4000;
const ROOMS_REFRESH_MS = 120_000; // a safety net only: the room list is live over the socket
const BASE_TITLE = document.title;

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
  invitations: new Map(), // room id -> invitation
  editing: null, // id of my message being edited
  confirmDelete: null, // id of a message whose delete waits for a second click
  membersOpen: false,
};

let socket;

// --- helpers ---------------------------------------------------------------------------

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function memberName(room, userId) {
  const member = (room?.members || []).find((m) => m.id === userId);
  return personName(member || { id: userId });
}

function otherMembers(room) {
  return (room?.members || []).filter((m) => m.id !== state.me);
}

function roomTitle(room) {
  if (room.title) return room.title;
  const others = otherMembers(room).map(personName);
  if (others.length === 1) return others[0];
  return others.length ? listText(others.map(isolate)) : _("Just you");
}

function roomPicture(room) {
  const others = otherMembers(room);
  return room.kind === "direct" && others.length ? avatarElement(others[0]) : avatarElement({ display_name: roomTitle(room) });
}

/** People I share a room with (for picking group members), by user id. */
function contacts() {
  const people = new Map();
  for (const room of state.rooms.values()) for (const member of otherMembers(room)) people.set(member.id, member);
  return [...people.values()].sort((a, b) => personName(a).localeCompare(personName(b)));
}

function updateTabTitle() {
  let total = 0;
  for (const room of state.rooms.values()) total += room.unread_count || 0;
  document.title = total > 0 ? `(${number(total)}) ${BASE_TITLE}` : BASE_TITLE;
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
    const picture = roomPicture(room);
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
    preview.textContent = previewText(room.last_message);
    preview.dir = textDir(preview.textContent);
    body.append(title, preview);

    const status = document.createElement("span");
    status.className = "visually-hidden";
    status.textContent = online ? _("online") : _("offline");

    button.append(picture, dot, body, status);
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
  updateTabTitle();
}

function previewText(message) {
  if (!message) return _("No messages yet");
  return message.deleted ? _("Message deleted") : message.text;
}

function adoptRoom(room) {
  const known = state.rooms.get(room.id);
  state.rooms.set(room.id, { ...known, ...room });
  state.invitations.delete(room.id);
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

function subscribe(roomId) {
  socket.send({ type: "subscribe", room: roomId, after: state.lastSeen.get(roomId) || 0, client_id: `sub-${roomId}` });
}

/** A room I am no longer in (left, removed, or deleted): gone from the page at once. */
function forgetRoom(roomId) {
  if (!state.rooms.has(roomId)) return;
  state.rooms.delete(roomId);
  state.order = state.order.filter((id) => id !== roomId);
  state.messages.delete(roomId);
  state.loaded.delete(roomId);
  for (const [clientId, entry] of state.pending) if (entry.room === roomId) state.pending.delete(clientId);
  if (state.active === roomId) closeRoom();
  renderRooms();
}

/** Re-read the room list and subscribe the socket to rooms it did not know. */
function refreshRooms() {
  loadRooms()
    .then((fresh) => {
      for (const id of fresh) subscribe(id);
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
  const mine = message.deleted ? false : message.sender.id === state.me;
  const item = document.createElement("li");
  item.className = mine ? "msg mine" : "msg theirs";
  if (message.pending) item.dataset.clientId = message.client_id;
  else item.dataset.id = String(message.id);

  const bubble = document.createElement("div");
  bubble.className = "bubble";
  if (message.deleted) {
    item.classList.add("deleted");
    const text = document.createElement("p");
    text.className = "text tombstone";
    text.textContent = _("This message was deleted.");
    bubble.append(text);
    item.append(bubble);
    return item;
  }
  const room = state.rooms.get(message.room);
  const sender = document.createElement("p");
  sender.className = "sender";
  sender.textContent = mine ? _("You") : personName(memberOf(room, message.sender));
  sender.dir = textDir(sender.textContent);
  bubble.append(sender);
  if (state.editing === message.id) {
    bubble.append(editForm(message));
  } else {
    const text = document.createElement("p");
    text.className = "text";
    text.textContent = message.text;
    text.dir = textDir(message.text); // a Latin message in a Persian page, and the reverse, reads in its own direction
    bubble.append(text);
  }
  const meta = document.createElement("p");
  meta.className = "meta";
  if (message.edited_at) {
    const edited = document.createElement("span");
    edited.className = "edited";
    edited.textContent = _("edited");
    meta.append(edited);
  }
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
  if (!message.pending) meta.append(...messageActions(message, mine, room));
  bubble.append(meta);
  item.append(bubble);
  return item;
}

function memberOf(room, user) {
  // The room's member entry is the freshest (user.updated keeps it current).
  return (room?.members || []).find((m) => m.id === user.id) || user;
}

function messageActions(message, mine, room) {
  const actions = [];
  const canEdit = mine && Date.now() - new Date(message.created_at).getTime() < 48 * 3600 * 1000;
  const canDelete = mine || (room && room.kind === "group" && room.owner === state.me);
  if (canEdit && state.editing !== message.id) {
    const edit = document.createElement("button");
    edit.type = "button";
    edit.className = "button link msg-edit";
    edit.textContent = _("Edit");
    edit.addEventListener("click", () => {
      state.editing = message.id;
      renderMessages();
      document.querySelector(`#messages [data-id="${message.id}"] textarea`)?.focus();
    });
    actions.push(edit);
  }
  if (canDelete) {
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "button link msg-delete";
    const confirming = state.confirmDelete === message.id;
    remove.textContent = confirming ? _("Delete for everyone?") : _("Delete");
    if (confirming) remove.classList.add("danger");
    remove.addEventListener("click", () => {
      if (state.confirmDelete !== message.id) {
        state.confirmDelete = message.id;
        renderMessages();
        return;
      }
      state.confirmDelete = null;
      socket.send({ type: "message.delete", message: message.id });
    });
    actions.push(remove);
  }
  return actions;
}

function editForm(message) {
  const form = document.createElement("form");
  form.className = "edit-form stack compact";
  const label = document.createElement("label");
  label.className = "visually-hidden";
  label.textContent = _("Edit message");
  const input = document.createElement("textarea");
  input.dir = "auto";
  input.value = message.text;
  input.maxLength = 4000;
  input.rows = 2;
  label.append(input);
  const row = document.createElement("div");
  row.className = "row";
  const save = document.createElement("button");
  save.type = "submit";
  save.className = "button primary";
  save.textContent = _("Save");
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "button subtle";
  cancel.textContent = _("Cancel");
  cancel.addEventListener("click", () => {
    state.editing = null;
    renderMessages();
  });
  row.append(save, cancel);
  form.append(label, row);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    if (text !== message.text) socket.send({ type: "message.edit", message: message.id, text });
    state.editing = null;
    renderMessages();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    } else if (event.key === "Escape") {
      event.stopPropagation();
      cancel.click();
    }
  });
  return form;
}

/** message.updated / message.deleted (live, or replayed on resume). */
function onChanged(message) {
  const messages = state.messages.get(message.room);
  if (messages && messages.has(message.id)) messages.set(message.id, message);
  const room = state.rooms.get(message.room);
  if (room && room.last_message && room.last_message.id === message.id) {
    room.last_message = message;
    renderRooms();
  }
  if (message.room === state.active) renderMessages();
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
  if (!message.deleted && message.client_id && message.sender.id === state.me) state.pending.delete(message.client_id);
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
  const theirs = !message.deleted && message.sender.id !== state.me;
  if (isNew && theirs && message.id > (state.countedUpTo.get(roomId) || 0)) {
    state.countedUpTo.set(roomId, message.id);
    if (roomId !== state.active) room.unread_count = (room.unread_count || 0) + 1;
  }
  if (isNew) {
    bumpRoom(roomId);
    if (!message.deleted) clearTyping(roomId, message.sender.id);
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

/** After `replay.more`: the replay stopped at its limit; page through the rest over REST. */
async function catchUp(roomId, after) {
  $("history-loading").hidden = roomId !== state.active;
  try {
    for (;;) {
      const page = await apiJson(`/api/chat/rooms/${roomId}/messages/?after=${after}&limit=200`);
      for (const message of page) onMessage(message);
      if (page.length < 200) break;
      after = page[page.length - 1].id;
    }
  } catch (error) {
    if (error instanceof LoggedOut) return;
  } finally {
    $("history-loading").hidden = true;
  }
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
  $("room-avatar").replaceWith(Object.assign(roomPicture(room), { id: "room-avatar" }));
  renderMembers();
  const online = othersOnline(state.active);
  const presence = $("room-presence");
  presence.dataset.online = String(online.length > 0);
  if (room.kind === "direct") presence.textContent = online.length ? _("online") : _("offline");
  else presence.textContent = format(ngettext("%(n)s member online", "%(n)s members online", online.length), { n: number(online.length) });
}

async function openRoom(roomId) {
  if (state.active !== roomId) {
    state.editing = null;
    state.confirmDelete = null;
  }
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
  if (!state.membersOpen) $("composer-text").focus();
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
  setMembersOpen(false);
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
        who: listText(users.map((id) => isolate(memberName(room, id)))),
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
  if (frame.ref && frame.ref.startsWith("sub-")) {
    // A subscribe refused for now (rate_limited, unavailable): ask again later.
    const roomId = Number(frame.ref.slice(4));
    if (state.rooms.has(roomId) && frame.code !== "not_found") {
      setTimeout(() => subscribe(roomId), (frame.retry_after || 2) * 1000);
    }
    return;
  }
  if (!frame.ref && (frame.code === "forbidden" || frame.code === "not_found")) {
    showComposerError(errorText(frame, _("That did not work.")));
    return;
  }
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
  for (const roomId of state.order) subscribe(roomId);
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
    case "message.updated":
    case "message.deleted":
      if (frame.message) onChanged(frame.message);
      break;
    case "replay.more":
      catchUp(frame.room, frame.after);
      break;
    case "room.added":
      onRoomAdded(frame.room);
      break;
    case "room.updated":
      onRoomUpdated(frame.room);
      break;
    case "room.removed":
    case "unsubscribed":
      if (frame.type === "room.removed" || frame.reason === "removed") forgetRoom(frame.room);
      break;
    case "room.invited":
      onInvited(frame.invitation);
      break;
    case "user.updated":
      onUserUpdated(frame.user);
      break;
    default:
      break;
  }
}

// --- the live room list ----------------------------------------------------------------

function onRoomAdded(room) {
  const isNew = adoptRoom(room);
  if (isNew) {
    bumpRoom(room.id);
    subscribe(room.id);
  }
  renderRooms();
  renderInvitations();
  if (room.id === state.active) renderRoomHeader();
}

function onRoomUpdated(summary) {
  const room = state.rooms.get(summary.id);
  if (!room) return;
  Object.assign(room, summary);
  renderRooms();
  if (summary.id === state.active) {
    renderRoomHeader();
    renderMessages();
  }
}

function onUserUpdated(user) {
  for (const room of state.rooms.values()) {
    for (const member of room.members || []) {
      if (member.id === user.id) Object.assign(member, { display_name: user.display_name, avatar_url: user.avatar_url });
    }
  }
  for (const messages of state.messages.values()) {
    for (const message of messages.values()) {
      if (message.sender && message.sender.id === user.id) Object.assign(message.sender, user);
    }
  }
  if (user.id === state.me) $("name-form").hidden = Boolean(user.display_name);
  renderRooms();
  if (state.active !== null) {
    renderRoomHeader();
    renderMessages();
  }
}

// --- invitations --------------------------------------------------------------------------

function onInvited(invitation) {
  state.invitations.set(invitation.room.id, invitation);
  renderInvitations();
}

function renderInvitations() {
  const list = $("invitation-list");
  list.replaceChildren();
  for (const invitation of state.invitations.values()) {
    const item = document.createElement("li");
    item.className = "invitation";
    item.dataset.room = String(invitation.room.id);
    const text = document.createElement("p");
    text.textContent = format(_("%(who)s invites you to “%(title)s”"), {
      who: isolate(personName(invitation.invited_by)),
      title: isolate(invitation.room.title),
    });
    const accept = document.createElement("button");
    accept.type = "button";
    accept.className = "button primary";
    accept.textContent = _("Accept");
    accept.addEventListener("click", () => answerInvitation(invitation.room.id, "accept"));
    const decline = document.createElement("button");
    decline.type = "button";
    decline.className = "button subtle";
    decline.textContent = _("Decline");
    decline.addEventListener("click", () => answerInvitation(invitation.room.id, "decline"));
    const row = document.createElement("div");
    row.className = "row";
    row.append(accept, decline);
    item.append(avatarElement(invitation.invited_by), text, row);
    list.append(item);
  }
  $("invitations").hidden = state.invitations.size === 0;
}

async function loadInvitations() {
  const invitations = await apiJson("/api/chat/invitations/");
  state.invitations = new Map(invitations.map((invitation) => [invitation.room.id, invitation]));
  renderInvitations();
}

async function answerInvitation(roomId, answer) {
  try {
    const room = await apiJson(`/api/chat/invitations/${roomId}/${answer}/`, { method: "POST" });
    state.invitations.delete(roomId);
    if (room) {
      onRoomAdded(room);
      openRoom(room.id);
    }
  } catch (error) {
    if (error instanceof LoggedOut) return;
    state.invitations.delete(roomId); // gone already (withdrawn, or answered elsewhere)
  }
  renderInvitations();
}

// --- group creation and the members panel ------------------------------------------------

function apiErrorText(error, fallback) {
  if (error instanceof ApiError) {
    if (error.status === 429) {
      return format(_("Too many changes for now. Try again in %(n)s s."), { n: number(error.retryAfter || 60) });
    }
    if (error.data && error.data.code === "not_registered") return _("Nobody with this number uses hotline yet.");
    return errorText(error.data, fallback);
  }
  return _("Cannot reach the server. Check your connection and try again.");
}

function toggleNewGroup(open) {
  $("new-group-form").hidden = !open;
  $("new-group-open").setAttribute("aria-expanded", String(open));
  if (!open) return;
  const list = $("new-group-contacts");
  list.replaceChildren();
  const people = contacts();
  for (const person of people) {
    const item = document.createElement("li");
    const label = document.createElement("label");
    label.className = "pick";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = String(person.id);
    const name = document.createElement("span");
    name.textContent = personName(person);
    name.dir = textDir(name.textContent);
    label.append(box, avatarElement(person), name);
    item.append(label);
    list.append(item);
  }
  $("new-group-no-contacts").hidden = people.length > 0;
  showError("new-group-error", "");
  $("new-group-title").focus();
}

async function createGroup(event) {
  event.preventDefault();
  const title = $("new-group-title").value.trim();
  if (!title) {
    showError("new-group-error", _("Give the group a name."));
    $("new-group-title").focus();
    return;
  }
  const members = [...$("new-group-contacts").querySelectorAll("input:checked")].map((box) => Number(box.value));
  // Numbers one a line or separated by commas (Latin, Persian or Chinese ones).
  const numbers = asciiDigits($("new-group-numbers").value).split(/[\n,;،，；]+/).map((n) => n.trim()).filter(Boolean);
  $("new-group-create").disabled = true;
  try {
    const room = await apiJson("/api/chat/rooms/", { method: "POST", body: { kind: "group", title, members: [...members, ...numbers] } });
    onRoomAdded(room);
    $("new-group-title").value = "";
    $("new-group-numbers").value = "";
    toggleNewGroup(false);
    openRoom(room.id);
  } catch (error) {
    if (error instanceof LoggedOut) return;
    showError("new-group-error", apiErrorText(error, _("Could not create the group.")));
  } finally {
    $("new-group-create").disabled = false;
  }
}

function setMembersOpen(open) {
  state.membersOpen = open;
  $("members-panel").hidden = !open;
  $("members-toggle").setAttribute("aria-expanded", String(open));
  document.body.classList.toggle("members-open", open);
  if (open) renderMembers();
}

function renderMembers() {
  const room = state.rooms.get(state.active);
  if (!room || !state.membersOpen) return;
  const owner = room.kind === "group" && room.owner === state.me;
  const list = $("member-list");
  list.replaceChildren();
  for (const member of room.members || []) {
    const item = document.createElement("li");
    item.className = "member";
    item.dataset.user = String(member.id);
    const name = document.createElement("span");
    name.className = "member-name";
    name.textContent = member.id === state.me ? format(_("%(name)s (you)"), { name: isolate(personName(member)) }) : personName(member);
    // Another's name in its own direction; "Sara (you)" is a phrase of the page's language, in its direction.
    if (member.id !== state.me) name.dir = textDir(name.textContent);
    item.append(avatarElement(member), name);
    if (room.owner === member.id) {
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = _("owner");
      item.append(tag);
    }
    if (owner && member.id !== state.me) {
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "button link member-remove";
      remove.textContent = _("Remove");
      remove.setAttribute("aria-label", format(_("Remove %(name)s"), { name: personName(member) }));
      remove.addEventListener("click", () => membersCall(`/api/chat/rooms/${room.id}/members/${member.id}/`, { method: "DELETE" }));
      const promote = document.createElement("button");
      promote.type = "button";
      promote.className = "button link member-owner";
      promote.textContent = _("Make owner");
      promote.addEventListener("click", () => membersCall(`/api/chat/rooms/${room.id}/`, { method: "PATCH", body: { owner: member.id } }));
      item.append(remove, promote);
    }
    list.append(item);
  }
  $("rename-form").hidden = !owner;
  if (owner && document.activeElement !== $("rename-input")) $("rename-input").value = room.title;
  $("add-member-form").hidden = !owner;
  const options = $("add-member-contacts");
  options.replaceChildren();
  const inRoom = new Set((room.members || []).map((m) => m.id));
  for (const person of contacts()) {
    if (inRoom.has(person.id)) continue;
    const option = document.createElement("option");
    option.value = personName(person);
    option.dataset.user = String(person.id);
    options.append(option);
  }
  $("leave-room").hidden = room.kind !== "group";
  $("block-user").hidden = room.kind !== "direct";
}

async function membersCall(path, options, done) {
  showError("members-error", "");
  $("members-status").textContent = "";
  try {
    const result = await apiJson(path, options);
    if (done) done(result);
  } catch (error) {
    if (error instanceof LoggedOut) return;
    showError("members-error", apiErrorText(error, _("That did not work.")));
  }
}

function addMember(event) {
  event.preventDefault();
  const room = state.rooms.get(state.active);
  const value = $("add-member-input").value.trim();
  if (!room || !value) return;
  const person = contacts().find((p) => personName(p) === value);
  const body = person ? { user_id: person.id } : { mobile_number: asciiDigits(value) };
  membersCall(`/api/chat/rooms/${room.id}/members/`, { method: "POST", body }, (result) => {
    $("add-member-input").value = "";
    if (result && result.code === "invited") $("members-status").textContent = _("Invitation sent.");
    else if (result && result.id) onRoomUpdated(result);
  });
}

function rename(event) {
  event.preventDefault();
  const title = $("rename-input").value.trim();
  if (title) membersCall(`/api/chat/rooms/${state.active}/`, { method: "PATCH", body: { title } }, (room) => onRoomUpdated(room));
}

function leave() {
  const roomId = state.active;
  membersCall(`/api/chat/rooms/${roomId}/members/${state.me}/`, { method: "DELETE" }, () => {
    setMembersOpen(false);
    forgetRoom(roomId);
  });
}

function block() {
  const room = state.rooms.get(state.active);
  const other = otherMembers(room)[0];
  if (!other) return;
  membersCall("/api/chat/blocks/", { method: "POST", body: { user_id: other.id } }, () => {
    $("members-status").textContent = format(_("%(name)s is blocked. Unblock them on your profile page."), {
      name: isolate(personName(other)),
    });
  });
}

// --- my name ----------------------------------------------------------------------------

async function saveName(event) {
  event.preventDefault();
  const name = $("name-input").value.trim();
  if (!name) return;
  try {
    await apiJson("/api/me/", { method: "PATCH", body: { display_name: name } });
    $("name-form").hidden = true;
  } catch (error) {
    if (error instanceof LoggedOut) return;
    showError("name-error", apiErrorText(error, _("Could not save your name.")));
  }
}

async function onSocketOpen() {
  // Catch up: rooms may have appeared and unread counts moved while this page was away.
  try {
    await Promise.all([loadRooms(), loadInvitations()]);
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
    if (isNew) subscribe(room.id);
    input.value = "";
    openRoom(room.id);
  } catch (error) {
    if (error instanceof LoggedOut) return;
    errorElement.textContent = apiErrorText(error, _("Could not start the chat."));
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
  $("new-group-open").addEventListener("click", () => toggleNewGroup($("new-group-form").hidden));
  $("new-group-cancel").addEventListener("click", () => toggleNewGroup(false));
  $("new-group-form").addEventListener("submit", createGroup);
  $("members-toggle").addEventListener("click", () => setMembersOpen(!state.membersOpen));
  $("members-close").addEventListener("click", () => setMembersOpen(false));
  $("rename-form").addEventListener("submit", rename);
  $("add-member-form").addEventListener("submit", addMember);
  $("leave-room").addEventListener("click", leave);
  $("block-user").addEventListener("click", block);
  $("name-form").addEventListener("submit", saveName);
  wireComposer();
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      markRead();
      if (socket.open) refreshRooms();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    if (state.membersOpen) setMembersOpen(false);
    else if (document.body.classList.contains("room-open")) closeRoom();
  });
  const [me] = await Promise.all([setUpHeader(), loadRooms(), loadInvitations().catch(() => {})]);
  if (me && !me.display_name) $("name-form").hidden = false; // first login: ask for a name
  socket.connect();
  // The room list is live over the socket (room.added, ...); an occasional re-read is a safety net
  // for frames lost while a process's Redis link was down.
  setInterval(() => {
    if (document.visibilityState === "visible" && socket.open) refreshRooms();
  }, ROOMS_REFRESH_MS);
}

main().catch((error) => {
  if (!(error instanceof LoggedOut)) console.error(error);
});
