//! The README's runnable blocks run as written: every fenced block whose info string is
//! `sh runnable` is run by `bash -eu` in a fresh empty directory, in order, with this build's
//! `countersign` on the PATH — what a newcomer with the binary installed would type. The
//! server they start listens on a free port (`COUNTERSIGN_LISTEN`, with `COUNTERSIGN_URL`
//! pointing the client commands at it) and `HOME` is the temporary directory, so nothing
//! outside it is touched.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const README: &str = include_str!("../README.md");

/// The blocks marked runnable, with the README line each starts on.
fn runnable_blocks() -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (number, line) in README.lines().enumerate() {
        match &mut current {
            None if line.trim() == "```sh runnable" => current = Some((number + 1, String::new())),
            Some(_) if line.trim() == "```" => blocks.extend(current.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    blocks
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn every_runnable_block_of_the_readme_runs_as_written() {
    let blocks = runnable_blocks();
    assert!(!blocks.is_empty(), "the README marks no block `sh runnable`");
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_countersign")).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let port = free_port();
    for (line, block) in blocks {
        // Its own process group, so a server the block leaves behind after a failure is ended too.
        let mut child = Command::new("setsid")
            .args(["bash", "-eu", "-c", &block])
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", &path)
            .env("HOME", dir.path())
            .env("COUNTERSIGN_LISTEN", format!("127.0.0.1:{port}"))
            .env("COUNTERSIGN_URL", format!("http://127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let timed_out = child.try_wait().unwrap().is_none();
        // SAFETY: kill(2) on the block's process group, which setsid made the child's pid.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let output = child.wait_with_output().unwrap();
        assert!(
            !timed_out && output.status.success(),
            "README block at line {line} {}:\n{block}\n--- stdout\n{}\n--- stderr\n{}",
            if timed_out { "ran over 60 s" } else { "failed" },
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
