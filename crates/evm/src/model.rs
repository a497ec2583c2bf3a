//! What extraction hands to the store: a block, its transactions, and every movement of value
//! in it as [`tracehound_core::Transfer`]s, each with where it came from.
//!
//! # How value is represented
//!
//! Every change of an account's native balance is a transfer, so that summing a chain's
//! transfers from the genesis allocations gives `eth_getBalance` exactly:
//!
//! | movement | kind | from → to |
//! |---|---|---|
//! | tx value (successful txs only) | `Native` | sender → recipient, or the created contract |
//! | CALL with value, CREATE/CREATE2 endowment, SELFDESTRUCT balance (not reverted) | `Internal` | caller → callee / creator → new contract / contract → beneficiary |
//! | base fee × gas used (London on), blob gas (Cancun on) | `Fee` | sender → [`burn_address`] |
//! | priority fee × gas used; before London the whole fee | `Fee` | sender → block's coinbase |
//! | block and uncle rewards (Parity traces only), withdrawals (Shanghai on) | `Native` | [`mint_address`] → beneficiary |
//! | SELFDESTRUCT to itself (before Cancun, or of a contract made in the same tx) | `Internal` | contract → [`burn_address`] |
//!
//! Fees are charged whatever the tx's status; a failed tx moves nothing else. Block-level
//! movements (rewards, withdrawals) have no transaction: they sit in a pseudo-transaction at
//! index [`BLOCK_LEVEL_TX_INDEX`] (after every real tx) whose id is the block hash.
//!
//! Tokens: an ERC-20 `Transfer` log is a `Token` transfer of the emitting contract's asset. A
//! wrapped-native contract (WETH9 and its clones) emits `Deposit`/`Withdrawal` instead of a
//! `Transfer` when it mints or burns; those become `Token` transfers from/to the contract's
//! [`wrap_address`], so that token balances summed from transfers equal `balanceOf`, plus a
//! [`WrapLink`] tying the token movement to the native one (the native value itself moves in
//! the tx's `Native`/`Internal` transfers into or out of the contract). ERC-721 and ERC-1155
//! movements are `Nft` transfers, never mixed with fungible value: their amount is the count
//! (1 for ERC-721), the token id is in [`LogEvent`].
//!
//! # Limits
//!
//! What this model does not see, so balances there will not reconcile from transfers alone:
//! genesis allocations and whatever happened before the first ingested block (state, not
//! transfers: `tracehound ingest evm` reads them as opening balances, from [`MintKind::Opening`]
//! at [`OPENING_TX_INDEX`]); irregular state changes (mainnet's DAO fork at 1,920,000);
//! pre-merge block rewards without Parity traces ([`EvmBlock::rewards_missing`]); internal
//! transfers from a node without traces ([`EvmBlock::traces`]); before Cancun, ether sent to
//! a contract after its SELFDESTRUCT in the same tx (destroyed at the end of the tx); L2 fee
//! models (OP-stack L1 data fees and fee vaults, Arbitrum's), which are not Ethereum's burn
//! and tip; and receipts of system txs missing from the block (Polygon's state syncs), which
//! are refused as receipts of a tx not in the block.
//!
//! # Order
//!
//! Transfers are ordered by (block, tx index, sub-index). Inside a tx, the sub-index counts
//! from 0 in this order: fees (tip or legacy fee, base-fee burn, blob-fee burn), the tx's
//! value, internal transfers in call order (depth first), then log transfers by log index.
//! [`TransferSource`] keeps the original log index or trace address.

use alloy::primitives::{Address as EvmAddress, U256};
use tracehound_core::{Address, Amount, Block, Chain, Hash32, Transfer};

/// Tx index of the pseudo-transaction holding a block's rewards and withdrawals.
pub const BLOCK_LEVEL_TX_INDEX: u32 = u32::MAX;

pub use tracehound_core::OPENING_TX_INDEX;

/// The sink of burnt value: `burn:fee` (base and blob fees), `burn:selfdestruct`.
pub fn burn_address(chain: Chain, what: BurnKind) -> Address {
    Address::pseudo(
        chain,
        "burn",
        match what {
            BurnKind::Fee => "fee",
            BurnKind::SelfDestruct => "selfdestruct",
        },
    )
}

