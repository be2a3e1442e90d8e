// @ts-check
/**
 * Talking to the server. Same origin only, JSON in and out, the session cookie rides along.
 * A failure always says what kind it was, so the screen can tell "no signal" from "the server said
 * no" — and never shows a failure as success.
 */

export class ApiFailure extends Error {
  /**
   * @param {"network" | "timeout" | "http"} kind
   * @param {number} status
   * @param {string} code
   * @param {any} [body]
   * @param {number | null} [retryAfter]  seconds the server asked to wait (`Retry-After`), if it said
   */
  constructor(kind, status, code, body, retryAfter = null) {
    super(code);
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

/**
 * `Retry-After` in seconds: a number of seconds or an HTTP date; null when absent or unreadable.
 * @param {string | null} value
 */
export function retryAfterSeconds(value) {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

const decoder = new TextDecoder();

/** This installation's id, named in every request (`X-Yorisoi-Device`): see js/device.js. */
let deviceId = /** @type {string | null} */ (null);

/** @param {string | null} id */
export function setDeviceId(id) {
  deviceId = id;
}

/** Called once per answer `device_revoked` (a revoked phone wipes itself, whatever it was doing). */
export const revoked = {
  /** @type {() => Promise<void>} */ handler: async () => {},
};

/**
 * @param {"GET" | "POST" | "DELETE"} method
 * @param {string} path
 * @param {unknown} [body]
 * @param {{timeoutMs?: number, onBytes?: (bytes: Uint8Array) => void}} [opts]
 *   `onBytes`: given a successful answer's body before it is parsed (js/sync.js reads the next
 *   page's cursor off its end and asks for that page while this one is parsed)
 */
export async function api(method, path, body, opts = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), opts.timeoutMs ?? 30000);
  /** @type {Response} */
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: {
        Accept: "application/json",
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        ...(deviceId ? { "X-Yorisoi-Device": deviceId } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      signal: controller.signal,
    });
  } catch (err) {
    throw new ApiFailure(controller.signal.aborted ? "timeout" : "network", 0, controller.signal.aborted ? "timeout" : "network");
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  if (res.status !== 204) {
    try {
      if (opts.onBytes && res.ok) {
        const bytes = new Uint8Array(await res.arrayBuffer());
        try {
          opts.onBytes(bytes);
        } catch {
          // only a head start: the answer is read as usual
        }
        data = JSON.parse(decoder.decode(bytes));
      } else {
        data = await res.json();
      }
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const code = data?.error?.code || `http_${res.status}`;
    if (res.status === 401 && code === "device_revoked") await revoked.handler();
    throw new ApiFailure("http", res.status, code, data, retryAfterSeconds(res.headers.get("Retry-After")));
  }
  return data;
}
