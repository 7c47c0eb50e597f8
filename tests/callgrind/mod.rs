//! Counting instructions with valgrind's callgrind, for `tests/instruction_budget.rs`: run
//! a test executable under callgrind with instrumentation off, let the code being measured
//! switch it on and off around the work to count ([`start_instrumentation`],
//! [`stop_instrumentation`]: callgrind's client requests, which act on every thread of the
//! process), and read the total from callgrind's output file.
//!
//! The client requests are the magic instruction sequence of `valgrind/valgrind.h`,
//! written out in `asm!` (no C toolchain, no crate): natively it does nothing, so the
//! measured code runs unchanged outside valgrind.

use std::path::Path;
use std::process::{Command, Output};

/// Whether the client requests do anything on this target (elsewhere they are no-ops and
/// nothing can be measured).
pub const SUPPORTED: bool = cfg!(all(target_arch = "x86_64", target_os = "linux"));

/// `VG_USERREQ_TOOL_BASE('C','T')`: callgrind's first request (`valgrind/callgrind.h`).
const BASE: u64 = (b'C' as u64) << 24 | (b'T' as u64) << 16;
const DUMP_STATS: u64 = BASE;
const START_INSTRUMENTATION: u64 = BASE + 4;
const STOP_INSTRUMENTATION: u64 = BASE + 5;

/// From here on, count (`CALLGRIND_START_INSTRUMENTATION`).
pub fn start_instrumentation() {
    request(START_INSTRUMENTATION);
}

/// From here on, stop counting (`CALLGRIND_STOP_INSTRUMENTATION`).
pub fn stop_instrumentation() {
    request(STOP_INSTRUMENTATION);
}

/// Ends a part: what was counted since the last part goes to a file of its own
/// (`CALLGRIND_DUMP_STATS`), and [`run`] reports it separately.
pub fn dump_stats() {
    request(DUMP_STATS);
}

/// `VALGRIND_DO_CLIENT_REQUEST_STMT(code, 0, 0, 0, 0, 0)` on amd64: `rax` points at the
/// request and its five arguments, the answer comes back in `rdx`; the four rotations of
/// `rdi` add up to 128 bits and leave it as it was.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn request(code: u64) {
    let block: [u64; 6] = [code, 0, 0, 0, 0, 0];
    // SAFETY: natively the sequence changes only the flags (rdi is rotated back to itself,
    // rbx exchanged with itself); under valgrind it only reads `block`.
    unsafe {
        std::arch::asm!(
            "rol rdi, 3", "rol rdi, 13", "rol rdi, 61", "rol rdi, 51", "xchg rbx, rbx",
            in("rax") block.as_ptr(),
            inout("rdx") 0u64 => _,
            options(nostack),
        );
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn request(_code: u64) {}

/// valgrind's version (`valgrind-3.19.0`), or `None` when it is not installed.
pub fn valgrind_version() -> Option<String> {
    let out = Command::new("valgrind").arg("--version").output().ok().filter(|out| out.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// What a run under callgrind gave: the program's output, and the instructions counted
/// in each part, in order: one per [`dump_stats`], then the rest, counted until the
/// program ended (empty when callgrind wrote no totals).
pub struct Measured {
    pub output: Output,
    pub parts: Vec<u64>,
}

impl Measured {
    /// The program's stdout and stderr (valgrind's own messages included), for a failure.
    pub fn report(&self) -> String {
        let (out, err) = (&self.output.stdout, &self.output.stderr);
        format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(out), String::from_utf8_lossy(err))
    }
}

/// Runs `exe args` under callgrind with instrumentation off until the program starts it,
/// with `env` set; waits for it.
pub fn run(exe: &Path, args: &[&str], env: (&str, &str)) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("callgrind.out");
    let mut command = Command::new("valgrind");
    command
        .arg("--tool=callgrind")
        .arg("--instr-atstart=no")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg("--dump-line=no")
        .arg(exe)
        .args(args)
        .env(env.0, env.1);
    refuse_pr_get_auxv(&mut command);
    let output = command.output().expect("valgrind runs");
    // Parts go to `callgrind.out.1`, `.2`, …; the rest at the end to `callgrind.out`.
    let part = |n: usize| dir.path().join(format!("callgrind.out.{n}"));
    let numbered = (1..).map(part).take_while(|path| path.exists());
    let parts = numbered.chain([out_file]).map(|path| std::fs::read_to_string(path).ok().and_then(|text| total(&text)));
    Measured { output, parts: parts.collect::<Option<Vec<u64>>>().unwrap_or_default() }
}

/// The total of a callgrind output file: its `totals:` line (written last; the `summary:`
/// line of the header can be 0 when instrumentation started late).
fn total(text: &str) -> Option<u64> {
    let line = text.lines().rev().find(|l| l.starts_with("totals:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `prctl(PR_GET_AUXV)`, in the child only, answers `EINVAL` (a seccomp filter).
///
/// Why: rustix (under `procfs`, which the server's process metrics use) reads the aux
/// vector with `PR_GET_AUXV`, and valgrind 3.19 passes that call through to the kernel,
/// which answers with valgrind's own aux vector, whose vDSO the program cannot see: it
/// crashes reading it (rustix issue 1559). Refused, rustix falls back to
/// `/proc/self/auxv`, which valgrind answers with the program's own aux vector.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn refuse_pr_get_auxv(command: &mut Command) {
    use libc::{sock_filter, sock_fprog};
    use std::os::unix::process::CommandExt as _;
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    const SYS_PRCTL: u32 = 157;
    const PR_GET_AUXV: u32 = 0x4155_5856;
    let op = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    // struct seccomp_data: nr at 0, arch at 4, args[0] (low half, little-endian) at 16.
    let filter = [
        op(LD_W_ABS, 0, 0, 4),
        op(JEQ_K, 0, 5, AUDIT_ARCH_X86_64), // another ABI: allow
        op(LD_W_ABS, 0, 0, 0),
        op(JEQ_K, 0, 3, SYS_PRCTL), // another call: allow
        op(LD_W_ABS, 0, 0, 16),
        op(JEQ_K, 0, 1, PR_GET_AUXV),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::EINVAL as u32),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ];
    // SAFETY: between fork and exec the closure makes two system calls and allocates
    // nothing; `filter`, moved into it, outlives both.
    unsafe {
        command.pre_exec(move || {
            let program = sock_fprog { len: filter.len() as u16, filter: filter.as_ptr().cast_mut() };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &program as *const sock_fprog) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn refuse_pr_get_auxv(_command: &mut Command) {}
