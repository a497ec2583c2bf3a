//! What the engine reads: the two shapes of value as plain data, behind two small traits, so
//! the same engine runs over the store (`store.rs`) and over in-memory graphs in tests.

use std::sync::Arc;

use crate::TraceError;

/// A UTXO tx with every input resolved and every output's spender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtxoTxData {
    /// Tx id.
    pub txid: String,
    /// Block height.
    pub height: u32,
    /// Position in the block.
    pub index: u32,
    /// Block time.
    pub time: u64,
    /// Inputs in tx order.
    pub inputs: Vec<UtxoIn>,
    /// Outputs in tx order.
    pub outputs: Vec<UtxoOut>,
}

/// An input: the output it spends, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtxoIn {
    /// Tx of the spent output.
    pub prev_txid: String,
    /// Its index.
    pub prev_vout: u32,
    /// Its address (empty if none).
    pub address: String,
    /// Its value.
    pub value: u128,
}

/// An output and who spent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtxoOut {
    /// Value.
    pub value: u128,
    /// Address, if it pays one.
    pub address: Option<String>,
    /// The spending tx.
    pub spent_by: Option<String>,
}

/// A UTXO tx as the engine reads it: dense integer ids for txs, outputs and addresses, so
/// the traversal hashes and copies integers; text (txids, addresses) is looked up only for
/// what the result prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtxoTx {
    /// Tx id (the graph's dense id, not the txid).
    pub id: u64,
    /// Block height.
    pub height: u32,
    /// Position in the block.
    pub index: u32,
    /// Block time.
    pub time: u64,
    /// Inputs in tx order.
    pub inputs: Vec<TxIn>,
    /// Outputs in tx order.
    pub outputs: Vec<TxOut>,
}

/// An input as ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxIn {
    /// Output id of the output it spends.
    pub prev: u64,
    /// Address id of that output.
    pub addr: Option<u64>,
    /// Its value.
    pub value: u128,
}

/// An output as ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxOut {
    /// Output id (unique in the graph).
    pub id: u64,
    /// Address id of the payee.
    pub addr: Option<u64>,
    /// Value.
    pub value: u128,
    /// Tx id of the spender.
    pub spent_by: Option<u64>,
}

/// Reads UTXO txs by dense id.
pub trait UtxoGraph {
    /// The id of the tx with txid `txid`.
    fn find(&mut self, txid: &str) -> Result<u64, TraceError>;
    /// The tx with id `id`.
    fn tx(&mut self, id: u64) -> Result<UtxoTx, TraceError>;
    /// The txid of tx `id`.
    fn txid(&mut self, id: u64) -> Result<String, TraceError>;
    /// The text of address `id`.
    fn address(&mut self, id: u64) -> Result<String, TraceError>;
    /// The tx spending output `vout` of `tx`. Graphs that fill [`TxOut::spent_by`] answer
    /// from it; the store's graph leaves it empty and looks spenders up here, for the few
    /// outputs a trace follows.
    fn spender(&mut self, tx: &UtxoTx, vout: u32) -> Result<Option<u64>, TraceError> {
        Ok(tx.outputs.get(vout as usize).and_then(|o| o.spent_by))
    }
    /// The block time of tx `id`.
    fn time_of(&mut self, id: u64) -> Result<u64, TraceError> {
        Ok(self.tx(id)?.time)
    }
}

/// One transfer of an account chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountEvent {
    /// Block height.
    pub height: u32,
    /// Tx index (`u32::MAX` for block-level transfers).
    pub tx: u32,
    /// Order inside the tx.
    pub sub: u32,
    /// Block time.
    pub time: u64,
    /// Tx hash (text only for the few transfers that carry taint: a trace reads millions).
    pub txid: tracehound_core::Hash32,
    /// A gas fee (ordered after the tx's other transfers, TRACING.md: the fee is the last
    /// share).
    pub fee: bool,
    /// `native` or the token contract.
    pub asset: Arc<str>,
    /// Payer.
    pub from: Arc<str>,
    /// Payee.
    pub to: Arc<str>,
    /// Base units.
    pub amount: u128,
}

/// The order in which transfers apply: (block, tx, fees last, sub-index).
pub type EventKey = (u32, u32, u8, u32);

impl AccountEvent {
    /// Its tx hash as shown: `0x` and lowercase hex.
    pub fn tx_text(&self) -> String {
        format!("0x{}", self.txid)
    }

    /// Its place in the order transfers apply.
    pub fn key(&self) -> EventKey {
        (self.height, self.tx, u8::from(self.fee), self.sub)
    }

    /// `height:tx:sub`.
    pub fn at(&self) -> String {
        format!("{}:{}:{}", self.height, self.tx, self.sub)
    }
}

/// Reads account histories.
pub trait AccountGraph {
    /// Every transfer touching `address` (any asset), sorted by [`AccountEvent::key`]; more
    /// than `limit` is a [`TraceError::Cap`]. Shared, so an in-memory graph hands out its
    /// history without copying it.
    fn history(&mut self, address: &str, limit: usize) -> Result<Arc<[AccountEvent]>, TraceError>;
}

