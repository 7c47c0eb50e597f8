//! How much CPU other processes took while a run was measured. On a shared machine a
//! compile next door halves the numbers; this makes such runs visible in the report.
//!
//! Other processes' CPU = the machine's busy time (`/proc/stat`: user, nice, system, irq,
//! softirq, and steal, i.e. time the hypervisor gave elsewhere) minus this process's user
//! and system time (`/proc/self/stat`), over the same interval. Interrupt time counts as
//! busy because tick-based accounting also charges it to the process it interrupted.
//! Softirq time spent on an otherwise idle CPU counts as others', so expect a few
//! hundredths of a core on a quiet machine.

use std::time::Instant;

/// CPU counters at one instant (Linux only; elsewhere the figures are unknown).
pub struct CpuMark {
    machine_ticks: u64,
    own_ticks: u64,
    at: Instant,
}

impl CpuMark {
    pub fn now() -> Option<CpuMark> {
        Some(CpuMark { machine_ticks: machine_ticks()?, own_ticks: own_ticks()?, at: Instant::now() })
    }

    /// Cores' worth of CPU other processes used since this mark.
    pub fn others_since(&self) -> Option<f64> {
        let later = CpuMark::now()?;
        let others = later.machine_ticks.checked_sub(self.machine_ticks)? as f64
            - later.own_ticks.checked_sub(self.own_ticks)? as f64;
        let seconds = later.at.duration_since(self.at).as_secs_f64();
        Some((others / ticks_per_second()? / seconds).max(0.0))
    }
}

/// user + nice + system + irq + softirq + steal of the `cpu` line of `/proc/stat`.
fn machine_ticks() -> Option<u64> {
    const BUSY: [usize; 6] = [0, 1, 2, 5, 6, 7];
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<&str> = stat.lines().next()?.split_whitespace().skip(1).collect();
    BUSY.iter().map(|&i| fields.get(i)?.parse::<u64>().ok()).sum()
}

/// utime + stime of `/proc/self/stat` (fields 14 and 15; the name before them may hold spaces).
fn own_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn ticks_per_second() -> Option<f64> {
    // SAFETY: sysconf only reads a constant of the system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then_some(ticks as f64)
}
