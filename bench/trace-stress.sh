#!/usr/bin/env bash
# The trace across links at scale (issue #8): an EVM world of 11.0M transfers (10,000 blocks of
# 1,000 txs, 200,000 users, 4 exchanges, 10 % of txs swaps through DEX pools, each with its
# link fact), traced from two 100-address incidents under haircut:
# - "heist": the first 100 unlabeled addresses that received stolen value (what an
#   investigator lists as the thief's), 10 hops with the simulator's labels: issue #6's
#   configuration (goal < 1 s, RSS <= 2 GB), now with links;
# - "users": 100 random users that send after the theft, 2 hops, with and without labels
#   (the stress case: without labels taint reaches the exchanges' hot wallets, 563k transfers
#   each). Both count everything the addresses send from the theft's time on as stolen.
#
#   bench/trace-stress.sh [RUNS]          (default 3 runs of each trace)
#
# Makes the world once (`sim run --to-files --evm-swap-percent 10`, ~25 s, 3.1 GB of files),
# imports it once (`import transfers --links`, ~3 min, peak RSS ~18 GiB: the importer holds
# the whole file; store ~6 GB) and picks the incidents once. Then times the engine alone
# (`bench trace`). Release build in ${CARGO_TARGET_DIR:-target}/release
# (TRACE_BENCH_NO_BUILD=1 takes it as it is). Needs python3.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
runs=${1:-3}
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
labeled = {label["address"] for label in t["labels"]}
heist = []
for tx in t["txs"]:
    for tr in tx["transfers"]:
        a = tr["to"]
        if tr["stolen"] > 0 and a not in labeled and a != t["incident"]["victim"] \
                and a not in heist:
            heist.append(a)
for name, addrs in [("heist", heist[:100]), ("users", picked)]:
    json.dump({"name": f"{name}: {len(addrs)} addresses",
               "sources": [{"chain": chain, "address": a, "since": since} for a in addrs]},
              open(f"{d}/{name}.json", "w"), indent=1)
PY
fi
chain=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sources"][0]["chain"])' \
    "$data/users.json")
labels=$data/sim/evm/labels.csv
run() { # TITLE ARGS...
    local title=$1
    shift
    for i in $(seq "$runs"); do
        echo "== $title, run $i"
        "$th" --data-dir "$data/store" bench trace --chain "$chain" --policy haircut "$@"
    done
}
run "heist, 10 hops, labels" --incident "$data/heist.json" --max-hops 10 --labels "$labels"
run "users, 2 hops, labels" --incident "$data/users.json" --max-hops 2 --labels "$labels"
run "users, 2 hops, no labels" --incident "$data/users.json" --max-hops 2
