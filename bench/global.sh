#!/usr/bin/env bash
# Issue 14's speed bound: the 20x100 federation with every export global
# (and a locality per cluster) against the same federation without, in the
# same run, pairs interleaved, each run into an empty folder. Prints the
# median of each and their ratio (target: at most 1.5).
#
#   bash bench/global.sh          # RUNS=7 by default
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked --quiet
work=bench/work
plain="$work/fed-20x100"
global="$work/fed-20x100-global"
[ -f "$plain/federation.yaml" ] || python3 bench/gen_federation.py 20 100 "$plain"
mkdir -p "$global"
rm -rf "$global/certs" && cp -r "$plain/certs" "$global/certs"
# Every export global; cluster i in region r<i mod 3>, its own zone.
awk '
  /^  - name: / { print; n++; printf "    locality: r%d/z%d\n", n % 3, n; next }
  /^      serviceAccounts: / { print; print "      global: true"; next }
  { print }
' "$plain/federation.yaml" > "$global/federation.yaml"

runs=${RUNS:-7}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
time_one() {
  rm -rf "$out/o"
  local start end
  start=$(date +%s%N)
  target/release/meshfed generate "$1/federation.yaml" -o "$out/o" 2>/dev/null
  end=$(date +%s%N)
  echo $(( (end - start) / 1000000 ))
}
plain_ms=() global_ms=()
for _ in $(seq "$runs"); do
  plain_ms+=("$(time_one "$plain")")
  global_ms+=("$(time_one "$global")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
p=$(median "${plain_ms[@]}")
g=$(median "${global_ms[@]}")
ratio=$(awk -v g="$g" -v p="$p" 'BEGIN {printf "%.2f", g / p}')
verdict=$(awk -v r="$ratio" 'BEGIN {print (r <= 1.5) ? "met" : "NOT met"}')
echo "20x100 plain:  median ${p} ms (${plain_ms[*]})"
echo "20x100 global: median ${g} ms (${global_ms[*]})"
echo "global / plain: ${ratio}x (target <= 1.5x: ${verdict})"
