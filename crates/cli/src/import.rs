//! `tracehound import transfers FILE.csv`: transfers exported from elsewhere (another tool, an
//! exchange's records, a block explorer) into the store, so they can be traced like ingested
//! ones.
//!
//! The file has the header `chain,tx_hash,block,timestamp,log_index,from,to,asset,amount` and
//! one transfer a line: `chain` an account chain (`ethereum`, `bsc`, … or `evm-<id>`), `block`
//! and `log_index` integers, `timestamp` Unix seconds, `asset` `native` or a token contract,
//! `amount` an exact integer in base units (`1500000000000000000`, never `1.5`). Every field is
//! checked, and the first bad one stops the import with the file, line and field named, before
//! anything is stored. Rows come in block order; within a block, txs in the order they first
//! appear.
//!
//! The store keeps account chains as linked blocks; imported blocks get hashes derived from
//! (chain, height) so that a later import continues the same chain, and the heights between two
//! imported blocks are stored as empty blocks. A chain filled from a node cannot take imported
//! rows (their blocks would not link): import into a chain id of its own.

use std::path::Path;

use anyhow::{Context, bail};
use serde::Serialize;
use tracehound_core::{
    AccountBlock, AccountTransfer, AccountTx, Address, Amount, AssetId, Block, Chain, ChainFamily,
    Hash32, Transfer, TransferKind, TxRef,
};
use tracehound_store::Store;

use crate::args::{Global, ImportTransfersArgs};
use crate::ingest::open_store;

const HEADER: &str = "chain,tx_hash,block,timestamp,log_index,from,to,asset,amount";
/// Blocks applied per store transaction.
const BATCH_BLOCKS: usize = 2_000;
/// Empty blocks a gap between two rows may need before the import is refused as absurd.
const MAX_GAP: u32 = 50_000_000;

/// What an import stored.
#[derive(Debug, Default, Serialize)]
pub(crate) struct ImportReport {
    file: String,
    chain: String,
    rows: u64,
    txs: u64,
    blocks_with_transfers: u64,
    empty_blocks: u64,
    first_block: Option<u32>,
    last_block: Option<u32>,
}

/// One checked line.
struct Row {
    line: usize,
    chain: Chain,
    tx: Hash32,
    block: u32,
    time: u64,
    log_index: u32,
    from: Address,
    to: Address,
    asset: AssetId,
    amount: Amount,
}

/// The "hash" an imported block of `chain` at `height` is stored under: the marker
/// `tracehound import`, the chain's code and the height, so it reads as what it is and no real
/// block hash can be it.
fn import_hash(chain: Chain, height: u32) -> Hash32 {
    let mut bytes = [0u8; 32];
    let marker = b"tracehound import";
    bytes[..marker.len()].copy_from_slice(marker);
    bytes[20..24].copy_from_slice(&chain.code().to_be_bytes());
    bytes[28..32].copy_from_slice(&height.to_be_bytes());
    Hash32(bytes)
}

fn parse_row(file: &str, line: usize, text: &str) -> anyhow::Result<Row> {
    let fields: Vec<&str> = text.split(',').map(str::trim).collect();
    if fields.len() != 9 {
        bail!(
            "{file}:{line}: expected 9 fields ({HEADER}), found {}",
            fields.len()
        );
    }
    let at = |name: &str| format!("{file}:{line}: field {name}");
    let chain: Chain = fields[0].parse().with_context(|| at("chain"))?;
    if chain.family() != ChainFamily::Account {
        bail!(
            "{}: {chain} is a UTXO chain; its transfers come from its blocks (tracehound ingest btc), not from a transfer list",
            at("chain")
        );
    }
    let tx: Hash32 = fields[1].parse().map_err(|_| {
        anyhow::anyhow!(
            "{}: {:?} is not a 32-byte hex tx hash",
            at("tx_hash"),
            fields[1]
        )
    })?;
    let int = |name: &str, v: &str| -> anyhow::Result<u64> {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            bail!("{}: {v:?} is not a non-negative integer", at(name));
        }
        v.parse::<u64>()
            .map_err(|_| anyhow::anyhow!("{}: {v} is too large", at(name)))
    };
    let block = u32::try_from(int("block", fields[2])?)
        .map_err(|_| anyhow::anyhow!("{}: {} is beyond 32-bit heights", at("block"), fields[2]))?;
    let time = int("timestamp", fields[3]).context("timestamps are Unix seconds")?;
    let log_index = u32::try_from(int("log_index", fields[4])?)
        .map_err(|_| anyhow::anyhow!("{}: {} is beyond 32 bits", at("log_index"), fields[4]))?;
    let from = Address::parse(chain, fields[5]).with_context(|| at("from"))?;
    let to = Address::parse(chain, fields[6]).with_context(|| at("to"))?;
    let asset = if fields[7].eq_ignore_ascii_case("native") {
        AssetId::Native
    } else {
        AssetId::Contract(Address::parse(chain, fields[7]).with_context(|| at("asset"))?)
    };
    let amount_text = fields[8];
    if amount_text.is_empty() || !amount_text.bytes().all(|b| b.is_ascii_digit()) {
        bail!(
            "{}: {amount_text:?} is not an integer number of base units (write 1500000000000000000 for 1.5 ether, never a decimal or exponent)",
            at("amount")
        );
    }
    let amount = amount_text
        .parse::<u128>()
        .map(Amount::from_units)
        .map_err(|_| anyhow::anyhow!("{}: {amount_text} does not fit 128 bits", at("amount")))?;
    Ok(Row {
        line,
        chain,
        tx,
        block,
        time,
        log_index,
        from,
        to,
        asset,
        amount,
    })
}

