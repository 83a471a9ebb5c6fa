// The conversation list: views, filters, search, paging, and the waiting times.

import { api, coalesced } from "./api.js";
import { $, $$, channelBadge, el } from "./dom.js";
import { agentName, customerName, state } from "./state.js";
import { elapsed, t, term } from "./texts.js";

const listNodes = new Map(); // conversation id -> li

function listQuery(before) {
  const params = new URLSearchParams({ view: state.view, limit: "50" });
  if (state.channel) params.set("channel", state.channel);
  if (state.status) params.set("status", state.status);
  if (state.q) params.set("q", state.q);
  if (before) params.set("before", before);
  return `/conversations?${params}`;
}

function summariesOf(answer) {
  if (Array.isArray(answer)) return { items: answer, next: null };
  return { items: answer.conversations || answer.items || [], next: answer.next_before ?? answer.next ?? null };
}

function renderListItem(summary) {
  let li = listNodes.get(summary.id);
  if (!li) {
    li = el("li", { className: "conv-item" });
    listNodes.set(summary.id, li);
  }
  const channel = summary.last_channel || summary.channel;
  const last = summary.last_message || {};
  const preview = last.private ? `${t("mode_note")}: ${last.text}` : last.text || "";
  const button = el(
    "button",
    {
      type: "button",
      className: "conv-button",
      dataset: { id: summary.id },
      "aria-current": state.openId === summary.id ? "true" : "false",
    },
    [
      el("span", { className: "conv-line" }, [
        el("span", { className: "conv-name", text: customerName(summary.customer, summary.id) }),
        channelBadge(channel),
      ]),
      el("span", { className: "conv-preview", text: preview }),
      el("span", { className: "conv-meta" }, [
        el("span", { className: `status-badge st-${summary.status}`, text: term("st", summary.status) }),
        summary.status === "queued" && summary.queued_at
          ? el("span", { className: "wait", dataset: { since: summary.queued_at }, text: t("waiting", { time: elapsed(summary.queued_at) }) })
          : null,
        summary.status === "agent" && summary.assigned_agent
          ? el("span", { className: "owner", text: t("assigned_to", { name: agentName(summary.assigned_agent.id, summary.assigned_agent) }) })
          : null,
      ]),
    ],
  );
  li.dataset.id = summary.id;
  li.dataset.status = summary.status;
  li.dataset.channel = channel || "";
  const hadFocus = li.contains(document.activeElement);
  li.replaceChildren(button);
  if (hadFocus) button.focus();
  return li;
}

function renderList() {
  const ul = $("#conversations");
  const wanted = state.list.map(renderListItem);
  const keep = new Set(wanted);
  for (const [id, li] of listNodes) {
    if (!keep.has(li)) {
      li.remove();
      listNodes.delete(id);
    }
  }
  // Move only what is out of place, so a focused item keeps its focus.
  wanted.forEach((li, index) => {
    if (ul.children[index] !== li) ul.insertBefore(li, ul.children[index] || null);
  });
  $("#list-state").textContent = state.list.length ? "" : t("no_conversations");
  $("#more").hidden = !state.nextBefore;
}

export const refreshList = coalesced(async () => {
  const { items, next } = summariesOf(await api("GET", listQuery()));
  state.list = items;
  state.nextBefore = next;
  renderList();
});

async function loadMore() {
  if (!state.nextBefore) return;
  const { items, next } = summariesOf(await api("GET", listQuery(state.nextBefore)));
  const seen = new Set(state.list.map((s) => s.id));
  state.list = state.list.concat(items.filter((s) => !seen.has(s.id)));
  state.nextBefore = next;
  renderList();
}

function tickWaiting() {
  for (const span of $$(".wait[data-since]")) span.textContent = t("waiting", { time: elapsed(span.dataset.since) });
}

// The open conversation's item is marked as the current one.
export function markCurrent(id) {
  for (const li of listNodes.values()) {
    $("button", li)?.setAttribute("aria-current", li.dataset.id === String(id) ? "true" : "false");
  }
}

export function showView(view) {
  state.view = view;
  for (const button of $$("#views button")) button.setAttribute("aria-pressed", String(button.dataset.view === view));
}

function setView(view) {
  showView(view);
  refreshList();
}

// `open(id)` opens a conversation picked from the list.
export function bindList(open) {
  $("#views").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-view]");
    if (button) setView(button.dataset.view);
  });
  $("#channel-filter").addEventListener("change", (event) => {
    state.channel = event.target.value;
    refreshList();
  });
  $("#status-filter").addEventListener("change", (event) => {
    state.status = event.target.value;
    refreshList();
  });
  let searchTimer = null;
  $("#search").addEventListener("input", (event) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      state.q = event.target.value.trim();
      refreshList();
    }, 200);
  });
  $("#search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(searchTimer);
    state.q = $("#search").value.trim();
    refreshList();
  });
  $("#more").addEventListener("click", () => loadMore().catch(() => {}));
  $("#conversations").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-id]");
    if (button) open(Number(button.dataset.id));
  });
  // Up and down move between conversations, as in a list box.
  $("#conversations").addEventListener("keydown", (event) => {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const buttons = $$(".conv-button");
    const index = buttons.indexOf(document.activeElement);
    if (index < 0) return;
    event.preventDefault();
    buttons[Math.max(0, Math.min(buttons.length - 1, index + (event.key === "ArrowDown" ? 1 : -1)))].focus();
  });
  setInterval(tickWaiting, 15000);
}
