// The open conversation: its header, who has it, the actions on it (claim, transfer,
// unassign, hand back, resolve), and fetching it again when it changes.

import { ApiError, api, coalesced, errorText } from "./api.js";
import { loadCanned, renderComposer } from "./composer.js";
import { refreshCustomer } from "./customer.js";
import { $, $$, el, flash } from "./dom.js";
import { markCurrent, refreshList } from "./list.js";
import { agentName, canSupervise, customerName, isMine, state } from "./state.js";
import { t, term } from "./texts.js";
import { renderMessages, renderSummary, timeline } from "./thread.js";

function renderActions(detail) {
  const mine = isMine(detail);
  const boss = canSupervise();
  const show = {
    claim: detail.status === "queued",
    transfer: detail.status === "agent" && (mine || boss),
    unassign: detail.status === "agent" && (mine || boss),
    handback: (detail.status === "agent" && (mine || boss)) || (detail.status === "queued" && boss),
    resolve: (detail.status === "agent" && (mine || boss)) || (detail.status === "queued" && boss),
  };
  for (const button of $$(".actions button")) button.hidden = !show[button.dataset.action];
}

function renderConversation() {
  const detail = state.detail;
  $("#placeholder").hidden = !!detail;
  $("#conv").hidden = !detail;
  if (!detail) return;
  $("#conv").dataset.status = detail.status;
  $("#conv").dataset.id = detail.id;
  $("#conv-title").textContent = customerName(detail.customer, detail.customer_id);
  const badge = $("#conv-status");
  badge.className = `status-badge st-${detail.status}`;
  badge.textContent = term("st", detail.status);
  const owner = [];
  if (detail.status === "agent" && detail.assigned_agent_id != null) {
    owner.push(t("assigned_to", { name: agentName(detail.assigned_agent_id, detail.assigned_agent) }));
  }
  if (detail.team) owner.push(t("team", { team: detail.team }));
  $("#conv-owner").textContent = owner.join(" · ");
  renderActions(detail);
  renderSummary(detail);
  const follow = renderMessages(timeline(detail));
  renderComposer(detail);
  // Last, once the window line and the box have their height: the newest stays in view.
  if (follow) $("#thread").scrollTop = $("#thread").scrollHeight;
  markCurrent(detail.id);
}

// The API nests the list's summary in the detail; the page reads one flat record.
function flatten(answer) {
  const summary = answer.summary || answer;
  const customer = summary.customer || {};
  return {
    ...answer,
    ...summary,
    customer_id: customer.id,
    assigned_agent_id: summary.assigned_agent ? summary.assigned_agent.id : null,
    language: customer.language || answer.handoff?.language || null,
  };
}

export const refreshConversation = coalesced(async () => {
  const id = state.openId;
  if (id === null) return;
  const detail = flatten(await api("GET", `/conversations/${id}`));
  if (state.openId !== id) return;
  // A new channel may mean a new identity on the panel.
  const customerChanged =
    !state.detail ||
    state.detail.customer_id !== detail.customer_id ||
    state.detail.last_channel !== detail.last_channel;
  state.detail = detail;
  renderConversation();
  if (customerChanged) refreshCustomer();
  loadCanned(detail);
});

export async function openConversation(id) {
  if (state.openId !== id) {
    state.openId = id;
    state.detail = null;
    state.customer = null;
    $("#messages").replaceChildren();
    $("#conv-alert").textContent = "";
    $("#text").value = "";
    hideTransfer();
  }
  await refreshConversation();
  if (state.detail) $("#conv-title").focus({ preventScroll: true });
}

async function act(action, body) {
  const id = state.openId;
  try {
    const summary = await api("POST", `/conversations/${id}/${action}`, body || {});
    const done = {
      claim: t("claimed_ok"),
      resolve: t("resolved_ok"),
      handback: t("handed_back_ok"),
      unassign: t("unassigned_ok"),
      transfer: t("transferred_ok"),
    }[action];
    flash(done ?? "", "ok");
    if (summary && summary.id === id && state.detail) {
      state.detail = { ...state.detail, ...flatten(summary) };
      renderConversation();
    }
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    // A refusal carries the conversation as it is now: show who has it.
    if (error.body.conversation && state.detail) {
      state.detail = { ...state.detail, ...flatten(error.body.conversation) };
      renderConversation();
    }
    flash(errorText(error));
  }
  await Promise.all([refreshConversation(), refreshList()]);
}

// --- transfer ----------------------------------------------------------------------

function hideTransfer() {
  $("#transfer-form").hidden = true;
  $('[data-action="transfer"]').setAttribute("aria-expanded", "false");
}

async function showTransfer() {
  if (state.agents === null) {
    try {
      const answer = await api("GET", "/agents");
      state.agents = Array.isArray(answer) ? answer : answer.agents || [];
    } catch {
      state.agents = [];
    }
  }
  const options = [];
  for (const agent of state.agents) {
    if (state.me && agent.id === state.me.id) continue;
    options.push(el("option", { value: `agent:${agent.id}`, text: t("agent_option", { name: agent.name || agent.email }) }));
  }
  const teams = new Set([...(state.me?.teams || []), ...state.agents.flatMap((a) => a.teams || [])]);
  for (const team of teams) options.push(el("option", { value: `team:${team}`, text: t("team_option", { team }) }));
  $("#transfer-to").replaceChildren(...options);
  $("#transfer-form").hidden = false;
  $('[data-action="transfer"]').setAttribute("aria-expanded", "true");
  $("#transfer-to").focus();
}

async function submitTransfer(event) {
  event.preventDefault();
  const [kind, value] = $("#transfer-to").value.split(/:(.*)/s);
  if (!value) return;
  hideTransfer();
  await act("transfer", kind === "agent" ? { agent_id: Number(value) } : { team: value });
}

export function bindConversation() {
  $(".actions").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    if (button.dataset.action === "transfer") {
      if ($("#transfer-form").hidden) showTransfer();
      else hideTransfer();
    } else act(button.dataset.action);
  });
  $("#transfer-form").addEventListener("submit", submitTransfer);
  $("#transfer-cancel").addEventListener("click", hideTransfer);
}
