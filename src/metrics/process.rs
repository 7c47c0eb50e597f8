//! The standard process metrics, by the names every Prometheus client library gives them
//! (prometheus.io, "Writing client libraries: process metrics"), read from `/proc/self`
//! (the `procfs` crate) at each scrape: `process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`,
//! `process_max_fds`, `process_threads` and `process_start_time_seconds`.
//!
//! On Linux only: elsewhere none are exposed. A figure `/proc` does not give (a sandbox
//! that hides it) is left out of that scrape rather than failing it.

use prometheus_client::registry::Registry;

/// Registers the process collector on `registry` (unprefixed: the names are standard).
pub fn register(registry: &mut Registry) {
    #[cfg(target_os = "linux")]
    registry.register_collector(Box::new(linux::ProcessCollector::new()));
    #[cfg(not(target_os = "linux"))]
    let _ = registry;
}

#[cfg(target_os = "linux")]
mod linux {
    use procfs::process::{LimitValue, Process};
    use prometheus_client::collector::Collector;
    use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
    use prometheus_client::metrics::counter::ConstCounter;
    use prometheus_client::metrics::gauge::ConstGauge;
    use prometheus_client::registry::Unit;

    #[derive(Debug)]
    pub struct ProcessCollector {
        /// When the process started, in seconds since the epoch (it does not change).
        start_time: Option<f64>,
    }

    impl ProcessCollector {
        pub fn new() -> ProcessCollector {
            let started = Process::myself().and_then(|me| me.stat()).ok();
            let boot = procfs::boot_time_secs().ok();
            let start_time = started
                .zip(boot)
                .map(|(stat, boot)| boot as f64 + stat.starttime as f64 / procfs::ticks_per_second() as f64);
            ProcessCollector { start_time }
        }
    }

    fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, unit: Option<&Unit>, value: f64) -> Fmt {
        let metric = ConstGauge::new(value);
        metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)
    }

    type Fmt = Result<(), std::fmt::Error>;

    impl Collector for ProcessCollector {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Fmt {
            let Ok(me) = Process::myself() else { return Ok(()) };
            if let Ok(stat) = me.stat() {
                let cpu = (stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64;
                let counter = ConstCounter::new(cpu);
                let help = "Total user and system CPU time spent in seconds.";
                counter.encode(encoder.encode_descriptor(
                    "process_cpu",
                    help,
                    Some(&Unit::Seconds),
                    counter.metric_type(),
                )?)?;
                let resident = (stat.rss * procfs::page_size()) as f64;
                let help = "Resident memory size in bytes.";
                gauge(&mut encoder, "process_resident_memory", help, Some(&Unit::Bytes), resident)?;
                let help = "Virtual memory size in bytes.";
                gauge(&mut encoder, "process_virtual_memory", help, Some(&Unit::Bytes), stat.vsize as f64)?;
                gauge(
                    &mut encoder,
                    "process_threads",
                    "Number of OS threads in the process.",
                    None,
                    stat.num_threads as f64,
                )?;
            }
            if let Ok(open) = me.fd_count() {
                gauge(&mut encoder, "process_open_fds", "Number of open file descriptors.", None, open as f64)?;
            }
            if let Ok(LimitValue::Value(max)) = me.limits().map(|limits| limits.max_open_files.soft_limit) {
                gauge(&mut encoder, "process_max_fds", "Maximum number of open file descriptors.", None, max as f64)?;
            }
            if let Some(start) = self.start_time {
                let help = "Start time of the process since unix epoch in seconds.";
                gauge(&mut encoder, "process_start_time", help, Some(&Unit::Seconds), start)?;
            }
            Ok(())
        }
    }
}
