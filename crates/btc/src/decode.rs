//! Block and transaction bytes → tracehound's model, for Bitcoin and Litecoin serializations.
//!
//! Transactions are walked here, byte by byte, because Litecoin adds an MWEB flag (`0x08`) to
//! the segwit marker scheme and an MWEB extension block after the last transaction of a block,
//! and because ingest wants the model straight from the bytes: [`decode_utxo_block`] allocates
//! only each tx's input and output lists, where going through the `bitcoin` crate's types
//! (still offered by [`decode_block`]) allocates every script and witness item first. Both are tolerated: the
//! integration ("HogEx") transaction is kept like any other, its peg-in inputs and HogAddr
//! output are named by [`crate::script`], and the extension block itself (confidential by
//! design) is skipped by length.
//!
//! The tx id is hashed straight from the input bytes (version, inputs, outputs, lock time),
//! so no transaction is serialized again, and the header's merkle root is checked against the
//! ids, so a corrupted record can never be stored as if it were a block.
#![deny(clippy::indexing_slicing)]

use bitcoin::block::Header;
use bitcoin::consensus::Decodable;
use bitcoin::hashes::{Hash, sha256d};
use bitcoin::{Transaction, TxIn, TxOut, Witness};
use tracehound_core::{
    Amount, Block, Chain, Hash32, OutPoint, UtxoBlock, UtxoInput, UtxoOutput, UtxoTx,
};

use crate::script;

/// Why bytes are not a block or transaction of the expected chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes end before the structure does.
    #[error("{what} ends early at byte {offset} of {len}")]
    Truncated {
        /// What was being read.
        what: String,
        /// Where the bytes ran out.
        offset: usize,
        /// How many bytes there were.
        len: usize,
    },
    /// A field does not decode.
    #[error("bad {what} at byte {offset}: {reason}")]
    Invalid {
        /// What was being read.
        what: String,
        /// Where.
        offset: usize,
        /// What the decoder said.
        reason: String,
    },
    /// The header's merkle root does not match the transactions: the record is corrupt.
    #[error(
        "merkle root mismatch in block {block}: header says {header}, transactions give {computed}"
    )]
    MerkleMismatch {
        /// The block's hash.
        block: Hash32,
        /// The root in the header.
        header: Hash32,
        /// The root of the decoded tx ids.
        computed: Hash32,
    },
    /// Bytes are left over after the last transaction, where the chain has no extension block.
    #[error("{extra} unexpected bytes after the last transaction of block {block}")]
    TrailingBytes {
        /// The block's hash.
        block: Hash32,
        /// How many bytes are left.
        extra: usize,
    },
}

/// One decoded transaction with the facts the envelope gives.
#[derive(Debug, Clone)]
pub struct DecodedTx {
    /// Inputs, outputs, witnesses, version and lock time.
    pub tx: Transaction,
    /// Display-order tx id.
    pub txid: Hash32,
    /// Whether it is a Litecoin MWEB integration (HogEx) transaction.
    pub hogex: bool,
    /// Serialized size, witness and MWEB data included.
    pub size: usize,
}

/// A decoded block.
#[derive(Debug, Clone)]
pub struct DecodedBlock {
    /// The 80-byte header.
    pub header: Header,
    /// Display-order block hash.
    pub hash: Hash32,
    /// Transactions in block order.
    pub txs: Vec<DecodedTx>,
    /// Size of the MWEB extension block after the transactions (0 where there is none).
    pub mweb_bytes: usize,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn truncated(&self, what: &str) -> DecodeError {
        DecodeError::Truncated {
            what: what.to_string(),
            offset: self.pos,
            len: self.bytes.len(),
        }
    }

    fn left(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        let out = self
            .bytes
            .get(self.pos..self.pos.saturating_add(n))
            .ok_or_else(|| self.truncated(what))?;
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<&'a [u8; N], DecodeError> {
        let at = self.pos;
        self.take(N, what)?
            .try_into()
            .map_err(|_| DecodeError::Truncated {
                what: what.to_string(),
                offset: at,
                len: self.bytes.len(),
            })
    }

    fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(*self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(*self.array(what)?))
    }

    /// A CompactSize integer, refusing non-minimal encodings as Core does.
    fn compact(&mut self, what: &str) -> Result<u64, DecodeError> {
        let at = self.pos;
        let (n, min) = match self.u8(what)? {
            0xfd => (u64::from(u16::from_le_bytes(*self.array(what)?)), 0xfd),
            0xfe => (u64::from(self.u32(what)?), 0x1_0000),
            0xff => (self.u64(what)?, 0x1_0000_0000),
            small => return Ok(u64::from(small)),
        };
        if n < min {
            return Err(DecodeError::Invalid {
                what: what.to_string(),
                offset: at,
                reason: "non-minimal CompactSize".into(),
            });
        }
        Ok(n)
    }

    /// A count of items each at least `min_size` bytes long: more than the bytes left can hold
    /// is corruption, not a reason to allocate.
    fn count(&mut self, what: &str, min_size: usize) -> Result<usize, DecodeError> {
        let at = self.pos;
        let n = self.compact(what)?;
        match usize::try_from(n) {
            Ok(n) if n <= self.left() / min_size.max(1) => Ok(n),
            _ => Err(DecodeError::Invalid {
                what: what.to_string(),
                offset: at,
                reason: format!("{n} items cannot fit in the {} bytes left", self.left()),
            }),
        }
    }

    /// A CompactSize-prefixed byte string.
    fn bytes_with_len(&mut self, what: &str) -> Result<&'a [u8], DecodeError> {
        let n = self.compact(what)?;
        let n = usize::try_from(n).map_err(|_| self.truncated(what))?;
        self.take(n, what)
    }
}

/// Receives a transaction's parts, as slices of the block's bytes, while the decoder walks it.
trait TxSink {
    fn input(&mut self, prev_txid: &[u8; 32], vout: u32, script_sig: &[u8], sequence: u32);
    fn output(&mut self, value: u64, script_pubkey: &[u8]);
    /// One witness stack item of input `input` (only called for txs that carry witnesses).
    fn witness_item(&mut self, input: usize, item: &[u8]);
}

/// What the envelope of a transaction tells, beyond its parts.
struct TxFacts {
    txid: Hash32,
    version: i32,
    lock_time: u32,
    hogex: bool,
    /// Serialized size, witness and MWEB data included.
    size: usize,
    /// BIP141 virtual size: weight (3 × base size + total size) / 4, rounded up.
    vsize: usize,
}

