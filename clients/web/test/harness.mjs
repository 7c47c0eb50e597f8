// What every console test needs: a real countersign server on a free port over a fresh
// SQLite file (the binary from COUNTERSIGN_BIN, else this checkout's debug build), accounts
// made through root's API token, Debian's chromium driven by playwright-core (never a
// downloaded browser), signing in through the console's own sign-in screen, screenshots as
// test artifacts under target/, and a watch on console errors and CSP violations, which every
// test asserts are absent.

import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

import { createClient } from "../../typescript/src/client.js";

const repo = fileURLToPath(new URL("../../../", import.meta.url));

/** The password every account made here gets (at least 12 characters, §4). */
export const PASSWORD = "correct horse battery staple";

async function freePort() {
  const probe = createServer().listen(0, "127.0.0.1");
  await once(probe, "listening");
  const address = /** @type {import("node:net").AddressInfo} */ (probe.address());
  probe.close();
  await once(probe, "close");
  return address.port;
}

/**
 * Starts a server over a fresh database: `migrate`, root as admin, an API token for root,
 * then `serve`. `url` has no trailing slash (`http://127.0.0.1:PORT`, the trusted origin).
 * @returns {Promise<{ url: string, admin: ReturnType<typeof createClient>, root: { id: string, username: string, password: string }, stop: () => Promise<void> }>}
 */
export async function startServer() {
  const bin = process.env.COUNTERSIGN_BIN ?? join(repo, "target/debug/countersign");
  if (!existsSync(bin)) throw new Error(`no server binary at ${bin}: run \`cargo build\` or set COUNTERSIGN_BIN`);
  const dir = mkdtempSync(join(tmpdir(), "countersign-web-"));
  const database = ["--database-url", `sqlite://${join(dir, "countersign.db")}`];
  const offline = (/** @type {string[]} */ args, input = "") =>
    execFileSync(bin, [...args, ...database], { cwd: dir, input, stdio: ["pipe", "pipe", "pipe"] }).toString().trim();
  offline(["migrate"]);
  offline(["account", "create", "--admin", "--username", "root"], `${PASSWORD}\n`);
  const token = offline(["token", "create", "--username", "root", "--name", "console-tests"], `${PASSWORD}\n`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = spawn(bin, ["serve", "--listen", `127.0.0.1:${port}`, ...database], { cwd: dir, stdio: "ignore" });
  let started = false;
  for (let i = 0; i < 400 && !started; i++) {
    try {
      started = (await fetch(`${url}/health`)).ok;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  if (!started) {
    server.kill("SIGKILL");
    throw new Error("the server did not start");
  }
  const admin = createClient({ url, token });
  const me = await admin.call("whoami", {});
  return {
    url,
    admin,
    root: { id: me.account.id, username: "root", password: PASSWORD },
    async stop() {
      if (server.exitCode === null) {
        const exited = once(server, "exit");
        server.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Creates an account (password `PASSWORD`) and grants it each `{ role, scope_id? }`.
 * @param {ReturnType<typeof createClient>} admin
 * @param {string} username
 * @param {{ role: string, scope_id?: string }[]} [grants]
 */
export async function createAccount(admin, username, grants = []) {
  const { account } = await admin.call("account_create", { username, password: PASSWORD });
  for (const grant of grants) await admin.call("permit_grant", { to_account_id: account.id, ...grant });
  return { id: account.id, username, password: PASSWORD };
}

/** Debian's chromium (or CHROMIUM), headless; never a downloaded browser. */
export function launchBrowser() {
  const asRoot = typeof process.getuid === "function" && process.getuid() === 0;
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: asRoot ? ["--no-sandbox"] : [],
  });
}

/** @type {WeakMap<import("playwright-core").Page, string[]>} */
const watched = new WeakMap();

/**
 * Starts collecting the page's console errors, uncaught exceptions and CSP violations (Chrome
 * reports those as console errors); returns a function answering the list so far. Calling it
 * again for the same page answers the same list. `signIn` already watches its page.
 * @param {import("playwright-core").Page} page
 * @returns {() => string[]}
 */
export function watchErrors(page) {
  let errors = watched.get(page);
  if (!errors) {
    const list = /** @type {string[]} */ ([]);
    errors = list;
    watched.set(page, list);
    page.on("console", (message) => {
      if (message.type() === "error") list.push(`console: ${message.text()}`);
    });
    page.on("pageerror", (error) => list.push(`page error: ${error.message}`));
  }
  const seen = errors;
  return () => [...seen];
}

/**
 * Opens the console in a new browser context and signs in through the sign-in screen
 * (labels "Username", "Password", button "Sign in"). Resolves once the main navigation shows.
 * Returns the page (its context: `page.context()`), already watched by `watchErrors`.
 * @param {import("playwright-core").Browser} browser
 * @param {string} url the server's base URL
 * @param {{ username: string, password: string }} account
 */
export async function signIn(browser, url, account) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  watchErrors(page);
  await page.goto(`${url}/`);
  await page.getByLabel("Username").fill(account.username);
  await page.getByLabel("Password").fill(account.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator('nav[aria-label="Main"]').waitFor({ state: "visible" });
  return page;
}

/**
 * A full-page PNG at `<repo>/target/console-screenshots/<name>.png` (folder:
 * COUNTERSIGN_SCREENSHOTS). Returns the path.
 * @param {import("playwright-core").Page} page
 * @param {string} name
 */
export async function screenshot(page, name) {
  const folder = process.env.COUNTERSIGN_SCREENSHOTS ?? join(repo, "target/console-screenshots");
  mkdirSync(folder, { recursive: true });
  const path = join(folder, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
