// The Requests and Policies screens in a real browser against a real server: a purchase
// executed directly behind the server's typed confirmation, a release approved by a second
// account (live in its "Awaiting my decision" list), a policy changed by a manager refusing a
// later create, and the gating — Execute now only with execute permission, policy controls only
// with `manage` on policies. What the user sees is asserted, and the server's state through
// root's API client. Screenshots go to target/console-screenshots/.

import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";

import { createAccount, launchBrowser, screenshot, signIn, startServer, watchErrors } from "./harness.mjs";

const SCOPE = "org:acme";
/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import("playwright-core").Browser} */
let browser;
/** @type {Record<string, { id: string, username: string, password: string }>} */
const people = {};
/** @type {import("playwright-core").Page[]} */
const pages = [];

before(async () => {
  server = await startServer();
  const { admin } = server;
  people.mia = await createAccount(admin, "mia", [{ role: "member", scope_id: SCOPE }, { role: "buyer", scope_id: SCOPE }]);
  people.max = await createAccount(admin, "max", [{ role: "member", scope_id: SCOPE }]);
  people.ada = await createAccount(admin, "ada", [{ role: "approver", scope_id: SCOPE }]);
  people.mo = await createAccount(admin, "mo", [{ role: "manager", scope_id: SCOPE }]);
  browser = await launchBrowser();
});

