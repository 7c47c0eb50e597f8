//! Action declarations: the API surface as data, read from `actions/*.toml`.
//!
//! A declaration says what can be called, by whom (`auth`), with what effect
//! (`side_effects`), with which input and output types, and under which rate-limit class.
//! The files are compiled into the binary and parsed at start.

use serde::Deserialize;

/// The declaration files, compiled in: (file name, contents).
pub const ACTION_FILES: &[(&str, &str)] = &[
    ("meta.toml", include_str!("../../actions/meta.toml")),
    ("auth.toml", include_str!("../../actions/auth.toml")),
    ("audit.toml", include_str!("../../actions/audit.toml")),
    ("notifications.toml", include_str!("../../actions/notifications.toml")),
    ("permits.toml", include_str!("../../actions/permits.toml")),
    ("offers.toml", include_str!("../../actions/offers.toml")),
    ("policies.toml", include_str!("../../actions/policies.toml")),
    ("requests.toml", include_str!("../../actions/requests.toml")),
];

/// Who may call an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Auth {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in account.
    Account,
    /// Accounts holding the `admin` role.
    Admin,
    /// Service accounts holding the `keeper` role.
    Keeper,
}

impl Auth {
    pub fn as_str(self) -> &'static str {
        match self {
            Auth::Public => "public",
            Auth::Account => "account",
            Auth::Admin => "admin",
            Auth::Keeper => "keeper",
        }
    }
}

/// One declared method.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    pub method: String,
    pub description: String,
    pub auth: Auth,
    /// `true`: runs in one transaction, POST or WebSocket only. `false`: a read, GET-able.
    pub side_effects: bool,
    /// The name of the params type (its JSON Schema title).
    pub params: String,
    /// The name of the result type (its JSON Schema title).
    pub result: String,
    /// A class of `[rate_limits]` in the config.
    pub rate_limit: String,
    /// A `verb:resource` the caller must hold (at some scope) before params are even read;
    /// the handler narrows what it shows to where it is held.
    #[serde(default)]
    pub permission: Option<Permission>,
}

/// A declared `verb:resource`, parsed once when the declarations are read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Permission {
    pub verb: String,
    pub resource: String,
}

impl TryFrom<String> for Permission {
    type Error = String;

    fn try_from(text: String) -> Result<Permission, String> {
        match text.split_once(':') {
            Some((verb, resource)) if !verb.is_empty() && !resource.is_empty() => {
                Ok(Permission { verb: verb.to_owned(), resource: resource.to_owned() })
            }
            _ => Err(format!("permission `{text}` is not of the form verb:resource")),
        }
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.verb, self.resource)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    action: Vec<ActionSpec>,
}

#[derive(Debug, thiserror::Error)]
#[error("actions/{file}: {reason}")]
pub struct SpecError {
    pub file: String,
    pub reason: String,
}

/// Parses one declaration file.
pub fn parse_file(file: &str, text: &str) -> Result<Vec<ActionSpec>, SpecError> {
    let parsed: SpecFile =
        toml::from_str(text).map_err(|e| SpecError { file: file.to_owned(), reason: e.to_string() })?;
    Ok(parsed.action)
}

/// Every declaration compiled into the binary.
pub fn builtin() -> Result<Vec<ActionSpec>, SpecError> {
    let mut all = Vec::new();
    for (file, text) in ACTION_FILES {
        all.extend(parse_file(file, text)?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_declarations_parse() {
        let specs = builtin().unwrap();
        assert!(specs.iter().any(|s| s.method == "rpc.discover"));
    }

    #[test]
    fn a_permission_is_verb_colon_resource() {
        let action = "[[action]]\nmethod = \"a\"\ndescription = \"d\"\nauth = \"account\"\nside_effects = false\n\
                      params = \"P\"\nresult = \"R\"\nrate_limit = \"read\"\n";
        let specs = parse_file("x.toml", &format!("{action}permission = \"view:audit\"\n")).unwrap();
        let permission = specs[0].permission.as_ref().unwrap();
        assert_eq!((permission.verb.as_str(), permission.resource.as_str()), ("view", "audit"));
        assert_eq!(permission.to_string(), "view:audit");
        let err = parse_file("x.toml", &format!("{action}permission = \"audit\"\n")).unwrap_err().to_string();
        assert!(err.starts_with("actions/x.toml:") && err.contains("verb:resource"), "{err}");
    }

    #[test]
    fn unknown_keys_and_values_are_refused_with_the_file_name() {
        let err = parse_file("x.toml", "[[action]]\nmethod = \"a\"\nauth = \"everyone\"\n").unwrap_err();
        assert!(err.to_string().starts_with("actions/x.toml:"), "{err}");
        assert!(err.to_string().contains("everyone"), "{err}");
    }
}
