// The conversation's thread: the handoff summary, then messages, notes and events.

import { $, $$, channelBadge, el } from "./dom.js";
import { agentName, customerName } from "./state.js";
import { clock, t, term, when } from "./texts.js";

function messageAuthor(message) {
  if (message.agent) return agentName(message.agent.id, message.agent);
  return term("author", message.author);
}

function renderMessage(message) {
  const status = message.delivery_status || message.status || "";
  const outbound = message.direction === "outbound" && !message.private;
  const li = el("li", {
    className: `msg from-${message.author}${message.private ? " private" : ""}`,
    dataset: { id: message.id, author: message.author, channel: message.channel || "", status },
  });
  const head = el("p", { className: "msg-head" }, [
    el("span", { className: "msg-author", text: messageAuthor(message) }),
    message.private ? null : channelBadge(message.channel),
  ]);
  if (message.private) head.append(el("span", { className: "note-label", text: t("note") }));
  const body = el("p", { className: "text", text: message.text ?? "" });
  const buttons = message.buttons || [];
  const meta = el("p", { className: "meta" }, [
    el("time", { datetime: message.created_at, text: when(message.created_at, clock) }),
  ]);
  if (outbound && status) {
    meta.append(" · ", el("span", { className: `delivery ds-${status}`, text: term("ds", status) }));
  }
  li.append(head, body);
  if (buttons.length) li.append(el("ul", { className: "choices" }, buttons.map((title) => el("li", { text: title }))));
  li.append(meta);
  return li;
}

// Events the thread shows among the messages, in the agent's words (changes of hands
// show in the header instead).
const THREAD_EVENTS = new Set(["verification_requested"]);

export function timeline(detail) {
  const events = (detail.events || [])
    .filter((event) => THREAD_EVENTS.has(event.kind))
    .map((event) => ({ event: true, id: `e${event.id}`, kind: event.kind, created_at: event.created_at }));
  const at = (item) => new Date(item.created_at).getTime();
  // Stable: messages keep their order, an event comes after messages of the same time.
  return [...(detail.messages || []), ...events]
    .map((item, index) => [item, index])
    .sort(([a, i], [b, j]) => at(a) - at(b) || i - j)
    .map(([item]) => item);
}

function renderEvent(item) {
  return el("li", { className: "msg from-system event", dataset: { id: item.id, author: "system", event: item.kind } }, [
    el("p", { className: "text", text: t(`ev_${item.kind}`) }),
    el("p", { className: "meta" }, [el("time", { datetime: item.created_at, text: when(item.created_at, clock) })]),
  ]);
}

export function renderMessages(messages) {
  const list = $("#messages");
  const thread = $("#thread");
  const first = list.children.length === 0;
  const nearBottom = first || thread.scrollHeight - thread.scrollTop - thread.clientHeight < 80;
  const byId = new Map($$(":scope > li", list).map((li) => [li.dataset.id, li]));
  const wanted = messages.map((message) => {
    const fresh = message.event ? renderEvent(message) : renderMessage(message);
    const old = byId.get(String(message.id));
    if (old && old.isEqualNode(fresh)) return old;
    if (old) old.replaceWith(fresh);
    return fresh;
  });
  wanted.forEach((li, index) => {
    if (list.children[index] !== li) list.insertBefore(li, list.children[index] || null);
  });
  while (list.children.length > wanted.length) list.lastElementChild.remove();
  return nearBottom;
}

function describe(value) {
  if (value === null || value === undefined) return "";
  if (typeof value !== "object") return String(value);
  if (Array.isArray(value)) return value.map(describe).join(", ");
  return Object.entries(value)
    .filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${k}: ${describe(v)}`)
    .join(", ");
}

const SUMMARY_LAST = 3; // the customer's last messages before the handoff

export function renderSummary(detail) {
  const handoff = detail.handoff;
  const section = $("#summary");
  section.hidden = !handoff;
  if (!handoff) return;
  const rows = [];
  const add = (key, value) => {
    const text = describe(value);
    if (text) rows.push(el("dt", { text: t(key) }), el("dd", { dataset: { field: key.slice(4) }, text }));
  };
  const { order_number: order, product, ...slots } = handoff.slots || {};
  add("sum_customer", [customerName(detail.customer, detail.id), detail.customer?.phone].filter(Boolean).join(" · "));
  add("sum_reason", handoff.reason);
  add("sum_intent", handoff.intent);
  add("sum_flow", handoff.flow);
  add("sum_order", order);
  add("sum_product", product);
  if (Object.keys(slots).length) {
    rows.push(
      el("dt", { text: t("sum_slots") }),
      el("dd", { dataset: { field: "slots" } }, [
        el("ul", { className: "slots" }, Object.entries(slots).map(([name, value]) =>
          el("li", {}, [el("span", { className: "slot-name", text: name }), `: ${describe(value)}`]))),
      ]),
    );
  }
  add("sum_language", handoff.language);
  if (handoff.requested_at) add("sum_requested", when(handoff.requested_at));
  $("#summary-fields").replaceChildren(...rows);
  const asked = handoff.requested_at ? new Date(handoff.requested_at).getTime() : Infinity;
  const last = (detail.messages || [])
    .filter((m) => m.author === "customer" && new Date(m.created_at).getTime() <= asked + 1000)
    .slice(-SUMMARY_LAST);
  $("#summary-last").replaceChildren(
    ...(last.length
      ? [
          el("h4", { text: t("sum_last") }),
          el("ol", {}, last.map((m) => el("li", {}, [channelBadge(m.channel), " ", el("span", { text: m.text })]))),
        ]
      : []),
  );
}
