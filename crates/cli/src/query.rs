//! Query commands: `status`, `tx`, `address`, `export parquet`.

use anyhow::{Context, bail};
use serde::Serialize;
use tracehound_core::LinkFact;
use tracehound_core::{Address, Chain, Hash32};
use tracehound_store::{
    AccountHistoryRow, AccountTxView, AccountView, AddressHistoryRow, AddressView,
};

use crate::args::{AddressArgs, Global, TxArgs};
use crate::ingest::open_store;
use crate::output::{self, coins};

pub(crate) fn status(global: &Global) -> anyhow::Result<()> {
    let store = open_store(global)?;
    let chains = store.status()?;
    if global.json {
        #[derive(Serialize)]
        struct Status<'a> {
            store: String,
            bytes: u64,
            chains: &'a [tracehound_store::ChainStatus],
        }
        let bytes = std::fs::metadata(store.path())
            .map(|m| m.len())
            .unwrap_or(0);
        return output::json(&Status {
            store: store.path().display().to_string(),
            bytes,
            chains: &chains,
        });
    }
    println!("store: {}", store.path().display());
    if chains.is_empty() {
        println!("empty: run `tracehound ingest btc …` or `tracehound demo`");
    }
    for c in &chains {
        match &c.tip {
            Some(t) if c.chain.family() == tracehound_core::ChainFamily::Account => println!(
                "{:<18} tip {} {} ({})  txs {}  transfers {}  addresses {}",
                c.chain.name(),
                t.height,
                t.hash,
                output::time(t.time),
                c.txs,
                c.inputs,
                c.addresses
            ),
            Some(t) => println!(
                "{:<18} tip {} {} ({})  txs {}  inputs {}  outputs {}  addresses {}  utxos {}",
                c.chain.name(),
                t.height,
                t.hash,
                output::time(t.time),
                c.txs,
                c.inputs,
                c.outputs,
                c.addresses,
                c.utxos
            ),
            None => println!("{:<18} no blocks", c.chain.name()),
        }
    }
    Ok(())
}

pub(crate) fn tx(global: &Global, args: &TxArgs) -> anyhow::Result<()> {
    let txid: Hash32 = args.txid.parse()?;
    let store = open_store(global)?;
    let found = store.tx(args.chain, &txid)?;
    let account = store.account_tx(args.chain, &txid)?;
    if !account.is_empty() && found.is_empty() {
        return account_tx(global, &store, &account);
    }
    if found.is_empty() {
        bail!(
            "tx {txid} is not in the store{}",
            args.chain.map_or_else(String::new, |c| format!(" on {c}"))
        );
    }
    let names = Names::open(global)?;
    if global.json {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            tx: &'a tracehound_store::TxView,
            /// The strongest label of each labeled address the tx touches.
            labels: std::collections::BTreeMap<String, String>,
            /// Link facts of the tx (swaps, bridge and mixer legs, memos).
            links: Vec<LinkFact>,
        }
        let mut out = Vec::new();
        for t in &found {
            let addrs = t
                .inputs
                .iter()
                .map(|i| i.address.as_str())
                .chain(t.outputs.iter().filter_map(|o| o.address.as_deref()));
            out.push(Out {
                tx: t,
                labels: names.names(t.chain, addrs)?,
                links: tx_links(&store, t.chain, t.height, t.index)?,
            });
        }
        return output::json(&out);
    }
    for t in &found {
        println!(
            "tx {} on {} at height {} #{} ({}), block {}",
            t.txid,
            t.chain,
            t.height,
            t.index,
            output::time(t.time),
            t.block_hash
        );
        println!(
            "size {} vB {}  in {}  out {}  fee {}{}",
            t.size,
            t.vsize,
            coins(t.input_value),
            coins(t.output_value),
            coins(t.fee),
            if t.coinbase {
                "  (coinbase)"
            } else if t.hogex {
                "  (MWEB integration)"
            } else {
                ""
            }
        );
        for (i, input) in t.inputs.iter().enumerate() {
            println!(
                "  in  {i:>3}  {:>20}  {}{}  <- {}:{} (height {})",
                coins(input.value),
                input.address,
                names.suffix(t.chain, &input.address)?,
                input.prev_txid,
                input.prev_vout,
                input.prev_height
            );
        }
        for o in &t.outputs {
            let to = o
                .address
                .clone()
                .unwrap_or_else(|| format!("OP_RETURN {}", o.data.as_deref().unwrap_or("")));
            let spent = o.spent_by.map_or_else(
                || "unspent".to_string(),
                |(t, i)| format!("spent by {t}:{i}"),
            );
            let named = match &o.address {
                Some(a) => names.suffix(t.chain, a)?,
                None => String::new(),
            };
            println!(
                "  out {:>3}  {:>20}  {}{}  [{}] {}",
                o.vout,
                coins(o.value),
                to,
                named,
                o.kind.name(),
                spent
            );
        }
        print_links(&tx_links(&store, t.chain, t.height, t.index)?);
    }
    Ok(())
}

