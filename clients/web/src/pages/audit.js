// @ts-check
// The audit log viewer (§9): rows from `audit_list` with filters by event type and account,
// paged with `next_after_seq`, and the hash chain's status from `audit_verify` in words. Shown
// to whoever holds `view` on `audit` somewhere (the map decides, never a role name); the chain
// check needs admin, so others are told so instead of being refused.

import { h, mount } from "../dom.js";
import { accountName, isAdmin, learnNames, table, timeElement } from "../words.js";

/** @typedef {import("../main.js").App} App */

const PAGE = 50;

/** Event types offered as suggestions in the filter (any method name may be typed). */
const EVENTS = [
  "account_login", "account_logout", "account_create", "account_disable", "account_enable",
  "permit_grant", "permit_revoke", "permit_offer_create", "permit_offer_accept", "permit_offer_decline",
  "permit_offer_retract", "permit_offer_expire", "policy_set", "request_create", "request_confirm",
  "request_approve", "request_reject", "request_execute", "request_cancel", "request_retry",
  "request_expire", "request_execution", "token_create", "token_revoke", "session_revoke",
];

/** @type {Record<string, string>} */
const OUTCOME = { success: "Success", failure: "Failure", denied: "Denied" };

/** @param {App} app */
function chainStatus(app) {
  const slot = h("div", { class: "chain", role: "status" }, "Checking the hash chain…");
  if (!isAdmin(app)) {
    mount(slot, h("p", { class: "callout callout-info" }, "Checking the hash chain needs admin; ask an administrator to run it."));
    return slot;
  }
  app.client.get("audit_verify", {}).then(
    (result) => {
      if (result.ok) mount(slot, h("p", { class: "callout callout-success" }, h("strong", null, "Chain verified: "), `${result.checked} rows intact.`));
      else mount(slot, h("p", { class: "callout callout-danger" }, h("strong", null, `Chain broken at row ${result.first_bad_seq}: `), "a row was edited, deleted or inserted outside the server. Compare with a copy of the newest hash kept elsewhere."));
    },
    (error) => mount(slot, app.errorBox(error)),
  );
  return slot;
}

/**
 * @param {App} app
 * @param {any} row
 */
function auditRow(app, row) {
  const hasData = row.data && typeof row.data === "object" && Object.keys(row.data).length > 0;
  return h(
    "tr",
    null,
    h("td", { class: "num" }, String(row.seq)),
    h("td", null, timeElement(row.created_at)),
    h("td", null, h("code", null, row.event_type)),
    h("td", null, h("span", { class: `badge badge-${row.outcome}` }, OUTCOME[row.outcome] ?? row.outcome)),
    h("td", null, row.account_id ? accountName(app, row.account_id) : "—"),
    h("td", null, row.scope_id ?? "—"),
    h("td", null, row.subject_id ? h("code", { title: row.subject_id }, `${row.subject_id.slice(0, 8)}…`) : "—"),
    h("td", null, hasData ? h("details", null, h("summary", null, "Details"), h("pre", { class: "data" }, JSON.stringify(row.data, null, 2))) : "—"),
  );
}

export const page = {
  id: "audit",
  title: "Audit",
  /** @param {App} app */
  visible: (app) =>
    Object.entries(app.me?.permissions ?? {}).some(([key, verbs]) => {
      const resource = key.split("/")[0];
      return (resource === "audit" || resource === "*") && (verbs.includes("view") || verbs.includes("*"));
    }),
  /** @param {App} app */
  async render(app) {
    const rows = h("div");
    const pager = h("div", { class: "pager" });
    const errors = h("div");
    const eventType = h("input", { id: "audit-event", list: "audit-events", autocomplete: "off" });
    const account = h("input", {
      id: "audit-account",
      autocomplete: "off",
      placeholder: "an account id (UUID)",
      pattern: "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
      title: "An account id: a UUID such as 0190a8c2-7b1e-7c3d-9f00-123456789abc",
    });
    /** @type {{ after: number, back: number[], filters: Record<string, string> }} */
    const state = { after: 0, back: [], filters: {} };
    const load = async () => {
      mount(errors);
      const result = await app.client.get("audit_list", { after_seq: state.after, limit: PAGE, ...state.filters });
      await learnNames(app, result.events.map((/** @type {any} */ e) => e.account_id)).catch(() => {});
      const headers = ["Seq", "Time", "Event", "Outcome", "Account", "Scope", "Subject", "Data"];
      const found = result.events.map((/** @type {any} */ row) => auditRow(app, row));
      mount(rows, table("Audit rows, oldest first", headers, found, "No rows match.", "table table-compact"));
      const go = (/** @type {() => void} */ move) => () => {
        move();
        load().catch((error) => mount(errors, app.errorBox(error)));
      };
      const older = h("button", { type: "button", class: "btn", disabled: state.back.length === 0, onclick: go(() => (state.after = state.back.pop() ?? 0)) }, "Older");
      const next = result.next_after_seq;
      const newer = h("button", { type: "button", class: "btn", disabled: next === null || next === undefined, onclick: go(() => { state.back.push(state.after); state.after = next; }) }, "Newer");
      const first = result.events[0]?.seq;
      const last = result.events.at(-1)?.seq;
      mount(pager, older, newer, h("span", { class: "pager-info" }, first ? `Rows ${first} to ${last}` : ""));
    };
    /** @param {Event} event */
    const filter = (event) => {
      event.preventDefault();
      const value = (/** @type {any} */ el) => el.value.trim();
      state.filters = {};
      if (value(eventType)) state.filters.event_type = value(eventType);
      if (value(account)) state.filters.account_id = value(account);
      state.after = 0;
      state.back = [];
      load().catch((error) => mount(errors, app.errorBox(error)));
    };
    await load();
    return h(
      "section",
      { class: "page page-audit" },
      h("h1", null, "Audit log"),
      h("p", { class: "lede" }, "Every change and every refused attempt, in order. Each row is chained to the one before by its hash, so an edit outside the server shows."),
      chainStatus(app),
      h(
        "form",
        { class: "filters", onsubmit: filter, onreset: () => setTimeout(() => filter(new Event("submit"))) },
        h("div", { class: "field" }, h("label", { for: "audit-event" }, "Event type"), eventType),
        h("datalist", { id: "audit-events" }, EVENTS.map((e) => h("option", { value: e }))),
        h("div", { class: "field" }, h("label", { for: "audit-account" }, "Account id"), account),
        h("div", { class: "form-actions" },
          h("button", { type: "submit", class: "btn btn-primary" }, "Filter"),
          h("button", { type: "reset", class: "btn" }, "Clear")),
      ),
      errors,
      rows,
      pager,
    );
  },
};
