// ../typescript/src/client.js
function hasPermission(permissions, resource, verb, scope) {
  return Object.entries(permissions).some(([key, verbs]) => {
    const slash = key.indexOf("/");
    const heldResource = slash < 0 ? key : key.slice(0, slash);
    const heldScope = slash < 0 ? null : key.slice(slash + 1);
    const covers = heldScope === null || scope !== void 0 && (scope === heldScope || scope.startsWith(`${heldScope}/`));
    return (heldResource === resource || heldResource === "*") && covers && (verbs.includes(verb) || verbs.includes("*"));
  });
}
var CountersignError = class extends Error {
  /** @param {{ code: number, message: string, data?: { reason?: string } & Record<string, unknown> }} error */
  constructor(error) {
    super(error.message);
    this.name = "CountersignError";
    this.code = error.code;
    this.reason = error.data?.reason ?? null;
    this.data = error.data ?? {};
  }
};
function createClient({ url, token, fetch: send = globalThis.fetch }) {
  const base = url.replace(/\/+$/, "");
  let nextId2 = 0;
  async function answer(response) {
    const body = await response.json();
    if (body.error) throw new CountersignError(body.error);
    return body.result;
  }
  function withAuth(headers) {
    return token ? { ...headers, authorization: `Bearer ${token}` } : headers;
  }
  async function call(method, params) {
    const body = JSON.stringify({ jsonrpc: "2.0", id: ++nextId2, method, params: params ?? {} });
    const headers = withAuth({ "content-type": "application/json" });
    return answer(await send(`${base}/rpc`, { method: "POST", headers, body, credentials: "include" }));
  }
  async function get(method, params) {
    const query = new URLSearchParams({ params: JSON.stringify(params ?? {}), id: String(++nextId2) });
    const headers = withAuth({});
    return answer(await send(`${base}/rpc/${method}?${query}`, { headers, credentials: "include" }));
  }
  const methods = (
    /** @type {MethodFunctions} */
    new Proxy({}, { get: (_, method) => (params) => call(
      /** @type {any} */
      method,
      params
    ) })
  );
  return {
    call,
    get,
    methods,
    /** @param {{ WebSocket?: typeof WebSocket }} [options] */
    connect: (options) => connect({ url: base, token, ...options }),
    /** @param {Omit<SubscribeOptions, "url" | "token">} options */
    subscribe: (options) => subscribe({ url: base, token, ...options })
  };
}
function connect({ url, token, WebSocket: Socket }) {
  const ws = new (Socket ?? globalThis.WebSocket)(`${url.replace(/^http/, "ws")}/ws`);
  const waiting = /* @__PURE__ */ new Map();
  let nextId2 = 0;
  const opened = new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new CountersignError({ code: -32007, message: "The socket could not open.", data: { reason: "socket_closed" } }));
  });
  const call = async (method, params) => {
    await opened;
    const id = ++nextId2;
    const answered = new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
    ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params: params ?? {} }));
    return answered;
  };
  ws.onmessage = (event) => {
    const message = JSON.parse(String(event.data));
    const caller = waiting.get(message.id);
    if (!caller) return;
    waiting.delete(message.id);
    if (message.error) caller.reject(new CountersignError(message.error));
    else caller.resolve(message.result);
  };
  ws.onclose = () => {
    for (const caller of waiting.values()) {
      caller.reject(new CountersignError({ code: -32007, message: "The socket closed.", data: { reason: "socket_closed" } }));
    }
    waiting.clear();
  };
  const signedIn = token ? call("session_authenticate", { token }) : Promise.resolve(null);
  return {
    /** Who the socket calls as (`null` without a token). */
    signedIn,
    call,
    close: () => ws.close()
  };
}
function subscribe({ url, token, after, onNotification, onResync, onError, WebSocket: Socket, fetch: send }) {
  const WS = Socket ?? globalThis.WebSocket;
  let last = after;
  let stopped = false;
  let failures = 0;
  let socket;
  const end = (error) => {
    stopped = true;
    socket?.close();
    onError?.(error);
  };
  const open = () => {
    const ws = new WS(`${url.replace(/^http/, "ws")}/ws`);
    socket = ws;
    ws.onopen = () => {
      if (token) ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "session_authenticate", params: { token } }));
      ws.send(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "notifications_subscribe", params: { after: last ?? null } }));
    };
    ws.onmessage = (event) => {
      const message = JSON.parse(String(event.data));
      if (message.error) return end(new CountersignError(message.error));
      if (message.id === 2) failures = 0;
      if (message.method !== "notification") return;
      const pushed = message.params.result;
      if (pushed.type === "resync_required") return onResync?.(pushed);
      if (pushed.type === "session_revoked") return;
      if (last !== void 0 && pushed.seq <= last) return;
      last = pushed.seq;
      onNotification(pushed);
    };
    let retried = false;
    const retry = () => {
      if (stopped || retried) return;
      retried = true;
      const wait = Math.min(3e4, 250 * 2 ** failures++) * (1 + Math.random() / 2);
      setTimeout(() => stopped || open(), wait);
    };
    ws.onerror = retry;
    ws.onclose = (event) => {
      if (event.code === 4001 && !stopped) {
        return end(new CountersignError({ code: -32001, message: "The credential was revoked.", data: { reason: "session_revoked" } }));
      }
      retry();
    };
  };
  const head = async () => {
    const query = new URLSearchParams({ params: JSON.stringify({ limit: 1 }), id: "0" });
    const headers = token ? { authorization: `Bearer ${token}` } : void 0;
    const response = await (send ?? globalThis.fetch)(`${url}/rpc/notifications_list?${query}`, { headers, credentials: "include" });
    const body = await response.json();
    if (body.error) throw new CountersignError(body.error);
    return body.result.head_seq;
  };
  if (last === void 0) {
    head().then((seq) => {
      last = seq;
      open();
    }, (error) => error instanceof CountersignError ? end(error) : open());
  } else {
    open();
  }
  return {
    /** Stops for good. */
    close() {
      stopped = true;
      socket?.close();
    },
    /** The last `seq` delivered (resume from it in a later session). */
    get lastSeq() {
      return last;
    }
  };
}

