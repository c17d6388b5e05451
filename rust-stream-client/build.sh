#!/usr/bin/env bash
# Builds the static rust-stream-client binary offline. Its crates (serde, serde_json, libc) are a subset of the
# Rust bus's, so the bus's build.sh vendors them (from Debian trixie, cached; a no-op when nothing changed); this
# script then builds with the same flags and prints the binary's absolute path as its last line.
#
#   bash rust-stream-client/build.sh          build, print the binary path
#   bash rust-stream-client/build.sh --test   cargo test --offline
set -euo pipefail
exec 3>&1 1>&2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TARGET="${RUST_TARGET:-$(uname -m)-unknown-linux-gnu}"
command -v cargo >/dev/null || { echo "rust-stream-client/build.sh: cargo not found on PATH" >&2; exit 1; }
# Vendoring (and its lock) belong to the bus's script; it prints the bus binary, which we do not need.
bash "$here/../rust-message-bus/build.sh" >/dev/null
cd "$here"
if [ "${1:-}" = "--test" ]; then
	cargo test --offline --locked --target-dir "$here/target"
	exit 0
fi
t0=$SECONDS
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --offline --locked --target "$TARGET" \
	--target-dir "$here/target"
bin="$here/target/$TARGET/release/rust-stream-client"
[ -x "$bin" ] || { echo "rust-stream-client/build.sh: cargo did not produce $bin" >&2; exit 1; }
echo "built $bin in $((SECONDS - t0)) s"
echo "$bin" >&3
