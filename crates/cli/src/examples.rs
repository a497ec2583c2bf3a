//! An example for every command's `--help`, kept in one table so none is forgotten (a test
//! checks every command has one).

/// (command path, example lines).
const EXAMPLES: &[(&str, &str)] = &[
    (
        "ingest btc",
        "tracehound ingest btc --network bitcoin --blocks-dir ~/.bitcoin/blocks\n  tracehound ingest btc --network litecoin-regtest --rpc http://127.0.0.1:19443 --rpc-user u --rpc-password p",
    ),
    (
        "ingest evm",
        "tracehound ingest evm --chain 1 --rpc http://127.0.0.1:8545 --from 17000000 --to 17001000",
    ),
    ("status", "tracehound status --json"),
    (
        "tx",
        "tracehound tx 4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b",
    ),
    (
        "address",
        "tracehound address 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa --limit 20",
    ),
    (
        "export parquet",
        "tracehound export parquet ./parquet\n  tracehound export parquet ./parquet --partition-blocks 10000 --force   # replace an older export",
    ),
    (
        "demo",
        "tracehound demo\n  tracehound demo --serve --bind 127.0.0.1:8080   # then open http://127.0.0.1:8080",
    ),
    (
        "bench ingest",
        "tracehound bench ingest --network bitcoin --blocks-dir target/bench-data/btc/blocks",
    ),
    (
        "bench parse",
        "tracehound bench parse --network bitcoin --blocks-dir target/bench-data/btc/blocks",
    ),
    (
        "bench gen",
        "tracehound bench gen --dir target/bench-data/btc --blocks 2000",
    ),
    (
        "bench ingest-evm",
        "tracehound bench ingest-evm --chain 1 --rpc http://127.0.0.1:8545 --to 17001000",
    ),
    (
        "bench trace",
        "tracehound bench trace --incident users.json --patterns",
    ),
    ("bench cluster", "tracehound bench cluster"),
    ("bench screen", "tracehound bench screen --samples 100000"),
    (
        "bench live",
        "tracehound bench live --policy haircut --policy poison   # the demo's heist, block by block\n  tracehound --data-dir /tmp/live bench live --blocks-dir sim/blocks --network litecoin-regtest --tx TXID --from 3950 --blocks 50",
    ),
    (
        "bench jobs",
        "tracehound bench jobs --dataset ./parquet --incident heist",
    ),
    (
        "sim run",
        "tracehound sim run --to-files files --out scenario --seed 7",
    ),
    (
        "sim score",
        "tracehound sim score --truth scenario --result trace.json",
    ),
    (
        "trace",
        "tracehound trace --incident hot-wallet --policy lifo\n  tracehound trace --chain ethereum --source 0x098b716b8aaf21512996dc57eb0615e2383e2f96 --since 2022-03-23 --json",
    ),
    (
        "incident create",
        "tracehound incident create hot-wallet --chain bitcoin --tx 4a5e1e4b…a33b --notes \"hot wallet drained\"",
    ),
    ("incident list", "tracehound incident list"),
    ("incident show", "tracehound incident show hot-wallet"),
    (
        "import transfers",
        "tracehound import transfers transfers.csv --links links.jsonl",
    ),
    (
        "labels import",
        "tracehound labels import --format tagpack packs/*.yaml\n  tracehound labels import --format ofac sanctioned_addresses_ETH.txt",
    ),
    (
        "labels list",
        "tracehound labels list --category exchange --chain ethereum --limit 50",
    ),
    ("labels search", "tracehound labels search lazarus"),
    (
        "labels show",
        "tracehound labels show 0x098b716b8aaf21512996dc57eb0615e2383e2f96 --chain ethereum",
    ),
    (
        "labels add",
        "tracehound labels add 0xabc… --chain ethereum --label \"Exchange X deposit\" --category exchange --confidence 90",
    ),
    (
        "labels remove",
        "tracehound labels remove 0xabc… --chain ethereum --analyst ana",
    ),
    ("labels sources", "tracehound labels sources"),
    ("labels categories", "tracehound labels categories"),
    ("cluster", "tracehound cluster --chain bitcoin --change"),
    (
        "jobs run",
        "tracehound jobs run balances --dataset ./parquet --out ./jobs\n  tracehound jobs run cluster --dataset ./parquet --out ./jobs --json\n  tracehound jobs run trace --dataset ./parquet --out ./jobs --incident heist --policy poison --max-hops 8",
    ),
    (
        "entity show",
        "tracehound entity show --chain bitcoin 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
    ),
    ("screen index", "tracehound screen index"),
    (
        "screen",
        "tracehound screen index && tracehound screen --chain ethereum 0xabc…\n  tracehound screen --file deposits.csv --json",
    ),
    (
        "patterns",
        "tracehound patterns --incident hot-wallet\n  tracehound patterns --address 0xabc… --chain ethereum --hops 2",
    ),
    (
        "report",
        "tracehound trace --incident hot-wallet   # keeps the result of a saved incident\n  tracehound report --incident hot-wallet --format html --out report.html\n  tracehound report --incident hot-wallet --endpoint 0xabc… --format json",
    ),
    (
        "serve",
        "tracehound token create --name me --role analyst\n  tracehound serve --bind 127.0.0.1:8080\n  curl -H 'Authorization: Bearer th_…' localhost:8080/api/v1/status",
    ),
    (
        "token create",
        "tracehound token create --name exchange-x --role read",
    ),
    ("token list", "tracehound token list"),
    ("token revoke", "tracehound token revoke 3f2a9c1d0b7e4f55"),
    (
        "watch",
        "tracehound subscription add --url https://hooks.example.org/tracehound\n  tracehound watch --chain bitcoin --rpc http://127.0.0.1:8332 --rpc-cookie ~/.bitcoin/.cookie --zmq tcp://127.0.0.1:28332\n  tracehound watch --chain ethereum --rpc http://127.0.0.1:8545 --incident hot-wallet --confirmations 12",
    ),
    ("alerts list", "tracehound alerts list --after 120 --json"),
    (
        "alerts redeliver",
        "tracehound alerts redeliver --subscription wh_0141386307a10f40 --seq 42",
    ),
    (
        "subscription add",
        "tracehound subscription add --url https://hooks.example.org/tracehound --kind reached_service --incident hot-wallet",
    ),
    ("subscription list", "tracehound subscription list"),
    (
        "subscription remove",
        "tracehound subscription remove wh_0141386307a10f40",
    ),
];

