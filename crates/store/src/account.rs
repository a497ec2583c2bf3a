//! Account chains (EVM): blocks, txs and every transfer (native, internal, fee, token, NFT)
//! with its provenance, per-address adjacency in (height, tx, sub-index) order, and per-address,
//! per-asset balances.
//!
//! Addresses are interned by the same [`AddressIndex`] as UTXO chains (ids dense per chain, in
//! order of first appearance; its log's committed length is recorded in the batch's redb
//! transaction). Everything else is redb rows written in that one transaction, so crash safety,
//! resume and unwind follow the same rules as for UTXO chains: a batch lands whole or not at
//! all, and an unwind leaves the store as if the removed blocks had never come.
//!
//! Assets are keyed per chain as a `u64`: `0` is the native coin, [`TOKEN_BIT`]` | id` a
//! fungible token (ERC-20, wrapped native) and [`NFT_BIT`]` | id` a non-fungible one
//! (ERC-721/1155, counted in items, kept apart from fungible value), where `id` is the token
//! contract's address id.
//!
//! Rows are few and large: a block's txs are one row and its transfers another, and an
//! account's adjacency is stored as *runs* of its flows (one row per account per batch, up to
//! [`RUN_FLOWS`] flows), so a batch writes a few thousand rows, not one per transfer and side.
//! The digest reads flows, not rows, so where runs split never shows.
//!
//! Transfers and adjacency are ordered by the tx's *slot* in its block, not its index: slot 0
//! holds the block's opening balances ([`OPENING_TX_INDEX`]), real tx `i` sits at slot `i + 1`
//! and block-level transfers (rewards, withdrawals, at `u32::MAX`) stay last, so an account's
//! opening balance comes before everything it did in the block.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable};
use serde::Serialize;
pub use tracehound_core::{AccountBlock, AccountTransfer, AccountTx, TokenInfo};
use tracehound_core::{Address, Amount, Chain, Hash32, OPENING_TX_INDEX, Payee, TransferKind};

use crate::bulk::addr_index::{
    ADDR_LOG, ADDR_RECORD, AddressIndex, AddressIndexOptions, committed_ids,
};
use crate::bulk::segment::{SEGMENTS, commit_len};
use crate::codec::{Dec, Enc};
use crate::tables::{self, BlockRecord, ChainRecord};
use crate::{BatchStats, Store, StoreError};

/// Asset key bit of a fungible token.
pub(crate) const TOKEN_BIT: u64 = 1 << 62;
/// Asset key bit of a non-fungible token.
pub(crate) const NFT_BIT: u64 = 1 << 63;

/// The key slot of tx index `index` (see the module docs).
fn slot_of(index: u32) -> u32 {
    match index {
        OPENING_TX_INDEX => 0,
        u32::MAX => u32::MAX,
        // Real tx indices are far below u32::MAX - 2 (a block holds at most tens of thousands).
        i => i + 1,
    }
}

/// The tx index stored at key slot `slot`.
fn index_of(slot: u32) -> u32 {
    match slot {
        0 => OPENING_TX_INDEX,
        u32::MAX => u32::MAX,
        s => s - 1,
    }
}

/// One asset held by an account.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AssetBalance {
    /// `native`, or the token contract.
    pub asset: String,
    /// `native`, `token` or `nft`.
    pub class: &'static str,
    /// Symbol, when known.
    pub symbol: Option<String>,
    /// Decimals, when known (native: the chain's).
    pub decimals: Option<u8>,
    /// Total received, base units (items for NFTs).
    pub received: Amount,
    /// Total sent.
    pub sent: Amount,
    /// Received − sent (zero if more was sent, which only an incomplete history shows).
    pub balance: Amount,
    /// Transfers touching it.
    pub transfers: u64,
}

/// An account with its balances.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccountView {
    /// The chain.
    pub chain: Chain,
    /// Canonical text.
    pub address: String,
    /// Interned id.
    pub id: u64,
    /// Per asset, native first.
    pub balances: Vec<AssetBalance>,
    /// Transfers touching it (all assets).
    pub transfers: u64,
}

/// One transfer in an account's history, with its provenance.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccountHistoryRow {
    /// The transfer as the account saw it.
    #[serde(flatten)]
    pub flow: AccountFlow,
    /// Provenance.
    pub source: String,
}

/// One transfer in an account's history, without its provenance (see
/// [`Store::account_flows`]).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccountFlow {
    /// Block height.
    pub height: u32,
    /// Tx index (`u32::MAX` for block-level transfers: rewards, withdrawals).
    pub tx_index: u32,
    /// Order inside the tx.
    pub sub_index: u32,
    /// Tx hash (the block hash for block-level transfers).
    pub txid: Hash32,
    /// Block time.
    pub time: u64,
    /// What moved.
    pub kind: TransferKind,
    /// `native` or the token contract.
    pub asset: String,
    /// Payer.
    pub from: String,
    /// Payee.
    pub to: String,
    /// Received by the account.
    pub received: Amount,
    /// Sent by the account.
    pub sent: Amount,
}

/// A transfer as shown.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TransferView {
    /// Order inside the tx.
    pub sub_index: u32,
    /// What moved.
    pub kind: TransferKind,
    /// `native` or the token contract.
    pub asset: String,
    /// Payer.
    pub from: String,
    /// Payee.
    pub to: String,
    /// Base units (items for NFTs).
    pub amount: Amount,
    /// Provenance.
    pub source: String,
}

/// An account-chain tx as shown, with its transfers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccountTxView {
    /// The chain.
    pub chain: Chain,
    /// Tx hash.
    pub hash: Hash32,
    /// Block height.
    pub height: u32,
    /// Position in the block.
    pub index: u32,
    /// Block hash.
    pub block_hash: Hash32,
    /// Block time.
    pub time: u64,
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: Option<String>,
    /// Value.
    pub value: Amount,
    /// Whether it succeeded.
    pub success: bool,
    /// Gas used.
    pub gas_used: u64,
    /// Effective gas price.
    pub gas_price: u128,
    /// Created contract.
    pub created: Option<String>,
    /// Every transfer of the tx, in order.
    pub transfers: Vec<TransferView>,
}

/// An account chain's open address index.
#[derive(Debug)]
pub(crate) struct AccountLedger {
    chain: Chain,
    dir: PathBuf,
    options: AddressIndexOptions,
    pub(crate) addrs: AddressIndex,
    /// Set while a write is under way (see the UTXO ledger).
    pub(crate) dirty: bool,
}

impl AccountLedger {
    pub(crate) fn open(
        db: &Database,
        data_dir: &Path,
        chain: Chain,
        options: &AddressIndexOptions,
    ) -> Result<AccountLedger, StoreError> {
        let dir = crate::ledger::chain_dir(data_dir, chain);
        let ids = {
            let rtx = db.begin_read()?;
            committed_ids(&rtx.open_table(SEGMENTS)?, chain)?
        };
        Ok(AccountLedger {
            chain,
            addrs: AddressIndex::open(&dir, chain, ids, options)?,
            dir,
            options: options.clone(),
            dirty: false,
        })
    }

    pub(crate) fn close(&mut self) -> Result<(), StoreError> {
        self.addrs.settle()
    }

    fn text(&self, id: u64) -> Result<String, StoreError> {
        Ok(self.addrs.payee(id)?.to_address().as_str().to_string())
    }

    fn asset_text(&self, asset: u64) -> Result<String, StoreError> {
        if asset == 0 {
            Ok("native".into())
        } else {
            self.text(asset & !(TOKEN_BIT | NFT_BIT))
        }
    }
}

fn payee_of(a: &Address) -> Result<Payee, StoreError> {
    a.to_payee().ok_or_else(|| StoreError::Corrupt {
        table: ADDR_LOG,
        what: format!("{a} has no binary form to intern"),
    })
}

fn kind_code(k: TransferKind) -> u8 {
    match k {
        TransferKind::Native => 1,
        TransferKind::Internal => 2,
        TransferKind::Fee => 3,
        TransferKind::Token => 4,
        TransferKind::Nft => 5,
    }
}

