//! Configuration: the embedded default, merged with an optional TOML file, then the
//! `COUNTERSIGN_<SECTION>__<KEY>` environment variables, then the command line's three
//! values (`Overrides`, resolved by the CLI, see `main.rs`); `layers` does the merging.
//!
//! Every error names where it came from: the file, variable or flag, the key and the
//! reason, so that a bad deployment fails at start instead of at the first call that needs
//! the value.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::LazyLock;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub mod kinds;
mod layers;
pub mod roles;
pub mod vocabulary;

use kinds::KindConfig;
pub use layers::{ConfigError, ENV_PREFIX, ENV_SEPARATOR, Overrides, is_config_variable};
use layers::{DEFAULT_ORIGIN, Layers};
use roles::RoleConfig;
use vocabulary::Vocabulary;

/// The rate-limit class every refused call also takes from (docs/protocol.md §3.1).
pub const REFUSED_CLASS: &str = "refused";

/// The default configuration, compiled into the binary.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// The embedded default's name in errors (`config <embedded default>`).
const DEFAULT_SOURCE: &str = "<embedded default>";

/// The embedded default, parsed once: every load merges over a copy of it (the server loads
/// once, but tests and the config fuzz target load thousands of times, and parsing the
/// commented default was most of that cost).
static DEFAULT_TABLE: LazyLock<Result<toml::Table, String>> =
    LazyLock::new(|| DEFAULT_TOML.parse::<toml::Table>().map_err(|e| e.to_string()));

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub notifications: NotificationsConfig,
    pub websocket: WebSocketConfig,
    /// Rate-limit classes by name; every action declaration names one.
    pub rate_limits: BTreeMap<String, RateLimit>,
    /// Roles by name (docs/protocol.md §5, §11); checked by [`roles::check`].
    pub roles: BTreeMap<String, RoleConfig>,
    /// Action kinds by name (docs/protocol.md §7); `verb:*` grants reach each of them.
    pub kinds: BTreeMap<String, KindConfig>,
    /// Resources for applications (asked about with `permission_check`), each with its
    /// verbs; see [`Config::vocabulary`].
    pub resources: BTreeMap<String, Vec<String>>,
    pub offers: OffersConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// How log lines are written (`[log] format`).
    pub format: LogFormat,
}

/// The shape of log lines on standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// `key=value` text, for people.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffersConfig {
    /// Default time to live of a permit offer.
    pub ttl_days: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub database_url: String,
    /// Empty until resolved: then the configured one, or `http://127.0.0.1:<listen port>`.
    #[serde(default)]
    pub public_origin: String,
    /// Other origins a browser page may call from with the session cookie (CORS, CSRF).
    pub allowed_origins: Vec<String>,
    pub shutdown_grace_s: u64,
    pub housekeeping_interval_s: u64,
    /// Open connections (WebSockets included), in all and from one IP.
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// A request's headers must arrive within this long of connecting or of the previous
    /// answer (so it is the keep-alive idle time too).
    pub header_timeout_s: u64,
    /// A request's body must arrive within this long.
    pub body_timeout_s: u64,
    /// Reverse proxies whose `X-Forwarded-For` is believed (addresses or networks); a
    /// forwarding header from anyone else is ignored.
    #[serde(deserialize_with = "networks")]
    pub trusted_proxies: Vec<IpNet>,
    /// Who may read `GET /metrics` (addresses or networks, by the connection's address).
    #[serde(deserialize_with = "networks")]
    pub metrics_allow: Vec<IpNet>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub signup: Signup,
    pub bootstrap_token_file: Option<std::path::PathBuf>,
    pub session_ttl_hours: u32,
    /// Resolved credentials kept in memory (0: none; every call reads the database).
    pub credential_cache_entries: usize,
    pub login_limits: LoginLimits,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsConfig {
    pub retention_days: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketConfig {
    pub ping_interval_s: u64,
    pub idle_timeout_s: u64,
    pub outbound_queue: usize,
    pub slow_client_timeout_s: u64,
    /// Open sockets of one account (all its sessions and tokens together).
    pub max_sockets_per_account: usize,
    /// `notifications_subscribe` calls one socket may hold.
    pub max_subscriptions_per_socket: usize,
    /// A socket opened without credentials is closed after this long without a call
    /// (answering pings does not count).
    pub anonymous_idle_s: u64,
}

/// Whether anyone may create an account with `account_signup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signup {
    Open,
    Closed,
}

