// The console's shell and its own pages in a real browser against a real server: signing in
// and out, an offer arriving live in the inbox and accepted on the Offers page, the module
// status page's Validate button gated on the permissions map, the audit log with its chain
// status, and every page free of console errors and CSP violations. Writes the screenshots
// `signin`, `inbox`, `offers`, `audit` and `modules`.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import { createClient } from "../../typescript/src/client.js";
import { createAccount, launchBrowser, screenshot, signIn, startServer, watchErrors } from "./harness.mjs";

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import("playwright-core").Browser} */
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** @param {import("playwright-core").Page} page */
function assertNoErrors(page) {
  assert.deepEqual(watchErrors(page)(), [], "no console errors or CSP violations");
}

/** @param {import("playwright-core").Page} page @param {string} name the nav link's text */
async function open(page, name) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true }).click();
}

test("sign in shows the server's refusal, then the shell; sign out stays signed out", async () => {
  const sam = await createAccount(server.admin, "sam");
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${server.url}/`);
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await screenshot(page, "signin");

  // The server's own message for a wrong password (asked without a browser, no Origin).
  const refusal = await createClient({ url: server.url })
    .call("account_login", { username: "sam", password: "not the password" })
    .then(() => assert.fail("a wrong password signed in"), (error) => error.message);
  await page.getByLabel("Username").fill("sam");
  await page.getByLabel("Password").fill("still not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.innerText(), new RegExp(refusal.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  assert.equal(await page.getByRole("navigation", { name: "Main" }).count(), 0);

  await page.getByLabel("Password").fill(sam.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Main" }).waitFor();
  await page.getByRole("banner").getByText("sam", { exact: true }).waitFor();
  await page.getByRole("heading", { name: "Inbox" }).waitFor();
  assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0, "nothing stored");

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await page.getByText("You are signed out.").waitFor();
  await page.reload();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  assert.equal(await page.getByRole("navigation", { name: "Main" }).count(), 0, "a reload stays signed out");

  // Signed in again, then disabled by an admin: the socket closes (4001) and the console says so.
  await page.getByLabel("Username").fill("sam");
  await page.getByLabel("Password").fill(sam.password);
  await page.keyboard.press("Enter");
  await page.getByRole("banner").getByText("Live", { exact: true }).waitFor();
  await server.admin.call("account_disable", { account_id: sam.id });
  await page.getByText("Your session ended. Sign in again.").waitFor();
  assert.deepEqual(errors(), []);
  await context.close();
});

test("an offer arrives live in the inbox and is accepted on the Offers page", async () => {
  const dora = await createAccount(server.admin, "dora");
  const page = await signIn(browser, server.url, dora);
  await page.getByRole("heading", { name: "Inbox" }).waitFor();
  await page.getByRole("banner").getByText("Live", { exact: true }).waitFor();
  await page.getByText("No notifications yet").waitFor();

  await server.admin.call("permit_offer_create", {
    to_account_id: dora.id,
    role: "approver",
    scope_id: "org:acme",
    message: "Welcome to the approvers",
  });
  const note = page.getByRole("listitem").filter({ hasText: "offered you the role approver at org:acme" });
  await note.waitFor(); // no reload: it came over the subscription
  assert.match(await note.innerText(), /Welcome to the approvers/);
  await screenshot(page, "inbox");

  await note.getByRole("link", { name: "Open offers" }).click();
  await page.getByRole("heading", { name: "Offers", exact: true }).waitFor();
  const row = page.getByRole("table", { name: "Offers to you" }).getByRole("row").filter({ hasText: "approver" });
  await row.getByRole("button", { name: "Accept" }).click();
  const roles = page.getByRole("table", { name: "Your roles" });
  await roles.getByRole("row").filter({ hasText: "approver" }).filter({ hasText: "org:acme" }).waitFor();
  await page.getByText("No offers are waiting for you.").waitFor();
  await page.getByRole("table", { name: "Offer history" }).getByText("Accepted").waitFor();
  await screenshot(page, "offers");

  const { permits } = await server.admin.call("permit_list", { account_id: dora.id });
  const held = permits.find((p) => p.role === "approver" && p.scope_id === "org:acme");
  assert.ok(held, "the server holds the permit");
  assert.ok(held.source_offer_id, "made by accepting the offer");
  assertNoErrors(page);
  await page.context().close();
});

test("declining asks for an optional reason in a dialog; a sent offer can be retracted", async () => {
  const eve = await createAccount(server.admin, "eve", [{ role: "approver", scope_id: "org:acme" }]);
  const finn = await createAccount(server.admin, "finn");
  await server.admin.call("permit_offer_create", { to_account_id: eve.id, role: "operator", scope_id: "org:acme" });
  const page = await signIn(browser, server.url, eve);
  await open(page, "Offers");
  const row = page.getByRole("table", { name: "Offers to you" }).getByRole("row").filter({ hasText: "operator" });
  // Keyboard: the dialog takes focus, Escape closes it, focus returns to the opener.
  await row.getByRole("button", { name: "Decline" }).focus();
  await page.keyboard.press("Enter");
  const dialog = page.getByRole("dialog");
  await dialog.waitFor();
  assert.ok(await dialog.getByLabel("Reason (optional)").evaluate((el) => el === document.activeElement), "focus in the dialog");
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "detached" });
  assert.ok(await row.getByRole("button", { name: "Decline" }).evaluate((el) => el === document.activeElement), "focus back");
  await row.getByRole("button", { name: "Decline" }).click();
  await dialog.getByLabel("Reason (optional)").fill("Not my job");
  await dialog.getByRole("button", { name: "Decline offer" }).click();
  await page.getByText("No offers are waiting for you.").waitFor();
  assert.equal(await page.getByRole("dialog").count(), 0);

  // eve holds approver at org:acme, so she may offer it there; the recipient is found by name.
  await page.getByLabel("Recipient username").fill("nobody-here");
  await page.getByLabel("Role", { exact: true }).selectOption("approver");
  await page.getByRole("button", { name: "Send offer" }).click();
  await page.locator("form").getByRole("alert").waitFor();
  await page.getByLabel("Recipient username").fill(finn.username.toUpperCase());
  await page.getByLabel("Role", { exact: true }).selectOption("approver");
  await page.getByLabel("Scope (optional)").fill("org:acme/store:berlin");
  await page.getByRole("button", { name: "Send offer" }).click();
  const sent = page.getByRole("table", { name: "Offers you sent" }).getByRole("row").filter({ hasText: "org:acme/store:berlin" });
  await sent.getByRole("button", { name: "Retract" }).click();
  await page.getByText("You have no pending offers out.").waitFor();
  const { offers } = await server.admin.call("permit_offer_history", { account_id: eve.id });
  assert.deepEqual(offers.map((o) => o.status).sort(), ["declined", "retracted"]);
  assert.equal(offers.find((o) => o.status === "declined").decline_reason, "Not my job");
  assert.equal(offers.find((o) => o.status === "retracted").to_account_id, finn.id, "sent to the account named");
  assertNoErrors(page);
  await page.context().close();
});

test("module status: a standard user never sees Validate; a principal validates", async () => {
  const stan = await createAccount(server.admin, "stan", [{ role: "standard", scope_id: "unit:CF1234" }]);
  const standard = await signIn(browser, server.url, stan);
  await open(standard, "Module status");
  await standard.getByRole("row").filter({ hasText: "unit:CF1234" }).waitFor();
  assert.equal(await standard.getByRole("button", { name: /Validate/ }).count(), 0, "no Validate for a standard user");
  assertNoErrors(standard);
  await standard.context().close();

  const pia = await createAccount(server.admin, "pia", [{ role: "principal", scope_id: "unit:CF1234" }]);
  const principal = await signIn(browser, server.url, pia);
  await open(principal, "Module status");
  const row = principal.getByRole("row").filter({ hasText: "unit:CF1234" });
  await row.getByRole("button", { name: /Validate/ }).click();
  await row.getByText(/Validated by pia at .* — the server confirms you may edit module status at unit:CF1234/).waitFor();
  await screenshot(principal, "modules");
  assertNoErrors(principal);
  await principal.context().close();
});

test("audit: an admin sees rows and the verified chain; a member has no Audit link", async () => {
  const page = await signIn(browser, server.url, server.root);
  await open(page, "Audit");
  await page.getByRole("heading", { name: "Audit log" }).waitFor();
  await page.getByText(/Chain verified: \d+ rows intact/).waitFor();
  const rows = page.getByRole("table", { name: "Audit rows, oldest first" }).locator("tbody tr");
  assert.ok((await rows.count()) > 0, "rows shown");
  await screenshot(page, "audit");

  await page.getByLabel("Event type").fill("permit_grant");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.getByRole("table", { name: "Audit rows, oldest first" }).locator("tbody tr").first().waitFor();
  const events = await page.locator("tbody tr td:nth-child(3)").allInnerTexts();
  assert.ok(events.length > 0 && events.every((text) => text === "permit_grant"), `only permit_grant rows: ${events}`);
  assertNoErrors(page);
  await page.context().close();

  const mel = await createAccount(server.admin, "mel", [{ role: "member", scope_id: "org:acme" }]);
  const member = await signIn(browser, server.url, mel);
  const nav = member.getByRole("navigation", { name: "Main" });
  await nav.getByRole("link", { name: "Inbox" }).waitFor();
  assert.equal(await nav.getByRole("link", { name: "Audit" }).count(), 0, "no Audit link for a member");
  await member.goto(`${server.url}/#/audit`);
  await member.getByRole("heading", { name: "Not available" }).waitFor();
  assertNoErrors(member);
  await member.context().close();
});

