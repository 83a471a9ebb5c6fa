// The customer panel: who the customer is, their orders, reservations, returns and
// consents; cancelling a reservation and starting a return from it.

import { ApiError, api, coalesced, errorText } from "./api.js";
import { $, channelBadge, el } from "./dom.js";
import { state } from "./state.js";
import { day, money, t, term, when } from "./texts.js";

function section(titleKey, items) {
  return el("section", { className: "panel-section", dataset: { section: titleKey } }, [
    el("h3", { text: t(titleKey) }),
    items.length ? el("ul", {}, items) : el("p", { className: "muted", text: t("none") }),
  ]);
}

const RECEIVED = new Set(["delivered", "collected", "completed"]); // a return may start

function renderCustomer() {
  const c = state.customer;
  const aside = $("#customer");
  aside.hidden = !c;
  if (!c) return;
  const profile = el("dl", { className: "profile" });
  const row = (key, value) => {
    if (value) profile.append(el("dt", { text: t(key) }), el("dd", { text: value }));
  };
  row("name", c.name);
  row("email", c.email);
  row("phone", c.phone);
  row("language", c.language);
  row("customer_since", when(c.created_at, day));

  const identities = (c.identities || []).map((identity) =>
    el("li", { className: "identity", dataset: { channel: identity.channel, verified: identity.verified ? "true" : "false" } }, [
      channelBadge(identity.channel),
      " ",
      el("span", { text: [identity.address, identity.display_name].filter(Boolean).join(" · ") }),
      " ",
      el("span", { className: identity.verified ? "ok" : "muted", text: identity.verified ? t("verified") : t("unverified") }),
    ]));

  const orders = (c.orders || []).map((order) => {
    const li = el("li", { className: "order", dataset: { number: order.number, status: order.status } }, [
      el("strong", { text: order.number }),
      " ",
      el("span", { className: "status-badge", text: term("os", order.status) }),
      " ",
      el("span", { className: "muted", text: [when(order.placed_at, day), money(order.total_minor, order.currency)].filter(Boolean).join(" · ") }),
    ]);
    if (RECEIVED.has(order.status)) {
      li.append(el("button", {
        type: "button",
        className: "small",
        dataset: { startReturn: order.number },
        "aria-label": t("start_return_of", { number: order.number }),
        text: t("start_return"),
      }));
    }
    return li;
  });

  const reservations = (c.reservations || []).map((r) => {
    const code = r.pickup_code;
    const li = el("li", { className: "reservation", dataset: { id: r.id, status: r.status } }, [
      el("strong", { text: code }),
      " ",
      el("span", { className: "status-badge", text: term("rs", r.status) }),
      " ",
      el("span", { className: "muted", text: [r.product, r.store_name, r.held_until && when(r.held_until)].filter(Boolean).join(" · ") }),
    ]);
    if (r.status === "held") {
      li.append(el("button", {
        type: "button",
        className: "small",
        dataset: { cancelReservation: r.id, code },
        "aria-label": t("cancel_reservation_of", { code }),
        text: t("cancel_reservation"),
      }));
    }
    return li;
  });

  const returns = (c.returns || []).map((r) =>
    el("li", { className: "return", dataset: { status: r.status } }, [
      el("strong", { text: r.rma_code }),
      " ",
      el("span", { className: "status-badge", text: term("rt", r.status) }),
      " ",
      el("span", { className: "muted", text: [r.order_number, r.reason && term("rr", r.reason)].filter(Boolean).join(" · ") }),
    ]));

  const consents = (c.consents || []).map((consent) =>
    el("li", { className: "consent" }, [
      consent.channel ? channelBadge(consent.channel) : null,
      " ",
      el("span", { text: consent.purpose || "" }),
      " ",
      el("span", { className: consent.granted ? "ok" : "muted", text: consent.granted ? t("granted") : t("withdrawn") }),
      " ",
      el("span", { className: "muted", text: when(consent.recorded_at, day) }),
    ]));

  const tags = (c.tags || []).map((tag) => el("li", { className: "tag", text: tag }));

  $("#customer-body").replaceChildren(
    el("section", { className: "panel-section", dataset: { section: "profile" } }, [el("h3", { text: t("profile") }), profile]),
    section("identities", identities),
    section("orders", orders),
    el("div", { id: "return-slot" }),
    section("reservations", reservations),
    section("returns", returns),
    section("consents", consents),
    el("section", { className: "panel-section", dataset: { section: "tags" } }, [
      el("h3", { text: t("tags") }),
      tags.length ? el("ul", { className: "tags" }, tags) : el("p", { className: "muted", text: t("none") }),
    ]),
    el("p", { id: "customer-alert", className: "alert", role: "alert" }),
  );
}

export const refreshCustomer = coalesced(async () => {
  const id = state.detail?.customer_id ?? state.detail?.customer?.id;
  if (id === undefined || id === null) return;
  state.customer = await api("GET", `/customers/${id}`);
  renderCustomer();
});

async function cancelReservation(button) {
  const alert = $("#customer-alert");
  button.disabled = true;
  try {
    await api("POST", `/reservations/${button.dataset.cancelReservation}/cancel`, {});
    alert.dataset.kind = "ok";
    alert.textContent = t("reservation_cancelled", { code: button.dataset.code });
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    alert.dataset.kind = "error";
    alert.textContent = errorText(error);
  }
  await refreshCustomer();
  $("#customer-alert").textContent = alert.textContent;
}

function showReturnForm(button) {
  const number = button.dataset.startReturn;
  const reasons = ["wrong_size", "defective", "not_as_described", "changed_mind", "late_delivery", "other"];
  const form = el("form", { className: "return-form", "aria-label": t("start_return_of", { number }) }, [
    el("label", {}, [el("span", { text: t("return_reason") }), el("select", { name: "reason" }, reasons.map((r) => el("option", { value: r, text: t(`rr_${r}`) })))]),
    el("label", {}, [el("span", { text: t("return_method") }), el("select", { name: "method" }, [
      el("option", { value: "courier", text: t("rm_courier") }),
      el("option", { value: "in_store", text: t("rm_in_store") }),
    ])]),
    el("label", {}, [el("span", { text: t("store_code") }), el("input", { name: "store_code", type: "text" })]),
    el("button", { type: "submit", text: t("start_return") }),
  ]);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const alert = $("#customer-alert");
    try {
      const started = await api("POST", "/returns", {
        customer_id: state.customer.id,
        order_number: number,
        // The whole order: an agent who needs less says so to the customer and the store.
        lines: (state.customer.orders.find((o) => o.number === number)?.lines || []).map((line) => ({
          line_no: line.line_no,
          quantity: line.quantity,
        })),
        reason: data.get("reason"),
        method: data.get("method"),
        store_code: data.get("method") === "in_store" ? data.get("store_code") || null : null,
      });
      await refreshCustomer();
      $("#customer-alert").dataset.kind = "ok";
      $("#customer-alert").textContent = t("return_started", { code: started?.rma_code || started?.code || "" });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      alert.dataset.kind = "error";
      alert.textContent = errorText(error);
    }
  });
  $("#return-slot").replaceChildren(form);
  $("select", form).focus();
}

export function bindCustomer() {
  $("#customer").addEventListener("click", (event) => {
    const cancel = event.target.closest("button[data-cancel-reservation]");
    if (cancel) cancelReservation(cancel);
    const start = event.target.closest("button[data-start-return]");
    if (start) showReturnForm(start);
  });
}