fn kind_of(c: u8) -> Result<TransferKind, StoreError> {
    Ok(match c {
        1 => TransferKind::Native,
        2 => TransferKind::Internal,
        3 => TransferKind::Fee,
        4 => TransferKind::Token,
        5 => TransferKind::Nft,
        _ => {
            return Err(StoreError::Corrupt {
                table: "transfers",
                what: format!("unknown transfer kind {c}"),
            });
        }
    })
}

/// A stored transfer: one entry of its block's row, which holds the block's transfers in
/// (slot, sub-index) order.
struct TransferRecord {
    slot: u32,
    sub: u32,
    kind: TransferKind,
    asset: u64,
    from: u64,
    to: u64,
    amount: u128,
    source: String,
}

impl TransferRecord {
    /// Appends the transfer to a block row, with `source` as its provenance.
    fn encode(&self, e: &mut Enc, source: &str) {
        e.u64(u64::from(self.slot))
            .u64(u64::from(self.sub))
            .u8(kind_code(self.kind))
            .u64(self.asset)
            .u64(self.from)
            .u64(self.to)
            .u128(self.amount);
        e.u64(source.len() as u64).bytes(source.as_bytes());
    }

    fn decode(d: &mut Dec<'_>) -> Result<TransferRecord, StoreError> {
        let (slot, sub) = (d.u32()?, d.u32()?);
        let kind = kind_of(d.u8()?)?;
        let (asset, from, to, amount) = (d.u64()?, d.u64()?, d.u64()?, d.u128()?);
        let n = usize::try_from(d.u64()?).unwrap_or(usize::MAX);
        let source = String::from_utf8_lossy(d.bytes(n)?).into_owned();
        Ok(TransferRecord {
            slot,
            sub,
            kind,
            asset,
            from,
            to,
            amount,
            source,
        })
    }

    /// The transfer at byte `at` of a block row, which must be the one at (`slot`, `sub`):
    /// adjacency flows carry the offset, so a history reads the account's one transfer of a
    /// block of thousands without scanning the others.
    fn at_in_block(b: &[u8], at: u32, slot: u32, sub: u32) -> Result<TransferRecord, StoreError> {
        let rest = b.get(at as usize..).unwrap_or_default();
        let t = TransferRecord::decode(&mut Dec::new(rest, "account_block_transfers"))?;
        if (t.slot, t.sub) != (slot, sub) {
            return Err(StoreError::Corrupt {
                table: "account_adj_runs",
                what: format!(
                    "a flow points at byte {at} of its block's transfers for tx slot {slot} \
                     sub-index {sub}, which holds slot {} sub-index {}",
                    t.slot, t.sub
                ),
            });
        }
        Ok(t)
    }

    /// Every transfer of a block row.
    fn decode_block(b: &[u8]) -> Result<Vec<TransferRecord>, StoreError> {
        let mut d = Dec::new(b, "account_block_transfers");
        let mut out = Vec::new();
        while !d.is_empty() {
            out.push(TransferRecord::decode(&mut d)?);
        }
        Ok(out)
    }

    /// The (account, received, sent) flows of the transfer: one for a transfer to oneself,
    /// else the payer's and the payee's.
    fn flows(&self) -> impl Iterator<Item = (u64, u128, u128)> + use<> {
        let (from, to, amount) = (self.from, self.to, self.amount);
        let own = (from == to).then_some((from, amount, amount));
        let apart = (from != to).then_some([(from, 0, amount), (to, amount, 0)]);
        own.into_iter().chain(apart.into_iter().flatten())
    }
}

/// A stored tx: one entry of its block's row, which holds the block's txs in index order.
struct TxRecord {
    index: u32,
    hash: Hash32,
    from: u64,
    to: Option<u64>,
    value: u128,
    success: bool,
    gas_used: u64,
    gas_price: u128,
    created: Option<u64>,
}

impl TxRecord {
    /// Appends the tx to a block row.
    fn encode(&self, e: &mut Enc) {
        e.u64(u64::from(self.index))
            .bytes(&self.hash.0)
            .u64(self.from)
            .u64(self.to.map_or(0, |t| t + 1))
            .u128(self.value)
            .u8(u8::from(self.success))
            .u64(self.gas_used)
            .u128(self.gas_price)
            .u64(self.created.map_or(0, |t| t + 1));
    }

    fn decode(d: &mut Dec<'_>) -> Result<TxRecord, StoreError> {
        Ok(TxRecord {
            index: d.u32()?,
            hash: Hash32(d.hash()?),
            from: d.u64()?,
            to: d.u64()?.checked_sub(1),
            value: d.u128()?,
            success: d.u8()? != 0,
            gas_used: d.u64()?,
            gas_price: d.u128()?,
            created: d.u64()?.checked_sub(1),
        })
    }

    /// Every tx of a block row.
    fn decode_block(b: &[u8]) -> Result<Vec<TxRecord>, StoreError> {
        let mut d = Dec::new(b, "account_block_txs");
        let mut out = Vec::new();
        while !d.is_empty() {
            out.push(TxRecord::decode(&mut d)?);
        }
        Ok(out)
    }
}

/// Most flows one adjacency run holds: long histories (a fee sink's, an exchange's) span
/// many rows, so reading a page of one never decodes megabytes.
const RUN_FLOWS: u32 = 512;

/// One account's side of one transfer: an entry of the account's adjacency. It carries
/// what a history needs (kind, counterparty, tx hash), so reading an account's history reads
/// its runs and the small block records, not its blocks' rows of thousands of transfers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flow {
    height: u32,
    slot: u32,
    sub: u32,
    asset: u64,
    received: u128,
    sent: u128,
    kind: TransferKind,
    /// Whether the account paid (else it was paid; zero-value transfers have a direction too).
    pays: bool,
    /// The other side's address id (the account itself for a transfer to itself).
    counterparty: u64,
    /// The tx's hash; none for openings and block-level transfers (the block's hash).
    tx: Option<Hash32>,
    /// Where the transfer starts in its block's transfers row (for its provenance).
    row_at: u32,
}

impl Flow {
    fn encode(&self, e: &mut Enc) {
        self.encode_content(e);
        let has_tx = if self.tx.is_some() { 0x80 } else { 0 };
        let pays = if self.pays { 0x40 } else { 0 };
        e.u8(kind_code(self.kind) | has_tx | pays)
            .u64(self.counterparty);
        if let Some(h) = &self.tx {
            e.bytes(&h.0);
        }
        e.u64(u64::from(self.row_at));
    }

    /// The flow's own figures: what the digest reads, so equal data digests equally whatever
    /// else the adjacency carries.
    fn encode_content(&self, e: &mut Enc) {
        e.u64(u64::from(self.height))
            .u64(u64::from(self.slot))
            .u64(u64::from(self.sub))
            .u64(self.asset)
            .u128(self.received)
            .u128(self.sent);
    }

    /// Every flow of a run.
    fn decode_run(b: &[u8]) -> Result<Vec<Flow>, StoreError> {
        let mut d = Dec::new(b, "account_adj_runs");
        let mut out = Vec::new();
        while !d.is_empty() {
            out.push(Flow::decode_next(&mut d)?);
        }
        Ok(out)
    }

    /// The next flow of a run being read.
    fn decode_next(d: &mut Dec<'_>) -> Result<Flow, StoreError> {
        let (height, slot, sub, asset) = (d.u32()?, d.u32()?, d.u32()?, d.u64()?);
        let (received, sent) = (d.u128()?, d.u128()?);
        let code = d.u8()?;
        let counterparty = d.u64()?;
        let tx = if code & 0x80 != 0 {
            Some(Hash32(d.hash()?))
        } else {
            None
        };
        Ok(Flow {
            height,
            slot,
            sub,
            asset,
            received,
            sent,
            kind: kind_of(code & 0x3f)?,
            pays: code & 0x40 != 0,
            counterparty,
            tx,
            row_at: d.u32()?,
        })
    }
}

