#!/usr/bin/env bash
# Builds the static rust-message-bus binary with no crates.io: the crates come from Debian trixie's
# librust-*-dev packages (debian-packages.txt pins them), downloaded with a private apt configuration and unpacked
# into .vendor/registry, which .cargo/config.toml uses as a directory source.
#
#   bash rust-message-bus/build.sh            vendor if needed, build, print the binary's absolute path (last line)
#   bash rust-message-bus/build.sh --test     vendor if needed, then cargo test --offline (make test runs this)
#   bash rust-message-bus/build.sh --refresh  re-resolve the Debian packages from ROOTS, update Cargo.lock and
#                                             debian-packages.txt (maintenance; needs a reviewed commit after)
#
# Everything except the final path goes to stderr. Runs are serialised by a lock in .vendor, so two concurrent
# builds are safe; with nothing changed a rerun is a cargo no-op.
set -euo pipefail

# The Debian packages whose dependency closure holds every crate Cargo.toml may need (used by --refresh only).
ROOTS=(librust-tokio-dev librust-tokio-tungstenite-dev librust-tungstenite-dev librust-httparse-dev
	librust-libc-dev librust-serde-dev librust-serde-json-dev)
SUITE=trixie
MIRROR=http://deb.debian.org/debian
# The target: RUST_TARGET (the lab's image builder passes the daemon's architecture), else this machine's.
# Another architecture than this machine's also needs its std (rustup target add) and a linker for it
# (CARGO_TARGET_<TRIPLE>_LINKER). The crates are sources: the amd64 .debs below serve every target.
TARGET="${RUST_TARGET:-$(uname -m)-unknown-linux-gnu}"

exec 3>&1 1>&2 # stdout carries only the binary path; everything else goes to stderr

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
V="$here/.vendor"
A="$V/apt"
PINS="$here/debian-packages.txt"

die() {
	echo "rust-message-bus/build.sh: $*" >&2
	exit 1
}

refresh=0
test=0
case "${1:-}" in
"") ;;
--refresh) refresh=1 ;;
--test) test=1 ;;
*) die "unknown argument $1 (usage: build.sh [--test|--refresh])" ;;
esac

for tool in cargo rustc cc apt-get apt-cache dpkg-deb flock sha256sum; do
	command -v "$tool" >/dev/null || die "$tool not found on PATH"
done
sysroot="$(rustc --print sysroot)"
[ -d "$sysroot/lib/rustlib/$TARGET/lib" ] || die "Rust std for $TARGET missing (rustup target add $TARGET)"
libc="/usr/lib/${TARGET%%-*}-linux-gnu/libc.a"
[ -e "$libc" ] || die "static glibc for $TARGET missing ($libc): apt-get install libc6-dev (or libc6-dev-<arch>-cross)"
[ "$refresh" = 1 ] || [ -s "$PINS" ] || die "$PINS missing (run build.sh --refresh)"

mkdir -p "$V"
exec 9>"$V/.lock"
flock -w 900 9 || die "timed out waiting for another build (lock $V/.lock)"

# apt_setup writes a private apt configuration under .vendor/apt: its own sources, lists, cache and (empty)
# status, so the system's apt state is never read or changed and nothing gets installed.
apt_setup() {
	mkdir -p "$A/etc/apt.conf.d" "$A/etc/sources.list.d" "$A/etc/preferences.d" "$A/state/lists/partial" \
		"$A/cache/archives/partial"
	: >"$A/state/status"
	local key=/usr/share/keyrings/debian-archive-keyring.gpg opt="[trusted=yes]"
	[ -r "$key" ] && opt="[signed-by=$key]"
	echo "deb $opt $MIRROR $SUITE main" >"$A/etc/sources.list"
	cat >"$A/apt.conf" <<-EOF
		Dir::Etc::main "/dev/null";
		Dir::Etc::parts "$A/etc/apt.conf.d";
		Dir::Etc::sourcelist "$A/etc/sources.list";
		Dir::Etc::sourceparts "$A/etc/sources.list.d";
		Dir::Etc::preferences "$A/etc/preferences";
		Dir::Etc::preferencesparts "$A/etc/preferences.d";
		Dir::State "$A/state";
		Dir::State::lists "$A/state/lists";
		Dir::State::status "$A/state/status";
		Dir::Cache "$A/cache";
		Dir::Cache::archives "$A/cache/archives";
		APT::Architecture "amd64";
		APT::Architectures { "amd64"; };
		APT::Sandbox::User "root";
		Acquire::Languages "none";
		Acquire::Check-Valid-Until "false";
	EOF
	export APT_CONFIG="$A/apt.conf"
}

apt_update() {
	echo "apt-get update ($SUITE, private config)"
	apt-get -q update >"$A/update.log" 2>&1 || die "apt-get update for $SUITE failed (see $A/update.log)"
}