// src/dom.js
function h(tag, props, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === void 0 || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2), value);
    else if (key === "value" && "value" in element) element.value = value;
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}
function append(parent, children) {
  for (const child of children) {
    if (child === null || child === void 0 || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}
function mount(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
}

// src/pages/signin.js
function renderSignIn({ client: client2, errorBox: errorBox2, message, onSignedIn }) {
  const username = h("input", { id: "signin-username", name: "username", autocomplete: "username", required: true });
  const password = h("input", {
    id: "signin-password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true
  });
  const errors = h("div", { class: "form-errors" });
  const submit = (
    /** @type {HTMLButtonElement} */
    h("button", { type: "submit", class: "btn btn-primary" }, "Sign in")
  );
  const signIn = async (event) => {
    event.preventDefault();
    mount(errors);
    submit.disabled = true;
    submit.textContent = "Signing in\u2026";
    try {
      await client2.call("account_login", {
        username: (
          /** @type {HTMLInputElement} */
          username.value
        ),
        password: (
          /** @type {HTMLInputElement} */
          password.value
        )
      });
    } catch (error) {
      mount(errors, errorBox2(error));
      submit.disabled = false;
      submit.textContent = "Sign in";
      password.select();
      return;
    }
    await onSignedIn();
  };
  return h(
    "main",
    { class: "signin" },
    h(
      "form",
      { class: "card signin-card", onsubmit: signIn, "aria-labelledby": "signin-title" },
      h("p", { class: "brand brand-large" }, "countersign"),
      h("h1", { id: "signin-title" }, "Sign in"),
      message && h("p", { class: "callout callout-info", role: "status" }, message),
      h("div", { class: "field" }, h("label", { for: "signin-username" }, "Username"), username),
      h("div", { class: "field" }, h("label", { for: "signin-password" }, "Password"), password),
      errors,
      h("div", { class: "form-actions" }, submit)
    )
  );
}

// src/words.js
function isAdmin(app2) {
  return (app2.me?.permissions?.["*"] ?? []).includes("*");
}
function scopeText(scope) {
  return scope ? `at ${scope}` : "everywhere (global)";
}
function timeText(time) {
  if (!time) return "\u2014";
  return new Date(time).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
}
function timeElement(time) {
  return time ? h("time", { datetime: time }, timeText(time)) : "\u2014";
}
function badge(status, words) {
  return h("span", { class: `badge badge-${status}` }, words[status] ?? status);
}
function table(caption, headers, rows, empty, className = "table") {
  if (rows.length === 0) return h("p", { class: "empty" }, empty);
  return h(
    "table",
    { class: className },
    h("caption", { class: "sr-only" }, caption),
    h("thead", null, h("tr", null, headers.map((text) => h("th", { scope: "col" }, text)))),
    h("tbody", null, rows)
  );
}
var known = /* @__PURE__ */ new Map();
var listedAt = 0;
async function learnNames(app2, ids) {
  known.set(app2.me.account.id, app2.me.account.username);
  const missing = ids.some((id) => id && !known.has(id));
  if (!missing || !isAdmin(app2) || Date.now() - listedAt < 5e3) return;
  listedAt = Date.now();
  let cursor = null;
  for (let page7 = 0; page7 < 10; page7++) {
    const listed = await app2.client.get("account_list", { limit: 500, cursor });
    for (const account of listed.accounts) known.set(account.id, account.username);
    cursor = listed.next_cursor;
    if (!cursor) break;
  }
}
function accountName(app2, id, username = null) {
  if (!id) return "someone";
  if (id === app2.me?.account.id) return "you";
  return username ?? known.get(id) ?? `account ${id.slice(0, 8)}\u2026`;
}

// src/pages/inbox.js
var RECENT = 100;
var capital = (text) => text.charAt(0).toUpperCase() + text.slice(1);
function describe(app2, n) {
  const data = n.data ?? {};
  const offer = data.offer;
  const toOffers = { href: "#/offers", label: "Open offers" };
  if (offer) {
    const what = `the role ${offer.role} ${scopeText(offer.scope_id)}`;
    const from = accountName(app2, offer.from_account_id);
    const to = accountName(app2, offer.to_account_id);
    const texts = (
      /** @type {Record<string, string>} */
      {
        permit_offer_received: `${from} offered you ${what}${data.renewed ? " (renewed)" : ""}${offer.message ? `: \u201C${offer.message}\u201D` : ""}`,
        permit_offer_retracted: `${from} retracted the offer of ${what}`,
        permit_offer_accepted: `${to} accepted your offer of ${what}`,
        permit_offer_declined: `${to} declined your offer of ${what}${offer.decline_reason ? `: \u201C${offer.decline_reason}\u201D` : ""}`,
        permit_offer_superseded: `Your offer of ${what} to ${to} was superseded${offer.superseded_reason === "sibling_accepted" ? " (another offer of it was accepted)" : offer.superseded_reason === "permit_revoked" ? " (the permit was revoked)" : ""}`,
        permit_offer_expired: `The offer of ${what} ${offer.from_account_id === app2.me.account.id ? `to ${to}` : `from ${from}`} expired`
      }
    );
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
  const title = request ? `Request \u201C${request.title}\u201D` : "A request";
  if (n.type === "request_decision") {
    const voted = data.decision === "approve" ? "approved" : "rejected";
    return { text: `${capital(accountName(app2, data.by))} ${voted} your request${data.comment ? `: \u201C${data.comment}\u201D` : ""}`, link: toRequest };
  }
  const requestTexts = (
    /** @type {Record<string, string>} */
    {
      request_approval_needed: `${title} needs your approval`,
      request_approved: `${title} was approved`,
      request_rejected: `${title} was rejected`,
      request_executed: data.direct ? `${title} was executed directly, skipping approval${data.cancel_until ? `; it can be cancelled until ${timeText(data.cancel_until)}` : ""}` : `${title} was executed`,
      request_failed: `${title} failed${request?.execution?.last_error ? `: ${request.execution.last_error}` : ""}`,
      request_cancelled: `${title} was cancelled`,
      request_revoked: `${title} was revoked (cancelled after it ran)`,
      request_expired: `${title} expired`
    }
  );
  if (requestTexts[n.type]) return { text: requestTexts[n.type], link: toRequest };
  return { text: `Notification \u201C${n.type}\u201D`, link: null };
}
function item(app2, n) {
  const { text, link } = describe(app2, n);
  return h(
    "li",
    { class: "note", "data-type": n.type },
    h("p", { class: "note-text" }, text),
    h("p", { class: "note-meta" }, timeElement(n.created_at), link && [" \xB7 ", h("a", { href: link.href }, link.label)])
  );
}
var page = {
  id: "inbox",
  title: "Inbox",
  visible: () => true,
  /** @param {App} app */
  async render(app2) {
    const shown2 = /* @__PURE__ */ new Map();
    const list = h("ol", { class: "notes", "aria-label": "Notifications, newest first" });
    const errors = h("div");
    const draw = async () => {
      const all = [...shown2.values()].sort((a, b) => b.seq - a.seq).slice(0, RECENT * 2);
      try {
        await learnNames(app2, all.flatMap((n) => [n.data?.offer?.from_account_id, n.data?.offer?.to_account_id, n.data?.by]));
      } catch {
      }
      if (all.length === 0) mount(list, h("li", { class: "note note-empty" }, "No notifications yet. New ones appear here as they happen."));
      else mount(list, all.map((n) => item(app2, n)));
    };
    const load = async () => {
      const { head_seq } = await app2.client.get("notifications_list", { limit: 1 });
      const recent = await app2.client.get("notifications_list", { after: Math.max(0, head_seq - RECENT), limit: RECENT });
      for (const n of recent.notifications) shown2.set(n.seq, n);
    };
    app2.onNotification((n) => {
      if (n.type === "resync_required") {
        shown2.clear();
        load().then(draw, (error) => mount(errors, app2.errorBox(error)));
      } else if (typeof n.seq === "number" && !shown2.has(n.seq)) {
        shown2.set(
          n.seq,
          /** @type {Notification} */
          n
        );
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
      list
    );
  }
};

// src/pages/request_common.js
var STATUS_WORDS = {
  awaiting_confirmation: "Awaiting confirmation",
  pending_approval: "Waiting for approval",
  approved: "Approved",
  executing: "Running",
  executed: "Executed",
  failed: "Failed",
  cancelled: "Cancelled",
  expired: "Expired",
  rejected: "Rejected",
  revoked: "Revoked (undone after running)"
};
var KIND_VERBS = [
  "create",
  "view-own",
  "view-any",
  "confirm-any",
  "approve",
  "execute-own",
  "execute-any",
  "cancel-own",
  "cancel-any",
  "retry-own",
  "retry-any"
];
function statusBadge(status) {
  return badge(status, STATUS_WORDS);
}
function money({ amount, currency }) {
  if (amount === null || amount === void 0) return "\u2014";
  return currency ? `${amount} ${currency}` : amount;
}
function isAdminAt(app2, scope) {
  return app2.can("*", "*", scope);
}
function holdsAnyKindVerb(permissions) {
  return Object.values(permissions).some((verbs) => verbs.includes("*") || verbs.some((verb) => KIND_VERBS.includes(verb)));
}
function kindsFromMap(permissions, verb) {
  const kinds = /* @__PURE__ */ new Set();
  for (const [key, verbs] of Object.entries(permissions)) {
    const resource = key.split("/")[0];
    if (resource !== "*" && verbs.includes(verb)) kinds.add(resource);
  }
  return [...kinds].sort();
}
async function kindsAt(app2, scope) {
  try {
    const { policies } = await app2.client.call("policy_list", { scope_id: scope });
    return policies.map((entry) => entry.kind);
  } catch {
    return null;
  }
}
function who(app2, request, accountId) {
  if (!accountId) return "\u2014";
  const voter = request.approvals?.decisions?.find((decision) => decision.account_id === accountId);
  return accountName(app2, accountId, voter?.username ?? null);
}
function isConfirmationRequired(error) {
  return error?.code === -32011 || error?.reason === "confirmation_required";
}
async function executeWithConfirmation(app2, attempt) {
  try {
    return (await attempt(void 0)).request;
  } catch (error) {
    if (!isConfirmationRequired(error)) throw error;
    return confirmDialog(
      app2,
      /** @type {any} */
      error.data ?? {},
      attempt
    );
  }
}
function confirmDialog(app2, data, attempt) {
  const phrase = data.phrase ?? "EXECUTE";
  const inputId = `confirm-phrase-${Math.random().toString(36).slice(2)}`;
  const input = (
    /** @type {HTMLInputElement} */
    h("input", { id: inputId, type: "text", autocomplete: "off", spellcheck: "false", class: "confirm-phrase" })
  );
  const body = h(
    "div",
    { class: "execute-confirmation" },
    h("div", { class: "callout callout-danger", role: "note" }, h("strong", null, "Warning: "), data.summary ?? "This runs at once."),
    data.amount ? h("p", null, "Amount: ", h("strong", null, money(data))) : null,
    h("label", { for: inputId }, `Type ${phrase} to confirm`),
    input
  );
  return new Promise((resolve) => {
    let done = false;
    const finish = (value) => {
      if (!done) resolve(value);
      done = true;
    };
    const opened = app2.dialog({
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
          }
        }
      ]
    });
    watchExecuteButton(body, input, phrase);
    whenClosed(body, opened, () => finish(null));
  });
}
function watchExecuteButton(body, input, phrase) {
  const dialog2 = body.closest("dialog");
  const button = dialog2 && [...dialog2.querySelectorAll("button")].find((b) => b.textContent?.trim() === "Execute");
  if (!button) return;
  const update = () => {
    button.disabled = input.value !== phrase;
  };
  input.addEventListener("input", update);
  update();
}
function whenClosed(body, opened, closed) {
  const dialog2 = body.closest("dialog");
  if (dialog2) dialog2.addEventListener("close", () => setTimeout(closed, 0), { once: true });
  else if (opened && typeof opened.then === "function") opened.then(() => setTimeout(closed, 0), () => setTimeout(closed, 0));
}
function askDialog(app2, { title, intro, field: field2, actionLabel, act }) {
  const fieldId = `ask-${Math.random().toString(36).slice(2)}`;
  const textarea = (
    /** @type {HTMLTextAreaElement} */
    h("textarea", { id: fieldId, maxlength: "500", rows: "3" })
  );
  const body = h("div", null, ...intro.map((line) => h("p", null, line)), field2 ? [h("label", { for: fieldId }, field2), textarea] : null);
  return new Promise((resolve) => {
    let done = false;
    const finish = (value) => {
      if (!done) resolve(value);
      done = true;
    };
    const opened = app2.dialog({
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
          }
        }
      ]
    });
    whenClosed(body, opened, () => finish(false));
  });
}
function onRequestNotifications(app2, root2, listener) {
  if (typeof app2.onNotification !== "function") return;
  let seen = false;
  let unsubscribe = () => {
  };
  const check = () => {
    if (root2.isConnected) seen = true;
    else if (seen) unsubscribe();
    return root2.isConnected;
  };
  unsubscribe = app2.onNotification((notification) => {
    const relevant = notification.type?.startsWith("request_") || notification.type === "resync_required";
    if (!check() || !relevant) return;
    listener(notification);
  }) ?? (() => {
  });
  setTimeout(check, 0);
}
function notificationRequestId(notification) {
  return notification.data?.request?.id ?? notification.data?.request_id ?? null;
}

