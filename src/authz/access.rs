//! What a set of active permits allows, asked of the permits themselves: where a verb
//! reaches, who may hand a role out, and the flat permissions map a UI gates on
//! (docs/protocol.md §5). Yes/no questions go to the compiled [`Grants`](super::Grants).

use std::collections::{BTreeMap, BTreeSet};

use super::permits::Permit;
use super::roles::Roles;
use super::scope;

/// Where a set of permits allows something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// A global permit allows it: every scope, and the global scope.
    Everywhere,
    /// At these scopes and below them only (none: nowhere).
    Scopes(Vec<String>),
}

impl Reach {
    pub fn is_nowhere(&self) -> bool {
        matches!(self, Reach::Scopes(scopes) if scopes.is_empty())
    }

    /// Where any of `reaches` reaches.
    pub fn union(reaches: impl IntoIterator<Item = Reach>) -> Reach {
        let mut all = Vec::new();
        for reach in reaches {
            match reach {
                Reach::Everywhere => return Reach::Everywhere,
                Reach::Scopes(scopes) => all.extend(scopes),
            }
        }
        all.sort();
        all.dedup();
        Reach::Scopes(all)
    }
}

/// Where `permits` allow `verb` on `resource`.
pub fn reach(roles: &Roles, permits: &[Permit], verb: &str, resource: &str) -> Reach {
    let mut scopes = Vec::new();
    for permit in permits.iter().filter(|p| roles.get(&p.role).is_some_and(|r| r.allows(verb, resource))) {
        match &permit.scope_id {
            None => return Reach::Everywhere,
            Some(scope) => scopes.push(scope.clone()),
        }
    }
    scopes.sort();
    scopes.dedup();
    Reach::Scopes(scopes)
}

/// Whether `permits` let their holder hand out `role` at `scope`: the same role, or
/// admin, held at that scope or above it.
pub fn may_hand_out(permits: &[Permit], role: &str, scope: Option<&str>) -> bool {
    permits.iter().any(|p| (p.role == role || p.role == super::ADMIN) && scope::covers(p.scope_id.as_deref(), scope))
}

/// The permissions map: `resource` (global) or `resource/scope` → sorted verbs.
pub type Permissions = BTreeMap<String, Vec<String>>;

/// The [`Permissions`] map of `permits`. A global admin gets `{"*": ["*"]}`; an admin held
/// at a scope gets `"*/<scope>": ["*"]`.
pub fn permissions(roles: &Roles, permits: &[Permit]) -> Permissions {
    let key = |resource: &str, scope: Option<&str>| match scope {
        None => resource.to_owned(),
        Some(scope) => format!("{resource}/{scope}"),
    };
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for permit in permits {
        let Some(role) = roles.get(&permit.role) else { continue };
        let scope = permit.scope_id.as_deref();
        if role.everything {
            if scope.is_none() {
                return BTreeMap::from([("*".to_owned(), vec!["*".to_owned()])]);
            }
            map.entry(key("*", scope)).or_default().insert("*".to_owned());
            continue;
        }
        for (resource, verbs) in &role.verbs {
            map.entry(key(resource, scope)).or_default().extend(verbs.iter().cloned());
        }
    }
    map.into_iter().map(|(k, verbs)| (k, verbs.into_iter().collect())).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::Config;

    fn permit(role: &str, scope: Option<&str>) -> Permit {
        Permit::held(role, scope)
    }

    fn roles() -> Roles {
        let config = Config::embedded();
        Roles::new(&config.roles, &config.kinds)
    }

    #[test]
    fn the_map_merges_verbs_per_resource_and_scope() {
        let held = [permit("principal", Some("unit:CF1234")), permit("buyer", None), permit("retired_role", None)];
        let map = serde_json::to_value(permissions(&roles(), &held)).unwrap();
        assert_eq!(
            map,
            json!({"module.status/unit:CF1234": ["edit"], "modules/unit:CF1234": ["edit", "view"], "purchase": ["execute-own"]})
        );
        let scoped_admin = [permit("admin", Some("org:acme")), permit("buyer", None)];
        assert_eq!(permissions(&roles(), &scoped_admin)["*/org:acme"], ["*"]);
        let admin = [permit("buyer", None), permit("admin", None)];
        assert_eq!(serde_json::to_value(permissions(&roles(), &admin)).unwrap(), json!({"*": ["*"]}));
    }

    #[test]
    fn reach_is_everywhere_for_a_global_permit_else_the_scopes() {
        let roles = roles();
        let scoped = [permit("manager", Some("org:b")), permit("manager", Some("org:a")), permit("member", None)];
        assert_eq!(reach(&roles, &scoped, "view", "audit"), Reach::Scopes(vec!["org:a".into(), "org:b".into()]));
        assert!(reach(&roles, &scoped, "check", "permissions").is_nowhere());
        let global = [permit("manager", Some("org:a")), permit("manager", None)];
        assert_eq!(reach(&roles, &global, "view", "audit"), Reach::Everywhere);
    }

    #[test]
    fn only_the_role_or_admin_at_or_above_the_scope_hands_out() {
        let held = [permit("approver", Some("org:acme"))];
        assert!(may_hand_out(&held, "approver", Some("org:acme/store:berlin")));
        assert!(!may_hand_out(&held, "approver", None));
        assert!(!may_hand_out(&held, "operator", Some("org:acme")));
        assert!(may_hand_out(&[permit("admin", None)], "operator", Some("org:x")));
    }
}
