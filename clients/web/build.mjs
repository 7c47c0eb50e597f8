// Builds the console into dist/, which the server binary embeds (src/transport/console.rs):
// one JavaScript bundle and one stylesheet under dist/assets/, named by a hash of their
// content so the server can let browsers keep them for good, and dist/index.html, which
// names them. dist/ is checked in, so building or running the server never needs Node;
// `node build.mjs --check` (run by tests/web_console.rs) fails when dist/ is not what the
// sources build to.

import { build } from "esbuild";
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const dist = join(here, "dist");

/** Builds into `out` (emptied first). */
async function buildInto(out) {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, "assets"), { recursive: true });
  const result = await build({
    entryPoints: [join(here, "src/main.js")],
    bundle: true,
    format: "esm",
    target: "es2022",
    outdir: join(out, "assets"),
    entryNames: "[name]-[hash]",
    legalComments: "none",
    metafile: true,
    logLevel: "warning",
  });
  const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path));
  const script = outputs.find((name) => name.endsWith(".js"));
  const style = outputs.find((name) => name.endsWith(".css"));
  const page = readFileSync(join(here, "src/index.html"), "utf8")
    .replace("{{script}}", `/assets/${script}`)
    .replace("{{style}}", `/assets/${style}`);
  writeFileSync(join(out, "index.html"), page);
}

/** Every file under `dir`, as relative path → content. */
function files(dir, prefix = "") {
  const found = new Map();
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const path = join(prefix, entry.name);
    if (entry.isDirectory()) for (const [p, c] of files(dir, path)) found.set(p, c);
    else found.set(path, readFileSync(join(dir, path)));
  }
  return found;
}

if (process.argv.includes("--check")) {
  const fresh = mkdtempSync(join(tmpdir(), "countersign-web-"));
  await buildInto(fresh);
  const built = files(fresh);
  const kept = files(dist);
  const stale = [...new Set([...built.keys(), ...kept.keys()])].filter(
    (path) => !built.has(path) || !kept.has(path) || !built.get(path).equals(kept.get(path)),
  );
  rmSync(fresh, { recursive: true, force: true });
  if (stale.length > 0) {
    console.error(`clients/web/dist is stale (${stale.join(", ")}): run \`npm run build\` in clients/web`);
    process.exit(1);
  }
} else {
  await buildInto(dist);
}
