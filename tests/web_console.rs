//! The web console (`clients/web`) in a real browser, from the Rust test suite:
//! - the checked-in build (`clients/web/dist`, which the binary embeds) is what its sources
//!   build to;
//! - its Playwright tests (Node's test runner driving Debian's `chromium` through
//!   `playwright-core`; never a downloaded browser) pass against this build's server binary,
//!   and leave a screenshot of every screen in `<target>/console-screenshots/`.
//!
//! They need Node, `npm ci` run in `clients/web` and a `chromium`: the test command
//! (`scripts/test.sh`) installs what is missing. Without them these skip, loudly; CI sets
//! `COUNTERSIGN_REQUIRE_BROWSER` so they never do.

mod common;

use std::path::{Path, PathBuf};

use common::node::{node_runs, ready, run_node};

const CONSOLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/clients/web");

/// The browser: `CHROMIUM`, else Debian's.
fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// What is missing to run the console's tests here (nothing: `None`).
fn missing() -> Option<String> {
    if !node_runs() {
        return Some("node".into());
    }
    for package in ["esbuild", "playwright-core"] {
        if !Path::new(CONSOLE).join("node_modules").join(package).exists() {
            return Some(format!("clients/web/node_modules/{package} (npm ci in clients/web)"));
        }
    }
    (!chromium().exists()).then(|| format!("a browser at {} (apt-get install chromium)", chromium().display()))
}

fn console_ready() -> bool {
    ready(missing(), "COUNTERSIGN_REQUIRE_BROWSER", "the web console's tests")
}

#[test]
fn the_embedded_build_is_what_the_sources_build_to() {
    if console_ready() {
        run_node(Path::new(CONSOLE), &["build.mjs", "--check"], &[]);
    }
}

#[test]
fn every_screen_works_in_a_real_browser() {
    if !console_ready() {
        return;
    }
    // The test files by name: Node 20 would also run `test/harness.mjs` as one.
    let mut files: Vec<String> = std::fs::read_dir(Path::new(CONSOLE).join("test"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".test.mjs"))
        .map(|name| format!("test/{name}"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no clients/web/test/*.test.mjs");
    let mut args = vec!["--test", "--test-concurrency=1"];
    args.extend(files.iter().map(String::as_str));
    // `CARGO_TARGET_TMPDIR` is `<target>/tmp`: the screenshots go beside it.
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).with_file_name("console-screenshots");
    let browser = chromium();
    run_node(
        Path::new(CONSOLE),
        &args,
        &[("COUNTERSIGN_SCREENSHOTS", screenshots.as_os_str()), ("CHROMIUM", browser.as_os_str())],
    );
}
