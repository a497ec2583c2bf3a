#!/usr/bin/env bash
# The trace job on an account chain (issue #11): the simulator's EVM heist at each given
# size (EVM blocks of 200 background txs), imported, its drain saved as an incident and
# exported as Parquet; then a 10-hop haircut trace of it by the native engine (`tracehound
# trace --no-links`, the reference) and by the batch job embedded and on a Ballista cluster
# of 1 and of 2 executors on this machine. Every job's totals are checked against the
# native trace's.
#
#   bench/jobs-account.sh [EVM_BLOCKS...]      (default: 2000 8000)
#
# JOBS_BENCH_PREPARE_ONLY=1 makes the data sets and stops; JOBS_BENCH_NO_BUILD=1 takes the
# release binaries as they are.
#
# Prints one JSON line per (size, engine) and writes them to $data/jobs-account.jsonl, with
# the peak RSS of the client and of each executor. Release builds, in
# ${CARGO_TARGET_DIR:-target}/release. Needs python3.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
if [[ $# -gt 0 ]]; then sizes=("$@"); else sizes=(2000 8000); fi
bin=${CARGO_TARGET_DIR:-$root/target}/release
th=$bin/tracehound
tb=$bin/tracehound-ballista
if [[ -z ${JOBS_BENCH_NO_BUILD:-} ]]; then
    cargo build --release --manifest-path "$root/Cargo.toml" -p tracehound-cli \
        --features ballista -p tracehound-ballista
fi
base=${JOBS_BENCH_DATA:-$root/target/bench-data/jobs-account}
results=$base/jobs-account.jsonl
mkdir -p "$base"
: >"$results"
# shellcheck source=lib-cluster.sh
. "$here/lib-cluster.sh"
trap stop_cluster EXIT

prepare() { # EVM-BLOCKS DATA -> $data with store, incident and dataset
    local blocks=$1 data=$2
    if [[ ! -f $data/sim/evm/truth.json ]]; then
        "$th" sim run --to-files "$data/sim" --out "$data/sim" --blocks 267 \
            --txs-per-block 2 --evm-blocks "$blocks" --seed 1 >/dev/null
    fi
    if [[ ! -f $data/dataset/_tracehound.json ]]; then
        rm -rf "$data/store" "$data/dataset"
        "$th" --data-dir "$data/store" import transfers "$data/sim/evm/transfers.csv" >/dev/null
        python3 - "$data" <<'PY'
import json, sys
d = sys.argv[1]
t = json.load(open(f"{d}/sim/evm/truth.json"))
open(f"{d}/incident-args", "w").write(
    f"--chain evm-{t['chain_id']} " + " ".join(f"--tx={x}" for x in t["incident"]["txs"]))
PY
        # shellcheck disable=SC2046
        "$th" --data-dir "$data/store" incident create evm-heist $(cat "$data/incident-args") \
            >/dev/null
        "$th" --data-dir "$data/store" export parquet "$data/dataset" >/dev/null
    fi
}

native() { # DATA: the reference trace, with its time and memory
    local data=$1 t0
    t0=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$data/native-rss" "$th" --data-dir "$data/store" --json trace \
        --incident evm-heist --policy haircut --max-hops 10 --no-links \
        --max-history 100000000 --max-nodes 100000000 --max-edges 1000000000 \
        >"$data/native.json"
    echo "$(date +%s.%N) $t0" >"$data/native-time"
}

bench() { # DATA ENGINE-LABEL [ENGINE ARGS...]
    local data=$1 label=$2
    shift 2
    local t0 out
    find "$data/dataset" -type f -exec cat {} + >/dev/null
    t0=$(date +%s.%N)
    out=$(/usr/bin/time -f '%M' -o "$data/client-rss" "$th" --data-dir "$data/store" --json \
        jobs run trace --dataset "$data/dataset" --out "$data/out-$label" \
        --incident evm-heist --policy haircut --max-hops 10 "$@")
    python3 - "$data" "$label" "$out" "$(cat "$data/client-rss")" "$(executors_peak_mib)" \
        "$(date +%s.%N)" "$t0" <<'PY' | tee -a "$results"
import json, sys
d, label, out, client_kib, executors, t1, t0 = sys.argv[1:]
job = json.loads(out)
native = json.load(open(f"{d}/native.json"))
n1, n0 = map(float, open(f"{d}/native-time").read().split())
want = {(a["chain"], a["asset"]): int(a["stolen"]) for a in native["summary"]["assets"]
        if int(a["stolen"]) > 0}
got = {(t["chain"], t["asset"]): int(t["stolen"]) for t in job["totals"] if int(t["stolen"]) > 0}
assert got == want, f"stolen per asset: job {got}, native {want}"
placed = {(t["chain"], t["asset"]): (int(t["placed"]), int(t["still_moving"]), int(t["fees"]))
          for t in job["totals"]}
print(json.dumps({
    "evm_blocks": int(d.rstrip("/").rsplit("/b", 1)[1]), "engine": label,
    "transfers": json.load(open(f"{d}/dataset/_tracehound.json"))["tables"]["transfers"]["rows"],
    "seconds": round(job["seconds"], 2), "iterations": job["iterations"],
    "rows": job["rows"], "client_peak_mib": round(int(client_kib) / 1024),
    "executor_peak_mib": [int(x) for x in executors.split(",") if x],
    "wall_seconds": round(float(t1) - float(t0), 2),
    "native_seconds": round(n1 - n0, 2),
    "native_peak_mib": round(int(open(f"{d}/native-rss").read()) / 1024),
    "native_endpoints": len(native["endpoints"]),
    "stolen_equal": True, "placed": {f"{c} {a}": v for (c, a), v in placed.items()}}))
PY
}

for blocks in "${sizes[@]}"; do
    data=$base/b$blocks
    mkdir -p "$data"
    prepare "$blocks" "$data"
    [[ -n ${JOBS_BENCH_PREPARE_ONLY:-} ]] && continue
    native "$data"
    on_every_engine "$data"
done
