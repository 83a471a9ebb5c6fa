// The agents' shared inbox: conversation list, conversation view, customer panel.
//
// Everything a customer (or anyone outside the shop) wrote reaches the DOM as text:
// through textContent, createTextNode or an attribute, never parsed as markup. The
// page talks only to the JSON API under /inbox/api and the live events of /inbox/ws
// (docs/inbox.md); an event only says that something changed, and the page fetches
// what it shows.

// --- texts -------------------------------------------------------------------------

const TEXTS = {
  en: {
    inbox: "Inbox",
    skip_to_conversation: "Skip to the conversation",
    available: "Available",
    sign_out: "Sign out",
    conversations: "Conversations",
    search_label: "Search",
    search_placeholder: "Name, phone or order number",
    view: "View",
    view_mine: "Mine",
    view_queued: "Queued",
    view_open: "All open",
    view_all: "All",
    channel: "Channel",
    status: "Status",
    any_channel: "Any channel",
    any_status: "Any status",
    ch_sms: "SMS",
    ch_whatsapp: "WhatsApp",
    ch_telegram: "Telegram",
    ch_webchat: "Web chat",
    st_bot: "With the bot",
    st_queued: "Queued",
    st_agent: "With an agent",
    st_resolved: "Resolved",
    load_more: "Load more",
    loading: "Loading…",
    no_conversations: "No conversations here.",
    pick_conversation: "Pick a conversation from the list.",
    live: "Live",
    connecting: "Connecting…",
    reconnecting: "Reconnecting…",
    actions: "Actions",
    claim: "Claim",
    transfer: "Transfer",
    transfer_to: "Transfer to",
    cancel: "Cancel",
    unassign: "Unassign",
    handback: "Hand back to the bot",
    resolve: "Resolve",
    summary: "Handoff summary",
    sum_customer: "Customer",
    sum_reason: "Why",
    sum_intent: "Intent",
    sum_flow: "Flow",
    sum_slots: "Details given",
    sum_order: "Order",
    sum_product: "Product",
    sum_language: "Language",
    sum_requested: "Asked at",
    sum_last: "Last messages",
    messages: "History",
    compose_mode: "What to write",
    mode_reply: "Reply",
    mode_note: "Private note",
    canned: "Canned response",
    canned_pick: "Insert…",
    template: "Approved template",
    message: "Message",
    reply_placeholder: "Write a reply…",
    note_placeholder: "Write a private note (the customer never sees it)…",
    send_hint: "Enter sends, Shift+Enter adds a line",
    send: "Send",
    send_template: "Send template",
    add_note: "Add note",
    note: "Private note, not sent to the customer",
    customer: "Customer",
    you: "you",
    assigned_to: "Assigned to {name}",
    team: "Team {team}",
    waiting: "waiting {time}",
    unknown_customer: "Customer #{id}",
    author_customer: "Customer",
    author_bot: "Bot",
    author_agent: "Agent",
    author_system: "Hub",
    ev_verification_requested: "A verification code was asked for in this chat. If there is an account, the code goes only to its phone: nobody on the team can see it.",
    via: "via {channel}",
    ds_received: "Received",
    ds_pending: "Sending…",
    ds_queued: "Queued",
    ds_sent: "Sent",
    ds_delivered: "Delivered",
    ds_read: "Read",
    ds_failed: "Failed",
    ds_undelivered: "Not delivered",
    window_open: "WhatsApp: the 24-hour window is open until {time}.",
    window_closed:
      "WhatsApp: the customer last wrote more than 24 hours ago. Only an approved template can be sent until they write again.",
    no_templates: "No approved templates are available.",
    why_not_owner: "Claim the conversation to reply; notes are always possible.",
    why_bot: "The bot is answering this conversation. Claim it or leave a note.",
    why_resolved: "This conversation is resolved.",
    taken_by: "{name} has already taken this conversation.",
    taken: "Someone else has already taken this conversation.",
    not_owner: "Only the agent who owns this conversation can do that.",
    conflict: "That cannot be done now: {reason}",
    failed: "That did not work: {reason}",
    offline: "The hub cannot be reached. Try again in a moment.",
    claimed_ok: "You have this conversation.",
    resolved_ok: "Resolved. The customer has been asked for a score.",
    handed_back_ok: "The bot has the conversation again.",
    unassigned_ok: "The conversation is back in the queue.",
    transferred_ok: "Transferred.",
    profile: "Profile",
    name: "Name",
    email: "Email",
    phone: "Phone",
    language: "Language",
    customer_since: "Customer since",
    identities: "Identities",
    verified: "verified",
    unverified: "not verified",
    orders: "Orders",
    reservations: "Reservations",
    returns: "Returns",
    consents: "Consents",
    tags: "Tags",
    none: "None",
    cancel_reservation: "Cancel reservation",
    cancel_reservation_of: "Cancel reservation {code}",
    reservation_cancelled: "Reservation {code} cancelled.",
    start_return: "Start a return",
    start_return_of: "Start a return of order {number}",
    return_reason: "Reason",
    return_method: "How",
    store_code: "Store code",
    return_started: "Return {code} started.",
    rr_wrong_size: "Wrong size",
    rr_defective: "Defective",
    rr_not_as_described: "Not as described",
    rr_changed_mind: "Changed their mind",
    rr_late_delivery: "Late delivery",
    rr_other: "Other",
    rm_courier: "Courier pick-up",
    rm_in_store: "In a store",
    granted: "granted",
    withdrawn: "withdrawn",
    agent_option: "{name}",
    team_option: "Team {team}",
    ago_now: "just now",
    ago_min: "{n} min",
    ago_hour: "{h} h {m} min",
    ago_day: "{n} d",
    os_pending: "pending",
    os_confirmed: "confirmed",
    os_preparing: "preparing",
    os_ready_for_pickup: "ready for pick-up",
    os_shipped: "shipped",
    os_delivered: "delivered",
    os_collected: "collected",
    os_completed: "completed",
    os_cancelled: "cancelled",
    rs_held: "held",
    rs_collected: "collected",
    rs_expired: "expired",
    rs_cancelled: "cancelled",
    rt_requested: "requested",
    rt_received: "received",
    rt_refunded: "refunded",
    rt_rejected: "rejected",
    role_agent: "agent",
    role_supervisor: "supervisor",
    role_marketer: "marketer",
    role_admin: "admin",
  },
  es: {
    inbox: "Bandeja",
    skip_to_conversation: "Ir a la conversación",
    available: "Disponible",
    sign_out: "Cerrar sesión",
    conversations: "Conversaciones",
    search_label: "Buscar",
    search_placeholder: "Nombre, teléfono o número de pedido",
    view: "Vista",
    view_mine: "Mías",
    view_queued: "En cola",
    view_open: "Todas abiertas",
    view_all: "Todas",
    channel: "Canal",
    status: "Estado",
    any_channel: "Cualquier canal",
    any_status: "Cualquier estado",
    ch_sms: "SMS",
    ch_whatsapp: "WhatsApp",
    ch_telegram: "Telegram",
    ch_webchat: "Chat web",
    st_bot: "Con el bot",
    st_queued: "En cola",
    st_agent: "Con un agente",
    st_resolved: "Resuelta",
    load_more: "Cargar más",
    loading: "Cargando…",
    no_conversations: "No hay conversaciones aquí.",
    pick_conversation: "Elige una conversación de la lista.",
    live: "En directo",
    connecting: "Conectando…",
    reconnecting: "Reconectando…",
    actions: "Acciones",
    claim: "Tomar",
    transfer: "Transferir",
    transfer_to: "Transferir a",
    cancel: "Cancelar",
    unassign: "Devolver a la cola",
    handback: "Devolver al bot",
    resolve: "Resolver",
    summary: "Resumen del traspaso",
    sum_customer: "Cliente",
    sum_reason: "Motivo",
    sum_intent: "Intención",
    sum_flow: "Flujo",
    sum_slots: "Datos dados",
    sum_order: "Pedido",
    sum_product: "Producto",
    sum_language: "Idioma",
    sum_requested: "Pedido a las",
    sum_last: "Últimos mensajes",
    messages: "Historial",
    compose_mode: "Qué escribir",
    mode_reply: "Respuesta",
    mode_note: "Nota privada",
    canned: "Respuesta predefinida",
    canned_pick: "Insertar…",
    template: "Plantilla aprobada",
    message: "Mensaje",
    reply_placeholder: "Escribe una respuesta…",
    note_placeholder: "Escribe una nota privada (el cliente nunca la ve)…",
    send_hint: "Intro envía, Mayús+Intro añade una línea",
    send: "Enviar",
    send_template: "Enviar plantilla",
    add_note: "Añadir nota",
    note: "Nota privada, no se envía al cliente",
    customer: "Cliente",
    you: "ti",
    assigned_to: "Asignada a {name}",
    team: "Equipo {team}",
    waiting: "esperando {time}",
    unknown_customer: "Cliente n.º {id}",
    author_customer: "Cliente",
    author_bot: "Bot",
    author_agent: "Agente",
    author_system: "Sistema",
    ev_verification_requested: "Se ha pedido un código de verificación en este chat. Si hay una cuenta, el código llega solo a su teléfono: nadie del equipo puede verlo.",
    via: "por {channel}",
    ds_received: "Recibido",
    ds_pending: "Enviando…",
    ds_queued: "En cola",
    ds_sent: "Enviado",
    ds_delivered: "Entregado",
    ds_read: "Leído",
    ds_failed: "Falló",
    ds_undelivered: "No entregado",
    window_open: "WhatsApp: la ventana de 24 horas está abierta hasta las {time}.",
    window_closed:
      "WhatsApp: el cliente escribió por última vez hace más de 24 horas. Solo se puede enviar una plantilla aprobada hasta que vuelva a escribir.",
    no_templates: "No hay plantillas aprobadas.",
    why_not_owner: "Toma la conversación para responder; las notas siempre se pueden añadir.",
    why_bot: "El bot atiende esta conversación. Tómala o deja una nota.",
    why_resolved: "Esta conversación está resuelta.",
    taken_by: "{name} ya ha tomado esta conversación.",
    taken: "Otra persona ya ha tomado esta conversación.",
    not_owner: "Solo el agente que lleva la conversación puede hacerlo.",
    conflict: "Ahora no se puede: {reason}",
    failed: "No ha funcionado: {reason}",
    offline: "No se puede contactar con el hub. Inténtalo de nuevo en un momento.",
    claimed_ok: "La conversación es tuya.",
    resolved_ok: "Resuelta. Se ha pedido una valoración al cliente.",
    handed_back_ok: "El bot vuelve a llevar la conversación.",
    unassigned_ok: "La conversación vuelve a la cola.",
    transferred_ok: "Transferida.",
    profile: "Perfil",
    name: "Nombre",
    email: "Correo",
    phone: "Teléfono",
    language: "Idioma",
    customer_since: "Cliente desde",
    identities: "Identidades",
    verified: "verificada",
    unverified: "sin verificar",
    orders: "Pedidos",
    reservations: "Reservas",
    returns: "Devoluciones",
    consents: "Consentimientos",
    tags: "Etiquetas",
    none: "Ninguno",
    cancel_reservation: "Cancelar reserva",
    cancel_reservation_of: "Cancelar la reserva {code}",
    reservation_cancelled: "Reserva {code} cancelada.",
    start_return: "Iniciar devolución",
    start_return_of: "Iniciar la devolución del pedido {number}",
    return_reason: "Motivo",
    return_method: "Cómo",
    store_code: "Código de tienda",
    return_started: "Devolución {code} iniciada.",
    rr_wrong_size: "Talla equivocada",
    rr_defective: "Defectuoso",
    rr_not_as_described: "No es como se describía",
    rr_changed_mind: "Ha cambiado de idea",
    rr_late_delivery: "Entrega tardía",
    rr_other: "Otro",
    rm_courier: "Recogida por mensajero",
    rm_in_store: "En una tienda",
    granted: "concedido",
    withdrawn: "retirado",
    agent_option: "{name}",
    team_option: "Equipo {team}",
    ago_now: "ahora mismo",
    ago_min: "{n} min",
    ago_hour: "{h} h {m} min",
    ago_day: "{n} d",
    os_pending: "pendiente",
    os_confirmed: "confirmado",
    os_preparing: "en preparación",
    os_ready_for_pickup: "listo para recoger",
    os_shipped: "enviado",
    os_delivered: "entregado",
    os_collected: "recogido",
    os_completed: "completado",
    os_cancelled: "cancelado",
    rs_held: "reservada",
    rs_collected: "recogida",
    rs_expired: "caducada",
    rs_cancelled: "cancelada",
    rt_requested: "solicitada",
    rt_received: "recibida",
    rt_refunded: "reembolsada",
    rt_rejected: "rechazada",
    role_agent: "agente",
    role_supervisor: "supervisor",
    role_marketer: "marketing",
    role_admin: "administración",
  },
  pt: {
    inbox: "Caixa de entrada",
    skip_to_conversation: "Ir para a conversa",
    available: "Disponível",
    sign_out: "Sair",
    conversations: "Conversas",
    search_label: "Pesquisar",
    search_placeholder: "Nome, telefone ou número da encomenda",
    view: "Vista",
    view_mine: "Minhas",
    view_queued: "Na fila",
    view_open: "Todas abertas",
    view_all: "Todas",
    channel: "Canal",
    status: "Estado",
    any_channel: "Qualquer canal",
    any_status: "Qualquer estado",
    ch_sms: "SMS",
    ch_whatsapp: "WhatsApp",
    ch_telegram: "Telegram",
    ch_webchat: "Chat web",
    st_bot: "Com o bot",
    st_queued: "Na fila",
    st_agent: "Com um agente",
    st_resolved: "Resolvida",
    load_more: "Carregar mais",
    loading: "A carregar…",
    no_conversations: "Não há conversas aqui.",
    pick_conversation: "Escolha uma conversa da lista.",
    live: "Em direto",
    connecting: "A ligar…",
    reconnecting: "A voltar a ligar…",
    actions: "Ações",
    claim: "Assumir",
    transfer: "Transferir",
    transfer_to: "Transferir para",
    cancel: "Cancelar",
    unassign: "Devolver à fila",
    handback: "Devolver ao bot",
    resolve: "Resolver",
    summary: "Resumo da passagem",
    sum_customer: "Cliente",
    sum_reason: "Motivo",
    sum_intent: "Intenção",
    sum_flow: "Fluxo",
    sum_slots: "Dados dados",
    sum_order: "Encomenda",
    sum_product: "Produto",
    sum_language: "Idioma",
    sum_requested: "Pedido às",
    sum_last: "Últimas mensagens",
    messages: "Histórico",
    compose_mode: "O que escrever",
    mode_reply: "Resposta",
    mode_note: "Nota privada",
    canned: "Resposta pronta",
    canned_pick: "Inserir…",
    template: "Modelo aprovado",
    message: "Mensagem",
    reply_placeholder: "Escreva uma resposta…",
    note_placeholder: "Escreva uma nota privada (o cliente nunca a vê)…",
    send_hint: "Enter envia, Shift+Enter acrescenta uma linha",
    send: "Enviar",
    send_template: "Enviar modelo",
    add_note: "Adicionar nota",
    note: "Nota privada, não enviada ao cliente",
    customer: "Cliente",
    you: "si",
    assigned_to: "Atribuída a {name}",
    team: "Equipa {team}",
    waiting: "à espera há {time}",
    unknown_customer: "Cliente n.º {id}",
    author_customer: "Cliente",
    author_bot: "Bot",
    author_agent: "Agente",
    author_system: "Sistema",
    ev_verification_requested: "Foi pedido um código de verificação neste chat. Se houver uma conta, o código chega só ao telefone dela: ninguém da equipa o pode ver.",
    via: "por {channel}",
    ds_received: "Recebida",
    ds_pending: "A enviar…",
    ds_queued: "Na fila",
    ds_sent: "Enviada",
    ds_delivered: "Entregue",
    ds_read: "Lida",
    ds_failed: "Falhou",
    ds_undelivered: "Não entregue",
    window_open: "WhatsApp: a janela de 24 horas está aberta até às {time}.",
    window_closed:
      "WhatsApp: o cliente escreveu pela última vez há mais de 24 horas. Só se pode enviar um modelo aprovado até voltar a escrever.",
    no_templates: "Não há modelos aprovados.",
    why_not_owner: "Assuma a conversa para responder; as notas são sempre possíveis.",
    why_bot: "O bot está a atender esta conversa. Assuma-a ou deixe uma nota.",
    why_resolved: "Esta conversa está resolvida.",
    taken_by: "{name} já assumiu esta conversa.",
    taken: "Outra pessoa já assumiu esta conversa.",
    not_owner: "Só o agente que tem a conversa o pode fazer.",
    conflict: "Agora não é possível: {reason}",
    failed: "Não resultou: {reason}",
    offline: "Não é possível contactar o hub. Tente de novo daqui a pouco.",
    claimed_ok: "A conversa é sua.",
    resolved_ok: "Resolvida. Foi pedida uma avaliação ao cliente.",
    handed_back_ok: "O bot voltou a ter a conversa.",
    unassigned_ok: "A conversa voltou à fila.",
    transferred_ok: "Transferida.",
    profile: "Perfil",
    name: "Nome",
    email: "Email",
    phone: "Telefone",
    language: "Idioma",
    customer_since: "Cliente desde",
    identities: "Identidades",
    verified: "verificada",
    unverified: "não verificada",
    orders: "Encomendas",
    reservations: "Reservas",
    returns: "Devoluções",
    consents: "Consentimentos",
    tags: "Etiquetas",
    none: "Nenhum",
    cancel_reservation: "Cancelar reserva",
    cancel_reservation_of: "Cancelar a reserva {code}",
    reservation_cancelled: "Reserva {code} cancelada.",
    start_return: "Iniciar devolução",
    start_return_of: "Iniciar a devolução da encomenda {number}",
    return_reason: "Motivo",
    return_method: "Como",
    store_code: "Código da loja",
    return_started: "Devolução {code} iniciada.",
    rr_wrong_size: "Tamanho errado",
    rr_defective: "Com defeito",
    rr_not_as_described: "Não corresponde à descrição",
    rr_changed_mind: "Mudou de ideias",
    rr_late_delivery: "Entrega atrasada",
    rr_other: "Outro",
    rm_courier: "Recolha por estafeta",
    rm_in_store: "Numa loja",
    granted: "dado",
    withdrawn: "retirado",
    agent_option: "{name}",
    team_option: "Equipa {team}",
    ago_now: "agora mesmo",
    ago_min: "{n} min",
    ago_hour: "{h} h {m} min",
    ago_day: "{n} d",
    os_pending: "pendente",
    os_confirmed: "confirmada",
    os_preparing: "em preparação",
    os_ready_for_pickup: "pronta para levantar",
    os_shipped: "enviada",
    os_delivered: "entregue",
    os_collected: "levantada",
    os_completed: "concluída",
    os_cancelled: "cancelada",
    rs_held: "reservada",
    rs_collected: "levantada",
    rs_expired: "expirada",
    rs_cancelled: "cancelada",
    rt_requested: "pedida",
    rt_received: "recebida",
    rt_refunded: "reembolsada",
    rt_rejected: "rejeitada",
    role_agent: "agente",
    role_supervisor: "supervisor",
    role_marketer: "marketing",
    role_admin: "administração",
  },
};

