#!/usr/bin/env bash
# Fuzzing countersign with cargo-fuzz (libFuzzer), every target for a fixed number of runs.
#
#   fuzz/run.sh smoke [TARGET...]   20,000 runs per target (CI; well under a minute after the build)
#   fuzz/run.sh long  [TARGET...]   10,000,000 runs per target (the figures in the README; about
#                                   three hours on one core)
#
# Counts, not time limits, are the contract. Each target starts from its checked-in seed corpus
# (fuzz/corpus/TARGET, never written to); what libFuzzer finds goes to fuzz/target/work-corpus/
# (ignored, emptied per run). A crash fails the run, with the input in fuzz/artifacts/TARGET/
# and the log in fuzz/target/logs/. Needs the nightly toolchain; installs cargo-fuzz if missing.
set -euo pipefail
cd "$(dirname "$0")"

ALL_TARGETS=(envelope params scope money config)
TOOLCHAIN=${FUZZ_TOOLCHAIN:-nightly}

usage() {
  echo "usage: fuzz/run.sh smoke|long [TARGET...]   (targets: ${ALL_TARGETS[*]})" >&2
  exit 2
}

case "${1:-}" in
  smoke) runs=20000 ;;
  long) runs=10000000 ;;
  *) usage ;;
esac
mode=$1
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")
for target in "${targets[@]}"; do
  [ -f "fuzz_targets/$target.rs" ] || { echo "fuzz: no target \`$target\`" >&2; usage; }
done

if ! cargo "+$TOOLCHAIN" fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# Smoke: the default cargo-fuzz build of every target at once: release optimizations, debug
# assertions and overflow checks, AddressSanitizer (for the unsafe code in the dependencies).
# Long: the same without AddressSanitizer, two to three times the throughput, in its own target
# directory. The crate itself forbids `unsafe`, so what ten million runs look for is panics,
# failed assertions, overflows and hangs; the smoke, every CI run, keeps the sanitizer.
# The binaries are then run directly, so the whole run tests the code as it was built. The
# target directory is named so that a CARGO_TARGET_DIR set for the server's build does not
# move them.
triple=$(rustc "+$TOOLCHAIN" -vV | sed -n 's/^host: //p')
echo "fuzz: building every target"
if [ "$mode" = long ]; then
  cargo "+$TOOLCHAIN" fuzz build --sanitizer none --target-dir target/plain
  bin_dir="target/plain/$triple/release"
else
  cargo "+$TOOLCHAIN" fuzz build --target-dir target
  bin_dir="target/$triple/release"
fi

# AddressSanitizer as cargo-fuzz builds it, minus its two costliest extras, which cost about 40 %
# of the throughput here: fake stacks for use-after-return (Rust's borrow rules rule that out in
# safe code) and a stack trace recorded at every allocation (a report still shows where the bad
# access happened; re-run a crashing input with `cargo +nightly fuzz run TARGET FILE` for the
# allocation's stack too, and the input's Debug form). Set ASAN_OPTIONS to override.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_stack_use_after_return=0:malloc_context_size=0}

mkdir -p target/logs target/work-corpus
summary=()
failed=()
for target in "${targets[@]}"; do
  work="target/work-corpus/$target"
  log="target/logs/$target-$mode.log"
  rm -rf "$work"
  mkdir -p "$work" "artifacts/$target"
  flags=(-runs="$runs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
  [ -f "dict/$target.dict" ] && flags+=(-dict="dict/$target.dict")
  echo "fuzz: $target: $runs runs (log: fuzz/$log)"
  start=$(date +%s.%N)
  status=0
  "$bin_dir/$target" -artifact_prefix="artifacts/$target/" "${flags[@]}" "$work" "corpus/$target" >"$log" 2>&1 ||
    status=$?
  seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  per_second=$(awk -v n="${executions:-0}" -v s="$seconds" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  if [ "$status" -eq 0 ] && [ -n "$executions" ] && [ "$executions" -ge "$runs" ]; then
    result="ok"
  else
    result="FAILED (exit $status)"
    failed+=("$target")
    echo "fuzz: $target FAILED; from fuzz/$log:" >&2
    grep -m 1 -A 2 -E "panicked at|ERROR: (libFuzzer|AddressSanitizer)" "$log" >&2 || tail -n 20 "$log" >&2
    grep -h -A 1 "Test unit written to" "$log" >&2 || true
  fi
  line=$(printf '%-9s %12s executions %9s s %9s exec/s  %s' "$target" "${executions:-?}" "$seconds" "$per_second" "$result")
  echo "fuzz: $line"
  summary+=("$line")
done

echo
echo "fuzz $mode summary ($(date -u +%Y-%m-%dT%H:%MZ), $runs runs per target):"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (crashing inputs in fuzz/artifacts/)" >&2
  exit 1
fi
