//! Blocks, UTXO transactions and account transfers: the two shapes value moves in.

use crate::{Address, Amount, AssetId, Chain, Hash32, Payee, ScriptKind};

/// A block's place in its chain.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct Block {
    /// The chain.
    pub chain: Chain,
    /// Height (genesis is 0).
    pub height: u32,
    /// Display-order block hash.
    pub hash: Hash32,
    /// Display-order hash of the parent ([`Hash32::ZERO`] for genesis).
    pub parent: Hash32,
    /// Block timestamp, seconds since the Unix epoch.
    pub time: u64,
    /// Cumulative proof of work of the chain up to this block (big-endian 256-bit), when the
    /// source can tell it; used to refuse unwinding a heavier stored chain for a lighter one.
    pub chainwork: Option<[u8; 32]>,
}

/// Where a transaction sits: chain, block and position, plus its hash.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct TxRef {
    /// The chain.
    pub chain: Chain,
    /// Block height.
    pub height: u32,
    /// Position in the block.
    pub index: u32,
    /// Display-order tx id.
    pub txid: Hash32,
}

/// A reference to an output of an earlier transaction.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize, serde::Deserialize,
)]
pub struct OutPoint {
    /// Display-order id of the tx that created the output.
    pub txid: Hash32,
    /// Output index in that tx.
    pub vout: u32,
}

/// What an input spends, once looked up: who held it, how much, from which block.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ResolvedPrevout {
    /// What the spent output paid (`None` only for unspendable outputs, never spent).
    pub payee: Option<Payee>,
    /// Its script kind.
    pub kind: ScriptKind,
    /// Its value.
    pub value: Amount,
    /// Height of the block that created it.
    pub height: u32,
    /// Whether it was a coinbase output.
    pub coinbase: bool,
}

/// A transaction input. Coinbase inputs are not listed (see [`UtxoTx::coinbase`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UtxoInput {
    /// The output spent.
    pub prevout: OutPoint,
    /// The input's sequence number (RBF and relative locks show intent).
    pub sequence: u32,
    /// The spent output's address and value; filled by the store, `None` straight from a parser.
    pub resolved: Option<ResolvedPrevout>,
}

/// A transaction output.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UtxoOutput {
    /// Value in base units.
    pub value: Amount,
    /// The script template.
    pub kind: ScriptKind,
    /// What it pays; `None` for `OP_RETURN` outputs. Text via [`UtxoOutput::address`].
    pub payee: Option<Payee>,
    /// The `OP_RETURN` payload (pushed bytes, concatenated), for memos such as THORChain's.
    pub data: Option<Vec<u8>>,
}

impl UtxoOutput {
    /// The address paid, as text (computed: keep it off hot paths).
    pub fn address(&self) -> Option<Address> {
        self.payee.map(|p| p.to_address())
    }
}

impl ResolvedPrevout {
    /// The address that held the spent output, as text.
    pub fn address(&self) -> Option<Address> {
        self.payee.map(|p| p.to_address())
    }
}

/// A UTXO-chain transaction in the shape tracehound needs: ids, inputs with their prevouts,
/// outputs with addresses.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UtxoTx {
    /// Display-order tx id.
    pub txid: Hash32,
    /// Position in its block.
    pub index: u32,
    /// Whether it is the block's coinbase (it then has no listed inputs).
    pub coinbase: bool,
    /// Whether it is a Litecoin MWEB integration ("HogEx") transaction.
    pub hogex: bool,
    /// Serialized size in bytes, witness included.
    pub size: u32,
    /// Virtual size (weight / 4, rounded up).
    pub vsize: u32,
    /// Inputs, in order.
    pub inputs: Vec<UtxoInput>,
    /// Outputs, in order (index = position).
    pub outputs: Vec<UtxoOutput>,
}

impl UtxoTx {
    /// Sum of all output values.
    pub fn output_value(&self) -> Amount {
        self.outputs.iter().map(|o| o.value).sum()
    }

    /// Sum of resolved input values, or `None` if an input is not resolved yet.
    pub fn input_value(&self) -> Option<Amount> {
        self.inputs
            .iter()
            .map(|i| i.resolved.as_ref().map(|r| r.value))
            .sum::<Option<Amount>>()
    }

    /// The fee (inputs − outputs), or `None` for coinbases and unresolved txs.
    pub fn fee(&self) -> Option<Amount> {
        if self.coinbase {
            return None;
        }
        self.input_value()?.checked_sub(self.output_value())
    }
}

/// A block of a UTXO chain with its transactions.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UtxoBlock {
    /// Where the block sits.
    pub block: Block,
    /// Its transactions in block order.
    pub txs: Vec<UtxoTx>,
    /// Link facts its txs carry (`OP_RETURN` memos of cross-chain services), in tx order.
    pub links: Vec<crate::LinkFact>,
}

/// What moved value on an account chain.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    /// The value of a successful top-level transaction.
    Native,
    /// A value-carrying call, create or self-destruct inside a transaction.
    Internal,
    /// Gas paid by the sender (burnt base fee or tip to the block producer).
    Fee,
    /// A fungible token transfer (ERC-20 `Transfer`).
    Token,
    /// A non-fungible token transfer (ERC-721/1155), kept apart from fungible value.
    Nft,
}

/// One movement of value on an account chain, ordered by (block, tx index, sub-index).
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct Transfer {
    /// The transaction it belongs to.
    pub tx: TxRef,
    /// Its order inside the tx: log index for tokens, trace position for internal transfers.
    pub sub_index: u32,
    /// What kind of movement.
    pub kind: TransferKind,
    /// Which asset moved.
    pub asset: AssetId,
    /// Payer.
    pub from: Address,
    /// Payee.
    pub to: Address,
    /// Base units moved.
    pub amount: Amount,
}
