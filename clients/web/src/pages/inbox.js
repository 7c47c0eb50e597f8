// @ts-check
// The inbox (the default page): the caller's notifications as readable sentences, newest
// first — the recent ones from `notifications_list`, then each live one from the shell's one
// subscription, deduplicated by `seq` (delivery is at-least-once, §8). When the stream could not
// be resumed (`resync_required`) it reloads from the list.

import { h, mount } from "../dom.js";
import { accountName, learnNames, scopeText, timeElement, timeText } from "../words.js";

/** How many recent notifications the inbox shows. */
const RECENT = 100;

/** @typedef {import("../main.js").App} App */
/** @typedef {{ seq: number, type: string, data: any, created_at: string }} Notification */

/** @param {string} text */
const capital = (text) => text.charAt(0).toUpperCase() + text.slice(1);

/**
 * A notification as a sentence and a link to its object.
 * @param {App} app
 * @param {Notification} n
 * @returns {{ text: string, link: { href: string, label: string } | null }}
 */
export function describe(app, n) {
  const data = n.data ?? {};
  const offer = data.offer;
  const toOffers = { href: "#/offers", label: "Open offers" };
  if (offer) {
    const what = `the role ${offer.role} ${scopeText(offer.scope_id)}`;
    const from = accountName(app, offer.from_account_id);
    const to = accountName(app, offer.to_account_id);
    const texts = /** @type {Record<string, string>} */ ({
      permit_offer_received: `${from} offered you ${what}${data.renewed ? " (renewed)" : ""}${offer.message ? `: “${offer.message}”` : ""}`,
      permit_offer_retracted: `${from} retracted the offer of ${what}`,
      permit_offer_accepted: `${to} accepted your offer of ${what}`,
      permit_offer_declined: `${to} declined your offer of ${what}${offer.decline_reason ? `: “${offer.decline_reason}”` : ""}`,
      permit_offer_superseded: `Your offer of ${what} to ${to} was superseded${offer.superseded_reason === "sibling_accepted" ? " (another offer of it was accepted)" : offer.superseded_reason === "permit_revoked" ? " (the permit was revoked)" : ""}`,
      permit_offer_expired: `The offer of ${what} ${offer.from_account_id === app.me.account.id ? `to ${to}` : `from ${from}`} expired`,
    });
    if (texts[n.type]) return { text: capital(texts[n.type]), link: toOffers };
  }
  const permit = data.permit;
  if (permit && n.type === "permit_granted") return { text: `You were granted the role ${permit.role} ${scopeText(permit.scope_id)}`, link: toOffers };
  if (permit && n.type === "permit_revoked") {
    const reason = permit.revoked_reason ? ` (${permit.revoked_reason})` : "";
    return { text: `Your role ${permit.role} ${scopeText(permit.scope_id)} was revoked${reason}`, link: toOffers };
  }
  const request = data.request;
  const requestId = request?.id ?? data.request_id;
  const toRequest = requestId ? { href: `#/requests/${requestId}`, label: "Open request" } : null;
  const title = request ? `Request “${request.title}”` : "A request";
  if (n.type === "request_decision") {
    const voted = data.decision === "approve" ? "approved" : "rejected";
    return { text: `${capital(accountName(app, data.by))} ${voted} your request${data.comment ? `: “${data.comment}”` : ""}`, link: toRequest };
  }
  const requestTexts = /** @type {Record<string, string>} */ ({
    request_approval_needed: `${title} needs your approval`,
    request_approved: `${title} was approved`,
    request_rejected: `${title} was rejected`,
    request_executed: data.direct
      ? `${title} was executed directly, skipping approval${data.cancel_until ? `; it can be cancelled until ${timeText(data.cancel_until)}` : ""}`
      : `${title} was executed`,
    request_failed: `${title} failed${request?.execution?.last_error ? `: ${request.execution.last_error}` : ""}`,
    request_cancelled: `${title} was cancelled`,
    request_revoked: `${title} was revoked (cancelled after it ran)`,
    request_expired: `${title} expired`,
  });
  if (requestTexts[n.type]) return { text: requestTexts[n.type], link: toRequest };
  return { text: `Notification “${n.type}”`, link: null };
}

/**
 * @param {App} app
 * @param {Notification} n
 */
function item(app, n) {
  const { text, link } = describe(app, n);
  return h(
    "li",
    { class: "note", "data-type": n.type },
    h("p", { class: "note-text" }, text),
    h("p", { class: "note-meta" }, timeElement(n.created_at), link && [" · ", h("a", { href: link.href }, link.label)]),
  );
}

export const page = {
  id: "inbox",
  title: "Inbox",
  visible: () => true,
  /** @param {App} app */
  async render(app) {
    /** @type {Map<number, Notification>} */
    const shown = new Map();
    const list = h("ol", { class: "notes", "aria-label": "Notifications, newest first" });
    const errors = h("div");
    const draw = async () => {
      const all = [...shown.values()].sort((a, b) => b.seq - a.seq).slice(0, RECENT * 2);
      try {
        await learnNames(app, all.flatMap((n) => [n.data?.offer?.from_account_id, n.data?.offer?.to_account_id, n.data?.by]));
      } catch {
        /* names stay short ids */
      }
      if (all.length === 0) mount(list, h("li", { class: "note note-empty" }, "No notifications yet. New ones appear here as they happen."));
      else mount(list, all.map((n) => item(app, n)));
    };
    const load = async () => {
      const { head_seq } = await app.client.get("notifications_list", { limit: 1 });
      const recent = await app.client.get("notifications_list", { after: Math.max(0, head_seq - RECENT), limit: RECENT });
      for (const n of recent.notifications) shown.set(n.seq, n);
    };
    app.onNotification((n) => {
      if (n.type === "resync_required") {
        shown.clear();
        load().then(draw, (error) => mount(errors, app.errorBox(error)));
      } else if (typeof n.seq === "number" && !shown.has(n.seq)) {
        shown.set(n.seq, /** @type {Notification} */ (n));
        void draw();
      }
    });
    await load();
    await draw();
    return h(
      "section",
      { class: "page page-inbox" },
      h("h1", null, "Inbox"),
      h("p", { class: "lede" }, "What happened to your offers, roles and requests. New notifications appear here as they happen."),
      errors,
      list,
    );
  },
};
