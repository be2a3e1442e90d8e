// @ts-check
/**
 * The field app: the frame (status bar, menu, update banner), the router, and the screens of a
 * closed app (sign-in, PIN, lock: js/access.js decides which). Nothing personal is drawn unless the
 * data key is in memory (js/keys.js); locking redraws everything without it.
 *
 * A reopened app shows the lock screen first, and that needs only the modules imported here. The
 * open app's records and sync (js/records.js, js/sync.js and their imports), its screens, forms,
 * alerts and notifications (and their vocabulary) are loaded by `views()`: started when the page
 * is idle after the first screen is painted, so they arrive while the worker types the PIN, and
 * awaited by whatever needs them first. Each module the lock screen waited for cost a round trip
 * to the service worker and its evaluation on a slow phone's main thread. What the lock screen
 * shows of them — the sync's status line, who is signed in — is kept in js/state.js.
 */

import { h, add, replace, afterPaint, whenIdle } from "./dom.js";
import * as i18n from "./i18n.js";
import { t } from "./i18n.js";
import * as store from "./store.js";
import * as keys from "./keys.js";
import * as access from "./access.js";
import * as lockscreens from "./lockscreens.js";
import * as worker from "./worker.js";
import { state, onChange, syncStatus, onStatus, syncHooks, loadStatus } from "./state.js";

/**
 * @typedef {{screens: typeof import("./screens.js"), forms: typeof import("./forms.js"),
 *   alertsview: typeof import("./alerts.js"), notify: typeof import("./notify.js"),
 *   records: typeof import("./records.js"), sync: typeof import("./sync.js")}} Views
 */
/** The open app's modules once loaded (null before: then no form is being filled either). @type {Views | null} */
let loaded = null;
/** @type {Promise<Views> | null} */
let loading = null;

/** Load the open app's records, sync, screens, forms, alerts, notifications and the vocabulary (once). @returns {Promise<Views>} */
function views() {
  if (!loading) {
    const data = import("./records.js").then(async (records) => {
      await records.loadVocab();
      return records;
    });
    loading = Promise.all([import("./screens.js"), import("./forms.js"), import("./alerts.js"), import("./notify.js"), data, import("./sync.js")])
      .then(([screens, forms, alertsview, notify, records, sync]) => {
        loaded = { screens, forms, alertsview, notify, records, sync };
        sync.startAutoSync();
        // A tapped notification in an open window: go to the alert (saving the open form's draft first).
        notify.listen(async (hash) => {
          await editingNow()?.flush();
          navigate(hash);
        });
        return loaded;
      });
    loading.catch(() => {
      loading = null; // tried again by the next screen that needs them
    });
  }
  return loading;
}

/** The form being filled, if any. */
function editingNow() {
  return loaded ? loaded.forms.editing.current : null;
}

/** No form is being filled any more (a new screen, a lock). */
function stopEditing() {
  if (loaded) loaded.forms.editing.current = null;
}

const root = /** @type {HTMLElement} */ (document.getElementById("root"));
/** @type {Record<string, HTMLElement>} */
const ui = {};
/** Why the sign-in screen is shown while the app is open (the session ended). */
let signInReason = /** @type {string | null} */ (null);
let needsSignIn = false;
/** @type {boolean | null} */
let persisted = null;
let updateWaiting = false;

function frame() {
  ui.unsent = h("span", { class: "unsent", id: "unsent" });
  ui.syncLine = h("span", { class: "sync-line", id: "sync-line" });
  ui.progress = h("progress", { class: "sync-progress", "aria-label": t("ui.syncing"), hidden: true });
  ui.syncButton = h("button", { type: "button", class: "sync-now", onclick: () => void runSync() }, t("ui.sync_now"));
  ui.banner = h("div", { class: "banner-slot" });
  ui.toast = h("p", { class: "toast", role: "status", "aria-live": "polite" });
  ui.main = h("main", { id: "main", tabindex: -1 });
  ui.nav = h("nav", { class: "bottom", "aria-label": t("nav.main") },
    h("a", { href: "#/" }, t("ui.my_cases")),
    h("a", { href: "#/new" }, t("pwa.new_case")),
    h("a", { href: "#/settings" }, t("ui.settings")));
  replace(root,
    h("header", { class: "top" },
      h("div", { class: "sync", role: "status", "aria-live": "polite" },
        h("span", { class: "brand" }, t("app.name")), ui.unsent, " ", ui.syncLine),
      ui.progress,
      ui.syncButton),
    ui.banner,
    ui.toast,
    ui.main,
    ui.nav);
  root.classList.remove("boot");
  root.removeAttribute("aria-busy");
  showStatus();
  if (updateWaiting) showUpdateBanner();
}

