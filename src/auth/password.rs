//! Passwords: Argon2id (m = 19456 KiB, t = 2, p = 1), always on a blocking thread.
//!
//! A login for an unknown username verifies against a fixed dummy hash with the same
//! parameters, so it costs the same time as a wrong password for a real account.

use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{RpcError, RpcResult};

/// Shortest password accepted, in characters.
pub const MIN_LENGTH: usize = 12;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks the strength rule, then hashes: the one way a new password is accepted.
pub async fn hash_new(password: String) -> RpcResult<String> {
    check_strength(&password)?;
    hash(password).await
}

/// Hashes `password` to a PHC string.
async fn hash(password: String) -> RpcResult<String> {
    tokio::task::spawn_blocking(move || {
        argon2().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(RpcError::internal)
    })
    .await
    .map_err(RpcError::internal)?
}

/// Whether `password` matches `stored` (a PHC string); `None` checks against the dummy.
pub async fn verify(password: String, stored: Option<String>) -> RpcResult<bool> {
    tokio::task::spawn_blocking(move || {
        let stored = stored.as_deref().unwrap_or_else(|| dummy_hash());
        let Ok(parsed) = PasswordHash::new(stored) else { return false };
        let matched = argon2().verify_password(password.as_bytes(), &parsed).is_ok();
        matched && stored != dummy_hash()
    })
    .await
    .map_err(RpcError::internal)
}

/// A hash of a random password nobody knows, computed once.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let secret = super::secret::new_token("");
        argon2().hash_password(secret.as_bytes()).expect("hashing works").to_string()
    })
}

/// Enforces the length rule, with the error a client can show.
pub fn check_strength(password: &str) -> RpcResult<()> {
    if password.chars().count() < MIN_LENGTH {
        return Err(RpcError::validation("password_too_short")
            .with("min_length", MIN_LENGTH)
            .message(format!("Passwords need at least {MIN_LENGTH} characters.")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_the_dummy_never_matches() {
        let stored = hash("correct horse battery".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert!(verify("correct horse battery".into(), Some(stored.clone())).await.unwrap());
        assert!(!verify("wrong horse battery".into(), Some(stored)).await.unwrap());
        assert!(!verify("anything at all".into(), None).await.unwrap());
        assert!(check_strength("short").is_err());
        assert!(check_strength("twelve chars").is_ok());
    }
}
