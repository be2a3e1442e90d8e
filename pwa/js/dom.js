// @ts-check
/**
 * Building the screen. Text always goes in as text nodes (never innerHTML), so a name or a note can
 * never become markup: the strict CSP forbids inline script, and this keeps data out of the DOM's
 * parser altogether.
 */

/** @typedef {string | number | Node | null | undefined | false | Child[]} Child */

/**
 * @param {string} tag
 * @param {Record<string, any> | null} [attrs]
 * @param {...Child} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "value" && "value" in el) /** @type {any} */ (el).value = value;
    else if (name === "checked" || name === "selected") /** @type {any} */ (el)[name] = Boolean(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** @param {Node} el @param {Child[]} children */
function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/** Append children (skipping null, undefined and false). @param {Element} el @param {...Child} children */
export function add(el, ...children) {
  append(el, children);
}

/** Replace an element's content. @param {Element} el @param {...Child} children */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

let counter = 0;
/** A unique element id (labels need `for`). @param {string} prefix */
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

/**
 * A labelled field: <label for> + control. Returns [wrapper, control].
 * @param {string} label
 * @param {HTMLElement} control
 * @param {string | null} [hint]
 */
export function field(label, control, hint) {
  const id = control.id || uid("f");
  control.id = id;
  const hintEl = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), hintEl, control);
}

/**
 * A <select> with a blank first option when `placeholder` is given.
 * @param {string} name
 * @param {{value: string, label: string}[]} options
 * @param {{required?: boolean, placeholder?: string, value?: string}} [opts]
 */
export function select(name, options, opts = {}) {
  return h(
    "select",
    { name, required: opts.required || null },
    opts.placeholder !== undefined ? h("option", { value: "" }, opts.placeholder) : null,
    options.map((o) => h("option", { value: o.value, selected: o.value === opts.value }, o.label)),
  );
}

/** Serialize a form's named controls (checkbox groups become arrays). @param {HTMLFormElement} form */
export function formValues(form) {
  /** @type {Record<string, any>} */
  const out = {};
  for (const el of Array.from(form.elements)) {
    const c = /** @type {HTMLInputElement} */ (el);
    if (!c.name) continue;
    if (c.type === "checkbox") {
      if (!Array.isArray(out[c.name])) out[c.name] = [];
      if (c.checked) out[c.name].push(c.value);
    } else {
      out[c.name] = c.value;
    }
  }
  return out;
}

/** Put values back into a form (restoring a draft). @param {HTMLFormElement} form @param {Record<string, any>} values */
export function fillForm(form, values) {
  for (const el of Array.from(form.elements)) {
    const c = /** @type {HTMLInputElement} */ (el);
    if (!c.name || !(c.name in values)) continue;
    if (c.type === "checkbox") c.checked = Array.isArray(values[c.name]) && values[c.name].includes(c.value);
    else c.value = values[c.name];
  }
}

/**
 * Run `fn` once the page is idle after the next frame: work the screen just drawn does not need
 * (its paint, and the worker's first taps, go first). Where there is no requestIdleCallback
 * (Safari), after the next frame.
 * @param {() => void} fn
 */
export function whenIdle(fn) {
  afterPaint(() => {
    if (typeof window.requestIdleCallback === "function") window.requestIdleCallback(() => fn(), { timeout: 500 });
    else fn();
  });
}

/** Run `fn` once the next frame has been painted (or after 100 ms: a hidden page paints none). @param {() => void} fn */
export function afterPaint(fn) {
  let ran = false;
  const once = () => {
    if (ran) return;
    ran = true;
    fn();
  };
  requestAnimationFrame(() => setTimeout(once, 0));
  setTimeout(once, 100);
}