// Each test's pages: no console error and no CSP violation, then their contexts close.
afterEach(async () => {
  const opened = pages.splice(0);
  const errors = opened.flatMap((page) => watchErrors(page)());
  for (const page of opened) await page.context().close();
  assert.deepEqual(errors, [], "no console errors or CSP violations");
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** @param {string} username */
async function open(username) {
  const page = await signIn(browser, server.url, people[username]);
  pages.push(page);
  return page;
}

/** @param {import("playwright-core").Page} page */
async function newRequestForm(page) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Requests" }).click();
  await page.getByRole("link", { name: "New request" }).click();
  await page.getByRole("heading", { name: "New request" }).waitFor();
}

/**
 * What the server answers a direct execution without the phrase (root may execute anything;
 * a refused create changes nothing).
 * @param {Record<string, unknown>} params
 */
async function serverConfirmation(params) {
  try {
    await server.admin.call("request_create", { ...params, execute_now: true });
  } catch (error) {
    return /** @type {any} */ (error);
  }
  throw new Error("expected confirmation_required");
}

/** @param {import("playwright-core").Page} page */
async function requestIdFromUrl(page) {
  await page.waitForURL(/#\/requests\/[0-9a-f-]{36}$/);
  return decodeURIComponent(page.url().split("/").pop() ?? "");
}

test("mia creates a purchase and executes it directly behind the typed confirmation", async () => {
  const page = await open("mia");
  await newRequestForm(page);
  const title = "Laptops for the Berlin store";
  await page.getByLabel("Kind").selectOption("purchase");
  await page.getByLabel("Scope", { exact: true }).fill(SCOPE);
  await page.getByLabel("Title").fill(title);
  await page.getByLabel("Amount").fill("1999.99");
  await page.getByLabel("Currency").fill("USD");
  await page.getByLabel("Execute now").check();
  await screenshot(page, "request-create");
  await page.getByRole("button", { name: "Create request" }).click();

  const expected = await serverConfirmation({ kind: "purchase", scope_id: SCOPE, title, amount: "1999.99", currency: "USD" });
  assert.equal(expected.code, -32011);
  const dialog = page.getByRole("dialog");
  const callout = dialog.locator(".callout-danger");
  await callout.waitFor();
  assert.match(await callout.innerText(), /Warning/);
  assert.ok((await callout.innerText()).includes(expected.data.summary), "the server's summary in the red callout");
  const execute = dialog.getByRole("button", { name: "Execute", exact: true });
  assert.equal(await execute.isDisabled(), true, "Execute is disabled before the phrase is typed");
  const phrase = dialog.getByLabel("Type EXECUTE to confirm");
  await phrase.fill("EXECUT");
  assert.equal(await execute.isDisabled(), true, "a partial phrase does not enable Execute");
  await phrase.fill("EXECUTE");
  assert.equal(await execute.isDisabled(), false);
  await screenshot(page, "execute-confirmation");
  await execute.click();

  const id = await requestIdFromUrl(page);
  await page.getByRole("heading", { name: title }).waitFor();
  await page.locator(".request-status").getByText("Executed").waitFor();
  await page.getByText("Can be cancelled until").waitFor();
  assert.equal(await page.getByRole("dialog").count(), 0, "the dialog closed");
  const { request } = await server.admin.call("request_get", { request_id: id });
  assert.equal(request.status, "executed");
  assert.equal(request.executed_by, people.mia.id);
  assert.equal(request.amount, "1999.99");
  const mine = await server.admin.call("request_list", { scope_id: SCOPE, kind: "purchase" });
  assert.equal(mine.requests.filter((r) => r.title === title).length, 1, "created exactly once");

  // Undo it within the cancel window: the dialog names the deadline.
  await page.getByRole("button", { name: "Cancel (undo)" }).click();
  const cancel = page.getByRole("dialog");
  await cancel.getByText("This is possible until").waitFor();
  await cancel.getByLabel("Reason (optional)").fill("Ordered twice.");
  await cancel.getByRole("button", { name: "Yes, cancel the request" }).click();
  await page.locator(".request-status").getByText("Revoked").waitFor();
  const undone = (await server.admin.call("request_get", { request_id: id })).request;
  assert.equal(undone.status, "revoked");
  assert.equal(undone.cancel_reason, "Ordered twice.");
});

test("ada approves max's release from her live 'Awaiting my decision' list", async () => {
  const ada = await open("ada");
  await ada.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Requests" }).click();
  await ada.getByRole("button", { name: "Awaiting my decision" }).click();
  await ada.getByText("No requests here.").waitFor();

  const max = await open("max");
  await newRequestForm(max);
  const title = "Deploy v2.3 to production";
  await max.getByLabel("Kind").selectOption("release_deploy");
  await max.getByLabel("Title").fill(title);
  assert.equal(await max.getByLabel("Send for approval").isChecked(), true);
  await max.getByRole("button", { name: "Create request" }).click();
  const id = await requestIdFromUrl(max);
  await max.locator(".request-status").getByText("Waiting for approval").waitFor();
  assert.equal(await max.getByRole("button", { name: "Approve" }).count(), 0, "the requester is not offered a vote");

  // The notification request_approval_needed re-renders ada's list without a reload.
  await ada.getByRole("link", { name: title }).click();
  await ada.getByRole("heading", { name: title }).waitFor();
  await ada.getByText("0 of 1 approvals").waitFor();
  await ada.getByLabel("Comment (optional)").fill("Checked the changelog.");
  await ada.getByRole("button", { name: "Approve" }).click();
  await ada.locator(".request-status").getByText("Executed").waitFor();
  await ada.getByText("1 of 1 approvals").waitFor();
  const row = ada.locator(".decisions-table tbody tr");
  assert.match(await row.innerText(), /ada\s+Approved\s+Checked the changelog\./);
  await screenshot(ada, "request-detail");

  // max's open detail follows live.
  await max.locator(".request-status").getByText("Executed").waitFor();

  const { request } = await server.admin.call("request_get", { request_id: id });
  assert.equal(request.status, "executed");
  assert.equal(request.executed_by, null, "it ran because it was approved");
  assert.deepEqual(request.approvals.decisions.map((d) => [d.username, d.decision]), [["ada", "approve"]]);

  await ada.getByRole("link", { name: "Requests", exact: true }).first().click();
  await ada.getByRole("button", { name: "All I can see" }).click();
  await ada.getByRole("link", { name: "Laptops for the Berlin store" }).waitFor();
  await screenshot(ada, "requests");
});

test("gating: Execute now only with execute permission, policy controls only for managers", async () => {
  const max = await open("max");
  await newRequestForm(max);
  await max.getByLabel("Kind").selectOption("purchase");
  await max.getByLabel("Scope", { exact: true }).fill(SCOPE);
  await max.getByLabel("Send for approval").waitFor();
  assert.equal(await max.getByLabel("Execute now").count(), 0, "a member never sees Execute now");
  assert.equal(await max.getByText("Execute now").count(), 0);

  const mia = await open("mia");
  await newRequestForm(mia);
  await mia.getByLabel("Kind").selectOption("purchase");
  await mia.getByLabel("Execute now").waitFor();
  await mia.getByLabel("Kind").selectOption("release_deploy");
  assert.equal(await mia.getByLabel("Execute now").count(), 0, "buyer executes purchases only");

  await max.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Policies" }).click();
  const maxPurchase = max.getByRole("region", { name: "purchase" });
  await maxPurchase.getByText("How many people other than the requester must approve before it runs.").waitFor();
  assert.match(await maxPurchase.innerText(), /In force here: default/);
  assert.equal(await max.locator(".policies-results").locator("input, select, textarea").count(), 0, "read-only for a member");
  assert.equal(await max.getByRole("button", { name: /Save/ }).count(), 0);

  const mo = await open("mo");
  await mo.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Policies" }).click();
  const moPurchase = mo.getByRole("region", { name: "purchase" });
  await moPurchase.getByRole("button", { name: "Save purchase" }).waitFor();
  assert.equal(await moPurchase.getByRole("checkbox", { name: "Enabled" }).isChecked(), true);
  assert.equal(await moPurchase.getByLabel("Approvals required").inputValue(), "1");
});

test("mo sets a purchase limit; max's larger purchase is refused with the server's message", async () => {
  const mo = await open("mo");
  await mo.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Policies" }).click();
  const purchase = mo.getByRole("region", { name: "purchase" });
  await purchase.getByLabel("Maximum amount").fill("100");
  await purchase.getByRole("button", { name: "Save purchase" }).click();
  await purchase.getByText("Saved the purchase policy at org:acme.").waitFor();
  assert.match(await purchase.locator(".policy-source").innerText(), /set at org:acme/);
  await screenshot(mo, "policies");
  const { policy, source_scope_id } = await server.admin.call("policy_get", { scope_id: SCOPE, kind: "purchase" });
  assert.equal(policy.limits.max_amount, "100");
  assert.equal(source_scope_id, SCOPE);
  assert.equal(policy.approvals_required, 1, "fields left alone are kept");

  // A policy that cannot hold: the server's invalid_policy message, next to that kind's form.
  const release = mo.getByRole("region", { name: "release_deploy" });
  await release.getByLabel("Most requests in the window").fill("3");
  await release.getByRole("button", { name: "Save release_deploy" }).click();
  const refusal = release.getByRole("alert");
  await refusal.waitFor();
  assert.match(await release.locator(".error-field").innerText(), /window_hours/);
  const kept = await server.admin.call("policy_get", { scope_id: SCOPE, kind: "release_deploy" });
  assert.equal(kept.source_scope_id, null, "nothing stored");

  const max = await open("max");
  await newRequestForm(max);
  const title = "Espresso machine";
  await max.getByLabel("Kind").selectOption("purchase");
  await max.getByLabel("Title").fill(title);
  await max.getByLabel("Amount").fill("500");
  await max.getByLabel("Currency").fill("USD");
  await max.getByRole("button", { name: "Create request" }).click();
  const alert = max.locator(".form-message [role=alert]");
  await alert.waitFor();
  assert.ok(max.url().endsWith("#/requests/new"), "still on the form");
  const { requests } = await server.admin.call("request_list", { scope_id: SCOPE, kind: "purchase" });
  assert.equal(requests.filter((r) => r.title === title).length, 0, "nothing was created");
  let expected;
  try {
    await server.admin.call("request_create", { kind: "purchase", scope_id: SCOPE, title: "limit probe", amount: "500", currency: "USD" });
  } catch (error) {
    expected = /** @type {any} */ (error);
  }
  assert.equal(expected?.reason, "limit_exceeded");
  assert.ok((await alert.innerText()).includes(expected.message), "the server's own message");

  // The form's own check: an invalid payload makes no call.
  await max.getByLabel("Amount").fill("50");
  await max.getByLabel("Payload (JSON, optional)").fill("{not json");
  await max.getByRole("button", { name: "Create request" }).click();
  await max.getByText("The payload is not valid JSON").waitFor();
  const again = await server.admin.call("request_list", { scope_id: SCOPE, kind: "purchase" });
  assert.equal(again.requests.filter((r) => r.title === title).length, 0);
});