/// Checks every line of `text` (the file `file`) and groups the rows into blocks.
fn read_rows(file: &str, text: &str) -> anyhow::Result<Vec<Row>> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    match lines.next() {
        Some((_, header)) if header.trim() == HEADER => {}
        Some((_, header)) => bail!("{file}:1: the header must be {HEADER:?}, found {header:?}"),
        None => bail!("{file}: empty file (expected the header {HEADER:?})"),
    }
    let mut rows: Vec<Row> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (line, text) in lines {
        if text.trim().is_empty() {
            continue;
        }
        let row = parse_row(file, line, text)?;
        if let Some(prev) = rows.last() {
            if row.chain != prev.chain {
                bail!(
                    "{file}:{line}: field chain: {} after {} on line {}; import one chain a file",
                    row.chain,
                    prev.chain,
                    prev.line
                );
            }
            if row.block < prev.block {
                bail!(
                    "{file}:{line}: field block: {} comes after block {} (line {}); rows must be in block order",
                    row.block,
                    prev.block,
                    prev.line
                );
            }
            if row.block == prev.block && row.time != prev.time {
                bail!(
                    "{file}:{line}: field timestamp: {} differs from {} given for block {} on line {}",
                    row.time,
                    prev.time,
                    row.block,
                    prev.line
                );
            }
        }
        if !seen.insert((row.tx, row.log_index)) {
            bail!(
                "{file}:{line}: field log_index: tx {} already has a transfer at log index {}",
                row.tx,
                row.log_index
            );
        }
        rows.push(row);
    }
    if rows.is_empty() {
        bail!("{file}: no transfers after the header");
    }
    Ok(rows)
}

/// Reads link facts (`{"height": H, "fact": F}` a line) into their blocks; each leg must be a
/// transfer the block has (same tx index, sub-index, asset and amount), else the line is named.
fn attach_links(blocks: &mut [AccountBlock], path: &Path) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Line {
        height: u32,
        fact: tracehound_core::LinkFact,
    }
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {file}"))?;
    let first = blocks.first().map_or(0, |b| b.block.height);
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{file}:{}", n + 1);
        let l: Line =
            serde_json::from_str(line).with_context(|| format!("{}: not a link fact", at()))?;
        let Some(block) = l
            .height
            .checked_sub(first)
            .and_then(|i| blocks.get_mut(i as usize))
        else {
            bail!(
                "{}: block {} is not among the imported blocks",
                at(),
                l.height
            );
        };
        let legs: Vec<&tracehound_core::LinkLeg> = match &l.fact {
            tracehound_core::LinkFact::Within { input, output, .. } => vec![input, output],
            tracehound_core::LinkFact::Entry { leg, .. }
            | tracehound_core::LinkFact::Exit { leg, .. } => vec![leg],
        };
        for leg in legs {
            let found = block.transfers.iter().any(|t| {
                t.transfer.tx.index == leg.tx_index
                    && t.transfer.sub_index == leg.leg
                    && t.transfer.amount.units() == leg.amount
                    && match &t.transfer.asset {
                        AssetId::Native => leg.asset == "native",
                        AssetId::Contract(c) => c.as_str().eq_ignore_ascii_case(&leg.asset),
                    }
            });
            if !found {
                bail!(
                    "{}: leg {}:{} ({} {}) is no transfer of block {}",
                    at(),
                    leg.tx_index,
                    leg.leg,
                    leg.amount,
                    leg.asset,
                    l.height
                );
            }
        }
        block.links.push(l.fact);
    }
    Ok(())
}

