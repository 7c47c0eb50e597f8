//! The `[roles]` table as configured, and the rules it, the kind names and the `[resources]`
//! table must follow (docs/protocol.md §5, §11), checked when the configuration loads so
//! that a bad role fails the start naming the file and the key (`roles.keeper.web_grantable`,
//! `roles.x.grants[2]` for a grant of an unknown verb or resource), never the first call
//! that uses it. Compiling the checked table into fast lookups is `authz::roles`' job.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::kinds::KindConfig;
use super::vocabulary::{BUILT_IN, EVERY_KIND, Vocabulary};

/// The role that may do everything; built in.
pub const ADMIN: &str = "admin";
/// The role of service accounts; built in, never web-grantable.
pub const KEEPER: &str = "keeper";

/// One role as configured.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    pub description: String,
    pub web_grantable: bool,
    /// Scope kinds the role may be held at; empty = any scope, or globally.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `verb:resource` strings; `verb:*` = that verb on every action kind.
    pub grants: Vec<String>,
}

/// A problem: the key it is at and what is wrong.
type Problem = (String, String);

/// Checks the `[kinds]` names, the `[resources]` table and every role of `[roles]`.
pub fn check(
    roles: &BTreeMap<String, RoleConfig>,
    kinds: &BTreeMap<String, KindConfig>,
    resources: &BTreeMap<String, Vec<String>>,
) -> Result<(), Problem> {
    for (name, kind) in kinds {
        if !is_word(name, false) {
            return Err((format!("kinds.{name}"), "kind names are lowercase letters, digits and _".into()));
        }
        if let Some((field, reason)) = kind.policy.problem() {
            return Err((format!("kinds.{name}.policy.{field}"), reason.into()));
        }
    }
    check_resources(resources, kinds)?;
    for builtin in [ADMIN, KEEPER] {
        if !roles.contains_key(builtin) {
            return Err((format!("roles.{builtin}"), "this built-in role cannot be removed".into()));
        }
    }
    let vocabulary = Vocabulary::new(kinds, resources);
    roles.iter().try_for_each(|(name, role)| check_role(name, role, &vocabulary))
}

/// Application resources: dotted words, none a kind's or a built-in resource's name, each
/// with at least one verb.
fn check_resources(
    resources: &BTreeMap<String, Vec<String>>,
    kinds: &BTreeMap<String, KindConfig>,
) -> Result<(), Problem> {
    for (name, verbs) in resources {
        let at = format!("resources.{name}");
        if !is_resource(name) {
            return Err((at, "resource names are lowercase words joined by `.`".into()));
        }
        if kinds.contains_key(name) || BUILT_IN.iter().any(|(builtin, _)| builtin == name) {
            return Err((at, "is already a resource (an action kind or built in); name another".into()));
        }
        if verbs.is_empty() {
            return Err((at, "needs at least one verb".into()));
        }
        if let Some((i, bad)) = verbs.iter().enumerate().find(|(_, verb)| !is_word(verb, true)) {
            return Err((format!("{at}[{i}]"), format!("`{bad}` is not a verb (lowercase letters, digits, _ and -)")));
        }
    }
    Ok(())
}

fn check_role(name: &str, config: &RoleConfig, vocabulary: &Vocabulary) -> Result<(), Problem> {
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
    for (i, grant) in config.grants.iter().enumerate().filter(|_| !everything) {
        let Some((verb, resource)) = parse_grant(grant) else {
            return Err((
                at(&format!("grants[{i}]")),
                format!("`{grant}` is not of the form verb:resource (or verb:*)"),
            ));
        };
        vocabulary
            .check_grant(verb, resource)
            .map_err(|unknown| (at(&format!("grants[{i}]")), format!("`{grant}`: {unknown}")))?;
    }
    Ok(())
}

/// A grant `verb:resource` as (verb, resource); `resource` may be `*`. `None` when malformed.
pub fn parse_grant(grant: &str) -> Option<(&str, &str)> {
    grant
        .split_once(':')
        .filter(|(verb, resource)| is_word(verb, true) && (*resource == EVERY_KIND || is_resource(resource)))
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
