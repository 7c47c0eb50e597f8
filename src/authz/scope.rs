//! Scopes: path-like strings such as `org:acme/store:berlin` or `unit:CF1234`.
//!
//! A scope is one or more `/`-separated segments, each `kind:name`. A permit held at a
//! scope also applies to every scope below it, matched on whole segments: `org:acme`
//! covers `org:acme/store:berlin` but not `org:acmecorp`. No scope (`None`) is global:
//! a global permit covers every scope, and only a global permit covers the global scope.

/// What a scope id must look like, stated in every params schema that takes one.
pub const SCOPE_PATTERN: &str =
    r"^[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9._~@+-]{1,128}(/[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9._~@+-]{1,128}){0,15}$";

/// The longest scope id accepted (16 segments of the longest kind and name fit).
pub const SCOPE_MAX_LENGTH: u32 = 1024;

/// Whether a permit held at `held` applies at `target`.
pub fn covers(held: Option<&str>, target: Option<&str>) -> bool {
    match (held, target) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(held), Some(target)) => {
            target == held || (target.starts_with(held) && target.as_bytes().get(held.len()) == Some(&b'/'))
        }
    }
}

/// `scope` and every scope above it, nearest first: `org:acme/store:berlin`,
/// `org:acme`.
pub fn ancestors(scope: &str) -> Vec<String> {
    let mut all = vec![scope.to_owned()];
    let mut rest = scope;
    while let Some((parent, _)) = rest.rsplit_once('/') {
        all.push(parent.to_owned());
        rest = parent;
    }
    all
}

/// The kind of a scope: the `kind:` prefix of its last segment (`unit` for
/// `org:acme/unit:CF1234`).
pub fn kind(scope: &str) -> &str {
    let last = scope.rsplit('/').next().unwrap_or(scope);
    last.split_once(':').map_or(last, |(kind, _)| kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_covers_itself_and_what_is_below_it_on_whole_segments() {
        assert!(covers(Some("org:acme"), Some("org:acme")));
        assert!(covers(Some("org:acme"), Some("org:acme/store:berlin")));
        assert!(!covers(Some("org:ac"), Some("org:acme")));
        assert!(!covers(Some("org:acme"), Some("org:acmecorp/store:x")));
        assert!(!covers(Some("org:acme/store:berlin"), Some("org:acme")));
        assert!(!covers(Some("org:acme"), None), "a scoped permit does not reach the global scope");
        assert!(covers(None, Some("org:acme/store:berlin")));
        assert!(covers(None, None));
    }

    #[test]
    fn scope_syntax() {
        let pattern = regex::Regex::new(SCOPE_PATTERN).unwrap();
        let is_valid = |s: &str| pattern.is_match(s);
        for good in ["org:acme", "org:acme/store:berlin", "unit:CF1234", "env:prod-eu.1"] {
            assert!(is_valid(good), "{good}");
        }
        for bad in ["", "org", "org:", ":acme", "/org:acme", "org:acme/", "ORG:acme", "org:ac me", "org:a//b:c"] {
            assert!(!is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn ancestors_run_from_the_scope_up() {
        assert_eq!(
            ancestors("org:acme/store:berlin/till:3"),
            ["org:acme/store:berlin/till:3", "org:acme/store:berlin", "org:acme"]
        );
        assert_eq!(ancestors("unit:CF1234"), ["unit:CF1234"]);
    }

    #[test]
    fn kind_is_the_last_segments_prefix() {
        assert_eq!(kind("unit:CF1234"), "unit");
        assert_eq!(kind("org:acme/unit:CF1234"), "unit");
        assert_eq!(kind("org:acme"), "org");
    }
}
