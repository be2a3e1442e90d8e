// @ts-check
/**
 * The data key: what makes the phone's records unreadable to whoever finds the phone.
 *
 * Threat (docs/threat-model.md, "Phone"): a lost or stolen phone, or a copy of its browser profile.
 * Design, Web Crypto only:
 *   - one random AES-GCM 256-bit data key per installation; every sealed value (records, queued
 *     mutations, drafts, the signed-in user) is encrypted with it under a fresh 96-bit IV;
 *   - the data key is stored only wrapped (AES-KW), twice: under a key derived from the worker's PIN
 *     (PBKDF2-SHA-256, 600,000 iterations, a random salt), and under a per-device key the server
 *     holds and hands only to a signed-in session of this device (`/api/device/key`);
 *   - unlocking *is* unwrapping: the key exists in memory only while the app is open, as a
 *     non-extractable CryptoKey. There is no "unlocked" flag anywhere: without the key in memory,
 *     `seal` and `open` fail, and the stored bytes mean nothing;
 *   - five wrong PINs in a row drop the PIN-wrapped copy (the counter is counted *before* each try,
 *     so closing the app mid-try does not reset it). The server-wrapped copy stays: an online
 *     sign-in unwraps it again, so a forgotten PIN never loses an unsent visit;
 *   - an extractable copy of the data key exists only between an online unlock and the new PIN
 *     being set (it must be wrapped again), never longer.
 * What this does not do: stop someone who copies the profile off the phone from trying every PIN
 * offline (a 6-digit PIN falls within minutes on one GPU). The real defences are the phone's own
 * lock, the small dataset, the offline limit and the remote wipe — see the threat model.
 */

import * as store from "./store.js";

export const PBKDF2_ITERATIONS = 600_000;
export const MAX_PIN_FAILURES = 5;
const SALT_BYTES = 16;
const IV_BYTES = 12;
const KEYRING = "keyring";

/**
 * @typedef {{salt: Uint8Array, iterations: number, wrapped: ArrayBuffer}} PinWrap
 * @typedef {{v: 1, created_at: number, server: ArrayBuffer, pin: PinWrap | null, failures: number}} Keyring
 */

export class LockedError extends Error {
  constructor() {
    super("locked");
  }
}

/** @type {CryptoKey | null} the data key, non-extractable: only while the app is unlocked */
let dataKey = null;
/** @type {CryptoKey | null} an extractable copy, only until the new PIN wraps it */
let rewrap = null;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Route every sealed value of js/store.js through AES-GCM under the data key. */
export function install() {
  store.setCodec({
    async seal(value) {
      const key = dataKey;
      if (!key) throw new LockedError();
      const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
      const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, encoder.encode(JSON.stringify(value)));
      return { iv, ct };
    },
    async open(stored) {
      const key = dataKey;
      if (!key) throw new LockedError();
      const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: stored.iv }, key, stored.ct);
      return JSON.parse(decoder.decode(plain));
    },
  });
}

/** Whether the data key is in memory (the app is open). */
export function held() {
  return dataKey !== null;
}

/** Whether a new PIN must be set before the app opens (after an online unlock without one). */
export function pinPending() {
  return rewrap !== null;
}

/** @returns {Promise<Keyring | undefined>} */
export async function keyring() {
  return store.getPlain(KEYRING);
}

/** @param {Keyring} ring */
async function save(ring) {
  await store.setPlain({ [KEYRING]: ring });
}

