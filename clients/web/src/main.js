// @ts-check
// The console's shell, and the `app` object every page is given (the one contract page
// modules rely on; see `app` below): it asks the server who is signed in (the HttpOnly
// session cookie; no token ever touches storage), shows the sign-in screen or the shell —
// header, the main navigation gated on the permissions map, a hash router — and keeps the one
// notification subscription of the whole app, handing each live notification to the pages
// that listen and re-reading `whoami` when a permit changes. Dialogs, error boxes and the
// polite live region are made here so every page looks and behaves the same.

import "./app.css";
import { CountersignError, createClient, hasPermission } from "../../typescript/src/client.js";
import { h, mount } from "./dom.js";
import { renderSignIn } from "./pages/signin.js";
import { page as inbox } from "./pages/inbox.js";
import { page as requests } from "./pages/requests.js";
import { page as offers } from "./pages/offers.js";
import { page as policies } from "./pages/policies.js";
import { page as audit } from "./pages/audit.js";
import { page as modules } from "./pages/modules.js";

/**
 * @typedef {{ seq?: number, type: string, data?: any, created_at?: string } & Record<string, any>} Pushed
 * @typedef {{ label: string, kind?: "danger" | "primary", onclick: () => Promise<boolean> | boolean }} DialogAction
 * @typedef {{ id: string, title: string, visible: (app: App) => boolean, render: (app: App, args: string[]) => Promise<HTMLElement> }} Page
 * @typedef {typeof app} App
 */

/** The pages in navigation order; the first is the default. */
const pages = /** @type {Page[]} */ ([inbox, requests, offers, policies, audit, modules]);

const root = /** @type {HTMLElement} */ (document.getElementById("app"));
const client = createClient({ url: location.origin });

/** Bumped by every render of a page: listeners a page registered die with its render. */
let generation = 0;
/** @type {Set<{ generation: number, listener: (n: Pushed) => void }>} */
const listeners = new Set();
/** @type {Set<(state: string) => void>} */
const connectionListeners = new Set();
/** @type {{ close: () => void } | null} */
let subscription = null;
let connection = "Connecting…";
/** The parts of the shell that change after it is built (null while signed out). */
/** @type {{ nav: HTMLElement, main: HTMLElement, status: HTMLElement } | null} */
let shell = null;
let nextId = 0;

const liveRegion = h("div", { class: "sr-only", role: "status", "aria-live": "polite" });
document.body.append(liveRegion);

const app = {
  client,
  /** The latest `whoami` answer. */
  me: /** @type {any} */ (null),
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
    const found = new Set();
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
  dialog,
};

/**
 * An alert showing the server's message (or, when the server could not be reached, that).
 * @param {unknown} error
 */
function errorBox(error) {
  let message = error instanceof Error ? error.message : String(error);
  if (error instanceof TypeError) message = "The server could not be reached. Check the connection and try again.";
  return h("div", { role: "alert", class: "callout callout-danger" }, h("strong", null, "Error: "), message);
}

/** @param {string} text a status message for screen readers (polite) */
function announce(text) {
  liveRegion.textContent = "";
  setTimeout(() => (liveRegion.textContent = text), 50);
}

/**
 * A modal dialog (native `<dialog>`, `showModal()`): focus goes in, Escape closes, focus goes
 * back to what opened it. The primary (else danger, else first) action is the form's submit,
 * so Enter in a field runs it. An action closes the dialog by answering true; what it throws
 * is shown inside.
 * @param {{ title: string, body?: Node, actions: DialogAction[] }} options
 */
function dialog({ title, body, actions }) {
  const opener = /** @type {HTMLElement | null} */ (document.activeElement);
  const titleId = `dialog-title-${++nextId}`;
  const errorSlot = h("div", { class: "dialog-error" });
  const main = actions.find((a) => a.kind === "primary") ?? actions.find((a) => a.kind === "danger") ?? actions[0];
  /** @type {HTMLButtonElement[]} */
  const buttons = [];
  /** @param {DialogAction} action */
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
  for (const action of actions) {
    const isMain = action === main;
    const button = /** @type {HTMLButtonElement} */ (
      h("button", {
        type: isMain ? "submit" : "button",
        class: `btn${action.kind ? ` btn-${action.kind}` : ""}`,
        onclick: isMain ? null : () => run(action),
      }, action.label)
    );
    buttons.push(button);
  }
  const hasCancel = actions.some((a) => a.label === "Cancel");
  const cancel = !hasCancel && h("button", { type: "button", class: "btn", onclick: () => element.close() }, "Cancel");
  const form = h(
    "form",
    { onsubmit: (/** @type {Event} */ event) => (event.preventDefault(), main && run(main)) },
    h("h2", { id: titleId }, title),
    body,
    errorSlot,
    h("div", { class: "dialog-actions" }, buttons, cancel),
  );
  const element = /** @type {HTMLDialogElement} */ (h("dialog", { class: "dialog", "aria-labelledby": titleId }, form));
  element.addEventListener("close", () => {
    element.remove();
    if (opener && opener.isConnected) opener.focus();
  });
  document.body.append(element);
  element.showModal();
  return element;
}

