/* omnihub web chat widget: a launcher and a chat panel in their own shadow root.
 *
 * Embed with one tag:
 *   <script async src="https://HUB/webchat/widget.js" data-site-key="wcs_..."
 *           data-user-id="..." data-user-hash="..." data-lang="es"></script>
 * data-user-id and data-user-hash (hex HMAC-SHA256 of the user id with the site's
 * identity secret, computed by the shop's backend) link a logged-in shop customer.
 *
 * Protocol: POST /webchat/session gives a signed token; the websocket's first frame
 * is a hello with that token and the last message id this browser has seen; the hub
 * replays what is newer, says "ready", then relays live frames. Messages the visitor
 * writes carry a client_msg_id and are sent again after every reconnect until acked.
 * When too many new visitors came from the same address, the session answers 429: the
 * widget says so and asks again when the hub's answer says it may. A token the hub has
 * ended (the visitor signed in or out, here or in another tab, or proved who they are
 * with a one-time code) is answered with 401 (4401 on the socket): the widget takes
 * the token another tab stored for the same shop user, or else starts afresh. The tab
 * where the code was typed gets the token that follows in a "token" frame. A visitor writing faster than the hub takes gets
 * an error "rate_limited" with retry_after: the widget holds their messages, says so,
 * and sends them then.
 * Text is only ever put in the page with textContent.
 */
