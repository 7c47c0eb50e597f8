//! The TypeScript client (`clients/typescript`), from the Rust test suite so that
//! `cargo test` covers it with no Node packages to install:
//! - its generated types match the OpenRPC document they come from (the chain is Rust types
//!   → `schemas/`, checked by `schemas --check` → `generated.ts`, checked here);
//! - its own tests (Node's test runner) pass against this build's server binary.
//!
//! Without `node` these skip, loudly; CI sets `COUNTERSIGN_REQUIRE_NODE` so they never do.

use std::process::Command;

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/clients/typescript");

/// Whether `node` can run here; panics when CI requires it and it cannot.
fn node() -> bool {
    let found = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("COUNTERSIGN_REQUIRE_NODE").is_none(), "node (20.10 or later) is required here");
        eprintln!("SKIPPED: no node to run clients/typescript with");
    }
    found
}

/// Runs `node ARGS…` in the client's folder; panics with its output when it fails.
fn run_node(args: &[&str]) {
    let output = Command::new("node")
        .args(args)
        .current_dir(CLIENT)
        .env("COUNTERSIGN_BIN", env!("CARGO_BIN_EXE_countersign"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "node {args:?}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_generated_types_are_current() {
    if node() {
        run_node(&["scripts/generate.mjs", "--check"]);
    }
}

#[test]
fn the_client_passes_its_tests_against_this_server() {
    if node() {
        run_node(&["--experimental-websocket", "--test", "test/"]);
    }
}
