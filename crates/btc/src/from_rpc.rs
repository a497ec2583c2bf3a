//! A node's verbose `getblock` answer → the model.
//!
//! Each transaction is decoded from its raw `hex` with the same decoder the blk reader uses
//! (so RPC and file ingest store identical data, MWEB included), and the node's own fields are
//! checked against the bytes: the txid, the number of outputs and each output's value. An
//! answer that disagrees with itself is refused, naming the block, tx and field.

use tracehound_core::{Block, Chain, Hash32, UtxoBlock};

use crate::decode::{self, DecodeError};
use crate::rpc::RpcBlock;

/// Why a verbose block answer cannot be taken as the block it claims to be.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FromRpcError {
    /// The `hex` of a tx is not hex.
    #[error("getblock {block} (height {height}) from {url}: tx {index} ({txid}): `hex` is not hex")]
    NotHex {
        /// Block hash.
        block: Hash32,
        /// Height.
        height: u32,
        /// Node URL.
        url: String,
        /// Tx position.
        index: usize,
        /// The txid the node gave.
        txid: Hash32,
    },
    /// The raw tx does not decode.
    #[error("getblock {block} (height {height}) from {url}: tx {index} ({txid}): {source}")]
    Decode {
        /// Block hash.
        block: Hash32,
        /// Height.
        height: u32,
        /// Node URL.
        url: String,
        /// Tx position.
        index: usize,
        /// The txid the node gave.
        txid: Hash32,
        /// What the decoder said.
        source: Box<DecodeError>,
    },
    /// A field of the answer disagrees with the raw bytes it came with.
    #[error("getblock {block} (height {height}) from {url}: tx {index} ({txid}): {what}")]
    Inconsistent {
        /// Block hash.
        block: Hash32,
        /// Height.
        height: u32,
        /// Node URL.
        url: String,
        /// Tx position.
        index: usize,
        /// The txid the node gave.
        txid: Hash32,
        /// What disagrees.
        what: String,
    },
    /// The transactions do not hash to the block's merkle root (one is missing, added or
    /// reordered), or the answer gave no root to check.
    #[error(
        "getblock {block} (height {height}) from {url}: the {count} transactions give merkle root {computed}, the block says {claimed}"
    )]
    MerkleMismatch {
        /// Block hash.
        block: Hash32,
        /// Height.
        height: u32,
        /// Node URL.
        url: String,
        /// Transactions in the answer.
        count: usize,
        /// Root of their txids.
        computed: Hash32,
        /// The answer's `merkleroot` (or `none`).
        claimed: String,
    },
    /// A block above genesis without a parent.
    #[error("getblock {block} (height {height}) from {url}: no `previousblockhash`")]
    NoParent {
        /// Block hash.
        block: Hash32,
        /// Height.
        height: u32,
        /// Node URL.
        url: String,
    },
}

/// Converts `b`, as answered by the node at `url` for `chain`, into a [`UtxoBlock`].
pub fn to_utxo_block(chain: Chain, b: &RpcBlock, url: &str) -> Result<UtxoBlock, FromRpcError> {
    let mut txs = Vec::with_capacity(b.tx.len());
    for (index, jtx) in b.tx.iter().enumerate() {
        let inconsistent = |what: String| FromRpcError::Inconsistent {
            block: b.hash,
            height: b.height,
            url: url.to_string(),
            index,
            txid: jtx.txid,
            what,
        };
        let bytes = hex::decode(&jtx.hex).map_err(|_| FromRpcError::NotHex {
            block: b.hash,
            height: b.height,
            url: url.to_string(),
            index,
            txid: jtx.txid,
        })?;
        let decoded =
            decode::decode_transaction(&bytes, chain).map_err(|source| FromRpcError::Decode {
                block: b.hash,
                height: b.height,
                url: url.to_string(),
                index,
                txid: jtx.txid,
                source: Box::new(source),
            })?;
        if decoded.txid != jtx.txid {
            return Err(inconsistent(format!(
                "the tx bytes hash to {}, not the txid the node gave",
                decoded.txid
            )));
        }
        let tx = decode::to_utxo_tx(chain, u32::try_from(index).unwrap_or(u32::MAX), &decoded);
        if tx.outputs.len() != jtx.vout.len() {
            return Err(inconsistent(format!(
                "{} outputs in the bytes, {} in `vout`",
                tx.outputs.len(),
                jtx.vout.len()
            )));
        }
        for (o, jo) in tx.outputs.iter().zip(&jtx.vout) {
            if o.value != jo.value {
                return Err(inconsistent(format!(
                    "output {} is worth {} in the bytes but {} in `vout`",
                    jo.n, o.value, jo.value
                )));
            }
        }
        txs.push(tx);
    }
    let root = bitcoin::merkle_tree::calculate_root(txs.iter().map(|t| {
        use bitcoin::hashes::Hash as _;
        bitcoin::Txid::from_byte_array(t.txid.to_internal())
    }));
    let computed = root.map(|r| {
        use bitcoin::hashes::Hash as _;
        Hash32::from_internal(r.to_byte_array())
    });
    if computed.is_none() || computed != b.merkle_root {
        return Err(FromRpcError::MerkleMismatch {
            block: b.hash,
            height: b.height,
            url: url.to_string(),
            count: txs.len(),
            computed: computed.unwrap_or_default(),
            claimed: b
                .merkle_root
                .map_or_else(|| "none".into(), |r| r.to_string()),
        });
    }
    let parent = match (b.height, b.previous_block_hash) {
        (0, _) => Hash32::ZERO,
        (_, Some(p)) => p,
        (height, None) => {
            return Err(FromRpcError::NoParent {
                block: b.hash,
                height,
                url: url.to_string(),
            });
        }
    };
    Ok(UtxoBlock {
        block: Block {
            chain,
            height: b.height,
            hash: b.hash,
            parent,
            time: b.time,
            chainwork: b.chainwork.map(|w| w.0),
        },
        txs,
        links: Vec::new(),
    })
}
