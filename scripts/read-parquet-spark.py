#!/usr/bin/env python3
"""Reads a tracehound Parquet export (schema version 1) with Apache Spark and prints JSON.

Usage: read-parquet-spark.py DIR

Every table listed in DIR's manifest is read the way a Spark user would read it,
`spark.read.parquet("DIR/<table>")`, with the `chain=<name>` directories discovered as a
partition column. Printed on stdout, per table: its rows, and per chain (the partition, or
the `chain` column of tables that are not partitioned) its rows and the exact sum of its main
amount column as a decimal string. Spark runs offline: local[1], no UI, bound to 127.0.0.1.
"""

import json
import os
import sys

# The main amount column of each table (tables without one report rows only).
AMOUNTS = {
    "blocks": "tx_count",
    "txs": "output_value",
    "inputs": "value",
    "outputs": "value",
    "addresses": "balance",
    "address_txs": "received",
    "transfers": "amount",
    "links": "in_amount",
    "labels": None,
    "entities": None,
    "incidents": "amount",
    "trace_hops": "tainted",
    "trace_endpoints": "amount",
}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: read-parquet-spark.py DIR")
    root = os.path.abspath(sys.argv[1])
    manifest_path = os.path.join(root, "_tracehound.json")
    try:
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        sys.exit(f"{root}: no _tracehound.json: not a complete tracehound export")
    if manifest.get("format") != "tracehound-parquet" or manifest.get("schema_version") != 1:
        sys.exit(f"{manifest_path}: not a tracehound-parquet export of schema version 1")

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("tracehound-read-parquet")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
        # `chain=<name>` is text, whatever it looks like.
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    out = {"format": manifest["format"], "schema_version": manifest["schema_version"], "tables": {}}
    for table, entry in sorted(manifest["tables"].items()):
        if not entry["files"]:
            # No rows, so no file: nothing for Spark to infer a schema from.
            out["tables"][table] = {"rows": 0, "chains": {}, "columns": []}
            continue
        df = spark.read.parquet(os.path.join(root, table))
        amount = AMOUNTS.get(table)
        aggs = [F.count(F.lit(1)).alias("rows")]
        if amount is not None:
            aggs.append(F.sum(F.col(amount)).alias("sum"))
        by_chain = {}
        for row in df.groupBy("chain").agg(*aggs).collect():
            by_chain[row["chain"]] = {
                "rows": row["rows"],
                # Exact: sums of Decimal and unsigned columns are Decimals, printed in full.
                "sum": None if amount is None or row["sum"] is None else str(row["sum"]),
            }
        out["tables"][table] = {
            "rows": df.count(),
            "chains": by_chain,
            "columns": df.columns,
        }
    spark.stop()
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
