// @ts-check
// One request (`#/requests/<id>`, docs/protocol.md §7.2–7.6): everything a user needs to judge
// it — amounts, status in words, "1 of 2 approvals" and the decisions, confirmation, execution,
// the cancel deadline — and the acts its state and the caller's permissions allow at its
// scope: Confirm, Approve / Reject, admin Bypass, Execute now (typed confirmation), Cancel,
// Retry. The server still decides; a refusal shows its message here. Live on request_*
// notifications about this request.

import { h, mount } from "../dom.js";
import { timeElement } from "../words.js";
import {
  askDialog, executeWithConfirmation, isAdminAt, money, notificationRequestId, onRequestNotifications, statusBadge, who,
} from "./request_common.js";

/** @typedef {import("../../../typescript/src/generated.ts").Request} Request */

/**
 * @param {any} app
 * @param {string} id
 */
export async function renderRequestDetail(app, id) {
  const root = h("section", { class: "requests-page request-detail", "aria-labelledby": "request-heading" });
  /** @type {{ allow_self_approval?: boolean } | null} */
  let policy = null;
  const load = async () => {
    try {
      const { request } = await app.client.get("request_get", { request_id: id });
      if (policy === null) policy = await currentPolicy(app, request);
      show(request);
    } catch (error) {
      mount(root, h("h1", { id: "request-heading" }, "Request"), app.errorBox(error), h("p", null, h("a", { href: "#/requests" }, "Back to requests")));
    }
  };
  /** @param {Request} request */
  const show = (request) => {
    const message = h("div", { class: "form-message" });
    mount(
      root,
      h("p", { class: "breadcrumb" }, h("a", { href: "#/requests" }, "Requests")),
      h("h1", { id: "request-heading" }, request.title),
      h("p", { class: "request-status" }, "Status: ", statusBadge(request.status)),
      cancelWindow(request),
      facts(app, request),
      decisions(request),
      execution(request),
      actions(app, request, policy, message, show),
      message,
    );
  };
  onRequestNotifications(app, root, (notification) => {
    if (notification.type === "resync_required" || notificationRequestId(notification) === id) void load();
  });
  await load();
  return root;
}

/**
 * The policy in force now at the request's scope (a hint for whether its requester may vote).
 * @param {any} app
 * @param {Request} request
 */
async function currentPolicy(app, request) {
  try {
    return (await app.client.call("policy_get", { scope_id: request.scope_id, kind: request.kind })).policy;
  } catch {
    return {};
  }
}

/** @param {Request} request */
function cancelWindow(request) {
  if (!request.cancel_until) return null;
  const open = new Date(request.cancel_until).getTime() > Date.now() && request.status === "executed";
  return h(
    "p",
    { class: open ? "callout callout-info cancel-window" : "cancel-window cancel-closed" },
    open ? ["Can be cancelled until ", timeElement(request.cancel_until), "."] : ["The cancel window closed at ", timeElement(request.cancel_until), "."],
  );
}

/**
 * @param {any} app
 * @param {Request} request
 */
function facts(app, request) {
  /** @type {[string, import("../dom.js").Child][]} */
  const rows = [
    ["Kind", request.kind],
    ["Scope", request.scope_id],
    ["Amount", money(request)],
    ["Requested by", who(app, request, request.requested_by)],
    ["Created", timeElement(request.created_at)],
    ["Expires", timeElement(request.expires_at)],
    ["Rejections", String(request.approvals.rejected)],
  ];
  if (request.percentage) rows.splice(3, 0, ["Percentage", `${request.percentage}%`]);
  if (request.confirmed_at) rows.push(["Confirmed", [timeElement(request.confirmed_at), " by ", who(app, request, request.confirmed_by)]]);
  if (request.bypassed_by) rows.push(["Bypassed by", who(app, request, request.bypassed_by)]);
  if (request.executed_at || request.executed_by) {
    rows.push(["Executed", [timeElement(request.executed_at), request.executed_by ? [" by ", who(app, request, request.executed_by)] : " after approval"]]);
  }
  if (request.pre_approval_skip_reason) rows.push(["Approval skipped", request.pre_approval_skip_reason]);
  if (request.cancelled_at) {
    rows.push(["Cancelled", [timeElement(request.cancelled_at), " by ", who(app, request, request.cancelled_by)]]);
    if (request.cancel_reason) rows.push(["Cancel reason", request.cancel_reason]);
  }
  const payload = JSON.stringify(request.payload ?? {}, null, 2);
  if (payload !== "{}") rows.push(["Payload", h("pre", { class: "payload" }, payload)]);
  return h("dl", { class: "request-facts" }, rows.map(([label, value]) => [h("dt", null, label), h("dd", null, value)]));
}

