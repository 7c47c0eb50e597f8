//! The role catalogue: what each configured role grants, compiled once at start.
//!
//! A grant is `verb:resource`. `verb:*` means that verb on every configured action kind,
//! and is expanded here, so a check is one set lookup. `admin` is built in and grants
//! everything (`*:*`, the only wildcard resource a check never expands).

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::Serialize;

use crate::config::{KindConfig, RoleConfig};
use crate::rpc::{RpcError, RpcResult};

/// The role that may do everything.
pub const ADMIN: &str = "admin";
/// The role of service accounts; never web-grantable.
pub const KEEPER: &str = "keeper";

/// A role as `role_list` shows it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RoleInfo {
    pub name: String,
    pub description: String,
    /// Whether it may be granted and offered through the API.
    pub web_grantable: bool,
    /// `verb:resource` strings as configured (`verb:*` = every action kind).
    pub grants: Vec<String>,
    /// The scope kinds it may be held at; empty = any scope, or globally.
    pub scopes: Vec<String>,
}

/// One compiled role.
#[derive(Debug, Clone)]
pub struct Role {
    pub info: RoleInfo,
    /// Every verb on every resource (admin).
    pub everything: bool,
    /// `(resource, verb)` pairs, with `verb:*` expanded to each kind.
    pub pairs: BTreeSet<(String, String)>,
}

impl Role {
    pub fn allows(&self, verb: &str, resource: &str) -> bool {
        self.everything || self.pairs.contains(&(resource.to_owned(), verb.to_owned()))
    }

    /// Whether it may be held at `scope` (`None` = globally).
    pub fn applies_at(&self, scope: Option<&str>) -> bool {
        let kinds = &self.info.scopes;
        kinds.is_empty() || scope.is_some_and(|s| kinds.iter().any(|k| k == super::scope::kind(s)))
    }

    /// `validation_error/scope_not_applicable` unless it may be held at `scope`.
    pub fn check_scope(&self, scope: Option<&str>) -> RpcResult<()> {
        if self.applies_at(scope) {
            return Ok(());
        }
        let kinds = &self.info.scopes;
        Err(RpcError::validation("scope_not_applicable")
            .message(format!("{} may only be held at scopes of kind: {}", self.info.name, kinds.join(", ")))
            .with("scopes", kinds.clone()))
    }
}

/// Every configured role, by name.
#[derive(Debug, Clone)]
pub struct Roles {
    roles: BTreeMap<String, Role>,
}

/// A config problem: the key it is at and what is wrong.
type ConfigProblem = (String, String);

impl Roles {
    /// Compiles the configured roles against the configured kinds; errors name the role.
    pub fn new(
        roles: &BTreeMap<String, RoleConfig>,
        kinds: &BTreeMap<String, KindConfig>,
    ) -> Result<Roles, ConfigProblem> {
        for kind in kinds.keys() {
            if !is_word(kind, false) {
                return Err((format!("kinds.{kind}"), "kind names are lowercase letters, digits and _".into()));
            }
        }
        for builtin in [ADMIN, KEEPER] {
            if !roles.contains_key(builtin) {
                return Err((format!("roles.{builtin}"), "this built-in role cannot be removed".into()));
            }
        }
        let compiled = roles
            .iter()
            .map(|(name, config)| Ok((name.clone(), compile(name, config, kinds)?)))
            .collect::<Result<_, ConfigProblem>>()?;
        Ok(Roles { roles: compiled })
    }

    pub fn get(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    /// The role named `name` when it may be granted or offered through the API at
    /// `scope`: `validation_error/unknown_role`, `forbidden/role_not_grantable` or
    /// `validation_error/scope_not_applicable` otherwise.
    pub fn grantable(&self, name: &str, scope: Option<&str>) -> RpcResult<&Role> {
        let role = self.named(name)?;
        if !role.info.web_grantable {
            return Err(RpcError::forbidden("role_not_grantable"));
        }
        role.check_scope(scope)?;
        Ok(role)
    }

    /// The role named `name`; `validation_error/unknown_role` when none is configured.
    pub fn named(&self, name: &str) -> RpcResult<&Role> {
        self.get(name).ok_or_else(|| {
            RpcError::validation("unknown_role").message("No such role; role_list names them.").with("role", name)
        })
    }

    /// Every role, by name.
    pub fn all(&self) -> impl Iterator<Item = &Role> {
        self.roles.values()
    }
}

fn compile(name: &str, config: &RoleConfig, kinds: &BTreeMap<String, KindConfig>) -> Result<Role, ConfigProblem> {
    let at = |field: &str| format!("roles.{name}.{field}");
    if !is_word(name, true) {
        return Err((format!("roles.{name}"), "role names are lowercase letters, digits, _ and -".into()));
    }
    if name == KEEPER && config.web_grantable {
        return Err((at("web_grantable"), "keeper is never web-grantable".into()));
    }
    if let Some(bad) = config.scopes.iter().find(|k| !is_word(k, true)) {
        return Err((at("scopes"), format!("`{bad}` is not a scope kind (lowercase letters, digits, _ and -)")));
    }
    let everything = config.grants.iter().any(|g| g == "*:*");
    if name == ADMIN && config.grants != ["*:*"] {
        return Err((at("grants"), "admin is built in: its grants are always [\"*:*\"]".into()));
    }
    if everything && name != ADMIN {
        return Err((at("grants"), "only admin may grant `*:*`".into()));
    }
    let mut pairs = BTreeSet::new();
    for grant in config.grants.iter().filter(|_| !everything) {
        let (verb, resource) = grant
            .split_once(':')
            .filter(|(verb, resource)| is_word(verb, true) && (*resource == "*" || is_resource(resource)))
            .ok_or_else(|| (at("grants"), format!("`{grant}` is not of the form verb:resource (or verb:*)")))?;
        if resource == "*" {
            pairs.extend(kinds.keys().map(|kind| (kind.clone(), verb.to_owned())));
        } else {
            pairs.insert((resource.to_owned(), verb.to_owned()));
        }
    }
    let info = RoleInfo {
        name: name.to_owned(),
        description: config.description.clone(),
        web_grantable: config.web_grantable,
        grants: config.grants.clone(),
        scopes: config.scopes.clone(),
    };
    Ok(Role { info, everything, pairs })
}

/// Lowercase letters and digits, `_`, and `-` when `dash`; starting with a letter.
fn is_word(s: &str, dash: bool) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || (dash && c == '-'))
        && s.len() <= 64
}

/// A resource: words joined by `.` (`module.status`).
fn is_resource(s: &str) -> bool {
    s.split('.').all(|part| is_word(part, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn verb_star_expands_to_every_kind() {
        let config = Config::embedded();
        let roles = Roles::new(&config.roles, &config.kinds).unwrap();
        let approver = roles.get("approver").unwrap();
        for kind in config.kinds.keys() {
            assert!(approver.allows("approve", kind), "{kind}");
        }
        assert!(!approver.allows("approve", "module.status"), "`*` reaches action kinds only");
        assert!(roles.get(ADMIN).unwrap().allows("anything", "at.all"));
        let principal = roles.get("principal").unwrap();
        assert!(principal.allows("edit", "module.status"));
        assert!(principal.applies_at(Some("org:acme/unit:CF1234")));
        assert!(!principal.applies_at(Some("org:acme")));
        assert!(!principal.applies_at(None), "a unit role is never held globally");
        assert!(roles.get("member").unwrap().applies_at(None));
    }
}
