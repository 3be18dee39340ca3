# meshfed as a KRM function image for `kpt fn eval --image` / `kpt fn render`:
# one static binary in an otherwise empty image.
#
#   bin=$(bash scripts/build-static.sh | tail -n1)
#   docker build --build-arg BIN="$bin" -t meshfed:dev .
#
# The binary is built on the host (scripts/build-static.sh), so the image
# build needs no toolchain and no network.
FROM scratch
ARG BIN=target/x86_64-unknown-linux-gnu/dist/meshfed
COPY LICENSE /LICENSE
COPY ${BIN} /meshfed
# kpt runs function containers as nobody; the binary needs no privileges.
USER 65534:65534
ENTRYPOINT ["/meshfed"]
