// @ts-check
/**
 * The service worker from the page's side: registration, and app updates that wait for consent.
 *
 * A new version installs in the background and then waits. The page shows 「新しいバージョンがあります」;
 * only when the worker taps 「更新する」 does it save the open form's draft, tell the waiting worker to
 * take over, and reload — so an update never interrupts a form being filled, and if it is accepted
 * mid-form the draft comes back after the reload.
 */

/** @type {ServiceWorkerRegistration | null} */
let registration = null;
let agreed = false;
let listening = false;
/** @type {(waiting: ServiceWorker) => void} */
let notify = () => {};

/**
 * @param {(waiting: ServiceWorker) => void} onWaiting  a new version is ready and waiting
 */
export async function register(onWaiting) {
  if (!("serviceWorker" in navigator)) return null;
  notify = onWaiting;
  try {
    registration = await navigator.serviceWorker.register("/app/service-worker.js", { scope: "/app/", updateViaCache: "none" });
  } catch {
    return null; // e.g. not a secure context: the app still runs online, without offline support
  }
  const reg = registration;
  // The first worker claims the open pages when it activates, but clients.claim() passes over a
  // page still loading: one reloaded (or opened) while the worker installed stays uncontrolled,
  // and its later requests would miss the offline copy. Such a page asks the active worker.
  void navigator.serviceWorker.ready.then((ready) => {
    if (!navigator.serviceWorker.controller) ready.active?.postMessage({ type: "CLAIM" });
  });
  const check = () => {
    if (reg.waiting && navigator.serviceWorker.controller) notify(reg.waiting);
  };
  check();
  reg.addEventListener("updatefound", () => {
    const incoming = reg.installing;
    incoming?.addEventListener("statechange", () => {
      if (incoming.state === "installed") check();
    });
  });
  if (!listening) {
    listening = true;
    navigator.serviceWorker.addEventListener("controllerchange", () => {
      // Reload only when the worker agreed; a first install taking control needs no reload.
      if (agreed) {
        agreed = false;
        location.reload();
      }
    });
  }
  return reg;
}

/** Who hears of a waiting update when the worker is registered later (after a sign-in). @param {(waiting: ServiceWorker) => void} fn */
export function onWaiting(fn) {
  notify = fn;
}

/** After a sign-out or a wipe unregistered the worker and emptied its cache: install it again. */
export async function ensureRegistered() {
  if (!("serviceWorker" in navigator)) return;
  try {
    if (await navigator.serviceWorker.getRegistration("/app/")) return;
  } catch {
    return;
  }
  await register(notify);
}

/**
 * Look for a new version now (also done by the browser on navigation). Run after each sync while
 * signed in (js/main.js `runSync`; not after a wipe or a sign-out, which unregister the worker): a
 * first install that failed (a shell file refused while the server was busy, the signal lost)
 * leaves no registration, and the app would have no offline copy until it is opened again —
 * then it registers again here.
 */
export async function checkForUpdate() {
  try {
    if (!(await navigator.serviceWorker?.getRegistration("/app/"))) {
      await register(notify);
      return;
    }
    await registration?.update();
  } catch {
    // Offline: try again later.
  }
}

/** The worker agreed: let the waiting version take over (the page reloads when it has). */
export function activateUpdate() {
  const waiting = registration?.waiting;
  if (!waiting) return;
  agreed = true;
  waiting.postMessage({ type: "SKIP_WAITING" });
}