// src/pages/request_detail.js
async function renderRequestDetail(app2, id) {
  const root2 = h("section", { class: "requests-page request-detail", "aria-labelledby": "request-heading" });
  let policy = null;
  const load = async () => {
    try {
      const { request } = await app2.client.get("request_get", { request_id: id });
      if (policy === null) policy = await currentPolicy(app2, request);
      show(request);
    } catch (error) {
      mount(root2, h("h1", { id: "request-heading" }, "Request"), app2.errorBox(error), h("p", null, h("a", { href: "#/requests" }, "Back to requests")));
    }
  };
  const show = (request) => {
    const message = h("div", { class: "form-message" });
    mount(
      root2,
      h("p", { class: "breadcrumb" }, h("a", { href: "#/requests" }, "Requests")),
      h("h1", { id: "request-heading" }, request.title),
      h("p", { class: "request-status" }, "Status: ", statusBadge(request.status)),
      cancelWindow(request),
      facts(app2, request),
      decisions(request),
      execution(request),
      actions(app2, request, policy, message, show),
      message
    );
  };
  onRequestNotifications(app2, root2, (notification) => {
    if (notification.type === "resync_required" || notificationRequestId(notification) === id) void load();
  });
  await load();
  return root2;
}
async function currentPolicy(app2, request) {
  try {
    return (await app2.client.call("policy_get", { scope_id: request.scope_id, kind: request.kind })).policy;
  } catch {
    return {};
  }
}
function cancelWindow(request) {
  if (!request.cancel_until) return null;
  const open = new Date(request.cancel_until).getTime() > Date.now() && request.status === "executed";
  return h(
    "p",
    { class: open ? "callout callout-info cancel-window" : "cancel-window cancel-closed" },
    open ? ["Can be cancelled until ", timeElement(request.cancel_until), "."] : ["The cancel window closed at ", timeElement(request.cancel_until), "."]
  );
}
function facts(app2, request) {
  const rows = [
    ["Kind", request.kind],
    ["Scope", request.scope_id],
    ["Amount", money(request)],
    ["Requested by", who(app2, request, request.requested_by)],
    ["Created", timeElement(request.created_at)],
    ["Expires", timeElement(request.expires_at)],
    ["Rejections", String(request.approvals.rejected)]
  ];
  if (request.percentage) rows.splice(3, 0, ["Percentage", `${request.percentage}%`]);
  if (request.confirmed_at) rows.push(["Confirmed", [timeElement(request.confirmed_at), " by ", who(app2, request, request.confirmed_by)]]);
  if (request.bypassed_by) rows.push(["Bypassed by", who(app2, request, request.bypassed_by)]);
  if (request.executed_at || request.executed_by) {
    rows.push(["Executed", [timeElement(request.executed_at), request.executed_by ? [" by ", who(app2, request, request.executed_by)] : " after approval"]]);
  }
  if (request.pre_approval_skip_reason) rows.push(["Approval skipped", request.pre_approval_skip_reason]);
  if (request.cancelled_at) {
    rows.push(["Cancelled", [timeElement(request.cancelled_at), " by ", who(app2, request, request.cancelled_by)]]);
    if (request.cancel_reason) rows.push(["Cancel reason", request.cancel_reason]);
  }
  const payload = JSON.stringify(request.payload ?? {}, null, 2);
  if (payload !== "{}") rows.push(["Payload", h("pre", { class: "payload" }, payload)]);
  return h("dl", { class: "request-facts" }, rows.map(([label, value]) => [h("dt", null, label), h("dd", null, value)]));
}
function decisions(request) {
  const list = request.approvals.decisions ?? [];
  return h(
    "section",
    { class: "decisions", "aria-labelledby": "decisions-heading" },
    h("h2", { id: "decisions-heading" }, "Decisions"),
    h("p", { class: "approval-count" }, `${request.approvals.approved} of ${request.approvals.required} approvals`),
    list.length === 0 ? h("p", { class: "empty" }, "No decisions yet.") : h(
      "table",
      { class: "table decisions-table" },
      h("thead", null, h("tr", null, ["Who", "Decision", "Comment", "When"].map((name) => h("th", { scope: "col" }, name)))),
      h(
        "tbody",
        null,
        list.map(
          (d) => h(
            "tr",
            null,
            h("td", null, d.username),
            h("td", null, h("span", { class: `decision decision-${d.decision}` }, d.decision === "approve" ? "Approved" : "Rejected")),
            h("td", null, d.comment ?? "\u2014"),
            h("td", null, timeElement(d.decided_at))
          )
        )
      )
    )
  );
}
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
      h("dd", null, run.last_error ?? "none")
    )
  );
}
function actions(app2, request, policy, message, show) {
  const { kind, scope_id: scope, status } = request;
  const own = request.requested_by === app2.me?.account?.id;
  const can = (verb) => app2.can(kind, verb, scope);
  const admin = isAdminAt(app2, scope);
  const waiting = status === "awaiting_confirmation" || status === "pending_approval";
  const cancelOpen = status === "executed" && request.cancel_until && new Date(request.cancel_until).getTime() > Date.now();
  const run = async (done, act) => {
    mount(message);
    try {
      const updated = await act();
      if (!updated) return;
      show(updated);
      app2.announce?.(done);
    } catch (error) {
      mount(message, app2.errorBox(error));
    }
  };
  const call = async (method, params) => (await app2.client.call(method, { request_id: request.id, ...params })).request;
  const buttons = [];
  if (status === "awaiting_confirmation" && (own || can("confirm-any"))) {
    buttons.push(h("button", { type: "button", class: "btn btn-primary", onclick: () => run("Confirmed.", () => call("request_confirm", {})) }, "Confirm"));
  }
  const mayVote = status === "pending_approval" && can("approve") && (!own || admin || policy?.allow_self_approval === true);
  let comment = null;
  if (mayVote) {
    comment = /** @type {HTMLTextAreaElement} */
    h("textarea", { id: "decision-comment", maxlength: "500", rows: "2" });
    const text = () => comment?.value.trim() || void 0;
    buttons.push(
      h("button", { type: "button", class: "btn btn-primary", onclick: () => run("Approved.", () => call("request_approve", { comment: text() })) }, "Approve"),
      h("button", { type: "button", class: "btn btn-danger", onclick: () => run("Rejected.", () => call("request_reject", { comment: text() })) }, "Reject")
    );
  }
  if (status === "pending_approval" && own && admin) {
    buttons.push(h("button", { type: "button", class: "btn btn-danger", onclick: () => bypass(app2, request, run, call) }, "Bypass"));
  }
  if (waiting && (can("execute-any") || own && can("execute-own"))) {
    const execute = () => run("Executed.", () => executeWithConfirmation(app2, (confirm) => app2.client.call("request_execute", confirm ? { request_id: request.id, confirm } : { request_id: request.id })));
    buttons.push(h("button", { type: "button", class: "btn btn-danger", onclick: execute }, "Execute now"));
  }
  const cancellable = waiting || status === "approved" || cancelOpen;
  if (cancellable && (can("cancel-any") || own && can("cancel-own"))) {
    buttons.push(h("button", { type: "button", class: "btn", onclick: () => cancel(app2, request, run, call) }, status === "executed" ? "Cancel (undo)" : "Cancel request"));
  }
  if (status === "failed" && (can("retry-any") || own && can("retry-own"))) {
    buttons.push(h("button", { type: "button", class: "btn", onclick: () => run("Retrying.", () => call("request_retry", {})) }, "Retry"));
  }
  if (buttons.length === 0) return null;
  return h(
    "section",
    { class: "request-actions", "aria-labelledby": "actions-heading" },
    h("h2", { id: "actions-heading" }, "Actions"),
    comment && h("div", { class: "form-row" }, h("label", { for: "decision-comment" }, "Comment (optional)"), comment),
    h("div", { class: "button-row" }, buttons)
  );
}
function bypass(app2, request, run, call) {
  let result = null;
  return run("Approved by bypass.", async () => {
    const done = await askDialog(app2, {
      title: "Bypass the approval?",
      intro: [
        "Warning: this approves your own request at once, without anyone else's approval.",
        `The policy asks for ${request.approvals.required} approval(s) by others; the bypass is recorded under your name.`
      ],
      field: "Comment (optional)",
      actionLabel: "Bypass and approve",
      act: async (text) => {
        result = await call("request_approve", { bypass: true, comment: text || void 0 });
      }
    });
    return done ? result : null;
  });
}
function cancel(app2, request, run, call) {
  let result = null;
  const deadline = request.status === "executed" && request.cancel_until ? ["It already ran: cancelling undoes it. This is possible until ", timeElement(request.cancel_until), "."] : "It has not run yet: cancelling stops it for good.";
  return run("Cancelled.", async () => {
    const done = await askDialog(app2, {
      title: "Cancel this request?",
      intro: [h("span", null, deadline)],
      field: "Reason (optional)",
      actionLabel: "Yes, cancel the request",
      act: async (text) => {
        result = await call("request_cancel", { reason: text || void 0 });
      }
    });
    return done ? result : null;
  });
}