/// Calls `f` with flows `offset..offset + limit` of account `id`'s adjacency, in time order,
/// each with its block's record (read once per block).
fn history_flows(
    rtx: &redb::ReadTransaction,
    chain: Chain,
    id: u64,
    offset: usize,
    limit: usize,
    stamps: &mut BlockStamps,
    mut f: impl FnMut(&Flow, BlockStamp) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let c = chain.code();
    let adj = rtx.open_table(tables::ACCOUNT_ADJ)?;
    let blocks = rtx.open_table(tables::BLOCKS)?;
    let (mut skip, mut taken) = (offset, 0);
    for row in adj.range((c, id, 0, 0, 0)..=(c, id, u32::MAX, u32::MAX, u32::MAX))? {
        if taken >= limit {
            break;
        }
        let (_, v) = row?;
        // Decoded flow by flow: a history reads thousands of runs.
        let mut d = Dec::new(v.value(), "account_adj_runs");
        while !d.is_empty() && taken < limit {
            let flow = Flow::decode_next(&mut d)?;
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let stamp = match stamps.0.get(&flow.height) {
                Some(s) => *s,
                None => {
                    let rec = blocks
                        .get((c, flow.height))?
                        .ok_or_else(|| StoreError::Corrupt {
                            table: "account_adj_runs",
                            what: format!("{chain} points at a missing block {}", flow.height),
                        })?;
                    let rec = BlockRecord::decode(rec.value())?;
                    let s = BlockStamp {
                        hash: rec.hash,
                        time: rec.time,
                    };
                    stamps.0.insert(flow.height, s);
                    s
                }
            };
            f(&flow, stamp)?;
            taken += 1;
        }
    }
    Ok(())
}

/// A block's hash and time: what a history row needs of its block.
#[derive(Debug, Clone, Copy)]
struct BlockStamp {
    hash: Hash32,
    time: u64,
}

/// The hashes and times of one account chain's blocks already read, kept across the history
/// reads of one reader (a trace reads thousands of histories crossing the same blocks).
/// Only valid for the chain and store state it was filled from.
#[derive(Debug, Default)]
pub struct BlockStamps(foldhash::HashMap<u32, BlockStamp>);

/// An account's transfer with its parties and asset as the store's address ids: for readers
/// of many histories (a trace), which name each address once instead of once per transfer
/// ([`Store::account_address`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowIds {
    /// Block height.
    pub height: u32,
    /// Tx index (`u32::MAX` for block-level transfers).
    pub tx_index: u32,
    /// Order inside the tx.
    pub sub_index: u32,
    /// Tx hash (the block hash for block-level transfers).
    pub txid: Hash32,
    /// Block time.
    pub time: u64,
    /// What moved.
    pub kind: TransferKind,
    /// 0 for the native coin, else the token contract (resolve it with [`Store::account_asset`]).
    pub asset: u64,
    /// Payer's address id.
    pub from: u64,
    /// Payee's address id.
    pub to: u64,
    /// Base units received by the account.
    pub received: u128,
    /// Base units sent by the account.
    pub sent: u128,
}

/// The key of a run: (account, and its first flow's height, slot and sub-index).
type RunKey = (u64, u32, u32, u32);

/// A batch's flows grouped per account into runs of at most [`RUN_FLOWS`], in time order.
/// Runs are how the adjacency is stored: one row per run instead of one per flow, so a batch
/// writes a few rows per active account. Where runs split depends on the batches; what they
/// hold does not (the digest reads flows, not rows).
#[derive(Default)]
struct Runs {
    open: HashMap<u64, (Flow, u32, Enc)>,
    done: Vec<(RunKey, Enc)>,
}

impl Runs {
    fn push(&mut self, addr: u64, f: Flow) {
        let run = self
            .open
            .entry(addr)
            .or_insert_with(|| (f, 0, Enc::default()));
        if run.1 == RUN_FLOWS {
            let (first, _, full) = std::mem::replace(run, (f, 0, Enc::default()));
            self.done
                .push(((addr, first.height, first.slot, first.sub), full));
        }
        f.encode(&mut run.2);
        run.1 += 1;
    }

    /// Every run, in key order (B-tree inserts in order touch each page once).
    fn finish(mut self) -> Vec<(RunKey, Enc)> {
        self.done.extend(
            self.open
                .into_iter()
                .map(|(addr, (f, _, e))| ((addr, f.height, f.slot, f.sub), e)),
        );
        self.done.sort_unstable_by_key(|(k, _)| *k);
        self.done
    }
}

/// Feeds the adjacency's flows, one by one with their accounts, to a digest: the same flows
/// give the same digest however batches split them into runs.
pub(crate) fn feed_adjacency(
    rtx: &redb::ReadTransaction,
    engine: &mut bitcoin::hashes::sha256::HashEngine,
) -> Result<(), StoreError> {
    use bitcoin::hashes::HashEngine;
    let t = rtx.open_table(tables::ACCOUNT_ADJ)?;
    engine.input(b"account_adj");
    let mut e = Enc::default();
    for row in t.iter()? {
        let (k, v) = row?;
        let (c, addr, ..) = k.value();
        for f in Flow::decode_run(v.value())? {
            e.0.clear();
            e.u64(u64::from(c)).u64(addr);
            f.encode_content(&mut e);
            engine.input(&e.0);
        }
    }
    Ok(())
}

/// (received, sent, transfers) of one account in one asset.
fn encode_balance(b: (u128, u128, u64)) -> Vec<u8> {
    let mut e = Enc::default();
    e.u128(b.0).u128(b.1).u64(b.2);
    e.0
}

fn decode_balance(b: &[u8]) -> Result<(u128, u128, u64), StoreError> {
    let mut d = Dec::new(b, "balances");
    Ok((d.u128()?, d.u128()?, d.u64()?))
}

/// A token row: the height its metadata was first stored at (so an unwind removes exactly the
/// rows its blocks added), then name, symbol and decimals.
fn encode_token(height: u32, t: &TokenInfo) -> Vec<u8> {
    let mut e = Enc::default();
    e.u64(u64::from(height));
    for s in [&t.name, &t.symbol] {
        match s {
            Some(s) => {
                e.u64(s.len() as u64 + 1).bytes(s.as_bytes());
            }
            None => {
                e.u64(0);
            }
        }
    }
    e.u64(t.decimals.map_or(0, |d| u64::from(d) + 1));
    e.0
}

type TokenRow = (u32, Option<String>, Option<String>, Option<u8>);

fn decode_token(b: &[u8]) -> Result<TokenRow, StoreError> {
    let mut d = Dec::new(b, "tokens");
    let height = d.u32()?;
    let mut text = || -> Result<Option<String>, StoreError> {
        match d.u64()?.checked_sub(1) {
            None => Ok(None),
            Some(n) => Ok(Some(
                String::from_utf8_lossy(d.bytes(usize::try_from(n).unwrap_or(usize::MAX))?)
                    .into_owned(),
            )),
        }
    };
    let name = text()?;
    let symbol = text()?;
    let decimals = d.u64()?.checked_sub(1).and_then(|v| u8::try_from(v).ok());
    Ok((height, name, symbol, decimals))
}

/// The tables an account-chain write touches, opened in one write transaction.
struct AccountTables<'t> {
    chains: redb::Table<'t, u32, &'static [u8]>,
    block_rows: redb::Table<'t, (u32, u32), &'static [u8]>,
    by_hash: redb::Table<'t, (u32, [u8; 32]), u32>,
    txs: redb::Table<'t, (u32, u32), &'static [u8]>,
    txids: redb::Table<'t, (u32, [u8; 32]), (u32, u32)>,
    transfers: redb::Table<'t, (u32, u32), &'static [u8]>,
    adj: redb::Table<'t, (u32, u64, u32, u32, u32), &'static [u8]>,
    balances: redb::Table<'t, (u32, u64, u64), &'static [u8]>,
    tokens: redb::Table<'t, (u32, u64), &'static [u8]>,
}

