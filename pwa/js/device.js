// @ts-check
/**
 * This installation: its id (the sync `client_id`, sent as `X-Yorisoi-Device` with every API
 * request so that a revoked phone is told to wipe itself even when its sessions are gone), whom it
 * belongs to, and the wipe.
 *
 * The owner is kept in plain bookkeeping as the server's user id and a hint — SHA-256 of this
 * installation's id and the user name — so the sign-in screen can tell "another user" before it
 * signs in (the other user needs a new installation) without storing anyone's name in the clear.
 */

import * as store from "./store.js";
import * as keys from "./keys.js";
import { setDeviceId } from "./api.js";

/** The installation's id, made when there is none (after a wipe), and named in every API request. */
export async function id() {
  const value = await store.deviceId();
  setDeviceId(value);
  return value;
}

/** @param {string} deviceId @param {string} username */
async function hint(deviceId, username) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${deviceId}\n${username}`));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether `username` is someone other than this installation's owner (false when it has none). @param {string} username */
export async function ownedByAnother(username) {
  const owner = await store.getPlain("owner");
  if (!owner) return false;
  return owner.hint !== (await hint(await id(), username));
}

/** @param {{id: string, username: string}} user */
export async function setOwner(user) {
  await store.setPlain({ owner: { id: user.id, hint: await hint(await id(), user.username) } });
}

/** @returns {Promise<string | null>} the owner's user id */
export async function ownerId() {
  const owner = await store.getPlain("owner");
  return owner ? owner.id : null;
}

/** Empty the shell caches and unregister the service worker (sign-in registers it again). */
export async function dropCaches() {
  try {
    if ("caches" in window) for (const key of await caches.keys()) await caches.delete(key);
  } catch {
    // Already gone (Clear-Site-Data got there first).
  }
  try {
    const regs = (await navigator.serviceWorker?.getRegistrations()) || [];
    for (const reg of regs) await reg.unregister();
  } catch {
    // No service worker here.
  }
}

/**
 * Destroy everything this installation keeps: the key in memory, the wrapped keys and every record
 * (the IndexedDB database), and the caches. The next sign-in is a new installation with a new id.
 */
export async function wipe() {
  keys.lock();
  setDeviceId(null);
  try {
    await store.destroy();
  } catch {
    // Clear-Site-Data may have deleted it under us; nothing left to delete.
  }
  await dropCaches();
}
