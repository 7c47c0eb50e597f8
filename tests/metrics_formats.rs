//! `GET /metrics` in the format the scraper asks for, each read by real parsers: the
//! classic Prometheus text format 0.0.4 (by default) by `prometheus-parse` and by
//! `openmetrics-parser`'s Prometheus parser, OpenMetrics 1.0 (when `Accept` prefers it) by
//! `openmetrics-parser`. Both carry the same families — calls, latency, sockets, build info
//! and the process metrics — with their types and values.

mod common;

use std::collections::HashMap;

use common::{Backend, TestServer, start};
use openmetrics_parser::{
    MetricFamily, MetricsExposition, OpenMetricsType, OpenMetricsValue, PrometheusType, PrometheusValue, Sample,
};
use serde_json::json;

backend_tests!(classic_text_by_default, openmetrics_when_preferred);

const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// What Prometheus 2.x and 3.x send (the scrape protocols they prefer, in order).
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,\
     application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// Three good calls and one refused, and one open socket (the gauge has moved once the
/// server took it): what the metrics must then say.
async fn traffic(server: &TestServer) -> common::WsClient {
    for _ in 0..3 {
        server.call("test_echo", json!({"text": "x"})).await;
    }
    server.call("test_echo", json!({})).await;
    let ws = server.ws().await;
    for _ in 0..100 {
        if scrape(server, None).await.1.contains("countersign_websockets_open 1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    ws
}

/// `GET /metrics` with `accept`: (Content-Type, body).
async fn scrape(server: &TestServer, accept: Option<&str>) -> (String, String) {
    let mut request = server.http.get(format!("{}/metrics", server.base));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["vary"], "Accept");
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    (content_type, response.text().await.unwrap())
}

/// The sample of `family` whose labels are exactly `labels`.
fn sample<'a, T, V>(family: &'a MetricFamily<T, V>, labels: &[(&str, &str)]) -> &'a Sample<V>
where
    T: Clone,
    V: openmetrics_parser::RenderableMetricValue + Clone,
{
    let found = family.iter_samples().find(|s| {
        let set = s.get_labelset().unwrap();
        set.iter_names().count() == labels.len() && labels.iter().all(|(k, v)| set.get_label_value(k) == Some(*v))
    });
    found.unwrap_or_else(|| panic!("{}: no sample {labels:?}", family.family_name))
}

fn family<'a, T, V>(exposition: &'a MetricsExposition<T, V>, name: &str) -> &'a MetricFamily<T, V> {
    exposition.families.get(name).unwrap_or_else(|| {
        let mut names: Vec<&String> = exposition.families.keys().collect();
        names.sort();
        panic!("no family {name} in {names:?}")
    })
}

async fn classic_text_by_default(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let _ws = traffic(&server).await;
    for accept in [None, Some("text/plain"), Some("*/*"), Some("text/plain;version=0.0.4"), Some("application/json")] {
        let (content_type, text) = scrape(&server, accept).await;
        assert_eq!(content_type, CLASSIC, "{accept:?}");
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{accept:?}: {text}");
        check_with_prometheus_parse(&text);
        check_classic_with_openmetrics_parser(&text);
    }
}

/// `prometheus-parse` types a sample by the `# TYPE` line of its exact name: every counter
/// sample must come out a counter (read as OpenMetrics, they would all be untyped).
fn check_with_prometheus_parse(text: &str) {
    use prometheus_parse::{Scrape, Value};
    let scrape = Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).unwrap();
    let mut by_name: HashMap<&str, Vec<&prometheus_parse::Sample>> = HashMap::new();
    for sample in &scrape.samples {
        by_name.entry(sample.metric.as_str()).or_default().push(sample);
    }
    let one = |name: &str, labels: &[(&str, &str)]| {
        let samples = by_name.get(name).unwrap_or_else(|| panic!("no {name}: {text}"));
        let found = samples.iter().find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)));
        found.unwrap_or_else(|| panic!("no {name} {labels:?}: {samples:?}")).value.clone()
    };
    assert_eq!(one("countersign_rpc_calls_total", &[("method", "test_echo"), ("outcome", "ok")]), Value::Counter(3.0));
    let refused = one("countersign_rpc_calls_total", &[("method", "test_echo"), ("outcome", "invalid_params")]);
    assert_eq!(refused, Value::Counter(1.0));
    match one("countersign_rpc_call_duration_seconds", &[("method", "test_echo")]) {
        Value::Histogram(buckets) => {
            assert_eq!(buckets.last().map(|b| (b.less_than, b.count)), Some((f64::INFINITY, 4.0)), "{buckets:?}")
        }
        other => panic!("not a histogram: {other:?}"),
    }
    assert_eq!(one("countersign_websockets_open", &[]), Value::Gauge(1.0));
    assert_eq!(one("countersign_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), Value::Gauge(1.0));
    assert!(matches!(one("process_cpu_seconds_total", &[]), Value::Counter(seconds) if seconds > 0.0));
    assert!(matches!(one("process_resident_memory_bytes", &[]), Value::Gauge(bytes) if bytes > 1e6));
    assert!(matches!(one("process_open_fds", &[]), Value::Gauge(open) if open >= 3.0));
    assert!(matches!(one("process_start_time_seconds", &[]), Value::Gauge(at) if plausible_start(at)));
    // prometheus-parse reads a histogram's buckets only: its `_sum` and `_count` come out
    // untyped, whatever the text. Any other untyped sample is a family misnamed.
    let histograms: Vec<&str> =
        text.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" histogram")).collect();
    let of_histogram = |name: &str| {
        let base = name.strip_suffix("_sum").or_else(|| name.strip_suffix("_count"));
        base.is_some_and(|base| histograms.contains(&base))
    };
    let untyped: Vec<&str> = scrape
        .samples
        .iter()
        .filter(|s| matches!(s.value, Value::Untyped(_)) && !of_histogram(&s.metric))
        .map(|s| s.metric.as_str())
        .collect();
    assert!(untyped.is_empty(), "every sample has its family's type: {untyped:?}");
    assert_eq!(scrape.docs["countersign_rpc_calls_total"], "JSON-RPC calls by method and outcome.");
}