/// An in-memory account chain: a list of transfers (tests, imported CSVs).
#[derive(Debug, Clone, Default)]
pub struct MemAccounts {
    by_address: std::collections::HashMap<String, Arc<[AccountEvent]>>,
}

impl MemAccounts {
    /// Indexes `events` by address.
    pub fn new(events: &[AccountEvent]) -> MemAccounts {
        let mut by_address: std::collections::HashMap<String, Vec<AccountEvent>> =
            std::collections::HashMap::new();
        for e in events {
            by_address
                .entry(e.from.to_string())
                .or_default()
                .push(e.clone());
            if e.to != e.from {
                by_address
                    .entry(e.to.to_string())
                    .or_default()
                    .push(e.clone());
            }
        }
        MemAccounts {
            by_address: by_address
                .into_iter()
                .map(|(a, mut v)| {
                    v.sort_by_key(AccountEvent::key);
                    (a, Arc::from(v))
                })
                .collect(),
        }
    }
}

impl AccountGraph for MemAccounts {
    fn history(&mut self, address: &str, limit: usize) -> Result<Arc<[AccountEvent]>, TraceError> {
        let h = self
            .by_address
            .get(address)
            .cloned()
            .unwrap_or_else(|| Arc::from(Vec::new()));
        if h.len() > limit {
            return Err(TraceError::Cap {
                what: format!("transfers of {address} (it has {})", h.len()),
                limit: limit as u64,
                flag: "--max-history",
            });
        }
        Ok(h)
    }
}

/// An in-memory UTXO chain (tests): txs by txid, interned to ids on first read.
#[derive(Debug, Clone, Default)]
pub struct MemUtxo {
    /// Txs by id.
    pub txs: std::collections::HashMap<String, UtxoTxData>,
    index: MemIndex,
}

/// Output ids are `tx id << VOUT_BITS | vout`.
const VOUT_BITS: u32 = 24;

#[derive(Debug, Clone, Default)]
struct MemIndex {
    txids: Vec<String>,
    tx_ids: std::collections::HashMap<String, u64>,
    addrs: Vec<String>,
    addr_ids: std::collections::HashMap<String, u64>,
}

impl MemIndex {
    fn intern(
        names: &mut Vec<String>,
        ids: &mut std::collections::HashMap<String, u64>,
        name: &str,
    ) -> u64 {
        if let Some(&id) = ids.get(name) {
            return id;
        }
        let id = names.len() as u64;
        names.push(name.to_string());
        ids.insert(name.to_string(), id);
        id
    }
    fn tx(&mut self, txid: &str) -> u64 {
        Self::intern(&mut self.txids, &mut self.tx_ids, txid)
    }
    fn addr(&mut self, a: &str) -> u64 {
        Self::intern(&mut self.addrs, &mut self.addr_ids, a)
    }
}

impl MemUtxo {
    fn name(&self, id: u64) -> Result<&str, TraceError> {
        self.index
            .txids
            .get(usize::try_from(id).unwrap_or(usize::MAX))
            .map(String::as_str)
            .ok_or_else(|| TraceError::Unknown(format!("tx #{id}")))
    }
}

impl UtxoGraph for MemUtxo {
    fn find(&mut self, txid: &str) -> Result<u64, TraceError> {
        if !self.txs.contains_key(txid) {
            return Err(TraceError::Unknown(format!("tx {txid}")));
        }
        Ok(self.index.tx(txid))
    }

    fn tx(&mut self, id: u64) -> Result<UtxoTx, TraceError> {
        let txid = self.name(id)?.to_string();
        let d = self
            .txs
            .get(&txid)
            .ok_or_else(|| TraceError::Unknown(format!("tx {txid}")))?;
        let ix = &mut self.index;
        let inputs = d
            .inputs
            .iter()
            .map(|i| TxIn {
                prev: (ix.tx(&i.prev_txid) << VOUT_BITS) | u64::from(i.prev_vout),
                addr: (!i.address.is_empty()).then(|| ix.addr(&i.address)),
                value: i.value,
            })
            .collect();
        let outputs = d
            .outputs
            .iter()
            .enumerate()
            .map(|(v, o)| TxOut {
                id: (id << VOUT_BITS) | v as u64,
                addr: o.address.as_deref().map(|a| ix.addr(a)),
                value: o.value,
                spent_by: o.spent_by.as_deref().map(|s| ix.tx(s)),
            })
            .collect();
        Ok(UtxoTx {
            id,
            height: d.height,
            index: d.index,
            time: d.time,
            inputs,
            outputs,
        })
    }

    fn txid(&mut self, id: u64) -> Result<String, TraceError> {
        self.name(id).map(str::to_string)
    }

    fn address(&mut self, id: u64) -> Result<String, TraceError> {
        self.index
            .addrs
            .get(usize::try_from(id).unwrap_or(usize::MAX))
            .cloned()
            .ok_or_else(|| TraceError::Unknown(format!("address #{id}")))
    }
}
