//! The TypeScript client (`clients/typescript`), from the Rust test suite so that
//! `cargo test` covers it with no Node packages to install:
//! - its generated types match the OpenRPC document they come from (the chain is Rust types
//!   → `schemas/`, checked by `schemas --check` → `generated.ts`, checked here);
//! - its own tests (Node's test runner) pass against this build's server binary.
//!
//! Without `node` these skip, loudly; CI sets `COUNTERSIGN_REQUIRE_NODE` so they never do.

mod common;

use std::path::Path;

use common::node::{node_runs, ready, run_node};

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/clients/typescript");

/// Whether `node` can run here; panics when CI requires it and it cannot.
fn node() -> bool {
    let missing = (!node_runs()).then(|| "node (20.10 or later)".to_owned());
    ready(missing, "COUNTERSIGN_REQUIRE_NODE", "clients/typescript")
}

#[test]
fn the_generated_types_are_current() {
    if node() {
        run_node(Path::new(CLIENT), &["scripts/generate.mjs", "--check"], &[]);
    }
}

#[test]
fn the_client_passes_its_tests_against_this_server() {
    if node() {
        run_node(Path::new(CLIENT), &["--experimental-websocket", "--test", "test/"], &[]);
    }
}
