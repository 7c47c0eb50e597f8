// @ts-check
// Permit offers, the consentful grants of §6: offers made to you (Accept / Decline, with an
// optional reason), the roles you hold, offers you sent (Retract), a form to offer a role you
// hold (any web-grantable role when admin), and the history of every offer to or from you,
// paged. Redrawn live when an offer or permit notification arrives.

import { h, mount } from "../dom.js";
import { accountName, badge, isAdmin, learnNames, scopeText, table, timeElement } from "../words.js";

/** @typedef {import("../main.js").App} App */

/** Status words shown on badges (never colour alone). */
const STATUS = /** @type {Record<string, string>} */ ({
  pending: "Pending",
  accepted: "Accepted",
  declined: "Declined",
  retracted: "Retracted",
  expired: "Expired",
  superseded: "Superseded",
});

/**
 * Runs a mutation from a button: disables it meanwhile, shows the server's refusal in `slot`.
 * @param {App} app
 * @param {HTMLElement} slot
 * @param {() => Promise<void>} act
 */
function acting(app, slot, act) {
  return async (/** @type {Event} */ event) => {
    const button = /** @type {HTMLButtonElement} */ (event.currentTarget);
    button.disabled = true;
    mount(slot);
    try {
      await act();
    } catch (error) {
      mount(slot, app.errorBox(error));
      button.disabled = false;
    }
  };
}

/**
 * @param {App} app
 * @param {any} offer
 * @param {HTMLElement} slot
 * @param {() => Promise<void>} reload
 */
function incomingRow(app, offer, slot, reload) {
  const accept = acting(app, slot, async () => {
    const { permit } = await app.client.call("permit_offer_accept", { offer_id: offer.id });
    app.announce(`Accepted: you now hold the role ${permit.role} ${scopeText(permit.scope_id)}.`);
    await app.refresh();
  });
  const decline = () => {
    const reason = h("textarea", { id: "decline-reason", maxlength: "500", rows: "3" });
    app.dialog({
      title: `Decline the role ${offer.role}?`,
      body: h(
        "div",
        null,
        h("p", null, `${accountName(app, offer.from_account_id)} offered you the role ${offer.role} ${scopeText(offer.scope_id)}.`),
        h("div", { class: "field" }, h("label", { for: "decline-reason" }, "Reason (optional)"), reason),
      ),
      actions: [
        {
          label: "Decline offer",
          kind: "danger",
          onclick: async () => {
            const text = /** @type {HTMLTextAreaElement} */ (reason).value.trim();
            await app.client.call("permit_offer_decline", { offer_id: offer.id, reason: text || null });
            app.announce(`Declined the role ${offer.role}.`);
            await reload();
            return true;
          },
        },
      ],
    });
  };
  return h(
    "tr",
    null,
    h("td", null, offer.role),
    h("td", null, offer.scope_id ?? "Global"),
    h("td", null, accountName(app, offer.from_account_id)),
    h("td", null, offer.message ?? "—"),
    h("td", null, timeElement(offer.expires_at)),
    h(
      "td",
      { class: "actions" },
      h("button", { type: "button", class: "btn btn-primary", onclick: accept }, "Accept"),
      h("button", { type: "button", class: "btn", onclick: decline }, "Decline"),
    ),
  );
}

/**
 * @param {App} app
 * @param {any} offer
 * @param {HTMLElement} slot
 * @param {() => Promise<void>} reload
 */
function outgoingRow(app, offer, slot, reload) {
  const retract = acting(app, slot, async () => {
    await app.client.call("permit_offer_retract", { offer_id: offer.id });
    app.announce(`Retracted the offer of ${offer.role}.`);
    await reload();
  });
  return h(
    "tr",
    null,
    h("td", null, offer.role),
    h("td", null, offer.scope_id ?? "Global"),
    h("td", null, accountName(app, offer.to_account_id)),
    h("td", null, timeElement(offer.expires_at)),
    h("td", { class: "actions" }, h("button", { type: "button", class: "btn", onclick: retract }, "Retract")),
  );
}

