//! Which verbs exist on which resources: the one table that a role's grants
//! (`roles.<name>.grants`, checked at start) and a `permission_check` question are both held
//! to, so that a misspelt `aprove:purchase` is refused instead of silently granting or
//! answering nothing (docs/protocol.md §5, §11).
//!
//! Known are: the verbs of §7.5 on every configured action kind, the built-in resources
//! countersign itself checks (`manage:policies`, `view:audit`, `check:permissions`), and the
//! resources the `[resources]` table declares for applications (`modules`, `module.status`).

use std::collections::BTreeMap;

use super::kinds::KindConfig;

/// The verbs on an action kind (docs/protocol.md §7.5); `verb:*` grants may name only these.
pub const KIND_VERBS: &[&str] = &[
    "approve",
    "cancel-any",
    "cancel-own",
    "confirm-any",
    "create",
    "execute-any",
    "execute-own",
    "retry-any",
    "retry-own",
    "view-any",
    "view-own",
];

/// The resources countersign's own methods check, with their verbs.
pub const BUILT_IN: &[(&str, &[&str])] =
    &[("audit", &["view"]), ("permissions", &["check"]), ("policies", &["manage"])];

/// A grant's resource that means every action kind.
pub const EVERY_KIND: &str = "*";

/// Every resource that may be named, with its verbs (sorted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    verbs: BTreeMap<String, Vec<String>>,
}

/// Why a (verb, resource) pair is not known, with what is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unknown {
    /// No such resource; `known` lists every resource.
    Resource { resource: String, known: Vec<String> },
    /// The resource exists but has no such verb; `known` lists its verbs.
    Verb { verb: String, resource: String, known: Vec<String> },
}

impl Unknown {
    /// The error reason: `unknown_resource` or `unknown_verb`.
    pub fn reason(&self) -> &'static str {
        match self {
            Unknown::Resource { .. } => "unknown_resource",
            Unknown::Verb { .. } => "unknown_verb",
        }
    }

    /// The known resources, or the resource's known verbs.
    pub fn known(&self) -> &[String] {
        match self {
            Unknown::Resource { known, .. } | Unknown::Verb { known, .. } => known,
        }
    }
}

impl std::fmt::Display for Unknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unknown::Resource { resource, known } => {
                write!(f, "unknown resource `{resource}`; known resources: {}", known.join(", "))
            }
            Unknown::Verb { verb, resource, known } => {
                write!(f, "unknown verb `{verb}` on `{resource}`; its verbs: {}", known.join(", "))
            }
        }
    }
}

impl Vocabulary {
    /// The built-in resources, every kind of `kinds`, and the application resources of
    /// `resources` (resource → verbs).
    pub fn new(kinds: &BTreeMap<String, KindConfig>, resources: &BTreeMap<String, Vec<String>>) -> Vocabulary {
        let owned = |verbs: &[&str]| verbs.iter().map(|v| (*v).to_owned()).collect::<Vec<String>>();
        let mut verbs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        verbs.extend(BUILT_IN.iter().map(|(resource, verbs)| ((*resource).to_owned(), owned(verbs))));
        verbs.extend(kinds.keys().map(|kind| (kind.clone(), owned(KIND_VERBS))));
        for (resource, declared) in resources {
            let mut declared = declared.clone();
            declared.sort();
            declared.dedup();
            verbs.insert(resource.clone(), declared);
        }
        Vocabulary { verbs }
    }

    /// The verbs of `resource`, sorted; `None` when it is not a resource.
    pub fn verbs(&self, resource: &str) -> Option<&[String]> {
        self.verbs.get(resource).map(Vec::as_slice)
    }

    /// Every resource, sorted.
    pub fn resources(&self) -> impl Iterator<Item = &str> {
        self.verbs.keys().map(String::as_str)
    }

    /// Whether `verb` on `resource` may be asked about (`permission_check`).
    pub fn check(&self, verb: &str, resource: &str) -> Result<(), Unknown> {
        let Some(verbs) = self.verbs(resource) else {
            let known = self.resources().map(str::to_owned).collect();
            return Err(Unknown::Resource { resource: resource.to_owned(), known });
        };
        if verbs.iter().any(|known| known == verb) {
            return Ok(());
        }
        Err(Unknown::Verb { verb: verb.to_owned(), resource: resource.to_owned(), known: verbs.to_vec() })
    }

    /// Whether a role may grant `verb` on `resource`: [`Vocabulary::check`], and `verb:*`
    /// for a verb of the action kinds.
    pub fn check_grant(&self, verb: &str, resource: &str) -> Result<(), Unknown> {
        if resource != EVERY_KIND {
            return self.check(verb, resource).map_err(|unknown| match unknown {
                Unknown::Resource { resource, mut known } => {
                    known.insert(0, EVERY_KIND.to_owned());
                    Unknown::Resource { resource, known }
                }
                verb => verb,
            });
        }
        if KIND_VERBS.contains(&verb) {
            return Ok(());
        }
        let known = KIND_VERBS.iter().map(|v| (*v).to_owned()).collect();
        Err(Unknown::Verb { verb: verb.to_owned(), resource: EVERY_KIND.to_owned(), known })
    }
}
