#!/usr/bin/env python3
"""Fits the batch jobs' benchmark (bench/jobs-run.sh's jobs-bench.jsonl) and extrapolates it.

For each job and engine, time is fitted by least squares as t = fixed + per_unit * work, where
work is rows read times iterations (each iteration of balances, cluster and trace scans its
tables again; exposure scans them once per hop in each direction, its iterations being the
hops). `per_unit` times the machine's cores is the cost in core-microseconds per row and
iteration; `fixed` is what does not grow with the data (per-query planning and scheduling).

The account trace (bench/jobs-account.sh's jobs-account.jsonl, given with --account) is
fitted the same way, its work being transfers times iterations, and extrapolated to
Ethereum's transfers.

The extrapolation to full histories multiplies per_unit by the work of the assumed sizes
below. The assumptions are round figures, stated so they can be changed:

    python3 bench/jobs-extrapolate.py target/bench-data/jobs/jobs-bench.jsonl \
        [--account target/bench-data/jobs-account/jobs-account.jsonl] [--cores 2]
"""
import argparse
import json

# Full-history sizes (assumptions, late 2026, rounded): Bitcoin about 1.25 B txs with about
# 3.4 B outputs and 3.0 B inputs; Ethereum about 6 B transfers (native, internal and token).
UTXO_ROWS = 6.4e9
ACCOUNT_ROWS = 6.0e9
# Iterations at full size (assumptions): co-spend clustering's star rounds took 6 and 10
# iterations on the 4,000- and 12,000-block simulations, taken as 30; a 10-hop trace iterates
# as deep as its longest tainted path (13-18 simulated), taken as 20; exposure runs 3 hops.
FULL = {
    "balances": (UTXO_ROWS + ACCOUNT_ROWS, 1),
    "cluster": (UTXO_ROWS, 30),
    "trace": (UTXO_ROWS, 20),
    "exposure": (UTXO_ROWS, 3),
    # An account trace iterates as deep as its longest chain of tainted ledgers (11 in the
    # simulated heist at every size), taken as 20 like the UTXO trace.
    "account trace": (ACCOUNT_ROWS, 20),
}


def fit(points):
    """Least squares t = a + b*x over (x, t) points; b >= 0."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    mt = sum(t for _, t in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    b = sum((x - mx) * (t - mt) for x, t in points) / sxx if sxx else 0.0
    b = max(b, 0.0)
    return mt - b * mx, b


def main():
    p = argparse.ArgumentParser()
    p.add_argument("results")
    p.add_argument("--account", help="bench/jobs-account.sh's jobs-account.jsonl")
    p.add_argument("--cores", type=int, default=2, help="cores of the measured machine")
    args = p.parse_args()
    rows = [json.loads(line) for line in open(args.results) if line.strip()]
    series = {}
    for r in rows:
        for job, m in r["jobs"].items():
            work = m["rows_read"] * max(m["iterations"], 1)
            series.setdefault((job, r["engine"]), []).append((work, m["seconds"]))
    if args.account:
        for line in open(args.account):
            if line.strip():
                r = json.loads(line)
                work = r["transfers"] * max(r["iterations"], 1)
                series.setdefault(("account trace", r["engine"]), []).append(
                    (work, r["seconds"]))
    print("job           engine      fixed s  core-us/row-iter  full history core-hours")
    for (job, engine), pts in sorted(series.items()):
        if len(pts) < 2:
            continue
        fixed, per = fit(pts)
        core_us = per * args.cores * 1e6
        full_rows, iters = FULL[job]
        core_hours = full_rows * iters * per * args.cores / 3600
        print(f"{job:13} {engine:11} {fixed:7.1f}  {core_us:16.3f}  {core_hours:10.1f}")


if __name__ == "__main__":
    main()