/// Walks one transaction starting at `cur`, MWEB flag allowed when `mweb` is set, handing its
/// parts to `sink`.
fn walk_tx(
    cur: &mut Cursor<'_>,
    mweb: bool,
    sink: &mut impl TxSink,
) -> Result<TxFacts, DecodeError> {
    fn inputs(cur: &mut Cursor<'_>, sink: &mut impl TxSink) -> Result<usize, DecodeError> {
        // An input is at least 41 bytes: outpoint 36, script length 1, sequence 4.
        let n = cur.count("tx inputs", 41)?;
        for _ in 0..n {
            let txid = cur.array::<32>("tx inputs")?;
            let vout = cur.u32("tx inputs")?;
            let script_sig = cur.bytes_with_len("tx inputs")?;
            let sequence = cur.u32("tx inputs")?;
            sink.input(txid, vout, script_sig, sequence);
        }
        Ok(n)
    }
    fn outputs(cur: &mut Cursor<'_>, sink: &mut impl TxSink) -> Result<usize, DecodeError> {
        // An output is at least 9 bytes: value 8, script length 1.
        let n = cur.count("tx outputs", 9)?;
        for _ in 0..n {
            let value = cur.u64("tx outputs")?;
            let script = cur.bytes_with_len("tx outputs")?;
            sink.output(value, script);
        }
        Ok(n)
    }

    let start = cur.pos;
    let version_bytes = cur.take(4, "tx version")?;
    let mut body_start = cur.pos;
    let mut n_inputs = inputs(cur, sink)?;
    let mut n_outputs = 0;
    let mut flags = 0u8;
    if n_inputs == 0 {
        let flag_at = cur.pos;
        flags = cur.u8("tx flags")?;
        if flags != 0 {
            body_start = cur.pos;
            n_inputs = inputs(cur, sink)?;
            n_outputs = outputs(cur, sink)?;
        } else {
            // An empty input list followed by a zero byte: no inputs, no outputs, no flags.
            body_start = flag_at - 1;
        }
    } else {
        n_outputs = outputs(cur, sink)?;
    }
    let body_end = cur.pos;
    let mut witness_bytes = 0;
    let has_witness = flags & 1 != 0;
    if has_witness {
        flags ^= 1;
        let witness_start = cur.pos;
        let mut any = false;
        for input in 0..n_inputs {
            let items = cur.count("witness", 1)?;
            any |= items > 0;
            for _ in 0..items {
                let item = cur.bytes_with_len("witness")?;
                sink.witness_item(input, item);
            }
        }
        if !any {
            return Err(DecodeError::Invalid {
                what: "witness".into(),
                offset: cur.pos,
                reason: "superfluous witness record".into(),
            });
        }
        witness_bytes = cur.pos - witness_start;
    }
    let mut hogex = false;
    if flags & 8 != 0 && mweb {
        flags ^= 8;
        let present = cur.u8("MWEB tx marker")?;
        if present != 0 {
            return Err(DecodeError::Invalid {
                what: "MWEB tx".into(),
                offset: cur.pos,
                reason:
                    "an MWEB transaction body inside a block's transaction list is not supported"
                        .into(),
            });
        }
        if n_outputs == 0 {
            return Err(DecodeError::Invalid {
                what: "HogEx tx".into(),
                offset: cur.pos,
                reason: "integration tx without outputs".into(),
            });
        }
        hogex = true;
    }
    if flags != 0 {
        return Err(DecodeError::Invalid {
            what: "tx flags".into(),
            offset: start + 4,
            reason: format!("unknown optional data flags {flags:#04x}"),
        });
    }
    let lock_time_bytes = cur.take(4, "tx lock time")?;

    let body = cur.bytes.get(body_start..body_end).unwrap_or_default();
    let mut engine = sha256d::Hash::engine();
    bitcoin::hashes::HashEngine::input(&mut engine, version_bytes);
    bitcoin::hashes::HashEngine::input(&mut engine, body);
    bitcoin::hashes::HashEngine::input(&mut engine, lock_time_bytes);
    let txid = Hash32::from_internal(sha256d::Hash::from_engine(engine).to_byte_array());

    // Sizes as BIP141 defines them on the tx without its MWEB data: marker and flag count
    // when a witness is present, or when there are no inputs (the only unambiguous encoding).
    let base = 4 + body.len() + 4;
    let total = if has_witness {
        base + 2 + witness_bytes
    } else if n_inputs == 0 {
        base + 2
    } else {
        base
    };
    Ok(TxFacts {
        txid,
        version: i32::from_le_bytes(version_bytes.try_into().unwrap_or_default()),
        lock_time: u32::from_le_bytes(lock_time_bytes.try_into().unwrap_or_default()),
        hogex,
        size: cur.pos - start,
        vsize: (base * 3 + total).div_ceil(4),
    })
}

/// Builds the `bitcoin` crate's transaction (for callers that want every field).
#[derive(Default)]
struct BitcoinTx {
    input: Vec<TxIn>,
    output: Vec<TxOut>,
    witnesses: Vec<Vec<Vec<u8>>>,
}

