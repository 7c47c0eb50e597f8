// @ts-check
// The create-a-request form (`#/requests/new`, docs/protocol.md §7.4–7.6): kind, scope,
// title, amount and currency, percentage, a JSON payload, and the choice "Send for approval" /
// "Execute now" — the latter offered only with execute-own/execute-any on the kind at the
// scope, and always behind the server's typed confirmation. One idempotency key per
// submission, so a retried submit cannot create twice.

import { h, mount } from "../dom.js";
import { executeWithConfirmation, kindsAt, kindsFromMap } from "./request_common.js";

/**
 * @param {string} id
 * @param {string} label
 * @param {Record<string, any>} [props]
 * @param {string} [hint]
 */
function field(id, label, props = {}, hint) {
  const input = h(props.tag ?? "input", { id, name: id, ...props, tag: null, "aria-describedby": hint ? `${id}-hint` : null });
  return {
    input: /** @type {HTMLInputElement} */ (input),
    row: h("div", { class: "form-row" }, h("label", { for: id }, label), input, hint && h("p", { id: `${id}-hint`, class: "hint" }, hint)),
  };
}

/**
 * The form's controls, unwired.
 * @param {string[]} scopes
 */
function controls(scopes) {
  const executeRadio = /** @type {HTMLInputElement} */ (h("input", { type: "radio", id: "proceed-execute", name: "proceed", value: "execute" }));
  return {
    kind: /** @type {HTMLSelectElement} */ (h("select", { id: "request-kind", name: "kind", required: true })),
    scope: field("request-scope", "Scope", { type: "text", list: "request-scope-list", required: true, value: scopes[0] ?? "", autocomplete: "off" }, "Where the request applies, e.g. org:acme."),
    title: field("request-title", "Title", { type: "text", required: true, maxlength: "200" }),
    amount: field("request-amount", "Amount", { type: "text", inputmode: "decimal", autocomplete: "off" }, "Optional. A decimal number such as 1999.99."),
    currency: field("request-currency", "Currency", { type: "text", maxlength: "3", autocomplete: "off" }, "A three-letter code such as USD, needed with an amount."),
    percentage: field("request-percentage", "Percentage", { type: "text", inputmode: "decimal", autocomplete: "off" }, "Optional, 0 to 100."),
    payload: field("request-payload", "Payload (JSON, optional)", { tag: "textarea", rows: "4", spellcheck: "false" }, "A JSON object for the executor and the approvers."),
    sendRadio: /** @type {HTMLInputElement} */ (h("input", { type: "radio", id: "proceed-approval", name: "proceed", value: "approval", checked: true })),
    executeRadio,
    executeOption: h(
      "div",
      null,
      h("div", { class: "radio-row" }, executeRadio, h("label", { for: "proceed-execute" }, "Execute now")),
      h("p", { class: "hint" }, "Runs it at once, skipping the approval step; you will be asked to type a confirmation."),
    ),
    message: h("div", { class: "form-message" }),
    submit: h("button", { type: "submit", class: "btn btn-primary" }, "Create request"),
  };
}

/** @typedef {ReturnType<typeof controls>} Controls */

