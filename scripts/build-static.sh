#!/usr/bin/env bash
# Builds meshfed as a static Linux binary: no dynamic loader and no libc
# needed at run time, so it runs in a `FROM scratch` image (see Dockerfile)
# and as a kpt function image. Prints the binary's path, relative to the
# repository root, as its last line.
#
# The binary links glibc statically (`-C target-feature=+crt-static` on the
# host's gnu target), which needs only the toolchain and libc6-dev that a
# Rust build machine has; no musl toolchain has to be downloaded. meshfed
# does no name lookups, the one part of glibc that needs shared modules.
set -euo pipefail
cd "$(dirname "$0")/.."

target="$(rustc -vV | sed -n 's/^host: //p')"
case "$target" in
  *-linux-gnu) ;;
  *) echo "build-static.sh: builds on Linux (gnu) hosts only, not $target" >&2; exit 1 ;;
esac

# --target keeps build scripts and proc macros dynamic; only meshfed is static.
# getrandom (under jsonschema's ahash) looks the libc function up at run time,
# which a static binary cannot, and falls back to /dev/urandom; the function
# image has no /dev (the test runs it in an empty chroot), so it is told to
# call the getrandom system call directly.
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static --cfg getrandom_backend=\"linux_getrandom\"" \
  cargo build --locked --profile dist --target "$target" >&2

bin="target/$target/dist/meshfed"
if ldd "$bin" >/dev/null 2>&1 && ! ldd "$bin" 2>&1 | grep -q "not a dynamic executable\|statically linked"; then
  echo "build-static.sh: $bin is dynamically linked:" >&2
  ldd "$bin" >&2
  exit 1
fi
echo "$bin"