impl TxSink for BitcoinTx {
    fn input(&mut self, prev_txid: &[u8; 32], vout: u32, script_sig: &[u8], sequence: u32) {
        self.input.push(TxIn {
            previous_output: bitcoin::OutPoint {
                txid: bitcoin::Txid::from_byte_array(*prev_txid),
                vout,
            },
            script_sig: bitcoin::ScriptBuf::from_bytes(script_sig.to_vec()),
            sequence: bitcoin::Sequence(sequence),
            witness: Witness::default(),
        });
    }

    fn output(&mut self, value: u64, script_pubkey: &[u8]) {
        self.output.push(TxOut {
            value: bitcoin::Amount::from_sat(value),
            script_pubkey: bitcoin::ScriptBuf::from_bytes(script_pubkey.to_vec()),
        });
    }

    fn witness_item(&mut self, input: usize, item: &[u8]) {
        if self.witnesses.len() <= input {
            self.witnesses.resize_with(input + 1, Vec::new);
        }
        if let Some(w) = self.witnesses.get_mut(input) {
            w.push(item.to_vec());
        }
    }
}

/// Builds tracehound's transaction straight from the bytes: outputs named, inputs unresolved,
/// nothing allocated but the two lists (and `OP_RETURN` payloads).
struct ModelTx {
    chain: Chain,
    inputs: Vec<UtxoInput>,
    outputs: Vec<UtxoOutput>,
}

impl TxSink for ModelTx {
    fn input(&mut self, prev_txid: &[u8; 32], vout: u32, _script_sig: &[u8], sequence: u32) {
        self.inputs.push(UtxoInput {
            prevout: OutPoint {
                txid: Hash32::from_internal(*prev_txid),
                vout,
            },
            sequence,
            resolved: None,
        });
    }

    fn output(&mut self, value: u64, script_pubkey: &[u8]) {
        let named = script::classify(self.chain, bitcoin::Script::from_bytes(script_pubkey));
        self.outputs.push(UtxoOutput {
            value: Amount::from_units(u128::from(value)),
            kind: named.kind,
            payee: named.payee,
            data: named.data,
        });
    }

    fn witness_item(&mut self, _input: usize, _item: &[u8]) {}
}

fn decode_tx(cur: &mut Cursor<'_>, mweb: bool) -> Result<DecodedTx, DecodeError> {
    let mut parts = BitcoinTx::default();
    let facts = walk_tx(cur, mweb, &mut parts)?;
    for (txin, items) in parts.input.iter_mut().zip(parts.witnesses) {
        txin.witness = Witness::from_slice(&items);
    }
    Ok(DecodedTx {
        tx: Transaction {
            version: bitcoin::transaction::Version(facts.version),
            lock_time: bitcoin::absolute::LockTime::from_consensus(facts.lock_time),
            input: parts.input,
            output: parts.output,
        },
        txid: facts.txid,
        hogex: facts.hogex,
        size: facts.size,
    })
}