(function () {
  "use strict";

  const script =
    document.currentScript ||
    document.querySelector('script[data-site-key][src*="/webchat/widget.js"]');
  const siteKey = script && script.getAttribute("data-site-key");
  if (!siteKey) return;
  const loaded = (window.__omnihubWebchat = window.__omnihubWebchat || {});
  if (loaded[siteKey]) return; // the tag was included twice: one widget is enough
  loaded[siteKey] = true;

  const TEXTS = {
    en: {
      title: "Chat with us",
      placeholder: "Type a message…",
      send: "Send",
      lost: "Connection lost. Reconnecting…",
      open: "Open chat",
      close: "Close chat",
      notSent: "Not sent",
      typing: "Writing…",
      busy:
        "Too many chats were started from your network. " +
        "The chat will connect by itself within a few minutes…",
      slow:
        "You are sending messages very quickly. " +
        "Your message will be sent automatically in a moment…",
    },
    es: {
      title: "Chatea con nosotros",
      placeholder: "Escribe un mensaje…",
      send: "Enviar",
      lost: "Se ha perdido la conexión. Reconectando…",
      open: "Abrir el chat",
      close: "Cerrar el chat",
      notSent: "No enviado",
      typing: "Escribiendo…",
      busy:
        "Se han iniciado demasiados chats desde tu red. " +
        "El chat se conectará solo en unos minutos…",
      slow:
        "Estás enviando mensajes muy rápido. " +
        "Tu mensaje se enviará automáticamente en un momento…",
    },
    pt: {
      title: "Fale connosco",
      placeholder: "Escreva uma mensagem…",
      send: "Enviar",
      lost: "Ligação perdida. A voltar a ligar…",
      open: "Abrir o chat",
      close: "Fechar o chat",
      notSent: "Não enviada",
      typing: "A escrever…",
      busy:
        "Foram iniciadas demasiadas conversas a partir da sua rede. " +
        "O chat vai ligar-se sozinho dentro de alguns minutos…",
      slow:
        "Está a enviar mensagens muito depressa. " +
        "A sua mensagem será enviada automaticamente dentro de momentos…",
    },
  };
  const MAX_TEXT = 4000;
  const MAX_KEPT = 100; // messages kept in localStorage to show at the next page
  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const UNAUTHORIZED = 4401;
  const SESSION_ENDED = 401;
  const TOO_MANY_REQUESTS = 429;

  const lang = pickLanguage();
  const t = TEXTS[lang];
  const sessionUrl = new URL("session", script.src).href;
  const socketUrl = new URL("ws", script.src);
  socketUrl.protocol = socketUrl.protocol === "https:" ? "wss:" : "ws:";
  socketUrl.searchParams.set("site_key", siteKey);
  const storeKey = "omnihub.webchat." + siteKey;
  // The shop user this page vouches for (null: anonymous); a token is asked for as them.
  const pageUser = script.getAttribute("data-user-id") || null;

  // -- state ------------------------------------------------------------------------

  const stored = load();
  let token = typeof stored.token === "string" ? stored.token : null;
  let tokenUser = typeof stored.tokenUser === "string" ? stored.tokenUser : null;
  let visitorId = typeof stored.visitorId === "string" ? stored.visitorId : null;
  let lastSeenId = Number.isInteger(stored.lastSeenId) ? stored.lastSeenId : 0;
  let messages = Array.isArray(stored.messages) ? stored.messages.filter(isMessage) : [];
  let pending = Array.isArray(stored.pending) ? stored.pending.filter(isPending) : [];
  let isOpen = stored.open === true;
  let unread = 0;
  let socket = null;
  let state = "idle"; // idle, connecting, online, offline, busy, disabled
  let started = false;
  let needSession = true;
  let attempt = 0;
  let retryTimer = null;
  let typingTimer = null;
  let notice = "";
  let heldUntil = 0; // the hub asked to wait before the next message (too fast)
  let releaseTimer = null;

  function pickLanguage() {
    const wanted = [script.getAttribute("data-lang")].concat(
      navigator.languages || [navigator.language],
    );
    for (const tag of wanted) {
      const code = String(tag || "").slice(0, 2).toLowerCase();
      if (TEXTS[code]) return code;
    }
    return "en";
  }

  function isMessage(m) {
    return m && Number.isInteger(m.id) && typeof m.text === "string";
  }

  function isPending(p) {
    return p && typeof p.client_msg_id === "string" && typeof p.text === "string";
  }

  function load() {
    try {
      return JSON.parse(localStorage.getItem(storeKey)) || {};
    } catch (err) {
      return {};
    }
  }

  function save() {
    const data = {
      token: token,
      tokenUser: tokenUser,
      visitorId: visitorId,
      lastSeenId: lastSeenId,
      open: isOpen,
      messages: messages.slice(-MAX_KEPT),
      pending: pending,
    };
    try {
      localStorage.setItem(storeKey, JSON.stringify(data));
    } catch (err) {
      // Storage full or refused (private mode): the chat still works on this page.
    }
  }

  function newClientMsgId() {
    // randomUUID exists only in secure contexts (https, localhost).
    if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    const bytes = new Uint8Array(16);
    if (window.crypto && crypto.getRandomValues) {
      crypto.getRandomValues(bytes);
    } else {
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // -- connection -------------------------------------------------------------------

  class Refused extends Error {}

  // Too many new visitors from this address just now: the hub says when to try again.
  class Busy extends Error {
    constructor(seconds) {
      super("too many new chat sessions from this address");
      this.seconds = seconds;
    }
  }

  function postSession() {
    const body = { site_key: siteKey };
    if (token) body.token = token;
    const userHash = script.getAttribute("data-user-hash");
    if (pageUser && userHash) {
      body.user_id = pageUser;
      body.user_hash = userHash;
    }
    return fetch(sessionUrl, {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  async function requestSession() {
    let response = await postSession();
    for (let tries = 0; response.status === SESSION_ENDED && token !== null && tries < 3; tries++) {
      // The hub ended this token: the visitor signed in or out, maybe in another tab,
      // which stored the token that follows it. Taken only when it was asked for as the
      // same shop user as this page: a stale page must not undo the other's sign-in
      // or sign-out. Otherwise this page starts afresh.
      const kept = load();
      const sameUser = (typeof kept.tokenUser === "string" ? kept.tokenUser : null) === pageUser;
      token = typeof kept.token === "string" && kept.token !== token && sameUser ? kept.token : null;
      response = await postSession();
    }
    if (response.status >= 400 && response.status < 500) {
      const answer = await response.json().catch(() => ({}));
      if (response.status === TOO_MANY_REQUESTS) {
        // From the body: another origin's script cannot read the Retry-After header.
        const seconds = Number(answer.retry_after);
        throw new Busy(Number.isFinite(seconds) && seconds > 0 ? seconds : 60);
      }
      throw new Refused(answer.error || "HTTP " + response.status);
    }
    if (!response.ok) throw new Error("HTTP " + response.status);
    const session = await response.json();
    if (visitorId !== null && session.visitor_id !== visitorId) {
      // Another visitor now (expired token, other shop account): what this browser
      // kept belongs to the previous one. A first visitor keeps what they wrote while
      // the chat was connecting (or waiting out a 429).
      messages = [];
      pending = [];
      lastSeenId = 0;
    }
    token = session.token;
    tokenUser = pageUser;
    visitorId = session.visitor_id;
    save();
  }

  async function connect() {
    retryTimer = null;
    if (state === "disabled") return;
    setState("connecting");
    if (needSession) {
      try {
        await requestSession();
        needSession = false;
      } catch (err) {
        if (err instanceof Busy) {
          setState("busy");
          retryTimer = setTimeout(connect, err.seconds * 1000);
        } else if (err instanceof Refused) {
          disable(err.message);
        } else {
          setState("offline");
          scheduleReconnect();
        }
        return;
      }
    }
    const ws = new WebSocket(socketUrl.href);
    socket = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "hello", token: token, last_seen_id: lastSeenId, lang: lang }));
    };
    ws.onmessage = (event) => {
      if (socket === ws) onFrame(event.data);
    };
    ws.onclose = (event) => {
      if (socket !== ws) return;
      socket = null;
      // The token was refused: ask for a new session, which keeps the visitor when it can.
      if (event.code === UNAUTHORIZED) needSession = true;
      setState("offline");
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    if (retryTimer !== null || state === "disabled") return;
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
    attempt += 1;
    // Jitter spreads the reconnects of every widget after a hub restart.
    const delay = ceiling / 2 + (Math.random() * ceiling) / 2;
    retryTimer = setTimeout(connect, delay);
  }

  function start() {
    if (started) return;
    started = true;
    connect();
  }

  function disable(reason) {
    state = "disabled";
    host.setAttribute("data-state", state);
    host.hidden = true;
    console.warn("omnihub web chat is off on this page:", reason);
  }

  window.addEventListener("online", () => {
    if (retryTimer !== null) {
      clearTimeout(retryTimer);
      connect();
    }
  });

  function setState(next) {
    state = next;
    host.setAttribute("data-state", state);
    render();
  }

  function onFrame(raw) {
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch (err) {
      return;
    }
    if (frame.type === "message") {
      receive(frame);
    } else if (frame.type === "ack") {
      acknowledged(frame.client_msg_id, frame.id);
    } else if (frame.type === "ready") {
      attempt = 0;
      setState("online");
      pending.filter((p) => !p.error).forEach(transmit);
    } else if (frame.type === "typing") {
      showTyping();
    } else if (frame.type === "token" && typeof frame.token === "string") {
      // The visitor proved who they are with a one-time code on this socket: their
      // old token is over (everywhere else it was open, it was closed), this one
      // goes on with the chat, here and after a reload.
      token = frame.token; // for the same shop user as the one it replaces (tokenUser)
      save();
    } else if (frame.type === "error" && frame.code === "rate_limited") {
      hold(frame.client_msg_id, Number(frame.retry_after));
    } else if (frame.type === "error") {
      refused(frame.client_msg_id, String(frame.reason || ""));
    }
  }

  // Too fast: the message was not taken. It stays pending, and every pending message
  // waits (in order) until the hub said it may go.
  function hold(clientMsgId, seconds) {
    const p = pending.find((q) => q.client_msg_id === clientMsgId);
    if (p) p.waiting = true;
    const wait = Number.isFinite(seconds) && seconds > 0 ? seconds : 10;
    heldUntil = Math.max(heldUntil, Date.now() + wait * 1000);
    notice = t.slow;
    clearTimeout(releaseTimer);
    releaseTimer = setTimeout(release, heldUntil - Date.now());
    render();
  }

  function release() {
    releaseTimer = null;
    heldUntil = 0;
    if (notice === t.slow) notice = "";
    render();
    pending.filter((p) => p.waiting && !p.error).forEach(transmit);
  }

  function transmit(p) {
    if (state !== "online" || socket === null) return; // sent on the next "ready"
    if (Date.now() < heldUntil) {
      p.waiting = true; // sent on release
      return;
    }
    delete p.waiting;
    const frame =
      p.type === "choice"
        ? { type: "choice", client_msg_id: p.client_msg_id, payload: p.payload, text: p.text }
        : { type: "message", client_msg_id: p.client_msg_id, text: p.text };
    socket.send(JSON.stringify(frame));
  }

  // -- messages ---------------------------------------------------------------------

  function buttonsOf(raw) {
    if (!Array.isArray(raw)) return [];
    return raw
      .filter((b) => b && typeof b.title === "string" && typeof b.payload === "string")
      .map((b) => ({ title: b.title, payload: b.payload }));
  }

  function keep(message) {
    if (messages.some((m) => m.id === message.id)) return false;
    messages.push(message);
    messages.sort((a, b) => a.id - b.id);
    lastSeenId = Math.max(lastSeenId, message.id);
    return true;
  }

  function receive(frame) {
    if (!Number.isInteger(frame.id)) return;
    if (frame.client_msg_id) {
      pending = pending.filter((p) => p.client_msg_id !== frame.client_msg_id);
    }
    const added = keep({
      id: frame.id,
      direction: frame.direction === "inbound" ? "inbound" : "outbound",
      author: typeof frame.author === "string" ? frame.author : null,
      text: String(frame.text == null ? "" : frame.text),
      buttons: buttonsOf(frame.buttons),
      created_at: frame.created_at,
    });
    if (added && frame.direction !== "inbound") {
      hideTyping();
      if (!isOpen) unread += 1;
    }
    save();
    render();
  }

  function acknowledged(clientMsgId, id) {
    const sent = pending.find((p) => p.client_msg_id === clientMsgId);
    if (!sent || !Number.isInteger(id)) return;
    pending = pending.filter((p) => p !== sent);
    keep({
      id: id,
      direction: "inbound",
      author: "customer",
      text: sent.text,
      buttons: [],
      created_at: new Date().toISOString(),
    });
    save();
    render();
  }

  function refused(clientMsgId, reason) {
    const p = clientMsgId && pending.find((q) => q.client_msg_id === clientMsgId);
    if (p) {
      p.error = reason || t.notSent; // not sent again: the hub said why it cannot take it
    } else {
      notice = reason;
    }
    save();
    render();
  }

  function queue(p) {
    if (notice !== t.slow) notice = "";
    pending.push(p);
    save();
    render();
    transmit(p);
  }

  function say(text) {
    queue({ type: "message", client_msg_id: newClientMsgId(), text: text });
  }

  function choose(button) {
    queue({
      type: "choice",
      client_msg_id: newClientMsgId(),
      payload: button.payload,
      text: button.title,
    });
  }

  function showTyping() {
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, 10000); // in case the message never comes
    typingEl.hidden = false;
    scrollDown();
  }

  function hideTyping() {
    clearTimeout(typingTimer);
    typingEl.hidden = true;
  }

  // -- view -------------------------------------------------------------------------

  const STYLE = `
    :host { all: initial; }
    .root { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
      font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; }
    .launcher { width: 56px; height: 56px; border-radius: 50%; border: 0; cursor: pointer;
      background: var(--accent); color: #fff; box-shadow: 0 6px 20px rgba(0,0,0,.22);
      display: flex; align-items: center; justify-content: center; position: relative;
      margin-left: auto; }
    .launcher:focus-visible, button:focus-visible, input:focus-visible {
      outline: 3px solid #7aa7ff; outline-offset: 2px; }
    .badge { position: absolute; top: -2px; right: -2px; min-width: 20px; height: 20px;
      padding: 0 5px; border-radius: 10px; background: #d93025; color: #fff; font-size: 12px;
      font-weight: 600; display: flex; align-items: center; justify-content: center;
      box-sizing: border-box; }
    .panel { width: 360px; height: min(540px, calc(100vh - 110px)); margin-bottom: 14px;
      background: #fff; border-radius: 16px; box-shadow: 0 12px 40px rgba(0,0,0,.25);
      display: flex; flex-direction: column; overflow: hidden; }
    [hidden] { display: none !important; }
    header { background: var(--accent); color: #fff; padding: 14px 16px; display: flex;
      align-items: center; justify-content: space-between; font-weight: 600; font-size: 16px; }
    header button { background: transparent; border: 0; color: #fff; font-size: 22px;
      line-height: 1; cursor: pointer; padding: 0 4px; }
    .status { background: #fff4e5; color: #8a4b00; padding: 6px 16px; font-size: 13px; }
    .log { flex: 1; overflow-y: auto; padding: 14px 12px; background: #f6f7f9;
      display: flex; flex-direction: column; gap: 6px; }
    .msg { max-width: 80%; padding: 8px 12px; border-radius: 14px; white-space: pre-wrap;
      overflow-wrap: anywhere; }
    .msg.theirs { align-self: flex-start; background: #fff; border: 1px solid #e3e6ea;
      border-bottom-left-radius: 4px; }
    .msg.mine { align-self: flex-end; background: var(--accent); color: #fff;
      border-bottom-right-radius: 4px; }
    .msg.pending { opacity: .65; }
    .msg .note { display: block; font-size: 12px; margin-top: 4px; opacity: .9; }
    .msg.failed { background: #fce8e6; color: #a50e0e; }
    .typing { align-self: flex-start; color: #5f6368; font-style: italic; font-size: 13px; }
    .notice { color: #a50e0e; font-size: 13px; padding: 0 16px 6px; background: #f6f7f9; }
    .replies { display: flex; flex-wrap: wrap; gap: 6px; padding: 8px 12px;
      background: #f6f7f9; }
    .replies button { border: 1px solid var(--accent); color: var(--accent); background: #fff;
      border-radius: 16px; padding: 6px 12px; cursor: pointer; font: inherit; }
    .replies button:hover { background: var(--accent); color: #fff; }
    form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e3e6ea; }
    input { flex: 1; border: 1px solid #cfd4da; border-radius: 20px; padding: 9px 14px;
      font: inherit; min-width: 0; }
    form button { border: 0; border-radius: 20px; padding: 0 16px; cursor: pointer;
      background: var(--accent); color: #fff; font: inherit; font-weight: 600; }
    @media (max-width: 480px) {
      .root { right: 10px; bottom: 10px; left: 10px; }
      .panel { width: auto; height: calc(100vh - 90px); }
    }
  `;
  const CHAT_ICON_PATH =
    "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z" +
    "m3 6.5a1.5 1.5 0 1 0 0-3 1.5 1.5 0 0 0 0 3zm5 0a1.5 1.5 0 1 0 0-3 1.5 1.5 0 0 0 0 3z" +
    "m5 0a1.5 1.5 0 1 0 0-3 1.5 1.5 0 0 0 0 3z";

  function chatIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    for (const [name, value] of [
      ["width", "28"],
      ["height", "28"],
      ["viewBox", "0 0 24 24"],
      ["fill", "currentColor"],
      ["aria-hidden", "true"],
    ]) {
      svg.setAttribute(name, value);
    }
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", CHAT_ICON_PATH);
    svg.append(path);
    return svg;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  const host = document.createElement("omnihub-webchat");
  host.setAttribute("data-site-key", siteKey);
  host.setAttribute("data-state", state);
  const shadow = host.attachShadow({ mode: "open" });
  const style = el("style");
  style.textContent = STYLE;
  const root = el("div", "root");
  const accent = script.getAttribute("data-color");
  root.style.setProperty(
    "--accent",
    accent && window.CSS && CSS.supports("color", accent) ? accent : "#2f5d62",
  );

  const panel = el("section", "panel");
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", t.title);
  const header = el("header");
  const closeButton = el("button", "close", "×");
  closeButton.type = "button";
  closeButton.setAttribute("aria-label", t.close);
  header.append(el("span", "title", t.title), closeButton);
  const status = el("div", "status", t.lost);
  status.setAttribute("role", "status");
  const log = el("div", "log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  const typingEl = el("div", "typing", t.typing);
  typingEl.hidden = true;
  const noticeEl = el("div", "notice");
  const replies = el("div", "replies");
  const form = el("form");
  const input = el("input");
  input.type = "text";
  input.maxLength = MAX_TEXT;
  input.placeholder = t.placeholder;
  input.setAttribute("aria-label", t.placeholder);
  input.autocomplete = "off";
  const sendButton = el("button", "send", t.send);
  sendButton.type = "submit";
  form.append(input, sendButton);
  panel.append(header, status, log, noticeEl, replies, form);

  const launcher = el("button", "launcher");
  launcher.type = "button";
  launcher.setAttribute("aria-label", t.open);
  const badge = el("span", "badge");
  launcher.append(chatIcon(), badge);

  root.append(panel, launcher);
  shadow.append(style, root);

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function bubble(className, text) {
    const node = el("div", "msg " + className);
    node.append(el("span", "text", text));
    return node;
  }

  function render() {
    panel.hidden = !isOpen;
    launcher.setAttribute("aria-label", isOpen ? t.close : t.open);
    launcher.setAttribute("aria-expanded", String(isOpen));
    badge.hidden = unread === 0 || isOpen;
    badge.textContent = String(unread);
    // A first connection that is still under way is not a lost one.
    status.hidden = state === "online" || state === "idle" || (state === "connecting" && attempt === 0);
    status.textContent = state === "busy" ? t.busy : t.lost;

    const nodes = messages.map((m) => {
      const node = bubble(m.direction === "inbound" ? "mine" : "theirs", m.text);
      node.dataset.id = String(m.id);
      return node;
    });
    for (const p of pending) {
      const node = bubble(p.error ? "mine failed" : "mine pending", p.text);
      node.dataset.clientMsgId = p.client_msg_id;
      if (p.error) node.append(el("span", "note", t.notSent + ": " + p.error));
      nodes.push(node);
    }
    log.replaceChildren(...nodes, typingEl);

    noticeEl.textContent = notice;
    noticeEl.hidden = !notice;

    const last = messages[messages.length - 1];
    const offer = pending.length === 0 && last && last.direction === "outbound" ? last.buttons : [];
    replies.replaceChildren(
      ...offer.map((b) => {
        const button = el("button", null, b.title);
        button.type = "button";
        button.addEventListener("click", () => choose(b));
        return button;
      }),
    );
    replies.hidden = offer.length === 0;
    scrollDown();
  }

  function setOpen(open) {
    isOpen = open;
    if (open) {
      unread = 0;
      start();
    }
    save();
    render();
    if (open) input.focus();
  }

  launcher.addEventListener("click", () => setOpen(!isOpen));
  closeButton.addEventListener("click", () => setOpen(false));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    say(text.slice(0, MAX_TEXT));
  });

  function mount() {
    document.body.append(host);
    render();
    // Someone who never opened the chat costs the hub no socket; a returning
    // visitor connects at once to get what was answered meanwhile.
    if (isOpen || token || pending.length) start();
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
