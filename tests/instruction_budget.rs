//! # Instruction budget: a regression guard on the pipeline's cost without timing noise
//!
//! Timings on a shared two-core machine vary by tens of percent from run to run; the number
//! of instructions a fixed piece of work executes hardly varies at all. So this test counts
//! instructions, with valgrind's callgrind, and compares them to a budget checked into the
//! repository ([`BUDGET_FILE`]): it fails when the count exceeds the budget by more than
//! [`TOLERANCE`], and says so (without failing) when the count falls that far below it, so
//! that the budget can be lowered and keep guarding the gain.
//!
//! **What is counted.** [`fixed_call_sequence`] starts a real server (the harness of
//! `tests/common`, on a SQLite file) and, after setting up its accounts and warming up, makes
//! a fixed sequence of calls through the whole pipeline ([`Sequence`]): `whoami` over GET
//! with a bearer token for an account holding four scoped permits, `permission_check`
//! (ten questions) over POST with that token, offers made and declined over POST (writes,
//! each with its audit row and notification) and `whoami` on an open WebSocket. Only that
//! sequence is counted, on every thread (the server's, the clients', SQLite's workers):
//! callgrind runs with instrumentation off and the sequence switches it on and off with
//! callgrind's client requests (`tests/callgrind/`), which act on the whole process.
//!
//! **How.** [`instruction_count_within_budget`] re-runs this test executable under
//! `valgrind --tool=callgrind` with [`SEQUENCE_ENV`] set, which makes
//! [`fixed_call_sequence`] (a no-op otherwise) do the work; then it reads the total from
//! callgrind's output file. The count is of this build, the debug/test profile `cargo test`
//! uses (other profiles skip: the budget would not apply).
//!
//! **Switches.** `COUNTERSIGN_UPDATE_BUDGET=1` rewrites the budget file with the count just
//! measured (a deliberate update: commit it with the change that explains it). Without
//! valgrind, or off x86-64 Linux, the test skips loudly, unless
//! `COUNTERSIGN_REQUIRE_VALGRIND=1` (CI) makes that a failure.

mod callgrind;
mod common;

use std::process::Command;

use common::identity::Client;
use common::{Backend, TestServer, WsClient, start};
use serde_json::{Value, json};

/// The budget: the instruction count measured, and with what.
const BUDGET_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/instruction_budget.toml");
/// How far above the budget a count may go before the test fails (and below, before it
/// suggests lowering the budget).
const TOLERANCE: f64 = 0.15;
/// Set (to anything) for [`fixed_call_sequence`] to run the sequence.
const SEQUENCE_ENV: &str = "COUNTERSIGN_INSTRUCTION_SEQUENCE";
/// The line [`fixed_call_sequence`] prints when the sequence ran: this, then the call count.
const DONE_MARKER: &str = "instruction budget: sequence done, calls=";

/// The fixed sequence: how many calls of each kind, in this order.
#[derive(Debug, Clone, Copy)]
struct Sequence {
    /// `GET /rpc/whoami` with a bearer token.
    get_whoami: usize,
    /// `POST /rpc` `permission_check`, ten questions, with a bearer token.
    permission_checks: usize,
    /// `permit_offer_create` then `permit_offer_decline`, each over POST: two calls.
    offer_rounds: usize,
    /// `whoami` on an open WebSocket signed in with a bearer token.
    ws_whoami: usize,
}

impl Sequence {
    /// What is counted (about 300 calls).
    const MEASURED: Sequence = Sequence { get_whoami: 100, permission_checks: 50, offer_rounds: 25, ws_whoami: 100 };
    /// Run first, uncounted: lazy statics, prepared statements, connections and buffers
    /// are in place before counting starts.
    const WARM_UP: Sequence = Sequence { get_whoami: 10, permission_checks: 10, offer_rounds: 5, ws_whoami: 10 };

