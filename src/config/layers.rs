//! The layers a configuration is read from, and which of them a bad value came from.
//!
//! The embedded default, then a file (`--config`), then the environment
//! (`COUNTERSIGN_<SECTION>__<KEY>`), then the three command-line values (`Overrides`): each
//! is a `figment` provider, and figment merges them key by key and remembers which layer
//! every value came from. An error then names that layer: the file, the variable, or the
//! flag, with the key and the reason (docs/protocol.md §10).
//!
//! Files are parsed with the `toml` crate the rest of countersign uses (figment's own TOML
//! provider would bring a second TOML parser), and the environment is given, not read, so
//! that a test loads from a map of its own rather than from the test runner's environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

/// The prefix of every configuration variable.
pub const ENV_PREFIX: &str = "COUNTERSIGN_";
/// What separates the levels of a key in a variable's name.
pub const ENV_SEPARATOR: &str = "__";

/// Where the embedded default's values come from, in errors.
pub const DEFAULT_ORIGIN: &str = "config <embedded default>";

/// The command line's values (its flags, or their variables `COUNTERSIGN_LISTEN`,
/// `DATABASE_URL`, `COUNTERSIGN_PUBLIC_ORIGIN`); each wins over every other layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub database_url: Option<String>,
    pub public_origin: Option<String>,
}

/// Why the configuration cannot be used. `origin` names the layer the bad value came from:
/// `config FILE`, `config <embedded default>`, `environment VARIABLE` or the flag
/// (`--database-url`).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config {file}: cannot read: {reason}")]
    Read { file: PathBuf, reason: std::io::Error },
    #[error("{origin}: {reason}")]
    Syntax { origin: String, reason: String },
    #[error("{origin}: key `{key}`: {reason}")]
    Key { origin: String, key: String, reason: String },
}

/// One layer: its name in errors (`config FILE`, `environment VAR`, `--flag`) and the keys
/// it sets.
struct Layer {
    origin: String,
    dict: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.origin.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// Every layer, merged (later wins), and the layers' names in order.
pub struct Layers {
    figment: Figment,
    origins: Vec<String>,
    /// The default's keys, as `COUNTERSIGN_<SECTION>__<KEY>` names.
    default_variables: Vec<String>,
}

impl Layers {
    /// Starts from `table`, the embedded default.
    pub fn new(table: &toml::Table) -> Result<Layers, ConfigError> {
        let mut default_variables = Vec::new();
        variables(table, ENV_PREFIX, &mut default_variables);
        let mut layers = Layers { figment: Figment::new(), origins: Vec::new(), default_variables };
        layers.add(DEFAULT_ORIGIN.to_owned(), table)?;
        Ok(layers)
    }

    /// Merges a config file's parsed `table` (`origin` is `config PATH`).
    pub fn file(&mut self, origin: String, table: &toml::Table) -> Result<(), ConfigError> {
        self.add(origin, table)
    }

    /// Merges every `COUNTERSIGN_<SECTION>__<KEY>` variable of `env`, each a layer of its own
    /// so that an error names the one variable. Variables without `__` are the command
    /// line's own (`COUNTERSIGN_CONFIG`, `COUNTERSIGN_LISTEN`, …) and are left alone.
    pub fn env(&mut self, env: &[(String, String)]) -> Result<(), ConfigError> {
        // `COUNTERSIGN_AUTH_SIGNUP` would be left alone silently: say what was meant.
        for (name, _) in env.iter().filter(|(name, _)| !is_config_variable(name)) {
            let single = |var: &&String| var.replace(ENV_SEPARATOR, "_") == name.to_ascii_uppercase();
            if let Some(meant) = self.default_variables.iter().find(single) {
                let reason = format!("not a configuration key; levels are joined by {ENV_SEPARATOR}: {meant}");
                return Err(ConfigError::Syntax { origin: format!("environment {name}"), reason });
            }
        }
        let mut vars: Vec<&(String, String)> = env.iter().filter(|(name, _)| is_config_variable(name)).collect();
        vars.sort();
        for (name, value) in vars {
            let origin = format!("environment {name}");
            let rest = &name[ENV_PREFIX.len()..];
            let path: Vec<String> = rest.split(ENV_SEPARATOR).map(str::to_ascii_lowercase).collect();
            if path.iter().any(String::is_empty) {
                let reason = format!("not a configuration key: levels are separated by one {ENV_SEPARATOR}");
                return Err(ConfigError::Syntax { origin, reason });
            }
            let mut table = toml::Table::new();
            table.insert(path.last().expect("split yields one part at least").clone(), parse_env_value(value));
            for key in path.iter().rev().skip(1) {
                table = toml::Table::from_iter([(key.clone(), toml::Value::Table(table))]);
            }
            self.add(origin, &table)?;
        }
        Ok(())
    }

    /// Merges the command line's values, each named by the flag or, when it is what the
    /// environment holds, by its variable.
    pub fn overrides(&mut self, overrides: &Overrides, env: &[(String, String)]) -> Result<(), ConfigError> {
        let listen = overrides.listen.map(|addr| addr.to_string());
        let values = [
            ("--listen", "COUNTERSIGN_LISTEN", "listen", listen.as_ref()),
            ("--database-url", "DATABASE_URL", "database_url", overrides.database_url.as_ref()),
            ("--public-origin", "COUNTERSIGN_PUBLIC_ORIGIN", "public_origin", overrides.public_origin.as_ref()),
        ];
        for (flag, variable, key, value) in values {
            let Some(value) = value else { continue };
            // The listen address arrives parsed: compare the variable as parsed too.
            let canonical = |v: &str| v.parse::<SocketAddr>().map_or_else(|_| v.to_owned(), |a| a.to_string());
            let from_env = env.iter().any(|(name, v)| name == variable && canonical(v.trim()) == *value);
            let origin = if from_env { format!("environment {variable}") } else { flag.to_owned() };
            let server = toml::Table::from_iter([(key.to_owned(), toml::Value::String(value.clone()))]);
            self.add(origin, &toml::Table::from_iter([("server".to_owned(), server.into())]))?;
        }
        Ok(())
    }

