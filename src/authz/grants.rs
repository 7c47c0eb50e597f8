//! A set of permits compiled for questions: resource → verb → where it is allowed
//! (globally, or at which scopes), so that "may they `verb` `resource` at `scope`?" costs
//! two map lookups and one set lookup per segment of the scope — however many permits
//! the holder has — and allocates nothing. Built once per resolution of a credential (and
//! kept with it in the credential cache). The tests hold it to the plain reading: some
//! permit covers the scope and its role grants the verb on the resource.

use std::collections::{HashMap, HashSet};

use super::permits::Permit;
use super::roles::Roles;

/// Where one verb on one resource is allowed.
#[derive(Debug, Default, Clone)]
struct Reach {
    global: bool,
    scopes: HashSet<String>,
}

impl Reach {
    fn add(&mut self, scope: Option<&str>) {
        match scope {
            None => self.global = true,
            Some(scope) => {
                self.scopes.insert(scope.to_owned());
            }
        }
    }

    /// Whether it covers `scope`: held globally, or at the scope or one above it.
    fn covers(&self, scope: Option<&str>) -> bool {
        self.global || scope.is_some_and(|scope| prefixes(scope).any(|held| self.scopes.contains(held)))
    }
}

/// What a set of active permits allows, compiled.
#[derive(Debug, Default, Clone)]
pub struct Grants {
    /// Where a role granting everything (admin) is held.
    everything: Reach,
    by_resource: HashMap<String, HashMap<String, Reach>>,
}

impl Grants {
    /// Compiles `permits` (all active) against the configured `roles`; a role no longer
    /// configured grants nothing.
    pub fn compile(roles: &Roles, permits: &[Permit]) -> Grants {
        let mut grants = Grants::default();
        for permit in permits {
            let Some(role) = roles.get(&permit.role) else { continue };
            let scope = permit.scope_id.as_deref();
            if role.everything {
                grants.everything.add(scope);
                continue;
            }
            for (resource, verbs) in &role.verbs {
                let by_verb = grants.by_resource.entry(resource.clone()).or_default();
                for verb in verbs {
                    by_verb.entry(verb.clone()).or_default().add(scope);
                }
            }
        }
        grants
    }

    /// Whether `verb` on `resource` is allowed at `scope` (`None` = globally).
    pub fn allows(&self, verb: &str, resource: &str, scope: Option<&str>) -> bool {
        self.everything.covers(scope)
            || self.by_resource.get(resource).and_then(|verbs| verbs.get(verb)).is_some_and(|reach| reach.covers(scope))
    }
}

/// `a:1/b:2/c:3`, then `a:1/b:2`, then `a:1`: the scope and every scope above it.
fn prefixes(scope: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(scope), |s| s.rfind('/').map(|at| &s[..at]))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::authz::scope;
    use crate::config::Config;

    /// The plain reading of what permits allow, the model the compiled form must match.
    fn plainly_allows(roles: &Roles, permits: &[Permit], verb: &str, resource: &str, scope: Option<&str>) -> bool {
        permits.iter().any(|p| {
            scope::covers(p.scope_id.as_deref(), scope) && roles.get(&p.role).is_some_and(|r| r.allows(verb, resource))
        })
    }

    const ROLES: [&str; 6] = ["admin", "manager", "member", "principal", "buyer", "retired_role"];
    const SCOPES: [Option<&str>; 6] =
        [None, Some("org:a"), Some("org:a/store:b"), Some("org:a/store:b/unit:c"), Some("org:ab"), Some("org:x")];
    const QUESTIONS: [(&str, &str); 6] = [
        ("manage", "policies"),
        ("view", "audit"),
        ("edit", "modules"),
        ("execute-own", "purchase"),
        ("view-any", "purchase"),
        ("check", "permissions"),
    ];

    fn permit(role: &str, scope: Option<&str>) -> Permit {
        Permit::held(role, scope)
    }

    #[test]
    fn scopes_are_asked_on_whole_segments() {
        let config = Config::embedded();
        let roles = Roles::new(&config.roles, &config.kinds);
        let grants = Grants::compile(&roles, &[permit("manager", Some("org:a"))]);
        assert!(grants.allows("manage", "policies", Some("org:a")));
        assert!(grants.allows("manage", "policies", Some("org:a/store:b")));
        assert!(!grants.allows("manage", "policies", Some("org:ab")));
        assert!(!grants.allows("manage", "policies", None));
        assert!(!grants.allows("edit", "modules", Some("org:a")));
    }

    proptest! {
        /// The compiled form answers every question exactly as the permits themselves do.
        #[test]
        fn compiled_answers_equal_the_permits_answers(
            held in proptest::collection::vec((0..ROLES.len(), 0..SCOPES.len()), 0..8),
        ) {
            let config = Config::embedded();
            let roles = Roles::new(&config.roles, &config.kinds);
            let permits: Vec<Permit> = held.iter().map(|&(r, s)| permit(ROLES[r], SCOPES[s])).collect();
            let grants = Grants::compile(&roles, &permits);
            for (verb, resource) in QUESTIONS {
                for scope in SCOPES {
                    prop_assert_eq!(
                        grants.allows(verb, resource, scope),
                        plainly_allows(&roles, &permits, verb, resource, scope),
                        "{} {} at {:?} with {:?}", verb, resource, scope, held
                    );
                }
            }
        }
    }
}
