// @ts-check
// The countersign client: one typed function per method over HTTP (cookie or bearer) or
// over one WebSocket (`connect`), errors as `CountersignError`, `hasPermission` for gating
// a UI, and `subscribe`, which keeps a WebSocket subscription
// alive across drops — signing the socket in by its first message, resuming after the
// last `seq` delivered, with jittered backoff. Plain JavaScript with JSDoc types from
// `generated.ts` (the server's own schemas), so it runs without a build step and type-checks
// with `tsc --checkJs`. The contract is docs/protocol.md.

/** @typedef {import("./generated.ts").Methods} Methods */
/** @typedef {import("./generated.ts").Notification} Notification */
/** @typedef {import("./generated.ts").ResyncRequired} ResyncRequired */
/**
 * One function per method: `client.methods.request_get({ request_id })`.
 * @typedef {{ [M in keyof Methods]: (params?: Methods[M]["params"]) => Promise<Methods[M]["result"]> }} MethodFunctions
 */

/**
 * Whether a permissions map (`whoami().permissions`) allows `verb` on `resource` at `scope`
 * (omitted: the global scope), by the server's rules (docs/protocol.md §5): a key
 * `resource` holds everywhere, `resource/scope` at that scope and every scope below it
 * (`org:acme` covers `org:acme/store:berlin`, not `org:acmecorp`); `*` stands for every
 * resource or verb (admin). Gate UI affordances on this, never on role names.
 * @param {Record<string, string[]>} permissions
 * @param {string} resource
 * @param {string} verb
 * @param {string} [scope]
 */
export function hasPermission(permissions, resource, verb, scope) {
  return Object.entries(permissions).some(([key, verbs]) => {
    const slash = key.indexOf("/");
    const heldResource = slash < 0 ? key : key.slice(0, slash);
    const heldScope = slash < 0 ? null : key.slice(slash + 1);
    const covers = heldScope === null || (scope !== undefined && (scope === heldScope || scope.startsWith(`${heldScope}/`)));
    return (heldResource === resource || heldResource === "*") && covers && (verbs.includes(verb) || verbs.includes("*"));
  });
}

/** A JSON-RPC error from the server: act on `code` and `reason`, show `message`. */
export class CountersignError extends Error {
  /** @param {{ code: number, message: string, data?: { reason?: string } & Record<string, unknown> }} error */
  constructor(error) {
    super(error.message);
    this.name = "CountersignError";
    /** The JSON-RPC code (docs/protocol.md §2), e.g. -32004 for a conflict. */
    this.code = error.code;
    /** `data.reason`, e.g. "cancel_window_closed". */
    this.reason = error.data?.reason ?? null;
    /** Every further field of `data` (`retry_after_s`, `issues`, …). */
    this.data = error.data ?? {};
  }
}

/**
 * A client of the server at `url`. With `token` it calls as that API token; without, the
 * browser's session cookie goes along (`credentials: "include"`).
 * @param {{ url: string, token?: string, fetch?: typeof fetch }} options
 */
export function createClient({ url, token, fetch: send = globalThis.fetch }) {
  const base = url.replace(/\/+$/, "");
  let nextId = 0;
  /** @param {Response} response */
  async function answer(response) {
    const body = await response.json();
    if (body.error) throw new CountersignError(body.error);
    return body.result;
  }
  /** @param {Record<string, string>} headers */
  function withAuth(headers) {
    return token ? { ...headers, authorization: `Bearer ${token}` } : headers;
  }
  /**
   * Calls `method` over POST.
   * @template {keyof Methods} M
   * @param {M} method
   * @param {Methods[M]["params"]} [params]
   * @returns {Promise<Methods[M]["result"]>}
   */
  async function call(method, params) {
    const body = JSON.stringify({ jsonrpc: "2.0", id: ++nextId, method, params: params ?? {} });
    const headers = withAuth({ "content-type": "application/json" });
    return answer(await send(`${base}/rpc`, { method: "POST", headers, body, credentials: "include" }));
  }
  /**
   * Calls a read (a method without side effects) over GET, which caches and proxies well.
   * @template {keyof Methods} M
   * @param {M} method
   * @param {Methods[M]["params"]} [params]
   * @returns {Promise<Methods[M]["result"]>}
   */
  async function get(method, params) {
    const query = new URLSearchParams({ params: JSON.stringify(params ?? {}), id: String(++nextId) });
    const headers = withAuth({});
    return answer(await send(`${base}/rpc/${method}?${query}`, { headers, credentials: "include" }));
  }
  const methods = /** @type {MethodFunctions} */ (
    new Proxy({}, { get: (_, method) => (/** @type {any} */ params) => call(/** @type {any} */ (method), params) })
  );
  return {
    call,
    get,
    methods,
    /** @param {{ WebSocket?: typeof WebSocket }} [options] */
    connect: (options) => connect({ url: base, token, ...options }),
    /** @param {Omit<SubscribeOptions, "url" | "token">} options */
    subscribe: (options) => subscribe({ url: base, token, ...options }),
  };
}

