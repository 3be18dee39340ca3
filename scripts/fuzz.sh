#!/usr/bin/env bash
# Runs one fuzz target for a set time: scripts/fuzz.sh TARGET SECONDS [RUNS]
# Targets: pem_intake, spiffe_bundle, spec_parse (see fuzz/fuzz_targets/).
# Needs the nightly toolchain and cargo-fuzz (cargo install cargo-fuzz).
# Stops at RUNS executions (default 10000000) or SECONDS, whichever comes
# first; libFuzzer prints the executions reached ("#N DONE" / "stat::number_of_executed_units").
# One job only: the runs are meant to share a small machine.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

target=${1:?usage: scripts/fuzz.sh TARGET SECONDS [RUNS]}
seconds=${2:?usage: scripts/fuzz.sh TARGET SECONDS [RUNS]}
runs=${3:-10000000}

mkdir -p "corpus/$target"
seeds=()
case "$target" in
  pem_intake) seeds=(../examples/seed/certs) ;;
  spec_parse) seeds=(../examples/seed) ;;
  spiffe_bundle) ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac
# Seed the corpus once with real inputs (files only; libFuzzer reads a folder).
for dir in "${seeds[@]}"; do
  for f in "$dir"/*; do
    [ -f "$f" ] && cp -n "$f" "corpus/$target/" || true
  done
done

exec cargo +nightly fuzz run "$target" "corpus/$target" -- \
  -runs="$runs" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=1024 -print_final_stats=1
