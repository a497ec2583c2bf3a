//! `peer-bench`: the benchmark's data generator and its peer.
//!
//! - `gen --dir DIR --blocks N --txs-per-block K [--xor] [--seed S] [--stale-every N]
//!   [--out-of-order] [--chain NAME]` writes Core-format blk files with
//!   `tracehound_btc::synth` and prints the summary as JSON.
//! - `peer --dir DIR [--filter FILE] [--estimated-utxos N] [--threads N]` runs
//!   bitcoin-block-parser's input-resolving `UtxoParser` over every block (its filter pass and
//!   its resolving pass, from a deleted filter file each run), touches every input's resolved
//!   value and every output, and prints JSON with the counts, seconds and peak RSS.
//! - `compare OURS.json PEER.json` prints the two side by side.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use bitcoin_block_parser::blocks::ParserOptions;
use bitcoin_block_parser::utxos::{OutputStatus, UtxoBlock, UtxoParser};
use serde_json::{Value, json};
use tracehound_btc::synth::{self, SynthConfig};
use tracehound_core::Chain;

/// The peer measured (pinned in Cargo.toml).
const PEER: &str = "bitcoin-block-parser 0.5.3";

const USAGE: &str = "usage:
  peer-bench gen --dir DIR --blocks N --txs-per-block K [--xor] [--seed S] [--stale-every N] [--out-of-order] [--chain bitcoin]
  peer-bench peer --dir DIR [--filter FILE] [--estimated-utxos N] [--threads N]
  peer-bench compare OURS.json PEER.json   (OURS.json may be missing)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("gen") => generate(&Flags::parse(&args[1..])),
        Some("peer") => peer(&Flags::parse(&args[1..])),
        Some("compare") if args.len() == 3 => compare(Path::new(&args[1]), Path::new(&args[2])),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peer-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--name value` and `--switch` flags.
struct Flags(Vec<(String, Option<String>)>);

impl Flags {
    fn parse(args: &[String]) -> Flags {
        let mut out = Vec::new();
        let mut i = 0;
        while let Some(a) = args.get(i) {
            let name = a.trim_start_matches("--").to_string();
            match args.get(i + 1) {
                Some(v) if !v.starts_with("--") => {
                    out.push((name, Some(v.clone())));
                    i += 2;
                }
                _ => {
                    out.push((name, None));
                    i += 1;
                }
            }
        }
        Flags(out)
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    fn str(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    fn num<T: std::str::FromStr>(&self, name: &str, default: Option<T>) -> Result<T, String> {
        match self.str(name) {
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: not a number: {v}")),
            None => default.ok_or_else(|| format!("--{name} is required\n{USAGE}")),
        }
    }

    fn dir(&self) -> Result<PathBuf, String> {
        self.str("dir")
            .map(PathBuf::from)
            .ok_or_else(|| format!("--dir is required\n{USAGE}"))
    }
}

/// Peak resident memory of this process (Linux `VmHWM`), in bytes.
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn generate(flags: &Flags) -> Result<(), String> {
    let chain: Chain = flags
        .str("chain")
        .unwrap_or("bitcoin")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let cfg = SynthConfig {
        chain,
        blocks: flags.num("blocks", None)?,
        txs_per_block: flags.num("txs-per-block", None)?,
        seed: flags.num("seed", Some(1))?,
        xor_key: flags
            .has("xor")
            .then_some([0x3a, 0x91, 0x0c, 0x5e, 0xd2, 0x47, 0x88, 0x1f]),
        out_of_order: flags.has("out-of-order"),
        stale_every: flags
            .str("stale-every")
            .map(|v| v.parse().map_err(|_| format!("--stale-every: {v}")))
            .transpose()?,
        ..SynthConfig::default()
    };
    let dir = flags.dir()?;
    let started = Instant::now();
    let mut last_report = Instant::now();
    let summary = synth::write_blk_dir_with_progress(&dir, &cfg, |h| {
        if last_report.elapsed().as_secs() >= 10 {
            last_report = Instant::now();
            eprintln!(
                "gen: block {h} of {} after {:.0}s",
                cfg.blocks,
                started.elapsed().as_secs_f64()
            );
        }
    })
    .map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    let mut out = serde_json::to_value(&summary).map_err(|e| e.to_string())?;
    if let Value::Object(map) = &mut out {
        map.insert("chain".into(), json!(chain.name()));
        map.insert("seconds".into(), json!(seconds));
        map.insert(
            "txs_per_minute".into(),
            json!(summary.txs as f64 / seconds.max(1e-9) * 60.0),
        );
        map.insert("peak_rss_bytes".into(), json!(peak_rss()));
    }
    println!("{out}");
    Ok(())
}

/// What one block contributes; summed over the run.
#[derive(Default, Clone, Copy)]
struct Tally {
    blocks: u64,
    txs: u64,
    inputs: u64,
    outputs: u64,
    input_sat: u64,
    output_sat: u64,
    spent_outputs: u64,
}

impl Tally {
    fn of(block: UtxoBlock) -> Tally {
        let mut t = Tally {
            blocks: 1,
            ..Tally::default()
        };
        for tx in &block.txdata {
            t.txs += 1;
            if !tx.transaction.is_coinbase() {
                for (_input, prevout) in tx.input() {
                    t.inputs += 1;
                    t.input_sat += prevout.value.to_sat();
                }
            }
            for (output, status) in tx.output() {
                t.outputs += 1;
                t.output_sat += output.value.to_sat();
                t.spent_outputs += u64::from(*status == OutputStatus::Spent);
            }
        }
        t
    }

    fn add(&mut self, o: Tally) {
        self.blocks += o.blocks;
        self.txs += o.txs;
        self.inputs += o.inputs;
        self.outputs += o.outputs;
        self.input_sat += o.input_sat;
        self.output_sat += o.output_sat;
        self.spent_outputs += o.spent_outputs;
    }
}

fn peer(flags: &Flags) -> Result<(), String> {
    let dir = flags.dir()?;
    let filter = match flags.str("filter") {
        Some(f) => PathBuf::from(f),
        None => std::env::temp_dir().join(format!("peer-bench-filter-{}.bin", std::process::id())),
    };
    // The filter is the peer's first pass: a run always builds it anew.
    match std::fs::remove_file(&filter) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot delete {}: {e}", filter.display())),
    }
    let dir_s = dir.to_str().ok_or("--dir must be UTF-8")?;
    let filter_s = filter.to_str().ok_or("--filter must be UTF-8")?;
    let mut parser = UtxoParser::new(dir_s, filter_s);
    // Defaults are the peer's own (250M estimated UTXOs, 64 threads); both can be set.
    if let Some(n) = flags.str("estimated-utxos") {
        parser = parser.estimated_utxos(n.parse().map_err(|_| format!("--estimated-utxos: {n}"))?);
    }
    if let Some(n) = flags.str("threads") {
        let num_threads = n.parse().map_err(|_| format!("--threads: {n}"))?;
        parser = parser.with_opts(ParserOptions {
            num_threads,
            ..ParserOptions::default()
        });
    }
    let started = Instant::now();
    let mut total = Tally::default();
    for t in parser.parse(Tally::of).map_err(|e| format!("{e:#}"))? {
        total.add(t);
    }
    let seconds = started.elapsed().as_secs_f64();
    let filter_bytes = std::fs::metadata(&filter).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(&filter);
    let secs = seconds.max(1e-9);
    let out = json!({
        "peer": PEER,
        "blocks": total.blocks,
        "txs": total.txs,
        "inputs": total.inputs,
        "outputs": total.outputs,
        "seconds": seconds,
        "peak_rss_bytes": peak_rss(),
        "blocks_per_s": total.blocks as f64 / secs,
        "txs_per_s": total.txs as f64 / secs,
        "inputs_per_s": total.inputs as f64 / secs,
        "input_sat": total.input_sat,
        "output_sat": total.output_sat,
        "spent_outputs": total.spent_outputs,
        "filter_bytes": filter_bytes,
    });
    println!("{out}");
    Ok(())
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // The last line that parses: tools may print progress before their JSON.
    text.lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<Value>(l.trim())
                .ok()
                .filter(Value::is_object)
        })
        .or_else(|| serde_json::from_str(&text).ok())
        .ok_or_else(|| format!("{}: no JSON object", path.display()))
}

fn compare(ours: &Path, peer: &Path) -> Result<(), String> {
    let peer = read_json(peer)?;
    // Without tracehound's figures (its run was skipped) the table has the peer's alone.
    let ran = ours.exists();
    let ours = if ran {
        read_json(ours)?
    } else {
        json!({ "tool": "tracehound (not run)" })
    };
    let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    let rate = |v: &Value, k: &str| num(v, k) / num(v, "seconds");
    let mib = |v: &Value| num(v, "peak_rss_bytes") / (1024.0 * 1024.0);
    let ours_name = ours
        .get("tool")
        .and_then(Value::as_str)
        .unwrap_or("tracehound")
        .to_string();
    let peer_name = peer
        .get("peer")
        .and_then(Value::as_str)
        .unwrap_or("peer")
        .to_string();
    // (name, tracehound, peer, decimals, ratio: None, or Some(lower is better))
    let rows: [(&str, f64, f64, usize, Option<bool>); 8] = [
        (
            "blocks",
            num(&ours, "blocks"),
            num(&peer, "blocks"),
            0,
            None,
        ),
        ("txs", num(&ours, "txs"), num(&peer, "txs"), 0, None),
        (
            "inputs",
            num(&ours, "inputs"),
            num(&peer, "inputs"),
            0,
            None,
        ),
        (
            "seconds",
            num(&ours, "seconds"),
            num(&peer, "seconds"),
            1,
            Some(true),
        ),
        (
            "blocks/s",
            rate(&ours, "blocks"),
            rate(&peer, "blocks"),
            0,
            Some(false),
        ),
        (
            "txs/s",
            rate(&ours, "txs"),
            rate(&peer, "txs"),
            0,
            Some(false),
        ),
        (
            "inputs/s",
            rate(&ours, "inputs"),
            rate(&peer, "inputs"),
            0,
            Some(false),
        ),
        ("peak RSS (MiB)", mib(&ours), mib(&peer), 0, Some(true)),
    ];
    println!(
        "{:<16} {:>22} {:>28} {:>10}",
        "", ours_name, peer_name, "ratio"
    );
    for (name, a, b, decimals, ratio) in rows {
        let ratio = match ratio {
            Some(_) if !ran => String::new(),
            Some(true) => format!("{:.2}x", b / a),
            Some(false) => format!("{:.2}x", a / b),
            None => String::new(),
        };
        let cell = |v: f64| {
            if v.is_nan() {
                "-".to_string()
            } else {
                format!("{v:.decimals$}")
            }
        };
        println!("{name:<16} {:>22} {:>28} {ratio:>10}", cell(a), cell(b));
    }
    if ran {
        println!(
            "(ratio > 1: tracehound better; throughput ratios are tracehound/peer, time and RSS peer/tracehound)"
        );
        for key in ["blocks", "txs", "inputs"] {
            if num(&ours, key) != num(&peer, key) {
                println!(
                    "warning: the two runs counted different {key}: {} vs {}",
                    num(&ours, key),
                    num(&peer, key)
                );
            }
        }
    }
    Ok(())
}
