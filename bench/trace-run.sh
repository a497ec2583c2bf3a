#!/usr/bin/env bash
# The trace benchmark (issue #6): the simulator's files mode at a given size, ingested into a
# fresh store, then 10-hop traces from two 100-address incidents under every policy, with the
# simulator's labels (exchanges stop the trace) and, for haircut, without them (taint spreads
# through the exchanges' hot wallets: the stress case).
#
#   bench/trace-run.sh [BLOCKS]        (default 10000 blocks x 200 txs: about 1.77M txs and
#                                       15.6M inputs+outputs; 1000 blocks for ~1.5M)
#
# Incidents: "heist" = the first 100 unlabeled addresses that received stolen value in the
# simulated heist (what an investigator lists as the thief's addresses); "users" = 100 random
# unlabeled user addresses (seed 1). Both count everything the addresses send from the theft
# on as stolen. Needs python3 (to pick the incidents from the ground truth).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
blocks=${1:-10000}
data=${TRACE_BENCH_DATA:-$root/target/bench-data/trace-b$blocks}
th=${CARGO_TARGET_DIR:-$root/target}/release/tracehound
cargo build --release --manifest-path "$root/Cargo.toml" -p tracehound-cli
mkdir -p "$data"
if [[ ! -f $data/sim/truth.json ]]; then
    "$th" sim run --to-files "$data/sim" --out "$data/sim" --blocks "$blocks" \
        --txs-per-block 200 --users 200000 --evm-blocks 0 --seed 1
fi
if [[ ! -d $data/store ]]; then
    "$th" --data-dir "$data/store" ingest btc --network litecoin-regtest \
        --blocks-dir "$data/sim/blocks"
fi
python3 - "$data" "$th" <<'PY'
import csv, json, random, subprocess, sys
d, th = sys.argv[1], sys.argv[2]
t = json.load(open(f"{d}/sim/truth.json"))
chain = t["utxo_chain"]
def query(*args):
    return json.loads(subprocess.run([th, "--data-dir", f"{d}/store", "--json", *args],
                                     check=True, capture_output=True).stdout)
# The theft's block time (the truth's times count from the scenario's start).
since = query("tx", t["incident"]["txs"][0], "--chain", chain)[0]["time"]
labeled = {r["address"] for r in csv.DictReader(open(f"{d}/sim/labels.csv"))}
heist = []
for tx in t["utxo_txs"]:
    for o in tx["outputs"]:
        a = o["address"]
        if o["stolen"] > 0 and a and a not in labeled and a not in heist:
            heist.append(a)
users = [a["address"] for a in t["addresses"]
         if a["entity"].startswith("user") and a["address"] not in labeled]
random.seed(1)
random.shuffle(users)
picked = []
for a in users:  # users that send something after the theft
    if len(picked) == 100:
        break
    view = query("address", a, "--chain", chain, "--limit", "1000000")[0]
    if any(x["sent"] > 0 and x["time"] >= since for x in view["txs"]):
        picked.append(a)
for name, addrs in [("heist", heist[:100]), ("users", picked)]:
    json.dump({"name": f"{name}: {len(addrs)} addresses",
               "sources": [{"chain": chain, "address": a, "since": since} for a in addrs]},
              open(f"{d}/{name}.json", "w"), indent=1)
PY
for inc in heist users; do
    echo "== $inc, with the simulator's labels"
    "$th" --data-dir "$data/store" bench trace --incident "$data/$inc.json" \
        --labels "$data/sim/labels.csv" --max-hops 10
    echo "== $inc, haircut without labels"
    "$th" --data-dir "$data/store" bench trace --incident "$data/$inc.json" \
        --policy haircut --max-hops 10 || true
done