/// The link facts of tx `index` of `chain`'s block `height`.
fn tx_links(
    store: &tracehound_store::Store,
    chain: tracehound_core::Chain,
    height: u32,
    index: u32,
) -> anyhow::Result<Vec<LinkFact>> {
    Ok(store
        .link_facts(chain, height)?
        .into_iter()
        .filter(|f| match f {
            LinkFact::Within { input, .. } => input.tx_index == index,
            LinkFact::Entry { leg, .. } | LinkFact::Exit { leg, .. } => leg.tx_index == index,
        })
        .collect())
}

fn print_links(facts: &[LinkFact]) {
    for f in facts {
        match f {
            LinkFact::Within {
                kind,
                service,
                input,
                output,
                evidence,
                ..
            } => println!(
                "  link {kind} via {service}: {} {} in (leg {}) → {} {} out to {} (leg {})  [{evidence}]",
                input.amount,
                input.asset,
                input.leg,
                output.amount,
                output.asset,
                output.party,
                output.leg
            ),
            LinkFact::Entry {
                kind,
                service,
                leg,
                id,
                destination,
                evidence,
                ..
            } => println!(
                "  link {kind} entry into {service}: {} {} from {} (leg {}){}{}  [{evidence}]",
                leg.amount,
                leg.asset,
                leg.party,
                leg.leg,
                id.as_deref()
                    .map_or_else(String::new, |i| format!(", id {i}")),
                destination.as_ref().map_or_else(String::new, |d| format!(
                    ", to {}{}",
                    d.address,
                    d.chain
                        .as_deref()
                        .map_or_else(String::new, |c| format!(" on {c}"))
                ))
            ),
            LinkFact::Exit {
                kind,
                service,
                leg,
                reference,
                evidence,
                ..
            } => println!(
                "  link {kind} exit from {service}: {} {} to {} (leg {}){}  [{evidence}]",
                leg.amount,
                leg.asset,
                leg.party,
                leg.leg,
                reference
                    .as_deref()
                    .map_or_else(String::new, |r| format!(", for entry {r}"))
            ),
        }
    }
}

fn account_tx(
    global: &Global,
    store: &tracehound_store::Store,
    found: &[AccountTxView],
) -> anyhow::Result<()> {
    let names = Names::open(global)?;
    if global.json {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            tx: &'a AccountTxView,
            /// The strongest label of each labeled address the tx touches.
            labels: std::collections::BTreeMap<String, String>,
            /// Link facts of the tx (swaps, bridge and mixer legs, memos).
            links: Vec<LinkFact>,
        }
        let mut out = Vec::new();
        for t in found {
            let links = tx_links(store, t.chain, t.height, t.index)?;
            let addrs = [Some(&t.from), t.to.as_ref()]
                .into_iter()
                .flatten()
                .chain(t.transfers.iter().flat_map(|x| [&x.from, &x.to]))
                .map(String::as_str);
            out.push(Out {
                tx: t,
                labels: names.names(t.chain, addrs)?,
                links,
            });
        }
        return output::json(&out);
    }
    for t in found {
        println!(
            "tx {} on {} at height {} #{} ({}), block {}",
            t.hash,
            t.chain,
            t.height,
            t.index,
            output::time(t.time),
            t.block_hash
        );
        println!(
            "from {}  to {}  value {}  {}  gas {} at {}",
            t.from,
            t.to.clone()
                .or_else(|| t.created.as_ref().map(|c| format!("(creates {c})")))
                .unwrap_or_default(),
            t.value,
            if t.success { "succeeded" } else { "FAILED" },
            t.gas_used,
            t.gas_price
        );
        for x in &t.transfers {
            println!(
                "  {:>3} {:<8} {:>28} {:<44} {}{} -> {}{}  [{}]",
                x.sub_index,
                serde_json::to_value(x.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                x.amount.to_string(),
                x.asset,
                x.from,
                names.suffix(t.chain, &x.from)?,
                x.to,
                names.suffix(t.chain, &x.to)?,
                x.source
            );
        }
        print_links(&tx_links(store, t.chain, t.height, t.index)?);
    }
    Ok(())
}

