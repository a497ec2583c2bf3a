#!/usr/bin/env bash
# The stress trace of issue #8: a 2-hop haircut from 100 users of an EVM world of 11.0M
# transfers (10,000 blocks of 1,000 txs, 200,000 users, 10 % of them swaps through DEX pools,
# each with its link fact), so that taint crosses thousands of swaps. Goal: under 1 s.
#
#   bench/trace-stress.sh [RUNS]          (default 5 runs of each trace)
#
# Makes the world once (`sim run --to-files --evm-swap-percent 10`, ~25 s, 3.1 GB of files),
# imports it once (`import transfers --links`, ~2 min, peak RSS ~17 GiB: the importer holds
# the whole file; store ~6 GB), picks the incident once: 100 random users (seed 1) that send
# something after the theft, everything they send from the theft's block on counted as stolen.
# Then times the engine alone (`bench trace`) with links and the whole command (`trace`)
# without them. Release build in ${CARGO_TARGET_DIR:-target}/release (TRACE_BENCH_NO_BUILD=1
# takes it as it is). Needs python3.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
runs=${1:-5}
data=${TRACE_BENCH_DATA:-$root/target/bench-data/stress}
th=${CARGO_TARGET_DIR:-$root/target}/release/tracehound
if [[ -z ${TRACE_BENCH_NO_BUILD:-} ]]; then
    cargo build --release --manifest-path "$root/Cargo.toml" -p tracehound-cli
fi
mkdir -p "$data"
if [[ ! -f $data/sim/evm/truth.json ]]; then
    "$th" sim run --to-files "$data/sim" --out "$data/sim" --blocks 300 --txs-per-block 10 \
        --users 200000 --evm-blocks 10000 --evm-txs-per-block 1000 --evm-swap-percent 10 \
        --seed 1
fi
if [[ ! -d $data/store ]]; then
    "$th" --data-dir "$data/store.part" import transfers "$data/sim/evm/transfers.csv" \
        --links "$data/sim/evm/links.jsonl"
    mv "$data/store.part" "$data/store"
fi
if [[ ! -f $data/users.json ]]; then
    python3 - "$data" <<'PY'
import csv, json, random, sys
d = sys.argv[1]
t = json.load(open(f"{d}/sim/evm/truth.json"))
theft = t["txs"][0]
chain, since_block, since = f"evm-{t['chain_id']}", theft["block"], theft["time"]
users = [a["address"] for a in t["addresses"] if a["entity"].startswith("user")]
random.seed(1)
random.shuffle(users)
wanted = set(users[:2000])
senders = set()
with open(f"{d}/sim/evm/transfers.csv") as f:
    for row in csv.DictReader(f):
        if int(row["block"]) >= since_block and row["from"] in wanted:
            senders.add(row["from"])
picked = [a for a in users[:2000] if a in senders][:100]
assert len(picked) == 100, f"only {len(picked)} of 2000 users send after the theft"
json.dump({"name": "users: 100 addresses",
           "sources": [{"chain": chain, "address": a, "since": since} for a in picked]},
          open(f"{d}/users.json", "w"), indent=1)
PY
fi
chain=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sources"][0]["chain"])' \
    "$data/users.json")
for i in $(seq "$runs"); do
    echo "== run $i: the engine alone, haircut, 2 hops, crossing links"
    "$th" --data-dir "$data/store" bench trace --chain "$chain" --incident "$data/users.json" \
        --policy haircut --max-hops 2
done
echo "== the whole command, --no-links"
/usr/bin/time -f "%e s, %M KiB peak RSS" "$th" --data-dir "$data/store" --json trace \
    --incident "$data/users.json" --policy haircut --max-hops 2 --no-links >/dev/null
