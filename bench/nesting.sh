#!/usr/bin/env bash
# Deep nesting answers in linear time (issue 10): specs of 1 MiB to 64 MiB
# (meshfed's limit) that nest `[`, `{`, `- ` and block mappings as deep as
# their size allows, each timed through `meshfed validate` and compared with
# the time `cat` takes to read the same file in the same run (the baseline:
# nothing can answer faster than reading the input once).
#
#   bash bench/nesting.sh        # RUNS=3 by default: the median is shown
#
# Builds target/release/meshfed; the inputs go to bench/work/nesting/ (kept).
# Target: every input answers in under 1 s. Exit 1 if one does not.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
bin=target/release/meshfed
work=bench/work/nesting
mkdir -p "$work"
runs=${RUNS:-3}

python3 - "$work" <<'PY'
import os, sys
work = sys.argv[1]
head = "apiVersion: meshfed.io/v1alpha1\nkind: MeshFederation\nmetadata:\n  name: deep\n  labels: "
MIB = 1 << 20
def block(size):
    # k: nested in k: as deep as the size allows (the indentation grows).
    parts, n, d = ["\n"], 1, 2
    while n + d + 3 < size:
        line = " " * d + "k:\n"
        parts.append(line); n += len(line); d += 1
    return "".join(parts)
def late(size):
    # A shallow mapping filling all but the last KiB, then the nesting: the
    # scan reads the whole input before it refuses.
    lines = "".join(f"\n    k{i:09}: value" for i in range((size - 1024) // 22))
    return lines + "\n    z: " + "[" * (size - 1040 - len(lines) + 1024 - 16)
for mib in (1, 8, 64):
    size = mib * MIB - len(head) - 1
    for kind, body in (("flow-seq", lambda s: "[" * s), ("flow-map", lambda s: "{a: " * (s // 4)),
                       ("dashes", lambda s: "\n  " + "- " * (s // 2 - 2)), ("block-map", block),
                       ("late-flow-seq", late)):
        path = os.path.join(work, f"{kind}-{mib}MiB.yaml")
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write(head + body(size) + "\n")
PY

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
seconds() { # command... → wall seconds of one run
  local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N)
  echo "$e - $s" | bc -l
}
printf '%-22s %10s %10s %8s  %s\n' input meshfed cat ratio diagnostic
fail=0
for f in "$work"/*.yaml; do
  m=$(for _ in $(seq "$runs"); do seconds "$bin" validate "$f"; done | median)
  c=$(for _ in $(seq "$runs"); do seconds cat "$f"; done | median)
  diag=$("$bin" validate "$f" 2>&1 >/dev/null | head -1 | cut -c1-60 || true)
  printf '%-22s %9.3fs %9.3fs %7.1fx  %s\n' "$(basename "$f")" "$m" "$c" "$(echo "$m / $c" | bc -l)" "$diag"
  if [ "$(echo "$m >= 1" | bc -l)" = 1 ]; then fail=1; fi
done
[ "$fail" = 0 ] && echo "every input answered in under 1 s" || { echo "NOT MET: an input took 1 s or more"; exit 1; }
