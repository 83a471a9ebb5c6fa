// Live updates from /inbox/ws: an event only says that something changed, and the page
// fetches what it shows. Reconnects with backoff; a signed-out session goes to sign-in.

import { refreshConversation } from "./conversation.js";
import { $ } from "./dom.js";
import { refreshList } from "./list.js";
import { state } from "./state.js";
import { t } from "./texts.js";

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const SESSION_ENDED = 4401; // the hub closes the socket so when the agent signed out
let socket = null;
let failures = 0;

export function setLive(stateName) {
  const live = $("#live");
  live.dataset.state = stateName;
  live.textContent = stateName === "live" ? t("live") : stateName === "down" ? t("reconnecting") : t("connecting");
}

function onEvent(event) {
  if (!event || event.kind === undefined) return;
  if (event.kind === "typing") return; // an agent's indicator to the customer
  refreshList();
  if (event.conversation_id === state.openId) refreshConversation();
}

export function connect() {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${window.location.host}/inbox/ws`);
  socket.addEventListener("open", () => {
    const missed = failures > 0;
    failures = 0;
    setLive("live");
    // What happened while the socket was down came as no event: fetch it.
    if (missed) {
      refreshList();
      refreshConversation();
    }
  });
  socket.addEventListener("message", (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    for (const one of Array.isArray(event) ? event : [event]) onEvent(one);
  });
  socket.addEventListener("close", (closing) => {
    socket = null;
    if (closing.code === SESSION_ENDED) {
      window.location.assign("/inbox/login");
      return;
    }
    setLive("down");
    const base = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)];
    failures += 1;
    setTimeout(connect, base / 2 + Math.random() * base); // jitter: agents do not reconnect in step
  });
}