impl<'t> AccountTables<'t> {
    fn open(wtx: &'t redb::WriteTransaction) -> Result<Self, StoreError> {
        Ok(AccountTables {
            chains: wtx.open_table(tables::CHAINS)?,
            block_rows: wtx.open_table(tables::BLOCKS)?,
            by_hash: wtx.open_table(tables::BLOCK_BY_HASH)?,
            txs: wtx.open_table(tables::ACCOUNT_TXS)?,
            txids: wtx.open_table(tables::ACCOUNT_TXIDS)?,
            transfers: wtx.open_table(tables::TRANSFERS)?,
            adj: wtx.open_table(tables::ACCOUNT_ADJ)?,
            balances: wtx.open_table(tables::BALANCES)?,
            tokens: wtx.open_table(tables::TOKENS)?,
        })
    }
}

impl AccountLedger {
    /// Connects `blocks` (in order; the first extends the stored tip, or starts an empty
    /// chain at any height) and commits them as one transaction.
    pub(crate) fn apply(
        &mut self,
        db: &Database,
        blocks: &[AccountBlock],
        stats: &mut BatchStats,
    ) -> Result<(), StoreError> {
        self.dirty = true;
        let chain = self.chain;
        let c = chain.code();
        // Every address in order of appearance, interned in one batch.
        let mut payees = Vec::new();
        for b in blocks {
            for t in &b.txs {
                payees.push(payee_of(&t.from)?);
                if let Some(to) = &t.to {
                    payees.push(payee_of(to)?);
                }
                if let Some(cr) = &t.created {
                    payees.push(payee_of(cr)?);
                }
            }
            for t in &b.transfers {
                payees.push(payee_of(&t.transfer.from)?);
                payees.push(payee_of(&t.transfer.to)?);
                if let tracehound_core::AssetId::Contract(a) = &t.transfer.asset {
                    payees.push(payee_of(a)?);
                }
            }
            for t in &b.tokens {
                payees.push(payee_of(&t.address)?);
            }
        }
        let ids = self.addrs.intern_batch(&payees)?;
        let mut ids = ids.into_iter();
        let mut next_id = || {
            ids.next().ok_or_else(|| StoreError::Corrupt {
                table: ADDR_LOG,
                what: "the address index returned fewer ids than addresses".into(),
            })
        };

        let wtx = db.begin_write()?;
        {
            let AccountTables {
                mut chains,
                mut block_rows,
                mut by_hash,
                mut txs,
                mut txids,
                mut transfers,
                mut adj,
                mut balances,
                mut tokens,
            } = AccountTables::open(&wtx)?;
            let (mut rec, mut tip) = tables::record_and_tip(&chains, &block_rows, c)?;
            let mut deltas: HashMap<(u64, u64), (u128, u128, u64)> = HashMap::new();
            let mut runs = Runs::default();
            let mut next_addr_id = rec.next_addr_id;
            let mut row = Enc::default();
            let mut records = Vec::new();
            let mut new_txids = Vec::new();
            let mut tx_hashes: Vec<(u32, Hash32)> = Vec::new();
            for block in blocks {
                let b = &block.block;
                let connects = b.chain == chain
                    && match tip {
                        None => true,
                        Some((h, hash)) => b.height == h + 1 && b.parent == hash,
                    };
                if !connects {
                    return Err(StoreError::NotConnected {
                        chain: b.chain,
                        height: b.height,
                        hash: b.hash,
                        parent: b.parent,
                        tip: tip.map_or_else(|| "empty".into(), |(h, hash)| format!("{h} {hash}")),
                    });
                }
                let first_addr_id = next_addr_id;
                let mut seen = |id: u64| next_addr_id = next_addr_id.max(id + 1);
                row.0.clear();
                tx_hashes.clear();
                for t in &block.txs {
                    tx_hashes.push((t.index, t.hash));
                    let from = next_id()?;
                    seen(from);
                    let to = t.to.as_ref().map(|_| next_id()).transpose()?;
                    let created = t.created.as_ref().map(|_| next_id()).transpose()?;
                    to.into_iter().chain(created).for_each(&mut seen);
                    TxRecord {
                        index: t.index,
                        hash: t.hash,
                        from,
                        to,
                        value: t.value.units(),
                        success: t.success,
                        gas_used: t.gas_used,
                        gas_price: t.gas_price,
                        created,
                    }
                    .encode(&mut row);
                    new_txids.push((t.hash.0, b.height, t.index));
                }
                txs.insert((c, b.height), row.0.as_slice())?;

                // Ids come in the order the addresses were listed; the row is in key order.
                records.clear();
                for t in &block.transfers {
                    let tr = &t.transfer;
                    let from = next_id()?;
                    let to = next_id()?;
                    seen(from);
                    seen(to);
                    let asset = match (&tr.asset, tr.kind) {
                        (tracehound_core::AssetId::Native, _) => 0,
                        (tracehound_core::AssetId::Contract(_), k) => {
                            let id = next_id()?;
                            seen(id);
                            id | if k == TransferKind::Nft {
                                NFT_BIT
                            } else {
                                TOKEN_BIT
                            }
                        }
                    };
                    records.push(TransferRecord {
                        slot: slot_of(tr.tx.index),
                        sub: tr.sub_index,
                        kind: tr.kind,
                        asset,
                        from,
                        to,
                        amount: tr.amount.units(),
                        source: String::new(),
                    });
                }
                let mut keyed: Vec<(&TransferRecord, &AccountTransfer)> =
                    records.iter().zip(&block.transfers).collect();
                keyed.sort_unstable_by_key(|(r, _)| (r.slot, r.sub));
                let twin = keyed.windows(2).find_map(|w| match w {
                    [(a, _), (b, _)] if (a.slot, a.sub) == (b.slot, b.sub) => Some(*a),
                    _ => None,
                });
                if let Some(dup) = twin {
                    return Err(StoreError::Corrupt {
                        table: "transfers",
                        what: format!(
                            "{chain} block {} has two transfers at tx {} sub-index {}",
                            b.height,
                            index_of(dup.slot),
                            dup.sub
                        ),
                    });
                }
                row.0.clear();
                tx_hashes.sort_unstable_by_key(|&(i, _)| i);
                for (r, t) in keyed {
                    let row_at = u32::try_from(row.0.len()).map_err(|_| StoreError::Corrupt {
                        table: "transfers",
                        what: format!("{chain} block {}'s transfers exceed 4 GiB", b.height),
                    })?;
                    let tx = index_of(r.slot);
                    let tx_hash = tx_hashes
                        .binary_search_by_key(&tx, |&(i, _)| i)
                        .ok()
                        .and_then(|k| tx_hashes.get(k))
                        .map(|&(_, h)| h);
                    r.encode(&mut row, &t.source);
                    for (addr, received, sent) in r.flows() {
                        let pays = addr == r.from;
                        let counterparty = if pays { r.to } else { r.from };
                        runs.push(
                            addr,
                            Flow {
                                height: b.height,
                                slot: r.slot,
                                sub: r.sub,
                                asset: r.asset,
                                received,
                                sent,
                                kind: r.kind,
                                pays,
                                counterparty,
                                tx: tx_hash,
                                row_at,
                            },
                        );
                        let d = deltas.entry((addr, r.asset)).or_default();
                        d.0 += received;
                        d.1 += sent;
                        d.2 += 1;
                    }
                }
                transfers.insert((c, b.height), row.0.as_slice())?;
                for t in &block.tokens {
                    let id = next_id()?;
                    seen(id);
                    if tokens.get((c, id))?.is_none() {
                        tokens.insert((c, id), encode_token(b.height, t).as_slice())?;
                    }
                }
                let tx_count = u32::try_from(block.txs.len()).unwrap_or(u32::MAX);
                let row = BlockRecord {
                    hash: b.hash,
                    parent: b.parent,
                    time: b.time,
                    tx_count,
                    inputs: block.transfers.len() as u64,
                    outputs: 0,
                    first_addr_id,
                    first_tx: 0,
                    adj_start: 0,
                    chainwork: b.chainwork.unwrap_or([0; 32]),
                };
                block_rows.insert((c, b.height), row.encode().as_slice())?;
                by_hash.insert((c, b.hash.0), b.height)?;
                rec.txs += u64::from(tx_count);
                rec.inputs += block.transfers.len() as u64;
                tip = Some((b.height, b.hash));
                stats.blocks += 1;
                stats.txs += u64::from(tx_count);
                stats.inputs += block.transfers.len() as u64;
            }
            for ((addr, height, slot, sub), run) in runs.finish() {
                adj.insert((c, addr, height, slot, sub), run.0.as_slice())?;
            }
            // Hashes are random: inserted in key order, each B-tree page is visited once.
            new_txids.sort_unstable();
            for (hash, height, index) in new_txids {
                txids.insert((c, hash), (height, index))?;
            }
            let mut deltas: Vec<_> = deltas.into_iter().collect();
            deltas.sort_unstable_by_key(|(k, _)| *k);
            for ((addr, asset), d) in deltas {
                let old = balances
                    .get((c, addr, asset))?
                    .map(|v| decode_balance(v.value()))
                    .transpose()?
                    .unwrap_or_default();
                let new = (old.0 + d.0, old.1 + d.1, old.2 + d.2);
                balances.insert((c, addr, asset), encode_balance(new).as_slice())?;
            }
            rec.next_addr_id = next_addr_id;
            chains.insert(c, rec.encode().as_slice())?;
        }
        crate::link_facts::put(
            &wtx,
            chain,
            blocks.iter().map(|b| (b.block.height, b.links.as_slice())),
        )?;
        let len = self.addrs.sync()?;
        commit_len(&wtx, c, ADDR_LOG, len)?;
        wtx.commit()?;
        self.dirty = false;
        Ok(())
    }

