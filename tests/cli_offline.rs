//! The command line on a database that is not there: every offline command refuses a
//! missing or unmigrated database, naming it and saying how to create it, and creates
//! nothing; errors name the database and the driver's reason (PostgreSQL down, a SQLite
//! directory that does not exist); each subcommand shows only the flags that apply to it.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::Backend;

const BIN: &str = env!("CARGO_BIN_EXE_countersign");

/// Every subcommand that opens the database without a server, as one would type it.
const OFFLINE: &[&[&str]] = &[
    &["account", "create", "--username", "root", "--admin"],
    &["account", "create", "--username", "ann"],
    &["account", "disable", "--username", "ann"],
    &["account", "enable", "--username", "ann"],
    &["permit", "grant", "--username", "ann", "--role", "member"],
    &["token", "create", "--username", "ann", "--name", "ci"],
    &["audit", "verify"],
    &["bootstrap-token"],
    &["bootstrap-token", "--rotate"],
];

backend_tests!(offline_commands_refuse_an_unmigrated_database_and_migrate_nothing);

/// Runs the binary in `dir` with a password on standard input and no database variables
/// from the test's own environment.
fn run(dir: &Path, args: &[&str]) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("COUNTERSIGN_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"a long enough password\n").unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

/// In an empty directory, with the default database (sqlite://countersign.db), each
/// offline command fails, names the absolute path and `countersign migrate`, and leaves
/// the directory empty: no database, no token file.
#[test]
fn offline_commands_refuse_a_missing_database_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let expected = dir.path().canonicalize().unwrap().join("countersign.db");
    for args in OFFLINE {
        let output = run(dir.path(), args);
        let said = stderr(&output);
        assert!(!output.status.success(), "{args:?} succeeded: {said}");
        assert!(said.contains(&format!("{} does not exist", expected.display())), "{args:?}: {said}");
        assert!(said.contains("countersign migrate --database-url sqlite://"), "{args:?} says how: {said}");
        assert!(entries(dir.path()).is_empty(), "{args:?} created {:?}", entries(dir.path()));
    }
    // The same through DATABASE_URL, to a file somewhere else.
    let elsewhere = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", elsewhere.path().join("ops.db").display());
    let output = Command::new(BIN).args(["audit", "verify"]).env("DATABASE_URL", &url).output().unwrap();
    assert!(!output.status.success());
    assert!(stderr(&output).contains(&format!("{}/ops.db does not exist", elsewhere.path().display())));
    assert!(entries(elsewhere.path()).is_empty());
}

/// A database that exists but was never migrated (an empty SQLite file; a new, empty
/// PostgreSQL database) is refused, named, and left as it was: no migration is applied.
async fn offline_commands_refuse_an_unmigrated_database_and_migrate_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = common::database_url(backend, dir.path()).await else { return };
    if backend == Backend::Sqlite {
        std::fs::write(dir.path().join("countersign.db"), b"").unwrap();
    }
    let work = tempfile::tempdir().unwrap();
    for args in OFFLINE {
        let output = run(work.path(), &[args, &["--database-url", &url][..]].concat());
        let said = stderr(&output);
        assert!(!output.status.success(), "{args:?} succeeded: {said}");
        assert!(said.contains("is not migrated") && said.contains("countersign migrate"), "{args:?}: {said}");
        let named = match backend {
            Backend::Sqlite => dir.path().join("countersign.db").display().to_string(),
            Backend::Postgres => url.clone(),
        };
        assert!(said.contains(&format!("the database {named} is not migrated")), "{args:?}: {said}");
        assert!(entries(work.path()).is_empty(), "{args:?} created {:?}", entries(work.path()));
    }
    match backend {
        Backend::Sqlite => {
            assert_eq!(entries(dir.path()), ["countersign.db"]);
            assert_eq!(std::fs::metadata(dir.path().join("countersign.db")).unwrap().len(), 0, "the file is untouched");
        }
        Backend::Postgres => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            let tables: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            assert_eq!(tables, 0, "no migration ran");
        }
    }
    // `migrate` is the way out, and then the same command works.
    let output = run(work.path(), &["migrate", "--database-url", &url]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run(work.path(), &["audit", "verify", "--database-url", &url]);
    assert!(output.status.success(), "{}", stderr(&output));
}

