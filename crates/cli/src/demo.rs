//! `tracehound demo`: the main job end to end, on data it makes itself.
//!
//! It writes a realistic chain as Bitcoin Core would store it (blk files obfuscated with an
//! `xor.dat` key, blocks out of order, stale branches), ingests it into the embedded store,
//! and shows what the store now answers: status, a transaction with its inputs resolved to the
//! outputs they spend, and the busiest address with its history. Later stages (tracing,
//! attribution, alerts) extend this as they land.

use anyhow::Context;
use tracehound_btc::blk::BlkReader;
use tracehound_btc::synth::{self, SynthConfig};
use tracehound_core::{Address, Chain};

use crate::args::{DemoArgs, Global};
use crate::ingest::{self, open_store};
use crate::output::coins;

pub(crate) fn run(global: &Global, args: &DemoArgs) -> anyhow::Result<()> {
    let work = tempfile::tempdir().context("creating a temporary directory")?;
    let blocks_dir = work.path().join("blocks");
    std::fs::create_dir_all(&blocks_dir)?;
    let chain = Chain::BitcoinRegtest;
    let cfg = SynthConfig {
        chain,
        blocks: args.blocks,
        txs_per_block: args.txs_per_block,
        seed: args.seed,
        xor_key: Some([0x74, 0x68, 0x6f, 0x75, 0x6e, 0x64, 0x21, 0x01]),
        out_of_order: true,
        stale_every: Some(50),
        ..SynthConfig::default()
    };
    let data_dir_given = global.data_dir.is_some();
    let mut global = global.clone();
    if !data_dir_given {
        global.data_dir = Some(work.path().join("store"));
    }
    let quiet = global.json;
    let say = |s: String| {
        if !quiet {
            println!("{s}");
        }
    };
    say(format!(
        "1. generating {} blocks of {chain} as Core writes them (xor.dat, out of order, stale branches)…",
        args.blocks
    ));
    let made = synth::write_blk_dir(&blocks_dir, &cfg)?;
    say(format!(
        "   {} blocks, {} txs, {} inputs, {} outputs, {} stale blocks in {} files ({} bytes)",
        made.blocks, made.txs, made.inputs, made.outputs, made.stale_blocks, made.files, made.bytes
    ));

    say(format!(
        "2. ingesting into the embedded store at {}…",
        global.data_dir().display()
    ));
    let store = open_store(&global)?;
    if let Some(tip) = store.tip(chain)? {
        anyhow::bail!(
            "{} already holds {chain} up to height {}: the demo needs a fresh --data-dir",
            global.data_dir().display(),
            tip.height
        );
    }
    let reader = BlkReader::open(&blocks_dir, chain)?;
    let report = ingest::ingest_blk(&store, &reader, None, 20_000, !quiet)?;
    if quiet {
        ingest::print_report(&global, &report)?;
    } else {
        say(format!(
            "   {} blocks, {} txs, {} inputs resolved in {:.2}s; {}",
            report.blocks,
            report.txs,
            report.inputs,
            report.seconds,
            report.notes.join("; ")
        ));
    }
    anyhow::ensure!(
        report.txs == made.txs && report.inputs == made.inputs,
        "the store does not hold what was generated"
    );
    if quiet {
        return Ok(());
    }

    let status = store.status()?;
    if let Some(s) = status.iter().find(|s| s.chain == chain) {
        let tip = s
            .tip
            .as_ref()
            .map(|t| format!("{} {}", t.height, t.hash))
            .unwrap_or_default();
        say(format!(
            "3. store status: tip {tip}; {} addresses, {} unspent outputs",
            s.addresses, s.utxos
        ));
    }
    // The busiest address, and a transaction that spends from it.
    let busiest = store
        .addresses(chain)?
        .into_iter()
        .filter(|a| !a.address.contains(':'))
        .max_by_key(|a| (a.tx_count, a.received))
        .context("the demo chain has no addresses")?;
    say(format!(
        "4. busiest address {}: {} txs, received {}, sent {}, balance {} BTC",
        busiest.address,
        busiest.tx_count,
        coins(busiest.received),
        coins(busiest.sent),
        coins(busiest.balance)
    ));
    let hist = store.address_history(chain, busiest.id, 0, 5)?;
    for r in &hist {
        say(format!(
            "     height {:>5} tx {}  +{} -{}",
            r.height,
            r.txid,
            coins(r.received),
            coins(r.sent)
        ));
    }
    let spend = store
        .address_history(chain, busiest.id, 0, usize::MAX)?
        .into_iter()
        .find(|r| r.sent.units() > 0);
    if let Some(r) = spend {
        let tx = store.tx_at(chain, r.height, r.index)?;
        say(format!(
            "5. tx {} (height {}): fee {} BTC, inputs resolved to what they spend:",
            tx.txid,
            tx.height,
            coins(tx.fee)
        ));
        for i in tx.inputs.iter().take(4) {
            say(format!(
                "     {} BTC from {} (created at height {})",
                coins(i.value),
                i.address,
                i.prev_height
            ));
        }
        for o in tx.outputs.iter().take(4) {
            let spent = o
                .spent_by
                .map_or_else(|| "unspent".into(), |(t, n)| format!("spent by {t}:{n}"));
            say(format!(
                "     -> {} BTC to {} [{}], {spent}",
                coins(o.value),
                o.address.as_deref().unwrap_or("OP_RETURN"),
                o.kind.name()
            ));
        }
    }
    let check = Address::parse(chain, &busiest.address)?;
    anyhow::ensure!(store.address(&check)?.is_some(), "address lookup failed");
    say(format!(
        "done. Query it yourself: tracehound --data-dir {} address {}",
        global.data_dir().display(),
        busiest.address
    ));
    if !data_dir_given {
        say("   (the demo store is temporary; pass --data-dir DIR to keep it)".into());
    }
    Ok(())
}
