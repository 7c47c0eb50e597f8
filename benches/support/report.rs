//! Summaries of the runs: medians over rounds, ratios of countersign to its baseline from
//! paired runs, Markdown tables, and a line on how much other processes disturbed the runs.

use super::load::Sample;

/// Other processes' CPU (in cores) above which a run is marked as disturbed.
pub const DISTURBED_CORES: f64 = 0.25;

/// What is kept of one run.
#[derive(Debug, Clone, Copy)]
pub struct RunStats {
    pub throughput: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Cores' worth of CPU other processes used during the run, when known.
    pub others_cores: Option<f64>,
}

impl RunStats {
    pub fn new(sample: &Sample, others_cores: Option<f64>) -> RunStats {
        RunStats {
            throughput: sample.throughput(),
            p50_ms: sample.percentile_ms(50.0),
            p99_ms: sample.percentile_ms(99.0),
            others_cores,
        }
    }

    fn disturbed(&self) -> bool {
        self.others_cores.is_some_and(|cores| cores >= DISTURBED_CORES)
    }
}

/// One case: countersign's runs and the baseline's, paired by round (same index).
pub struct CaseResult {
    pub name: &'static str,
    pub ours: Vec<RunStats>,
    pub baseline: Vec<RunStats>,
}

/// How the tables name the baseline and what it counts: `echo` in `calls/s`, `bare` in `tx/s`.
#[derive(Debug, Clone, Copy)]
pub struct Baseline {
    pub name: &'static str,
    pub unit: &'static str,
}

impl CaseResult {
    fn median_of(runs: &[RunStats], field: impl Fn(&RunStats) -> f64) -> f64 {
        median(runs.iter().map(field).collect())
    }

    /// The median over rounds of `ours / baseline` for `field`.
    fn median_ratio(&self, field: impl Fn(&RunStats) -> f64) -> f64 {
        median(self.ours.iter().zip(&self.baseline).map(|(o, b)| field(o) / field(b)).collect())
    }

    /// The median over rounds of ours / baseline throughput.
    pub fn throughput_ratio(&self) -> f64 {
        self.median_ratio(|r| r.throughput)
    }
}

/// The median (mean of the middle two for an even count); NaN when empty.
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 }
}

/// How the tables name countersign's side by default: `ours`, in `calls/s`.
pub const OURS: Baseline = Baseline { name: "ours", unit: "calls/s" };

/// The summary table: medians over rounds, and ratios from the same rounds' pairs.
pub fn summary_table(cases: &[CaseResult], baseline: Baseline) -> String {
    summary_table_of(cases, OURS, baseline)
}

/// [`summary_table`] with the measured side named too (`preloaded` in `pairs/s`, say).
pub fn summary_table_of(cases: &[CaseResult], ours: Baseline, baseline: Baseline) -> String {
    let Baseline { name: b, unit } = baseline;
    let Baseline { name: o, unit: o_unit } = ours;
    let mut out = format!(
        "| case | {o} {o_unit} | {b} {unit} | throughput {o}/{b} | {o} p50 ms | {b} p50 ms | p50 {o}/{b} \
         | {o} p99 ms | {b} p99 ms |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for case in cases {
        let (ours, base) = (&case.ours, &case.baseline);
        out.push_str(&format!(
            "| {} | {:.0} | {:.0} | {:.2} | {:.3} | {:.3} | {:.2} | {:.3} | {:.3} |\n",
            case.name,
            CaseResult::median_of(ours, |r| r.throughput),
            CaseResult::median_of(base, |r| r.throughput),
            case.median_ratio(|r| r.throughput),
            CaseResult::median_of(ours, |r| r.p50_ms),
            CaseResult::median_of(base, |r| r.p50_ms),
            case.median_ratio(|r| r.p50_ms),
            CaseResult::median_of(ours, |r| r.p99_ms),
            CaseResult::median_of(base, |r| r.p99_ms),
        ));
    }
    out
}

/// Every run's throughput, to show the spread behind the medians; `*` marks a pair in
/// which other processes used at least [`DISTURBED_CORES`].
pub fn runs_table(cases: &[CaseResult], baseline: Baseline) -> String {
    runs_table_of(cases, OURS, baseline)
}

/// [`runs_table`] with the measured side named too.
pub fn runs_table_of(cases: &[CaseResult], ours: Baseline, baseline: Baseline) -> String {
    let rounds = cases.iter().map(|c| c.ours.len()).max().unwrap_or(0);
    let mut out = String::from("| case |");
    for round in 1..=rounds {
        out.push_str(&format!(" round {round}: {} {} / {} {} |", ours.name, ours.unit, baseline.name, baseline.unit));
    }
    out.push_str(&format!("\n|---|{}\n", "--:|".repeat(rounds)));
    for case in cases {
        out.push_str(&format!("| {} |", case.name));
        for (ours, base) in case.ours.iter().zip(&case.baseline) {
            let mark = if ours.disturbed() || base.disturbed() { " *" } else { "" };
            out.push_str(&format!(" {:.0} / {:.0}{mark} |", ours.throughput, base.throughput));
        }
        out.push('\n');
    }
    out
}

/// A sentence on how much other processes disturbed the runs.
pub fn disturbance(cases: &[CaseResult]) -> String {
    let runs = cases.iter().flat_map(|c| c.ours.iter().chain(&c.baseline));
    let Some(max) = runs.filter_map(|r| r.others_cores).reduce(f64::max) else {
        return "Other processes' CPU during the runs: unknown (no /proc).".to_owned();
    };
    let verdict = if max >= DISTURBED_CORES {
        "runs marked * were disturbed; their numbers are not reliable"
    } else {
        "no run was disturbed"
    };
    format!("Other processes' CPU during a run: at most {max:.2} cores ({verdict}; threshold {DISTURBED_CORES} cores).")
}
