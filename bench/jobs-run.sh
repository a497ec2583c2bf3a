#!/usr/bin/env bash
# The batch jobs' benchmark (issue #11): the simulator's UTXO heist at each given size,
# ingested, labeled and exported as Parquet, then `tracehound bench jobs` (balances, cluster,
# a 10-hop haircut trace of the heist, 3-hop exposure to the thief's addresses labeled
# sanctioned) embedded and on a Ballista cluster of 1 and of 2 executors on this machine.
#
#   bench/jobs-run.sh [BLOCKS...]      (default: 500 1500 4000; 200 txs a block)
#
# JOBS_BENCH_PREPARE_ONLY=1 makes the data sets and stops (to make them while the machine is
# busy with something else, and measure later).
#
# Prints one JSON line per (size, engine) and writes them to $data/jobs-bench.jsonl, with
# the peak RSS of the client and of each executor. Release builds, in
# ${CARGO_TARGET_DIR:-target}/release. Needs python3.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
if [[ $# -gt 0 ]]; then sizes=("$@"); else sizes=(500 1500 4000); fi
bin=${CARGO_TARGET_DIR:-$root/target}/release
th=$bin/tracehound
tb=$bin/tracehound-ballista
cargo build --release --manifest-path "$root/Cargo.toml" -p tracehound-cli --features ballista \
    -p tracehound-ballista
base=${JOBS_BENCH_DATA:-$root/target/bench-data/jobs}
results=$base/jobs-bench.jsonl
mkdir -p "$base"
: >"$results"
# shellcheck source=lib-cluster.sh
. "$here/lib-cluster.sh"
trap stop_cluster EXIT

prepare() { # BLOCKS -> $data with store, labels, incident and dataset
    local blocks=$1 data=$2
    if [[ ! -f $data/sim/truth.json ]]; then
        "$th" sim run --to-files "$data/sim" --out "$data/sim" --blocks "$blocks" \
            --txs-per-block 200 --users 200000 --evm-blocks 0 --seed 1 >/dev/null
    fi
    if [[ ! -f $data/dataset/_tracehound.json ]]; then
        rm -rf "$data/store" "$data/dataset"
        "$th" --data-dir "$data/store" ingest btc --network litecoin-regtest \
            --blocks-dir "$data/sim/blocks" >/dev/null
        "$th" --data-dir "$data/store" labels import --format csv "$data/sim/labels.csv" >/dev/null
        # The thief's addresses (the outputs of the theft), labeled sanctioned: the exposure
        # job's origins, as a sanctions list names a heist's addresses.
        python3 - "$data" <<'PY'
import json, sys
d = sys.argv[1]
t = json.load(open(f"{d}/sim/truth.json"))
stolen = set(t["incident"]["txs"])
rows = ["chain,address,label,category,source,confidence"]
seen = set()
for tx in t["utxo_txs"]:
    if tx["txid"] in stolen:
        for o in tx["outputs"]:
            a = o["address"]
            if a and a not in seen:
                seen.add(a)
                rows.append(f'{t["utxo_chain"]},{a},thief,sanctioned,bench,1')
open(f"{d}/sanctioned.csv", "w").write("\n".join(rows) + "\n")
args = [f"--tx={x}" for x in t["incident"]["txs"]]
open(f"{d}/incident-args", "w").write(" ".join(args))
PY
        "$th" --data-dir "$data/store" labels import --format csv "$data/sanctioned.csv" >/dev/null
        # shellcheck disable=SC2046
        "$th" --data-dir "$data/store" incident create heist --chain litecoin-regtest \
            $(cat "$data/incident-args") >/dev/null
        "$th" --data-dir "$data/store" export parquet "$data/dataset" >/dev/null
    fi
}

bench() { # DATA ENGINE-LABEL [ENGINE ARGS...]
    local data=$1 label=$2
    shift 2
    local t0 out
    # Every engine starts with the dataset in the page cache (the first job would otherwise
    # pay for reading it from disk).
    find "$data/dataset" -type f -exec cat {} + >/dev/null
    t0=$(date +%s.%N)
    out=$(/usr/bin/time -f '%M' -o "$data/client-rss" "$th" --data-dir "$data/store" --json \
        bench jobs --dataset "$data/dataset" --incident heist --max-hops 10 --hops 3 "$@")
    python3 - "$data" "$label" "$out" "$(cat "$data/client-rss")" "$(executors_peak_mib)" \
        "$(du -sb "$data/dataset" | cut -f1)" "$(date +%s.%N)" "$t0" <<'PY' | tee -a "$results"
import json, sys
d, label, out, client_kib, executors, dataset_bytes, t1, t0 = sys.argv[1:]
rows = json.loads(out)
print(json.dumps({
    "blocks": int(d.rstrip("/").rsplit("/b", 1)[1]), "engine": label,
    "dataset_bytes": int(dataset_bytes),
    "client_peak_mib": round(int(client_kib) / 1024),
    "executor_peak_mib": [int(x) for x in executors.split(",") if x],
    "wall_seconds": round(float(t1) - float(t0), 2),
    "jobs": {r["job"].lower(): {"seconds": round(r["seconds"], 2), "rows_read": r["rows_read"],
                                "rows_per_second": round(r["rows_per_second"]),
                                "iterations": r["iterations"], "result_rows": r["result_rows"]}
             for r in rows}}))
PY
}

for blocks in "${sizes[@]}"; do
    data=$base/b$blocks
    mkdir -p "$data"
    prepare "$blocks" "$data"
    [[ -n ${JOBS_BENCH_PREPARE_ONLY:-} ]] && continue
    on_every_engine "$data"
done
