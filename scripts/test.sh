#!/usr/bin/env bash
# The test command (README "Install, and the two commands"): install what the suites need and this machine
# lacks, then check formatting, lints and docs and run every test. CI (`.ci/run`) calls it.
#
# Needs beside Rust: PostgreSQL's server binaries (the harness starts a throwaway cluster),
# python3 (the example webhook receiver), node 20.10+ (the TypeScript client and the console),
# the console's Node packages (esbuild, playwright-core: `npm ci` in clients/web) and Debian's
# chromium (the console's browser tests; never a downloaded browser), valgrind (the instruction
# budget, tests/instruction_budget.rs). As root on Debian/Ubuntu
# it installs the missing ones with apt; otherwise it says what is missing and the suites that
# need it skip, loudly (the COUNTERSIGN_REQUIRE_* switches turn a skip into a failure).
set -euo pipefail
cd "$(dirname "$0")/.."

# apt-get install PACKAGE when COMMAND is missing and we may; a notice otherwise.
ensure() {
  local command=$1 package=$2
  command -v "$command" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test: installing $package"
    [ -n "${apt_updated:-}" ] || { apt-get update -qq; apt_updated=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
  else
    echo "test: $command is missing (install $package); the tests that need it will skip"
  fi
}

if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  ensure initdb postgresql
fi
ensure python3 python3
ensure node nodejs
ensure npm npm
ensure chromium chromium
ensure valgrind valgrind
# PostgreSQL refuses to run as root: the harness runs it as this user.
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then useradd --system --no-create-home postgres; fi
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done
# The console's build and browser-test packages, exactly as locked.
lock=clients/web/package-lock.json installed=clients/web/node_modules/.package-lock.json
if command -v npm >/dev/null 2>&1 && { [ ! -e "$installed" ] || [ "$lock" -nt "$installed" ]; }; then
  echo "test: npm ci in clients/web"
  (cd clients/web && npm ci --no-audit --no-fund --loglevel=error)
fi

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked
cargo test --locked
