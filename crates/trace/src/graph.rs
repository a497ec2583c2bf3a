//! What the engine reads: the two shapes of value as plain data, behind two small traits, so
//! the same engine runs over the store (`store.rs`) and over in-memory graphs in tests.

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

/// Reads UTXO txs.
pub trait UtxoGraph {
    /// The tx `txid`.
    fn tx(&mut self, txid: &str) -> Result<UtxoTxData, TraceError>;
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
    /// Tx hash.
    pub txid: String,
    /// A gas fee (ordered after the tx's other transfers, TRACING.md: the fee is the last
    /// share).
    pub fee: bool,
    /// `native` or the token contract.
    pub asset: String,
    /// Payer.
    pub from: String,
    /// Payee.
    pub to: String,
    /// Base units.
    pub amount: u128,
}

/// The order in which transfers apply: (block, tx, fees last, sub-index).
pub type EventKey = (u32, u32, u8, u32);

impl AccountEvent {
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
    /// than `limit` is a [`TraceError::Cap`].
    fn history(&mut self, address: &str, limit: usize) -> Result<Vec<AccountEvent>, TraceError>;
}

/// An in-memory account chain: a list of transfers (tests, imported CSVs).
#[derive(Debug, Clone, Default)]
pub struct MemAccounts {
    by_address: std::collections::HashMap<String, Vec<AccountEvent>>,
}

impl MemAccounts {
    /// Indexes `events` by address.
    pub fn new(events: &[AccountEvent]) -> MemAccounts {
        let mut by_address: std::collections::HashMap<String, Vec<AccountEvent>> =
            std::collections::HashMap::new();
        for e in events {
            by_address
                .entry(e.from.clone())
                .or_default()
                .push(e.clone());
            if e.to != e.from {
                by_address.entry(e.to.clone()).or_default().push(e.clone());
            }
        }
        for v in by_address.values_mut() {
            v.sort_by_key(AccountEvent::key);
        }
        MemAccounts { by_address }
    }
}

impl AccountGraph for MemAccounts {
    fn history(&mut self, address: &str, limit: usize) -> Result<Vec<AccountEvent>, TraceError> {
        let h = self.by_address.get(address).cloned().unwrap_or_default();
        if h.len() > limit {
            return Err(TraceError::Cap {
                what: format!("{address} has {} transfers", h.len()),
                limit: limit as u64,
                flag: "--max-history",
            });
        }
        Ok(h)
    }
}

/// An in-memory UTXO chain (tests).
#[derive(Debug, Clone, Default)]
pub struct MemUtxo {
    /// Txs by id.
    pub txs: std::collections::HashMap<String, UtxoTxData>,
}

impl UtxoGraph for MemUtxo {
    fn tx(&mut self, txid: &str) -> Result<UtxoTxData, TraceError> {
        self.txs
            .get(txid)
            .cloned()
            .ok_or_else(|| TraceError::Unknown(format!("tx {txid}")))
    }
}