/// The store's blocks for `rows` (one chain, in block order), from height `start` (the first
/// height not yet stored, or the first row's when the chain is new), gaps filled with empty
/// blocks.
fn to_blocks(file: &str, rows: &[Row], start: u32) -> Vec<AccountBlock> {
    let Some(first) = rows.first() else {
        return Vec::new();
    };
    let chain = first.chain;
    let empty = |height: u32, time: u64| AccountBlock {
        block: Block {
            chain,
            height,
            hash: import_hash(chain, height),
            parent: import_hash(chain, height.wrapping_sub(1)),
            time,
            chainwork: None,
        },
        txs: Vec::new(),
        transfers: Vec::new(),
        tokens: Vec::new(),
        links: Vec::new(),
    };
    let mut blocks: Vec<AccountBlock> = Vec::new();
    let mut next = start;
    for group in rows.chunk_by(|a, b| a.block == b.block) {
        let head = &group[0];
        while next < head.block {
            // A gap's blocks take the time of the block after it: times never go back.
            blocks.push(empty(next, head.time));
            next += 1;
        }
        let mut block = empty(head.block, head.time);
        let mut tx_index: std::collections::HashMap<Hash32, usize> = Default::default();
        for row in group {
            let index = match tx_index.get(&row.tx) {
                Some(&i) => i,
                None => {
                    tx_index.insert(row.tx, block.txs.len());
                    block.txs.push(AccountTx {
                        hash: row.tx,
                        index: block.txs.len() as u32,
                        from: row.from.clone(),
                        to: Some(row.to.clone()),
                        value: Amount::ZERO,
                        success: true,
                        gas_used: 0,
                        gas_price: 0,
                        created: None,
                    });
                    block.txs.len() - 1
                }
            } as u32;
            block.transfers.push(AccountTransfer {
                transfer: Transfer {
                    tx: TxRef {
                        chain,
                        height: row.block,
                        index,
                        txid: row.tx,
                    },
                    sub_index: row.log_index,
                    kind: match row.asset {
                        AssetId::Native => TransferKind::Native,
                        AssetId::Contract(_) => TransferKind::Token,
                    },
                    asset: row.asset.clone(),
                    from: row.from.clone(),
                    to: row.to.clone(),
                    amount: row.amount,
                },
                source: format!("import:{file}:{}", row.line),
            });
        }
        block
            .transfers
            .sort_by_key(|t| (t.transfer.tx.index, t.transfer.sub_index));
        blocks.push(block);
        next = head.block + 1;
    }
    blocks
}

pub(crate) fn run_transfers(global: &Global, args: &ImportTransfersArgs) -> anyhow::Result<()> {
    let report = import_transfers(global, &args.file, args.links.as_deref())?;
    if global.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "imported {} transfers in {} txs of {} into blocks {}..={} ({} blocks with transfers, {} empty blocks between them) from {}",
            report.rows,
            report.txs,
            report.chain,
            report.first_block.unwrap_or_default(),
            report.last_block.unwrap_or_default(),
            report.blocks_with_transfers,
            report.empty_blocks,
            report.file
        );
    }
    Ok(())
}

