//! Fuzzes scopes (`authz::scope`): `covers`, `ancestors`, `kind` and `SCOPE_PATTERN`.
//!
//! Input: UTF-8 text (other input is skipped). Each line is a scope; the first two lines
//! are also checked as a pair (one line is paired with itself).
//!
//! Why: every authorization decision asks whether a permit's scope covers the target
//! scope, and reads the policy in force through `ancestors`; a role's allowed scope kinds
//! go through `kind`. These run on scope ids that passed the params schema, but also on
//! what is stored, so they must be total and agree with each other on any string:
//! - `kind` and `ancestors` never panic; `kind` is a slice of the scope's last segment;
//! - `ancestors(s)` starts with `s`, has one entry per `/` plus one, each the previous cut
//!   at its last `/`; every ancestor covers `s` and the ancestors nearer to `s` than
//!   itself, and none farther up;
//! - `covers` is reflexive and antisymmetric, a global permit (`None`) covers everything
//!   and only it covers the global scope, and `covers(a, b)` is exactly `a` being one of
//!   `ancestors(b)` — whole segments, never a prefix inside one (`org:acme` never covers
//!   `org:acmecorp`);
//! - for a scope matching `SCOPE_PATTERN` (what the params schemas let in): every ancestor
//!   matches it too, there are at most 16, and `kind` is the last segment's kind, itself a
//!   valid kind name.

#![no_main]

use std::sync::OnceLock;

use countersign::authz::scope::{SCOPE_PATTERN, ancestors, covers, kind};
use libfuzzer_sys::fuzz_target;
use regex::Regex;

fn pattern() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| Regex::new(SCOPE_PATTERN).expect("SCOPE_PATTERN compiles"))
}

fn kind_pattern() -> &'static Regex {
    static KIND: OnceLock<Regex> = OnceLock::new();
    KIND.get_or_init(|| Regex::new(r"^[a-z][a-z0-9_-]{0,31}$").expect("compiles"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    let second = lines.next().unwrap_or(first);
    check_pair(first, second);
    check_pair(second, first);
    for scope in text.split('\n') {
        check_one(scope);
    }
});

fn check_one(s: &str) {
    assert!(covers(Some(s), Some(s)), "covers is reflexive: {s:?}");
    assert!(covers(None, Some(s)), "a global permit covers {s:?}");
    assert!(!covers(Some(s), None), "only a global permit covers the global scope: {s:?}");

    let all = ancestors(s);
    assert_eq!(all.first().map(String::as_str), Some(s), "ancestors start with the scope itself");
    assert_eq!(all.len(), s.matches('/').count() + 1, "one ancestor per segment: {s:?} -> {all:?}");
    for pair in all.windows(2) {
        let (near, far) = (&pair[0], &pair[1]);
        assert_eq!(near.rsplit_once('/').map(|(parent, _)| parent), Some(far.as_str()), "{s:?} -> {all:?}");
    }
    for (i, a) in all.iter().enumerate() {
        assert!(covers(Some(a), Some(s)), "ancestor {a:?} covers {s:?}");
        // Every pair, for scopes of a realistic depth (the pattern allows 16 segments).
        for (j, b) in all.iter().enumerate().take(if all.len() <= 32 { all.len() } else { 0 }) {
            assert_eq!(covers(Some(b), Some(a)), j >= i, "{b:?} covers {a:?} exactly when it is above it");
        }
    }

    let k = kind(s);
    let last = s.rsplit('/').next().unwrap_or(s);
    assert!(last.starts_with(k), "kind {k:?} is the start of the last segment of {s:?}");
    assert!(k.len() == last.len() || last[k.len()..].starts_with(':'), "kind {k:?} ends at the `:` of {s:?}");

    if pattern().is_match(s) {
        assert!(all.len() <= 16, "at most 16 segments: {s:?}");
        for a in &all {
            assert!(pattern().is_match(a), "ancestor {a:?} of the valid scope {s:?} is valid");
        }
        assert!(kind_pattern().is_match(k), "kind {k:?} of the valid scope {s:?} is a kind name");
        assert!(k.len() < last.len(), "a valid scope's last segment has a name after its kind: {s:?}");
    }
}

fn check_pair(a: &str, b: &str) {
    let covered = covers(Some(a), Some(b));
    assert_eq!(covered, ancestors(b).iter().any(|x| x == a), "covers({a:?}, {b:?}) is `{a:?} in ancestors`");
    if covered && covers(Some(b), Some(a)) {
        assert_eq!(a, b, "covers is antisymmetric");
    }
    if covered && a != b {
        assert!(b.len() > a.len() && b.as_bytes()[a.len()] == b'/', "{a:?} covers {b:?} on whole segments");
    }
}
