#!/usr/bin/env bash
# The peer benchmark: tracehound's ingest against bitcoin-block-parser's input-resolving parser,
# on the same generated Core-format blk files, in the same run, on this machine.
#
#   bench/run.sh
#
# Settings (environment):
#   BENCH_BLOCKS=20000        blocks of the data set (genesis included)
#   BENCH_TXS_PER_BLOCK=250   average transactions per block
#   BENCH_SEED=1              generator seed
#   BENCH_XOR=1               obfuscate the files with an xor.dat key (Core 28+); 0 for plain
#   BENCH_STALE_EVERY=1000    a stale sibling block every N blocks; 0 for none
#   BENCH_DATA=DIR            where the data set and results go
#                             (default target/bench-data/<settings>; reused when present)
#   PEER_DEFAULTS=0           1: run the peer with its own defaults (sized for mainnet's 250M
#                             UTXOs) instead of telling it this data set's UTXO count
#
# Only crates are downloaded (by cargo); the data set is generated here.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
blocks=${BENCH_BLOCKS:-20000}
txs=${BENCH_TXS_PER_BLOCK:-250}
seed=${BENCH_SEED:-1}
xor=${BENCH_XOR:-1}
stale=${BENCH_STALE_EVERY:-1000}
name="btc-b${blocks}-t${txs}-s${seed}-x${xor}-st${stale}"
data=${BENCH_DATA:-$root/target/bench-data/$name}
main_target=${CARGO_TARGET_DIR:-$root/target}
bench_target=${CARGO_TARGET_DIR:-$here/target}

echo "== building (release)"
cargo build --release --manifest-path "$here/Cargo.toml"
peer_bench=$bench_target/release/peer-bench
tracehound=$main_target/release/tracehound
if ! cargo build --release --manifest-path "$root/Cargo.toml"; then
    echo "warning: tracehound's workspace did not build; its side of the benchmark is skipped" >&2
fi

mkdir -p "$data"
if [[ -f $data/gen.json && -f $data/blocks/blk00000.dat ]]; then
    echo "== reusing the data set in $data/blocks"
else
    echo "== generating $blocks blocks x ~$txs txs into $data/blocks"
    rm -rf "$data/blocks" "$data/gen.json"
    gen_flags=(--dir "$data/blocks" --blocks "$blocks" --txs-per-block "$txs" --seed "$seed" --out-of-order)
    [[ $xor == 1 ]] && gen_flags+=(--xor)
    [[ $stale != 0 ]] && gen_flags+=(--stale-every "$stale")
    "$peer_bench" gen "${gen_flags[@]}" > "$data/gen.json.tmp"
    mv "$data/gen.json.tmp" "$data/gen.json"
fi
cat "$data/gen.json"
json_field() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p" "$2"; }
echo "data set: $(du -sh "$data/blocks" | cut -f1) on disk, $(json_field bytes "$data/gen.json") bytes in $(json_field files "$data/gen.json") blk files"

# Both tools read from the page cache: warm it once for both.
cat "$data"/blocks/blk*.dat > /dev/null

rm -f "$data/tracehound.json"
if [[ -x $tracehound ]] && "$tracehound" bench ingest --help > /dev/null 2>&1; then
    echo "== tracehound bench ingest"
    "$tracehound" bench ingest --network bitcoin --blocks-dir "$data/blocks" --json > "$data/tracehound.json.tmp"
    mv "$data/tracehound.json.tmp" "$data/tracehound.json"
    cat "$data/tracehound.json"
else
    echo "== tracehound: $tracehound has no 'bench ingest' command yet; its side is skipped"
fi

echo "== peer: bitcoin-block-parser UtxoParser"
peer_flags=(--dir "$data/blocks" --filter "$data/peer-filter.bin")
if [[ ${PEER_DEFAULTS:-0} != 1 ]]; then
    # The peer sizes its UTXO filter up front (default 250M entries, for mainnet); tell it this
    # data set's UTXO count, as a user of it would.
    peer_flags+=(--estimated-utxos "$(json_field unspent "$data/gen.json")")
fi
"$peer_bench" peer "${peer_flags[@]}" > "$data/peer.json.tmp"
mv "$data/peer.json.tmp" "$data/peer.json"
cat "$data/peer.json"

echo
echo "== $blocks blocks x ~$txs txs ($(du -sh "$data/blocks" | cut -f1)), $(nproc) cores, warm page cache"
"$peer_bench" compare "$data/tracehound.json" "$data/peer.json"
