// The agents' shared inbox: conversation list, conversation view, customer panel.
//
// Everything a customer (or anyone outside the shop) wrote reaches the DOM as text:
// through textContent, createTextNode or an attribute, never parsed as markup. The
// page talks only to the JSON API under /inbox/api and the live events of /inbox/ws
// (docs/inbox.md); an event only says that something changed, and the page fetches
// what it shows.
//
// This module starts the page and wires the header; each part has its module:
// texts.js (words, from texts/<language>.json), state.js, api.js, dom.js, list.js,
// conversation.js, thread.js, composer.js, customer.js, live.js.

import { api } from "./api.js";
import { bindComposer } from "./composer.js";
import { bindConversation, openConversation, refreshConversation } from "./conversation.js";
import { bindCustomer } from "./customer.js";
import { $ } from "./dom.js";
import { bindList, refreshList, showView } from "./list.js";
import { connect, setLive } from "./live.js";
import { state } from "./state.js";
import { t, term, translateStatic } from "./texts.js";

function bind() {
  bindList(openConversation);
  bindConversation();
  bindComposer(refreshConversation);
  bindCustomer();
  $("#available").addEventListener("change", async (event) => {
    const box = event.target;
    try {
      const me = await api("PUT", "/me/availability", { available: box.checked });
      if (me && typeof me.available === "boolean") box.checked = me.available;
    } catch {
      box.checked = !box.checked;
    }
  });
}

async function start() {
  translateStatic();
  setLive("connecting");
  bind();
  $("#list-state").textContent = t("loading");
  const me = await api("GET", "/me");
  state.me = me.agent ? { ...me.agent, ...me } : me;
  state.csrf = me.csrf_token || me.csrf || "";
  $('#logout input[name="csrf"]').value = state.csrf;
  $("#me").textContent = `${state.me.name || state.me.email} · ${term("role", state.me.role)}`;
  $("#available").checked = !!state.me.available;
  const query = new URLSearchParams(window.location.search);
  const view = query.get("view");
  showView(view && $(`#views [data-view="${CSS.escape(view)}"]`) ? view : state.view);
  connect();
  await refreshList();
  performance.mark("inbox:list-rendered"); // benchmarks/inbox.py reads it
  const wanted = Number(query.get("conversation"));
  if (wanted) await openConversation(wanted);
  document.body.dataset.ready = "true";
}

start();
