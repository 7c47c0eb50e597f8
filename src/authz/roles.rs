//! The role catalogue: what each configured role grants, compiled once at start from the
//! role table the configuration has already checked (`config::roles`).
//!
//! A grant is `verb:resource`. `verb:*` means that verb on every configured action kind,
//! and is expanded here, so a check is two map lookups with no allocation. `admin` is
//! built in and grants everything (`*:*`, the only wildcard resource a check never
//! expands).

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::Serialize;

use crate::config::kinds::KindConfig;
pub use crate::config::roles::{ADMIN, KEEPER};
use crate::config::roles::{RoleConfig, parse_grant};
use crate::error::{RpcError, RpcResult};

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
    /// Resource → verbs, with `verb:*` expanded to each kind.
    pub verbs: BTreeMap<String, BTreeSet<String>>,
}

impl Role {
    pub fn allows(&self, verb: &str, resource: &str) -> bool {
        self.everything || self.verbs.get(resource).is_some_and(|verbs| verbs.contains(verb))
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

impl Roles {
    /// Compiles the configured roles against the configured kinds (both checked when the
    /// configuration loaded).
    pub fn new(roles: &BTreeMap<String, RoleConfig>, kinds: &BTreeMap<String, KindConfig>) -> Roles {
        Roles { roles: roles.iter().map(|(name, config)| (name.clone(), compile(name, config, kinds))).collect() }
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

fn compile(name: &str, config: &RoleConfig, kinds: &BTreeMap<String, KindConfig>) -> Role {
    let everything = name == ADMIN;
    let mut verbs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (verb, resource) in config.grants.iter().filter(|_| !everything).filter_map(|g| parse_grant(g)) {
        let resources: Vec<&str> =
            if resource == "*" { kinds.keys().map(String::as_str).collect() } else { vec![resource] };
        for resource in resources {
            verbs.entry(resource.to_owned()).or_default().insert(verb.to_owned());
        }
    }
    let info = RoleInfo {
        name: name.to_owned(),
        description: config.description.clone(),
        web_grantable: config.web_grantable,
        grants: config.grants.clone(),
        scopes: config.scopes.clone(),
    };
    Role { info, everything, verbs }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn verb_star_expands_to_every_kind() {
        let config = Config::embedded();
        let roles = Roles::new(&config.roles, &config.kinds);
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
