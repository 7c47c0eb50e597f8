//! Assembly: configuration → bound API → database → environment → [`Api`]. The server
//! (`server.rs`) and the command line's changes (`offline.rs`) are both built here, so
//! they run the same parts with the same checks. Nothing below this layer holds the whole.

use std::sync::Arc;

use anyhow::Context as _;

use crate::call::{Env, Handler};
use crate::clock::Clock;
use crate::config::Config;
use crate::db::{Db, Open};
use crate::rpc::spec::{self, ActionSpec};
use crate::rpc::{self, Api, Bound};
use crate::{handlers, notices};

/// Actions added to the built-in ones (tests and benchmarks register doubles this way;
/// they pass through the same declaration parser and the same binding checks).
#[derive(Default)]
pub struct Extra {
    pub specs: Vec<ActionSpec>,
    pub handlers: Vec<Box<dyn Handler>>,
}

/// Binds the built-in declarations (plus `extra`) to their handlers, with the OpenRPC
/// document and the notification catalogue: everything `countersign schemas` writes.
pub fn bind(config: &Config, extra: Extra) -> anyhow::Result<Bound> {
    let mut specs = spec::builtin()?;
    specs.extend(extra.specs);
    let mut all = handlers::all();
    all.extend(extra.handlers);
    Ok(rpc::bind(specs, all, notices::all(), config.rate_limits.keys())?)
}

/// Binds the API, opens the database as `open` allows (with [`Open::Create`], creating and
/// migrating it; with [`Open::Existing`], refusing one that is missing or not migrated),
/// and builds the environment.
pub async fn assemble(config: Config, extra: Extra, clock: Clock, open: Open) -> anyhow::Result<Arc<Api>> {
    let bound = bind(&config, extra)?;
    let db = Db::open(&config.server.database_url, open).await?;
    if open == Open::Create {
        db.migrate().await.with_context(|| format!("cannot migrate the database {}", db.target()))?;
    }
    let methods = bound.registry.iter().map(|action| action.spec.method.clone()).collect();
    let env = Arc::new(Env::new(config, db, clock, methods));
    Ok(Arc::new(Api::new(env, bound)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_declarations_bind_to_builtin_handlers() {
        bind(&Config::embedded(), Extra::default()).unwrap();
    }
}
