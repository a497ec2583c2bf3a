//! The shapes of node answers that extraction reads: blocks with full transactions, receipts
//! with logs, withdrawals.
//!
//! These are deliberately lean (only the fields extraction needs, every other field ignored)
//! rather than alloy's full RPC types: one ingest must read answers of every era and chain —
//! pre-Byzantium receipts with `root` and `"status": null`, Parity's extra fields, L2
//! transaction types alloy's Ethereum envelope refuses — and a field that extraction does not
//! use must never fail a block. alloy's primitives still do every number and hash.

use alloy::primitives::{Address, B256, Bytes, U64, U256};
use serde::Deserialize;

/// `eth_getBlockByNumber(n, true)`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireBlock {
    pub(crate) number: U64,
    pub(crate) hash: B256,
    pub(crate) parent_hash: B256,
    pub(crate) timestamp: U64,
    /// The coinbase: where priority fees (and, before London, whole fees) go.
    pub(crate) miner: Address,
    #[serde(default)]
    pub(crate) base_fee_per_gas: Option<U256>,
    /// Present from Cancun (EIP-4844) on; also marks the new SELFDESTRUCT rule (EIP-6780).
    #[serde(default)]
    pub(crate) excess_blob_gas: Option<U64>,
    #[serde(default)]
    pub(crate) difficulty: Option<U256>,
    pub(crate) transactions: Vec<WireTx>,
    #[serde(default)]
    pub(crate) withdrawals: Option<Vec<WireWithdrawal>>,
}

/// `eth_getBlockByNumber(n, false)`: the header fields of [`WireBlock`], with tx hashes only.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireHeader {
    pub(crate) number: U64,
    pub(crate) hash: B256,
    pub(crate) parent_hash: B256,
    pub(crate) timestamp: U64,
    pub(crate) miner: Address,
    #[serde(default)]
    pub(crate) base_fee_per_gas: Option<U256>,
    #[serde(default)]
    pub(crate) excess_blob_gas: Option<U64>,
    #[serde(default)]
    pub(crate) difficulty: Option<U256>,
    pub(crate) transactions: Vec<B256>,
    #[serde(default)]
    pub(crate) withdrawals: Option<Vec<WireWithdrawal>>,
}

/// A transaction inside a block.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireTx {
    pub(crate) hash: B256,
    #[serde(default)]
    pub(crate) block_hash: Option<B256>,
    #[serde(default)]
    pub(crate) transaction_index: Option<U64>,
    pub(crate) from: Address,
    #[serde(default)]
    pub(crate) to: Option<Address>,
    pub(crate) value: U256,
    #[serde(default)]
    pub(crate) gas_price: Option<U256>,
    #[serde(default)]
    pub(crate) max_fee_per_gas: Option<U256>,
    #[serde(default)]
    pub(crate) max_priority_fee_per_gas: Option<U256>,
    #[serde(default, rename = "type")]
    pub(crate) tx_type: Option<U64>,
    /// The calldata, kept only when it is a short printable memo (see
    /// [`crate::links::memo_of_calldata`]); any other calldata is dropped as it is read.
    #[serde(default, deserialize_with = "memo", alias = "data")]
    pub(crate) input: Option<String>,
}

/// Reads calldata (`0x…`) keeping only a memo, without holding the calldata itself.
pub(crate) fn memo<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("hex calldata")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(crate::links::memo_of_calldata(v))
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// A validator withdrawal (Shanghai on): `amount` is in gwei.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireWithdrawal {
    pub(crate) index: U64,
    pub(crate) validator_index: U64,
    pub(crate) address: Address,
    pub(crate) amount: U64,
}

/// `eth_getTransactionReceipt`, or one item of `eth_getBlockReceipts`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireReceipt {
    pub(crate) transaction_hash: B256,
    /// The sender (every receipt since the earliest nodes has it; optional so an odd node's
    /// receipt without it only turns off header-only block fetching).
    #[serde(default)]
    pub(crate) from: Option<Address>,
    /// The recipient (`null` for contract creation).
    #[serde(default)]
    pub(crate) to: Option<Address>,
    #[serde(default, rename = "type")]
    pub(crate) tx_type: Option<U64>,
    pub(crate) transaction_index: U64,
    pub(crate) block_hash: B256,
    pub(crate) block_number: U64,
    pub(crate) gas_used: U256,
    /// Absent from receipts of old nodes; then the tx's gas price is what was paid.
    #[serde(default)]
    pub(crate) effective_gas_price: Option<U256>,
    /// `None` before Byzantium (those receipts carry a state root instead).
    #[serde(default)]
    pub(crate) status: Option<U64>,
    #[serde(default)]
    pub(crate) contract_address: Option<Address>,
    pub(crate) logs: Vec<WireLog>,
    #[serde(default)]
    pub(crate) blob_gas_used: Option<U256>,
    #[serde(default)]
    pub(crate) blob_gas_price: Option<U256>,
}

/// A log of a receipt.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireLog {
    pub(crate) address: Address,
    pub(crate) topics: Vec<B256>,
    pub(crate) data: Bytes,
    pub(crate) log_index: U64,
    #[serde(default)]
    pub(crate) transaction_hash: Option<B256>,
    #[serde(default)]
    pub(crate) block_hash: Option<B256>,
    #[serde(default)]
    pub(crate) removed: bool,
}
