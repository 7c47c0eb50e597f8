//! How much CPU other processes took while a run was measured. On a shared machine a
//! compile next door halves the numbers; this makes such runs visible in the report.
//!
//! Other processes' CPU = the machine's busy time (`/proc/stat`: user, nice, system, irq,
//! softirq, and steal, i.e. time the hypervisor gave elsewhere) minus the user and system
//! time of this process and of its children (a server process, a `wrk`), over the same
//! interval. Interrupt time counts as
//! busy because tick-based accounting also charges it to the process it interrupted.
//! Softirq time spent on an otherwise idle CPU counts as others', so expect a few
//! hundredths of a core on a quiet machine.
//!
//! A local database server the benchmark drives (PostgreSQL) is part of the work measured,
//! not a disturbance: [`CpuMark::with_server`] counts the server's main process and all its
//! children as the benchmark's own. Children that exit in between still count, through
//! their parent's `cutime` and `cstime` (CPU of children it has waited for).

use std::time::Instant;

/// CPU counters at one instant (Linux only; elsewhere the figures are unknown).
pub struct CpuMark {
    machine_ticks: u64,
    own_ticks: u64,
    at: Instant,
    /// The main process of a local server whose process tree counts as ours.
    server: Option<u32>,
}

impl CpuMark {
    /// This process's CPU counts as ours; every other process's as a disturbance.
    pub fn now() -> Option<CpuMark> {
        CpuMark::with_server(None)
    }

    /// Like [`CpuMark::now`], and the CPU of `server` (a local server's main process) and
    /// of its children counts as ours too.
    pub fn with_server(server: Option<u32>) -> Option<CpuMark> {
        let server_ticks = match server {
            Some(pid) => tree_ticks(pid)?,
            None => 0,
        };
        let own_ticks = own_ticks()? + server_ticks;
        Some(CpuMark { machine_ticks: machine_ticks()?, own_ticks, at: Instant::now(), server })
    }

    /// Cores' worth of CPU other processes used since this mark.
    pub fn others_since(&self) -> Option<f64> {
        let later = CpuMark::with_server(self.server)?;
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

/// CPU of this process and of its children (a server process, `wrk`): the benchmark's own.
fn own_ticks() -> Option<u64> {
    tree_ticks(std::process::id())
}

/// CPU seconds this process has used (user and system), its children's not included.
pub fn own_cpu_seconds() -> Option<f64> {
    let stat = Stat::read("self")?;
    Some((stat.utime + stat.stime) as f64 / ticks_per_second()?)
}

/// CPU seconds of this process's children that ended and were waited for.
pub fn ended_children_cpu_seconds() -> Option<f64> {
    let stat = Stat::read("self")?;
    Some((stat.cutime + stat.cstime) as f64 / ticks_per_second()?)
}

/// CPU of `pid` and of its children, live or exited (those it has waited for).
fn tree_ticks(pid: u32) -> Option<u64> {
    let main = Stat::read(&pid.to_string())?;
    let mut ticks = main.utime + main.stime + main.cutime + main.cstime;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else { continue };
        // A child may exit between listing and reading: its ticks then move to `cutime`.
        if let Some(child) = Stat::read(name).filter(|s| s.ppid == pid) {
            ticks += child.utime + child.stime;
        }
    }
    Some(ticks)
}

/// The parent of process `pid`, and its command name (`/proc/<pid>/stat`).
pub fn parent_of(pid: u32) -> Option<(u32, String)> {
    let stat = Stat::read(&pid.to_string())?;
    let parent = Stat::read(&stat.ppid.to_string())?;
    Some((stat.ppid, parent.comm))
}

/// The fields of `/proc/<pid>/stat` used here (fields 2, 4 and 14 to 17).
struct Stat {
    comm: String,
    ppid: u32,
    utime: u64,
    stime: u64,
    cutime: u64,
    cstime: u64,
}

impl Stat {
    fn read(pid: &str) -> Option<Stat> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The name is in parentheses and may hold spaces and parentheses itself.
        let comm = stat.get(stat.find('(')? + 1..stat.rfind(')')?)?.to_owned();
        let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
        let field = |i: usize| fields.get(i)?.parse::<u64>().ok();
        Some(Stat {
            comm,
            ppid: u32::try_from(field(1)?).ok()?,
            utime: field(11)?,
            stime: field(12)?,
            cutime: field(13)?,
            cstime: field(14)?,
        })
    }
}

fn ticks_per_second() -> Option<f64> {
    // SAFETY: sysconf only reads a constant of the system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then_some(ticks as f64)
}