fn account(
    global: &Global,
    args: &AddressArgs,
    found: &[(AccountView, Vec<AccountHistoryRow>)],
) -> anyhow::Result<()> {
    let names = Names::open(global)?;
    if global.json {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            view: &'a AccountView,
            /// Every label of the address, strongest first.
            labels: Vec<tracehound_labels::Tag>,
            offset: usize,
            history: &'a [AccountHistoryRow],
        }
        let mut out = Vec::new();
        for (v, h) in found {
            out.push(Out {
                view: v,
                labels: names.tags(v.chain, &v.address)?,
                offset: args.offset,
                history: h,
            });
        }
        return output::json(&out);
    }
    for (v, hist) in found {
        println!(
            "{} on {} (id {}), {} transfers",
            v.address, v.chain, v.id, v.transfers
        );
        names.print_tags(v.chain, &v.address)?;
        for b in &v.balances {
            println!(
                "  {:<6} {:<44} {:>8}  balance {}  received {}  sent {}",
                b.class,
                b.asset,
                b.symbol.as_deref().unwrap_or(""),
                b.balance,
                b.received,
                b.sent
            );
        }
        for r in hist {
            println!(
                "  {:>8} #{:<5} .{:<3} {}  {}  {}  +{} -{}  [{}]",
                r.flow.height,
                tx_label(r.flow.tx_index),
                r.flow.sub_index,
                r.flow.txid,
                output::time(r.flow.time),
                r.flow.asset,
                r.flow.received,
                r.flow.sent,
                r.source
            );
        }
        let shown = args.offset + hist.len();
        if (shown as u64) < v.transfers {
            println!("  … {} more (--offset {shown})", v.transfers - shown as u64);
        }
    }
    Ok(())
}

pub(crate) fn address(global: &Global, args: &AddressArgs) -> anyhow::Result<()> {
    let store = open_store(global)?;
    let chains: Vec<Chain> = match args.chain {
        Some(c) => vec![c],
        None => store.chains()?,
    };
    let mut parse_errors = Vec::new();
    let mut found: Vec<(AddressView, Vec<AddressHistoryRow>)> = Vec::new();
    let mut accounts: Vec<(AccountView, Vec<AccountHistoryRow>)> = Vec::new();
    for chain in &chains {
        let addr = match Address::parse(*chain, &args.address) {
            Ok(a) => a,
            Err(e) => {
                parse_errors.push(e.to_string());
                continue;
            }
        };
        if let Some(view) = store.address(&addr)? {
            let hist = store.address_history(*chain, view.id, args.offset, args.limit)?;
            found.push((view, hist));
        }
        if let Some(view) = store.account(&addr)? {
            let hist = store.account_history(*chain, view.id, args.offset, args.limit)?;
            accounts.push((view, hist));
        }
    }
    if found.is_empty() && !accounts.is_empty() {
        return account(global, args, &accounts);
    }
    if found.is_empty() {
        if parse_errors.len() == chains.len() && !chains.is_empty() {
            bail!(
                "{:?} is not a valid address of any stored chain:\n  {}",
                args.address,
                parse_errors.join("\n  ")
            );
        }
        if chains.is_empty() {
            bail!("the store is empty: nothing is known of {:?}", args.address);
        }
        bail!(
            "address {:?} has never appeared on {}",
            args.address,
            chains
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let names = Names::open(global)?;
    if global.json {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            view: &'a AddressView,
            /// Every label of the address, strongest first.
            labels: Vec<tracehound_labels::Tag>,
            offset: usize,
            txs: &'a [AddressHistoryRow],
        }
        let mut out = Vec::new();
        for (v, h) in &found {
            out.push(Out {
                view: v,
                labels: names.tags(v.chain, &v.address)?,
                offset: args.offset,
                txs: h,
            });
        }
        return output::json(&out);
    }
    for (v, hist) in &found {
        println!("{} on {} (id {})", v.address, v.chain, v.id);
        names.print_tags(v.chain, &v.address)?;
        println!(
            "balance {}  received {}  sent {}  txs {}",
            coins(v.balance),
            coins(v.received),
            coins(v.sent),
            v.tx_count
        );
        for r in hist {
            println!(
                "  {:>8} #{:<5} {}  {}  +{} -{}",
                r.height,
                r.index,
                r.txid,
                output::time(r.time),
                coins(r.received),
                coins(r.sent)
            );
        }
        let shown = args.offset + hist.len();
        if (shown as u64) < v.tx_count {
            println!("  … {} more (--offset {shown})", v.tx_count - shown as u64);
        }
    }
    Ok(())
}

/// What `export parquet` wrote.
#[derive(serde::Serialize)]
struct ExportReport {
    dir: String,
    schema_version: u64,
    partition_blocks: u32,
    tables: Vec<ExportedTable>,
    seconds: f64,
}

#[derive(serde::Serialize)]
struct ExportedTable {
    table: String,
    rows: u64,
    files: usize,
    bytes: u64,
}

/// The store's tables and the data dir's (labels, entities, incidents, trace results) into
/// one dataset, which appears at `args.dir` only when complete.
pub(crate) fn export_parquet(
    global: &Global,
    args: &crate::args::ExportParquetArgs,
) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    let dir = &args.dir;
    let data = global.data();
    let store = data.open_store()?;
    let bar = if global.json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new_spinner()
    };
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let progress = |table: &str, rows: u64| bar.set_message(format!("{table}: {rows} rows"));
    let writer =
        tracehound_store::dataset::DatasetWriter::create(dir, args.partition_blocks, args.force)?;
    store
        .export_tables(&writer, &progress)
        .with_context(|| format!("exporting the store to {}", dir.display()))?;
    data.export_tables(&store, &writer, &progress)
        .with_context(|| format!("exporting the data dir's tables to {}", dir.display()))?;
    let manifest = writer.finish()?;
    bar.finish_and_clear();
    let report = ExportReport {
        dir: dir.display().to_string(),
        schema_version: manifest.schema_version,
        partition_blocks: manifest.partition_blocks,
        tables: manifest
            .tables
            .iter()
            .map(|(name, t)| ExportedTable {
                table: name.clone(),
                rows: t.rows,
                files: t.files.len(),
                bytes: t.files.iter().map(|f| f.bytes).sum(),
            })
            .collect(),
        seconds: start.elapsed().as_secs_f64(),
    };
    if global.json {
        return output::json(&report);
    }
    for t in &report.tables {
        println!(
            "{:<16} {:>12} rows {:>5} files {:>14} bytes",
            t.table, t.rows, t.files, t.bytes
        );
    }
    println!(
        "schema version {} in {} ({:.1} s)",
        report.schema_version, report.dir, report.seconds
    );
    Ok(())
}

