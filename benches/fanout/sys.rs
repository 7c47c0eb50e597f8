//! What the benchmark asks of the operating system: the open-file limit, the resident
//! memory of this process, and a line describing the machine.

use std::time::Duration;

use anyhow::Context as _;

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit; returns the new soft
/// limit. (Raising the hard limit itself needs `CAP_SYS_RESOURCE`; the benchmark does not
/// try.)
pub fn raise_fd_limit() -> anyhow::Result<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error()).context("getrlimit(RLIMIT_NOFILE)");
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: setrlimit only reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("setrlimit(RLIMIT_NOFILE) to the hard limit {}", limit.rlim_max));
        }
        limit = raised;
    }
    Ok(limit.rlim_cur)
}

/// This process's resident set size (`VmRSS` of `/proc/self/status`), in bytes.
pub fn rss_bytes() -> anyhow::Result<i64> {
    let status = std::fs::read_to_string("/proc/self/status").context("cannot read /proc/self/status")?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|n| n.trim().parse::<i64>().ok())
        .context("no VmRSS line in /proc/self/status")?;
    Ok(kib * 1024)
}

/// Returns freed heap memory to the kernel (glibc keeps it otherwise), so that RSS counts
/// what is live, not what an earlier phase allocated and freed.
pub fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// RSS after `settle` (background tasks finish what they were doing) and a heap trim.
pub async fn settled_rss(settle: Duration) -> anyhow::Result<i64> {
    tokio::time::sleep(settle).await;
    trim_heap();
    rss_bytes()
}
