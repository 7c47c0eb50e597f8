//! The environment every call, background job and command-line change runs in: what the
//! domains may reach, and nothing of the pipeline or the transports. It is built once by
//! the assembly (`app.rs`) and shared behind an `Arc`.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::authz::Roles;
use crate::clock::Clock;
use crate::config::Config;
use crate::config::vocabulary::Vocabulary;
use crate::credential_cache::{self, CredentialCache, Freshness};
use crate::db::{Backend, Db};
use crate::executors::Webhooks;
use crate::limits::LoginLimits;
use crate::metrics::Metrics;
use crate::notify::hub::Hub;
use crate::sockets::Sockets;
use tokio_util::task::TaskTracker;

use super::principal::Principal;

pub struct Env {
    pub config: Config,
    pub db: Db,
    pub clock: Clock,
    /// The configured roles, compiled.
    pub roles: Roles,
    /// Which verbs exist on which resources (what `permission_check` may ask).
    pub vocabulary: Vocabulary,
    /// Wakes notification subscribers on this instance after a commit.
    pub hub: Arc<Hub>,
    /// Open WebSockets on this instance, by credential.
    pub sockets: Arc<Sockets>,
    pub metrics: Metrics,
    /// Resolved sessions and API tokens, used while nothing about them changed.
    pub credentials: CredentialCache<Principal>,
    pub login_limits: LoginLimits,
    /// The declared method names (an API token may be limited to some of them).
    pub methods: BTreeSet<String>,
    /// The HTTP client executors call webhooks with.
    pub webhooks: Webhooks,
    /// Webhook deliveries in flight: a graceful shutdown waits for them.
    pub deliveries: TaskTracker,
}

impl Env {
    /// The environment for `config` over `db`: roles compiled, nothing open yet.
    pub fn new(config: Config, db: Db, clock: Clock, methods: BTreeSet<String>) -> Env {
        let roles = Roles::new(&config.roles, &config.kinds);
        let vocabulary = config.vocabulary();
        let login_limits = LoginLimits::new(config.auth.login_limits);
        let metrics = Metrics::default();
        // PostgreSQL: trusted only while the listener hears changes from other instances.
        let listened = db.backend() == Backend::Postgres;
        let freshness = Freshness::new(listened, db.sqlite_file().map(credential_cache::change_file_of));
        let credentials =
            CredentialCache::new(config.auth.credential_cache_entries, Arc::new(freshness), metrics.credential_cache());
        Env {
            config,
            db,
            clock,
            roles,
            vocabulary,
            hub: Arc::default(),
            sockets: Arc::default(),
            metrics,
            credentials,
            login_limits,
            methods,
            webhooks: Webhooks::default(),
            deliveries: TaskTracker::new(),
        }
    }
}