/// The source of newly issued native value: `mint:withdrawal`, `mint:block-reward`, …
pub fn mint_address(chain: Chain, what: MintKind) -> Address {
    Address::pseudo(
        chain,
        "mint",
        match what {
            MintKind::Withdrawal => "withdrawal",
            MintKind::BlockReward => "block-reward",
            MintKind::UncleReward => "uncle-reward",
            MintKind::OtherReward => "other-reward",
            MintKind::Opening => "opening",
        },
    )
}

/// Where a wrapped-native contract's tokens come from and go to: `wrap:0x…` (the contract).
pub fn wrap_address(chain: Chain, contract: &Address) -> Address {
    Address::pseudo(chain, "wrap", contract.as_str())
}

/// What kind of value was burnt.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BurnKind {
    /// Base fee (EIP-1559) and blob fee (EIP-4844).
    Fee,
    /// A balance destroyed by SELFDESTRUCT naming the contract itself.
    SelfDestruct,
}

/// What kind of value was issued.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MintKind {
    /// A validator withdrawal.
    Withdrawal,
    /// The proof-of-work block reward.
    BlockReward,
    /// The proof-of-work uncle reward.
    UncleReward,
    /// Another kind of reward trace (Parity's `external`, `emptyStep`).
    OtherReward,
    /// Not issued on chain: an account's balance from before it first appears in the store
    /// (its opening balance, read from the node's state at the block before).
    Opening,
}

/// Whether a transaction's execution succeeded.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TxStatus {
    /// Executed; its value and internal transfers happened.
    Success,
    /// Reverted or ran out of gas: only its fee moved.
    Failed,
    /// A pre-Byzantium receipt (no status field) and no trace to tell: treated as success.
    Unknown,
}

/// A transaction as the store needs it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EvmTx {
    /// Tx hash.
    pub hash: Hash32,
    /// Position in the block.
    pub index: u32,
    /// Sender.
    pub from: Address,
    /// Recipient; `None` for a contract creation.
    pub to: Option<Address>,
    /// Value sent with the tx (moved only if it succeeded).
    pub value: Amount,
    /// Execution status.
    pub status: TxStatus,
    /// Gas used (receipt).
    pub gas_used: u64,
    /// Price paid per gas, base fee included.
    pub effective_gas_price: u128,
    /// Blob gas used (EIP-4844 txs).
    pub blob_gas_used: Option<u64>,
    /// Price paid per blob gas.
    pub blob_gas_price: Option<u128>,
    /// The contract this tx created, if any.
    pub created_contract: Option<Address>,
    /// EIP-2718 type (0 for legacy).
    pub tx_type: u8,
}

impl EvmTx {
    /// Everything the sender paid for gas (execution and blobs).
    pub fn fee(&self) -> Option<u128> {
        let exec = u128::from(self.gas_used).checked_mul(self.effective_gas_price)?;
        let blob = match (self.blob_gas_used, self.blob_gas_price) {
            (Some(used), Some(price)) => u128::from(used).checked_mul(price)?,
            _ => 0,
        };
        exec.checked_add(blob)
    }
}

/// Which part of a fee a [`TransferKind::Fee`](tracehound_core::TransferKind::Fee) transfer is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FeePart {
    /// Before London: the whole fee, to the coinbase.
    Legacy,
    /// Priority fee (effective price − base fee) × gas used, to the coinbase.
    Tip,
    /// Base fee × gas used, burnt.
    BaseFeeBurn,
    /// Blob gas × blob gas price, burnt.
    BlobFeeBurn,
}

/// What a trace-derived transfer was.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TraceAction {
    /// A CALL carrying value.
    Call,
    /// A CREATE endowment.
    Create,
    /// A CREATE2 endowment.
    Create2,
    /// A SELFDESTRUCT sending the contract's balance to its beneficiary.
    SelfDestruct,
}

/// Which event a log-derived transfer came from.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum LogEvent {
    /// ERC-20 `Transfer(address,address,uint256)` (3 topics, 32 bytes of data).
    Erc20Transfer,
    /// Wrapped-native `Deposit(address,uint256)`: tokens minted against native value.
    WrapDeposit,
    /// Wrapped-native `Withdrawal(address,uint256)`: tokens burnt for native value.
    WrapWithdrawal,
    /// ERC-721 `Transfer` (4 topics): one token.
    Erc721Transfer {
        /// The token id (may exceed 128 bits).
        token_id: U256,
    },
    /// ERC-1155 `TransferSingle` or one entry of `TransferBatch`.
    Erc1155Transfer {
        /// Who moved the tokens on the holder's behalf.
        operator: Address,
        /// The token id (may exceed 128 bits).
        token_id: U256,
        /// Position in a `TransferBatch`'s arrays (`None` for `TransferSingle`).
        batch_position: Option<u32>,
    },
}