/** @param {string} state */
function setConnection(state) {
  connection = state;
  if (shell) shell.status.textContent = state;
  if (shell) shell.status.dataset.state = state === "Live" ? "live" : "down";
  for (const listener of connectionListeners) listener(state);
}

/** Re-reads whoami (over POST: an answer that is an error is still HTTP 200, no console noise). */
async function loadMe() {
  app.me = await client.call("whoami", {});
  if (shell) renderNav();
}

/** Each pushed message in turn; after a permit change, whoami is read before pages hear of it. */
let delivering = Promise.resolve();
/** @param {Pushed} pushed */
function deliver(pushed) {
  delivering = delivering.then(async () => {
    if (pushed.type.startsWith("permit_")) {
      try {
        await loadMe();
        if (!currentPage()?.visible(app)) await route(false);
      } catch {
        /* whoami failed: the subscription's own error handling signs out if the session ended */
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

/**
 * Opens the one subscription, resumed across drops: every notification after `after` (the
 * head read before the pages load theirs, so nothing falls between a page's list and the feed).
 * @param {number} [after]
 */
function startNotifications(after) {
  let active = true;
  // The client's subscribe() does not report the socket's state; a WebSocket that tells us does.
  class Socket extends WebSocket {
    /** @param {string | URL} url @param {string | string[]} [protocols] */
    constructor(url, protocols) {
      super(url, protocols);
      this.addEventListener("open", () => active && setConnection("Live"));
      this.addEventListener("close", () => active && setConnection("Reconnecting…"));
    }
  }
  setConnection("Connecting…");
  const subscribed = client.subscribe({
    after,
    WebSocket: Socket,
    onNotification: (notification) => deliver(/** @type {Pushed} */ (notification)),
    onResync: (message) => deliver(/** @type {Pushed} */ (message)),
    onError: (error) => {
      active = false;
      setConnection("Not connected");
      if (error.code === -32001) showSignIn("Your session ended. Sign in again.");
    },
  });
  subscription = {
    close() {
      active = false;
      subscribed.close();
    },
  };
}

function stopNotifications() {
  subscription?.close();
  subscription = null;
}

/** The hash path as segments: `#/requests/abc` → ["requests", "abc"]. */
function hashPath() {
  return location.hash
    .replace(/^#\/?/, "")
    .split("/")
    .filter((part) => part !== "")
    .map((part) => decodeURIComponent(part));
}

function currentPage() {
  const [id] = hashPath();
  return id === undefined ? pages[0] : pages.find((page) => page.id === id);
}

function renderNav() {
  if (!shell) return;
  const current = currentPage();
  mount(
    shell.nav,
    h(
      "ul",
      null,
      pages
        .filter((page) => page.visible(app))
        .map((page) =>
          h("li", null, h("a", { href: `#/${page.id}`, "aria-current": page === current ? "page" : null }, page.title)),
        ),
    ),
  );
}

/**
 * Renders the page the hash names into <main>; a later route wins over a slower earlier one.
 * @param {boolean} focus move focus to the page's heading (after the user navigated)
 */
async function route(focus) {
  if (!shell) return;
  const mine = ++generation;
  for (const entry of listeners) if (entry.generation < mine) listeners.delete(entry);
  renderNav();
  const { main } = shell;
  const [, ...args] = hashPath();
  const page = currentPage();
  if (!page || !page.visible(app)) {
    document.title = "Not available — countersign";
    mount(main, h("h1", { tabindex: "-1" }, "Not available"), h("p", null, "This page does not exist, or your permissions do not include it. ", h("a", { href: "#/inbox" }, "Go to the inbox"), "."));
    if (focus) main.querySelector("h1")?.focus();
    return;
  }
  if (main.dataset.page !== page.id) mount(main, h("p", { class: "loading" }, "Loading…"));
  let content;
  try {
    content = await page.render(app, args);
  } catch (error) {
    content = h("section", null, h("h1", null, page.title), errorBox(error));
  }
  if (mine !== generation || !shell) return;
  main.dataset.page = page.id;
  mount(main, content);
  document.title = `${page.title} — countersign`;
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
    // Already ended elsewhere is as good as signed out; anything else is shown.
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
    head = undefined; // the subscription reads the head itself
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
      h("button", { type: "button", class: "btn btn-small", onclick: signOut }, "Sign out"),
    ),
  );
  shell = { nav, main, status };
  mount(root, skip, header, h("div", { class: "layout" }, nav, main));
  startNotifications(head);
  void route(false);
}

/** @param {string} [message] shown above the form (signed out, session ended) */
function showSignIn(message) {
  stopNotifications();
  shell = null;
  app.me = null;
  listeners.clear();
  document.title = "Sign in — countersign";
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
