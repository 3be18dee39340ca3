#!/usr/bin/env bash
# Runs one fuzz target for a set time: scripts/fuzz.sh TARGET SECONDS [RUNS]
# Targets: pem_intake, spiffe_bundle, spec_parse, krm_resource_list
# (see fuzz/fuzz_targets/).
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
  krm_resource_list) seeds=(../testdata/krm/*) ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac
# Seed the corpus once with real inputs (files only; libFuzzer reads a folder).
for dir in "${seeds[@]}"; do
  for f in "$dir"/*; do
    # Seed files share names (resourcelist.yaml): name each by its folder.
    [ -f "$f" ] && cp -n "$f" "corpus/$target/$(basename "$dir")-$(basename "$f")" || true
  done
done

# No sanitizer by default: meshfed and its parsers are safe Rust, and without
# AddressSanitizer a run is several times faster. FUZZ_SANITIZER=address
# brings it back (for the C-translated YAML parser under serde_norway, say).
# Comparison tracing is off too: it took half of each run's time, and the
# corpus it helped grow stays. FUZZ_TRACE_COMPARES=1 turns it on.
flags=(--sanitizer "${FUZZ_SANITIZER:-none}")
[ "${FUZZ_TRACE_COMPARES:-0}" = 1 ] || flags+=(--no-trace-compares)
# FUZZ_JOBS=N runs N independent libFuzzer processes on the shared corpus
# (libFuzzer's -jobs mode), each stopping at RUNS/N executions, so together
# they reach RUNS. Each writes its log and final stats to fuzz/fuzz-<i>.log.
jobs=${FUZZ_JOBS:-1}
extra=()
if [ "$jobs" != 1 ]; then
  extra+=("-jobs=$jobs" "-workers=$jobs")
  runs=$((runs / jobs))
fi
exec cargo +nightly fuzz run "${flags[@]}" "$target" "corpus/$target" -- "${extra[@]}" \
  -runs="$runs" -max_total_time="$seconds" -max_len=16384 -rss_limit_mb=1024 -print_final_stats=1
