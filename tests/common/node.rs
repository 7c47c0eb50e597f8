//! Running Node from a Rust test (the TypeScript client's and the web console's suites):
//! `cargo test` covers them with this build's server binary, and a missing tool is a loud
//! skip, or a failure where CI demands it.

use std::path::Path;
use std::process::Command;

/// Whether `node` runs here.
pub fn node_runs() -> bool {
    Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// `true` when nothing is `missing`; else a skip, said loudly — or a panic when the
/// environment variable `require` is set (CI sets it so nothing skips there).
pub fn ready(missing: Option<String>, require: &str, suite: &str) -> bool {
    let Some(what) = missing else { return true };
    assert!(std::env::var_os(require).is_none(), "{suite} needs {what} ({require} is set)");
    eprintln!("SKIPPED: {suite} needs {what}");
    false
}

/// Runs `node ARGS…` in `dir` with `COUNTERSIGN_BIN` set to this build's server and `envs`;
/// panics with its output when it fails.
pub fn run_node(dir: &Path, args: &[&str], envs: &[(&str, &std::ffi::OsStr)]) {
    let output = Command::new("node")
        .args(args)
        .current_dir(dir)
        .env("COUNTERSIGN_BIN", env!("CARGO_BIN_EXE_countersign"))
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "node {args:?}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