/**
 * The form to offer a role: recipient by username (`account_lookup` finds the id), a role the
 * caller may give, scope, message and expiry.
 * @param {App} app
 * @param {() => Promise<void>} reload
 */
async function sendForm(app, reload) {
  const { roles } = await app.client.get("role_list", {});
  const held = new Set((app.me.permits ?? []).map((/** @type {any} */ p) => p.role));
  const anyRole = isAdmin(app) || held.has("admin");
  const offerable = roles.filter((/** @type {any} */ r) => r.web_grantable && (anyRole || held.has(r.name)));
  if (offerable.length === 0) return h("p", { class: "empty" }, "You hold no role you could offer to someone else.");
  const field = (/** @type {string} */ id, /** @type {string} */ label, /** @type {Node} */ input, /** @type {string} */ hint = "") =>
    h("div", { class: "field" }, h("label", { for: id }, label), input, hint && h("p", { class: "hint", id: `${id}-hint` }, hint));
  const recipient = h("input", { id: "offer-to", required: true, autocomplete: "off", "aria-describedby": "offer-to-hint", list: "offer-accounts" });
  const role = h("select", { id: "offer-role", required: true }, offerable.map((/** @type {any} */ r) =>
    h("option", { value: r.name }, r.scopes.length ? `${r.name} (only at ${r.scopes.join(", ")} scopes)` : r.name),
  ));
  const scope = h("input", { id: "offer-scope", list: "offer-scopes", autocomplete: "off", placeholder: "org:acme", "aria-describedby": "offer-scope-hint" });
  const message = h("textarea", { id: "offer-message", maxlength: "500", rows: "2" });
  const expires = h("input", { id: "offer-expires", type: "datetime-local", "aria-describedby": "offer-expires-hint" });
  const status = h("div", { class: "form-status" });
  let accounts = null;
  if (isAdmin(app)) {
    const listed = await app.client.get("account_list", { limit: 500 });
    accounts = h("datalist", { id: "offer-accounts" }, listed.accounts.map((/** @type {any} */ a) => h("option", { value: a.username })));
  }
  /** @param {Event} event */
  const submit = async (event) => {
    event.preventDefault();
    mount(status);
    const value = (/** @type {any} */ el) => el.value.trim();
    try {
      // POST: an unknown name is answered 200 with `not_found`, not a console-logged 404.
      const { account } = await app.client.call("account_lookup", { username: value(recipient) });
      const { offer } = await app.client.call("permit_offer_create", {
        to_account_id: account.id,
        role: value(role),
        scope_id: value(scope) || null,
        message: value(message) || null,
        expires_at: value(expires) ? new Date(value(expires)).toISOString() : null,
      });
      const text = `Offer sent: the role ${offer.role} ${scopeText(offer.scope_id)} to ${accountName(app, offer.to_account_id)}.`;
      /** @type {HTMLFormElement} */ (event.target).reset();
      await reload();
      mount(status, h("p", { class: "callout callout-success", role: "status" }, text));
    } catch (error) {
      mount(status, app.errorBox(error));
    }
  };
  return h(
    "form",
    { class: "card form", onsubmit: submit, "aria-labelledby": "send-offer-title" },
    h("h2", { id: "send-offer-title" }, "Send an offer"),
    field("offer-to", "Recipient username", recipient, "The username of the account to offer the role to."),
    accounts,
    field("offer-role", "Role", role),
    field("offer-scope", "Scope (optional)", scope, "Where the role holds, e.g. org:acme. Empty means everywhere."),
    h("datalist", { id: "offer-scopes" }, app.scopes().map((s) => h("option", { value: s }))),
    field("offer-message", "Message (optional)", message),
    field("offer-expires", "Offer expires (optional)", expires, "Empty: the offer lapses after 30 days."),
    status,
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Send offer")),
  );
}

