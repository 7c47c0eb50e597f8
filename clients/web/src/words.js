// @ts-check
// Saying things in words, the same way on every screen: times, scopes, statuses (a badge
// whose text carries the meaning, colour only repeating it), accounts by name, and tables with
// a caption and headers. Pages build on these instead of formatting on their own.

import { h } from "./dom.js";

/** @typedef {import("./main.js").App} App */

/** @param {App} app whether the caller holds admin globally (the map's `*` key) */
export function isAdmin(app) {
  return (app.me?.permissions?.["*"] ?? []).includes("*");
}

/** @param {string | null | undefined} scope */
export function scopeText(scope) {
  return scope ? `at ${scope}` : "everywhere (global)";
}

/** @param {string | null | undefined} time RFC 3339 */
export function timeText(time) {
  if (!time) return "—";
  return new Date(time).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
}

/** @param {string | null | undefined} time a time the user can read, the exact instant kept in `datetime` */
export function timeElement(time) {
  return time ? h("time", { datetime: time }, timeText(time)) : "—";
}

/**
 * A status in words (`words[status]`, else the status itself), marked for styling.
 * @param {string} status
 * @param {Record<string, string>} words
 */
export function badge(status, words) {
  return h("span", { class: `badge badge-${status}` }, words[status] ?? status);
}

/**
 * A table with a caption (its accessible name) and column headers; `empty` when no rows.
 * @param {string} caption
 * @param {string[]} headers
 * @param {Node[]} rows
 * @param {string} empty what to say when there are no rows
 * @param {string} [className] the table's classes
 */
export function table(caption, headers, rows, empty, className = "table") {
  if (rows.length === 0) return h("p", { class: "empty" }, empty);
  return h(
    "table",
    { class: className },
    h("caption", { class: "sr-only" }, caption),
    h("thead", null, h("tr", null, headers.map((text) => h("th", { scope: "col" }, text)))),
    h("tbody", null, rows),
  );
}

/** Usernames by account id: the caller's own, and — for an admin — every account's. */
const known = new Map();
let listedAt = 0;

/**
 * Makes sure `ids` can be named: an admin lists the accounts (at most every 5 s); anyone
 * else can name only themselves (countersign has no username lookup for others yet).
 * @param {App} app
 * @param {(string | null | undefined)[]} ids
 */
export async function learnNames(app, ids) {
  known.set(app.me.account.id, app.me.account.username);
  const missing = ids.some((id) => id && !known.has(id));
  if (!missing || !isAdmin(app) || Date.now() - listedAt < 5000) return;
  listedAt = Date.now();
  let cursor = null;
  for (let page = 0; page < 10; page++) {
    const listed = await app.client.get("account_list", { limit: 500, cursor });
    for (const account of listed.accounts) known.set(account.id, account.username);
    cursor = listed.next_cursor;
    if (!cursor) break;
  }
}

/**
 * An account in words: "you", its username when known (or given, e.g. by a request's
 * decisions), else "account 0190ab12…".
 * @param {App} app
 * @param {string | null | undefined} id
 * @param {string | null} [username]
 */
export function accountName(app, id, username = null) {
  if (!id) return "someone";
  if (id === app.me?.account.id) return "you";
  return username ?? known.get(id) ?? `account ${id.slice(0, 8)}…`;
}
