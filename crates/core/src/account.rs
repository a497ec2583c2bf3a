//! Account-chain blocks in the shape the store takes them: txs, and every transfer with the
//! text naming where it was read from, so each stored figure can be traced back.

use crate::{Address, Amount, Block, Hash32, Transfer};

/// Tx index of the pseudo-transaction holding a block's opening balances: what accounts that
/// first appear in the block held just before it (see `mint:opening`). It sorts before every
/// real tx of the block in the store, whatever its numeric value; its id is the block hash.
pub const OPENING_TX_INDEX: u32 = u32::MAX - 1;

/// A block of an account chain, as the store takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountBlock {
    /// Where the block sits.
    pub block: Block,
    /// Its transactions in block order.
    pub txs: Vec<AccountTx>,
    /// Every transfer, ordered by (tx index, sub-index).
    pub transfers: Vec<AccountTransfer>,
    /// Metadata of tokens first seen in the block.
    pub tokens: Vec<TokenInfo>,
    /// Link facts (swaps, wraps, bridge and mixer legs) decoded from its txs, in tx order.
    pub links: Vec<crate::LinkFact>,
}

/// A transaction of an account chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountTx {
    /// Tx hash.
    pub hash: Hash32,
    /// Position in the block.
    pub index: u32,
    /// Sender.
    pub from: Address,
    /// Recipient (`None` for contract creation).
    pub to: Option<Address>,
    /// Value sent with it.
    pub value: Amount,
    /// Whether its execution succeeded.
    pub success: bool,
    /// Gas used.
    pub gas_used: u64,
    /// Effective gas price, base units per gas.
    pub gas_price: u128,
    /// The contract it created, if any.
    pub created: Option<Address>,
}

/// A transfer with the text naming where it was read from (`fee:tip`, `trace:0.2:call`,
/// `log:17:erc20`, `log:5:erc721:<token id>` …), so every stored figure can be traced back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountTransfer {
    /// The transfer.
    pub transfer: Transfer,
    /// Its provenance.
    pub source: String,
}

/// A token contract's metadata (any part may be missing on non-standard tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The contract.
    pub address: Address,
    /// `name()`.
    pub name: Option<String>,
    /// `symbol()`.
    pub symbol: Option<String>,
    /// `decimals()`.
    pub decimals: Option<u8>,
}