    /// Removes every block above `keep` (all for `None`), leaving the store as if they had
    /// never come. Returns how many were removed.
    pub(crate) fn unwind(&mut self, db: &Database, keep: Option<u32>) -> Result<u64, StoreError> {
        let c = self.chain.code();
        let from = keep.map_or(0, |h| h + 1);
        self.dirty = true;
        let wtx = db.begin_write()?;
        let removed;
        let cut_ids;
        {
            let AccountTables {
                mut chains,
                mut block_rows,
                mut by_hash,
                mut txs,
                mut txids,
                mut transfers,
                mut adj,
                mut balances,
                mut tokens,
            } = AccountTables::open(&wtx)?;
            let rows: Vec<(u32, BlockRecord)> = block_rows
                .range((c, from)..=(c, u32::MAX))?
                .map(|r| {
                    let (k, v) = r?;
                    Ok((k.value().1, BlockRecord::decode(v.value())?))
                })
                .collect::<Result<_, StoreError>>()?;
            let Some((_, first)) = rows.first().copied() else {
                self.dirty = false;
                return Ok(0);
            };
            let mut rec = chains
                .get(c)?
                .map(|v| ChainRecord::decode(v.value()))
                .transpose()?
                .unwrap_or_default();
            let mut deltas: HashMap<(u64, u64), (u128, u128, u64)> = HashMap::new();
            let mut touched = std::collections::BTreeSet::new();
            for (h, row) in &rows {
                let gone = match transfers.remove((c, *h))? {
                    Some(v) => TransferRecord::decode_block(v.value())?,
                    None => Vec::new(),
                };
                for t in &gone {
                    for (addr, received, sent) in t.flows() {
                        touched.insert(addr);
                        let d = deltas.entry((addr, t.asset)).or_default();
                        d.0 += received;
                        d.1 += sent;
                        d.2 += 1;
                    }
                }
                let gone_txs = match txs.remove((c, *h))? {
                    Some(v) => TxRecord::decode_block(v.value())?,
                    None => Vec::new(),
                };
                for t in gone_txs {
                    txids.remove((c, t.hash.0))?;
                }
                block_rows.remove((c, *h))?;
                by_hash.remove((c, row.hash.0))?;
                rec.txs -= u64::from(row.tx_count);
                rec.inputs -= row.inputs;
            }
            // Each touched account's runs from `from` on go; the run before may reach into
            // the removed blocks and is cut there (it starts before them, so keeps a flow).
            for addr in touched {
                for r in adj.extract_from_if(
                    (c, addr, from, 0, 0)..=(c, addr, u32::MAX, u32::MAX, u32::MAX),
                    |_, _| true,
                )? {
                    r?;
                }
                let before = match adj
                    .range((c, addr, 0, 0, 0)..(c, addr, from, 0, 0))?
                    .next_back()
                {
                    Some(r) => {
                        let (k, v) = r?;
                        Some((k.value(), Flow::decode_run(v.value())?))
                    }
                    None => None,
                };
                if let Some((key, flows)) = before
                    && flows.iter().any(|f| f.height >= from)
                {
                    let mut e = Enc::default();
                    flows
                        .iter()
                        .filter(|f| f.height < from)
                        .for_each(|f| f.encode(&mut e));
                    adj.insert(key, e.0.as_slice())?;
                }
            }
            for ((addr, asset), d) in deltas {
                let old = balances
                    .get((c, addr, asset))?
                    .map(|v| decode_balance(v.value()))
                    .transpose()?
                    .unwrap_or_default();
                let new = (old.0 - d.0, old.1 - d.1, old.2 - d.2);
                if new.2 == 0 {
                    balances.remove((c, addr, asset))?;
                } else {
                    balances.insert((c, addr, asset), encode_balance(new).as_slice())?;
                }
            }
            let first_height = from;
            let mut stale = Vec::new();
            for row in tokens.range((c, 0)..=(c, u64::MAX))? {
                let (k, v) = row?;
                if decode_token(v.value())?.0 >= first_height {
                    stale.push(k.value());
                }
            }
            for k in stale {
                tokens.remove(k)?;
            }
            rec.next_addr_id = first.first_addr_id;
            if keep.is_none() {
                chains.remove(c)?;
            } else {
                chains.insert(c, rec.encode().as_slice())?;
            }
            commit_len(&wtx, c, ADDR_LOG, first.first_addr_id * ADDR_RECORD as u64)?;
            crate::link_facts::remove_from(&wtx, self.chain, from)?;
            removed = rows.len() as u64;
            cut_ids = first.first_addr_id;
        }
        wtx.commit()?;
        self.addrs.release()?;
        self.addrs = AddressIndex::open(&self.dir, self.chain, cut_ids, &self.options)?;
        self.dirty = false;
        Ok(removed)
    }
}

impl Store {
    /// Connects account-chain blocks (all of one chain, in order) and commits them as one
    /// transaction. The first block of an empty chain may sit at any height (ingest that starts
    /// mid-chain); after that each block must extend the stored tip.
    pub fn apply_account_blocks(&self, blocks: &[AccountBlock]) -> Result<BatchStats, StoreError> {
        let mut stats = BatchStats::default();
        let Some(first) = blocks.first() else {
            return Ok(stats);
        };
        self.with_account(first.block.chain, |l, db| l.apply(db, blocks, &mut stats))?;
        Ok(stats)
    }

    /// Which of `addresses` (all of account chain `chain`) the store has already seen: each
    /// has an interned id once it took part in a stored block. Ingest uses it to find the
    /// accounts whose opening balance it must read.
    pub fn known_accounts(
        &self,
        chain: Chain,
        addresses: &[Address],
    ) -> Result<Vec<bool>, StoreError> {
        if addresses.is_empty() || !self.chains()?.contains(&chain) {
            return Ok(vec![false; addresses.len()]);
        }
        self.with_account(chain, |l, _| {
            addresses
                .iter()
                .map(|a| match a.to_payee() {
                    Some(p) => Ok(l.addrs.lookup(&p)?.is_some()),
                    None => Ok(false),
                })
                .collect()
        })
    }

    /// Which (holder, fungible token contract) pairs of `chain` the store already holds a
    /// balance row for, i.e. the holder took part in a stored transfer of that token.
    pub fn known_token_holdings(
        &self,
        chain: Chain,
        pairs: &[(Address, Address)],
    ) -> Result<Vec<bool>, StoreError> {
        if pairs.is_empty() || !self.chains()?.contains(&chain) {
            return Ok(vec![false; pairs.len()]);
        }
        let c = chain.code();
        self.with_account(chain, |l, db| {
            let rtx = db.begin_read()?;
            let balances = rtx.open_table(tables::BALANCES)?;
            let id = |a: &Address| -> Result<Option<u64>, StoreError> {
                match a.to_payee() {
                    Some(p) => l.addrs.lookup(&p),
                    None => Ok(None),
                }
            };
            let mut out = Vec::with_capacity(pairs.len());
            for (holder, token) in pairs {
                let known = match (id(holder)?, id(token)?) {
                    (Some(h), Some(t)) => balances.get((c, h, t | TOKEN_BIT))?.is_some(),
                    _ => false,
                };
                out.push(known);
            }
            Ok(out)
        })
    }

