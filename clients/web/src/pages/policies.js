// @ts-check
// The Policies screen (docs/protocol.md §7.1): for a chosen scope, every action kind's policy
// in force and where it comes from, each field with a one-line plain explanation. Holders of
// `manage` on `policies` at the scope get controls and a Save per kind (`policy_set` with the
// changed fields and the limits); everyone else sees the same values as text.

import { h, mount } from "../dom.js";
import "./policies.css";

/** @typedef {{ kind: string, policy: Record<string, any>, source_scope_id?: string | null }} KindPolicy */

/** @type {{ key: string, label: string, type: "bool" | "int", explain: string, min?: number, max?: number }[]} */
const FIELDS = [
  { key: "enabled", label: "Enabled", type: "bool", explain: "Whether requests of this kind may be made and run here at all." },
  { key: "requires_confirmation", label: "Requires confirmation", type: "bool", explain: "The requester (or an operator) must confirm a request before anything else happens." },
  { key: "approvals_required", label: "Approvals required", type: "int", min: 0, max: 100, explain: "How many people other than the requester must approve before it runs." },
  { key: "rejections_to_deny", label: "Rejections to deny", type: "int", min: 0, max: 100, explain: "How many rejections end a request; 0 means a rejection never ends it." },
  { key: "allow_self_approval", label: "Allow self-approval", type: "bool", explain: "Whether the requester may approve their own request." },
  { key: "request_ttl_hours", label: "Request lifetime (hours)", type: "int", min: 1, max: 8760, explain: "How long a request may wait for confirmation or approval before it expires." },
  { key: "cancel_window_hours", label: "Cancel window (hours)", type: "int", min: 0, max: 8760, explain: "How long after running it can still be undone." },
];

/** @type {{ key: string, label: string, type: "decimal" | "int", explain: string, min?: number, max?: number }[]} */
const LIMITS = [
  { key: "max_amount", label: "Maximum amount", type: "decimal", explain: "Requests above this amount are refused." },
  { key: "max_percentage", label: "Maximum percentage", type: "decimal", explain: "Requests above this percentage are refused." },
  { key: "window_hours", label: "Window (hours)", type: "int", min: 1, max: 8760, explain: "The trailing period the two window limits below count over." },
  { key: "window_max_count", label: "Most requests in the window", type: "int", min: 1, explain: "How many requests (not cancelled) may be made within the window." },
  { key: "window_max_total", label: "Most total amount in the window", type: "decimal", explain: "How much the amounts of the requests in the window may add up to." },
];

/** The scope last looked at, kept while the user moves between screens. */
const state = { scope: "" };

export const page = {
  id: "policies",
  title: "Policies",
  /** Policy reads need a permit of any role covering the scope. */
  visible: (/** @type {any} */ app) => (app.me?.permits?.length ?? 0) > 0,
  /** @param {any} app */
  render: async (app) => {
    const scopes = /** @type {string[]} */ (app.scopes());
    if (!state.scope) state.scope = scopes[0] ?? "";
    const input = /** @type {HTMLInputElement} */ (
      h("input", { id: "policies-scope", type: "text", list: "policies-scope-list", value: state.scope, required: true, autocomplete: "off" })
    );
    const results = h("div", { class: "policies-results" });
    const load = async () => {
      state.scope = input.value.trim();
      if (!state.scope) return mount(results, h("p", null, "Enter a scope to see its policies."));
      try {
        const { policies } = await app.client.get("policy_list", { scope_id: state.scope });
        const manage = app.can("policies", "manage", state.scope);
        mount(results, policies.map((/** @type {KindPolicy} */ entry) => kindSection(app, state.scope, entry, manage)));
      } catch (error) {
        mount(results, app.errorBox(error));
      }
    };
    const form = h(
      "form",
      {
        class: "policies-scope",
        onsubmit: (/** @type {Event} */ event) => {
          event.preventDefault();
          void load();
        },
      },
      h("label", { for: "policies-scope" }, "Scope"),
      input,
      h("datalist", { id: "policies-scope-list" }, scopes.map((s) => h("option", { value: s }))),
      h("button", { type: "submit", class: "btn" }, "Show policies"),
    );
    await load();
    return h(
      "section",
      { class: "policies-page", "aria-labelledby": "policies-heading" },
      h("h1", { id: "policies-heading" }, "Policies"),
      h("p", { class: "intro" }, "The rules each kind of request follows at a scope. A scope inherits the nearest policy set above it, else the default."),
      form,
      results,
    );
  },
};

/** @param {string | null | undefined} source */
const sourceText = (source) => (source ? `set at ${source}` : "default");

/**
 * One kind's policy: read-only, or a form with a Save when the caller manages policies here.
 * @param {any} app
 * @param {string} scope
 * @param {KindPolicy} entry
 * @param {boolean} manage
 */
function kindSection(app, scope, entry, manage) {
  const headingId = `policy-${entry.kind}-heading`;
  const source = h("p", { class: "policy-source" }, `In force here: ${sourceText(entry.source_scope_id)}`);
  const body = manage ? editForm(app, scope, entry, source) : readOnly(entry.policy);
  return h("section", { class: "card policy-kind", "aria-labelledby": headingId }, h("h2", { id: headingId }, entry.kind), source, body);
}