/** @param {Request} request */
function decisions(request) {
  const list = request.approvals.decisions ?? [];
  return h(
    "section",
    { class: "decisions", "aria-labelledby": "decisions-heading" },
    h("h2", { id: "decisions-heading" }, "Decisions"),
    h("p", { class: "approval-count" }, `${request.approvals.approved} of ${request.approvals.required} approvals`),
    list.length === 0
      ? h("p", { class: "empty" }, "No decisions yet.")
      : h(
          "table",
          { class: "table decisions-table" },
          h("thead", null, h("tr", null, ["Who", "Decision", "Comment", "When"].map((name) => h("th", { scope: "col" }, name)))),
          h(
            "tbody",
            null,
            list.map((d) =>
              h(
                "tr",
                null,
                h("td", null, d.username),
                h("td", null, h("span", { class: `decision decision-${d.decision}` }, d.decision === "approve" ? "Approved" : "Rejected")),
                h("td", null, d.comment ?? "—"),
                h("td", null, timeElement(d.decided_at)),
              ),
            ),
          ),
        ),
  );
}

/** @param {Request} request */
function execution(request) {
  const run = request.execution;
  if (!run) return null;
  return h(
    "section",
    { class: "execution", "aria-labelledby": "execution-heading" },
    h("h2", { id: "execution-heading" }, "Execution"),
    h(
      "dl",
      { class: "request-facts" },
      h("dt", null, "Attempts"),
      h("dd", null, String(run.attempts)),
      h("dt", null, "Latest started"),
      h("dd", null, timeElement(run.started_at)),
      h("dt", null, "Last error"),
      h("dd", null, run.last_error ?? "none"),
    ),
  );
}

/**
 * The acts this request's state and the caller's permissions at its scope allow.
 * @param {any} app
 * @param {Request} request
 * @param {{ allow_self_approval?: boolean } | null} policy
 * @param {HTMLElement} message
 * @param {(request: Request) => void} show
 */