    /// Its parts, each counted on its own: a name and how many calls.
    fn parts(self) -> [(&'static str, usize); 4] {
        [
            ("get_whoami", self.get_whoami),
            ("permission_check", self.permission_checks),
            ("offer_create_decline", 2 * self.offer_rounds),
            ("ws_whoami", self.ws_whoami),
        ]
    }

    fn calls(self) -> usize {
        self.parts().iter().map(|(_, calls)| calls).sum()
    }
}

// ---------------------------------------------------------------------------------------
// The outer test: run the sequence under callgrind, compare with the budget.

#[test]
fn instruction_count_within_budget() {
    let Some(valgrind) = valgrind_or_skip() else { return };
    let started = std::time::Instant::now();
    let parts = measure();
    let seconds = started.elapsed().as_secs_f64();
    let count: u64 = parts.iter().sum();
    let calls = Sequence::MEASURED.calls();
    println!("instruction budget: {count} instructions for {calls} calls ({seconds:.0} s under callgrind)");
    let per_call = per_call(&parts);
    for (name, instructions) in &per_call {
        println!("instruction budget:   {name}: {instructions} instructions per call");
    }
    if std::env::var_os("COUNTERSIGN_UPDATE_BUDGET").is_some_and(|v| v == "1") {
        let budget = Budget::measured_now(count, calls, valgrind);
        std::fs::write(BUDGET_FILE, budget.to_toml(&per_call)).expect("the budget file is writable");
        println!("instruction budget: wrote {BUDGET_FILE}; commit it with the change that explains it");
        return;
    }
    let budget = Budget::read();
    assert_eq!(
        budget.calls, calls,
        "the sequence changed ({} calls budgeted, {calls} made): regenerate the budget with \
         COUNTERSIGN_UPDATE_BUDGET=1 cargo test --test instruction_budget",
        budget.calls
    );
    let verdict = judge(count, budget.instructions);
    println!("instruction budget: budget {} ({}), measured {count}: {verdict}", budget.instructions, budget.origin());
    if let Verdict::Over(ratio) = verdict {
        panic!(
            "the call sequence executed {count} instructions, {:+.1} % against the budget of {} \
             (fails above {:+.0} %). If the extra cost is deliberate, regenerate the budget with \
             COUNTERSIGN_UPDATE_BUDGET=1 cargo test --test instruction_budget and commit it",
            (ratio - 1.0) * 100.0,
            budget.instructions,
            TOLERANCE * 100.0
        );
    }
}

/// Where a count stands against its budget, as count / budget.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    Within(f64),
    Under(f64),
    Over(f64),
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Verdict::Within(r) => write!(f, "{:+.1} %, within ±{:.0} %", (r - 1.0) * 100.0, TOLERANCE * 100.0),
            Verdict::Under(r) => write!(
                f,
                "{:+.1} %, well under budget: lower it (COUNTERSIGN_UPDATE_BUDGET=1 cargo test --test \
                 instruction_budget) so that the gain stays guarded",
                (r - 1.0) * 100.0
            ),
            Verdict::Over(r) => write!(f, "{:+.1} %, OVER budget", (r - 1.0) * 100.0),
        }
    }
}

fn judge(count: u64, budget: u64) -> Verdict {
    let ratio = count as f64 / budget as f64;
    if ratio > 1.0 + TOLERANCE {
        Verdict::Over(ratio)
    } else if ratio < 1.0 - TOLERANCE {
        Verdict::Under(ratio)
    } else {
        Verdict::Within(ratio)
    }
}

#[test]
fn the_verdict_turns_at_the_tolerance() {
    assert_eq!(judge(100, 100), Verdict::Within(1.0));
    assert!(matches!(judge(115, 100), Verdict::Within(_)));
    assert!(matches!(judge(116, 100), Verdict::Over(_)));
    assert!(matches!(judge(86, 100), Verdict::Within(_)));
    assert!(matches!(judge(84, 100), Verdict::Under(_)));
}

/// valgrind's version when this test can run here; `None` (after saying why) when it must
/// skip; a panic when it must not skip.
fn valgrind_or_skip() -> Option<String> {
    let skip = |why: &str| {
        if std::env::var_os("COUNTERSIGN_REQUIRE_VALGRIND").is_some_and(|v| v == "1") {
            panic!("COUNTERSIGN_REQUIRE_VALGRIND=1 but the instruction budget cannot be checked: {why}");
        }
        eprintln!("================================================================");
        eprintln!("SKIPPING the instruction budget: {why}");
        eprintln!("================================================================");
        None
    };
    if !cfg!(debug_assertions) {
        return skip("the budget is for the debug/test profile, and this build is optimised");
    }
    if !callgrind::SUPPORTED {
        return skip("callgrind's client requests are only wired up for x86-64 Linux");
    }
    callgrind::valgrind_version().or_else(|| skip("valgrind is not installed (apt-get install valgrind)"))
}