function pickLanguage() {
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (base in TEXTS) return base;
  }
  return "en";
}

const LANG = pickLanguage();

function t(key, vars) {
  const text = TEXTS[LANG][key] ?? TEXTS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars?.[name] ?? ""));
}

const clock = new Intl.DateTimeFormat(LANG, { hour: "2-digit", minute: "2-digit" });
const dateTime = new Intl.DateTimeFormat(LANG, { dateStyle: "medium", timeStyle: "short" });
const day = new Intl.DateTimeFormat(LANG, { dateStyle: "medium" });

function when(iso, format = dateTime) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : format.format(date);
}

function elapsed(iso) {
  const minutes = Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 60000));
  if (minutes < 1) return t("ago_now");
  if (minutes < 60) return t("ago_min", { n: minutes });
  if (minutes < 60 * 24) return t("ago_hour", { h: Math.floor(minutes / 60), m: minutes % 60 });
  return t("ago_day", { n: Math.floor(minutes / (60 * 24)) });
}

function money(minor, currency) {
  if (minor === undefined || minor === null || !currency) return "";
  try {
    return new Intl.NumberFormat(LANG, { style: "currency", currency }).format(minor / 100);
  } catch {
    return `${minor / 100} ${currency}`;
  }
}

// --- DOM helpers: text only --------------------------------------------------------

