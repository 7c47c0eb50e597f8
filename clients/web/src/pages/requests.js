// @ts-check
// The Requests screen (docs/protocol.md §7): the list — awaiting my decision, mine, all I can
// see, by scope, live on request_* notifications — and the routes to the create form
// (`#/requests/new`) and to one request (`#/requests/<id>`). Shown to whoever holds any verb on
// an action kind; the server decides what each list holds.

import { h, mount } from "../dom.js";
import { table, timeElement } from "../words.js";
import { renderRequestDetail } from "./request_detail.js";
import { renderRequestForm } from "./request_form.js";
import { holdsAnyKindVerb, money, onRequestNotifications, statusBadge } from "./request_common.js";
import "./requests.css";

/** @typedef {import("../../../typescript/src/generated.ts").Request} Request */

const FILTERS = [
  { id: "awaiting", label: "Awaiting my decision", params: { awaiting_my_decision: true } },
  { id: "mine", label: "Mine", params: { mine: true } },
  { id: "all", label: "All I can see", params: {} },
];

/** The list's filter, kept while the user moves between screens. */
const state = { filter: "all", scope: "" };

export const page = {
  id: "requests",
  title: "Requests",
  /** @param {any} app */
  visible: (app) => holdsAnyKindVerb(app.me?.permissions ?? {}),
  /**
   * @param {any} app
   * @param {string[]} args
   */
  render: async (app, args = []) => {
    if (args[0] === "new") return renderRequestForm(app);
    if (args[0]) return renderRequestDetail(app, args[0]);
    return renderList(app);
  },
};

/**
 * Whether the caller may create some kind somewhere (the "New request" link).
 * @param {any} app
 */
function canCreateSomething(app) {
  return Object.values(app.me?.permissions ?? {}).some((verbs) => verbs.includes("create") || verbs.includes("*"));
}

/** @param {any} app */
async function renderList(app) {
  const scopeList = `requests-scopes-${Math.random().toString(36).slice(2)}`;
  const scopeInput = /** @type {HTMLInputElement} */ (
    h("input", { id: "requests-scope", type: "text", list: scopeList, value: state.scope, placeholder: "every scope", autocomplete: "off" })
  );
  const results = h("div", { class: "requests-results", "aria-live": "polite" });
  const buttons = FILTERS.map((filter) =>
    h(
      "button",
      {
        type: "button",
        class: "btn btn-small filter-button",
        "aria-pressed": String(state.filter === filter.id),
        onclick: () => {
          state.filter = filter.id;
          for (const [i, button] of buttons.entries()) button.setAttribute("aria-pressed", String(FILTERS[i].id === filter.id));
          void load();
        },
      },
      filter.label,
    ),
  );
  const scopeForm = h(
    "form",
    {
      class: "requests-scope",
      onsubmit: (/** @type {Event} */ event) => {
        event.preventDefault();
        state.scope = scopeInput.value.trim();
        void load();
      },
    },
    h("label", { for: "requests-scope" }, "Scope"),
    scopeInput,
    h("datalist", { id: scopeList }, app.scopes().map((/** @type {string} */ scope) => h("option", { value: scope }))),
    h("button", { type: "submit", class: "btn" }, "Show"),
  );
  const root = h(
    "section",
    { class: "requests-page", "aria-labelledby": "requests-heading" },
    h(
      "div",
      { class: "page-header" },
      h("h1", { id: "requests-heading" }, "Requests"),
      canCreateSomething(app) && h("a", { href: "#/requests/new", class: "btn btn-primary" }, "New request"),
    ),
    h("div", { class: "requests-filters" }, h("div", { role: "group", "aria-label": "Show", class: "filter-group" }, buttons), scopeForm),
    results,
  );

  /** @type {Request[]} */
  let shown = [];
  /** @param {string | null} [cursor] */
  async function load(cursor = null) {
    const filter = FILTERS.find((f) => f.id === state.filter) ?? FILTERS[2];
    /** @type {Record<string, unknown>} */
    const params = { ...filter.params, limit: 50 };
    if (state.scope) params.scope_id = state.scope;
    if (cursor) params.cursor = cursor;
    try {
      const { requests, next_cursor } = await app.client.get("request_list", params);
      shown = cursor ? [...shown, ...requests] : requests;
      mount(results, requestTable(shown), next_cursor && h("button", { type: "button", class: "btn load-more", onclick: () => load(next_cursor) }, "Load more"));
    } catch (error) {
      mount(results, app.errorBox(error));
    }
  }
  onRequestNotifications(app, root, () => void load());
  await load();
  return root;
}

/** @param {Request[]} requests */
function requestTable(requests) {
  const rows = requests.map((request) =>
    h(
      "tr",
      { "data-request-id": request.id },
      h("td", null, h("a", { href: `#/requests/${request.id}` }, request.title)),
      h("td", null, request.kind),
      h("td", null, request.scope_id),
      h("td", { class: "amount" }, money(request), request.percentage ? ` (${request.percentage}%)` : null),
      h("td", null, statusBadge(request.status)),
      h("td", null, timeElement(request.created_at)),
    ),
  );
  return table("Requests", ["Title", "Kind", "Scope", "Amount", "Status", "Created"], rows, "No requests here.");
}