// src/pages/request_form.js
function field(id, label, props = {}, hint) {
  const input = h(props.tag ?? "input", { id, name: id, ...props, tag: null, "aria-describedby": hint ? `${id}-hint` : null });
  return {
    input: (
      /** @type {HTMLInputElement} */
      input
    ),
    row: h("div", { class: "form-row" }, h("label", { for: id }, label), input, hint && h("p", { id: `${id}-hint`, class: "hint" }, hint))
  };
}
function controls(scopes) {
  const executeRadio = (
    /** @type {HTMLInputElement} */
    h("input", { type: "radio", id: "proceed-execute", name: "proceed", value: "execute" })
  );
  return {
    kind: (
      /** @type {HTMLSelectElement} */
      h("select", { id: "request-kind", name: "kind", required: true })
    ),
    scope: field("request-scope", "Scope", { type: "text", list: "request-scope-list", required: true, value: scopes[0] ?? "", autocomplete: "off" }, "Where the request applies, e.g. org:acme."),
    title: field("request-title", "Title", { type: "text", required: true, maxlength: "200" }),
    amount: field("request-amount", "Amount", { type: "text", inputmode: "decimal", autocomplete: "off" }, "Optional. A decimal number such as 1999.99."),
    currency: field("request-currency", "Currency", { type: "text", maxlength: "3", autocomplete: "off" }, "A three-letter code such as USD, needed with an amount."),
    percentage: field("request-percentage", "Percentage", { type: "text", inputmode: "decimal", autocomplete: "off" }, "Optional, 0 to 100."),
    payload: field("request-payload", "Payload (JSON, optional)", { tag: "textarea", rows: "4", spellcheck: "false" }, "A JSON object for the executor and the approvers."),
    sendRadio: (
      /** @type {HTMLInputElement} */
      h("input", { type: "radio", id: "proceed-approval", name: "proceed", value: "approval", checked: true })
    ),
    executeRadio,
    executeOption: h(
      "div",
      null,
      h("div", { class: "radio-row" }, executeRadio, h("label", { for: "proceed-execute" }, "Execute now")),
      h("p", { class: "hint" }, "Runs it at once, skipping the approval step; you will be asked to type a confirmation.")
    ),
    message: h("div", { class: "form-message" }),
    submit: h("button", { type: "submit", class: "btn btn-primary" }, "Create request")
  };
}
async function renderRequestForm(app2) {
  const scopes = (
    /** @type {string[]} */
    app2.scopes()
  );
  const c = controls(scopes);
  const choice = h(
    "fieldset",
    { class: "proceed" },
    h("legend", null, "How to proceed"),
    h("div", { class: "radio-row" }, c.sendRadio, h("label", { for: "proceed-approval" }, "Send for approval")),
    c.executeOption
  );
  const updateExecute = () => {
    const k = c.kind.value;
    const s = c.scope.input.value.trim();
    const allowed = Boolean(k && s) && (app2.can(k, "execute-any", s) || app2.can(k, "execute-own", s));
    if (!allowed) {
      c.executeOption.remove();
      c.sendRadio.checked = true;
    } else if (c.executeOption.parentNode !== choice) {
      choice.appendChild(c.executeOption);
    }
  };
  const updateKinds = async () => {
    const s = c.scope.input.value.trim();
    const fromMap = kindsFromMap(app2.me?.permissions ?? {}, "create");
    const listed = s ? await kindsAt(app2, s) : null;
    const kinds = [.../* @__PURE__ */ new Set([...fromMap, ...(listed ?? []).filter((k) => app2.can(k, "create", s))])].sort();
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
      onsubmit: async (event) => {
        event.preventDefault();
        if (busy) return;
        busy = true;
        try {
          await submitRequest(app2, c, c.executeRadio.checked && c.executeOption.parentNode === choice);
        } finally {
          busy = false;
        }
      }
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
    h("div", { class: "form-actions" }, c.submit, h("a", { href: "#/requests" }, "Back to requests"))
  );
  await updateKinds();
  return h("section", { class: "requests-page", "aria-labelledby": "request-form-heading" }, h("h1", { id: "request-form-heading" }, "New request"), form);
}
function readParams(c) {
  const fail = (text2, focus) => {
    mount(c.message, h("p", { role: "alert", class: "error" }, text2));
    focus.focus();
    return null;
  };
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
      return fail(`The payload is not valid JSON: ${/** @type {Error} */
      error.message}`, c.payload.input);
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return fail("The payload must be a JSON object ({ \u2026 }).", c.payload.input);
    p.payload = parsed;
  }
  return p;
}
async function submitRequest(app2, c, executeNow) {
  const p = readParams(c);
  if (!p) return;
  mount(c.message);
  c.submit.setAttribute("disabled", "");
  const base = { ...p, idempotency_key: crypto.randomUUID() };
  try {
    let request;
    if (executeNow) {
      request = await executeWithConfirmation(
        app2,
        (confirm) => app2.client.call("request_create", confirm ? { ...base, execute_now: true, confirm } : { ...base, execute_now: true })
      );
      if (!request) return;
    } else {
      request = (await app2.client.call("request_create", base)).request;
    }
    app2.announce?.(`Request \u201C${request.title}\u201D created.`);
    app2.navigate(`#/requests/${request.id}`);
  } catch (error) {
    mount(c.message, app2.errorBox(error));
  } finally {
    c.submit.removeAttribute("disabled");
  }
}

// src/pages/requests.js
var FILTERS = [
  { id: "awaiting", label: "Awaiting my decision", params: { awaiting_my_decision: true } },
  { id: "mine", label: "Mine", params: { mine: true } },
  { id: "all", label: "All I can see", params: {} }
];
var state = { filter: "all", scope: "" };
var page2 = {
  id: "requests",
  title: "Requests",
  /** @param {any} app */
  visible: (app2) => holdsAnyKindVerb(app2.me?.permissions ?? {}),
  /**
   * @param {any} app
   * @param {string[]} args
   */
  render: async (app2, args = []) => {
    if (args[0] === "new") return renderRequestForm(app2);
    if (args[0]) return renderRequestDetail(app2, args[0]);
    return renderList(app2);
  }
};
function canCreateSomething(app2) {
  return Object.values(app2.me?.permissions ?? {}).some((verbs) => verbs.includes("create") || verbs.includes("*"));
}
async function renderList(app2) {
  const scopeList = `requests-scopes-${Math.random().toString(36).slice(2)}`;
  const scopeInput = (
    /** @type {HTMLInputElement} */
    h("input", { id: "requests-scope", type: "text", list: scopeList, value: state.scope, placeholder: "every scope", autocomplete: "off" })
  );
  const results = h("div", { class: "requests-results", "aria-live": "polite" });
  const buttons = FILTERS.map(
    (filter) => h(
      "button",
      {
        type: "button",
        class: "btn btn-small filter-button",
        "aria-pressed": String(state.filter === filter.id),
        onclick: () => {
          state.filter = filter.id;
          for (const [i, button] of buttons.entries()) button.setAttribute("aria-pressed", String(FILTERS[i].id === filter.id));
          void load();
        }
      },
      filter.label
    )
  );
  const scopeForm = h(
    "form",
    {
      class: "requests-scope",
      onsubmit: (event) => {
        event.preventDefault();
        state.scope = scopeInput.value.trim();
        void load();
      }
    },
    h("label", { for: "requests-scope" }, "Scope"),
    scopeInput,
    h("datalist", { id: scopeList }, app2.scopes().map((scope) => h("option", { value: scope }))),
    h("button", { type: "submit", class: "btn" }, "Show")
  );
  const root2 = h(
    "section",
    { class: "requests-page", "aria-labelledby": "requests-heading" },
    h(
      "div",
      { class: "page-header" },
      h("h1", { id: "requests-heading" }, "Requests"),
      canCreateSomething(app2) && h("a", { href: "#/requests/new", class: "btn btn-primary" }, "New request")
    ),
    h("div", { class: "requests-filters" }, h("div", { role: "group", "aria-label": "Show", class: "filter-group" }, buttons), scopeForm),
    results
  );
  let shown2 = [];
  async function load(cursor = null) {
    const filter = FILTERS.find((f) => f.id === state.filter) ?? FILTERS[2];
    const params = { ...filter.params, limit: 50 };
    if (state.scope) params.scope_id = state.scope;
    if (cursor) params.cursor = cursor;
    try {
      const { requests, next_cursor } = await app2.client.get("request_list", params);
      shown2 = cursor ? [...shown2, ...requests] : requests;
      mount(results, requestTable(shown2), next_cursor && h("button", { type: "button", class: "btn load-more", onclick: () => load(next_cursor) }, "Load more"));
    } catch (error) {
      mount(results, app2.errorBox(error));
    }
  }
  onRequestNotifications(app2, root2, () => void load());
  await load();
  return root2;
}
function requestTable(requests) {
  const rows = requests.map(
    (request) => h(
      "tr",
      { "data-request-id": request.id },
      h("td", null, h("a", { href: `#/requests/${request.id}` }, request.title)),
      h("td", null, request.kind),
      h("td", null, request.scope_id),
      h("td", { class: "amount" }, money(request), request.percentage ? ` (${request.percentage}%)` : null),
      h("td", null, statusBadge(request.status)),
      h("td", null, timeElement(request.created_at))
    )
  );
  return table("Requests", ["Title", "Kind", "Scope", "Amount", "Status", "Created"], rows, "No requests here.");
}