    /// Every tx with this hash on `chain`, or on any account chain.
    pub fn account_tx(
        &self,
        chain: Option<Chain>,
        hash: &Hash32,
    ) -> Result<Vec<AccountTxView>, StoreError> {
        let chains: Vec<Chain> = match chain {
            Some(c) => vec![c],
            None => self.chains()?,
        };
        let mut out = Vec::new();
        for chain in chains
            .into_iter()
            .filter(|c| c.family() == tracehound_core::ChainFamily::Account)
        {
            let c = chain.code();
            let found = {
                let rtx = self.db.begin_read()?;
                let t = rtx.open_table(tables::ACCOUNT_TXIDS)?;
                t.get((c, hash.0))?.map(|v| v.value())
            };
            if found.is_none() {
                continue;
            }
            let view = self.with_account(chain, |l, db| {
                // Looked up again in the transaction that reads the rows: an unwind committed
                // in between must not look like a dangling pointer.
                let rtx = db.begin_read()?;
                let Some((height, index)) = rtx
                    .open_table(tables::ACCOUNT_TXIDS)?
                    .get((c, hash.0))?
                    .map(|v| v.value())
                else {
                    return Ok(None);
                };
                let txs = rtx.open_table(tables::ACCOUNT_TXS)?;
                let blocks = rtx.open_table(tables::BLOCKS)?;
                let transfers = rtx.open_table(tables::TRANSFERS)?;
                let missing = || StoreError::Corrupt {
                    table: "account_txids",
                    what: format!("{chain} tx {hash} points at a missing row"),
                };
                let r = TxRecord::decode_block(txs.get((c, height))?.ok_or_else(missing)?.value())?
                    .into_iter()
                    .find(|t| t.index == index)
                    .ok_or_else(missing)?;
                let block =
                    BlockRecord::decode(blocks.get((c, height))?.ok_or_else(missing)?.value())?;
                let slot = slot_of(index);
                let all = match transfers.get((c, height))? {
                    Some(v) => TransferRecord::decode_block(v.value())?,
                    None => Vec::new(),
                };
                let mut views = Vec::new();
                for t in all.into_iter().filter(|t| t.slot == slot) {
                    views.push(TransferView {
                        sub_index: t.sub,
                        kind: t.kind,
                        asset: l.asset_text(t.asset)?,
                        from: l.text(t.from)?,
                        to: l.text(t.to)?,
                        amount: Amount::from_units(t.amount),
                        source: t.source,
                    });
                }
                Ok(Some(AccountTxView {
                    chain,
                    hash: r.hash,
                    height,
                    index,
                    block_hash: block.hash,
                    time: block.time,
                    from: l.text(r.from)?,
                    to: r.to.map(|t| l.text(t)).transpose()?,
                    value: Amount::from_units(r.value),
                    success: r.success,
                    gas_used: r.gas_used,
                    gas_price: r.gas_price,
                    created: r.created.map(|t| l.text(t)).transpose()?,
                    transfers: views,
                }))
            })?;
            out.extend(view);
        }
        Ok(out)
    }

    /// The store's id of account-chain `address`, if it has one: all a reader of its flows
    /// needs ([`account_flow_ids`](Store::account_flow_ids)), without its balances.
    pub fn account_id(&self, address: &Address) -> Result<Option<u64>, StoreError> {
        let chain = address.chain();
        if chain.family() != tracehound_core::ChainFamily::Account
            || !self.chains()?.contains(&chain)
        {
            return Ok(None);
        }
        let Some(payee) = address.to_payee() else {
            return Ok(None);
        };
        self.with_account(chain, |l, _| l.addrs.lookup(&payee))
    }

    /// The account `address` with its balance in every asset, if the store has seen it.
    pub fn account(&self, address: &Address) -> Result<Option<AccountView>, StoreError> {
        let chain = address.chain();
        if chain.family() != tracehound_core::ChainFamily::Account
            || !self.chains()?.contains(&chain)
        {
            return Ok(None);
        }
        let Some(payee) = address.to_payee() else {
            return Ok(None);
        };
        let c = chain.code();
        self.with_account(chain, |l, db| {
            let Some(id) = l.addrs.lookup(&payee)? else {
                return Ok(None);
            };
            let rtx = db.begin_read()?;
            let balances = rtx.open_table(tables::BALANCES)?;
            let tokens = rtx.open_table(tables::TOKENS)?;
            let native = chain.native_asset();
            let mut out = Vec::new();
            for row in balances.range((c, id, 0)..=(c, id, u64::MAX))? {
                let (k, v) = row?;
                let asset = k.value().2;
                let (received, sent, n) = decode_balance(v.value())?;
                let (symbol, decimals) = if asset == 0 {
                    (Some(native.symbol.clone()), Some(native.decimals))
                } else {
                    let meta = tokens
                        .get((c, asset & !(TOKEN_BIT | NFT_BIT)))?
                        .map(|t| decode_token(t.value()))
                        .transpose()?;
                    meta.map_or((None, None), |(_, _, s, d)| (s, d))
                };
                out.push(AssetBalance {
                    asset: l.asset_text(asset)?,
                    class: if asset == 0 {
                        "native"
                    } else if asset & NFT_BIT != 0 {
                        "nft"
                    } else {
                        "token"
                    },
                    symbol,
                    decimals,
                    received: Amount::from_units(received),
                    sent: Amount::from_units(sent),
                    balance: Amount::from_units(received.saturating_sub(sent)),
                    transfers: n,
                });
            }
            // Every flow counts once in exactly one asset's balance (a transfer to oneself is
            // one flow): the counts add up to the account's transfers.
            let transfers = out.iter().map(|b| b.transfers).sum();
            Ok(Some(AccountView {
                chain,
                address: address.as_str().to_string(),
                id,
                balances: out,
                transfers,
            }))
        })
    }

    /// The symbol and decimals of `asset` on `chain` (`native`, or a token contract), as far as
    /// the store knows them: for showing amounts, never for computing with them.
    pub fn asset_info(
        &self,
        chain: Chain,
        asset: &str,
    ) -> Result<(Option<String>, Option<u8>), StoreError> {
        let native = chain.native_asset();
        if asset == "native" {
            return Ok((Some(native.symbol.clone()), Some(native.decimals)));
        }
        if chain.family() != tracehound_core::ChainFamily::Account {
            return Ok((None, None));
        }
        let Ok(contract) = Address::parse(chain, asset) else {
            return Ok((None, None));
        };
        let payee = payee_of(&contract)?;
        let c = chain.code();
        self.with_account(chain, |l, db| {
            let Some(id) = l.addrs.lookup(&payee)? else {
                return Ok((None, None));
            };
            let rtx = db.begin_read()?;
            let tokens = rtx.open_table(tables::TOKENS)?;
            let meta = tokens
                .get((c, id))?
                .map(|t| decode_token(t.value()))
                .transpose()?;
            Ok(meta.map_or((None, None), |(_, _, s, d)| (s, d)))
        })
    }

