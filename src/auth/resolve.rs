//! Turning a request's credentials into a [`Principal`], on every call: from the
//! credential cache while nothing about the credential, its account or its permits has
//! changed (`credential_cache` says how that is known), from the database otherwise.
//!
//! Expiry is checked here against the clock on every call, never cached: a cached
//! principal whose session, token or any permit has expired is read again (the database
//! then drops what expired). A session's expiry is slid forward, and a token's
//! `last_used_at` noted, at most once a minute; if that write finds the credential revoked
//! (by another instance whose word has not arrived yet) the call is refused.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{sessions, tokens};
use crate::call::{Credentials, Env, Principal, Via};
use crate::credential_cache::{Key, Kind};
use crate::error::RpcResult;

/// Resolves credentials to a principal; `None` when absent, unknown, expired or revoked.
pub async fn authenticate(env: &Env, credentials: &Credentials) -> RpcResult<Option<Principal>> {
    let (kind, secret) = match credentials {
        Credentials::None => return Ok(None),
        Credentials::Session(secret) | Credentials::SessionSecret(secret) => (Kind::Session, secret),
        Credentials::Bearer(secret) => (Kind::Token, secret),
    };
    let now = env.clock.now();
    let key: Key = (kind, Sha256::digest(secret.as_bytes()).into());
    let cached = env.credentials.get(&key).filter(|principal| principal.unexpired_at(now));
    let principal = match cached {
        Some(principal) => principal,
        None => {
            let ticket = env.credentials.ticket();
            let hash = hex::encode(key.1);
            let loaded = match kind {
                Kind::Session => sessions::load(env, &hash, now).await?,
                Kind::Token => tokens::load(env, &hash, now).await?,
            };
            let Some(principal) = loaded else {
                env.credentials.remove(&key);
                return Ok(None);
            };
            env.credentials.insert(key, principal.account_id, ticket, principal.clone());
            principal
        }
    };
    keep_alive(env, &key, principal, now).await
}

/// Renews a session or notes a token's use when due, and keeps the cache in step.
async fn keep_alive(
    env: &Env,
    key: &Key,
    mut principal: Principal,
    now: DateTime<Utc>,
) -> RpcResult<Option<Principal>> {
    let used_at = principal.credential_used_at;
    let kept = match &mut principal.via {
        Via::Session { id, .. } if sessions::renewal_due(used_at, now) => {
            let Some(until) = sessions::renew(env, *id, now).await? else { return refuse(env, key) };
            principal.credential_expires_at = Some(until);
            true
        }
        Via::Token { id, .. } if tokens::touch_due(used_at, now) => {
            if !tokens::touch(env, *id, now).await? {
                return refuse(env, key);
            }
            true
        }
        _ => false,
    };
    if kept {
        principal.credential_used_at = Some(now);
        env.credentials.refresh(key, principal.clone());
        if let Via::Session { renewed_until, .. } = &mut principal.via {
            *renewed_until = principal.credential_expires_at;
        }
    }
    Ok(Some(principal))
}

fn refuse(env: &Env, key: &Key) -> RpcResult<Option<Principal>> {
    env.credentials.remove(key);
    Ok(None)
}
