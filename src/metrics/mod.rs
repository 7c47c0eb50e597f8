//! Prometheus metrics (served as text at `GET /metrics`): calls by method and outcome,
//! call latency by method, open WebSockets, notifications sent, sockets closed for
//! falling behind, webhook deliveries by event and outcome, and the credential cache's
//! hits, misses, evictions and size, all named `countersign_*`;
//! `countersign_build_info{version}`; and the standard `process_*` metrics (`process.rs`).
//!
//! Two text formats, as the scraper asks ([`Format`]): OpenMetrics 1.0, which the
//! `prometheus-client` crate encodes, and the classic Prometheus text format 0.0.4,
//! rewritten from it by `classic.rs`.

mod classic;
mod process;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// A text exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics,
    /// The classic Prometheus text format (`text/plain; version=0.0.4`).
    Classic,
}

impl Format {
    /// The `Content-Type` of an exposition in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Classic => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// A call's labels: a declared method name (or `unknown`) and an outcome, both static, so
/// that recording a call allocates nothing.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    event: String,
    outcome: String,
}

pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    latency: Family<MethodLabels, Histogram>,
    sockets: Gauge,
    notifications: Counter,
    resyncs: Counter,
    refused: Counter,
    deliveries: Family<DeliveryLabels, Counter>,
    credential_cache: CacheCounters,
}

/// The credential cache's counters (`countersign_credential_cache_*`); clones share them.
#[derive(Clone, Default)]
pub struct CacheCounters {
    /// Calls whose credential was answered from memory.
    pub hits: Counter,
    /// Calls whose credential was read from the database (absent, changed or expired).
    pub misses: Counter,
    /// Entries dropped to stay within capacity.
    pub evictions: Counter,
    /// Entries held now.
    pub entries: Gauge,
}

fn latency_histogram() -> Histogram {
    // 100 µs .. ~3.3 s, doubling.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut root = Registry::default();
        process::register(&mut root);
        let registry = root.sub_registry_with_prefix("countersign");
        let build = Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]);
        registry.register("build", "The running build: its version in a label, value 1", build);
        let calls = Family::<CallLabels, Counter>::default();
        let latency = Family::<MethodLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        let sockets = Gauge::default();
        let notifications = Counter::default();
        let resyncs = Counter::default();
        let refused = Counter::default();
        registry.register("rpc_calls", "JSON-RPC calls by method and outcome", calls.clone());
        registry.register("rpc_call_duration_seconds", "Time to answer a call, by method", latency.clone());
        registry.register("websockets_open", "Open WebSocket connections", sockets.clone());
        registry.register("notifications_sent", "Notifications pushed to subscribed sockets", notifications.clone());
        registry.register("websocket_resyncs", "Sockets closed for falling behind (resync_required)", resyncs.clone());
        registry.register(
            "connections_refused",
            "Connections closed at once: a connection cap was reached",
            refused.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries by event and outcome (accepted: a 2xx; refused: anything else)",
            deliveries.clone(),
        );
        let credential_cache = CacheCounters::default();
        let cache = &credential_cache;
        registry.register(
            "credential_cache_hits",
            "Calls whose credential was answered from memory",
            cache.hits.clone(),
        );
        registry.register(
            "credential_cache_misses",
            "Calls whose credential was read from the database",
            cache.misses.clone(),
        );
        registry.register(
            "credential_cache_evictions",
            "Cached credentials dropped to stay within capacity",
            cache.evictions.clone(),
        );
        registry.register("credential_cache_entries", "Credentials held in the cache", cache.entries.clone());
        Metrics {
            registry: root,
            calls,
            latency,
            sockets,
            notifications,
            resyncs,
            refused,
            deliveries,
            credential_cache,
        }
    }
}

impl Metrics {
    /// Records one answered call; `outcome` is `ok` or an error kind's name.
    pub fn record_call(&self, method: &'static str, outcome: &'static str, seconds: f64) {
        self.calls.get_or_create(&CallLabels { method, outcome }).inc();
        self.latency.get_or_create(&MethodLabels { method }).observe(seconds);
    }

    pub fn notification_sent(&self) {
        self.notifications.inc();
    }

    pub fn socket_resynced(&self) {
        self.resyncs.inc();
    }

    pub fn connection_refused(&self) {
        self.refused.inc();
    }

    /// Records one webhook delivery of `event`, taken (2xx) or not.
    pub fn webhook_delivered(&self, event: &str, accepted: bool) {
        let outcome = if accepted { "accepted" } else { "refused" };
        self.deliveries.get_or_create(&DeliveryLabels { event: event.to_owned(), outcome: outcome.to_owned() }).inc();
    }

    /// The credential cache's counters, to update from the cache itself.
    pub fn credential_cache(&self) -> CacheCounters {
        self.credential_cache.clone()
    }

    pub fn socket_opened(&self) {
        self.sockets.inc();
    }

    pub fn socket_closed(&self) {
        self.sockets.dec();
    }

    /// The text exposition of every metric, in `format`.
    pub fn encode(&self, format: Format) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        match format {
            Format::OpenMetrics => out,
            Format::Classic => classic::from_openmetrics(&out),
        }
    }
}
