// @ts-check
// The console's one way to make DOM: `h("button", { onclick, class: "danger" }, "Approve")`.
// Elements are built with createElement and text nodes, never from HTML strings, so nothing
// a server or a user sent can become markup (and the Content-Security-Policy can forbid
// inline scripts and styles).

/**
 * @typedef {Node | string | number | null | undefined | false | Child[]} Child
 */

/**
 * An element: `props` keys starting with `on` are event listeners (`onclick`), `true`/`false`
 * set or omit a boolean attribute, `null`/`undefined` are skipped, anything else is an
 * attribute (`for`, `aria-live`, `data-status`). Children may be nested arrays; `null`,
 * `undefined` and `false` are skipped, so `cond && h(...)` works.
 * @param {string} tag
 * @param {Record<string, any> | null} [props]
 * @param {...Child} children
 * @returns {HTMLElement}
 */
export function h(tag, props, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2), value);
    else if (key === "value" && "value" in element) /** @type {any} */ (element).value = value;
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

/**
 * @param {Node} parent
 * @param {Child[]} children
 */
function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/**
 * Replaces everything in `parent` with `children`.
 * @param {Element} parent
 * @param {...Child} children
 */
export function mount(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
}
