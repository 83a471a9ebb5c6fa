// What the page holds (who the agent is, what is shown and open), and how it names people.

import { t } from "./texts.js";

export const state = {
  me: null,
  csrf: "",
  view: "queued",
  channel: "",
  status: "",
  q: "",
  list: [], // summaries shown, in order
  nextBefore: null,
  openId: null,
  detail: null,
  customer: null,
  canned: new Map(), // language -> [responses]
  agents: null, // [{id, name}] once known
};

export function customerName(customer, id) {
  if (!customer) return t("unknown_customer", { id });
  return customer.name || customer.phone || customer.email || t("unknown_customer", { id: customer.id ?? id });
}

export function agentName(agentId, agent) {
  if (agentId === null || agentId === undefined) return "";
  if (state.me && agentId === state.me.id) return t("you");
  if (agent && agent.name) return agent.name;
  const known = (state.agents || []).find((a) => a.id === agentId);
  return known ? known.name : `#${agentId}`;
}

export function isMine(detail) {
  return detail.status === "agent" && state.me && detail.assigned_agent_id === state.me.id;
}

export function canSupervise() {
  return state.me && (state.me.role === "supervisor" || state.me.role === "admin");
}