/** The sync line waits for a frame to be painted before it formats its first time (see showStatus). */
let timeDeferred = false;

function showStatus() {
  if (!ui.unsent) return;
  const s = syncStatus;
  ui.unsent.textContent = t("ui.unsent", { count: s.pendingCount });
  ui.unsent.classList.toggle("has-pending", s.pendingCount > 0);
  ui.progress.hidden = !s.running;
  ui.syncButton.toggleAttribute("disabled", s.running || !state.user);
  // The first time formatted builds Intl formatters (ICU data), 0.1–0.2 s of a slow phone: a
  // reopened app paints its first screen (the lock) with the line empty and fills it in once idle.
  if (s.lastOk && !i18n.dateTimeReady()) {
    if (!timeDeferred) {
      timeDeferred = true;
      whenIdle(() => {
        timeDeferred = false;
        if (syncStatus.lastOk) i18n.formatDateTime(syncStatus.lastOk);
        showStatus();
      });
    }
    ui.syncLine.textContent = "";
    return;
  }
  let line;
  if (s.running) line = t("ui.syncing");
  else if (needsSignIn) line = t("pwa.sync_needs_sign_in");
  else if (s.error?.code === "server_busy") line = t("pwa.sync_busy");
  else if (s.error) line = t(s.error.kind === "http" ? "pwa.sync_failed_server" : "pwa.sync_failed_network");
  else if (s.lastOk) line = t("ui.last_synced", { time: i18n.formatDateTime(s.lastOk) });
  else line = t("ui.never_synced");
  if (s.error && s.lastOk && !s.running) line += ` ${t("ui.last_synced", { time: i18n.formatDateTime(s.lastOk) })}`;
  if (!navigator.onLine) line = `${t("ui.offline")}・${line}`;
  ui.syncLine.textContent = line;
  ui.syncLine.classList.toggle("error", Boolean(s.error || needsSignIn) && !s.running);
}

async function runSync() {
  if (!state.user || needsSignIn) {
    if (needsSignIn) location.hash = "#/signin";
    return;
  }
  const { sync } = await views();
  await sync.syncNow();
  // Not after a wipe or a sign-out during the sync: the worker stays unregistered until a sign-in.
  if (state.user) void worker.checkForUpdate();
}

function showUpdateBanner() {
  updateWaiting = true;
  if (!ui.banner) return;
  const editing = editingNow();
  replace(ui.banner, h("div", { class: "banner", role: "region", "aria-label": t("ui.update_available") },
    h("p", null, t("ui.update_available"), " ", editing ? t("pwa.update_keeps_draft") : ""),
    h("button", {
      type: "button",
      onclick: async () => {
        await editingNow()?.flush();
        worker.activateUpdate();
      },
    }, t("ui.update_now"))));
}

// ---- routing ----

const CASE_ROUTE = /^\/case\/([0-9a-fA-F-]{36})(\/contact|\/next)?$/;
const ALERT_ROUTE = /^\/alerts\/([0-9a-fA-F-]{36})$/;
let currentScreen = "";

/** The drawing in progress (or the last one): screens are drawn one at a time, in order. */
let drawing = Promise.resolve();

/**
 * Draw the screen for the address. A screen is drawn across awaits (a module, a storage read), so
 * two drawings at once would interleave into one page (two forms); each waits for the one before.
 * @param {() => boolean} [still]  asked when its turn comes: false skips this drawing
 */
function route(still) {
  const turn = drawing.then(() => (!still || still() ? draw() : undefined));
  drawing = turn.catch(() => undefined);
  return turn;
}

/** The address of the screen drawn last. */
let drawnPath = "";

