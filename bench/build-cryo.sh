#!/usr/bin/env bash
# Builds the EVM benchmark's peer, `cryo` (crate cryo_cli, pinned below), from its crates.io
# source into bench/target/cryo/. Benchmark-only: nothing in tracehound's build or CI runs this.
#
#   bench/build-cryo.sh        prints the binary's path on its last line
#
# Why not `cargo install cryo_cli --locked`: the lock file published with 0.3.2 pins `time`
# 0.3.30, which no longer compiles on current Rust. So: fetch the crate's source through cargo
# (a scratch manifest that depends on it), copy it out of cargo's registry cache, move `time` to
# 0.3.36 in its own lock file (every other pin stays as published), and build it release.
# Idempotent: skipped when the binary is there and answers --version. About 12 minutes on 2
# cores the first time.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=${CRYO_VERSION:-0.3.2}
time_version=${CRYO_TIME_VERSION:-0.3.36}
out=$here/target/cryo
bin=$out/bin/cryo

if [[ -x $bin ]] && "$bin" --version > /dev/null 2>&1; then
    echo "cryo already built: $("$bin" --version)" >&2
    echo "$bin"
    exit 0
fi

mkdir -p "$out"
# 1. The source, through cargo: a manifest that depends on exactly this version.
scratch=$out/fetch
mkdir -p "$scratch/src"
cat > "$scratch/Cargo.toml" <<EOF
[package]
name = "cryo-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
cryo_cli = "=$version"
EOF
: > "$scratch/src/lib.rs"
echo "== fetching cryo_cli $version from crates.io" >&2
cargo generate-lockfile --manifest-path "$scratch/Cargo.toml" >&2
# Only the crate itself is needed from this graph; its own lock file decides the rest.
cargo fetch --manifest-path "$scratch/Cargo.toml" >&2 || true
cargo_home=${CARGO_HOME:-$HOME/.cargo}
src=$(find "$cargo_home/registry/src" -maxdepth 2 -type d -name "cryo_cli-$version" | head -1)
if [[ -z $src || ! -f $src/Cargo.toml ]]; then
    echo "cryo_cli-$version's source not found under $cargo_home/registry/src" >&2
    exit 1
fi

# 2. A private copy (the registry cache is read-only by convention), with `time` moved on.
work=$out/cryo_cli-$version
rm -rf "$work"
cp -r "$src" "$work"
chmod -R u+w "$work"
# Built outside any enclosing workspace.
grep -q '^\[workspace\]' "$work/Cargo.toml" || printf '\n[workspace]\n' >> "$work/Cargo.toml"
if [[ ! -f $work/Cargo.lock ]]; then
    echo "warning: cryo_cli $version ships no Cargo.lock; resolving afresh" >&2
fi
echo "== time -> $time_version in cryo's lock file" >&2
cargo update --manifest-path "$work/Cargo.toml" -p time --precise "$time_version" >&2

# 3. Build.
echo "== building cryo (release; ~12 minutes on 2 cores)" >&2
CARGO_TARGET_DIR=$out/build cargo build --release --locked --bin cryo \
    --manifest-path "$work/Cargo.toml" >&2
mkdir -p "$out/bin"
cp "$out/build/release/cryo" "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "built: $("$bin" --version)" >&2
echo "$bin"