/**
 * @param {any} value
 * @param {"bool" | "int" | "decimal"} type
 */
function shown(value, type) {
  if (type === "bool") return value ? "Yes" : "No";
  return value === null || value === undefined ? "Not set (no limit)" : String(value);
}

/** @param {Record<string, any>} policy */
function readOnly(policy) {
  const limits = policy.limits ?? {};
  const row = (/** @type {{label: string, explain: string, type: any}} */ f, /** @type {any} */ value) => [
    h("dt", null, f.label),
    h("dd", null, h("span", { class: "policy-value" }, shown(value, f.type)), h("span", { class: "explain" }, f.explain)),
  ];
  return h(
    "dl",
    { class: "policy-values" },
    FIELDS.map((f) => row(f, policy[f.key])),
    LIMITS.map((f) => row(f, limits[f.key])),
  );
}

/** @typedef {{ key: string, label: string, type: string, explain: string, min?: number, max?: number }} Field */

/**
 * One labelled control with its explanation: a checkbox, a whole number, or a decimal string.
 * @param {string} id
 * @param {Field} f
 * @param {any} value
 * @returns {[HTMLInputElement, HTMLElement]}
 */
function policyControl(id, f, value) {
  const props = { id, name: f.key, "aria-describedby": `${id}-explain` };
  const input = /** @type {HTMLInputElement} */ (
    f.type === "bool"
      ? h("input", { ...props, type: "checkbox", checked: Boolean(value) })
      : f.type === "int"
        ? h("input", { ...props, type: "number", step: "1", min: f.min, max: f.max, value: value ?? "" })
        : h("input", { ...props, type: "text", inputmode: "decimal", value: value ?? "", placeholder: "no limit" })
  );
  const label = h("label", { for: id }, f.label);
  return [
    input,
    h(
      "div",
      { class: f.type === "bool" ? "policy-field policy-toggle" : "policy-field" },
      f.type === "bool" ? [input, label] : [label, input],
      h("p", { id: `${id}-explain`, class: "explain" }, f.explain),
    ),
  ];
}

/**
 * `policy_set` params from the form: the fields that changed, and all the limits (given, they
 * replace the limits in force; empty inputs clear theirs).
 * @param {string} scope
 * @param {string} kind
 * @param {Record<string, any>} policy
 * @param {Map<string, HTMLInputElement>} inputs
 */
function changes(scope, kind, policy, inputs) {
  const value = (/** @type {Field} */ f) => {
    const input = /** @type {HTMLInputElement} */ (inputs.get(f.key));
    if (f.type === "bool") return input.checked;
    const text = input.value.trim();
    if (text === "") return null;
    return f.type === "int" ? Number(text) : text;
  };
  /** @type {Record<string, any>} */
  const params = { scope_id: scope, kind };
  for (const f of FIELDS) {
    const v = value(f);
    if (v !== null && v !== policy[f.key]) params[f.key] = v;
  }
  /** @type {Record<string, any>} */
  const limits = {};
  for (const f of LIMITS) {
    const v = value(f);
    if (v !== null) limits[f.key] = v;
  }
  params.limits = limits;
  return params;
}

/**
 * @param {any} app
 * @param {string} scope
 * @param {KindPolicy} entry
 * @param {HTMLElement} source
 */
function editForm(app, scope, entry, source) {
  let policy = entry.policy;
  /** @type {Map<string, HTMLInputElement>} */
  const inputs = new Map();
  const control = (/** @type {Field} */ f, /** @type {any} */ value) => {
    const [input, row] = policyControl(`policy-${entry.kind}-${f.key}`, f, value);
    inputs.set(f.key, input);
    return row;
  };
  const message = h("div", { class: "form-message" });
  const save = h("button", { type: "submit", class: "btn btn-primary" }, `Save ${entry.kind}`);
  const submit = async () => {
    mount(message);
    save.setAttribute("disabled", "");
    try {
      policy = (await app.client.call("policy_set", changes(scope, entry.kind, policy, inputs))).policy;
      mount(source, `In force here: ${sourceText(scope)}`);
      mount(message, h("p", { class: "saved", role: "status" }, `Saved the ${entry.kind} policy at ${scope}.`));
      app.announce?.(`Saved the ${entry.kind} policy.`);
    } catch (error) {
      const field = /** @type {any} */ (error)?.data?.field;
      mount(message, app.errorBox(error), field && h("p", { class: "error-field" }, `Check the field: ${field}.`));
      inputs.get(String(field ?? "").split(".").pop() ?? "")?.focus();
    } finally {
      save.removeAttribute("disabled");
    }
  };
  return h(
    "form",
    {
      class: "policy-form",
      onsubmit: (/** @type {Event} */ event) => {
        event.preventDefault();
        void submit();
      },
    },
    h("fieldset", null, h("legend", null, "Rules"), FIELDS.map((f) => control(f, policy[f.key]))),
    h("fieldset", null, h("legend", null, "Limits"), LIMITS.map((f) => control(f, policy.limits?.[f.key]))),
    message,
    h("div", { class: "form-actions" }, save),
  );
}