/// Runs [`fixed_call_sequence`] under callgrind; returns the instructions counted in each
/// part of [`Sequence::MEASURED`], and last those between its last part and the end.
fn measure() -> Vec<u64> {
    let exe = std::env::current_exe().unwrap();
    let args = ["fixed_call_sequence", "--exact", "--nocapture", "--test-threads=1"];
    let run = callgrind::run(&exe, &args, (SEQUENCE_ENV, "1"));
    let status = run.output.status;
    assert!(status.success(), "the sequence failed under callgrind ({status}):\n{}", run.report());
    let expected = format!("{DONE_MARKER}{}", Sequence::MEASURED.calls());
    let stdout = String::from_utf8_lossy(&run.output.stdout);
    assert!(
        stdout.lines().any(|l| l.ends_with(&expected)),
        "the sequence did not report `{expected}`:\n{}",
        run.report()
    );
    let parts = Sequence::MEASURED.parts().len() + 1;
    assert_eq!(run.parts.len(), parts, "callgrind wrote {} totals, not {parts}:\n{}", run.parts.len(), run.report());
    run.parts
}

/// Each part's name and instructions per call (the remainder, tiny, is left out).
fn per_call(parts: &[u64]) -> Vec<(&'static str, u64)> {
    let names = Sequence::MEASURED.parts();
    names.iter().zip(parts).map(|((name, calls), count)| (*name, count / *calls as u64)).collect()
}

/// The checked-in budget.
#[derive(Debug, serde::Deserialize)]
struct Budget {
    instructions: u64,
    calls: usize,
    measured_at: String,
    commit: String,
    rustc: String,
    valgrind: String,
}

impl Budget {
    fn read() -> Budget {
        let text = std::fs::read_to_string(BUDGET_FILE).unwrap_or_else(|e| {
            panic!(
                "{BUDGET_FILE}: {e}; create it with COUNTERSIGN_UPDATE_BUDGET=1 cargo test --test instruction_budget"
            )
        });
        toml::from_str(&text).unwrap_or_else(|e| panic!("{BUDGET_FILE}: {e}"))
    }

    fn measured_now(instructions: u64, calls: usize, valgrind: String) -> Budget {
        let first_line = |program: &str, args: &[&str]| {
            Command::new(program)
                .args(args)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output()
                .ok()
                .filter(|out| out.status.success())
                .and_then(|out| String::from_utf8_lossy(&out.stdout).lines().next().map(str::to_owned))
                .unwrap_or_else(|| "unknown".to_owned())
        };
        Budget {
            instructions,
            calls,
            measured_at: chrono::Utc::now().format("%Y-%m-%d").to_string(),
            commit: first_line("git", &["describe", "--always", "--dirty"]),
            rustc: first_line("rustc", &["--version"]),
            valgrind,
        }
    }

    fn origin(&self) -> String {
        format!("measured {} at {} with {}, {}", self.measured_at, self.commit, self.rustc, self.valgrind)
    }

    /// The budget as its file, with each part's cost per call (for reading only: a diff
    /// of the file shows which calls changed).
    fn to_toml(&self, per_call: &[(&str, u64)]) -> String {
        let quoted = |s: &str| toml::Value::String(s.to_owned()).to_string();
        format!(
            "# The instruction budget of tests/instruction_budget.rs: callgrind's count of the instructions\n\
             # its fixed call sequence executes (every thread, debug/test profile). The test fails above\n\
             # {:.0} % over `instructions`. Regenerate it deliberately, and commit it with the change:\n\
             #   COUNTERSIGN_UPDATE_BUDGET=1 cargo test --test instruction_budget\n\
             instructions = {}\ncalls = {}\nmeasured_at = {}\ncommit = {}\nrustc = {}\nvalgrind = {}\n\n\
             # Instructions per call of each part (not checked).\n[per_call]\n{}",
            TOLERANCE * 100.0,
            self.instructions,
            self.calls,
            quoted(&self.measured_at),
            quoted(&self.commit),
            quoted(&self.rustc),
            quoted(&self.valgrind),
            per_call.iter().map(|(name, count)| format!("{name} = {count}\n")).collect::<String>(),
        )
    }
}

// ---------------------------------------------------------------------------------------
// The inner test: the sequence itself, run in-process under callgrind.

/// The work that is counted; does nothing unless [`SEQUENCE_ENV`] is set (by
/// [`instruction_count_within_budget`], or by hand to run it natively).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_call_sequence() {
    if std::env::var_os(SEQUENCE_ENV).is_none() {
        return;
    }
    production_logging();
    let Some(server) = start(Backend::Sqlite).await else { unreachable!("SQLite is always available") };
    let mut world = World::new(server).await;
    world.run(Sequence::WARM_UP, false).await;
    callgrind::start_instrumentation();
    world.run(Sequence::MEASURED, true).await;
    callgrind::stop_instrumentation();
    println!("{DONE_MARKER}{}", Sequence::MEASURED.calls());
    drop(world.socket);
    world.server.shutdown().await;
}