/** @param {any} app */
export async function renderRequestForm(app) {
  const scopes = /** @type {string[]} */ (app.scopes());
  const c = controls(scopes);
  const choice = h(
    "fieldset",
    { class: "proceed" },
    h("legend", null, "How to proceed"),
    h("div", { class: "radio-row" }, c.sendRadio, h("label", { for: "proceed-approval" }, "Send for approval")),
    c.executeOption,
  );
  /** "Execute now" exists only with execute-any, or execute-own, on the kind at the scope. */
  const updateExecute = () => {
    const k = c.kind.value;
    const s = c.scope.input.value.trim();
    const allowed = Boolean(k && s) && (app.can(k, "execute-any", s) || app.can(k, "execute-own", s));
    if (!allowed) {
      c.executeOption.remove();
      c.sendRadio.checked = true;
    } else if (c.executeOption.parentNode !== choice) {
      choice.appendChild(c.executeOption);
    }
  };
  /** Options: the kinds the map names with `create`, and every kind policy_list names at the scope. */
  const updateKinds = async () => {
    const s = c.scope.input.value.trim();
    const fromMap = kindsFromMap(app.me?.permissions ?? {}, "create");
    const listed = s ? await kindsAt(app, s) : null;
    const kinds = [...new Set([...fromMap, ...(listed ?? []).filter((k) => app.can(k, "create", s))])].sort();
    const current = c.kind.value;
    mount(c.kind, kinds.map((k) => h("option", { value: k }, k)));
    if (kinds.includes(current)) c.kind.value = current;
    updateExecute();
  };
  c.kind.addEventListener("change", updateExecute);
  c.scope.input.addEventListener("input", updateExecute);
  c.scope.input.addEventListener("change", () => void updateKinds());

  let busy = false;
  const form = h(
    "form",
    {
      class: "request-form",
      novalidate: true,
      onsubmit: async (/** @type {Event} */ event) => {
        event.preventDefault();
        if (busy) return;
        busy = true;
        try {
          await submitRequest(app, c, c.executeRadio.checked && c.executeOption.parentNode === choice);
        } finally {
          busy = false;
        }
      },
    },
    h("div", { class: "form-row" }, h("label", { for: "request-kind" }, "Kind"), c.kind),
    c.scope.row,
    h("datalist", { id: "request-scope-list" }, scopes.map((s) => h("option", { value: s }))),
    c.title.row,
    h("div", { class: "form-pair" }, c.amount.row, c.currency.row),
    c.percentage.row,
    c.payload.row,
    choice,
    c.message,
    h("div", { class: "form-actions" }, c.submit, h("a", { href: "#/requests" }, "Back to requests")),
  );
  await updateKinds();
  return h("section", { class: "requests-page", "aria-labelledby": "request-form-heading" }, h("h1", { id: "request-form-heading" }, "New request"), form);
}

/**
 * The params the form asks for, or null after showing what is wrong (no call is made then).
 * @param {Controls} c
 * @returns {Record<string, unknown> | null}
 */
function readParams(c) {
  const fail = (/** @type {string} */ text, /** @type {HTMLElement} */ focus) => {
    mount(c.message, h("p", { role: "alert", class: "error" }, text));
    focus.focus();
    return null;
  };
  /** @type {Record<string, unknown>} */
  const p = { kind: c.kind.value, scope_id: c.scope.input.value.trim(), title: c.title.input.value.trim() };
  if (!p.kind) return fail("Choose a kind.", c.kind);
  if (!p.scope_id) return fail("Enter a scope.", c.scope.input);
  if (!p.title) return fail("Enter a title.", c.title.input);
  if (c.amount.input.value.trim()) p.amount = c.amount.input.value.trim();
  if (c.currency.input.value.trim()) p.currency = c.currency.input.value.trim().toUpperCase();
  if (c.percentage.input.value.trim()) p.percentage = c.percentage.input.value.trim();
  const text = c.payload.input.value.trim();
  if (text) {
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      return fail(`The payload is not valid JSON: ${/** @type {Error} */ (error).message}`, c.payload.input);
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return fail("The payload must be a JSON object ({ … }).", c.payload.input);
    p.payload = parsed;
  }
  return p;
}

/**
 * Creates the request — directly behind the typed confirmation when `executeNow` — under one
 * idempotency key for this submission, then opens it; a refusal shows the server's message.
 * @param {any} app
 * @param {Controls} c
 * @param {boolean} executeNow
 */
async function submitRequest(app, c, executeNow) {
  const p = readParams(c);
  if (!p) return;
  mount(c.message);
  c.submit.setAttribute("disabled", "");
  const base = { ...p, idempotency_key: crypto.randomUUID() };
  try {
    /** @type {any} */
    let request;
    if (executeNow) {
      request = await executeWithConfirmation(app, (confirm) =>
        app.client.call("request_create", confirm ? { ...base, execute_now: true, confirm } : { ...base, execute_now: true }),
      );
      if (!request) return; // the confirmation was closed: nothing was created
    } else {
      request = (await app.client.call("request_create", base)).request;
    }
    app.announce?.(`Request “${request.title}” created.`);
    app.navigate(`#/requests/${request.id}`);
  } catch (error) {
    mount(c.message, app.errorBox(error));
  } finally {
    c.submit.removeAttribute("disabled");
  }
}
