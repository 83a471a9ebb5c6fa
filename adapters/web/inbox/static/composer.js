// The composer: replies, private notes, canned responses, WhatsApp templates, typing.

import { ApiError, api, errorText } from "./api.js";
import { $, el, flash } from "./dom.js";
import { isMine, state } from "./state.js";
import { LANG, t, when } from "./texts.js";

function whatsappWindow(detail) {
  return detail.last_channel === "whatsapp" ? detail.whatsapp_window || null : null;
}

export function renderComposer(detail) {
  const mode = $("input[name=mode]:checked").value;
  const mine = isMine(detail);
  const whatsapp = whatsappWindow(detail);
  const closed = whatsapp && !whatsapp.open;
  const windowLine = $("#window");
  windowLine.hidden = !whatsapp;
  if (whatsapp) {
    windowLine.dataset.open = whatsapp.open ? "true" : "false";
    windowLine.textContent = whatsapp.open
      ? t("window_open", { time: when(whatsapp.closes_at) })
      : t("window_closed");
  }
  const text = $("#text");
  const why = $("#composer-why");
  let reason = "";
  if (mode === "reply") {
    if (detail.status === "resolved") reason = t("why_resolved");
    else if (detail.status === "bot") reason = t("why_bot");
    else if (!mine) reason = t("why_not_owner");
    // The window line above says why; this says what is left.
    else if (closed && !(detail.templates || []).length) reason = t("no_templates");
  }
  const templates = mode === "reply" && mine && closed;
  $("#template-row").hidden = !templates;
  why.hidden = !reason;
  why.textContent = reason;
  if (templates) loadTemplates(detail);
  text.hidden = templates;
  text.disabled = mode === "reply" && (!mine || closed);
  text.placeholder = mode === "note" ? t("note_placeholder") : t("reply_placeholder");
  $("#canned-label").hidden = mode !== "reply" || templates;
  $("#canned").disabled = text.disabled;
  const send = $("#send");
  send.textContent = mode === "note" ? t("add_note") : templates ? t("send_template") : t("send");
  send.disabled = mode === "reply" && (!mine || (templates && !$("#template").value));
  if (reason) text.setAttribute("aria-describedby", "composer-why");
  else text.removeAttribute("aria-describedby");
}

export async function loadCanned(detail) {
  const language = detail.language || detail.customer?.language || (detail.handoff && detail.handoff.language) || LANG;
  const select = $("#canned");
  if (select.dataset.language === language) return;
  select.dataset.language = language;
  if (!state.canned.has(language)) {
    try {
      const answer = await api("GET", `/canned?${new URLSearchParams({ language })}`);
      state.canned.set(language, Array.isArray(answer) ? answer : answer.canned || answer.responses || []);
    } catch {
      state.canned.set(language, []);
    }
  }
  select.replaceChildren(
    el("option", { value: "", text: t("canned_pick") }),
    ...state.canned.get(language).map((canned, index) =>
      el("option", { value: String(index), text: canned.title || canned.shortcut })),
  );
}

// The approved templates come with the conversation when the hub has any (docs/inbox.md
// names no route for them yet); without them the box says why nothing can be sent.
function loadTemplates(detail) {
  const templates = detail.templates || [];
  const select = $("#template");
  const key = JSON.stringify(templates);
  if (select.dataset.templates === key) return;
  select.dataset.templates = key;
  select.replaceChildren(
    ...templates.map((template) => el("option", { value: template.name, text: template.title || template.name })),
  );
}

function insertCanned() {
  const select = $("#canned");
  const canned = (state.canned.get(select.dataset.language) || [])[Number(select.value)];
  select.value = "";
  if (!canned) return;
  const text = $("#text");
  const name = state.detail?.customer?.name || "";
  const body = String(canned.body || "").replaceAll("{name}", name);
  const start = text.selectionStart ?? text.value.length;
  text.value = text.value.slice(0, start) + body + text.value.slice(text.selectionEnd ?? start);
  text.focus();
  text.selectionStart = text.selectionEnd = start + body.length;
}

const TYPING_EVERY_MS = 3000; // at most one indicator per three seconds of typing
let lastTyping = 0;

function typing() {
  const detail = state.detail;
  if (!detail || !isMine(detail) || $("input[name=mode]:checked").value !== "reply") return;
  const now = Date.now();
  if (now - lastTyping < TYPING_EVERY_MS) return;
  lastTyping = now;
  api("POST", `/conversations/${detail.id}/typing`, {}).catch(() => {});
}

// `refresh()` fetches the conversation again, with what was just sent.
async function send(event, refresh) {
  event.preventDefault();
  const detail = state.detail;
  if (!detail) return;
  const mode = $("input[name=mode]:checked").value;
  const text = $("#text");
  let body;
  if (mode === "note") body = { text: text.value.trim(), private: true };
  else if (!$("#template-row").hidden) body = { template: $("#template").value, params: {} };
  else body = { text: text.value.trim() };
  if (body.text === "" || (body.template !== undefined && !body.template)) return;
  const button = $("#send");
  button.disabled = true;
  try {
    await api("POST", `/conversations/${detail.id}/messages`, body);
    text.value = "";
    lastTyping = 0;
    flash("", "ok");
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    flash(errorText(error));
  }
  await refresh();
  text.focus();
}

export function bindComposer(refresh) {
  $("#composer").addEventListener("submit", (event) => send(event, refresh));
  $("#composer").addEventListener("change", (event) => {
    if (event.target.name === "mode" || event.target.id === "template") renderComposer(state.detail);
  });
  $("#canned").addEventListener("change", insertCanned);
  $("#text").addEventListener("input", typing);
  $("#text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("#composer").requestSubmit();
    }
  });
}