/**
 * Calls over one WebSocket (the same methods and rules as HTTP; answers matched by id).
 * The socket is signed in with `token` by its first message. Calls made before it opens
 * wait for it; when it closes, calls still waiting fail with `service_unavailable`.
 * @param {{ url: string, token?: string, WebSocket?: typeof WebSocket }} options
 */
export function connect({ url, token, WebSocket: Socket }) {
  const ws = new (Socket ?? globalThis.WebSocket)(`${url.replace(/^http/, "ws")}/ws`);
  /** @type {Map<number, { resolve: (value: any) => void, reject: (error: Error) => void }>} */
  const waiting = new Map();
  let nextId = 0;
  const opened = new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new CountersignError({ code: -32007, message: "The socket could not open.", data: { reason: "socket_closed" } }));
  });
  /**
   * @template {keyof Methods} M
   * @param {M} method
   * @param {Methods[M]["params"]} [params]
   * @returns {Promise<Methods[M]["result"]>}
   */
  const call = async (method, params) => {
    await opened;
    const id = ++nextId;
    const answered = new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
    ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params: params ?? {} }));
    return answered;
  };
  ws.onmessage = (event) => {
    const message = JSON.parse(String(event.data));
    const caller = waiting.get(message.id);
    if (!caller) return; // a pushed notification: subscribe() is for those
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
    close: () => ws.close(),
  };
}

/**
 * @typedef {object} SubscribeOptions
 * @property {string} url the server's base URL
 * @property {string} [token] an API token (or a session's secret) to sign the socket in with
 * @property {number} [after] the last `seq` you have; omit to start from the head now
 * @property {(notification: Notification) => void} onNotification each row, once, in `seq` order
 * @property {(message: ResyncRequired) => void} [onResync] rows you wanted are gone: reload
 *   what you show (`notifications_list` from `oldest_seq - 1`, or your own state)
 * @property {(error: CountersignError) => void} [onError] a refusal that ends the subscription
 * @property {typeof WebSocket} [WebSocket] the WebSocket class (default: the global one)
 * @property {typeof fetch} [fetch] to read the head when `after` is omitted (default: global)
 */

/**
 * Subscribes to your notifications and stays subscribed: after any drop it reconnects
 * (250 ms doubling to 30 s, jittered) and resumes after the last `seq` delivered, so
 * nothing is missed and nothing is delivered twice. Ends on `close()`, or when the
 * credential is refused or revoked (`onError`).
 * @param {SubscribeOptions} options
 */
export function subscribe({ url, token, after, onNotification, onResync, onError, WebSocket: Socket, fetch: send }) {
  const WS = Socket ?? globalThis.WebSocket;
  let last = after;
  let stopped = false;
  let failures = 0;
  /** @type {WebSocket | undefined} */
  let socket;
  /** @param {CountersignError} error */
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
      if (pushed.type === "session_revoked") return; // the close (4001) follows
      if (last !== undefined && pushed.seq <= last) return; // at-least-once: dedupe by seq
      last = pushed.seq;
      onNotification(pushed);
    };
    // Some WebSocket implementations report a failed connection by `error` alone, others by
    // `error` then `close`: whichever comes first schedules the one retry of this socket.
    let retried = false;
    const retry = () => {
      if (stopped || retried) return;
      retried = true;
      const wait = Math.min(30_000, 250 * 2 ** failures++) * (1 + Math.random() / 2);
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
  /** Without `after`, the stream's head now: a drop before the first row then loses none. */
  const head = async () => {
    const query = new URLSearchParams({ params: JSON.stringify({ limit: 1 }), id: "0" });
    const headers = token ? { authorization: `Bearer ${token}` } : undefined;
    const response = await (send ?? globalThis.fetch)(`${url}/rpc/notifications_list?${query}`, { headers, credentials: "include" });
    const body = await response.json();
    if (body.error) throw new CountersignError(body.error);
    return body.result.head_seq;
  };
  if (last === undefined) {
    head().then((seq) => { last = seq; open(); }, (error) => (error instanceof CountersignError ? end(error) : open()));
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
    },
  };
}