/// A tx index as shown: the pseudo-transactions of account chains by name.
fn tx_label(index: u32) -> String {
    match index {
        tracehound_core::OPENING_TX_INDEX => "open".into(),
        u32::MAX => "block".into(),
        i => i.to_string(),
    }
}

/// The label store of the data dir, if labels were imported: names for the addresses a
/// command shows.
struct Names(Option<std::sync::Arc<tracehound_labels::LabelStore>>);

impl Names {
    fn open(global: &Global) -> anyhow::Result<Names> {
        Ok(Names(crate::labels::label_store(global)?))
    }

    /// Every tag of `address`, strongest first.
    fn tags(&self, chain: Chain, address: &str) -> anyhow::Result<Vec<tracehound_labels::Tag>> {
        match &self.0 {
            Some(s) => Ok(s.tags_of(chain, address)?),
            None => Ok(Vec::new()),
        }
    }

    /// The strongest tag as `label [category]`.
    fn name(&self, chain: Chain, address: &str) -> anyhow::Result<Option<String>> {
        let Some(s) = &self.0 else {
            return Ok(None);
        };
        Ok(s.strongest(chain, address)?
            .map(|t| format!("{} [{}]", t.label, t.category.name())))
    }

    /// The strongest label of each labeled one of `addresses`.
    fn names<'a>(
        &self,
        chain: Chain,
        addresses: impl Iterator<Item = &'a str>,
    ) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
        let mut out = std::collections::BTreeMap::new();
        for a in addresses {
            if let Some(l) = self.name(chain, a)? {
                out.insert(a.to_string(), l);
            }
        }
        Ok(out)
    }

    /// ` (label [category])`, or nothing.
    fn suffix(&self, chain: Chain, address: &str) -> anyhow::Result<String> {
        Ok(self
            .name(chain, address)?
            .map_or_else(String::new, |n| format!(" ({n})")))
    }

    fn print_tags(&self, chain: Chain, address: &str) -> anyhow::Result<()> {
        for t in self.tags(chain, address)? {
            println!(
                "  label {} [{}] from {}, confidence {}",
                t.label,
                t.category.name(),
                t.source,
                t.confidence
            );
        }
        Ok(())
    }
}