/// PostgreSQL that does not answer: the host, port and database are named with the
/// driver's reason, soon, and the password never appears.
#[test]
fn an_unreachable_postgres_is_named_with_the_reason() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://ops:hunter2hunter2@127.0.0.1:{port}/prod");
    let dir = tempfile::tempdir().unwrap();
    for args in [&["migrate"][..], &["audit", "verify"], &["serve", "--listen", "127.0.0.1:0"]] {
        let started = std::time::Instant::now();
        let output = run(dir.path(), &[args, &["--database-url", &url][..]].concat());
        let said = stderr(&output);
        assert!(!output.status.success(), "{args:?}: {said}");
        assert!(said.contains(&format!("postgres://ops@127.0.0.1:{port}/prod")), "{args:?} names it: {said}");
        assert!(said.to_lowercase().contains("connection refused"), "{args:?} says why: {said}");
        assert!(!said.contains("hunter2") && !said.contains("pool timed out"), "{args:?}: {said}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{args:?} took {:?}", started.elapsed());
    }
    assert!(entries(dir.path()).is_empty());
}

/// A SQLite file in a directory that does not exist: the path and the reason, for the
/// commands that would create the file too.
#[test]
fn a_missing_sqlite_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("no").join("such").join("countersign.db");
    let url = format!("sqlite://{}", file.display());
    for args in [&["migrate"][..], &["serve", "--listen", "127.0.0.1:0"], &["audit", "verify"]] {
        let output = run(dir.path(), &[args, &["--database-url", &url][..]].concat());
        let said = stderr(&output);
        assert!(!output.status.success(), "{args:?}: {said}");
        let reason = format!("{}: directory {} does not exist", file.display(), file.parent().unwrap().display());
        assert!(said.contains(&reason), "{args:?}: {said}");
    }
    assert!(entries(dir.path()).is_empty());
}

/// `migrate` names the database it creates, by absolute path.
#[test]
fn migrate_names_the_database_it_creates() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &["migrate", "--database-url", "sqlite://data.db"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let path = dir.path().canonicalize().unwrap().join("data.db");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), format!("migrated {}", path.display()));
    assert!(stderr(&output).contains(&format!("database={}", path.display())), "{}", stderr(&output));
}

/// Flags appear only on the subcommands they apply to, each with help text.
#[test]
fn each_subcommand_takes_only_its_own_flags() {
    let help = |args: &[&str]| {
        let output = Command::new(BIN).args(args).arg("--help").output().unwrap();
        assert!(output.status.success(), "{args:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let serve = help(&["serve"]);
    for flag in ["--listen", "--public-origin", "--database-url", "--config"] {
        assert!(serve.contains(flag), "serve has {flag}: {serve}");
    }
    for command in [
        &["migrate"][..],
        &["account", "create"],
        &["permit", "grant"],
        &["token", "create"],
        &["audit", "verify"],
        &["bootstrap-token"],
    ] {
        let text = help(command);
        assert!(text.contains("--database-url") && text.contains("--config"), "{command:?}: {text}");
        assert!(!text.contains("--listen") && !text.contains("--public-origin"), "{command:?}: {text}");
    }
    for command in [&["call"][..], &["login"], &["watch"], &["schemas"]] {
        let text = help(command);
        for flag in ["--database-url", "--listen", "--public-origin"] {
            assert!(!text.contains(flag), "{command:?} has no {flag}: {text}");
        }
    }
    let refused = Command::new(BIN).args(["call", "whoami", "--database-url", "sqlite://x.db"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2), "a flag that does not apply is a usage error");
    let account = help(&["account", "create"]);
    assert!(account.contains("--username <USERNAME>  The new account's username"), "{account}");
    let schemas = help(&["schemas"]);
    assert!(schemas.contains("--dir <DIR>") && schemas.contains("The folder to write"), "{schemas}");
}

/// Migrating a PostgreSQL database that is already migrated prints no server notice
/// (`relation "_sqlx_migrations" already exists, skipping`), even with every PostgreSQL
/// notice let through the log filter: the connection asks the server not to send them.
#[tokio::test]
async fn migrating_twice_prints_no_postgres_notice() {
    let Some(url) = common::pg::fresh_database().await else { return };
    let dir = tempfile::tempdir().unwrap();
    for round in 0..2 {
        let output = Command::new(BIN)
            .args(["migrate", "--database-url", &url])
            .current_dir(dir.path())
            .env("RUST_LOG", "info,sqlx::postgres::notice=trace")
            .output()
            .unwrap();
        let said = stderr(&output);
        assert!(output.status.success(), "{said}");
        assert!(!said.contains("already exists") && !said.contains("notice"), "round {round}: {said}");
    }
}
