#!/usr/bin/env bash
# The benchmark in one command: meshfed against the Python baseline and
# against `kubectl kustomize`, medians of several runs, peak RSS, and the
# targets of issue 5 marked met / not met.
#
#   bash bench/run.sh            # RUNS=5 by default; RUNS=3 bash bench/run.sh for a quicker look
#
# Sets up bench/.venv (Jinja2, PyYAML) and the repo's .venv (kubectl, as
# scripts/test.sh does), builds meshfed with `cargo build --release`, and
# generates the federations under bench/work/ (kept between runs).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=bench/.venv
if [ ! -x "$venv/bin/python" ] || ! cmp -s bench/requirements.txt "$venv/.requirements"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
  cp bench/requirements.txt "$venv/.requirements"
fi
# kubectl comes from the repo's test venv, set up exactly as scripts/test.sh does.
if [ ! -x .venv/bin/python ] || ! cmp -s tests/requirements.txt .venv/.requirements; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
  cp tests/requirements.txt .venv/.requirements
fi

cargo build --release --locked --quiet

work=bench/work
for size in 3x5 10x50 20x100 40x100; do
  if [ ! -f "$work/fed-$size/federation.yaml" ]; then
    python3 bench/gen_federation.py "${size%x*}" "${size#*x}" "$work/fed-$size"
  fi
done

exec "$venv/bin/python" bench/measure.py \
  --meshfed target/release/meshfed \
  --kubectl .venv/bin/kubectl \
  --work "$work" \
  --runs "${RUNS:-5}"
