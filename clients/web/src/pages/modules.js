// @ts-check
// Module status, use case 5 (§ intro): the units the caller's permissions map names (keys
// `modules/<unit>` and `module.status/<unit>`), each with what the caller may do there, and a
// "Validate" button shown only with `edit` on `module.status` at that unit — the map decides,
// never a role name. countersign has no module domain of its own, so Validate asks the server
// (`permission_check`) and shows its answer: the pattern an application built on countersign
// follows before acting.

import { h, mount } from "../dom.js";
import { table, timeText } from "../words.js";

/** @typedef {import("../main.js").App} App */

const RESOURCES = ["modules", "module.status"];

/** @param {App} app the units named by the map, with the verbs held per resource */
function units(app) {
  /** @type {Map<string, Record<string, string[]>>} */
  const found = new Map();
  for (const [key, verbs] of Object.entries(app.me?.permissions ?? {})) {
    const slash = key.indexOf("/");
    if (slash < 0) continue;
    const resource = key.slice(0, slash);
    if (!RESOURCES.includes(resource)) continue;
    const unit = key.slice(slash + 1);
    const held = found.get(unit) ?? {};
    held[resource] = verbs;
    found.set(unit, held);
  }
  return [...found.entries()].sort(([a], [b]) => a.localeCompare(b));
}

/** @param {Record<string, string[]>} held what the caller may do at a unit, in words */
function access(held) {
  const parts = [];
  if (held.modules?.length) parts.push(`modules: ${held.modules.join(", ")}`);
  if (held["module.status"]?.length) parts.push(`module status: ${held["module.status"].join(", ")}`);
  return parts.join("; ");
}

/**
 * @param {App} app
 * @param {string} unit
 * @param {Record<string, string[]>} held
 */
function unitRow(app, unit, held) {
  const status = h("td", { class: "module-status" }, h("span", { class: "badge badge-pending" }, "Not validated"));
  const validate = async (/** @type {Event} */ event) => {
    const button = /** @type {HTMLButtonElement} */ (event.currentTarget);
    button.disabled = true;
    try {
      const { results } = await app.client.get("permission_check", {
        checks: [{ resource: "module.status", verb: "edit", scope_id: unit }],
      });
      const when = timeText(new Date().toISOString());
      const text = results[0]
        ? `Validated by ${app.me.account.username} at ${when} — the server confirms you may edit module status at ${unit}.`
        : `Not validated: the server refused — you may not edit module status at ${unit} (checked ${when}).`;
      mount(status, h("span", { class: `badge ${results[0] ? "badge-accepted" : "badge-denied"}` }, results[0] ? "Validated" : "Refused"), " ", text);
      app.announce(text);
    } catch (error) {
      mount(status, app.errorBox(error));
    } finally {
      button.disabled = false;
    }
  };
  return h(
    "tr",
    { "data-unit": unit },
    h("th", { scope: "row" }, unit),
    h("td", null, access(held)),
    status,
    h(
      "td",
      { class: "actions" },
      app.can("module.status", "edit", unit)
        ? h("button", { type: "button", class: "btn btn-primary", onclick: validate, "aria-label": `Validate ${unit}` }, "Validate")
        : h("span", { class: "muted" }, "View only"),
    ),
  );
}

export const page = {
  id: "modules",
  title: "Module status",
  /** @param {App} app */
  visible: (app) => units(app).length > 0,
  /** @param {App} app */
  async render(app) {
    const found = units(app);
    return h(
      "section",
      { class: "page page-modules" },
      h("h1", null, "Module status"),
      h("p", { class: "lede" }, "The units you work on. Validating a unit's module status needs edit on module status there; the server confirms it before anything is recorded."),
      table("Units", ["Unit", "Your access", "Status", "Action"], found.map(([unit, held]) => unitRow(app, unit, held)), "You hold no role at a unit."),
    );
  },
};