fn import_transfers(
    global: &Global,
    path: &Path,
    links: Option<&Path>,
) -> anyhow::Result<ImportReport> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {file}"))?;
    let rows = read_rows(&file, &text)?;
    let chain = rows[0].chain;
    let first = rows[0].block;
    let last = rows[rows.len() - 1].block;
    let store: Store = open_store(global)?;
    let start = match store.tip(chain)? {
        None => first,
        Some(tip) if tip.hash != import_hash(chain, tip.height) => bail!(
            "{chain} in the store was ingested from a node (tip {} at {}): imported rows would not link to its blocks; import into a chain id of its own (e.g. evm-<id>)",
            tip.hash,
            tip.height
        ),
        Some(tip) if first <= tip.height => bail!(
            "{file}:{}: field block: {first} is already stored ({chain} holds imported blocks up to {}); import only rows after it",
            rows[0].line,
            tip.height
        ),
        Some(tip) => tip.height + 1,
    };
    if last - start >= MAX_GAP {
        bail!(
            "{file}: blocks {start}..={last} would need {} empty blocks between rows; more than {MAX_GAP} is refused as a mistake (are the block numbers right?)",
            last - start
        );
    }
    let mut blocks = to_blocks(&file, &rows, start);
    if let Some(links) = links {
        attach_links(&mut blocks, links)?;
    }
    let mut report = ImportReport {
        file,
        chain: chain.name(),
        rows: rows.len() as u64,
        first_block: Some(first),
        last_block: Some(last),
        ..ImportReport::default()
    };
    for b in &blocks {
        report.txs += b.txs.len() as u64;
        if b.transfers.is_empty() {
            report.empty_blocks += 1;
        } else {
            report.blocks_with_transfers += 1;
        }
    }
    for batch in blocks.chunks(BATCH_BLOCKS) {
        store
            .apply_account_blocks(batch)
            .with_context(|| format!("storing imported {chain} blocks"))?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0x1111111111111111111111111111111111111111";
    const B: &str = "0x2222222222222222222222222222222222222222";

    fn line(block: u32, time: u64, log: u32, amount: &str) -> String {
        format!(
            "evm-7,0x{:064x},{block},{time},{log},{A},{B},native,{amount}",
            block
        )
    }

    #[test]
    fn rows_group_into_linked_blocks_with_gaps_filled() {
        let text = [
            HEADER.to_string(),
            line(5, 100, 0, "10"),
            line(5, 100, 1, "20"),
            line(8, 130, 0, "30"),
        ]
        .join("\n");
        let rows = read_rows("t.csv", &text).unwrap();
        let blocks = to_blocks("t.csv", &rows, 5);
        let heights: Vec<u32> = blocks.iter().map(|b| b.block.height).collect();
        assert_eq!(heights, [5, 6, 7, 8]);
        for pair in blocks.windows(2) {
            assert_eq!(pair[1].block.parent, pair[0].block.hash);
        }
        assert_eq!(blocks[0].transfers.len(), 2);
        assert_eq!(blocks[0].txs.len(), 1, "two transfers of one tx");
        assert!(blocks[1].transfers.is_empty() && blocks[2].transfers.is_empty());
        assert_eq!(blocks[1].block.time, 130);
        assert_eq!(blocks[3].transfers[0].source, "import:t.csv:4");
    }

    #[test]
    fn bad_rows_name_file_line_and_field() {
        let cases = [
            (line(5, 100, 0, "1.5"), "t.csv:2: field amount"),
            (line(5, 100, 0, "1e18"), "t.csv:2: field amount"),
            (line(5, 100, 0, "-3"), "t.csv:2: field amount"),
            (
                line(5, 100, 0, "10").replace(B, "0x22"),
                "t.csv:2: field to",
            ),
            (
                line(5, 100, 0, "10").replace("evm-7", "bitcoin"),
                "UTXO chain",
            ),
            (
                line(5, 100, 0, "10").replace("evm-7", "nochain"),
                "t.csv:2: field chain",
            ),
            (
                line(5, 100, 0, "10").replace(",5,", ",x,"),
                "t.csv:2: field block",
            ),
            (
                format!("{},extra", line(5, 100, 0, "10")),
                "expected 9 fields",
            ),
        ];
        for (bad, expected) in cases {
            let text = format!("{HEADER}\n{bad}");
            let err = format!("{:#}", read_rows("t.csv", &text).err().unwrap());
            assert!(err.contains(expected), "{bad}: {err}");
        }
        let out_of_order = format!(
            "{HEADER}\n{}\n{}",
            line(9, 100, 0, "1"),
            line(8, 90, 0, "1")
        );
        let err = read_rows("t.csv", &out_of_order).err().unwrap().to_string();
        assert!(err.contains("t.csv:3: field block"), "{err}");
        let twice = format!(
            "{HEADER}\n{}\n{}",
            line(9, 100, 0, "1"),
            line(9, 100, 0, "2")
        );
        let err = read_rows("t.csv", &twice).err().unwrap().to_string();
        assert!(err.contains("t.csv:3: field log_index"), "{err}");
        let clock = format!(
            "{HEADER}\n{}\n{}",
            line(9, 100, 0, "1"),
            line(9, 101, 1, "2")
        );
        let err = read_rows("t.csv", &clock).err().unwrap().to_string();
        assert!(err.contains("t.csv:3: field timestamp"), "{err}");
        let err = read_rows("t.csv", "chain,tx\n").err().unwrap().to_string();
        assert!(err.contains("t.csv:1: the header"), "{err}");
    }
}