// `el("li", {className: "x", dataset: {id: 1}}, ["text", node])`: strings become text
// nodes, and only the properties named here can be set, so no markup ever goes in.
const PROPS = new Set(["className", "id", "type", "value", "disabled", "hidden", "title", "htmlFor",
  "name", "checked", "required", "min", "max", "tabIndex"]);

function el(tag, props, children) {
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

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

function translateStatic() {
  document.documentElement.lang = LANG;
  for (const node of $$("[data-t]")) node.textContent = t(node.dataset.t);
  for (const node of $$("[data-t-placeholder]")) node.placeholder = t(node.dataset.tPlaceholder);
  for (const node of $$("[data-t-aria-label]")) node.setAttribute("aria-label", t(node.dataset.tAriaLabel));
  document.title = `${t("inbox")} · omnihub`;
}

const CHANNELS = ["sms", "whatsapp", "telegram", "webchat"];

function channelBadge(channel) {
  const known = CHANNELS.includes(channel);
  return el("span", { className: `badge ch-${known ? channel : "other"}`, dataset: { channel } }, [
    known ? t(`ch_${channel}`) : String(channel || "?"),
  ]);
}

// A value of a closed vocabulary in words, or as it came when the page does not know it.
function term(prefix, value) {
  return TEXTS.en[`${prefix}_${value}`] ? t(`${prefix}_${value}`) : String(value ?? "");
}

function statusText(status) {
  return term("st", status);
}

// --- the API -----------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.error || body.reason)) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

const state = {
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

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = state.csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/inbox/api${path}`, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, { error: t("offline") });
  }
  if (response.status === 401) {
    window.location.assign("/inbox/login");
    throw new ApiError(401, {});
  }
  let data = null;
  if ((response.headers.get("Content-Type") || "").includes("json")) data = await response.json();
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// Runs `work` now, or once more after the run in flight, however often it is asked for:
// a burst of live events costs at most two fetches, and the last one sees them all.
function coalesced(work) {
  let running = null;
  let again = false;
  const run = async () => {
    do {
      again = false;
      try {
        await work();
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
      }
    } while (again);
    running = null;
  };
  return () => {
    if (running) again = true;
    else running = run();
    return running;
  };
}

// --- the conversation list ---------------------------------------------------------

const listNodes = new Map(); // conversation id -> li

function customerName(customer, id) {
  if (!customer) return t("unknown_customer", { id });
  return customer.name || customer.phone || customer.email || t("unknown_customer", { id: customer.id ?? id });
}

function agentName(agentId, agent) {
  if (agentId === null || agentId === undefined) return "";
  if (state.me && agentId === state.me.id) return t("you");
  if (agent && agent.name) return agent.name;
  const known = (state.agents || []).find((a) => a.id === agentId);
  return known ? known.name : `#${agentId}`;
}

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
        el("span", { className: `status-badge st-${summary.status}`, text: statusText(summary.status) }),
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

const refreshList = coalesced(async () => {
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

// --- the conversation --------------------------------------------------------------

function isMine(detail) {
  return detail.status === "agent" && state.me && detail.assigned_agent_id === state.me.id;
}

function canSupervise() {
  return state.me && (state.me.role === "supervisor" || state.me.role === "admin");
}

function flash(message, kind = "error") {
  const box = $("#conv-alert");
  box.dataset.kind = kind;
  box.textContent = message;
}

function errorText(error) {
  const body = error.body || {};
  const reason = body.reason || body.error || error.message;
  if (error.status === 409 && body.code === "already_taken") {
    const owner = state.detail?.assigned_agent;
    const byId = body.by_agent_id ?? owner?.id;
    const name = body.by_agent_name || (owner && owner.id === byId ? owner.name : "") ||
      (byId != null ? agentName(byId) : "");
    return name && name !== t("you") ? t("taken_by", { name }) : t("taken");
  }
  if (error.status === 403) return t("not_owner");
  if (error.status === 409 && body.code === "outside_window") return t("window_closed");
  if (error.status === 409) return t("conflict", { reason });
  if (error.status === 0) return t("offline");
  return t("failed", { reason });
}

function messageAuthor(message) {
  if (message.agent) return agentName(message.agent.id, message.agent);
  return TEXTS.en[`author_${message.author}`] ? t(`author_${message.author}`) : String(message.author);
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
    meta.append(
      " · ",
      el("span", { className: `delivery ds-${status}`, text: TEXTS.en[`ds_${status}`] ? t(`ds_${status}`) : status }),
    );
  }
  li.append(head, body);
  if (buttons.length) li.append(el("ul", { className: "choices" }, buttons.map((title) => el("li", { text: title }))));
  li.append(meta);
  return li;
}

// Events the thread shows among the messages, in the agent's words (changes of hands
// show in the header instead).
const THREAD_EVENTS = new Set(["verification_requested"]);

function timeline(detail) {
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

function renderMessages(messages) {
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

function renderSummary(detail) {
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

function whatsappWindow(detail) {
  return detail.last_channel === "whatsapp" ? detail.whatsapp_window || null : null;
}

function renderComposer(detail) {
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
  text.placeholder = t(mode === "note" ? "note_placeholder" : "reply_placeholder");
  $("#canned-label").hidden = mode !== "reply" || templates;
  $("#canned").disabled = text.disabled;
  const send = $("#send");
  send.textContent = t(mode === "note" ? "add_note" : templates ? "send_template" : "send");
  send.disabled = mode === "reply" && (!mine || (templates && !$("#template").value));
  if (reason) text.setAttribute("aria-describedby", "composer-why");
  else text.removeAttribute("aria-describedby");
}

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
  badge.textContent = statusText(detail.status);
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
  for (const li of listNodes.values()) {
    $("button", li)?.setAttribute("aria-current", li.dataset.id === String(detail.id) ? "true" : "false");
  }
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

const refreshConversation = coalesced(async () => {
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

async function openConversation(id) {
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
    const done = { claim: "claimed_ok", resolve: "resolved_ok", handback: "handed_back_ok", unassign: "unassigned_ok", transfer: "transferred_ok" }[action];
    flash(done ? t(done) : "", "ok");
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

// --- composing ---------------------------------------------------------------------

async function loadCanned(detail) {
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

async function send(event) {
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
  await refreshConversation();
  text.focus();
}

// --- the customer panel ------------------------------------------------------------

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
      el("span", { className: identity.verified ? "ok" : "muted", text: t(identity.verified ? "verified" : "unverified") }),
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
      el("span", { className: consent.granted ? "ok" : "muted", text: t(consent.granted ? "granted" : "withdrawn") }),
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

const refreshCustomer = coalesced(async () => {
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

// --- live events -------------------------------------------------------------------

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const SESSION_ENDED = 4401; // the hub closes the socket so when the agent signed out
let socket = null;
let failures = 0;

function setLive(stateName) {
  const live = $("#live");
  live.dataset.state = stateName;
  live.textContent = t(stateName === "live" ? "live" : stateName === "down" ? "reconnecting" : "connecting");
}

function onEvent(event) {
  if (!event || event.kind === undefined) return;
  if (event.kind === "typing") return; // an agent's indicator to the customer
  refreshList();
  if (event.conversation_id === state.openId) refreshConversation();
}

function connect() {
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

// --- wiring ------------------------------------------------------------------------

function setView(view) {
  state.view = view;
  for (const button of $$("#views button")) button.setAttribute("aria-pressed", String(button.dataset.view === view));
  refreshList();
}

function bind() {
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
    if (button) openConversation(Number(button.dataset.id));
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
  $("#composer").addEventListener("submit", send);
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
  $("#customer").addEventListener("click", (event) => {
    const cancel = event.target.closest("button[data-cancel-reservation]");
    if (cancel) cancelReservation(cancel);
    const start = event.target.closest("button[data-start-return]");
    if (start) showReturnForm(start);
  });
  $("#available").addEventListener("change", async (event) => {
    const box = event.target;
    try {
      const me = await api("PUT", "/me/availability", { available: box.checked });
      if (me && typeof me.available === "boolean") box.checked = me.available;
    } catch {
      box.checked = !box.checked;
    }
  });
  setInterval(tickWaiting, 15000);
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
  if (view && $(`#views [data-view="${CSS.escape(view)}"]`)) state.view = view;
  for (const button of $$("#views button")) button.setAttribute("aria-pressed", String(button.dataset.view === state.view));
  connect();
  await refreshList();
  performance.mark("inbox:list-rendered"); // benchmarks/inbox.py reads it
  const wanted = Number(query.get("conversation"));
  if (wanted) await openConversation(wanted);
  document.body.dataset.ready = "true";
}

start();
