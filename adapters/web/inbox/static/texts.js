// The page's words in the agent's language: texts/<language>.json, and dates, times and
// money written the way that language writes them.

const LANGUAGES = ["es", "pt", "en"]; // a file texts/<language>.json each, same keys

function pickLanguage() {
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

export const LANG = pickLanguage();

// Read once, before any module that shows words runs (a top-level await: the modules
// that import this one wait for it). Fetched, so connect-src 'self' covers it.
const TEXTS = await (await fetch(new URL(`./texts/${LANG}.json`, import.meta.url), { credentials: "same-origin" })).json();

export function t(key, vars) {
  const text = TEXTS[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars?.[name] ?? ""));
}

// Whether the page has words for `key` (for the values of the hub's vocabularies).
function has(key) {
  return Object.hasOwn(TEXTS, key);
}

// A value of a closed vocabulary in words, or as it came when the page does not know it.
export function term(prefix, value) {
  return has(`${prefix}_${value}`) ? t(`${prefix}_${value}`) : String(value ?? "");
}

export const clock = new Intl.DateTimeFormat(LANG, { hour: "2-digit", minute: "2-digit" });
const dateTime = new Intl.DateTimeFormat(LANG, { dateStyle: "medium", timeStyle: "short" });
export const day = new Intl.DateTimeFormat(LANG, { dateStyle: "medium" });

export function when(iso, format = dateTime) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : format.format(date);
}

export function elapsed(iso) {
  const minutes = Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 60000));
  if (minutes < 1) return t("ago_now");
  if (minutes < 60) return t("ago_min", { n: minutes });
  if (minutes < 60 * 24) return t("ago_hour", { h: Math.floor(minutes / 60), m: minutes % 60 });
  return t("ago_day", { n: Math.floor(minutes / (60 * 24)) });
}

export function money(minor, currency) {
  if (minor === undefined || minor === null || !currency) return "";
  try {
    return new Intl.NumberFormat(LANG, { style: "currency", currency }).format(minor / 100);
  } catch {
    return `${minor / 100} ${currency}`;
  }
}

// The words of the page's own markup: elements marked data-t, data-t-placeholder,
// data-t-aria-label with a key.
export function translateStatic() {
  document.documentElement.lang = LANG;
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  for (const node of document.querySelectorAll("[data-t-placeholder]")) node.placeholder = t(node.dataset.tPlaceholder);
  for (const node of document.querySelectorAll("[data-t-aria-label]")) node.setAttribute("aria-label", t(node.dataset.tAriaLabel));
  document.title = `${t("inbox")} · omnihub`;
}