// src/pages/offers.js
var STATUS = (
  /** @type {Record<string, string>} */
  {
    pending: "Pending",
    accepted: "Accepted",
    declined: "Declined",
    retracted: "Retracted",
    expired: "Expired",
    superseded: "Superseded"
  }
);
function acting(app2, slot, act) {
  return async (event) => {
    const button = (
      /** @type {HTMLButtonElement} */
      event.currentTarget
    );
    button.disabled = true;
    mount(slot);
    try {
      await act();
    } catch (error) {
      mount(slot, app2.errorBox(error));
      button.disabled = false;
    }
  };
}
function incomingRow(app2, offer, slot, reload) {
  const accept = acting(app2, slot, async () => {
    const { permit } = await app2.client.call("permit_offer_accept", { offer_id: offer.id });
    app2.announce(`Accepted: you now hold the role ${permit.role} ${scopeText(permit.scope_id)}.`);
    await app2.refresh();
  });
  const decline = () => {
    const reason = h("textarea", { id: "decline-reason", maxlength: "500", rows: "3" });
    app2.dialog({
      title: `Decline the role ${offer.role}?`,
      body: h(
        "div",
        null,
        h("p", null, `${accountName(app2, offer.from_account_id)} offered you the role ${offer.role} ${scopeText(offer.scope_id)}.`),
        h("div", { class: "field" }, h("label", { for: "decline-reason" }, "Reason (optional)"), reason)
      ),
      actions: [
        {
          label: "Decline offer",
          kind: "danger",
          onclick: async () => {
            const text = (
              /** @type {HTMLTextAreaElement} */
              reason.value.trim()
            );
            await app2.client.call("permit_offer_decline", { offer_id: offer.id, reason: text || null });
            app2.announce(`Declined the role ${offer.role}.`);
            await reload();
            return true;
          }
        }
      ]
    });
  };
  return h(
    "tr",
    null,
    h("td", null, offer.role),
    h("td", null, offer.scope_id ?? "Global"),
    h("td", null, accountName(app2, offer.from_account_id)),
    h("td", null, offer.message ?? "\u2014"),
    h("td", null, timeElement(offer.expires_at)),
    h(
      "td",
      { class: "actions" },
      h("button", { type: "button", class: "btn btn-primary", onclick: accept }, "Accept"),
      h("button", { type: "button", class: "btn", onclick: decline }, "Decline")
    )
  );
}
function outgoingRow(app2, offer, slot, reload) {
  const retract = acting(app2, slot, async () => {
    await app2.client.call("permit_offer_retract", { offer_id: offer.id });
    app2.announce(`Retracted the offer of ${offer.role}.`);
    await reload();
  });
  return h(
    "tr",
    null,
    h("td", null, offer.role),
    h("td", null, offer.scope_id ?? "Global"),
    h("td", null, accountName(app2, offer.to_account_id)),
    h("td", null, timeElement(offer.expires_at)),
    h("td", { class: "actions" }, h("button", { type: "button", class: "btn", onclick: retract }, "Retract"))
  );
}
async function sendForm(app2, reload) {
  const { roles } = await app2.client.get("role_list", {});
  const held = new Set((app2.me.permits ?? []).map((p) => p.role));
  const anyRole = isAdmin(app2) || held.has("admin");
  const offerable = roles.filter((r) => r.web_grantable && (anyRole || held.has(r.name)));
  if (offerable.length === 0) return h("p", { class: "empty" }, "You hold no role you could offer to someone else.");
  const field2 = (id, label, input, hint = "") => h("div", { class: "field" }, h("label", { for: id }, label), input, hint && h("p", { class: "hint", id: `${id}-hint` }, hint));
  const recipient = h("input", { id: "offer-to", required: true, autocomplete: "off", "aria-describedby": "offer-to-hint", list: "offer-accounts" });
  const role = h("select", { id: "offer-role", required: true }, offerable.map(
    (r) => h("option", { value: r.name }, r.scopes.length ? `${r.name} (only at ${r.scopes.join(", ")} scopes)` : r.name)
  ));
  const scope = h("input", { id: "offer-scope", list: "offer-scopes", autocomplete: "off", placeholder: "org:acme", "aria-describedby": "offer-scope-hint" });
  const message = h("textarea", { id: "offer-message", maxlength: "500", rows: "2" });
  const expires = h("input", { id: "offer-expires", type: "datetime-local", "aria-describedby": "offer-expires-hint" });
  const status = h("div", { class: "form-status" });
  let accounts = null;
  if (isAdmin(app2)) {
    const listed = await app2.client.get("account_list", { limit: 500 });
    accounts = h("datalist", { id: "offer-accounts" }, listed.accounts.map((a) => h("option", { value: a.username })));
  }
  const submit = async (event) => {
    event.preventDefault();
    mount(status);
    const value = (el) => el.value.trim();
    try {
      const { account } = await app2.client.call("account_lookup", { username: value(recipient) });
      const { offer } = await app2.client.call("permit_offer_create", {
        to_account_id: account.id,
        role: value(role),
        scope_id: value(scope) || null,
        message: value(message) || null,
        expires_at: value(expires) ? new Date(value(expires)).toISOString() : null
      });
      const text = `Offer sent: the role ${offer.role} ${scopeText(offer.scope_id)} to ${accountName(app2, offer.to_account_id)}.`;
      event.target.reset();
      await reload();
      mount(status, h("p", { class: "callout callout-success", role: "status" }, text));
    } catch (error) {
      mount(status, app2.errorBox(error));
    }
  };
  return h(
    "form",
    { class: "card form", onsubmit: submit, "aria-labelledby": "send-offer-title" },
    h("h2", { id: "send-offer-title" }, "Send an offer"),
    field2("offer-to", "Recipient username", recipient, "The username of the account to offer the role to."),
    accounts,
    field2("offer-role", "Role", role),
    field2("offer-scope", "Scope (optional)", scope, "Where the role holds, e.g. org:acme. Empty means everywhere."),
    h("datalist", { id: "offer-scopes" }, app2.scopes().map((s) => h("option", { value: s }))),
    field2("offer-message", "Message (optional)", message),
    field2("offer-expires", "Offer expires (optional)", expires, "Empty: the offer lapses after 30 days."),
    status,
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Send offer"))
  );
}
function historySection(app2) {
  const body = h("div");
  const more = h("div");
  const rows = [];
  const loadPage = async (cursor) => {
    const page7 = await app2.client.get("permit_offer_history", { limit: 25, cursor });
    if (cursor === null) rows.length = 0;
    await learnNames(app2, page7.offers.flatMap((o) => [o.from_account_id, o.to_account_id]));
    rows.push(...page7.offers);
    const me = app2.me.account.id;
    mount(body, table("Offer history", ["Offered", "Role", "Scope", "From", "To", "Status", "Resolved"], rows.map(
      (o) => h(
        "tr",
        null,
        h("td", null, timeElement(o.created_at)),
        h("td", null, o.role),
        h("td", null, o.scope_id ?? "Global"),
        h("td", null, o.from_account_id === me ? "You" : accountName(app2, o.from_account_id)),
        h("td", null, o.to_account_id === me ? "You" : accountName(app2, o.to_account_id)),
        h("td", null, badge(o.status, STATUS), o.decline_reason ? ` \u201C${o.decline_reason}\u201D` : ""),
        h("td", null, timeElement(o.resolved_at))
      )
    ), "No offers yet."));
    const next = page7.next_cursor;
    mount(more, next && h("button", { type: "button", class: "btn", onclick: acting(app2, more, () => loadPage(next)) }, "Show older offers"));
  };
  return { element: h("section", { class: "card", "aria-labelledby": "history-title" }, h("h2", { id: "history-title" }, "History"), body, more), load: () => loadPage(null) };
}
var page3 = {
  id: "offers",
  title: "Offers",
  visible: () => true,
  /** @param {App} app */
  async render(app2) {
    const incoming = h("div");
    const outgoing = h("div");
    const permits = h("div");
    const errors = h("div");
    const history = historySection(app2);
    const reload = async () => {
      const lists = await app2.client.get("permit_offer_list", {});
      await learnNames(app2, [...lists.incoming, ...lists.outgoing].flatMap((o) => [o.from_account_id, o.to_account_id]));
      mount(incoming, table(
        "Offers to you",
        ["Role", "Scope", "From", "Message", "Expires", "Actions"],
        lists.incoming.map((o) => incomingRow(app2, o, errors, reload)),
        "No offers are waiting for you."
      ));
      mount(outgoing, table(
        "Offers you sent",
        ["Role", "Scope", "To", "Expires", "Actions"],
        lists.outgoing.map((o) => outgoingRow(app2, o, errors, reload)),
        "You have no pending offers out."
      ));
      mount(permits, table(
        "Your roles",
        ["Role", "Scope", "Since", "Expires"],
        (app2.me.permits ?? []).map((p) => h(
          "tr",
          null,
          h("td", null, p.role),
          h("td", null, p.scope_id ?? "Global"),
          h("td", null, timeElement(p.created_at)),
          h("td", null, p.expires_at ? timeElement(p.expires_at) : "Never")
        )),
        "You hold no roles yet."
      ));
    };
    const reloadAll = async () => {
      await reload();
      await history.load();
    };
    app2.onNotification((n) => {
      if (n.type.startsWith("permit_")) reloadAll().catch((error) => mount(errors, app2.errorBox(error)));
    });
    await reload();
    await history.load();
    const section = (id, title, content) => h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), content);
    return h(
      "section",
      { class: "page page-offers" },
      h("h1", null, "Offers"),
      h("p", { class: "lede" }, "Roles are given with consent: someone offers a role, and it is yours once you accept."),
      errors,
      section("incoming-title", "Offers to you", incoming),
      section("permits-title", "Your roles", permits),
      section("outgoing-title", "Offers you sent", outgoing),
      await sendForm(app2, reloadAll),
      history.element
    );
  }
};

