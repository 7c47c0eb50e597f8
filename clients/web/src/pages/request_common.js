// @ts-check
// What the requests screens share: statuses in words, money as the server's decimal strings,
// times, who someone is, which action kinds the caller can reach, and the typed-confirmation
// dialog that guards every direct execution (docs/protocol.md §7.5: `confirmation_required`
// carries the warning the UI must show and the phrase to type).

import { h } from "../dom.js";
import { accountName, badge } from "../words.js";

/** @typedef {import("../../../typescript/src/generated.ts").Request} Request */

/** @type {Record<string, string>} */
export const STATUS_WORDS = {
  awaiting_confirmation: "Awaiting confirmation",
  pending_approval: "Waiting for approval",
  approved: "Approved",
  executing: "Running",
  executed: "Executed",
  failed: "Failed",
  cancelled: "Cancelled",
  expired: "Expired",
  rejected: "Rejected",
  revoked: "Revoked (undone after running)",
};

/** The verbs on an action kind (§7.5): a map key holding one of these names a kind. */
export const KIND_VERBS = [
  "create", "view-own", "view-any", "confirm-any", "approve", "execute-own", "execute-any",
  "cancel-own", "cancel-any", "retry-own", "retry-any",
];

/**
 * A status in words (the words carry the meaning; the class only repeats it in colour).
 * @param {string} status
 */
export function statusBadge(status) {
  return badge(status, STATUS_WORDS);
}

/**
 * Money exactly as the server sent it (a decimal string; never turned into a float).
 * @param {{ amount?: string | null, currency?: string | null }} value
 */
export function money({ amount, currency }) {
  if (amount === null || amount === undefined) return "—";
  return currency ? `${amount} ${currency}` : amount;
}

/**
 * Whether the caller holds admin at `scope` (admin at or above it shows as `*` in the map).
 * @param {any} app
 * @param {string} scope
 */
export function isAdminAt(app, scope) {
  return app.can("*", "*", scope);
}

/**
 * Whether any permit lets the caller act on or see requests of some kind, anywhere.
 * @param {Record<string, string[]>} permissions
 */
export function holdsAnyKindVerb(permissions) {
  return Object.values(permissions).some((verbs) => verbs.includes("*") || verbs.some((verb) => KIND_VERBS.includes(verb)));
}

/**
 * The kinds the permissions map names with `verb` (admin's `*` names none: ask policy_list).
 * @param {Record<string, string[]>} permissions
 * @param {string} verb
 */
export function kindsFromMap(permissions, verb) {
  const kinds = new Set();
  for (const [key, verbs] of Object.entries(permissions)) {
    const resource = key.split("/")[0];
    if (resource !== "*" && verbs.includes(verb)) kinds.add(resource);
  }
  return [...kinds].sort();
}

/**
 * Every configured kind, as `policy_list` names them at `scope` (null when it cannot be read).
 * @param {any} app
 * @param {string} scope
 * @returns {Promise<string[] | null>}
 */
export async function kindsAt(app, scope) {
  try {
    // POST: a scope the caller cannot read is answered 200 with an error, not a console-logged 403.
    const { policies } = await app.client.call("policy_list", { scope_id: scope });
    return policies.map((/** @type {{kind: string}} */ entry) => entry.kind);
  } catch {
    return null;
  }
}

/**
 * Who an account is, as far as the request tells: "you", a voter's name, else its id.
 * @param {any} app
 * @param {Request} request
 * @param {string | null | undefined} accountId
 */
export function who(app, request, accountId) {
  if (!accountId) return "—";
  const voter = request.approvals?.decisions?.find((decision) => decision.account_id === accountId);
  return accountName(app, accountId, voter?.username ?? null);
}

/**
 * Whether `error` is the server asking for the typed confirmation (§2, code -32011).
 * @param {any} error
 */
export function isConfirmationRequired(error) {
  return error?.code === -32011 || error?.reason === "confirmation_required";
}

/**
 * Runs a direct execution the way the contract asks: `attempt(undefined)` first; when the
 * server answers `confirmation_required`, a dialog shows its summary in a danger callout and
 * asks for the phrase, and `attempt(phrase)` runs when the user presses Execute. Resolves
 * with the request, or null when the user closed the dialog. Other errors are thrown.
 * @param {any} app
 * @param {(confirm: string | undefined) => Promise<{ request: Request }>} attempt
 * @returns {Promise<Request | null>}
 */
export async function executeWithConfirmation(app, attempt) {
  try {
    return (await attempt(undefined)).request;
  } catch (error) {
    if (!isConfirmationRequired(error)) throw error;
    return confirmDialog(app, /** @type {any} */ (error).data ?? {}, attempt);
  }
}

/**
 * @param {any} app
 * @param {{ phrase?: string, summary?: string, amount?: string | null, currency?: string | null, cancel_window_hours?: number }} data
 * @param {(confirm: string | undefined) => Promise<{ request: Request }>} attempt
 * @returns {Promise<Request | null>}
 */
