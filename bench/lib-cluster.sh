# Shared by the jobs benchmarks (sourced): a Ballista cluster on this machine, and peak
# memory of its processes. Expects $tb (the tracehound-ballista binary).

pids=()

stop_cluster() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}

# Peak resident memory of a running process, MiB.
peak_mib() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# Peak memory of each executor of the running cluster, MiB, comma-separated.
executors_peak_mib() {
    local out=""
    for p in "${pids[@]:1}"; do out+="$(peak_mib "$p"),"; done
    echo "${out%,}"
}

cluster() { # EXECUTORS DIR: a scheduler and that many executors of 2 task slots each
    local n=$1 dir=$2 port=50050
    rm -rf "$dir" && mkdir -p "$dir"
    "$tb" scheduler --bind "127.0.0.1:$port" >"$dir/scheduler.log" 2>&1 &
    pids+=($!)
    sleep 1
    for i in $(seq 1 "$n"); do
        mkdir -p "$dir/executor-$i"
        "$tb" executor --scheduler "127.0.0.1:$port" --bind 127.0.0.1 \
            --flight-port $((port + i)) --work-dir "$dir/executor-$i" --tasks 2 \
            >"$dir/executor-$i.log" 2>&1 &
        pids+=($!)
    done
    sleep 3
}

# Runs `bench DATA LABEL [ENGINE ARGS...]` (the caller's) embedded, then on a cluster of 1 and
# of 2 executors (2 task slots each, shuffles as wide as the slots).
on_every_engine() { # DATA
    local data=$1
    bench "$data" embedded
    for n in 1 2; do
        cluster "$n" "$data/cluster"
        bench "$data" "ballista-$n" --engine ballista --scheduler df://127.0.0.1:50050 \
            --partitions $((2 * n)) ${JOBS_BENCH_TIMEOUT:+--timeout "$JOBS_BENCH_TIMEOUT"}
        stop_cluster
    done
}