// src/pages/policies.js
var FIELDS = [
  { key: "enabled", label: "Enabled", type: "bool", explain: "Whether requests of this kind may be made and run here at all." },
  { key: "requires_confirmation", label: "Requires confirmation", type: "bool", explain: "The requester (or an operator) must confirm a request before anything else happens." },
  { key: "approvals_required", label: "Approvals required", type: "int", min: 0, max: 100, explain: "How many people other than the requester must approve before it runs." },
  { key: "rejections_to_deny", label: "Rejections to deny", type: "int", min: 0, max: 100, explain: "How many rejections end a request; 0 means a rejection never ends it." },
  { key: "allow_self_approval", label: "Allow self-approval", type: "bool", explain: "Whether the requester may approve their own request." },
  { key: "request_ttl_hours", label: "Request lifetime (hours)", type: "int", min: 1, max: 8760, explain: "How long a request may wait for confirmation or approval before it expires." },
  { key: "cancel_window_hours", label: "Cancel window (hours)", type: "int", min: 0, max: 8760, explain: "How long after running it can still be undone." }
];
var LIMITS = [
  { key: "max_amount", label: "Maximum amount", type: "decimal", explain: "Requests above this amount are refused." },
  { key: "max_percentage", label: "Maximum percentage", type: "decimal", explain: "Requests above this percentage are refused." },
  { key: "window_hours", label: "Window (hours)", type: "int", min: 1, max: 8760, explain: "The trailing period the two window limits below count over." },
  { key: "window_max_count", label: "Most requests in the window", type: "int", min: 1, explain: "How many requests (not cancelled) may be made within the window." },
  { key: "window_max_total", label: "Most total amount in the window", type: "decimal", explain: "How much the amounts of the requests in the window may add up to." }
];
var state2 = { scope: "" };
var page4 = {
  id: "policies",
  title: "Policies",
  /** Policy reads need a permit of any role covering the scope. */
  visible: (app2) => (app2.me?.permits?.length ?? 0) > 0,
  /** @param {any} app */
  render: async (app2) => {
    const scopes = (
      /** @type {string[]} */
      app2.scopes()
    );
    if (!state2.scope) state2.scope = scopes[0] ?? "";
    const input = (
      /** @type {HTMLInputElement} */
      h("input", { id: "policies-scope", type: "text", list: "policies-scope-list", value: state2.scope, required: true, autocomplete: "off" })
    );
    const results = h("div", { class: "policies-results" });
    const load = async () => {
      state2.scope = input.value.trim();
      if (!state2.scope) return mount(results, h("p", null, "Enter a scope to see its policies."));
      try {
        const { policies } = await app2.client.get("policy_list", { scope_id: state2.scope });
        const manage = app2.can("policies", "manage", state2.scope);
        mount(results, policies.map((entry) => kindSection(app2, state2.scope, entry, manage)));
      } catch (error) {
        mount(results, app2.errorBox(error));
      }
    };
    const form = h(
      "form",
      {
        class: "policies-scope",
        onsubmit: (event) => {
          event.preventDefault();
          void load();
        }
      },
      h("label", { for: "policies-scope" }, "Scope"),
      input,
      h("datalist", { id: "policies-scope-list" }, scopes.map((s) => h("option", { value: s }))),
      h("button", { type: "submit", class: "btn" }, "Show policies")
    );
    await load();
    return h(
      "section",
      { class: "policies-page", "aria-labelledby": "policies-heading" },
      h("h1", { id: "policies-heading" }, "Policies"),
      h("p", { class: "intro" }, "The rules each kind of request follows at a scope. A scope inherits the nearest policy set above it, else the default."),
      form,
      results
    );
  }
};
var sourceText = (source) => source ? `set at ${source}` : "default";
function kindSection(app2, scope, entry, manage) {
  const headingId = `policy-${entry.kind}-heading`;
  const source = h("p", { class: "policy-source" }, `In force here: ${sourceText(entry.source_scope_id)}`);
  const body = manage ? editForm(app2, scope, entry, source) : readOnly(entry.policy);
  return h("section", { class: "card policy-kind", "aria-labelledby": headingId }, h("h2", { id: headingId }, entry.kind), source, body);
}
function shown(value, type) {
  if (type === "bool") return value ? "Yes" : "No";
  return value === null || value === void 0 ? "Not set (no limit)" : String(value);
}
function readOnly(policy) {
  const limits = policy.limits ?? {};
  const row = (f, value) => [
    h("dt", null, f.label),
    h("dd", null, h("span", { class: "policy-value" }, shown(value, f.type)), h("span", { class: "explain" }, f.explain))
  ];
  return h(
    "dl",
    { class: "policy-values" },
    FIELDS.map((f) => row(f, policy[f.key])),
    LIMITS.map((f) => row(f, limits[f.key]))
  );
}
function policyControl(id, f, value) {
  const props = { id, name: f.key, "aria-describedby": `${id}-explain` };
  const input = (
    /** @type {HTMLInputElement} */
    f.type === "bool" ? h("input", { ...props, type: "checkbox", checked: Boolean(value) }) : f.type === "int" ? h("input", { ...props, type: "number", step: "1", min: f.min, max: f.max, value: value ?? "" }) : h("input", { ...props, type: "text", inputmode: "decimal", value: value ?? "", placeholder: "no limit" })
  );
  const label = h("label", { for: id }, f.label);
  return [
    input,
    h(
      "div",
      { class: f.type === "bool" ? "policy-field policy-toggle" : "policy-field" },
      f.type === "bool" ? [input, label] : [label, input],
      h("p", { id: `${id}-explain`, class: "explain" }, f.explain)
    )
  ];
}
function changes(scope, kind, policy, inputs) {
  const value = (f) => {
    const input = (
      /** @type {HTMLInputElement} */
      inputs.get(f.key)
    );
    if (f.type === "bool") return input.checked;
    const text = input.value.trim();
    if (text === "") return null;
    return f.type === "int" ? Number(text) : text;
  };
  const params = { scope_id: scope, kind };
  for (const f of FIELDS) {
    const v = value(f);
    if (v !== null && v !== policy[f.key]) params[f.key] = v;
  }
  const limits = {};
  for (const f of LIMITS) {
    const v = value(f);
    if (v !== null) limits[f.key] = v;
  }
  params.limits = limits;
  return params;
}
function editForm(app2, scope, entry, source) {
  let policy = entry.policy;
  const inputs = /* @__PURE__ */ new Map();
  const control = (f, value) => {
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
      policy = (await app2.client.call("policy_set", changes(scope, entry.kind, policy, inputs))).policy;
      mount(source, `In force here: ${sourceText(scope)}`);
      mount(message, h("p", { class: "saved", role: "status" }, `Saved the ${entry.kind} policy at ${scope}.`));
      app2.announce?.(`Saved the ${entry.kind} policy.`);
    } catch (error) {
      const field2 = (
        /** @type {any} */
        error?.data?.field
      );
      mount(message, app2.errorBox(error), field2 && h("p", { class: "error-field" }, `Check the field: ${field2}.`));
      inputs.get(String(field2 ?? "").split(".").pop() ?? "")?.focus();
    } finally {
      save.removeAttribute("disabled");
    }
  };
  return h(
    "form",
    {
      class: "policy-form",
      onsubmit: (event) => {
        event.preventDefault();
        void submit();
      }
    },
    h("fieldset", null, h("legend", null, "Rules"), FIELDS.map((f) => control(f, policy[f.key]))),
    h("fieldset", null, h("legend", null, "Limits"), LIMITS.map((f) => control(f, policy.limits?.[f.key]))),
    message,
    h("div", { class: "form-actions" }, save)
  );
}