/// Logs as a server does by default (`info`, one line per call), into a sink, instead of
/// the harness's capture of everything at `trace`: what is counted is the server's cost.
fn production_logging() {
    let filter = tracing_subscriber::EnvFilter::new(countersign::logging::DEFAULT_FILTER);
    tracing_subscriber::fmt()
        .with_env_filter(countersign::logging::secret_safe(filter))
        .with_writer(std::io::sink)
        .try_init()
        .expect("the first subscriber of this process");
}

/// A server, the signed-in callers of the sequence and its open WebSocket.
struct World {
    server: TestServer,
    /// A bearer token for an account holding four permits at different scopes.
    reader: Client,
    /// The admin, with a bearer token: makes the offers.
    admin: Client,
    /// The recipient of the offers, with a bearer token: declines them.
    bob: Client,
    bob_id: String,
    socket: WsClient,
    next_ws_id: u64,
}

/// The reader's permits: `permission_check` weighs each question against all of them.
const READER_PERMITS: [(&str, Option<&str>); 4] = [
    ("member", None),
    ("approver", Some("org:acme")),
    ("manager", Some("org:acme/store:berlin")),
    ("principal", Some("org:acme/unit:CF1234")),
];

impl World {
    async fn new(server: TestServer) -> World {
        let admin = server.admin().await;
        let reader = server.account(&admin, "reader").await;
        let bob = server.account(&admin, "bob").await;
        let reader_id = reader.account_id.clone().unwrap();
        for (role, scope) in READER_PERMITS {
            server.grant_directly(&reader_id, role, scope).await;
        }
        let reader = bearer(&reader).await;
        let socket = reader.ws().await.expect("the reader's WebSocket opens");
        let bob_id = bob.account_id.clone().unwrap();
        World { admin: bearer(&admin).await, bob: bearer(&bob).await, reader, bob_id, socket, next_ws_id: 1, server }
    }

    /// Makes the calls of `sequence`, checking every answer; with `parts`, ends a callgrind
    /// part after each kind of call (see [`Sequence::parts`]).
    async fn run(&mut self, sequence: Sequence, parts: bool) {
        let end_part = || {
            if parts {
                callgrind::dump_stats();
            }
        };
        for _ in 0..sequence.get_whoami {
            let (status, _, body) = self.reader.get("/rpc/whoami?params=%7B%7D").await;
            assert_eq!((status, &body["result"]["account"]["username"]), (200, &json!("reader")), "{body}");
        }
        end_part();
        let questions = json!({"checks": questions()});
        for _ in 0..sequence.permission_checks {
            let answers = self.reader.ok("permission_check", questions.clone()).await;
            assert_eq!(answers["results"].as_array().map(Vec::len), Some(10), "{answers}");
        }
        end_part();
        for _ in 0..sequence.offer_rounds {
            let offer = json!({"to_account_id": self.bob_id, "role": "member", "scope_id": "org:acme"});
            let made = self.admin.ok("permit_offer_create", offer).await;
            let decline = json!({"offer_id": made["offer"]["id"], "reason": "not now"});
            let declined = self.bob.ok("permit_offer_decline", decline).await;
            assert_eq!(declined["offer"]["status"], "declined", "{declined}");
        }
        end_part();
        for _ in 0..sequence.ws_whoami {
            self.next_ws_id += 1;
            let answer = self.socket.call(self.next_ws_id, "whoami", json!({})).await;
            assert_eq!(answer["result"]["account"]["username"], "reader", "{answer}");
        }
        end_part();
    }
}

/// `client` with a new API token of its account instead of its session cookie.
async fn bearer(client: &Client) -> Client {
    let created = client.ok("token_create", json!({"name": "instruction budget"})).await;
    client.with_bearer(created["secret"].as_str().expect("token_create returns the secret"))
}

/// Ten questions a UI might ask at once, answered yes and no, global and scoped.
fn questions() -> Value {
    let scopes =
        [None, Some("org:acme"), Some("org:acme/store:berlin"), Some("org:acme/unit:CF1234"), Some("org:other")];
    let asks = [("purchase", "approve"), ("module.status", "edit")];
    let all = asks.iter().flat_map(|(resource, verb)| {
        scopes.iter().map(move |scope| json!({"resource": resource, "verb": verb, "scope_id": scope}))
    });
    Value::Array(all.collect())
}