async function draw() {
  if (!ui.main) frame();
  const path = location.hash.replace(/^#/, "") || "/";
  drawnPath = path;
  stopEditing();
  // The lock screen is drawn without the open app's modules; every other screen waits for them.
  const locked = !keys.held() && access.gate.screen === "lock";
  const { screens, forms, alertsview, records } = locked ? /** @type {Views} */ ({}) : await views();
  // A case page shows the case's history: open it (one read) before the screen is cleared.
  const caseMatch = keys.held() ? CASE_ROUTE.exec(path) : null;
  if (caseMatch && !caseMatch[2]) await records.openHistory(caseMatch[1]).catch(() => undefined);
  const main = ui.main;
  main.replaceChildren();
  const whole = keepScroll;
  keepScroll = false;
  const user = state.user;
  ui.nav.hidden = !user || !keys.held() || keys.pinPending();
  if (!keys.held()) {
    // Closed: the key is not in memory, so there is nothing to show but the way in.
    currentScreen = "closed";
    if (access.gate.screen === "lock") {
      lockscreens.lockScreen(main, { reason: access.gate.reason, unlock: access.unlock, forgot: access.forgot });
    } else {
      screens.signIn(main, { signedIn: access.signedIn, before: access.beforeSignIn }, access.gate.reason);
    }
  } else if (keys.pinPending()) {
    currentScreen = "pin";
    lockscreens.pinSetup(main, { recovered: access.gate.recovering, done: access.pinSet });
  } else if (!user || path === "/signin") {
    currentScreen = "signin";
    screens.signIn(main, { signedIn: access.signedIn, before: access.beforeSignIn }, signInReason);
  } else if (path === "/") {
    currentScreen = "caseload";
    screens.caseload(main, whole);
  } else if (path === "/new") {
    currentScreen = "form";
    add(main, h("p", null, h("a", { href: "#/" }, t("ui.back"))), h("h1", null, t("pwa.new_case")));
    await forms.intakeForm(main, (message, id) => {
      navigate(`#/case/${id}`, message);
      afterSave();
    });
  } else if (path === "/alerts") {
    currentScreen = "alerts";
    alertsview.list(main);
  } else if (ALERT_ROUTE.test(path)) {
    currentScreen = "form";
    await alertsview.detail(main, ALERT_ROUTE.exec(path)?.[1] || "", (message) => {
      navigate("#/alerts", message);
      afterSave();
    });
  } else if (path === "/settings") {
    currentScreen = "settings";
    screens.settings(main, { persisted, signOut, lock: () => access.lockNow("manual") });
  } else {
    const m = CASE_ROUTE.exec(path);
    const kase = m ? records.caseById(m[1]) : null;
    if (m && kase && m[2] === "/contact") {
      currentScreen = "form";
      add(main, h("p", null, h("a", { href: `#/case/${kase.id}` }, kase.name)), h("h1", null, t("ui.record_contact")));
      await forms.contactForm(main, kase, (message) => {
        navigate(`#/case/${kase.id}`, message);
        afterSave();
      });
    } else if (m && kase && m[2] === "/next") {
      currentScreen = "form";
      add(main, h("p", null, h("a", { href: `#/case/${kase.id}` }, kase.name)), h("h1", null, t("pwa.change_next_action")));
      await forms.nextActionForm(main, kase, (message) => {
        navigate(`#/case/${kase.id}`, message);
        afterSave();
      });
    } else {
      currentScreen = "case";
      screens.casePage(main, kase);
    }
  }
  document.title = `${main.querySelector("h1")?.textContent || ""} – ${t("app.name")}`;
  if (updateWaiting) showUpdateBanner();
}

/** Data changed (a sync, another tab): redraw screens that only show things, never a form. */
function refresh() {
  /** @type {number | null} */
  let y = null;
  // Asked when its turn comes: a navigation drawn before it may have opened a form since.
  const display = () => {
    if (currentScreen !== "caseload" && currentScreen !== "case" && currentScreen !== "alerts") return false;
    // The address moved on (its hashchange draws the new screen): nothing to redraw here.
    if ((location.hash.replace(/^#/, "") || "/") !== drawnPath) return false;
    y = window.scrollY;
    // Scrolled down the caseload: every card is drawn at once, so the position is there to return to.
    keepScroll = y > 0;
    return true;
  };
  void route(display).then(() => {
    if (y !== null) window.scrollTo(0, y);
  });
}

/** The next caseload drawn keeps a scroll position (see refresh): all its cards at once. */
let keepScroll = false;

/** A message for the screen the next navigation leads to (「保存しました」 after a save). */
let pendingToast = /** @type {string | null} */ (null);

/** @type {ReturnType<typeof setTimeout> | undefined} */
let soon;

/** A record was saved: send it soon if there is signal (or when the browser next can). */
function afterSave() {
  if (!loaded) return; // never: a record is saved from a form, and the forms came with the sync
  const { sync } = loaded;
  void sync.requestBackgroundSync();
  clearTimeout(soon);
  soon = setTimeout(() => {
    if (navigator.onLine && state.user && !needsSignIn) void sync.autoSync();
  }, 1000);
}

/** @param {string} hash @param {string} [message] */
function navigate(hash, message) {
  pendingToast = message || null;
  const go = () => {
    if (location.hash === hash) window.dispatchEvent(new Event("hashchange"));
    else location.hash = hash;
  };
  if (!message || !ui.toast) {
    go();
    return;
  }
  // 「保存しました」 is said as soon as the record is on disk, and the next screen is drawn only
  // after that frame is painted: drawing it (a long timeline) never delays the confirmation.
  ui.toast.textContent = message;
  afterPaint(go);
}

window.addEventListener("hashchange", async () => {
  // Set only when it changes: a live region announces every change, and the message may be shown already.
  if (ui.toast && ui.toast.textContent !== (pendingToast || "")) ui.toast.textContent = pendingToast || "";
  pendingToast = null;
  await route();
  // Move focus to the new screen's heading, for screen readers.
  const heading = /** @type {HTMLElement | null} */ (ui.main.querySelector("h1"));
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
});

// The language changed (settings or the sign-in screen): redraw everything in it.
window.addEventListener("yorisoi:language", async () => {
  frame();
  await route();
});

// ---- the app opens, signing out ----

/**
 * The key is in memory (a PIN, an online sign-in, a new PIN): read the records and show them.
 * @param {boolean} fresh  after a sign-in: start at the caseload (an unlock returns where it was)
 */
async function opened(fresh) {
  needsSignIn = false;
  signInReason = null;
  // Side by side: the screens' modules (loaded while the PIN was typed, normally), the records, and
  // whether storage is persistent (shown in the settings).
  await Promise.all([views(), import("./records.js").then((records) => records.reload()), requestPersistence()]);
  // Just signed in or the PIN just set (online): the sync starts first, so that its reads and its
  // first request are under way while the caseload is drawn (a first sync's caseload is empty
  // until it ends). An unlock draws first: it may be offline, and its caseload is what it waits for.
  const syncing = fresh ? runSync() : null;
  frame();
  if (fresh || location.hash === "#/signin") navigate("#/");
  else await route();
  await (syncing ?? runSync());
  if (!needsSignIn) void (await views()).notify.renew();
}

/** Redraw from scratch (locked, wiped, signed out): the frame too, so nothing shown survives. */
async function show() {
  stopEditing();
  document.querySelectorAll("dialog").forEach((d) => d.remove());
  frame();
  await route();
}

async function signOut() {
  const { screens, notify, sync } = await views();
  if (navigator.onLine && (await store.outboxCount()) > 0 && !needsSignIn) await sync.syncNow();
  const count = await store.outboxCount();
  if (count > 0 && !(await screens.confirmSignOut(count))) return;
  await notify.forget(); // while still signed in: the server stops pushing to this phone
  await access.signOut(count);
  if (location.hash !== "#/signin") location.hash = "#/signin";
}

async function requestPersistence() {
  const storage = navigator.storage;
  if (!storage || typeof storage.persisted !== "function") return;
  try {
    persisted = await storage.persisted();
    if (!persisted && typeof storage.persist === "function") persisted = await storage.persist();
  } catch {
    persisted = null;
  }
}

// ---- start ----

async function boot() {
  // The database opens while the catalogue is fetched (each a round trip the lock screen waits for).
  store.openDb().catch(() => undefined);
  await i18n.load();
  await Promise.all([access.start({ show, opened, beforeLock: async () => editingNow()?.flush() }), loadStatus()]);
  syncHooks.signedOut = () => {
    needsSignIn = true;
    signInReason = t("pwa.session_expired");
    showStatus();
  };
  onStatus(showStatus);
  onChange(() => {
    // While closed the outbox is not read (it is sealed); its count is kept as it was.
    if (keys.held()) syncStatus.pendingCount = state.outbox.length;
    showStatus();
    refresh();
  });
  window.addEventListener("online", showStatus);
  window.addEventListener("offline", showStatus);
  frame();
  await route();
  whenIdle(() => void views().catch(() => undefined));
  // A signed-in installation first asks whether it was revoked: a wipe must not race a service
  // worker installing (and caching) again. A fresh one has nothing to wipe.
  const onWaiting = () => showUpdateBanner();
  worker.onWaiting(onWaiting);
  if (!(await keys.keyring())) void worker.register(onWaiting);
  else void access.ready.then(async () => {
    if (await keys.keyring()) await worker.register(onWaiting);
  });
  // The sync's automatic triggers start with js/sync.js (`views`): each needs a signed-in, open app.
}

boot().catch((err) => {
  // Nothing personal in an error here: show that the app failed to start, not why.
  replace(root, h("p", { class: "error", role: "alert" }, "寄り添い: 起動できませんでした / failed to start"));
  throw err;
});
