// The channel simulator page: one phone per channel, where one plays the customer.
//
// What customers and the hub write is only ever set as textContent, never parsed as
// markup. The page keeps every event it has seen, so editing a customer switches the
// phone to that customer's own thread; the server replays the events after the last
// one seen whenever the stream reconnects (EventSource sends Last-Event-ID).
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("simulator-config").textContent);
  const T = config.texts;
  // The browser's own locale first, for its 12- or 24-hour clock, when it is a variant
  // of the page's language.
  const locales = navigator.language.startsWith(config.lang) ? [navigator.language] : [];
  const clock = new Intl.DateTimeFormat([...locales, config.lang], {
    hour: "2-digit",
    minute: "2-digit",
  });
  // Plain symbols that every system font has (no emoji).
  const ICONS = { received: "✓", refused: "✕", unreachable: "✕", sent: "✓", delivered: "✓✓" };
  const TYPING_MS = 5000; // Telegram clears "typing…" after 5 s too

  const threads = new Map(); // "channel|customer" -> {messages, byRef}
  const panels = new Map(); // channel id -> panel
  let lastEventId = 0;

  function el(tag, props, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === undefined) continue;
      if (name === "dataset") Object.assign(node.dataset, value);
      else if (name in node) node[name] = value;
      else node.setAttribute(name, value);
    }
    for (const child of children || []) node.append(child);
    return node;
  }

  // The form the hub stores a phone in, for the usual ways of writing one.
  function e164(raw) {
    let phone = raw.trim().replace(/[\s().\-\/]/g, "");
    if (phone.startsWith("00")) phone = "+" + phone.slice(2);
    if (/^\d+$/.test(phone)) phone = "+" + phone;
    return phone;
  }

  function threadFor(channel, customer) {
    const key = channel + "|" + customer;
    let thread = threads.get(key);
    if (!thread) {
      thread = { key, messages: [], byRef: new Map() };
      threads.set(key, thread);
    }
    return thread;
  }

  // --- one phone -------------------------------------------------------------------

  const FIELDS = {
    sms: [["phone", T.phone, "tel"]],
    whatsapp: [
      ["phone", T.phone, "tel"],
      ["name", T.profile_name, "text"],
    ],
    telegram: [
      ["name", T.name, "text"],
      ["user_id", T.user_id, "text"],
      ["phone", T.phone_to_share, "tel"],
    ],
  };

  function makePanel(channel) {
    const who = el("strong");
    const section = el("section", {
      className: "phone ch-" + channel.id,
      dataset: { channel: channel.id },
      "aria-label": channel.title,
    });
    section.append(
      el("header", { className: "phone-head" }, [
        el("span", { className: "badge", textContent: channel.title }),
        el("div", { className: "who" }, [
          who,
          el("small", { textContent: T.shop + ": " + channel.shop }),
        ]),
      ]),
    );
    if (!channel.simulated) {
      who.textContent = channel.title;
      section.append(el("p", { className: "off", textContent: T.not_simulated }));
      return { section, channel, key: () => null };
    }

    const inputs = {};
    const fields = el("div", { className: "fields" });
    for (const [name, label, type] of FIELDS[channel.id]) {
      const input = el("input", {
        type,
        name,
        value: String(channel.customer[name] ?? ""),
        autocomplete: "off",
        inputMode: name === "user_id" ? "numeric" : undefined,
      });
      input.addEventListener("change", () => show());
      input.addEventListener("input", () => updateWho());
      inputs[name] = input;
      fields.append(el("label", {}, [el("span", { textContent: label }), input]));
    }
    const thread = el("ol", { className: "thread", "aria-live": "polite" });
    const typing = el("div", { className: "typing", hidden: true, textContent: T.typing });
    const text = el("input", {
      type: "text",
      name: "text",
      placeholder: T.placeholder,
      autocomplete: "off",
      "aria-label": T.placeholder,
    });
    const sendButton = el("button", { type: "submit", textContent: T.send });
    const composer = el("form", { className: "composer" }, [text, sendButton]);
    const error = el("p", { className: "error", role: "alert" });
    section.append(
      el("details", { className: "customer" }, [
        el("summary", { textContent: T.customer }),
        fields,
      ]),
      thread,
      typing,
      composer,
    );
    let share = null;
    if (channel.id === "telegram") {
      share = el("button", {
        type: "button",
        className: "share",
        textContent: T.share_contact,
      });
      section.append(share);
    }
    section.append(error);

    let typingTimer = null;
    const panel = { section, channel, key, show, append, showTyping, hideTyping };

    function customer() {
      if (channel.id === "telegram") return String(inputs.user_id.value).trim();
      return e164(inputs.phone.value);
    }

    function key() {
      return channel.id + "|" + customer();
    }

    function updateWho() {
      who.textContent =
        channel.id === "sms" ? inputs.phone.value : inputs.name.value || inputs.phone?.value || "";
    }

    function show() {
      updateWho();
      hideTyping();
      thread.replaceChildren();
      const messages = threads.get(key())?.messages || [];
      if (messages.length === 0) thread.append(el("li", { className: "empty", textContent: T.empty }));
      for (const message of messages) thread.append(nodeFor(message));
      thread.scrollTop = thread.scrollHeight;
    }

    function append(message) {
      thread.querySelector(".empty")?.remove();
      thread.append(nodeFor(message));
      if (message.direction === "out") hideTyping();
      thread.scrollTop = thread.scrollHeight;
    }

    function showTyping() {
      typing.hidden = false;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(hideTyping, TYPING_MS);
    }

    function hideTyping() {
      typing.hidden = true;
      clearTimeout(typingTimer);
    }

    function identity() {
      const body = { channel: channel.id };
      if (channel.id === "telegram") {
        const id = Number(inputs.user_id.value.trim());
        body.user_id = Number.isSafeInteger(id) ? id : null;
        body.name = inputs.name.value;
      } else {
        body.phone = inputs.phone.value;
        if (inputs.name) body.name = inputs.name.value;
      }
      return body;
    }

    async function send(action, button) {
      error.textContent = "";
      if (button) button.disabled = true;
      try {
        const answer = await post({ ...identity(), ...action });
        // The hub's form of the phone: the thread shown is the one the events name.
        if (inputs.phone && channel.id !== "telegram" && answer.customer !== customer()) {
          inputs.phone.value = answer.customer;
          show();
        }
        return true;
      } catch (problem) {
        error.textContent = T.errors[problem.message] || T.errors.bad_request;
        return false;
      } finally {
        if (button) button.disabled = false;
      }
    }
    panel.send = send;

    composer.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!text.value.trim()) {
        error.textContent = T.errors.empty_text;
        return;
      }
      if (await send({ kind: "text", text: text.value }, sendButton)) text.value = "";
      text.focus();
    });
    share?.addEventListener("click", () =>
      send({ kind: "contact", phone: inputs.phone.value }, share),
    );

    show();
    return panel;
  }

  async function post(body) {
    let response;
    try {
      response = await fetch(config.paths.send, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch {
      throw new Error("network");
    }
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.error || "bad_request");
    return answer;
  }

  // --- messages ----------------------------------------------------------------------

  function nodeFor(message) {
    if (message.node) return message.node;
    const bubble = el("div", { className: "bubble" });
    if (message.detail === "contact") {
      bubble.append(el("p", { className: "note", textContent: T.contact_shared }));
    } else if (message.detail === "press") {
      bubble.append(el("p", { className: "note", textContent: "↪ " + T.pressed }));
    }
    bubble.append(el("p", { className: "text", textContent: message.text }));
    message.meta = el("span", { className: "meta" });
    bubble.append(message.meta);
    message.node = el("li", { className: "msg " + message.direction, dataset: { ref: message.ref } }, [
      bubble,
    ]);
    if (message.buttons.length) message.node.append(keyboard(message));
    showStatus(message);
    return message.node;
  }

  function keyboard(message) {
    const rows = message.buttons.map((row) =>
      el(
        "div",
        { className: "row" },
        row.map((button) => {
          const node = el("button", {
            type: "button",
            textContent: button.text,
            disabled: button.data === null,
          });
          node.addEventListener("click", () =>
            panels
              .get(message.channel)
              .send({ kind: "press", message_id: Number(message.ref), data: button.data }, node),
          );
          return node;
        }),
      ),
    );
    return el("div", { className: "keyboard" }, rows);
  }

  function showStatus(message) {
    if (!message.node) return;
    message.node.dataset.status = message.status;
    let label = (ICONS[message.status] || "") + " " + (T.status[message.status] || message.status);
    if (message.status === "refused" && message.statusDetail) label += " (" + message.statusDetail + ")";
    message.meta.textContent = clock.format(message.at) + "  " + label.trim();
  }

  // --- the live stream ---------------------------------------------------------------

  function apply(event) {
    const thread = threadFor(event.channel, event.customer);
    const panel = panels.get(event.channel);
    const current = panel && panel.key() === thread.key;
    if (event.type === "message") {
      const message = {
        channel: event.channel,
        direction: event.direction,
        ref: event.ref,
        text: event.text,
        status: event.status,
        statusDetail: null,
        detail: event.detail,
        buttons: event.buttons,
        at: new Date(event.at),
      };
      thread.messages.push(message);
      thread.byRef.set(message.ref, message);
      if (current) panel.append(message);
    } else if (event.type === "status") {
      const message = thread.byRef.get(event.ref);
      if (!message) return;
      message.status = event.status;
      message.statusDetail = event.detail;
      showStatus(message);
    } else if (event.type === "typing" && current) {
      panel.showTyping();
    }
  }

  const live = document.getElementById("live");
  function setLive(state) {
    live.dataset.state = state;
    live.textContent = state === "live" ? T.live : T.reconnecting;
  }

  function connect() {
    const source = new EventSource(config.paths.events);
    source.onopen = () => setLive("live");
    source.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (event.id <= lastEventId) return;
      lastEventId = event.id;
      apply(event);
    };
    source.onerror = () => {
      setLive("down");
      // The browser retries on its own unless the server refused the stream outright.
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(() => {
          const after = new URL(config.paths.events, location.href);
          after.searchParams.set("after", String(lastEventId));
          config.paths.events = after.pathname + after.search;
          connect();
        }, 3000);
      }
    };
  }

  for (const link of document.querySelectorAll("#langs a")) {
    if (link.hreflang === config.lang) link.setAttribute("aria-current", "true");
  }
  const phones = document.getElementById("phones");
  for (const channel of config.channels) {
    const panel = makePanel(channel);
    panels.set(channel.id, panel);
    phones.append(panel.section);
  }
  connect();
})();