/// The same text through a second, independent parser of the classic format.
fn check_classic_with_openmetrics_parser(text: &str) {
    let exposition = openmetrics_parser::prometheus::parse_prometheus(text).unwrap();
    let calls = family(&exposition, "countersign_rpc_calls_total");
    assert_eq!(calls.family_type, PrometheusType::Counter);
    match &sample(calls, &[("method", "test_echo"), ("outcome", "ok")]).value {
        PrometheusValue::Counter(counter) => assert_eq!(counter.value.as_f64(), 3.0),
        other => panic!("{other:?}"),
    }
    let latency = family(&exposition, "countersign_rpc_call_duration_seconds");
    assert_eq!(latency.family_type, PrometheusType::Histogram);
    match &sample(latency, &[("method", "test_echo")]).value {
        PrometheusValue::Histogram(histogram) => assert_eq!(histogram.count, Some(4)),
        other => panic!("{other:?}"),
    }
    let build = family(&exposition, "countersign_build_info");
    assert_eq!(build.family_type, PrometheusType::Gauge);
    match &sample(build, &[("version", env!("CARGO_PKG_VERSION"))]).value {
        PrometheusValue::Gauge(one) => assert_eq!(one.as_f64(), 1.0),
        other => panic!("{other:?}"),
    }
    for (name, kind) in [
        ("process_cpu_seconds_total", PrometheusType::Counter),
        ("process_resident_memory_bytes", PrometheusType::Gauge),
        ("process_virtual_memory_bytes", PrometheusType::Gauge),
        ("process_open_fds", PrometheusType::Gauge),
        ("process_max_fds", PrometheusType::Gauge),
        ("process_threads", PrometheusType::Gauge),
        ("process_start_time_seconds", PrometheusType::Gauge),
        ("countersign_websockets_open", PrometheusType::Gauge),
        ("countersign_notifications_sent_total", PrometheusType::Counter),
        ("countersign_connections_refused_total", PrometheusType::Counter),
    ] {
        assert_eq!(family(&exposition, name).family_type, kind, "{name}");
    }
}

async fn openmetrics_when_preferred(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let _ws = traffic(&server).await;
    for accept in ["application/openmetrics-text; version=1.0.0", PROMETHEUS_ACCEPT] {
        let (content_type, text) = scrape(&server, Some(accept)).await;
        assert_eq!(content_type, OPENMETRICS, "{accept}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        let exposition = openmetrics_parser::openmetrics::parse_openmetrics(&text).unwrap();
        let calls = family(&exposition, "countersign_rpc_calls");
        assert_eq!(calls.family_type, OpenMetricsType::Counter);
        match &sample(calls, &[("method", "test_echo"), ("outcome", "invalid_params")]).value {
            OpenMetricsValue::Counter(counter) => assert_eq!(counter.value.as_f64(), 1.0),
            other => panic!("{other:?}"),
        }
        let latency = family(&exposition, "countersign_rpc_call_duration_seconds");
        assert_eq!(latency.family_type, OpenMetricsType::Histogram);
        match &sample(latency, &[("method", "test_echo")]).value {
            OpenMetricsValue::Histogram(histogram) => assert_eq!(histogram.count, Some(4)),
            other => panic!("{other:?}"),
        }
        let build = family(&exposition, "countersign_build");
        assert_eq!(build.family_type, OpenMetricsType::Info);
        sample(build, &[("version", env!("CARGO_PKG_VERSION"))]);
        let cpu = family(&exposition, "process_cpu_seconds");
        assert_eq!((cpu.family_type, cpu.unit.as_str()), (OpenMetricsType::Counter, "seconds"));
        let started = family(&exposition, "process_start_time_seconds");
        assert_eq!((started.family_type, started.unit.as_str()), (OpenMetricsType::Gauge, "seconds"));
        match &sample(started, &[]).value {
            OpenMetricsValue::Gauge(at) => assert!(plausible_start(at.as_f64()), "{at:?}"),
            other => panic!("{other:?}"),
        }
        let memory = family(&exposition, "process_resident_memory_bytes");
        assert_eq!((memory.family_type, memory.unit.as_str()), (OpenMetricsType::Gauge, "bytes"));
        match &sample(family(&exposition, "countersign_websockets_open"), &[]).value {
            OpenMetricsValue::Gauge(open) => assert_eq!(open.as_f64(), 1.0),
            other => panic!("{other:?}"),
        }
    }
}

/// This process started within the last day, and not in the future.
fn plausible_start(at: f64) -> bool {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    at <= now && at > now - 86_400.0
}