/**
 * The history of every offer to or from the caller, newest first, with "Show older".
 * @param {App} app
 */
function historySection(app) {
  const body = h("div");
  const more = h("div");
  /** @type {any[]} */
  const rows = [];
  /** @param {string | null} cursor */
  const loadPage = async (cursor) => {
    const page = await app.client.get("permit_offer_history", { limit: 25, cursor });
    if (cursor === null) rows.length = 0;
    await learnNames(app, page.offers.flatMap((/** @type {any} */ o) => [o.from_account_id, o.to_account_id]));
    rows.push(...page.offers);
    const me = app.me.account.id;
    mount(body, table("Offer history", ["Offered", "Role", "Scope", "From", "To", "Status", "Resolved"], rows.map((o) =>
      h("tr", null,
        h("td", null, timeElement(o.created_at)),
        h("td", null, o.role),
        h("td", null, o.scope_id ?? "Global"),
        h("td", null, o.from_account_id === me ? "You" : accountName(app, o.from_account_id)),
        h("td", null, o.to_account_id === me ? "You" : accountName(app, o.to_account_id)),
        h("td", null, badge(o.status, STATUS), o.decline_reason ? ` “${o.decline_reason}”` : ""),
        h("td", null, timeElement(o.resolved_at)),
      ),
    ), "No offers yet."));
    const next = page.next_cursor;
    mount(more, next && h("button", { type: "button", class: "btn", onclick: acting(app, more, () => loadPage(next)) }, "Show older offers"));
  };
  return { element: h("section", { class: "card", "aria-labelledby": "history-title" }, h("h2", { id: "history-title" }, "History"), body, more), load: () => loadPage(null) };
}

export const page = {
  id: "offers",
  title: "Offers",
  visible: () => true,
  /** @param {App} app */
  async render(app) {
    const incoming = h("div");
    const outgoing = h("div");
    const permits = h("div");
    const errors = h("div");
    const history = historySection(app);
    const reload = async () => {
      const lists = await app.client.get("permit_offer_list", {});
      await learnNames(app, [...lists.incoming, ...lists.outgoing].flatMap((o) => [o.from_account_id, o.to_account_id]));
      mount(incoming, table("Offers to you", ["Role", "Scope", "From", "Message", "Expires", "Actions"],
        lists.incoming.map((/** @type {any} */ o) => incomingRow(app, o, errors, reload)), "No offers are waiting for you."));
      mount(outgoing, table("Offers you sent", ["Role", "Scope", "To", "Expires", "Actions"],
        lists.outgoing.map((/** @type {any} */ o) => outgoingRow(app, o, errors, reload)), "You have no pending offers out."));
      mount(permits, table("Your roles", ["Role", "Scope", "Since", "Expires"],
        (app.me.permits ?? []).map((/** @type {any} */ p) => h("tr", null,
          h("td", null, p.role), h("td", null, p.scope_id ?? "Global"), h("td", null, timeElement(p.created_at)),
          h("td", null, p.expires_at ? timeElement(p.expires_at) : "Never"))),
        "You hold no roles yet."));
    };
    const reloadAll = async () => {
      await reload();
      await history.load();
    };
    app.onNotification((n) => {
      if (n.type.startsWith("permit_")) reloadAll().catch((error) => mount(errors, app.errorBox(error)));
    });
    await reload();
    await history.load();
    const section = (/** @type {string} */ id, /** @type {string} */ title, /** @type {Node} */ content) =>
      h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), content);
    return h(
      "section",
      { class: "page page-offers" },
      h("h1", null, "Offers"),
      h("p", { class: "lede" }, "Roles are given with consent: someone offers a role, and it is yours once you accept."),
      errors,
      section("incoming-title", "Offers to you", incoming),
      section("permits-title", "Your roles", permits),
      section("outgoing-title", "Offers you sent", outgoing),
      await sendForm(app, reloadAll),
      history.element,
    );
  },
};