    /// A page of an account's transfers in (height, tx, sub-index) order, with provenance.
    pub fn account_history(
        &self,
        chain: Chain,
        id: u64,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<AccountHistoryRow>, StoreError> {
        let c = chain.code();
        self.with_account(chain, |l, db| {
            let rtx = db.begin_read()?;
            let transfers = rtx.open_table(tables::TRANSFERS)?;
            let mut out = Vec::new();
            // Flows run in time order: each block's transfers row is fetched once.
            let mut row: Option<(u32, redb::AccessGuard<'_, &'static [u8]>)> = None;
            let mut stamps = BlockStamps::default();
            history_flows(&rtx, chain, id, offset, limit, &mut stamps, |f, rec| {
                let missing = || StoreError::Corrupt {
                    table: "account_adj_runs",
                    what: format!(
                        "{chain} points at a missing transfer {}/{}/{}",
                        f.height,
                        index_of(f.slot),
                        f.sub
                    ),
                };
                if row.as_ref().is_none_or(|(h, _)| *h != f.height) {
                    row = Some((f.height, transfers.get((c, f.height))?.ok_or_else(missing)?));
                }
                let Some((_, ts)) = &row else {
                    return Err(missing());
                };
                let t = TransferRecord::at_in_block(ts.value(), f.row_at, f.slot, f.sub)?;
                // Payer, payee and kind from the block's own record (the flow's copies are
                // what `account_flows` reads; a test holds the two equal).
                out.push(AccountHistoryRow {
                    flow: AccountFlow {
                        height: f.height,
                        tx_index: index_of(f.slot),
                        sub_index: f.sub,
                        txid: f.tx.unwrap_or(rec.hash),
                        time: rec.time,
                        kind: t.kind,
                        asset: l.asset_text(f.asset)?,
                        from: l.text(t.from)?,
                        to: l.text(t.to)?,
                        received: Amount::from_units(f.received),
                        sent: Amount::from_units(f.sent),
                    },
                    source: t.source,
                });
                Ok(())
            })?;
            Ok(out)
        })
    }

    /// A page of an account's transfers as [`account_history`](Store::account_history) gives
    /// them, without provenance: read from the account's adjacency and block records alone,
    /// so a trace reading thousands of histories never reads the blocks' transfer rows.
    pub fn account_flows(
        &self,
        chain: Chain,
        id: u64,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<AccountFlow>, StoreError> {
        let flows = self.account_flow_ids(chain, id, offset, limit, &mut BlockStamps::default())?;
        self.with_account(chain, |l, _| {
            flows
                .into_iter()
                .map(|f| {
                    Ok(AccountFlow {
                        height: f.height,
                        tx_index: f.tx_index,
                        sub_index: f.sub_index,
                        txid: f.txid,
                        time: f.time,
                        kind: f.kind,
                        asset: l.asset_text(f.asset)?,
                        from: l.text(f.from)?,
                        to: l.text(f.to)?,
                        received: Amount::from_units(f.received),
                        sent: Amount::from_units(f.sent),
                    })
                })
                .collect()
        })
    }

    /// [`account_flows`](Store::account_flows) with addresses as ids, the blocks' hashes and
    /// times read through `stamps` (kept by a reader of many histories of this chain).
    pub fn account_flow_ids(
        &self,
        chain: Chain,
        id: u64,
        offset: usize,
        limit: usize,
        stamps: &mut BlockStamps,
    ) -> Result<Vec<FlowIds>, StoreError> {
        self.with_account(chain, |_, db| {
            let rtx = db.begin_read()?;
            let mut out = Vec::new();
            history_flows(&rtx, chain, id, offset, limit, stamps, |f, block| {
                let (from, to) = if f.pays {
                    (id, f.counterparty)
                } else {
                    (f.counterparty, id)
                };
                out.push(FlowIds {
                    height: f.height,
                    tx_index: index_of(f.slot),
                    sub_index: f.sub,
                    txid: f.tx.unwrap_or(block.hash),
                    time: block.time,
                    kind: f.kind,
                    asset: f.asset,
                    from,
                    to,
                    received: f.received,
                    sent: f.sent,
                });
                Ok(())
            })?;
            Ok(out)
        })
    }

    /// The address of account chain `chain`'s address id `id` (as [`FlowIds`] name them).
    pub fn account_address(&self, chain: Chain, id: u64) -> Result<String, StoreError> {
        self.with_account(chain, |l, _| l.text(id))
    }

    /// The addresses of many address ids of `chain` at once (one lock for all): a trace names
    /// every counterparty of each history it reads.
    pub fn account_addresses_of(
        &self,
        chain: Chain,
        ids: &[u64],
    ) -> Result<Vec<Address>, StoreError> {
        self.with_account(chain, |l, _| {
            ids.iter()
                .map(|&id| Ok(l.addrs.payee(id)?.to_address()))
                .collect()
        })
    }

    /// The asset of a [`FlowIds::asset`]: `native` or the token contract.
    pub fn account_asset(&self, chain: Chain, asset: u64) -> Result<String, StoreError> {
        self.with_account(chain, |l, _| l.asset_text(asset))
    }

    /// Every transfer of `chain` in order as (height, tx index, sub-index), its tx's hash
    /// (`None` for a block's opening balances, rewards and withdrawals), kind, asset, from,
    /// to, amount, source: for exports and digests.
    pub(crate) fn account_transfers(
        &self,
        chain: Chain,
        mut f: impl FnMut(
            (u32, u32, u32),
            Option<&Hash32>,
            TransferKind,
            String,
            String,
            String,
            u128,
            &str,
        ) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let c = chain.code();
        self.with_account(chain, |l, db| {
            let rtx = db.begin_read()?;
            let transfers = rtx.open_table(tables::TRANSFERS)?;
            let txs = rtx.open_table(tables::ACCOUNT_TXS)?;
            for row in transfers.range((c, 0)..=(c, u32::MAX))? {
                let (k, v) = row?;
                let (_, h) = k.value();
                let hashes: std::collections::HashMap<u32, Hash32> = match txs.get((c, h))? {
                    Some(b) => TxRecord::decode_block(b.value())?
                        .into_iter()
                        .map(|t| (t.index, t.hash))
                        .collect(),
                    None => std::collections::HashMap::new(),
                };
                for t in TransferRecord::decode_block(v.value())? {
                    let index = index_of(t.slot);
                    f(
                        (h, index, t.sub),
                        hashes.get(&index),
                        t.kind,
                        l.asset_text(t.asset)?,
                        l.text(t.from)?,
                        l.text(t.to)?,
                        t.amount,
                        &t.source,
                    )?;
                }
            }
            Ok(())
        })
    }

    /// The addresses party to a transfer (as sender or receiver) in `chain`'s blocks
    /// `heights`: what a live trace reads again after the chain grew.
    pub fn account_parties(
        &self,
        chain: Chain,
        heights: std::ops::RangeInclusive<u32>,
    ) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let c = chain.code();
        self.with_account(chain, |l, db| {
            let rtx = db.begin_read()?;
            let transfers = rtx.open_table(tables::TRANSFERS)?;
            let mut ids = std::collections::BTreeSet::new();
            for row in transfers.range((c, *heights.start())..=(c, *heights.end()))? {
                let (_, v) = row?;
                for t in TransferRecord::decode_block(v.value())? {
                    ids.insert(t.from);
                    ids.insert(t.to);
                }
            }
            ids.into_iter().map(|id| l.text(id)).collect()
        })
    }

    /// Every address of account chain `chain` the store has seen (pseudo-addresses too), in
    /// order of first appearance.
    pub fn account_addresses(&self, chain: Chain) -> Result<Vec<Address>, StoreError> {
        if !self.chains()?.contains(&chain) {
            return Ok(Vec::new());
        }
        self.with_account(chain, |l, _| {
            (0..l.addrs.len())
                .map(|id| Ok(l.addrs.payee(id)?.to_address()))
                .collect()
        })
    }

    /// The payee records of `chain`'s account ids, in id order (for digests).
    pub(crate) fn account_payees(
        &self,
        chain: Chain,
    ) -> Result<Vec<[u8; ADDR_RECORD]>, StoreError> {
        self.with_account(chain, |l, _| {
            (0..l.addrs.len())
                .map(|id| Ok(crate::bulk::addr_index::encode_payee(&l.addrs.payee(id)?)))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use tracehound_core::{AssetId, Block, Transfer, TxRef};

    use super::*;
    use crate::StoreOptions;

    const CHAIN: Chain = Chain::Evm(31337);

    fn addr(n: u8) -> Address {
        Address::evm(CHAIN, &[n; 20])
    }

    fn transfer(height: u32, hash: Hash32, index: u32, from: Address, to: u8) -> AccountTransfer {
        AccountTransfer {
            transfer: Transfer {
                tx: TxRef {
                    chain: CHAIN,
                    height,
                    index,
                    txid: hash,
                },
                sub_index: 0,
                kind: TransferKind::Native,
                asset: AssetId::Native,
                from,
                to: addr(to),
                amount: Amount::from_units(u128::from(index % 1000) + 7),
            },
            source: format!("test:{index}"),
        }
    }

    fn block(height: u32, parent: Hash32) -> AccountBlock {
        let hash = Hash32([height as u8 + 1; 32]);
        let tx = Hash32([0xa0 + height as u8; 32]);
        let opening = Address::pseudo(CHAIN, "mint", "opening");
        let reward = Address::pseudo(CHAIN, "mint", "block-reward");
        AccountBlock {
            block: Block {
                chain: CHAIN,
                height,
                hash,
                parent,
                time: 1_700_000_000 + u64::from(height),
                chainwork: None,
            },
            txs: vec![AccountTx {
                hash: tx,
                index: 0,
                from: addr(1),
                to: Some(addr(2)),
                value: Amount::from_units(7),
                success: true,
                gas_used: 21_000,
                gas_price: 1,
                created: None,
            }],
            // In the order the store takes them: openings, txs, block-level.
            transfers: vec![
                transfer(height, hash, OPENING_TX_INDEX, opening, 1),
                transfer(height, tx, 0, addr(1), 2),
                transfer(height, hash, u32::MAX, reward, 1),
            ],
            tokens: Vec::new(),
            links: Vec::new(),
        }
    }

    #[test]
    fn openings_come_before_the_txs_of_their_block_and_unwind_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let b0 = block(0, Hash32::ZERO);
        let b1 = block(1, b0.block.hash);
        store
            .apply_account_blocks(std::slice::from_ref(&b0))
            .unwrap();
        let one_block = store.digest().unwrap();
        store.apply_account_blocks(&[b1]).unwrap();

        let id = store.account(&addr(1)).unwrap().unwrap().id;
        let rows = store.account_history(CHAIN, id, 0, 100).unwrap();
        let order: Vec<(u32, u32)> = rows
            .iter()
            .map(|r| (r.flow.height, r.flow.tx_index))
            .collect();
        assert_eq!(
            order,
            [
                (0, OPENING_TX_INDEX),
                (0, 0),
                (0, u32::MAX),
                (1, OPENING_TX_INDEX),
                (1, 0),
                (1, u32::MAX)
            ]
        );
        assert_eq!(rows[0].flow.from, "mint:opening");
        assert_eq!(
            rows[0].flow.txid, b0.block.hash,
            "an opening's id is its block's hash"
        );
        assert_eq!(rows[1].flow.txid, b0.txs[0].hash);

        // A tx shows its own transfers only, not the openings sitting next to it.
        let tx = store.account_tx(Some(CHAIN), &b0.txs[0].hash).unwrap();
        assert_eq!(tx[0].transfers.len(), 1);
        assert_eq!(tx[0].transfers[0].source, "test:0");

        let mut seen = Vec::new();
        store
            .account_transfers(CHAIN, |k, _, _, _, from, _, _, _| {
                seen.push((k, from));
                Ok(())
            })
            .unwrap();
        assert_eq!(seen[0], ((0, OPENING_TX_INDEX, 0), "mint:opening".into()));
        assert_eq!(seen[3].0, (1, OPENING_TX_INDEX, 0));

        assert_eq!(store.unwind_to(CHAIN, 0).unwrap(), 1);
        assert_eq!(store.digest().unwrap(), one_block);
        let view = store.account(&addr(1)).unwrap().unwrap();
        assert_eq!(view.transfers, 3);
    }

    /// A block of a long chain: distinct hashes for any height, three transfers between the
    /// same two accounts (so their histories span many runs).
    fn long_block(height: u32, parent: Hash32) -> AccountBlock {
        let tag = |kind: u8| {
            let mut h = [kind; 32];
            h[..4].copy_from_slice(&height.to_le_bytes());
            Hash32(h)
        };
        let mut b = block(0, parent);
        b.block.height = height;
        b.block.hash = tag(1);
        b.txs[0].hash = tag(2);
        for t in &mut b.transfers {
            t.transfer.tx.height = height;
            if t.transfer.tx.index == 0 {
                t.transfer.tx.txid = tag(2);
            }
        }
        b
    }

    fn long_chain(n: u32) -> Vec<AccountBlock> {
        let mut parent = Hash32::ZERO;
        (0..n)
            .map(|h| {
                let b = long_block(h, parent);
                parent = b.block.hash;
                b
            })
            .collect()
    }

    #[test]
    fn runs_hold_the_same_flows_however_batches_and_unwinds_split_them() {
        let chain = long_chain(700);
        let open = || {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
            (dir, store)
        };
        // One batch: addr(1) has 3 flows a block, so its 2100 flows fill several runs.
        let (_d1, whole) = open();
        whole.apply_account_blocks(&chain).unwrap();
        let (_d2, pieces) = open();
        for part in chain.chunks(7) {
            pieces.apply_account_blocks(part).unwrap();
        }
        assert_eq!(whole.digest().unwrap(), pieces.digest().unwrap());

        // Pages across run boundaries read the same flows in the same order.
        let id = whole.account(&addr(1)).unwrap().unwrap().id;
        let page = |s: &Store, offset, limit| {
            s.account_history(CHAIN, id, offset, limit)
                .unwrap()
                .into_iter()
                .map(|r| r.flow)
                .map(|r| (r.height, r.tx_index, r.sub_index, r.received, r.sent))
                .collect::<Vec<_>>()
        };
        let all = page(&whole, 0, usize::MAX);
        assert_eq!(all.len(), 2100);
        let key = |r: &(u32, u32, u32, Amount, Amount)| (r.0, slot_of(r.1), r.2);
        assert!(all.windows(2).all(|w| key(&w[0]) < key(&w[1])));
        assert_eq!(page(&whole, 500, 40), all[500..540]);
        assert_eq!(page(&pieces, 1020, 30), all[1020..1050]);
        assert_eq!(page(&whole, 2090, 30), all[2090..]);

        // An unwind into the middle of a run leaves what a fresh ingest of the rest holds.
        assert_eq!(whole.unwind_to(CHAIN, 399).unwrap(), 300);
        let (_d3, fresh) = open();
        fresh.apply_account_blocks(&chain[..400]).unwrap();
        assert_eq!(whole.digest().unwrap(), fresh.digest().unwrap());
        assert_eq!(page(&whole, 0, usize::MAX), all[..1200]);
        let view = whole.account(&addr(1)).unwrap().unwrap();
        assert_eq!(view.transfers, 1200);
        // And the chain grows again from there as if nothing had happened.
        whole.apply_account_blocks(&chain[400..]).unwrap();
        assert_eq!(whole.digest().unwrap(), pieces.digest().unwrap());
    }

    #[test]
    fn flows_are_the_history_without_provenance() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let mut b0 = block(0, Hash32::ZERO);
        // A zero-value transfer (its direction is not in its amounts) and one to oneself.
        let tx = b0.txs[0].hash;
        let mut zero = transfer(0, tx, 0, addr(2), 1);
        zero.transfer.sub_index = 1;
        zero.transfer.amount = Amount::ZERO;
        let mut own = transfer(0, tx, 0, addr(1), 1);
        own.transfer.sub_index = 2;
        b0.transfers.insert(2, zero);
        b0.transfers.insert(3, own);
        let b1 = block(1, b0.block.hash);
        store.apply_account_blocks(&[b0, b1]).unwrap();
        for n in [1, 2] {
            let id = store.account(&addr(n)).unwrap().unwrap().id;
            let history = store.account_history(CHAIN, id, 0, usize::MAX).unwrap();
            let flows = store.account_flows(CHAIN, id, 0, usize::MAX).unwrap();
            assert!(
                history.len() >= 3,
                "addr({n}) has {} transfers",
                history.len()
            );
            let without: Vec<AccountFlow> = history.iter().map(|r| r.flow.clone()).collect();
            assert_eq!(flows, without);
            assert_eq!(store.account_flows(CHAIN, id, 1, 2).unwrap(), without[1..3]);
        }
    }
}