/// Walks a whole serialized block of `chain`: header, each tx through `each_tx` (which returns
/// its id and whether it is a HogEx), the MWEB extension block, and the merkle check.
fn walk_block(
    bytes: &[u8],
    chain: Chain,
    mut each_tx: impl FnMut(&mut Cursor<'_>, bool) -> Result<(Hash32, bool), DecodeError>,
) -> Result<(Header, Hash32, usize), DecodeError> {
    let mweb = chain.utxo_params().is_some_and(|p| p.mweb);
    let mut cur = Cursor { bytes, pos: 0 };
    let mut header_bytes = cur.take(80, "block header")?;
    let header = Header::consensus_decode(&mut header_bytes).map_err(|e| DecodeError::Invalid {
        what: "block header".into(),
        offset: 0,
        reason: e.to_string(),
    })?;
    let hash = Hash32::from_internal(header.block_hash().to_byte_array());
    // Each tx takes at least 10 bytes.
    let count = cur.count("tx count", 10)?;
    let mut txids = Vec::with_capacity(count);
    let mut ends_with_hogex = false;
    for _ in 0..count {
        let (txid, hogex) = each_tx(&mut cur, mweb)?;
        txids.push(bitcoin::Txid::from_byte_array(txid.to_internal()));
        ends_with_hogex = hogex;
    }
    ends_with_hogex &= count >= 2;
    let extra = bytes.len() - cur.pos;
    let mweb_bytes = if extra > 0 && mweb && ends_with_hogex {
        extra
    } else {
        0
    };
    if ends_with_hogex && extra == 0 {
        // Litecoin serializes the extension block (at least its presence byte) after a HogEx.
        return Err(DecodeError::Invalid {
            what: "MWEB extension block".into(),
            offset: cur.pos,
            reason: format!("block {hash} ends with an integration tx but has no extension block"),
        });
    }
    if extra > 0 && mweb_bytes == 0 {
        return Err(DecodeError::TrailingBytes { block: hash, extra });
    }
    let computed = bitcoin::merkle_tree::calculate_root(txids.into_iter())
        .map(|r| Hash32::from_internal(r.to_byte_array()))
        .unwrap_or_default();
    let header_root = Hash32::from_internal(header.merkle_root.to_byte_array());
    if computed != header_root {
        return Err(DecodeError::MerkleMismatch {
            block: hash,
            header: header_root,
            computed,
        });
    }
    Ok((header, hash, mweb_bytes))
}

/// Decodes a whole serialized block of `chain` and checks its merkle root.
pub fn decode_block(bytes: &[u8], chain: Chain) -> Result<DecodedBlock, DecodeError> {
    let mut txs = Vec::new();
    let (header, hash, mweb_bytes) = walk_block(bytes, chain, |cur, mweb| {
        let tx = decode_tx(cur, mweb)?;
        let facts = (tx.txid, tx.hogex);
        txs.push(tx);
        Ok(facts)
    })?;
    Ok(DecodedBlock {
        header,
        hash,
        txs,
        mweb_bytes,
    })
}

/// Decodes a whole serialized block of `chain` at `height` straight into the model (what
/// [`decode_block`] then [`to_utxo_block`] give, without building the `bitcoin` crate's
/// transactions on the way: ingest's hot path) and checks its merkle root.
pub fn decode_utxo_block(
    bytes: &[u8],
    chain: Chain,
    height: u32,
) -> Result<UtxoBlock, DecodeError> {
    let mut txs: Vec<UtxoTx> = Vec::new();
    let (header, hash, _) = walk_block(bytes, chain, |cur, mweb| {
        let mut parts = ModelTx {
            chain,
            inputs: Vec::new(),
            outputs: Vec::new(),
        };
        let facts = walk_tx(cur, mweb, &mut parts)?;
        let coinbase = matches!(parts.inputs.as_slice(),
            [only] if only.prevout.txid == Hash32::ZERO && only.prevout.vout == u32::MAX);
        if coinbase {
            parts.inputs.clear();
        }
        txs.push(UtxoTx {
            txid: facts.txid,
            index: u32::try_from(txs.len()).unwrap_or(u32::MAX),
            coinbase,
            hogex: facts.hogex,
            size: u32::try_from(facts.size).unwrap_or(u32::MAX),
            vsize: u32::try_from(facts.vsize).unwrap_or(u32::MAX),
            inputs: parts.inputs,
            outputs: parts.outputs,
        });
        Ok((facts.txid, facts.hogex))
    })?;
    Ok(UtxoBlock {
        block: Block {
            chain,
            height,
            hash,
            parent: Hash32::from_internal(header.prev_blockhash.to_byte_array()),
            time: u64::from(header.time),
            chainwork: None,
        },
        txs,
        links: Vec::new(),
    })
}

/// Decodes one serialized transaction (as `getrawtransaction` or `getblock` verbosity 2 give).
pub fn decode_transaction(bytes: &[u8], chain: Chain) -> Result<DecodedTx, DecodeError> {
    let mweb = chain.utxo_params().is_some_and(|p| p.mweb);
    let mut cur = Cursor { bytes, pos: 0 };
    let tx = decode_tx(&mut cur, mweb)?;
    if cur.pos != bytes.len() {
        return Err(DecodeError::Invalid {
            what: "transaction".into(),
            offset: cur.pos,
            reason: "trailing bytes".into(),
        });
    }
    Ok(tx)
}

/// Converts a decoded transaction into the model, outputs named, inputs not yet resolved.
pub fn to_utxo_tx(chain: Chain, index: u32, dtx: &DecodedTx) -> UtxoTx {
    let tx = &dtx.tx;
    let coinbase = tx.is_coinbase();
    let inputs = if coinbase {
        Vec::new()
    } else {
        tx.input
            .iter()
            .map(|i| UtxoInput {
                prevout: OutPoint {
                    txid: Hash32::from_internal(i.previous_output.txid.to_byte_array()),
                    vout: i.previous_output.vout,
                },
                sequence: i.sequence.0,
                resolved: None,
            })
            .collect()
    };
    let outputs = tx
        .output
        .iter()
        .map(|o| {
            let named = script::classify(chain, &o.script_pubkey);
            UtxoOutput {
                value: Amount::from_units(u128::from(o.value.to_sat())),
                kind: named.kind,
                payee: named.payee,
                data: named.data,
            }
        })
        .collect();
    let weight = tx.weight().to_wu();
    UtxoTx {
        txid: dtx.txid,
        index,
        coinbase,
        hogex: dtx.hogex,
        size: u32::try_from(dtx.size).unwrap_or(u32::MAX),
        vsize: u32::try_from(weight.div_ceil(4)).unwrap_or(u32::MAX),
        inputs,
        outputs,
    }
}

/// Converts a decoded block at `height` into the model.
pub fn to_utxo_block(chain: Chain, height: u32, block: &DecodedBlock) -> UtxoBlock {
    let txs = block
        .txs
        .iter()
        .enumerate()
        .map(|(i, t)| to_utxo_tx(chain, u32::try_from(i).unwrap_or(u32::MAX), t))
        .collect();
    UtxoBlock {
        block: Block {
            chain,
            height,
            hash: block.hash,
            parent: Hash32::from_internal(block.header.prev_blockhash.to_byte_array()),
            time: u64::from(block.header.time),
            chainwork: None,
        },
        txs,
        links: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal transaction: one input, one output, with optional MWEB flag (HogEx).
    fn tx(hogex: bool) -> Vec<u8> {
        let mut t = vec![2, 0, 0, 0];
        if hogex {
            t.extend_from_slice(&[0x00, 0x08]);
        }
        t.push(1); // one input
        t.extend_from_slice(&[0x11; 32]);
        t.extend_from_slice(&0u32.to_le_bytes());
        t.push(0); // empty scriptSig
        t.extend_from_slice(&u32::MAX.to_le_bytes());
        t.push(1); // one output
        t.extend_from_slice(&5000u64.to_le_bytes());
        t.extend_from_slice(&[0x16, 0x00, 0x14]);
        t.extend_from_slice(&[0x22; 20]);
        if hogex {
            t.push(0); // no MWEB tx body: this is the integration tx
        }
        t.extend_from_slice(&0u32.to_le_bytes());
        t
    }

    #[test]
    fn hogex_needs_its_extension_block() {
        let mut block = vec![0u8; 80];
        block.push(2);
        block.extend(tx(false));
        block.extend(tx(true));
        let err = decode_block(&block, Chain::LitecoinRegtest).unwrap_err();
        assert!(err.to_string().contains("no extension block"), "{err}");
        // With the (empty) extension block present, decoding goes on to the merkle check.
        block.push(0);
        assert!(matches!(
            decode_block(&block, Chain::LitecoinRegtest),
            Err(DecodeError::MerkleMismatch { .. })
        ));
        // Bitcoin knows no MWEB flag.
        assert!(decode_block(&block, Chain::BitcoinRegtest).is_err());
    }
}
