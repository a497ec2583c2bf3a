#!/usr/bin/env bash
# The EVM benchmark: tracehound's EVM ingest against cryo on the same anvil chain, in the same
# run, on this machine.
#
#   bench/evm-run.sh
#
# Settings (environment):
#   EVM_BENCH_BLOCKS=5000          blocks of mixed txs (plus 2 setup blocks and genesis)
#   EVM_BENCH_TXS_PER_BLOCK=20     mean txs per block (each block: 0.5x to 1.5x of it)
#   EVM_BENCH_ACTORS=100           funded accounts sending txs (anvil dev accounts)
#   EVM_BENCH_PASSIVE=2000         receive-only addresses
#   EVM_BENCH_SEED=1               generator seed (same seed, same chain, same block hashes)
#   EVM_BENCH_DATA=DIR             where the chain and results go
#                                  (default target/bench-data/<settings>; reused when present)
#   EVM_BENCH_PORT=18545           first port tried for the replaying anvil
#   CRYO_DATASETS=traces,native_transfers,erc20_transfers
#                                  cryo's first run ("transfers"): datasets, one invocation each
#                                  (cryo cannot collect the trace-derived ones together against
#                                  anvil); times are summed
#   CRYO_FULL_DATASETS=native_transfers,erc20_transfers,erc721_transfers,transactions,blocks,logs
#                                  cryo's second run ("coverage"): what it takes cryo to hold
#                                  what tracehound's one pass stores (fees need transactions'
#                                  gas used and prices and blocks' base fee and miner; WETH
#                                  wraps and ERC-1155 need logs); empty: skipped
#   CRYO_FLAGS="..."               extra flags for every cryo invocation
#                                  (e.g. "--chunk-size 500 --max-concurrent-requests 16")
#   CRYO_BIN=PATH                  use this cryo instead of building it (bench/build-cryo.sh)
#   ANVIL_BIN=PATH                 use this anvil instead of scripts/install-anvil's
#
# Downloads only packages (crates through cargo, anvil through npm); the chain is generated here.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
blocks=${EVM_BENCH_BLOCKS:-5000}
txs=${EVM_BENCH_TXS_PER_BLOCK:-20}
actors=${EVM_BENCH_ACTORS:-100}
passive=${EVM_BENCH_PASSIVE:-2000}
seed=${EVM_BENCH_SEED:-1}
name="evm-b${blocks}-t${txs}-a${actors}-p${passive}-s${seed}"
data=${EVM_BENCH_DATA:-$root/target/bench-data/$name}
main_target=${CARGO_TARGET_DIR:-$root/target}
bench_target=${CARGO_TARGET_DIR:-$here/target}
datasets=${CRYO_DATASETS:-traces,native_transfers,erc20_transfers}
full_datasets=${CRYO_FULL_DATASETS-native_transfers,erc20_transfers,erc721_transfers,transactions,blocks,logs}

echo "== anvil"
if [[ -z ${ANVIL_BIN:-} ]]; then
    ANVIL_BIN=$("$root/scripts/install-anvil" | tail -1)
fi
export ANVIL_BIN
"$ANVIL_BIN" --version | head -1

echo "== building (release)"
cargo build --release --manifest-path "$here/Cargo.toml"
evm_bench=$bench_target/release/evm-bench
tracehound=$main_target/release/tracehound
if ! cargo build --release --manifest-path "$root/Cargo.toml"; then
    echo "warning: tracehound's workspace did not build; its side of the benchmark is skipped" >&2
fi
cryo=${CRYO_BIN:-$("$here/build-cryo.sh" | tail -1)}
"$cryo" --version

mkdir -p "$data"
if [[ -f $data/gen.json && -f $data/state.json ]]; then
    echo "== reusing the chain in $data"
else
    echo "== generating $blocks blocks x ~$txs txs from $actors accounts (seed $seed) into $data"
    rm -f "$data/gen.json" "$data/state.json"
    "$evm_bench" gen --out "$data" --blocks "$blocks" --txs-per-block "$txs" \
        --actors "$actors" --passive "$passive" --seed "$seed" > /dev/null