/// Where a transfer was read from.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum TransferSource {
    /// A share of the tx's fee.
    Fee(FeePart),
    /// The tx's own value.
    TxValue,
    /// A trace of the tx's execution.
    Trace {
        /// Position in the call tree (`[]` is the tx itself, `[0, 2]` the third call of its
        /// first call), as Parity numbers it.
        trace_address: Vec<u32>,
        /// What the trace did.
        action: TraceAction,
    },
    /// A log of the tx's receipt.
    Log {
        /// The log's block-wide index.
        log_index: u32,
        /// The event.
        event: LogEvent,
    },
    /// A block reward (Parity `reward` trace).
    Reward(MintKind),
    /// A validator withdrawal.
    Withdrawal {
        /// The withdrawal's global index.
        index: u64,
        /// The validator's index.
        validator_index: u64,
    },
}

/// One transfer with its provenance.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EvmTransfer {
    /// The transfer the store keeps.
    pub transfer: Transfer,
    /// Where it was read from.
    pub source: TransferSource,
}

/// Direction of a wrapped-native movement.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WrapDirection {
    /// Native in, tokens out (`Deposit`).
    Wrap,
    /// Tokens in, native out (`Withdrawal`).
    Unwrap,
}

/// A link between a native movement and the wrapped token minted or burnt for it: the same
/// value changed form, so a trace may follow it from one asset to the other.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct WrapLink {
    /// The tx.
    pub tx: Hash32,
    /// Its index in the block.
    pub tx_index: u32,
    /// The log's block-wide index.
    pub log_index: u32,
    /// The wrapped-native token contract.
    pub token: Address,
    /// The account that wrapped or unwrapped.
    pub account: Address,
    /// Base units (the same in both assets).
    pub amount: Amount,
    /// Which way.
    pub direction: WrapDirection,
}

/// Name, symbol and decimals of a token, as far as its contract tells them.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct TokenMetadata {
    /// The token contract.
    pub address: Address,
    /// `name()`, if the contract answers a readable one.
    pub name: Option<String>,
    /// `symbol()` (a `string` or a `bytes32`), if readable.
    pub symbol: Option<String>,
    /// `decimals()`, if the contract has it and it fits a `u8`.
    pub decimals: Option<u8>,
}

/// How a block's internal transfers were found.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceFlavour {
    /// Parity/OpenEthereum/Erigon/Reth/anvil `trace_block`.
    ParityBlock,
    /// `trace_replayBlockTransactions(block, ["trace"])`.
    ParityReplay,
    /// geth's `debug_traceBlockByNumber` with `callTracer`.
    GethCallTracer,
}

impl TraceFlavour {
    /// The JSON-RPC method of this flavour.
    pub fn method(self) -> &'static str {
        match self {
            TraceFlavour::ParityBlock => "trace_block",
            TraceFlavour::ParityReplay => "trace_replayBlockTransactions",
            TraceFlavour::GethCallTracer => "debug_traceBlockByNumber",
        }
    }
}

/// A block read from an EVM node, with every transfer in it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EvmBlock {
    /// Height, hash, parent and time (no chainwork on EVM chains).
    pub block: Block,
    /// The coinbase (fee recipient).
    pub miner: Address,
    /// Base fee per gas, from London on.
    pub base_fee_per_gas: Option<u128>,
    /// Transactions in block order.
    pub txs: Vec<EvmTx>,
    /// Every transfer, ordered by (tx index, sub-index); see the module docs.
    pub transfers: Vec<EvmTransfer>,
    /// Wrapped-native mints and burns, linking native and token value.
    pub wraps: Vec<WrapLink>,
    /// Metadata of every token contract with a transfer in this block (when fetched).
    pub tokens: Vec<TokenMetadata>,
    /// Where internal transfers came from; `None` when the node offers no traces, so internal
    /// transfers (and block rewards) are missing from [`EvmBlock::transfers`].
    pub traces: Option<TraceFlavour>,
    /// Whether proof-of-work block rewards are missing (a pre-merge block read without Parity
    /// traces, which alone list them): native balances of miners will not reconcile.
    pub rewards_missing: bool,
    /// Token logs left out because their amount does not fit 128 bits (only under
    /// [`OversizedAmounts::Skip`](crate::OversizedAmounts::Skip); empty otherwise).
    pub skipped: Vec<crate::Location>,
    /// Link facts (swaps, wraps, bridge and vault entries and exits, mixer deposits and
    /// withdrawals) read from the block; see [`crate::links`].
    pub links: Vec<tracehound_core::LinkFact>,
    /// Links recognised but not made, by reason, with counts (bad or incomplete input).
    pub link_skips: Vec<(String, u64)>,
}

