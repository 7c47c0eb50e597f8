//! Opening a database, and saying which one: a database URL resolved to what an operator
//! recognises (a SQLite file's absolute path, `postgres://user@host:port/db`, never a
//! password), the checks an offline command makes before it touches anything (the file
//! exists, every migration has run), and errors that carry that name and the driver's
//! reason instead of "pool timed out".

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::SqliteConnectOptions;

/// How long opening a PostgreSQL database waits for its first connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether opening may create what is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// `serve` and `migrate`: a missing SQLite file is created (its directory is not).
    Create,
    /// The offline commands: the database must exist with every migration applied;
    /// nothing is created.
    Existing,
}

/// Why a database could not be opened, naming it (never with its password).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the database URL {url} is not valid: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot open the SQLite database {path}: directory {dir} does not exist", path = .path.display(), dir = .dir.display())]
    NoDirectory { path: PathBuf, dir: PathBuf },
    #[error(
        "the SQLite database {path} does not exist; create it with `countersign migrate --database-url sqlite://{path}` or by starting the server (`countersign serve`)",
        path = .path.display()
    )]
    Missing { path: PathBuf },
    #[error(
        "the database {target} is not migrated ({pending} of {total} migrations not applied); run `countersign migrate` with the same database (--database-url / DATABASE_URL / config) or start the server"
    )]
    NotMigrated { target: String, pending: usize, total: usize },
    #[error("cannot open the database {target}: {reason}")]
    Connect { target: String, reason: String },
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// A parsed URL: the options to connect with, and the name to show.
pub(super) enum Parsed {
    Sqlite { options: SqliteConnectOptions, path: Option<PathBuf> },
    Postgres { options: PgConnectOptions, target: String },
}

impl Parsed {
    pub(super) fn target(&self) -> String {
        match self {
            Parsed::Sqlite { path: Some(path), .. } => path.display().to_string(),
            Parsed::Sqlite { path: None, .. } => "sqlite::memory:".to_owned(),
            Parsed::Postgres { target, .. } => target.clone(),
        }
    }
}

/// Parses `url` (`sqlite:FILE`, `sqlite://FILE`, `postgres://…`); PostgreSQL's
/// notices (`relation … already exists, skipping`) are turned off at the connection.
pub(super) fn parse(url: &str) -> Result<Parsed, OpenError> {
    let invalid = |e: sqlx::Error| OpenError::Url { url: redact_url(url), reason: e.to_string() };
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url).map_err(invalid)?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let path = (!in_memory).then(|| sqlite_path(options.get_filename())).flatten();
        return Ok(Parsed::Sqlite { options, path });
    }
    let options = PgConnectOptions::from_str(url).map_err(invalid)?.options([("client_min_messages", "warning")]);
    let target = postgres_target(&options);
    Ok(Parsed::Postgres { options, target })
}

/// `postgres://user@host:port/db` as resolved (defaults and `PG*` variables applied),
/// without the password; for a Unix socket, its directory in place of host and port.
fn postgres_target(options: &PgConnectOptions) -> String {
    let user = options.get_username();
    let database = options.get_database().unwrap_or(user);
    match options.get_socket() {
        Some(socket) => format!("postgres://{user}@{}/{database}", socket.display()),
        None => format!("postgres://{user}@{}:{}/{database}", options.get_host(), options.get_port()),
    }
}

/// The file's absolute path; `None` for an in-memory database.
fn sqlite_path(file: &Path) -> Option<PathBuf> {
    if file.as_os_str().is_empty() {
        return None;
    }
    Some(std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf()))
}

/// Before SQLite opens `path`: its directory must exist, and with [`Open::Existing`] the
/// file too. With [`Open::Create`], a missing file is created readable by its owner only
/// (it holds password hashes; the `-wal` and `-shm` files then take the same permissions).
pub(super) fn prepare_sqlite_file(path: &Path, open: Open) -> Result<(), OpenError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(OpenError::NoDirectory { path: path.to_path_buf(), dir: dir.to_path_buf() });
    }
    if path.exists() {
        return Ok(());
    }
    if open == Open::Existing {
        return Err(OpenError::Missing { path: path.to_path_buf() });
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(OpenError::Connect { target: path.display().to_string(), reason: e.to_string() }),
    }
}

/// One connection made directly, within [`CONNECT_TIMEOUT`], so that a server that is
/// down or refuses us is reported with the driver's reason (a pool only says it timed out).
pub(super) async fn connect_postgres(options: &PgConnectOptions, target: &str) -> Result<PgConnection, OpenError> {
    let failed = |reason: String| OpenError::Connect { target: target.to_owned(), reason };
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(failed(reason(&e))),
        Err(_) => Err(failed(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))),
    }
}

/// The driver's reason, without sqlx's generic prefixes.
pub(super) fn reason(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Io(e) => e.to_string(),
        sqlx::Error::Database(e) => e.message().to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_the_file_or_the_server_but_never_the_password() {
        let sqlite = parse("sqlite://data/countersign.db?mode=rwc").unwrap().target();
        assert!(sqlite.starts_with('/') && sqlite.ends_with("/data/countersign.db"), "{sqlite}");
        let pg = parse("postgres://ann:secret@db.example:6543/prod").unwrap().target();
        assert_eq!(pg, "postgres://ann@db.example:6543/prod");
        assert_eq!(parse("postgres://ann@db.example/").unwrap().target(), "postgres://ann@db.example:5432/ann");
        assert_eq!(parse("sqlite::memory:").unwrap().target(), "sqlite::memory:");
    }

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("sqlite://countersign.db"), "sqlite://countersign.db");
    }
}