/// `cmd` with an example after the help of each of its commands.
pub(crate) fn with_examples(cmd: clap::Command) -> clap::Command {
    walk(cmd, "")
}

fn walk(mut cmd: clap::Command, path: &str) -> clap::Command {
    if let Some((_, ex)) = EXAMPLES.iter().find(|(p, _)| *p == path) {
        cmd = cmd.after_help(format!("Example:\n  {ex}"));
    }
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        let sub_path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path} {name}")
        };
        cmd = cmd.mut_subcommand(&name, |s| walk(s, &sub_path));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::{EXAMPLES, with_examples};

    fn leaves(cmd: &clap::Command, path: &str, out: &mut Vec<(String, String)>) {
        let subs: Vec<&clap::Command> = cmd.get_subcommands().collect();
        let runnable = subs.is_empty()
            || cmd.is_subcommand_negates_reqs_set()
            || !cmd.is_subcommand_required_set();
        if runnable && !path.is_empty() {
            let help = cmd.clone().render_long_help().to_string();
            out.push((path.to_string(), help));
        }
        for s in subs {
            let p = if path.is_empty() {
                s.get_name().to_string()
            } else {
                format!("{path} {}", s.get_name())
            };
            leaves(s, &p, out);
        }
    }

    #[test]
    fn every_command_has_an_example() {
        let cmd = with_examples(crate::args::Cli::command());
        let mut all = Vec::new();
        leaves(&cmd, "", &mut all);
        let hidden = ["sim record", "sim replay"];
        for (path, help) in &all {
            if hidden.contains(&path.as_str()) {
                continue;
            }
            assert!(
                help.contains("Example:"),
                "`tracehound {path} --help` has no example"
            );
        }
        // And no example names a command that does not exist, or a flag it does not take.
        for (path, ex) in EXAMPLES {
            assert!(
                all.iter().any(|(p, _)| p == path),
                "example for unknown command {path}"
            );
            for line in ex.lines().flat_map(|l| l.split("&&")) {
                let line = line.split("   #").next().unwrap_or_default().trim();
                if !line.starts_with("tracehound ") {
                    continue;
                }
                let words = split(line);
                if let Err(e) = cmd.clone().try_get_matches_from(&words) {
                    panic!("example {line:?} does not parse: {e}");
                }
            }
        }
    }

    /// Shell-like words: whitespace-separated, double quotes grouping.
    fn split(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word = String::new();
        let mut quoted = false;
        for c in line.chars() {
            match c {
                '"' => quoted = !quoted,
                c if c.is_whitespace() && !quoted => {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                }
                c => word.push(c),
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
        words
    }
}
