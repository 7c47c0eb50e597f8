//! The classic Prometheus text format (0.0.4), rewritten from the OpenMetrics text the
//! `prometheus-client` crate encodes, which has no encoder for it.
//!
//! The two formats share their sample lines; they differ in how a family is named and
//! typed. In OpenMetrics a counter family `x` has the sample `x_total`, and an info family
//! `x` the sample `x_info`; a classic parser matches a family to its samples by name, so
//! read as is, every counter's samples land in a family of their own with no type (the
//! bug this fixes). Here a family is named after its samples — `x_total`, `x_info` — and
//! typed as the classic format can say (`info` is a `gauge`, `unknown` is `untyped`).
//! What the classic format has no word for is dropped: `# UNIT`, `# EOF`, `_created`
//! samples and exemplars.

use std::collections::HashMap;

/// `openmetrics` (as `prometheus_client::encoding::text::encode` writes it) in the classic
/// text format.
pub fn from_openmetrics(openmetrics: &str) -> String {
    let types: HashMap<&str, &str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    let mut family = ("", "unknown");
    for line in openmetrics.lines() {
        let rewritten = if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let kind = types.get(name).copied().unwrap_or("unknown");
            Some(format!("# HELP {} {help}", classic_name(name, kind)))
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            family = (name, kind);
            Some(format!("# TYPE {} {}", classic_name(name, kind), classic_type(kind)))
        } else if line.starts_with('#') || line.is_empty() || is_created(line, family) {
            None // `# UNIT`, `# EOF`, and `_created` samples
        } else {
            Some(without_exemplar(line).to_owned())
        };
        if let Some(rewritten) = rewritten {
            out.push_str(&rewritten);
            out.push('\n');
        }
    }
    out
}

/// The classic name of an OpenMetrics family: the name its samples carry.
fn classic_name(name: &str, kind: &str) -> String {
    match kind {
        "counter" => format!("{name}_total"),
        "info" => format!("{name}_info"),
        _ => name.to_owned(),
    }
}

/// The classic type of an OpenMetrics type.
fn classic_type(kind: &str) -> &'static str {
    match kind {
        "counter" => "counter",
        "gauge" | "info" | "stateset" => "gauge",
        "histogram" => "histogram",
        "summary" => "summary",
        _ => "untyped",
    }
}

/// Whether `line` is the `_created` sample of a counter, histogram or summary `family`.
fn is_created(line: &str, (name, kind): (&str, &str)) -> bool {
    let sample = line.split(['{', ' ']).next().unwrap_or("");
    matches!(kind, "counter" | "histogram" | "summary") && sample.strip_prefix(name) == Some("_created")
}

/// A sample line without its exemplar (` # {labels} value` after the value).
fn without_exemplar(line: &str) -> &str {
    let after_labels = labels_end(line);
    match line[after_labels..].find(" # ") {
        Some(at) => &line[..after_labels + at],
        None => line,
    }
}

/// Where a sample's label set ends (just past its `}`), or where its name ends.
fn labels_end(line: &str) -> usize {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    if !line[name_end..].starts_with('{') {
        return name_end;
    }
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in line.char_indices().skip_while(|(i, _)| *i <= name_end) {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return i + 1,
            _ => {}
        }
    }
    line.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_named_after_their_samples() {
        let openmetrics = "\
# HELP process_cpu_seconds Total CPU time.
# TYPE process_cpu_seconds counter
# UNIT process_cpu_seconds seconds
process_cpu_seconds_total 1.5
process_cpu_seconds_created 1700000000.0
# HELP x_build The build.
# TYPE x_build info
x_build_info{version=\"1.0\"} 1
# HELP x_calls Calls.
# TYPE x_calls counter
x_calls_total{method=\"a # }\",outcome=\"ok\"} 3 # {trace_id=\"abc\"} 1.0
# HELP x_open Open.
# TYPE x_open gauge
x_open 2
# EOF
";
        let classic = "\
# HELP process_cpu_seconds_total Total CPU time.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.5
# HELP x_build_info The build.
# TYPE x_build_info gauge
x_build_info{version=\"1.0\"} 1
# HELP x_calls_total Calls.
# TYPE x_calls_total counter
x_calls_total{method=\"a # }\",outcome=\"ok\"} 3
# HELP x_open Open.
# TYPE x_open gauge
x_open 2
";
        assert_eq!(from_openmetrics(openmetrics), classic);
    }
}