// src/pages/audit.js
var PAGE = 50;
var EVENTS = [
  "account_login",
  "account_logout",
  "account_create",
  "account_disable",
  "account_enable",
  "permit_grant",
  "permit_revoke",
  "permit_offer_create",
  "permit_offer_accept",
  "permit_offer_decline",
  "permit_offer_retract",
  "permit_offer_expire",
  "policy_set",
  "request_create",
  "request_confirm",
  "request_approve",
  "request_reject",
  "request_execute",
  "request_cancel",
  "request_retry",
  "request_expire",
  "request_execution",
  "token_create",
  "token_revoke",
  "session_revoke"
];
var OUTCOME = { success: "Success", failure: "Failure", denied: "Denied" };
function chainStatus(app2) {
  const slot = h("div", { class: "chain", role: "status" }, "Checking the hash chain\u2026");
  if (!isAdmin(app2)) {
    mount(slot, h("p", { class: "callout callout-info" }, "Checking the hash chain needs admin; ask an administrator to run it."));
    return slot;
  }
  app2.client.get("audit_verify", {}).then(
    (result) => {
      if (result.ok) mount(slot, h("p", { class: "callout callout-success" }, h("strong", null, "Chain verified: "), `${result.checked} rows intact.`));
      else mount(slot, h("p", { class: "callout callout-danger" }, h("strong", null, `Chain broken at row ${result.first_bad_seq}: `), "a row was edited, deleted or inserted outside the server. Compare with a copy of the newest hash kept elsewhere."));
    },
    (error) => mount(slot, app2.errorBox(error))
  );
  return slot;
}
function auditRow(app2, row) {
  const hasData = row.data && typeof row.data === "object" && Object.keys(row.data).length > 0;
  return h(
    "tr",
    null,
    h("td", { class: "num" }, String(row.seq)),
    h("td", null, timeElement(row.created_at)),
    h("td", null, h("code", null, row.event_type)),
    h("td", null, h("span", { class: `badge badge-${row.outcome}` }, OUTCOME[row.outcome] ?? row.outcome)),
    h("td", null, row.account_id ? accountName(app2, row.account_id) : "\u2014"),
    h("td", null, row.scope_id ?? "\u2014"),
    h("td", null, row.subject_id ? h("code", { title: row.subject_id }, `${row.subject_id.slice(0, 8)}\u2026`) : "\u2014"),
    h("td", null, hasData ? h("details", null, h("summary", null, "Details"), h("pre", { class: "data" }, JSON.stringify(row.data, null, 2))) : "\u2014")
  );
}
var page5 = {
  id: "audit",
  title: "Audit",
  /** @param {App} app */
  visible: (app2) => Object.entries(app2.me?.permissions ?? {}).some(([key, verbs]) => {
    const resource = key.split("/")[0];
    return (resource === "audit" || resource === "*") && (verbs.includes("view") || verbs.includes("*"));
  }),
  /** @param {App} app */
  async render(app2) {
    const rows = h("div");
    const pager = h("div", { class: "pager" });
    const errors = h("div");
    const eventType = h("input", { id: "audit-event", list: "audit-events", autocomplete: "off" });
    const account = h("input", {
      id: "audit-account",
      autocomplete: "off",
      placeholder: "an account id (UUID)",
      pattern: "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
      title: "An account id: a UUID such as 0190a8c2-7b1e-7c3d-9f00-123456789abc"
    });
    const state3 = { after: 0, back: [], filters: {} };
    const load = async () => {
      mount(errors);
      const result = await app2.client.get("audit_list", { after_seq: state3.after, limit: PAGE, ...state3.filters });
      await learnNames(app2, result.events.map((e) => e.account_id)).catch(() => {
      });
      const headers = ["Seq", "Time", "Event", "Outcome", "Account", "Scope", "Subject", "Data"];
      const found = result.events.map((row) => auditRow(app2, row));
      mount(rows, table("Audit rows, oldest first", headers, found, "No rows match.", "table table-compact"));
      const go = (move) => () => {
        move();
        load().catch((error) => mount(errors, app2.errorBox(error)));
      };
      const older = h("button", { type: "button", class: "btn", disabled: state3.back.length === 0, onclick: go(() => state3.after = state3.back.pop() ?? 0) }, "Older");
      const next = result.next_after_seq;
      const newer = h("button", { type: "button", class: "btn", disabled: next === null || next === void 0, onclick: go(() => {
        state3.back.push(state3.after);
        state3.after = next;
      }) }, "Newer");
      const first = result.events[0]?.seq;
      const last = result.events.at(-1)?.seq;
      mount(pager, older, newer, h("span", { class: "pager-info" }, first ? `Rows ${first} to ${last}` : ""));
    };
    const filter = (event) => {
      event.preventDefault();
      const value = (el) => el.value.trim();
      state3.filters = {};
      if (value(eventType)) state3.filters.event_type = value(eventType);
      if (value(account)) state3.filters.account_id = value(account);
      state3.after = 0;
      state3.back = [];
      load().catch((error) => mount(errors, app2.errorBox(error)));
    };
    await load();
    return h(
      "section",
      { class: "page page-audit" },
      h("h1", null, "Audit log"),
      h("p", { class: "lede" }, "Every change and every refused attempt, in order. Each row is chained to the one before by its hash, so an edit outside the server shows."),
      chainStatus(app2),
      h(
        "form",
        { class: "filters", onsubmit: filter, onreset: () => setTimeout(() => filter(new Event("submit"))) },
        h("div", { class: "field" }, h("label", { for: "audit-event" }, "Event type"), eventType),
        h("datalist", { id: "audit-events" }, EVENTS.map((e) => h("option", { value: e }))),
        h("div", { class: "field" }, h("label", { for: "audit-account" }, "Account id"), account),
        h(
          "div",
          { class: "form-actions" },
          h("button", { type: "submit", class: "btn btn-primary" }, "Filter"),
          h("button", { type: "reset", class: "btn" }, "Clear")
        )
      ),
      errors,
      rows,
      pager
    );
  }
};