/// Failed logins allowed per window (docs/protocol.md §4.2).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginLimits {
    /// From one IP for one username.
    pub per_ip_and_account: u32,
    /// From one IP, whatever the username.
    pub per_ip: u32,
    /// For one username from anywhere; past it only addresses that signed in to that
    /// username before may keep trying.
    pub per_account: u32,
    pub window_minutes: u32,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub per_minute: u32,
    pub burst: u32,
}

/// Networks (`10.0.0.0/8`) or single addresses (`10.0.0.7`, taken as `/32` or `/128`).
fn networks<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<IpNet>, D::Error> {
    let written = Vec::<String>::deserialize(deserializer)?;
    let parse = |s: &String| s.parse::<IpNet>().or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from));
    written
        .iter()
        .map(|s| parse(s).map_err(|_| serde::de::Error::custom(format!("{s:?} is not an IP address or network"))))
        .collect()
}

impl ServerConfig {
    /// Without a configured public origin, the one the listen port gives, with its
    /// `localhost` twin allowed too (a browser may name either).
    fn resolve_origins(&mut self) {
        if !self.public_origin.is_empty() {
            return;
        }
        let port = self.listen.port();
        self.public_origin = format!("http://127.0.0.1:{port}");
        let twin = format!("http://localhost:{port}");
        if !self.allowed_origins.contains(&twin) {
            self.allowed_origins.push(twin);
        }
    }

    /// Every origin whose pages may call with the session cookie: the public one first.
    pub fn trusted_origins(&self) -> impl Iterator<Item = &str> {
        std::iter::once(&self.public_origin).chain(&self.allowed_origins).map(|o| o.trim_end_matches('/'))
    }

    /// Whether `origin` is one of [`ServerConfig::trusted_origins`].
    pub fn trusts(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        self.trusted_origins().any(|trusted| trusted == origin)
    }
}

impl Config {
    /// The embedded default, with no file, no environment and no overrides.
    pub fn embedded() -> Config {
        Config::from_text(DEFAULT_SOURCE, None, &Overrides::default()).expect("the embedded default config is valid")
    }