test("every page renders without console errors or CSP violations", async () => {
  const quinn = await createAccount(server.admin, "quinn", [
    { role: "principal", scope_id: "unit:CF9" },
    { role: "manager", scope_id: "org:acme" },
    { role: "member", scope_id: "org:acme" },
  ]);
  for (const account of [server.root, quinn]) {
    const page = await signIn(browser, server.url, account);
    const links = await page.getByRole("navigation", { name: "Main" }).getByRole("link").allInnerTexts();
    assert.ok(links.length >= 3, `nav links: ${links}`);
    for (const name of links) {
      await open(page, name);
      await page.locator("main h1").first().waitFor();
      await page.waitForLoadState("networkidle");
      assert.equal(await page.locator("main [role=alert]").count(), 0, `${name} renders without an error`);
    }
    assertNoErrors(page);
    await page.context().close();
  }
});

test("the page loads only its own assets and its policy forbids inline scripts", async () => {
  const response = await fetch(`${server.url}/`);
  const policy = response.headers.get("content-security-policy") ?? "";
  assert.match(policy, /script-src 'self'(;|$)/);
  assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval/);
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = watchErrors(page);
  /** @type {string[]} */
  const loaded = [];
  page.on("request", (request) => loaded.push(request.url()));
  await page.goto(`${server.url}/`);
  await page.getByLabel("Username").waitFor();
  const foreign = loaded.filter((url) => !url.startsWith(`${server.url}/`) && !url.startsWith("data:"));
  assert.deepEqual(foreign, [], "nothing from another origin");
  assert.ok(loaded.some((url) => /\/assets\/main-[A-Z0-9]+\.js$/.test(url)), `the bundle: ${loaded}`);
  assert.deepEqual(errors(), []);
  // An injected inline script does not run, and the watch every test relies on sees the violation.
  await page.evaluate(() => {
    const script = document.createElement("script");
    script.textContent = "window.injected = true";
    document.body.append(script);
  });
  assert.equal(await page.evaluate(() => /** @type {any} */ (window).injected), undefined);
  await page.waitForTimeout(100);
  assert.ok(errors().some((text) => /Content Security Policy/.test(text)), `violation reported: ${errors()}`);
  await context.close();
});