/** @param {string} b64 base64url without padding */
function fromBase64Url(b64) {
  const text = atob(b64.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** @param {string} serverKey the device's wrapping key as the server sent it */
async function serverKek(serverKey) {
  const raw = fromBase64Url(serverKey);
  const kek = await crypto.subtle.importKey("raw", raw, "AES-KW", false, ["wrapKey", "unwrapKey"]);
  raw.fill(0);
  return kek;
}

/** @param {string} pin @param {Uint8Array} salt @param {number} iterations */
async function pinKek(pin, salt, iterations) {
  const base = await crypto.subtle.importKey("raw", encoder.encode(pin), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    base,
    { name: "AES-KW", length: 256 },
    false,
    ["wrapKey", "unwrapKey"],
  );
}

/** @param {CryptoKey} kek @param {ArrayBuffer} wrapped @param {boolean} extractable */
function unwrap(kek, wrapped, extractable) {
  return crypto.subtle.unwrapKey("raw", wrapped, kek, "AES-KW", { name: "AES-GCM", length: 256 }, extractable, ["encrypt", "decrypt"]);
}

/** A non-extractable copy of an extractable key (what the app works with). @param {CryptoKey} key */
async function usable(key) {
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", key));
  const copy = await crypto.subtle.importKey("raw", raw, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  raw.fill(0);
  return copy;
}

/**
 * First sign-in on this installation: a new data key, wrapped under the server's device key. The
 * app is open, and a PIN must be set next.
 * @param {string} serverKey
 */
export async function create(serverKey) {
  const key = /** @type {CryptoKey} */ (await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt", "decrypt"]));
  const server = await crypto.subtle.wrapKey("raw", key, await serverKek(serverKey), "AES-KW");
  await save({ v: 1, created_at: Date.now(), server, pin: null, failures: 0 });
  dataKey = await usable(key);
  rewrap = key;
}

/**
 * An online sign-in: the server's device key opens the data key (a forgotten PIN, the offline
 * limit). Resolves false when that key does not open it.
 * @param {string} serverKey
 * @param {{newPin: boolean}} opts  ask for a new PIN even when one is set (the worker forgot it)
 */
export async function openWithServer(serverKey, opts) {
  const ring = await keyring();
  if (!ring) return false;
  let key;
  try {
    key = await unwrap(await serverKek(serverKey), ring.server, true);
  } catch {
    return false;
  }
  dataKey = await usable(key);
  rewrap = ring.pin && !opts.newPin ? null : key;
  if (ring.failures) await save({ ...ring, failures: 0 });
  return true;
}

/** Wrap the data key under a new PIN (after `create` or `openWithServer`). @param {string} pin */
export async function setPin(pin) {
  const ring = await keyring();
  if (!rewrap || !ring) throw new LockedError();
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const wrapped = await crypto.subtle.wrapKey("raw", rewrap, await pinKek(pin, salt, PBKDF2_ITERATIONS), "AES-KW");
  await save({ ...ring, pin: { salt, iterations: PBKDF2_ITERATIONS, wrapped }, failures: 0 });
  rewrap = null;
}

/**
 * Try a PIN. A wrong one counts (before the attempt), and the fifth drops the PIN-wrapped copy.
 * @param {string} pin
 * @returns {Promise<{ok: true} | {ok: false, left: number} | {ok: false, dropped: true}>}
 */
export async function unlockWithPin(pin) {
  const ring = await keyring();
  if (!ring || !ring.pin) return { ok: false, dropped: true };
  const counted = { ...ring, failures: ring.failures + 1 };
  await save(counted);
  try {
    dataKey = await unwrap(await pinKek(pin, ring.pin.salt, ring.pin.iterations), ring.pin.wrapped, false);
  } catch {
    if (counted.failures >= MAX_PIN_FAILURES) {
      await save({ ...counted, pin: null });
      return { ok: false, dropped: true };
    }
    return { ok: false, left: MAX_PIN_FAILURES - counted.failures };
  }
  await save({ ...counted, failures: 0 });
  return { ok: true };
}

/** Forget the PIN-wrapped copy (signing out with unsent records: only an online sign-in opens them). */
export async function dropPin() {
  const ring = await keyring();
  if (ring) await save({ ...ring, pin: null });
}

/** Drop the key from memory: the app is locked. */
export function lock() {
  dataKey = null;
  rewrap = null;
}

/** PIN rules: 6–12 digits, not one digit repeated, not a run like 123456 or 987654. @param {string} pin */
export function pinProblem(pin) {
  if (!/^\d{6,12}$/.test(pin)) return "pwa.pin_format";
  const digits = [...pin].map(Number);
  const steps = new Set(digits.slice(1).map((d, i) => (d - digits[i] + 10) % 10));
  if (steps.size === 1 && (steps.has(0) || steps.has(1) || steps.has(9))) return "pwa.pin_too_weak";
  return null;
}
