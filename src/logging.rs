//! How every countersign process logs: one [`init`], to standard error, as `key=value`
//! text for people or one JSON object per line for log collectors (`[log] format`).
//!
//! `RUST_LOG` chooses what is logged (default [`DEFAULT_FILTER`]). Whatever it asks for,
//! the WebSocket library stays at `info`: at `trace` it prints every message as sent and
//! received, and messages carry secrets (`session_authenticate`'s token, a password
//! change's passwords). The rest of the stack logs no bodies.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// What is logged when `RUST_LOG` is unset (or unreadable): our `info` and up, and
/// PostgreSQL's notices ("relation already exists, skipping") only when they warn.
pub const DEFAULT_FILTER: &str = "info,sqlx::postgres::notice=warn";

/// Directives added last, over whatever was asked for.
const SECRET_SAFE: [&str; 2] = ["tungstenite=info", "tokio_tungstenite=info"];

/// `filter`, with the libraries that would log message bodies held at `info`.
pub fn secret_safe(filter: EnvFilter) -> EnvFilter {
    SECRET_SAFE.iter().fold(filter, |filter, directive| {
        filter.add_directive(directive.parse().expect("the secret-safe directives parse"))
    })
}

/// Installs the process's logger, writing to standard error in `format`, filtered by
/// `RUST_LOG` (or [`DEFAULT_FILTER`]) under the secret-safe caps. Call it once, first thing;
/// a second call does nothing.
///
/// A JSON line is one object: `timestamp`, `level`, `target`, the event's fields at the top
/// level (`message`, `request_id`, `method`, `account_id`, …), and `span`/`spans` when the
/// event happened inside one.
pub fn init(format: LogFormat) {
    let filter = secret_safe(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER)));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