    /// Loads the layers of docs/protocol.md §10 with this process's environment: the
    /// default, `file`, the `COUNTERSIGN_<SECTION>__<KEY>` variables, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let env =
            std::env::vars_os().map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_string_lossy().into_owned()));
        Config::load_with_env(file, overrides, env)
    }

    /// [`Config::load`] with `env` as the environment (so a test is not disturbed by its
    /// runner's). `env` is also where `overrides` are looked up, to blame a bad one on its
    /// variable (`DATABASE_URL`) rather than its flag.
    pub fn load_with_env(
        file: Option<&Path>,
        overrides: &Overrides,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let file = match file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|reason| ConfigError::Read { file: path.into(), reason })?;
                Some((path.display().to_string(), text))
            }
            None => None,
        };
        let file = file.as_ref().map(|(name, text)| (name.as_str(), text.as_str()));
        Config::from_layers(file, overrides, &env)
    }

    /// The embedded default with `text` (a config file's contents, named `source` in
    /// errors) merged over it, then `overrides`, validated; no environment.
    pub fn from_text(source: &str, text: Option<&str>, overrides: &Overrides) -> Result<Config, ConfigError> {
        Config::from_layers(text.map(|text| (source, text)), overrides, &[])
    }

    fn from_layers(
        file: Option<(&str, &str)>,
        overrides: &Overrides,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let default = DEFAULT_TABLE
            .as_ref()
            .map_err(|reason| ConfigError::Syntax { origin: DEFAULT_ORIGIN.into(), reason: reason.clone() })?;
        let mut layers = Layers::new(default)?;
        if let Some((source, text)) = file {
            let origin = format!("config {source}");
            let table = text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Syntax { origin: origin.clone(), reason: e.to_string() })?;
            layers.file(origin, &table)?;
        }
        layers.env(env)?;
        layers.overrides(overrides, env)?;
        let merged = layers.merged()?;
        let blame =
            |key: String, reason: String| ConfigError::Key { origin: layers.origin_of(&merged, &key), key, reason };
        let mut config: Config = serde_path_to_error::deserialize(&merged)
            .map_err(|e| blame(e.path().to_string(), layers::reason(e.inner())))?;
        config.server.resolve_origins();
        config.validate().map_err(|(key, reason)| blame(key, reason))?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), (String, String)> {
        let url = &self.server.database_url;
        if !(url.starts_with("sqlite:") || url.starts_with("postgres:") || url.starts_with("postgresql:")) {
            return Err(("server.database_url".into(), "must start with sqlite: or postgres:".into()));
        }
        let origins = std::iter::once(("server.public_origin".to_owned(), &self.server.public_origin));
        let allowed = self.server.allowed_origins.iter().enumerate();
        for (key, origin) in origins.chain(allowed.map(|(i, o)| (format!("server.allowed_origins[{i}]"), o))) {
            let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
            if rest.is_none_or(|host| host.is_empty() || host.contains('/')) {
                let reason =
                    format!("{origin:?} must be an origin such as https://example.com (scheme and host, no path)");
                return Err((key, reason));
            }
        }
        let login = &self.auth.login_limits;
        for (key, value) in [
            ("per_ip_and_account", login.per_ip_and_account),
            ("per_ip", login.per_ip),
            ("per_account", login.per_account),
            ("window_minutes", login.window_minutes),
        ] {
            if value == 0 {
                return Err((format!("auth.login_limits.{key}"), "must be at least 1".into()));
            }
        }
        let ws = &self.websocket;
        if ws.ping_interval_s == 0 || ws.idle_timeout_s <= ws.ping_interval_s || ws.outbound_queue == 0 {
            return Err((
                "websocket".into(),
                "ping_interval_s and outbound_queue must be at least 1, and idle_timeout_s above ping_interval_s"
                    .into(),
            ));
        }
        for (key, value) in [
            ("slow_client_timeout_s", ws.slow_client_timeout_s),
            ("max_sockets_per_account", ws.max_sockets_per_account as u64),
            ("max_subscriptions_per_socket", ws.max_subscriptions_per_socket as u64),
            ("anonymous_idle_s", ws.anonymous_idle_s),
        ] {
            if value == 0 {
                return Err((format!("websocket.{key}"), "must be at least 1".into()));
            }
        }
        if self.notifications.retention_days == 0 {
            return Err(("notifications.retention_days".into(), "must be at least 1".into()));
        }
        if self.auth.session_ttl_hours == 0 {
            return Err(("auth.session_ttl_hours".into(), "must be at least 1".into()));
        }
        if self.server.housekeeping_interval_s == 0 {
            return Err(("server.housekeeping_interval_s".into(), "must be at least 1".into()));
        }
        let server = &self.server;
        for (key, value) in [
            ("max_connections", server.max_connections as u64),
            ("max_connections_per_ip", server.max_connections_per_ip as u64),
            ("header_timeout_s", server.header_timeout_s),
            ("body_timeout_s", server.body_timeout_s),
        ] {
            if value == 0 {
                return Err((format!("server.{key}"), "must be at least 1".into()));
            }
        }
        if self.offers.ttl_days == 0 {
            return Err(("offers.ttl_days".into(), "must be at least 1".into()));
        }
        for (name, kind) in &self.kinds {
            if let Some((field, problem)) = kind.executor.webhook().and_then(|webhook| webhook.problem()) {
                return Err((format!("kinds.{name}.executor.{field}"), problem));
            }
        }
        roles::check(&self.roles, &self.kinds, &self.resources)?;
        if !self.rate_limits.contains_key(REFUSED_CLASS) {
            return Err((format!("rate_limits.{REFUSED_CLASS}"), "is required (docs/protocol.md §3.1)".into()));
        }
        for (name, limit) in &self.rate_limits {
            if limit.per_minute == 0 || limit.burst == 0 {
                return Err((format!("rate_limits.{name}"), "per_minute and burst must be at least 1".into()));
            }
        }
        Ok(())
    }

    /// Every resource and verb a grant or a `permission_check` may name: the kinds' verbs,
    /// the built-in resources and `[resources]`.
    pub fn vocabulary(&self) -> Vocabulary {
        Vocabulary::new(&self.kinds, &self.resources)
    }

    /// Whether the session cookie must carry `Secure`.
    pub fn https(&self) -> bool {
        self.server.public_origin.starts_with("https://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("countersign.toml");
        std::fs::write(&path, text).unwrap();
        Config::load_with_env(Some(&path), &Overrides::default(), std::iter::empty())
    }

    #[test]
    fn embedded_default_loads() {
        let config = Config::embedded();
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
        assert!(config.rate_limits.contains_key("read"));
    }

    #[test]
    fn file_merges_over_default_and_overrides_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[server]\nlisten = \"0.0.0.0:9000\"\n[rate_limits.read]\nburst = 5\n").unwrap();
        let config = Config::load_with_env(Some(&path), &Overrides::default(), std::iter::empty()).unwrap();
        assert_eq!(config.server.listen.port(), 9000);
        assert_eq!(config.rate_limits["read"].burst, 5);
        assert_eq!(config.rate_limits["read"].per_minute, 1200, "untouched keys keep the default");
        let overrides = Overrides { listen: Some("127.0.0.1:1".parse().unwrap()), ..Default::default() };
        let config = Config::load_with_env(Some(&path), &overrides, std::iter::empty()).unwrap();
        assert_eq!(config.server.listen.port(), 1);
    }

    #[test]
    fn origins_follow_the_listen_port_unless_configured() {
        let overrides = Overrides { listen: Some("0.0.0.0:9999".parse().unwrap()), ..Default::default() };
        let derived = Config::load_with_env(None, &overrides, std::iter::empty()).unwrap();
        assert_eq!(derived.server.public_origin, "http://127.0.0.1:9999");
        assert!(derived.server.trusts("http://localhost:9999") && derived.server.trusts("http://127.0.0.1:9999/"));
        assert!(!derived.server.trusts("http://localhost:8080"));
        let config = load_text(
            "[server]\npublic_origin = \"https://cs.example\"\nallowed_origins = [\"http://localhost:5173\"]\n",
        );
        let server = config.unwrap().server;
        let trusted: Vec<&str> = server.trusted_origins().collect();
        assert_eq!(
            trusted,
            ["https://cs.example", "http://localhost:5173"],
            "no localhost twin of a configured origin"
        );
        let err = load_text("[server]\nallowed_origins = [\"http://localhost:5173/app\"]\n").unwrap_err().to_string();
        assert!(err.contains("server.allowed_origins[0]"), "{err}");
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        let err = load_text("[server]\nlisten = \"nowhere\"\n").unwrap_err().to_string();
        assert!(err.contains("countersign.toml") && err.contains("server.listen"), "{err}");
        let err = load_text("[server]\nlistn = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains("unknown field `listn`"), "{err}");
        let err = load_text("[server\n").unwrap_err().to_string();
        assert!(err.contains("countersign.toml"), "{err}");
        let err = load_text("[server]\npublic_origin = \"https://x.io/app\"\n").unwrap_err().to_string();
        assert!(err.contains("server.public_origin"), "{err}");
        let err = load_text("[rate_limits.read]\nburst = 0\n").unwrap_err().to_string();
        assert!(err.contains("rate_limits.read"), "{err}");
        let err = load_text("[auth]\nsignup = \"maybe\"\n").unwrap_err().to_string();
        assert!(err.contains("auth.signup") && err.contains("maybe"), "{err}");
        let err = load_text("[server]\ndatabase_url = \"mysql://x\"\n").unwrap_err().to_string();
        assert!(err.contains("server.database_url"), "{err}");
        let webhook = "[kinds.purchase.executor]\ntype = \"webhook\"\nurl = \"https://x.example/\"\n";
        let err = load_text(&format!("{webhook}secret = \"too-short\"\n")).unwrap_err().to_string();
        assert!(err.contains("kinds.purchase.executor.secret") && !err.contains("too-short"), "{err}");
        let config = load_text(&format!("{webhook}secret = \"long-enough-s3cr3t-value\"\n")).unwrap();
        assert!(config.kinds["purchase"].executor.webhook().is_some());
        assert!(!format!("{config:?}").contains("s3cr3t"), "the secret is not in the config's Debug");
    }

    #[test]
    fn role_errors_name_the_role() {
        let err = load_text("[roles.keeper]\nweb_grantable = true\n").unwrap_err().to_string();
        assert!(err.contains("roles.keeper") && err.contains("never web-grantable"), "{err}");
        let err = load_text("[roles.auditor]\ndescription = \"x\"\nweb_grantable = true\ngrants = [\"view\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("roles.auditor.grants") && err.contains("verb:resource"), "{err}");
        let err = load_text("[roles.member]\ngrants = [\"*:*\"]\n").unwrap_err().to_string();
        assert!(err.contains("roles.member.grants"), "{err}");
        let err = load_text("[roles.admin]\ngrants = [\"view:audit\"]\n").unwrap_err().to_string();
        assert!(err.contains("roles.admin.grants"), "{err}");
        let err = load_text(
            "[roles.unit_lead]\ndescription = \"x\"\nweb_grantable = true\nscopes = [\"Unit\"]\ngrants = []\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("roles.unit_lead.scopes"), "{err}");
        let err = load_text("[roles.\"Bad Name\"]\ndescription = \"x\"\nweb_grantable = true\ngrants = []\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("roles.Bad Name"), "{err}");
        let ok = load_text(
            "[roles.auditor]\ndescription = \"Reads the log\"\nweb_grantable = true\ngrants = [\"view:audit\"]\n",
        );
        assert!(ok.unwrap().roles.contains_key("auditor"));
    }

    #[test]
    fn the_default_vocabulary() {
        let config = Config::embedded();
        let vocabulary = config.vocabulary();
        assert_eq!(vocabulary.verbs("policies"), Some(&["manage".to_owned()][..]));
        assert!(vocabulary.check("approve", "purchase").is_ok());
        assert!(vocabulary.check("edit-own", "modules").is_ok());
        assert!(vocabulary.check("edit", "module.status").is_ok());
        let unknown = vocabulary.check("aprove", "purchase").unwrap_err();
        assert_eq!(unknown.reason(), "unknown_verb");
        assert!(unknown.known().contains(&"approve".to_owned()), "{unknown}");
        let unknown = vocabulary.check("fly", "rocket").unwrap_err();
        assert_eq!(unknown.reason(), "unknown_resource");
        assert!(unknown.known().iter().any(|r| r == "refund") && !unknown.known().iter().any(|r| r == "*"));
        assert_eq!(vocabulary.check("approve", "*").unwrap_err().reason(), "unknown_resource", "`*` is for grants");
        assert!(vocabulary.check_grant("view-any", "*").is_ok());
        assert_eq!(vocabulary.check_grant("manage", "*").unwrap_err().reason(), "unknown_verb");
        assert!(vocabulary.check_grant("fly", "rocket").unwrap_err().known().contains(&"*".to_owned()));
    }
}
