// The client against a real server, started here: the binary the Rust build made, on a
// free port over a fresh SQLite file. `npm test` (after `cargo build`), and
// tests/typescript_client.rs from `cargo test`.

import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import { CountersignError, createClient, hasPermission } from "../src/client.js";

// The server binary: COUNTERSIGN_BIN (cargo test sets it), else this checkout's debug build.
const bin = process.env.COUNTERSIGN_BIN ?? fileURLToPath(new URL("../../../target/debug/countersign", import.meta.url));
const password = "correct horse battery staple\n";
const dir = mkdtempSync(join(tmpdir(), "countersign-ts-"));
const database = ["--database-url", `sqlite://${join(dir, "countersign.db")}`];
let port;
let server;
let token;
let client;

const freePort = async () => {
  const probe = createServer().listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address();
  probe.close();
  return port;
};
const offline = (args, input = "") => execFileSync(bin, [...args, ...database], { cwd: dir, input }).toString().trim();
const serve = async () => {
  server = spawn(bin, ["serve", "--listen", `127.0.0.1:${port}`, ...database], { cwd: dir, stdio: "ignore" });
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return;
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("the server did not start");
};
const stop = async () => {
  const exited = once(server, "exit");
  server.kill("SIGTERM");
  await exited;
};
// Reconnecting after a restart may take a backoff step of several seconds.
const until = async (check) => {
  for (let i = 0; i < 1200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  assert.ok(check(), "in time");
};

before(async () => {
  assert.ok(existsSync(bin), `no server binary at ${bin}: run \`cargo build\` first, or set COUNTERSIGN_BIN`);
  port = await freePort();
  offline(["migrate"]);
  offline(["account", "create", "--admin", "--username", "root"], password);
  token = offline(["token", "create", "--username", "root", "--name", "typescript"], password);
  await serve();
  client = createClient({ url: `http://127.0.0.1:${port}/`, token });
});

after(async () => {
  if (server.exitCode === null) await stop();
});

test("one typed function per method, over POST and GET", async () => {
  const me = await client.methods.whoami();
  assert.equal(me.account.username, "root");
  assert.equal((await client.get("whoami")).account.id, me.account.id);
  const roles = await client.call("role_list", {});
  assert.ok(roles.roles.some((role) => role.name === "admin"));
});

test("calls over one WebSocket, signed in by its first message", async () => {
  const socket = client.connect();
  assert.equal((await socket.signedIn).username, "root");
  const [me, roles] = await Promise.all([socket.call("whoami"), socket.call("role_list")]);
  assert.equal(me.account.username, "root");
  assert.ok(roles.roles.length > 0);
  await assert.rejects(socket.call("account_login", { username: "root", password: "x" }), { reason: "http_only" });
  socket.close();
});

test("errors carry code, reason and data", async () => {
  await assert.rejects(client.call("permit_grant", { bogus: 1 }), (error) => {
    assert.ok(error instanceof CountersignError);
    assert.equal(error.code, -32602);
    assert.equal(error.reason, "schema");
    assert.ok(Array.isArray(error.data.issues));
    return true;
  });
  await assert.rejects(client.get("token_create", { name: "x" }), { code: -32600, reason: "method_requires_post" });
  const stranger = createClient({ url: `http://127.0.0.1:${port}` });
  await assert.rejects(stranger.methods.whoami(), { code: -32001, reason: "no_credentials" });
});

test("subscribe delivers each notification once, across a server restart", async () => {
  const me = await client.methods.whoami();
  const grant = (scope) =>
    client.methods.permit_grant({ to_account_id: me.account.id, role: "member", scope_id: scope });
  const seen = [];
  const subscription = client.subscribe({ onNotification: (n) => seen.push(n) });
  await new Promise((resolve) => setTimeout(resolve, 300));
  await grant("org:a");
  await until(() => seen.length === 1);
  assert.equal(seen[0].type, "permit_granted");
  await stop();
  await serve();
  await grant("org:b");
  await until(() => seen.length === 2);
  assert.equal(seen[1].seq, seen[0].seq + 1, "no gap, no repeat");
  assert.equal(seen[1].data.permit.scope_id, "org:b");
  assert.equal(subscription.lastSeq, seen[1].seq);
  subscription.close();
});

test("a revoked token ends the subscription", async () => {
  const doomed = offline(["token", "create", "--username", "root", "--name", "doomed"], password);
  const errors = [];
  const subscription = createClient({ url: `http://127.0.0.1:${port}`, token: doomed }).subscribe({
    after: 0,
    onNotification: () => {},
    onError: (e) => errors.push(e),
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const listed = await client.methods.token_list();
  await client.methods.token_revoke({ token_id: listed.tokens.find((t) => t.name === "doomed").id });
  await until(() => errors.length === 1);
  assert.equal(errors[0].reason, "session_revoked");
  subscription.close();
});

test("hasPermission answers exactly as the server's permission_check", async () => {
  const account = await client.methods.account_create({ username: "gated", password: password.trim() });
  const grants = [
    ["member", "org:acme"],
    ["approver", "org:acme/store:berlin"],
    ["admin", "org:other"],
    ["principal", "unit:CF1234"],
  ];
  for (const [role, scope_id] of grants) {
    await client.methods.permit_grant({ to_account_id: account.account.id, role, scope_id });
  }
  const secret = offline(["token", "create", "--username", "gated", "--name", "gating"], password);
  const gated = createClient({ url: `http://127.0.0.1:${port}`, token: secret });
  const { permissions } = await gated.methods.whoami();
  const cases = [];
  // Questions the server answers: each resource with verbs it has (§5.1; others are refused).
  const kindVerbs = ["create", "approve", "view-own", "view-any", "execute-any"];
  const vocabulary = { purchase: kindVerbs, refund: kindVerbs, "module.status": ["edit", "view"], modules: ["edit", "view"], audit: ["view"] };
  for (const [resource, verbs] of Object.entries(vocabulary)) {
    for (const verb of verbs) {
      for (const scope of [undefined, "org:acme", "org:acme/store:berlin", "org:acme/store:paris", "org:acmecorp",
        "org:other", "org:other/team:x", "unit:CF1234", "unit:CF12345"]) {
        cases.push({ resource, verb, scope });
      }
    }
  }
  const { results } = await gated.methods.permission_check({
    checks: cases.map(({ resource, verb, scope }) => ({ resource, verb, scope_id: scope })),
  });
  const disagreements = cases.filter((c, i) => hasPermission(permissions, c.resource, c.verb, c.scope) !== results[i]);
  assert.deepEqual(disagreements, [], JSON.stringify(permissions));
  assert.ok(results.filter(Boolean).length > 20, "the table has cases both ways");
});
