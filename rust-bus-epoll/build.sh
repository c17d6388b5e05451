#!/usr/bin/env bash
# Builds the static rust-bus-epoll binary offline. Its crates (libc, httparse, sha1; serde/serde_json for the
# microbenchmark's "before" only) are a subset of the first Rust bus's, so rust-message-bus/build.sh vendors them
# (from Debian trixie's librust-*-dev packages, cached; a no-op when nothing changed); this script then builds
# with the same flags and prints the binary's absolute path as its last line.
#
#   bash rust-bus-epoll/build.sh          build, print the binary path
#   bash rust-bus-epoll/build.sh --test   cargo test --offline (make test runs this)
#   bash rust-bus-epoll/build.sh --bench  the hot-path microbenchmarks (examples/microbench.rs), release build
set -euo pipefail
exec 3>&1 1>&2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TARGET="${RUST_TARGET:-$(uname -m)-unknown-linux-gnu}"
command -v cargo >/dev/null || { echo "rust-bus-epoll/build.sh: cargo not found on PATH" >&2; exit 1; }
# Vendoring (and its lock) belong to the first bus's script; it prints that bus's binary, which we do not need.
bash "$here/../rust-message-bus/build.sh" >/dev/null
cd "$here"
case "${1:-}" in
--test)
	cargo test --offline --locked --target-dir "$here/target"
	exit 0
	;;
--bench)
	cargo run --release --offline --locked --target-dir "$here/target" --example microbench >&3
	exit 0
	;;
"") ;;
*) echo "rust-bus-epoll/build.sh: unknown argument $1 (usage: build.sh [--test|--bench])" >&2; exit 1 ;;
esac
t0=$SECONDS
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --offline --locked --target "$TARGET" \
	--target-dir "$here/target"
bin="$here/target/$TARGET/release/rust-bus-epoll"
[ -x "$bin" ] || { echo "rust-bus-epoll/build.sh: cargo did not produce $bin" >&2; exit 1; }
echo "built $bin in $((SECONDS - t0)) s"
echo "$bin" >&3
