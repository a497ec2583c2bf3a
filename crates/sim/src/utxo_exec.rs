//! Plays a plan's UTXO side on a real `litecoind -regtest`: mines the faucet's coinbases,
//! then per planned block builds and signs every tx (P2WPKH inputs, keys derived from the
//! seed, deterministic RFC 6979 signatures, so a seed gives the same txids on any fresh node),
//! sends it raw, mines the block at its planned time and checks that it holds every tx.

use std::collections::BTreeMap;
use std::str::FromStr;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::script::PushBytesBuf;
use bitcoin::secp256k1::Message;
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use serde_json::{Value, json};
use tracehound_btc::rpc::RpcClient;

use crate::error::{Result, SimError};
use crate::exec::{ltc_err, out_memo};
use crate::plan::{Memo, OutRef, Plan, UtxoBlock, UtxoStep};
use crate::truth::UtxoExecuted;
use crate::world::{public_key, secp};

/// Plays UTXO blocks on one node.
pub struct UtxoPlayer<'a> {
    client: &'a RpcClient,
    plan: &'a Plan,
    /// Coinbase txids by height.
    coinbase: BTreeMap<u32, Txid>,
    /// Txids of the UTXO steps sent.
    txids: BTreeMap<usize, Txid>,
}

impl<'a> UtxoPlayer<'a> {
    /// Checks the node is a fresh regtest node (nothing sent yet).
    pub fn check(client: &'a RpcClient, plan: &'a Plan) -> Result<UtxoPlayer<'a>> {
        let info = client
            .get_blockchain_info()
            .map_err(ltc_err("getblockchaininfo"))?;
        if info.chain != "regtest" {
            return Err(SimError::Config(format!(
                "the UTXO node is on chain {:?}: the simulator plays on a litecoind -regtest",
                info.chain
            )));
        }
        if info.blocks != 0 {
            return Err(SimError::Config(format!(
                "the UTXO node is at height {}: the scenario's faucet is the first coinbases, play seed {} on a fresh litecoind -regtest",
                info.blocks, plan.config.seed
            )));
        }
        Ok(UtxoPlayer {
            client,
            plan,
            coinbase: BTreeMap::new(),
            txids: BTreeMap::new(),
        })
    }

    fn call(&self, method: &str, params: Value) -> Result<Value> {
        self.client.call(method, params).map_err(ltc_err(method))
    }

    /// Mines the setup blocks to the faucet (two hours before the scenario's start) and reads
    /// the coinbase txids the plan spends.
    pub fn setup(&mut self, t0: u64) -> Result<()> {
        let Some(u) = &self.plan.utxo else {
            return Ok(());
        };
        self.call("setmocktime", json!([t0.saturating_sub(7200)]))?;
        let hashes = self.call("generatetoaddress", json!([u.setup_blocks, u.faucet]))?;
        let hashes = hashes.as_array().cloned().unwrap_or_default();
        for (i, hash) in hashes.iter().enumerate() {
            let height = i as u32 + 1;
            if height > crate::plan::FAUCET_COINBASES {
                break;
            }
            let block = self.call("getblock", json!([hash, 1]))?;
            let txid = block["tx"][0]
                .as_str()
                .and_then(|t| Txid::from_str(t).ok())
                .ok_or_else(|| SimError::Rpc {
                    method: "getblock".into(),
                    detail: format!("block {hash} has no coinbase txid"),
                })?;
            self.coinbase.insert(height, txid);
        }
        Ok(())
    }

    /// The faucet's coinbase txids by height (display hex).
    pub fn coinbase_txids(&self) -> BTreeMap<u32, String> {
        self.coinbase
            .iter()
            .map(|(h, t)| (*h, t.to_string()))
            .collect()
    }

    /// Resets the node's clock to the real one.
    pub fn reset_clock(&self) {
        let _ = self.call("setmocktime", json!([0]));
    }

    /// Sends a block's txs and mines it at `t0 + block.time`; `sent` gets their txids (and
    /// gives the EVM hashes a payout memo names).
    pub fn play_block(
        &mut self,
        block: &UtxoBlock,
        t0: u64,
        sent: &mut BTreeMap<usize, String>,
    ) -> Result<Vec<UtxoExecuted>> {
        let Some(u) = &self.plan.utxo else {
            return Ok(Vec::new());
        };
        let mut ids = Vec::new();
        for step in &block.steps {
            let fail = |detail: String| SimError::Execution {
                step: step.id,
                action: format!("utxo {}", step.purpose),
                detail,
            };
            let tx = self.build(step, sent).map_err(&fail)?;
            let txid = tx.compute_txid();
            let hex = bitcoin::consensus::encode::serialize_hex(&tx);
            let got = self
                .client
                .call::<Value>("sendrawtransaction", json!([hex]))
                .map_err(|e| fail(format!("sendrawtransaction: {e}")))?;
            if got.as_str() != Some(txid.to_string().as_str()) {
                return Err(fail(format!("the node says txid {got}, built {txid}")));
            }
            self.txids.insert(step.id, txid);
            sent.insert(step.id, txid.to_string());
            ids.push((step.id, txid));
        }
        self.call("setmocktime", json!([t0 + block.time]))?;
        let hashes = self.call("generatetoaddress", json!([1, u.miner]))?;
        let hash = hashes[0].clone();
        let mined = self.call("getblock", json!([hash, 1]))?;
        let height = mined["height"].as_u64().unwrap_or(0);
        let txs: Vec<&str> = mined["tx"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut out = Vec::new();
        for (step, txid) in ids {
            let text = txid.to_string();
            let index = txs
                .iter()
                .position(|t| *t == text)
                .ok_or_else(|| SimError::Execution {
                    step,
                    action: "utxo tx".into(),
                    detail: format!("tx {text} was not mined in block {height} ({hash})"),
                })?;
            out.push(UtxoExecuted {
                step,
                txid: text,
                height,
                index: index as u32,
                time: block.time,
            });
        }
        Ok(out)
    }

    /// Builds and signs the tx of `step`.
    fn build(
        &self,
        step: &UtxoStep,
        sent: &BTreeMap<usize, String>,
    ) -> std::result::Result<Transaction, String> {
        let w = &self.plan.world;
        let script_of = |address: &str| -> std::result::Result<ScriptBuf, String> {
            let key = w
                .key_of(address)
                .ok_or_else(|| format!("{address} is not a UTXO address of the world"))?;
            Ok(ScriptBuf::new_p2wpkh(&public_key(&key).wpubkey_hash()))
        };
        let mut input = Vec::new();
        for coin in &step.tx.inputs {
            let previous_output = match coin.out {
                OutRef::Coinbase { height } => OutPoint {
                    txid: *self
                        .coinbase
                        .get(&height)
                        .ok_or_else(|| format!("no coinbase at height {height}"))?,
                    vout: 0,
                },
                OutRef::Tx { step, vout } => OutPoint {
                    txid: *self
                        .txids
                        .get(&step)
                        .ok_or_else(|| format!("step {step} was not sent before"))?,
                    vout,
                },
            };
            input.push(TxIn {
                previous_output,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            });
        }
        let mut output = Vec::new();
        for o in &step.tx.outputs {
            output.push(TxOut {
                value: Amount::from_sat(o.amount),
                script_pubkey: script_of(&o.address)?,
            });
        }
        if let Some(memo) = &step.tx.memo {
            let text = render_memo(memo, sent)?;
            let bytes = PushBytesBuf::try_from(text.into_bytes())
                .map_err(|_| "memo too long for OP_RETURN".to_string())?;
            output.push(TxOut {
                value: Amount::ZERO,
                script_pubkey: ScriptBuf::new_op_return(bytes),
            });
        }
        let mut tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input,
            output,
        };
        let mut witnesses = Vec::new();
        {
            let mut cache = SighashCache::new(&tx);
            for (i, coin) in step.tx.inputs.iter().enumerate() {
                let key = w
                    .key_of(&coin.address)
                    .ok_or_else(|| format!("no key for input address {}", coin.address))?;
                let pk = public_key(&key);
                let spk = ScriptBuf::new_p2wpkh(&pk.wpubkey_hash());
                let sighash = cache
                    .p2wpkh_signature_hash(
                        i,
                        &spk,
                        Amount::from_sat(coin.amount),
                        EcdsaSighashType::All,
                    )
                    .map_err(|e| format!("sighash of input {i}: {e}"))?;
                let msg = Message::from_digest(sighash.to_byte_array());
                let signature = bitcoin::ecdsa::Signature {
                    signature: secp().sign_ecdsa(&msg, &key),
                    sighash_type: EcdsaSighashType::All,
                };
                witnesses.push(Witness::p2wpkh(&signature, &pk.0));
            }
        }
        for (txin, witness) in tx.input.iter_mut().zip(witnesses) {
            txin.witness = witness;
        }
        Ok(tx)
    }
}

/// The text of a memo, `OUT:<hash>` filled in from the txs sent.
pub fn render_memo(
    memo: &Memo,
    sent: &BTreeMap<usize, String>,
) -> std::result::Result<String, String> {
    match memo {
        Memo::Text { text } => Ok(text.clone()),
        Memo::Out { step } => sent
            .get(step)
            .map(|h| out_memo(h))
            .ok_or_else(|| format!("the memo names step {step}, not sent before")),
    }
}