fi
cat "$data/gen.json"
json_field() { sed -n "s/.*\"$1\":\"\{0,1\}\([0-9a-fx.e+-]*\).*/\1/p" "$2"; }
tip=$(json_field tip "$data/gen.json")
tip_hash=$(json_field tip_hash "$data/gen.json")
echo "chain: $(json_field blocks "$data/gen.json") blocks, $(json_field txs "$data/gen.json") txs ($(json_field failed_txs "$data/gen.json") failed), $(json_field logs "$data/gen.json") logs; anvil state $(du -h "$data/state.json" | cut -f1)"

# The chain, served by a fresh anvil from the saved state (nothing mines while it runs).
port=${EVM_BENCH_PORT:-18545}
while (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; do
    port=$((port + 1))
done
url="http://127.0.0.1:$port"
echo "== anvil on $url from the saved state"
"$ANVIL_BIN" --host 127.0.0.1 --port "$port" --load-state "$data/state.json" --no-mining \
    > "$data/anvil.log" 2>&1 &
anvil_pid=$!
trap 'kill "$anvil_pid" 2> /dev/null || true; wait "$anvil_pid" 2> /dev/null || true' EXIT
rpc() {
    curl -s -m 30 -H 'content-type: application/json' \
        -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "$url"
}
for _ in $(seq 600); do
    rpc eth_blockNumber '[]' 2> /dev/null | grep -q result && break
    kill -0 "$anvil_pid" 2> /dev/null || { cat "$data/anvil.log"; exit 1; }
    sleep 0.5
done
served=$(rpc eth_getBlockByNumber "[\"$(printf '0x%x' "$tip")\",false]" | sed -n 's/.*"hash":"\(0x[0-9a-f]*\)".*/\1/p')
if [[ $served != "$tip_hash" ]]; then
    echo "anvil serves $served at height $tip, the generator made $tip_hash" >&2
    exit 1
fi
echo "anvil serves height $tip ($tip_hash), RSS $(($(sed -n 's/VmRSS:\s*\([0-9]*\) kB/\1/p' "/proc/$anvil_pid/status") / 1024)) MiB"

rm -f "$data/tracehound.json"
if [[ -x $tracehound ]] && "$tracehound" bench ingest-evm --help > /dev/null 2>&1; then
    echo "== tracehound bench ingest-evm"
    # Timed from outside as well (wall_seconds), on the clock cryo's runs are timed with.
    # Without opening balances: the replaying anvil holds the state at the tip only (a dump
    # without --preserve-historical-states), so balances at earlier blocks cannot be read.
    "$evm_bench" measure --out "$data/tracehound.json.tmp" -- \
        "$tracehound" bench ingest-evm --chain 31337 --rpc "$url" --to "$tip" \
        --no-opening-balances --json > /dev/null
    mv "$data/tracehound.json.tmp" "$data/tracehound.json"
    cat "$data/tracehound.json"
else
    echo "== tracehound: $tracehound has no 'bench ingest-evm' command yet; its side is skipped"
fi

run_cryo() { # label datasets
    echo "== cryo ($1): $2"
    # shellcheck disable=SC2086 # CRYO_FLAGS is a list of flags
    "$evm_bench" cryo --bin "$cryo" --rpc "$url" --to "$tip" --out "$data/cryo-$1" \
        --datasets "$2" --label "$1" -- ${CRYO_FLAGS:-} > "$data/cryo-$1.json.tmp"
    mv "$data/cryo-$1.json.tmp" "$data/cryo-$1.json"
    cat "$data/cryo-$1.json"
}
rm -f "$data"/cryo-*.json
run_cryo transfers "$datasets"
[[ -n $full_datasets ]] && run_cryo coverage "$full_datasets"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
for label in transfers coverage; do
    [[ -f $data/cryo-$label.json ]] || continue
    [[ $label == coverage && -z $full_datasets ]] && continue
    echo
    echo "== $((tip + 1)) blocks, $(json_field txs "$data/gen.json") txs, $(nproc) cores, one anvil serving both; cryo: $label"
    "$evm_bench" compare "$data/tracehound.json" "$data/cryo-$label.json" \
        --out "$data/results-$stamp-$label.json" | tee "$data/compare-$stamp-$label.txt"
    echo "results: $data/results-$stamp-$label.json"
done