// src/pages/modules.js
var RESOURCES = ["modules", "module.status"];
function units(app2) {
  const found = /* @__PURE__ */ new Map();
  for (const [key, verbs] of Object.entries(app2.me?.permissions ?? {})) {
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
function access(held) {
  const parts = [];
  if (held.modules?.length) parts.push(`modules: ${held.modules.join(", ")}`);
  if (held["module.status"]?.length) parts.push(`module status: ${held["module.status"].join(", ")}`);
  return parts.join("; ");
}
function unitRow(app2, unit, held) {
  const status = h("td", { class: "module-status" }, h("span", { class: "badge badge-pending" }, "Not validated"));
  const validate = async (event) => {
    const button = (
      /** @type {HTMLButtonElement} */
      event.currentTarget
    );
    button.disabled = true;
    try {
      const { results } = await app2.client.get("permission_check", {
        checks: [{ resource: "module.status", verb: "edit", scope_id: unit }]
      });
      const when = timeText((/* @__PURE__ */ new Date()).toISOString());
      const text = results[0] ? `Validated by ${app2.me.account.username} at ${when} \u2014 the server confirms you may edit module status at ${unit}.` : `Not validated: the server refused \u2014 you may not edit module status at ${unit} (checked ${when}).`;
      mount(status, h("span", { class: `badge ${results[0] ? "badge-accepted" : "badge-denied"}` }, results[0] ? "Validated" : "Refused"), " ", text);
      app2.announce(text);
    } catch (error) {
      mount(status, app2.errorBox(error));
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
      app2.can("module.status", "edit", unit) ? h("button", { type: "button", class: "btn btn-primary", onclick: validate, "aria-label": `Validate ${unit}` }, "Validate") : h("span", { class: "muted" }, "View only")
    )
  );
}
var page6 = {
  id: "modules",
  title: "Module status",
  /** @param {App} app */
  visible: (app2) => units(app2).length > 0,
  /** @param {App} app */
  async render(app2) {
    const found = units(app2);
    return h(
      "section",
      { class: "page page-modules" },
      h("h1", null, "Module status"),
      h("p", { class: "lede" }, "The units you work on. Validating a unit's module status needs edit on module status there; the server confirms it before anything is recorded."),
      table("Units", ["Unit", "Your access", "Status", "Action"], found.map(([unit, held]) => unitRow(app2, unit, held)), "You hold no role at a unit.")
    );
  }
};

// src/main.js
var pages = (
  /** @type {Page[]} */
  [page, page2, page3, page4, page5, page6]
);
var root = (
  /** @type {HTMLElement} */
  document.getElementById("app")
);
var client = createClient({ url: location.origin });
var generation = 0;
var listeners = /* @__PURE__ */ new Set();
var connectionListeners = /* @__PURE__ */ new Set();
var subscription = null;
var connection = "Connecting\u2026";
var shell = null;
var nextId = 0;
var liveRegion = h("div", { class: "sr-only", role: "status", "aria-live": "polite" });
document.body.append(liveRegion);
var app = {
  client,
  /** The latest `whoami` answer. */
  me: (
    /** @type {any} */
    null
  ),
  /**
   * @param {string} resource
   * @param {string} verb
   * @param {string} [scope]
   */
  can(resource, verb, scope) {
    return hasPermission(app.me?.permissions ?? {}, resource, verb, scope);
  },
  /** Every scope named by the permissions map's keys or by a permit (sorted, no global). */
  scopes() {
    const found = /* @__PURE__ */ new Set();
    for (const key of Object.keys(app.me?.permissions ?? {})) {
      const slash = key.indexOf("/");
      if (slash >= 0) found.add(key.slice(slash + 1));
    }
    for (const permit of app.me?.permits ?? []) if (permit.scope_id) found.add(permit.scope_id);
    return [...found].sort();
  },
  /** @param {string} hash */
  navigate(hash) {
    if (location.hash === hash) void route(true);
    else location.hash = hash;
  },
  /** Re-reads whoami, then re-renders the navigation and the current page. */
  async refresh() {
    await loadMe();
    await route(false);
  },
  /**
   * Calls `listener` with each live notification (and with `{type: "resync_required"}` when
   * the stream could not be resumed: reload what you show). Registered during a page's render,
   * it ends when another render replaces that page; or call the function returned.
   * @param {(n: Pushed) => void} listener
   */
  onNotification(listener) {
    const entry = { generation, listener };
    listeners.add(entry);
    return () => void listeners.delete(entry);
  },
  /** "Live", "Reconnecting…", "Connecting…" or "Not connected". */
  get connection() {
    return connection;
  },
  /** @param {(state: string) => void} listener */
  onConnection(listener) {
    connectionListeners.add(listener);
    return () => void connectionListeners.delete(listener);
  },
  errorBox,
  announce,
  dialog
};
function errorBox(error) {
  let message = error instanceof Error ? error.message : String(error);
  if (error instanceof TypeError) message = "The server could not be reached. Check the connection and try again.";
  return h("div", { role: "alert", class: "callout callout-danger" }, h("strong", null, "Error: "), message);
}
function announce(text) {
  liveRegion.textContent = "";
  setTimeout(() => liveRegion.textContent = text, 50);
}
function dialog({ title, body, actions: actions2 }) {
  const opener = (
    /** @type {HTMLElement | null} */
    document.activeElement
  );
  const titleId = `dialog-title-${++nextId}`;
  const errorSlot = h("div", { class: "dialog-error" });
  const main = actions2.find((a) => a.kind === "primary") ?? actions2.find((a) => a.kind === "danger") ?? actions2[0];
  const buttons = [];
  const run = async (action) => {
    for (const button of buttons) button.disabled = true;
    mount(errorSlot);
    try {
      if (await action.onclick()) element.close();
    } catch (error) {
      mount(errorSlot, errorBox(error));
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  };
  for (const action of actions2) {
    const isMain = action === main;
    const button = (
      /** @type {HTMLButtonElement} */
      h("button", {
        type: isMain ? "submit" : "button",
        class: `btn${action.kind ? ` btn-${action.kind}` : ""}`,
        onclick: isMain ? null : () => run(action)
      }, action.label)
    );
    buttons.push(button);
  }
  const hasCancel = actions2.some((a) => a.label === "Cancel");
  const cancel2 = !hasCancel && h("button", { type: "button", class: "btn", onclick: () => element.close() }, "Cancel");
  const form = h(
    "form",
    { onsubmit: (event) => (event.preventDefault(), main && run(main)) },
    h("h2", { id: titleId }, title),
    body,
    errorSlot,
    h("div", { class: "dialog-actions" }, buttons, cancel2)
  );
  const element = (
    /** @type {HTMLDialogElement} */
    h("dialog", { class: "dialog", "aria-labelledby": titleId }, form)
  );
  element.addEventListener("close", () => {
    element.remove();
    if (opener && opener.isConnected) opener.focus();
  });
  document.body.append(element);
  element.showModal();
  return element;
}
function setConnection(state3) {
  connection = state3;
  if (shell) shell.status.textContent = state3;
  if (shell) shell.status.dataset.state = state3 === "Live" ? "live" : "down";
  for (const listener of connectionListeners) listener(state3);
}
async function loadMe() {
  app.me = await client.call("whoami", {});
  if (shell) renderNav();
}
var delivering = Promise.resolve();
function deliver(pushed) {
  delivering = delivering.then(async () => {
    if (pushed.type.startsWith("permit_")) {
      try {
        await loadMe();
        if (!currentPage()?.visible(app)) await route(false);
      } catch {
      }
    }
    for (const entry of [...listeners]) {
      try {
        entry.listener(pushed);
      } catch (error) {
        console.warn("a notification listener failed", error);
      }
    }
  });
}
function startNotifications(after) {
  let active = true;
  class Socket extends WebSocket {
    /** @param {string | URL} url @param {string | string[]} [protocols] */
    constructor(url, protocols) {
      super(url, protocols);
      this.addEventListener("open", () => active && setConnection("Live"));
      this.addEventListener("close", () => active && setConnection("Reconnecting\u2026"));
    }
  }
  setConnection("Connecting\u2026");
  const subscribed = client.subscribe({
    after,
    WebSocket: Socket,
    onNotification: (notification) => deliver(
      /** @type {Pushed} */
      notification
    ),
    onResync: (message) => deliver(
      /** @type {Pushed} */
      message
    ),
    onError: (error) => {
      active = false;
      setConnection("Not connected");
      if (error.code === -32001) showSignIn("Your session ended. Sign in again.");
    }
  });
  subscription = {
    close() {
      active = false;
      subscribed.close();
    }
  };
}
function stopNotifications() {
  subscription?.close();
  subscription = null;
}
function hashPath() {
  return location.hash.replace(/^#\/?/, "").split("/").filter((part) => part !== "").map((part) => decodeURIComponent(part));
}
function currentPage() {
  const [id] = hashPath();
  return id === void 0 ? pages[0] : pages.find((page7) => page7.id === id);
}
function renderNav() {
  if (!shell) return;
  const current = currentPage();
  mount(
    shell.nav,
    h(
      "ul",
      null,
      pages.filter((page7) => page7.visible(app)).map(
        (page7) => h("li", null, h("a", { href: `#/${page7.id}`, "aria-current": page7 === current ? "page" : null }, page7.title))
      )
    )
  );
}
async function route(focus) {
  if (!shell) return;
  const mine = ++generation;
  for (const entry of listeners) if (entry.generation < mine) listeners.delete(entry);
  renderNav();
  const { main } = shell;
  const [, ...args] = hashPath();
  const page7 = currentPage();
  if (!page7 || !page7.visible(app)) {
    document.title = "Not available \u2014 countersign";
    mount(main, h("h1", { tabindex: "-1" }, "Not available"), h("p", null, "This page does not exist, or your permissions do not include it. ", h("a", { href: "#/inbox" }, "Go to the inbox"), "."));
    if (focus) main.querySelector("h1")?.focus();
    return;
  }
  if (main.dataset.page !== page7.id) mount(main, h("p", { class: "loading" }, "Loading\u2026"));
  let content;
  try {
    content = await page7.render(app, args);
  } catch (error) {
    content = h("section", null, h("h1", null, page7.title), errorBox(error));
  }
  if (mine !== generation || !shell) return;
  main.dataset.page = page7.id;
  mount(main, content);
  document.title = `${page7.title} \u2014 countersign`;
  if (focus) {
    const heading = main.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  }
}
async function signOut() {
  stopNotifications();
  try {
    await client.call("account_logout", {});
  } catch (error) {
    if (!(error instanceof CountersignError && error.code === -32001)) {
      if (shell) shell.main.prepend(errorBox(error));
      startNotifications();
      return;
    }
  }
  showSignIn("You are signed out.");
}
async function showShell() {
  let head;
  try {
    head = (await client.call("notifications_list", { limit: 1 })).head_seq;
  } catch {
    head = void 0;
  }
  const status = h("span", { class: "connection", "data-state": "down" }, connection);
  const nav = h("nav", { "aria-label": "Main", class: "nav" });
  const main = h("main", { id: "main", class: "main", tabindex: "-1" });
  const skip = h("button", { type: "button", class: "skip-link", onclick: () => main.focus() }, "Skip to content");
  const header = h(
    "header",
    { class: "topbar" },
    h("a", { href: "#/inbox", class: "brand" }, "countersign"),
    h(
      "div",
      { class: "session" },
      h("span", { class: "connection-label" }, "Notifications: ", status),
      h("span", { class: "who" }, "Signed in as ", h("strong", null, app.me.account.username)),
      h("button", { type: "button", class: "btn btn-small", onclick: signOut }, "Sign out")
    )
  );
  shell = { nav, main, status };
  mount(root, skip, header, h("div", { class: "layout" }, nav, main));
  startNotifications(head);
  void route(false);
}
function showSignIn(message) {
  stopNotifications();
  shell = null;
  app.me = null;
  listeners.clear();
  document.title = "Sign in \u2014 countersign";
  mount(root, renderSignIn({ client, errorBox, message, onSignedIn: boot }));
  root.querySelector("input")?.focus();
}
async function boot() {
  try {
    await loadMe();
  } catch (error) {
    if (error instanceof CountersignError && error.code === -32001) return showSignIn();
    mount(root, h("main", { class: "main" }, h("h1", null, "countersign"), errorBox(error), h("button", { type: "button", class: "btn", onclick: boot }, "Try again")));
    return;
  }
  await showShell();
}
window.addEventListener("hashchange", () => void route(true));
void boot();
