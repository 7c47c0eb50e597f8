//! The TypeScript client's generated types (`clients/typescript/src/generated.ts`) match
//! the OpenRPC document they are generated from, so a client built on them cannot drift
//! from the server: the chain is Rust types → `schemas/` (checked by `schemas --check`) →
//! `generated.ts` (checked here).

use std::process::Command;

#[test]
fn the_typescript_types_are_current() {
    let found = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("COUNTERSIGN_REQUIRE_NODE").is_none(), "node is required here");
        eprintln!("SKIPPED: no node to run clients/typescript/scripts/generate.mjs --check with");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/clients/typescript/scripts/generate.mjs");
    let output = Command::new("node").args([script, "--check"]).output().unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