function confirmDialog(app, data, attempt) {
  const phrase = data.phrase ?? "EXECUTE";
  const inputId = `confirm-phrase-${Math.random().toString(36).slice(2)}`;
  const input = /** @type {HTMLInputElement} */ (h("input", { id: inputId, type: "text", autocomplete: "off", spellcheck: "false", class: "confirm-phrase" }));
  const body = h(
    "div",
    { class: "execute-confirmation" },
    h("div", { class: "callout callout-danger", role: "note" }, h("strong", null, "Warning: "), data.summary ?? "This runs at once."),
    data.amount ? h("p", null, "Amount: ", h("strong", null, money(data))) : null,
    h("label", { for: inputId }, `Type ${phrase} to confirm`),
    input,
  );
  return new Promise((resolve) => {
    let done = false;
    const finish = (/** @type {Request | null} */ value) => {
      if (!done) resolve(value);
      done = true;
    };
    const opened = app.dialog({
      title: "Execute now?",
      body,
      actions: [
        {
          label: "Execute",
          kind: "danger",
          onclick: async () => {
            if (input.value !== phrase) throw new Error(`Type ${phrase} exactly to confirm.`);
            finish((await attempt(phrase)).request);
            return true;
          },
        },
      ],
    });
    watchExecuteButton(body, input, phrase);
    whenClosed(body, opened, () => finish(null));
  });
}

/**
 * Keeps the dialog's Execute button disabled until the typed text is the phrase.
 * @param {HTMLElement} body
 * @param {HTMLInputElement} input
 * @param {string} phrase
 */
function watchExecuteButton(body, input, phrase) {
  const dialog = body.closest("dialog");
  const button = dialog && [...dialog.querySelectorAll("button")].find((b) => b.textContent?.trim() === "Execute");
  if (!button) return;
  const update = () => {
    button.disabled = input.value !== phrase;
  };
  input.addEventListener("input", update);
  update();
}

/**
 * Calls `closed` once the dialog holding `body` closes (whatever `app.dialog` returned).
 * @param {HTMLElement} body
 * @param {any} opened
 * @param {() => void} closed
 */
function whenClosed(body, opened, closed) {
  const dialog = body.closest("dialog");
  if (dialog) dialog.addEventListener("close", () => setTimeout(closed, 0), { once: true });
  else if (opened && typeof opened.then === "function") opened.then(() => setTimeout(closed, 0), () => setTimeout(closed, 0));
}

/**
 * A dialog asking "are you sure", with an optional text field; resolves with the field's value
 * after `act(value)` succeeded, or null when closed.
 * @param {any} app
 * @param {{ title: string, intro: (Node | string)[], field?: string, actionLabel: string, act: (value: string) => Promise<unknown> }} options
 * @returns {Promise<boolean>}
 */
export function askDialog(app, { title, intro, field, actionLabel, act }) {
  const fieldId = `ask-${Math.random().toString(36).slice(2)}`;
  const textarea = /** @type {HTMLTextAreaElement} */ (h("textarea", { id: fieldId, maxlength: "500", rows: "3" }));
  const body = h("div", null, ...intro.map((line) => h("p", null, line)), field ? [h("label", { for: fieldId }, field), textarea] : null);
  return new Promise((resolve) => {
    let done = false;
    const finish = (/** @type {boolean} */ value) => {
      if (!done) resolve(value);
      done = true;
    };
    const opened = app.dialog({
      title,
      body,
      actions: [
        {
          label: actionLabel,
          kind: "danger",
          onclick: async () => {
            await act(textarea.value.trim());
            finish(true);
            return true;
          },
        },
      ],
    });
    whenClosed(body, opened, () => finish(false));
  });
}

/**
 * Calls `listener` for each request_* notification (and a resync_required: the stream could not
 * be resumed, reload) while `root` is on the page; stops
 * listening once `root` has left it (the shell replaced the page).
 * @param {any} app
 * @param {HTMLElement} root
 * @param {(notification: { type: string, data: any }) => void} listener
 */
export function onRequestNotifications(app, root, listener) {
  if (typeof app.onNotification !== "function") return;
  let seen = false;
  /** @type {() => void} */
  let unsubscribe = () => {};
  const check = () => {
    if (root.isConnected) seen = true;
    else if (seen) unsubscribe();
    return root.isConnected;
  };
  unsubscribe = app.onNotification((/** @type {{ type: string, data: any }} */ notification) => {
    const relevant = notification.type?.startsWith("request_") || notification.type === "resync_required";
    if (!check() || !relevant) return;
    listener(notification);
  }) ?? (() => {});
  setTimeout(check, 0);
}

/**
 * The request id a request_* notification is about.
 * @param {{ data: any }} notification
 */
export function notificationRequestId(notification) {
  return notification.data?.request?.id ?? notification.data?.request_id ?? null;
}