function actions(app, request, policy, message, show) {
  const { kind, scope_id: scope, status } = request;
  const own = request.requested_by === app.me?.account?.id;
  const can = (/** @type {string} */ verb) => app.can(kind, verb, scope);
  const admin = isAdminAt(app, scope);
  const waiting = status === "awaiting_confirmation" || status === "pending_approval";
  const cancelOpen = status === "executed" && request.cancel_until && new Date(request.cancel_until).getTime() > Date.now();
  /**
   * Runs an act; shows the new state, or the server's refusal.
   * @param {string} done
   * @param {() => Promise<Request | null>} act
   */
  const run = async (done, act) => {
    mount(message);
    try {
      const updated = await act();
      if (!updated) return;
      show(updated);
      app.announce?.(done);
    } catch (error) {
      mount(message, app.errorBox(error));
    }
  };
  const call = async (/** @type {string} */ method, /** @type {Record<string, unknown>} */ params) =>
    (await app.client.call(method, { request_id: request.id, ...params })).request;

  const buttons = [];
  if (status === "awaiting_confirmation" && (own || can("confirm-any"))) {
    buttons.push(h("button", { type: "button", class: "btn btn-primary", onclick: () => run("Confirmed.", () => call("request_confirm", {})) }, "Confirm"));
  }
  const mayVote = status === "pending_approval" && can("approve") && (!own || admin || policy?.allow_self_approval === true);
  /** @type {HTMLTextAreaElement | null} */
  let comment = null;
  if (mayVote) {
    comment = /** @type {HTMLTextAreaElement} */ (h("textarea", { id: "decision-comment", maxlength: "500", rows: "2" }));
    const text = () => comment?.value.trim() || undefined;
    buttons.push(
      h("button", { type: "button", class: "btn btn-primary", onclick: () => run("Approved.", () => call("request_approve", { comment: text() })) }, "Approve"),
      h("button", { type: "button", class: "btn btn-danger", onclick: () => run("Rejected.", () => call("request_reject", { comment: text() })) }, "Reject"),
    );
  }
  if (status === "pending_approval" && own && admin) {
    buttons.push(h("button", { type: "button", class: "btn btn-danger", onclick: () => bypass(app, request, run, call) }, "Bypass"));
  }
  if (waiting && (can("execute-any") || (own && can("execute-own")))) {
    const execute = () =>
      run("Executed.", () => executeWithConfirmation(app, (confirm) => app.client.call("request_execute", confirm ? { request_id: request.id, confirm } : { request_id: request.id })));
    buttons.push(h("button", { type: "button", class: "btn btn-danger", onclick: execute }, "Execute now"));
  }
  const cancellable = waiting || status === "approved" || cancelOpen;
  if (cancellable && (can("cancel-any") || (own && can("cancel-own")))) {
    buttons.push(h("button", { type: "button", class: "btn", onclick: () => cancel(app, request, run, call) }, status === "executed" ? "Cancel (undo)" : "Cancel request"));
  }
  if (status === "failed" && (can("retry-any") || (own && can("retry-own")))) {
    buttons.push(h("button", { type: "button", class: "btn", onclick: () => run("Retrying.", () => call("request_retry", {})) }, "Retry"));
  }
  if (buttons.length === 0) return null;
  return h(
    "section",
    { class: "request-actions", "aria-labelledby": "actions-heading" },
    h("h2", { id: "actions-heading" }, "Actions"),
    comment && h("div", { class: "form-row" }, h("label", { for: "decision-comment" }, "Comment (optional)"), comment),
    h("div", { class: "button-row" }, buttons),
  );
}

/**
 * @param {any} app
 * @param {Request} request
 * @param {(done: string, act: () => Promise<Request | null>) => Promise<void>} run
 * @param {(method: string, params: Record<string, unknown>) => Promise<Request>} call
 */
function bypass(app, request, run, call) {
  /** @type {Request | null} */
  let result = null;
  return run("Approved by bypass.", async () => {
    const done = await askDialog(app, {
      title: "Bypass the approval?",
      intro: [
        "Warning: this approves your own request at once, without anyone else's approval.",
        `The policy asks for ${request.approvals.required} approval(s) by others; the bypass is recorded under your name.`,
      ],
      field: "Comment (optional)",
      actionLabel: "Bypass and approve",
      act: async (text) => {
        result = await call("request_approve", { bypass: true, comment: text || undefined });
      },
    });
    return done ? result : null;
  });
}

/**
 * @param {any} app
 * @param {Request} request
 * @param {(done: string, act: () => Promise<Request | null>) => Promise<void>} run
 * @param {(method: string, params: Record<string, unknown>) => Promise<Request>} call
 */
function cancel(app, request, run, call) {
  /** @type {Request | null} */
  let result = null;
  const deadline = request.status === "executed" && request.cancel_until
    ? ["It already ran: cancelling undoes it. This is possible until ", timeElement(request.cancel_until), "."]
    : "It has not run yet: cancelling stops it for good.";
  return run("Cancelled.", async () => {
    const done = await askDialog(app, {
      title: "Cancel this request?",
      intro: [h("span", null, deadline)],
      field: "Reason (optional)",
      actionLabel: "Yes, cancel the request",
      act: async (text) => {
        result = await call("request_cancel", { reason: text || undefined });
      },
    });
    return done ? result : null;
  });
}
