// @ts-check
/**
 * Labels and dates. The catalogues are the server's own (server/i18n/{ja,en}.json), served at
 * /app/i18n/ and precached by the service worker, so a label changes in one place and works offline.
 *
 * The language and the 和暦 choice are UI preferences, not personal data, so they live in
 * localStorage: the sign-in and lock screens need them before any sealed storage is open.
 */

export const LANGUAGES = ["ja", "en"];
const LANG_KEY = "yorisoi.lang";
const ERA_KEY = "yorisoi.era";
export const TIME_ZONE = "Asia/Tokyo";

/** @type {Record<string, string>} */
let catalogue = {};
let lang = "ja";

export function language() {
  return lang;
}

/** @param {string} [wanted] */
export async function load(wanted) {
  const chosen = wanted || safeGet(LANG_KEY) || "ja";
  lang = LANGUAGES.includes(chosen) ? chosen : "ja";
  const res = await fetch(`/app/i18n/${lang}.json`);
  if (!res.ok) throw new Error(`catalogue ${res.status}`);
  catalogue = await res.json();
  document.documentElement.lang = lang;
}

/** At sign-in: the user's saved language and 和暦 choice, unless this phone already has its own. @param {any} user */
export function adoptUserPreferences(user) {
  if (!safeGet(LANG_KEY) && LANGUAGES.includes(user.language)) safeSet(LANG_KEY, user.language);
  if (safeGet(ERA_KEY) === null && typeof user.era_dates === "boolean") setEraDates(user.era_dates);
}

/** @param {string} value */
export async function setLanguage(value) {
  safeSet(LANG_KEY, value);
  await load(value);
}

/** The 和暦 choice, read from localStorage once (every date shown asks for it). @type {boolean | null} */
let era = null;

export function eraDates() {
  if (era === null) era = safeGet(ERA_KEY) !== "0";
  return era;
}

/** @param {boolean} on */
export function setEraDates(on) {
  era = on;
  safeSet(ERA_KEY, on ? "1" : "0");
}

/** @type {(key: string, lang: string) => string | undefined} */
let overlay = () => undefined;

/**
 * Labels that do not come from the catalogue: a city may relabel its milestone ladder, and the app
 * learns it from the sync reference data (records.js installs the lookup).
 * @param {(key: string, lang: string) => string | undefined} lookup
 */
export function setOverlay(lookup) {
  overlay = lookup;
}

/**
 * The label for `key` with `{name}` placeholders filled; a missing key shows itself.
 * @param {string} key
 * @param {Record<string, string | number>} [params]
 */
export function t(key, params) {
  const text = overlay(key, lang) ?? catalogue[key];
  if (text === undefined) return key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** @param {string} key */
export function has(key) {
  return key in catalogue;
}

/** Today's date in Japan, as YYYY-MM-DD. */
export function today() {
  return isoDate(new Date());
}

const JST_OFFSET_MS = 9 * 3600 * 1000;

/**
 * Japan has been UTC+9 all year since 1951 (no summer time), so its calendar date and clock are
 * UTC's shifted by nine hours: plain arithmetic, where an Intl.DateTimeFormat for the time zone
 * cost a slow phone 0.1–0.2 s to build (ICU data) and a `formatToParts` for every case card.
 * @param {Date} d
 */
function japanIso(d) {
  return new Date(d.getTime() + JST_OFFSET_MS).toISOString();
}

/** The date in Japan, as YYYY-MM-DD. @param {Date} d */
export function isoDate(d) {
  return japanIso(d).slice(0, 10);
}

/** The current time in Japan as a `datetime-local` value (YYYY-MM-DDTHH:MM). */
export function nowLocal() {
  return japanIso(new Date()).slice(0, 16);
}

/**
 * A `datetime-local` value read as Japan time, as ISO 8601 with its offset (Japan has no DST).
 * @param {string} local
 */
export function localToIso(local) {
  return `${local.length === 16 ? `${local}:00` : local}+09:00`;
}

/** @param {string} iso */
export function isoToLocal(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return japanIso(d).slice(0, 16);
}

/**
 * Formatters are made once per kind and language: building an Intl.DateTimeFormat costs far more
 * than formatting with one (a caseload shows hundreds of dates), and they never change.
 * @type {Map<string, Intl.DateTimeFormat>}
 */
const formatters = new Map();

/** @param {string} key @param {() => Intl.DateTimeFormat} make */
function formatter(key, make) {
  let f = formatters.get(key);
  if (!f) {
    f = make();
    formatters.set(key, f);
  }
  return f;
}

function dateKey() {
  return lang === "ja" && eraDates() ? "date:ja-era" : `date:${lang === "ja" ? "ja-JP" : "en-GB"}`;
}

function dateFormat() {
  if (lang === "ja" && eraDates()) {
    return formatter("date:ja-era", () => new Intl.DateTimeFormat("ja-JP-u-ca-japanese", {
      era: "long", year: "numeric", month: "long", day: "numeric", timeZone: TIME_ZONE,
    }));
  }
  const locale = lang === "ja" ? "ja-JP" : "en-GB";
  return formatter(`date:${locale}`, () => new Intl.DateTimeFormat(locale, {
    year: "numeric", month: "long", day: "numeric", timeZone: TIME_ZONE,
  }));
}

/**
 * Whether `formatDateTime` has its formatters already. The first ones cost 0.1–0.2 s of a slow
 * phone's main thread (ICU loads its calendar and locale data), so the first screen does not wait
 * for them (js/main.js `showStatus`).
 */
export function dateTimeReady() {
  return formatters.has(dateKey()) && formatters.has(`time:${lang === "ja" ? "ja-JP" : "en-GB"}`);
}

/**
 * A date (YYYY-MM-DD or a full ISO time) for people: 令和7年5月1日, 2025年5月1日 or 1 May 2025.
 * @param {string | null | undefined} value
 */
export function formatDate(value) {
  if (!value) return "";
  const d = new Date(value.length === 10 ? `${value}T12:00:00+09:00` : value);
  if (Number.isNaN(d.getTime())) return value;
  return dateFormat().format(d);
}

/** @param {string | null | undefined} value */
export function formatDateTime(value) {
  if (!value) return "";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return value;
  const locale = lang === "ja" ? "ja-JP" : "en-GB";
  const time = formatter(`time:${locale}`, () => new Intl.DateTimeFormat(locale, {
    timeZone: TIME_ZONE, hour: "2-digit", minute: "2-digit",
  })).format(d);
  return `${formatDate(value)} ${time}`;
}

/** Whole days from date `a` to date `b` (both YYYY-MM-DD). @param {string} a @param {string} b */
export function daysBetween(a, b) {
  return Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86400000);
}

/** @param {string} key */
function safeGet(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

/** @param {string} key @param {string} value */
function safeSet(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    // Private mode or storage disabled: the choice lasts for this session only.
  }
}
