// Building the page's elements from text only: nothing here ever parses markup.

import { t } from "./texts.js";

// `el("li", {className: "x", dataset: {id: 1}}, ["text", node])`: strings become text
// nodes, and only the properties named here can be set, so no markup ever goes in.
const PROPS = new Set(["className", "id", "type", "value", "disabled", "hidden", "title", "htmlFor",
  "name", "checked", "required", "min", "max", "tabIndex"]);

export function el(tag, props, children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "text") node.textContent = String(value);
    else if (PROPS.has(name)) node[name] = value;
    else node.setAttribute(name, String(value));
  }
  for (const child of children || []) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

const CHANNELS = ["sms", "whatsapp", "telegram", "webchat"];

export function channelBadge(channel) {
  const known = CHANNELS.includes(channel);
  return el("span", { className: `badge ch-${known ? channel : "other"}`, dataset: { channel } }, [
    known ? t(`ch_${channel}`) : String(channel || "?"),
  ]);
}

// The open conversation's alert line: what an action did, or why it was refused.
export function flash(message, kind = "error") {
  const box = $("#conv-alert");
  box.dataset.kind = kind;
  box.textContent = message;
}
