//! A throwaway PostgreSQL cluster for the tests of one test binary.
//!
//! Uses `COUNTERSIGN_TEST_PG_URL` (an admin URL) when set; otherwise starts a cluster with
//! the machine's `initdb`/`pg_ctl` in a temporary directory (as the `postgres` user when
//! running as root, since PostgreSQL refuses root) and stops it when the process exits.
//! Each test gets a fresh database. With no binaries, PostgreSQL tests are skipped loudly,
//! or fail when `COUNTERSIGN_REQUIRE_PG=1` (CI sets it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use sqlx::Connection;

static CLUSTER: OnceLock<Option<String>> = OnceLock::new();
static DATA_DIR: Mutex<Option<(PathBuf, PathBuf, bool)>> = Mutex::new(None);

/// A URL to a new, empty database, or `None` when PostgreSQL is unavailable.
pub async fn fresh_database() -> Option<String> {
    let admin = CLUSTER.get_or_init(start_or_find).clone()?;
    let name = format!("t_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to the test cluster");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    Some(format!("{base}/{name}"))
}

fn start_or_find() -> Option<String> {
    if let Ok(url) = std::env::var("COUNTERSIGN_TEST_PG_URL") {
        return Some(url);
    }
    let Some(bin) = find_bin_dir() else {
        let required = std::env::var("COUNTERSIGN_REQUIRE_PG").is_ok_and(|v| v == "1");
        assert!(!required, "COUNTERSIGN_REQUIRE_PG=1 but no initdb/pg_ctl was found");
        eprintln!("\n!!!!! SKIPPING PostgreSQL tests: no initdb/pg_ctl found (install postgresql) !!!!!\n");
        return None;
    };
    let as_root = unsafe { libc::geteuid() } == 0;
    let dir = tempfile::Builder::new().prefix("countersign-pg-").tempdir().expect("temp dir").keep();
    let data = dir.join("data");
    if as_root {
        let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status().expect("chown");
        assert!(status.success(), "chown of the test cluster dir failed");
    }
    let port = free_port();
    run(as_root, &bin.join("initdb"), &["-D", path(&data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]);
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
        dir.display()
    );
    let log = dir.join("pg.log");
    run(as_root, &bin.join("pg_ctl"), &["-D", path(&data), "-o", &options, "-l", path(&log), "-w", "start"]);
    *DATA_DIR.lock().unwrap() = Some((bin.join("pg_ctl"), dir.clone(), as_root));
    unsafe { libc::atexit(stop_cluster) };
    Some(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
}

extern "C" fn stop_cluster() {
    if let Some((pg_ctl, dir, as_root)) = DATA_DIR.lock().ok().and_then(|mut d| d.take()) {
        let data = dir.join("data");
        let mut cmd = command(as_root, &pg_ctl);
        cmd.args(["-D", path(&data), "-m", "immediate", "stop"]);
        let _ = cmd.output();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn command(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(as_root: bool, program: &Path, args: &[&str]) {
    let output = command(as_root, program).args(args).output().expect("run a PostgreSQL binary");
    assert!(
        output.status.success(),
        "{} failed: {}\n{}",
        program.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn find_bin_dir() -> Option<PathBuf> {
    let in_path = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    let mut candidates: Vec<PathBuf> = in_path;
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path().join("bin"))).collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev());
    }
    candidates.into_iter().find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}