    fn add(&mut self, origin: String, table: &toml::Table) -> Result<(), ConfigError> {
        let dict = Value::serialize(table)
            .ok()
            .and_then(Value::into_dict)
            .ok_or_else(|| ConfigError::Syntax { origin: origin.clone(), reason: "not a table".into() })?;
        self.origins.push(origin.clone());
        self.figment = std::mem::take(&mut self.figment).merge(Layer { origin, dict });
        Ok(())
    }

    /// Every layer merged into one value, each of its parts tagged with its layer.
    pub fn merged(&self) -> Result<Value, ConfigError> {
        self.figment
            .find_value("")
            .map_err(|e| ConfigError::Syntax { origin: DEFAULT_ORIGIN.into(), reason: e.to_string() })
    }

    /// The layer a problem at `key` (`server.allowed_origins[0]`, `roles.x`) is blamed on:
    /// the last layer that set the value there or anything inside it. A key no layer set
    /// (a derived or missing value) is blamed on its nearest parent that exists; one only
    /// the default set, on every later layer (one of them broke it).
    pub fn origin_of(&self, merged: &Value, key: &str) -> String {
        let mut value = merged;
        let mut parts = split_key(key).into_iter().peekable();
        while let Some(part) = parts.next() {
            let next = match (value, part) {
                (Value::Array(_, items), Part::Index(i)) => items.get(i),
                (Value::Dict(_, dict), Part::Key(first)) => {
                    // A key may itself hold dots (`resources."module.status"`): try longer names.
                    let mut name = first;
                    let mut found = dict.get(&name);
                    while found.is_none() {
                        let Some(Part::Key(more)) = parts.next_if(|p| matches!(p, Part::Key(_))) else { break };
                        name = format!("{name}.{more}");
                        found = dict.get(&name);
                    }
                    found
                }
                _ => None,
            };
            match next {
                Some(next) => value = next,
                None => break,
            }
        }
        // A merged table carries the tag of the last layer that set anything in it.
        let origin = self.figment.get_metadata(value.tag()).map(|m| m.name.to_string());
        match origin {
            Some(origin) if origin != DEFAULT_ORIGIN => origin,
            // The default is valid by itself: what made its value wrong is a later layer (a
            // file's `[resources]` taking a verb a default role grants), so name those.
            _ if self.origins.len() > 1 => self.origins[1..].join(", "),
            _ => DEFAULT_ORIGIN.to_owned(),
        }
    }
}

/// The variable of every leaf of `table` under `prefix` (`COUNTERSIGN_SERVER__LISTEN`).
fn variables(table: &toml::Table, prefix: &str, out: &mut Vec<String>) {
    for (key, value) in table {
        let name = format!("{prefix}{}", key.to_ascii_uppercase());
        match value {
            toml::Value::Table(inner) => variables(inner, &format!("{name}{ENV_SEPARATOR}"), out),
            _ => out.push(name),
        }
    }
}

/// Whether `name` is a configuration variable (`COUNTERSIGN_<SECTION>__<KEY>`).
pub fn is_config_variable(name: &str) -> bool {
    name.strip_prefix(ENV_PREFIX).is_some_and(|rest| rest.contains(ENV_SEPARATOR))
}

/// A variable's value read as a TOML value (`10`, `true`, `["a", "b"]`, `{ enabled = true }`,
/// `"quoted"`); anything that is not one (`open`, `0.0.0.0:8080`, `sqlite://x.db`) is the
/// string as written. A TOML date stays the string it was written as.
fn parse_env_value(raw: &str) -> toml::Value {
    match raw.trim().parse::<toml::Value>() {
        Ok(toml::Value::Datetime(_)) | Err(_) => toml::Value::String(raw.to_owned()),
        Ok(value) => value,
    }
}

/// One step of a key such as `roles.x.grants[2]`.
enum Part {
    Key(String),
    Index(usize),
}

fn split_key(key: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    for segment in key.split('.') {
        let mut pieces = segment.split('[');
        if let Some(name) = pieces.next().filter(|n| !n.is_empty()) {
            parts.push(Part::Key(name.to_owned()));
        }
        parts.extend(pieces.filter_map(|i| i.trim_end_matches(']').parse().ok()).map(Part::Index));
    }
    parts
}

/// A deserialization error's reason, worded as serde words it (``unknown field `x`,
/// expected one of `a`, `b` ``).
pub fn reason(error: &figment::Error) -> String {
    use figment::error::Kind;
    let one_of = |expected: &[&str]| {
        let names: Vec<String> = expected.iter().map(|name| format!("`{name}`")).collect();
        format!("one of {}", names.join(", "))
    };
    match &error.kind {
        Kind::UnknownField(field, expected) => format!("unknown field `{field}`, expected {}", one_of(expected)),
        Kind::UnknownVariant(variant, expected) => {
            format!("unknown variant `{variant}`, expected {}", one_of(expected))
        }
        Kind::MissingField(field) => format!("missing field `{field}`"),
        kind => kind.to_string(),
    }
}