impl EvmBlock {
    /// Whether this block's native transfers are complete: internal transfers and rewards are
    /// all there.
    pub fn is_complete(&self) -> bool {
        self.traces.is_some() && !self.rewards_missing
    }

    /// The core transfers alone, in order.
    pub fn core_transfers(&self) -> impl Iterator<Item = &Transfer> {
        self.transfers.iter().map(|t| &t.transfer)
    }
}

/// Converts an alloy address to the core model's.
pub(crate) fn address(chain: Chain, a: &EvmAddress) -> Address {
    Address::evm(chain, &a.0.0)
}

impl TransferSource {
    /// Where the transfer was read from, as the text the store keeps with it (`fee:tip`,
    /// `value`, `trace:[0,2]:call`, `log:17:erc20`, `log:5:erc721:<id>` …).
    pub fn text(&self) -> String {
        match self {
            TransferSource::Fee(part) => format!("fee:{}", format!("{part:?}").to_lowercase()),
            TransferSource::TxValue => "value".into(),
            TransferSource::Trace {
                trace_address,
                action,
            } => {
                let path: Vec<String> = trace_address.iter().map(u32::to_string).collect();
                let action = match action {
                    TraceAction::Call => "call",
                    TraceAction::Create => "create",
                    TraceAction::Create2 => "create2",
                    TraceAction::SelfDestruct => "selfdestruct",
                };
                format!("trace:[{}]:{action}", path.join(","))
            }
            TransferSource::Log { log_index, event } => {
                let event = match event {
                    LogEvent::Erc20Transfer => "erc20".to_string(),
                    LogEvent::WrapDeposit => "wrap-deposit".to_string(),
                    LogEvent::WrapWithdrawal => "wrap-withdrawal".to_string(),
                    LogEvent::Erc721Transfer { token_id } => format!("erc721:{token_id}"),
                    LogEvent::Erc1155Transfer {
                        token_id,
                        batch_position,
                        ..
                    } => match batch_position {
                        Some(p) => format!("erc1155:{token_id}:batch{p}"),
                        None => format!("erc1155:{token_id}"),
                    },
                };
                format!("log:{log_index}:{event}")
            }
            TransferSource::Reward(kind) => {
                format!("reward:{}", format!("{kind:?}").to_lowercase())
            }
            TransferSource::Withdrawal {
                index,
                validator_index,
            } => format!("withdrawal:{index}:validator{validator_index}"),
        }
    }
}

impl EvmBlock {
    /// The block in the shape the store takes it (every transfer with its provenance text).
    pub fn to_account_block(&self) -> tracehound_core::AccountBlock {
        self.clone().into_account_block()
    }

    /// [`EvmBlock::to_account_block`] by value: addresses and transfers move, not copy
    /// (ingest converts every block once and keeps only the result).
    pub fn into_account_block(self) -> tracehound_core::AccountBlock {
        tracehound_core::AccountBlock {
            block: self.block,
            txs: self
                .txs
                .into_iter()
                .map(|t| tracehound_core::AccountTx {
                    hash: t.hash,
                    index: t.index,
                    from: t.from,
                    to: t.to,
                    value: t.value,
                    success: t.status != TxStatus::Failed,
                    gas_used: t.gas_used,
                    gas_price: t.effective_gas_price,
                    created: t.created_contract,
                })
                .collect(),
            transfers: self
                .transfers
                .into_iter()
                .map(|t| tracehound_core::AccountTransfer {
                    source: t.source.text(),
                    transfer: t.transfer,
                })
                .collect(),
            tokens: self
                .tokens
                .into_iter()
                .map(|t| tracehound_core::TokenInfo {
                    address: t.address,
                    name: t.name,
                    symbol: t.symbol,
                    decimals: t.decimals,
                })
                .collect(),
            links: self.links,
        }
    }
}