# download DIR PKG... fetches the .debs into DIR, refreshing the package lists once if a pin is not found.
download() {
	local dir="$1"
	shift
	mkdir -p "$dir"
	compgen -G "$A/state/lists/*_Packages*" >/dev/null || apt_update
	if ! (cd "$dir" && apt-get -q download "$@" >"$A/download.log" 2>&1); then
		apt_update
		(cd "$dir" && apt-get -q download "$@" >"$A/download.log" 2>&1) ||
			die "apt-get download failed: $(grep -m1 -E '^E:' "$A/download.log" || tail -n1 "$A/download.log")"
	fi
}

# unpack DIR OUT unpacks every .deb in DIR and moves its crate into OUT/registry; OUT/map gets one
# "crate-dir package=version" line per .deb.
unpack() {
	local dir="$1" out="$2" deb t crate
	rm -rf "$out"
	mkdir -p "$out/registry"
	: >"$out/map"
	for deb in "$dir"/*.deb; do
		t="$out/x"
		rm -rf "$t"
		dpkg-deb -x "$deb" "$t"
		# Feature-only packages (librust-foo+bar-dev) ship no crate directory.
		for crate in "$t"/usr/share/cargo/registry/*/; do
			[ -d "$crate" ] || continue
			crate="$(basename "$crate")"
			[ -e "$t/usr/share/cargo/registry/$crate/.cargo-checksum.json" ] || die "$deb: $crate has no .cargo-checksum.json"
			rm -rf "${out:?}/registry/$crate"
			mv "$t/usr/share/cargo/registry/$crate" "$out/registry/$crate"
			echo "$crate $(dpkg-deb -f "$deb" Package)=$(dpkg-deb -f "$deb" Version)" >>"$out/map"
		done
	done
	rm -rf "$out/x"
}

# locked_crates prints name-version for every registry package in Cargo.lock.
locked_crates() {
	awk '/^\[\[package\]\]/{n="";v=""} /^name = /{n=$3} /^version = /{v=$3} /^source = "registry/{gsub(/"/,"",n);gsub(/"/,"",v);print n"-"v}' \
		"$here/Cargo.lock"
}

if [ "$refresh" = 1 ]; then
	t0=$SECONDS
	apt_setup
	apt_update
	mapfile -t pkgs < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
		--no-replaces --no-enhances "${ROOTS[@]}" | grep -E '^librust-' | sort -u)
	[ "${#pkgs[@]}" -gt 0 ] || die "no librust packages found for ${ROOTS[*]}"
	echo "refresh: downloading ${#pkgs[@]} packages (closure of ${ROOTS[*]})"
	rm -rf "$V/refresh-debs"
	download "$V/refresh-debs" "${pkgs[@]}"
	unpack "$V/refresh-debs" "$V/refresh"
	rm -rf "$V/registry" "$V/debs"
	mv "$V/refresh/registry" "$V/registry"
	(cd "$here" && cargo generate-lockfile --offline) || die "cargo generate-lockfile failed"
	locked_crates | while read -r crate; do
		line="$(grep -m1 "^$crate " "$V/refresh/map")" || die "crate $crate in Cargo.lock has no Debian package"
		echo "${line#* }"
	done | sort -u >"$PINS.new"
	mv "$PINS.new" "$PINS"
	rm -rf "$V/refresh" "$V/refresh-debs" "$V/registry"
	echo "refresh: $(wc -l <"$PINS") pinned packages written to $PINS in $((SECONDS - t0)) s"
fi

# Vendoring, skipped when the registry matches the pins; the .debs are cached in .vendor/debs.
want="$(sha256sum <"$PINS" | cut -d' ' -f1)"
if [ "$(cat "$V/registry/.stamp" 2>/dev/null || true)" != "$want" ]; then
	t0=$SECONDS
	mapfile -t pins < <(grep -vE '^\s*(#|$)' "$PINS")
	if [ "$(cat "$V/debs/.stamp" 2>/dev/null || true)" != "$want" ]; then
		apt_setup
		echo "downloading ${#pins[@]} Debian crate packages"
		rm -rf "$V/debs"
		download "$V/debs" "${pins[@]}"
		echo "$want" >"$V/debs/.stamp"
	fi
	unpack "$V/debs" "$V/unpack"
	echo "$want" >"$V/unpack/registry/.stamp"
	rm -rf "$V/registry"
	mv "$V/unpack/registry" "$V/registry"
	rm -rf "$V/unpack"
	echo "vendored ${#pins[@]} crates in $((SECONDS - t0)) s"
fi

if [ "$test" = 1 ]; then
	# Unit tests for this machine's target, dynamically linked (no crt-static: test binaries run on the host).
	cd "$here"
	cargo test --offline --locked --target-dir "$here/target" || die "cargo test failed"
	exit 0
fi

t0=$SECONDS
cd "$here"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --offline --locked --target "$TARGET" \
	--target-dir "$here/target" || die "cargo build failed"
bin="$here/target/$TARGET/release/rust-message-bus"
[ -x "$bin" ] || die "cargo did not produce $bin"
echo "built $bin in $((SECONDS - t0)) s"
echo "$bin" >&3
