//! `--to-files`: a UTXO heist at benchmark scale, written straight into Core-format
//! `blk*.dat` files of `litecoin-regtest` (no node), with its ground truth.
//!
//! The world: many users, each a customer of one exchange (a deposit address per customer,
//! swept into the exchange's hot wallet, which pays withdrawals in batches), a mining pool
//! that pays its members, a hacked service, the launderer, a privacy exit. Background traffic
//! every block (payments with change, exchange deposits, sweeps, batched withdrawals, pool
//! payouts); at a quarter of the chain the service's hot wallet is drained, the loot fans out,
//! runs peel chains into exchange deposit addresses, half of the chains end in a CoinJoin with
//! users (whose equal outputs the launderer then deposits at exchanges) and half at the
//! privacy exit. Blocks are 150 s apart, amounts and fees realistic.
//!
//! The ground truth follows [`crate::POLICY`]'s UTXO rule (LIFO, taint stopping at exchange
//! deposits and the privacy exit) and lists every tx that carries stolen value. Blocks link to
//! their parents, carry correct merkle roots and witness commitments and BIP34 heights; as in
//! `tracehound_btc::synth`, the signatures are random bytes of the right shape and the proof
//! of work is not real (nothing that reads these files checks either).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use alloy::primitives::keccak256;
use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::hashes::{Hash, hash160};
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut,
    WPubkeyHash, Witness,
};
use serde::Serialize;
use tracehound_btc::synth::{BlkFileWriter, genesis_of};

use crate::Asset;
use crate::config::LTC;
use crate::error::{Result, SimError};
use crate::plan::mul_div;
use crate::truth::{
    AssetAmount, AssetInfo, GroundTruth, Incident, Label, POLICY, PatternTruth, RestingKind,
    RestingPlace, Seg, UtxoInputTruth, UtxoOutputTruth, UtxoTxTruth, lifo_split, push_seg,
    stolen_of,
};
use crate::world::{AddressInfo, Entity, EntityKind, UTXO_CHAIN};

/// What to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesConfig {
    /// Seed of every choice: the same config writes byte-identical files and truth.
    pub seed: u64,
    /// Blocks after genesis.
    pub blocks: u32,
    /// Average background txs per block.
    pub txs_per_block: u32,
    /// Users (each a customer of one exchange).
    pub users: u32,
    /// Exchanges.
    pub exchanges: u32,
    /// Litoshi drained from the hacked service.
    pub stolen: u64,
    /// Peel chains the loot fans out to.
    pub fan_out: u32,
    /// Hops of each peel chain.
    pub hops: u32,
    /// Users in the CoinJoin.
    pub coinjoin_peers: u32,
}

impl Default for FilesConfig {
    fn default() -> FilesConfig {
        FilesConfig {
            seed: 1,
            blocks: 2_000,
            txs_per_block: 400,
            users: 20_000,
            exchanges: 4,
            stolen: 148_213_776_551,
            fan_out: 16,
            hops: 6,
            coinjoin_peers: 6,
        }
    }
}

impl FilesConfig {
    /// Rejects configs that cannot be written, naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(SimError::Config(m));
        let min_blocks = FUND_AT + 40 + self.hops;
        if self.blocks < min_blocks {
            return bad(format!(
                "blocks is {}: at least {min_blocks} (the faucet's coinbases mature after 100 blocks, then the heist runs its {} hops)",
                self.blocks, self.hops
            ));
        }
        if self.blocks > 1_000_000 || self.txs_per_block > 20_000 {
            return bad("blocks (≤ 10⁶) or txs_per_block (≤ 20000) too large".into());
        }
        if self.users < 10 || self.users > 10_000_000 {
            return bad(format!("users is {}: between 10 and 10⁷", self.users));
        }
        if self.exchanges == 0 || self.exchanges > 1_000 {
            return bad(format!(
                "exchanges is {}: between 1 and 1000",
                self.exchanges
            ));
        }
        if self.fan_out < 2 || self.fan_out > 1_000 || self.hops > 100 {
            return bad("fan_out (2 to 1000) or hops (≤ 100) out of range".into());
        }
        if self.coinjoin_peers == 0 || self.coinjoin_peers >= self.users {
            return bad(format!(
                "coinjoin_peers is {}: at least 1, fewer than users",
                self.coinjoin_peers
            ));
        }
        // The victim gets a third of the faucet's coinbases (50 LTC each), less room for fees.
        let supply = u64::from(FUNDING_BLOCKS) * SUBSIDY / 3 - 100 * LTC;
        if self.stolen < u64::from(self.fan_out) * 10 * LTC || self.stolen > supply {
            return bad(format!(
                "stolen is {} litoshi: between {} (10 LTC per peel chain) and {supply} (what the hacked service holds)",
                self.stolen,
                u64::from(self.fan_out) * 10 * LTC
            ));
        }
        Ok(())
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilesSummary {
    /// Blocks, genesis included.
    pub blocks: u64,
    /// Txs, coinbases included.
    pub txs: u64,
    /// Inputs of non-coinbase txs.
    pub inputs: u64,
    /// Outputs (witness commitments and OP_RETURNs included).
    pub outputs: u64,
    /// Bytes of the `blk*.dat` files.
    pub bytes: u64,
    /// Number of files.
    pub files: u32,
    /// Seconds it took.
    pub seconds: f64,
}

/// Coinbases of the first blocks go to the faucet, which funds the world once they are mature.
const FUNDING_BLOCKS: u32 = 120;
/// The height the faucet's coinbases are all mature at, where funding starts.
const FUND_AT: u32 = FUNDING_BLOCKS + 101;
/// CoinJoin denomination.
const DENOMINATION: u64 = 10 * LTC;
const SUBSIDY: u64 = 50 * LTC;
const MIN_OUTPUT: u64 = 100_000;
/// Seconds between blocks (Litecoin).
const SPACING: u32 = 150;
/// The first block's time (2024-03-01).
const T0: u32 = 1_709_251_200;

/// One owner of outputs: a P2WPKH key (its public key is random bytes: nothing checks it).
struct Owner {
    pubkey: [u8; 33],
    script: ScriptBuf,
    entity: String,
    role: String,
}

#[derive(Clone, Copy)]
struct Coin {
    out: OutPoint,
    value: u64,
}

/// Builds the chain block by block.
struct Gen<'a> {
    c: &'a FilesConfig,
    rng: fastrand::Rng,
    owners: Vec<Owner>,
    coins: Vec<Vec<Coin>>,
    /// Made in the block being built: spendable from the next one.
    fresh: Vec<(usize, Coin)>,
    users: Vec<usize>,
    deposit: Vec<usize>,
    hot: Vec<usize>,
    faucet: usize,
    pool: usize,
    victim: usize,
    exit: usize,
    /// Launderer's exchange deposit addresses: (exchange, owner).
    cash_out: Vec<(usize, usize)>,
    /// Users who join CoinJoins (funded for it).
    mixers: Vec<usize>,
    /// Coinbase outputs waiting 100 blocks: (height, owner, coin).
    immature: std::collections::VecDeque<(u32, usize, Coin)>,
    /// A typical user balance, litoshi (sets background amounts).
    unit: u64,
    /// Owner → exchange-or-exit kind (taint stops there).
    stops: HashMap<usize, RestingKind>,
    /// Stolen segments of outputs that carry any.
    taint: HashMap<OutPoint, (usize, Vec<Seg>)>,
    rest: BTreeMap<(usize, RestingKind), u128>,
    fee_stolen: u128,
    height: u32,
    txs: Vec<Transaction>,
    fees: u64,
    truth_txs: Vec<UtxoTxTruth>,
    patterns: Vec<PatternTruth>,
    incident: Vec<String>,
    purpose: &'static str,
    heist: bool,
    summary: FilesSummary,
}

impl Gen<'_> {
    fn owner(&mut self, entity: &str, role: String) -> usize {
        let i = self.owners.len();
        let mut pre = b"tracehound-sim-files".to_vec();
        pre.extend_from_slice(&self.c.seed.to_be_bytes());
        pre.extend_from_slice(&(i as u64).to_be_bytes());
        let k = keccak256(&pre);
        let mut pubkey = [0u8; 33];
        pubkey[0] = 0x02 | (k[31] & 1);
        pubkey[1..].copy_from_slice(&k[..32]);
        let hash = WPubkeyHash::from_raw_hash(hash160::Hash::hash(&pubkey));
        self.owners.push(Owner {
            pubkey,
            script: ScriptBuf::new_p2wpkh(&hash),
            entity: entity.to_string(),
            role,
        });
        self.coins.push(Vec::new());
        i
    }

    fn address(&self, owner: usize) -> String {
        let program = &self.owners[owner].script.as_bytes()[2..];
        tracehound_core::Address::segwit(UTXO_CHAIN, 0, program)
            .map(|a| a.as_str().to_string())
            .unwrap_or_default()
    }

    fn balance(&self, owner: usize) -> u64 {
        self.coins[owner].iter().map(|c| c.value).sum()
    }

    /// A realistic non-round amount near `around` (± `spread` %), 5–8 significant digits.
    fn amount(&mut self, around: u64, spread: u64) -> u64 {
        let lo = around / 100 * (100 - spread.min(99));
        let hi = around / 100 * (100 + spread);
        let x = self.rng.u64(lo.max(1)..=hi.max(2));
        let digits = self.rng.u32(5..=8);
        let mut unit = 1u64;
        while x / unit >= 10u64.pow(digits) {
            unit *= 10;
        }
        (x / unit * unit).max(1)
    }

    /// Takes coins of `owner` worth at least `need`, newest first (a hot wallet holds tens of
    /// thousands: no sorting, no full scans).
    fn take(&mut self, owner: usize, need: u64) -> Option<Vec<(usize, Coin)>> {
        let coins = &mut self.coins[owner];
        let mut taken = Vec::new();
        let mut sum = 0;
        while sum < need {
            let Some(c) = coins.pop() else {
                // Not enough: put them back as they were.
                coins.extend(taken.into_iter().rev().map(|(_, c)| c));
                return None;
            };
            sum += c.value;
            taken.push((owner, c));
        }
        Some(taken)
    }

    /// A tx spending `inputs` to `outs`, the rest after the fee to `change` (or the fee when
    /// small). Its outputs are spendable from the next block. None if the inputs fall short.
    fn tx(
        &mut self,
        inputs: Vec<(usize, Coin)>,
        mut outs: Vec<(usize, u64)>,
        change: usize,
    ) -> Option<usize> {
        let total: u64 = inputs.iter().map(|(_, c)| c.value).sum();
        let paid: u64 = outs.iter().map(|o| o.1).sum();
        let vsize = 11 + 68 * inputs.len() as u64 + 31 * (outs.len() as u64 + 1);
        let fee = self.rng.u64(2..=25) * vsize;
        if total < paid + fee {
            for (o, c) in inputs {
                self.coins[o].push(c);
            }
            return None;
        }
        let rest = total - paid - fee;
        let mut fee = fee;
        if rest >= MIN_OUTPUT {
            outs.push((change, rest));
        } else {
            fee += rest;
        }
        let tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: inputs
                .iter()
                .map(|(o, c)| TxIn {
                    previous_output: c.out,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                    witness: self.witness(*o),
                })
                .collect(),
            output: outs
                .iter()
                .map(|(o, v)| TxOut {
                    value: Amount::from_sat(*v),
                    script_pubkey: self.owners[*o].script.clone(),
                })
                .collect(),
        };
        let txid = tx.compute_txid();
        self.follow_taint(&inputs, &outs, fee, txid);
        for (vout, (o, v)) in outs.iter().enumerate() {
            self.fresh.push((
                *o,
                Coin {
                    out: OutPoint {
                        txid,
                        vout: vout as u32,
                    },
                    value: *v,
                },
            ));
        }
        self.summary.inputs += inputs.len() as u64;
        self.summary.outputs += outs.len() as u64;
        self.fees += fee;
        self.txs.push(tx);
        Some(self.txs.len())
    }

    /// A P2WPKH witness of the right shape: a 71–72-byte DER-like signature and the key.
    fn witness(&mut self, owner: usize) -> Witness {
        let len = if self.rng.bool() { 71 } else { 72 };
        let mut sig = vec![0u8; len];
        sig[0] = 0x30;
        sig[1] = (len - 3) as u8;
        for b in sig[2..len - 1].iter_mut() {
            *b = self.rng.u8(..);
        }
        sig[len - 1] = 0x01;
        Witness::from_slice(&[sig.as_slice(), &self.owners[owner].pubkey[..]])
    }

    /// The LIFO rule on one tx, if it moves stolen value (or is the theft).
    fn follow_taint(
        &mut self,
        inputs: &[(usize, Coin)],
        outs: &[(usize, u64)],
        fee: u64,
        txid: bitcoin::Txid,
    ) {
        let incident = self.purpose == "drain";
        let tainted = inputs.iter().any(|(_, c)| self.taint.contains_key(&c.out));
        if !tainted && !incident {
            return;
        }
        let mut line = Vec::new();
        let mut ins = Vec::new();
        for (o, c) in inputs {
            let segs = match self.taint.remove(&c.out) {
                Some((_, segs)) => segs,
                None => vec![Seg::clean(c.value)],
            };
            ins.push(UtxoInputTruth {
                txid: c.out.txid.to_string(),
                vout: c.out.vout,
                address: self.address(*o),
                amount: c.value,
                stolen: stolen_of(&segs),
            });
            for s in segs {
                push_seg(&mut line, s);
            }
        }
        let amounts: Vec<u64> = outs.iter().map(|o| o.1).collect();
        let Some((mut out_segs, fee_segs)) = lifo_split(&line, &amounts) else {
            return;
        };
        if incident {
            // The theft: the drainer's output is stolen in full.
            out_segs[0] = vec![Seg::stolen(outs[0].1)];
            self.incident.push(txid.to_string());
        }
        let mut outputs = Vec::new();
        for (vout, ((o, v), segs)) in outs.iter().zip(out_segs).enumerate() {
            let stolen = stolen_of(&segs);
            if stolen > 0 {
                match self.stops.get(o) {
                    Some(kind) => *self.rest.entry((*o, *kind)).or_insert(0) += u128::from(stolen),
                    None => {
                        let out = OutPoint {
                            txid,
                            vout: vout as u32,
                        };
                        self.taint.insert(out, (*o, segs));
                    }
                }
            }
            outputs.push(UtxoOutputTruth {
                vout: vout as u32,
                address: self.address(*o),
                amount: *v,
                stolen,
            });
        }
        let fee_stolen = if incident { 0 } else { stolen_of(&fee_segs) };
        self.fee_stolen += u128::from(fee_stolen);
        self.truth_txs.push(UtxoTxTruth {
            txid: txid.to_string(),
            height: u64::from(self.height),
            index: self.txs.len() as u32 + 1,
            time: u64::from(SPACING * (self.height - 1)),
            step: self.truth_txs.len(),
            heist: self.heist,
            purpose: self.purpose.to_string(),
            inputs: ins,
            outputs,
            memo: None,
            fee,
            fee_stolen,
            link_in: 0,
        });
    }

    /// Seals the block being built: coinbase (BIP34 height, subsidy plus fees to `to`,
    /// witness commitment), merkle root, link to `prev`.
    fn seal(&mut self, prev: bitcoin::BlockHash, to: usize) -> Block {
        let script_sig = Builder::new()
            .push_int(i64::from(self.height))
            .push_slice(b"/tracehound-sim/")
            .into_script();
        let mut coinbase = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig,
                sequence: Sequence::MAX,
                witness: Witness::from_slice(&[[0u8; 32]]),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(SUBSIDY + self.fees),
                script_pubkey: self.owners[to].script.clone(),
            }],
        };
        let mut txdata = Vec::with_capacity(self.txs.len() + 1);
        txdata.push(coinbase.clone());
        txdata.append(&mut self.txs);
        let header = Header {
            version: BlockVersion::from_consensus(0x2000_0000),
            prev_blockhash: prev,
            merkle_root: bitcoin::TxMerkleNode::all_zeros(),
            time: T0 + SPACING * self.height + self.rng.u32(0..60),
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: self.rng.u32(..),
        };
        let mut block = Block { header, txdata };
        if let Some(root) = block.witness_root() {
            let commitment = Block::compute_witness_commitment(&root, &[0u8; 32]);
            let mut data = vec![0xaa, 0x21, 0xa9, 0xed];
            data.extend_from_slice(commitment.as_byte_array());
            if let Ok(push) = PushBytesBuf::try_from(data) {
                coinbase.output.push(TxOut {
                    value: Amount::ZERO,
                    script_pubkey: ScriptBuf::new_op_return(push),
                });
            }
            block.txdata[0] = coinbase;
        }
        if let Some(root) = block.compute_merkle_root() {
            block.header.merkle_root = root;
        }
        let cb = &block.txdata[0];
        let out = OutPoint {
            txid: cb.compute_txid(),
            vout: 0,
        };
        let value = cb.output[0].value.to_sat();
        self.immature
            .push_back((self.height, to, Coin { out, value }));
        self.summary.txs += block.txdata.len() as u64;
        self.summary.outputs += cb.output.len() as u64;
        self.fees = 0;
        block
    }

    /// Makes this block's outputs spendable from the next block, and coinbases 100 blocks on.
    fn settle(&mut self) {
        for (o, c) in std::mem::take(&mut self.fresh) {
            self.coins[o].push(c);
        }
        while let Some(&(h, o, c)) = self.immature.front() {
            if h + 100 > self.height {
                break;
            }
            self.immature.pop_front();
            self.coins[o].push(c);
        }
    }

    fn user(&mut self) -> usize {
        self.rng.usize(..self.users.len())
    }

    /// A random user's wallet.
    fn some_user(&mut self) -> usize {
        let i = self.user();
        self.users[i]
    }

    /// One block's background traffic.
    fn background(&mut self) {
        self.heist = false;
        let n = self.c.txs_per_block as usize;
        let n = self.rng.usize(n / 2..=n + n / 2);
        for _ in 0..n {
            let roll = self.rng.u32(0..100);
            let i = self.user();
            let u = self.users[i];
            let bal = self.balance(u);
            match roll {
                0..=49 if bal > 4 * MIN_OUTPUT => {
                    self.purpose = "payment";
                    let to = self.some_user();
                    let amount = self.amount(bal / 5, 80).max(MIN_OUTPUT);
                    if let Some(ins) = self.take(u, amount + 20_000) {
                        self.tx(ins, vec![(to, amount)], u);
                    }
                }
                50..=69 if bal > 4 * MIN_OUTPUT => {
                    self.purpose = "exchange deposit";
                    let amount = self.amount(bal / 3, 60).max(MIN_OUTPUT);
                    let dep = self.deposit[i];
                    if let Some(ins) = self.take(u, amount + 20_000) {
                        self.tx(ins, vec![(dep, amount)], u);
                    }
                }
                70..=79 => {
                    // An exchange sweeps a run of its deposit addresses.
                    self.purpose = "sweep";
                    let e = i % self.hot.len();
                    let mut ins = Vec::new();
                    for k in 0..40 {
                        let j = (i + k * self.hot.len()) % self.users.len();
                        let d = self.deposit[j];
                        if j % self.hot.len() == e {
                            ins.extend(self.coins[d].drain(..).map(|c| (d, c)));
                        }
                    }
                    for (x, d) in self.cash_out.clone() {
                        if x == e && self.rng.u32(0..10) == 0 {
                            ins.extend(self.coins[d].drain(..).map(|c| (d, c)));
                        }
                    }
                    if !ins.is_empty() {
                        let hot = self.hot[e];
                        self.tx(ins, vec![], hot);
                    }
                }
                80..=89 => {
                    // A batch of withdrawals from a hot wallet.
                    self.purpose = "exchange withdrawal";
                    let hot = self.hot[i % self.hot.len()];
                    let k = self.rng.usize(3..=30);
                    let mut outs = Vec::with_capacity(k);
                    for _ in 0..k {
                        let to = self.some_user();
                        let amount = self.amount(self.unit, 90).max(MIN_OUTPUT);
                        outs.push((to, amount));
                    }
                    let need: u64 = outs.iter().map(|o| o.1).sum::<u64>() + 100_000;
                    if let Some(ins) = self.take(hot, need) {
                        self.tx(ins, outs, hot);
                    }
                }
                _ => {
                    // The pool pays its members.
                    self.purpose = "pool payout";
                    let k = self.rng.usize(5..=50);
                    let mut outs = Vec::with_capacity(k);
                    for _ in 0..k {
                        let to = self.some_user();
                        let amount = self.amount(self.unit / 4, 90).max(MIN_OUTPUT);
                        outs.push((to, amount));
                    }
                    let need: u64 = outs.iter().map(|o| o.1).sum::<u64>() + 100_000;
                    let pool = self.pool;
                    if let Some(ins) = self.take(pool, need) {
                        self.tx(ins, outs, pool);
                    }
                }
            }
        }
    }
}

/// Writes the scenario: `blocks/blk*.dat` under `dir`, and returns the ground truth.
pub fn write_to_files(dir: &Path, c: &FilesConfig) -> Result<(FilesSummary, GroundTruth)> {
    c.validate()?;
    let started = Instant::now();
    let io = |e: tracehound_btc::synth::SynthError| SimError::Write {
        path: dir.join("blocks"),
        source: std::io::Error::other(e.to_string()),
    };
    let mut writer =
        BlkFileWriter::create(&dir.join("blocks"), UTXO_CHAIN, 128 << 20).map_err(io)?;
    let genesis = genesis_of(UTXO_CHAIN).map_err(io)?;
    writer.write(&genesis).map_err(io)?;
    let mut g = Gen {
        c,
        rng: fastrand::Rng::with_seed(c.seed),
        owners: Vec::new(),
        coins: Vec::new(),
        fresh: Vec::new(),
        users: Vec::new(),
        deposit: Vec::new(),
        hot: Vec::new(),
        faucet: 0,
        pool: 0,
        victim: 0,
        exit: 0,
        cash_out: Vec::new(),
        mixers: Vec::new(),
        immature: std::collections::VecDeque::new(),
        unit: LTC,
        stops: HashMap::new(),
        taint: HashMap::new(),
        rest: BTreeMap::new(),
        fee_stolen: 0,
        height: 0,
        txs: Vec::new(),
        fees: 0,
        truth_txs: Vec::new(),
        patterns: Vec::new(),
        incident: Vec::new(),
        purpose: "",
        heist: false,
        summary: FilesSummary {
            blocks: 1,
            txs: 1,
            inputs: 0,
            outputs: 1,
            bytes: 0,
            files: 0,
            seconds: 0.0,
        },
    };
    g.faucet = g.owner("faucet", "coinbase faucet".into());
    g.pool = g.owner("miner", "mining pool".into());
    for e in 0..c.exchanges {
        let h = g.owner(&format!("exchange:{e}"), "ltc hot wallet".into());
        g.stops.insert(h, RestingKind::ExchangeDeposit);
        g.hot.push(h);
    }
    for u in 0..c.users {
        let id = format!("user:{u}");
        let w = g.owner(&id, "ltc wallet".into());
        g.users.push(w);
        let e = u % c.exchanges;
        let d = g.owner(&format!("exchange:{e}"), format!("ltc deposit for {id}"));
        g.stops.insert(d, RestingKind::ExchangeDeposit);
        g.deposit.push(d);
    }
    g.victim = g.owner("victim", "hot wallet".into());
    g.exit = g.owner("privacy-exit", "deposit".into());
    g.stops.insert(g.exit, RestingKind::PrivacyExit);
    for k in 0..4u32 {
        let e = k % c.exchanges;
        let d = g.owner(
            &format!("exchange:{e}"),
            format!("ltc deposit for launderer account {k}"),
        );
        g.stops.insert(d, RestingKind::ExchangeDeposit);
        g.cash_out.push((e as usize, d));
    }
    for k in 0..c.coinjoin_peers {
        let m = g.owner(&format!("user:cj{k}"), "ltc wallet (coinjoins)".into());
        g.mixers.push(m);
    }

    let drain_at = (c.blocks / 4).max(FUND_AT + 20);
    let mut prev = genesis.block_hash();
    let mut chains: Vec<(usize, Vec<String>, Vec<String>)> = Vec::new(); // (holder, addresses, txids)
    let mut cj_outs: Vec<usize> = Vec::new();
    let mut cj_due = u32::MAX;
    for h in 1..=c.blocks {
        g.height = h;
        if h == FUND_AT {
            // The faucet's coinbases, all mature now, fund the world: the hacked service, the
            // exchanges' hot wallets, the pool's float, the CoinJoin regulars; users follow.
            g.purpose = "fund";
            let supply = g.balance(g.faucet);
            let hot_share = supply / 5 / u64::from(c.exchanges);
            let mut outs = vec![(g.victim, supply / 3), (g.pool, supply / 10)];
            for &hot in &g.hot.clone() {
                outs.push((hot, hot_share));
            }
            for &m in &g.mixers.clone() {
                let a = g.amount(25 * LTC, 40);
                outs.push((m, a));
            }
            let paid: u64 = outs.iter().map(|o| o.1).sum();
            g.unit = ((supply - paid) / u64::from(c.users)).max(MIN_OUTPUT);
            let ins = g.take(g.faucet, supply).unwrap_or_default();
            let faucet = g.faucet;
            g.tx(ins, outs, faucet);
        } else if h > FUND_AT && g.balance(g.faucet) > 0 {
            // The rest reaches users in batches.
            g.purpose = "fund";
            let k = 250.min(g.users.len());
            let start = ((h - FUND_AT) as usize * k) % g.users.len();
            let mut outs = Vec::with_capacity(k);
            for j in 0..k {
                let u = g.users[(start + j) % g.users.len()];
                let a = g.amount(g.unit, 50).max(MIN_OUTPUT);
                outs.push((u, a));
            }
            let need: u64 = outs.iter().map(|o| o.1).sum::<u64>() + 100_000;
            let faucet = g.faucet;
            let have = g.balance(faucet);
            let ins = if have >= need {
                g.take(faucet, need)
            } else {
                // The last batch: what is left, shared.
                let per = (have / k as u64).saturating_sub(1_000);
                for o in &mut outs {
                    o.1 = per;
                }
                outs.retain(|o| o.1 >= MIN_OUTPUT);
                g.take(faucet, have)
            };
            if let Some(ins) = ins {
                g.tx(ins, outs, faucet);
            }
        }
        if h > FUND_AT {
            g.background();
        }
        g.heist = true;
        if h == drain_at {
            g.purpose = "drain";
            let drainer = g.owner("attacker", "drainer".into());
            let victim = g.victim;
            if let Some(ins) = g.take(victim, c.stolen + 100_000) {
                g.tx(ins, vec![(drainer, c.stolen)], victim);
            }
        }
        if h == drain_at + 2 {
            g.purpose = "fan-out";
            let drainer = g.owners.len() - 1;
            let total = g.balance(drainer);
            let n = c.fan_out as usize;
            let mut outs = Vec::new();
            let weights: Vec<u64> = (0..n).map(|_| g.rng.u64(40..160)).collect();
            let wsum: u64 = weights.iter().sum();
            let spend = total - 200_000;
            for (k, w) in weights.iter().enumerate() {
                let a = g.owner("attacker", format!("fan-out {k}"));
                let v = u64::try_from(mul_div(u128::from(spend), u128::from(*w), u128::from(wsum)))
                    .unwrap_or(0);
                outs.push((a, v));
                chains.push((a, vec![g.address(a)], Vec::new()));
            }
            let addrs: Vec<String> = std::iter::once(g.address(drainer))
                .chain(outs.iter().map(|(a, _)| g.address(*a)))
                .collect();
            let ins = g.take(drainer, total).unwrap_or_default();
            g.tx(ins, outs, drainer);
            let txid = g.txs.last().map(|t| t.compute_txid().to_string());
            g.patterns.push(PatternTruth {
                kind: "fan_out".into(),
                addresses: addrs,
                txs: txid.into_iter().collect(),
            });
        }
        // Peel chains: one hop per block; then half to the CoinJoin, half to the exit.
        if h >= drain_at + 4 && h < drain_at + 4 + c.hops {
            g.purpose = "peel";
            let hop = h - drain_at - 4;
            for (k, chain) in chains.iter_mut().enumerate() {
                let holder = chain.0;
                let total = g.balance(holder);
                if total == 0 {
                    continue;
                }
                let pct = g.rng.u64(3..12);
                let peel = g.amount(total / 100 * pct, 10);
                let to = g.cash_out[g.rng.usize(..g.cash_out.len())].1;
                let next = g.owner("attacker", format!("peel hop {hop} of chain {k}"));
                let ins = g.take(holder, total).unwrap_or_default();
                if g.tx(ins, vec![(to, peel)], next).is_some() {
                    chain.0 = next;
                    chain.1.push(g.address(next));
                    if let Some(t) = g.txs.last() {
                        chain.2.push(t.compute_txid().to_string());
                    }
                }
            }
        }
        if h == drain_at + 4 + c.hops {
            let half = chains.len() / 2;
            // Half: the privacy exit.
            g.purpose = "privacy exit";
            let mut exit_txs = Vec::new();
            for chain in chains.iter().skip(half) {
                let holder = chain.0;
                let total = g.balance(holder);
                let ins = g.take(holder, total).unwrap_or_default();
                let exit = g.exit;
                if g.tx(ins, vec![], exit).is_some()
                    && let Some(t) = g.txs.last()
                {
                    exit_txs.push(t.compute_txid().to_string());
                }
            }
            g.patterns.push(PatternTruth {
                kind: "privacy_exit".into(),
                addresses: vec![g.address(g.exit)],
                txs: exit_txs,
            });
            // Half: one CoinJoin with users.
            g.purpose = "coinjoin";
            let mut ins: Vec<(usize, Coin)> = Vec::new();
            for chain in chains.iter().take(half) {
                let holder = chain.0;
                let total = g.balance(holder);
                ins.extend(g.take(holder, total).unwrap_or_default());
            }
            let launder: u64 = ins.iter().map(|(_, c)| c.value).sum();
            let d = DENOMINATION;
            let n_l = ((launder.saturating_sub(LTC)) / d).clamp(1, 40);
            let mut outs: Vec<(usize, u64)> = Vec::new();
            for k in 0..n_l {
                let a = g.owner("attacker", format!("coinjoin output {k}"));
                cj_outs.push(a);
                outs.push((a, d));
            }
            // (owner, brought, equal outputs)
            let mut parties = vec![(g.owner("attacker", "coinjoin change".into()), launder, n_l)];
            for (k, m) in g.mixers.clone().into_iter().enumerate() {
                let bal = g.balance(m);
                if bal < d + LTC {
                    continue;
                }
                let Some(coins) = g.take(m, bal) else {
                    continue;
                };
                let n = ((bal - LTC) / d).clamp(1, 2);
                for j in 0..n {
                    let a = g.owner(&format!("user:cj{k}"), format!("coinjoin output {j}"));
                    outs.push((a, d));
                }
                ins.extend(coins);
                parties.push((m, bal, n));
            }
            let fee = 20 * (11 + 68 * ins.len() as u64 + 31 * (outs.len() + parties.len()) as u64);
            let share = fee / parties.len() as u64 + 1;
            g.rng.shuffle(&mut ins);
            g.rng.shuffle(&mut outs);
            // Every party's change but the last; the last's goes through `tx`'s change slot
            // (it takes what the fee leaves).
            let last = parties.last().map_or(0, |p| p.0);
            for (who, brought, n) in &parties[..parties.len() - 1] {
                let change = brought.saturating_sub(n * d + share);
                if change >= MIN_OUTPUT {
                    outs.push((*who, change));
                }
            }
            if launder >= n_l * d + LTC
                && g.tx(ins, outs, last).is_some()
                && let Some(t) = g.txs.last()
            {
                let scripts: Vec<ScriptBuf> =
                    t.output.iter().map(|o| o.script_pubkey.clone()).collect();
                let txid = t.compute_txid().to_string();
                let addresses = scripts
                    .iter()
                    .filter_map(|s| g.owners.iter().position(|o| o.script == *s))
                    .map(|o| g.address(o))
                    .collect();
                g.patterns.push(PatternTruth {
                    kind: "coinjoin".into(),
                    addresses,
                    txs: vec![txid],
                });
            }
            cj_due = h + 3;
            for (holder, addresses, txs) in std::mem::take(&mut chains) {
                let _ = holder;
                g.patterns.push(PatternTruth {
                    kind: "peel_chain".into(),
                    addresses,
                    txs,
                });
            }
        }
        if h == cj_due {
            // The launderer's equal outputs go to exchange deposits, a few per tx.
            g.purpose = "cash out";
            for chunk in cj_outs.clone().chunks(3) {
                let mut ins = Vec::new();
                for &a in chunk {
                    let total = g.balance(a);
                    ins.extend(g.take(a, total).unwrap_or_default());
                }
                let to = g.cash_out[g.rng.usize(..g.cash_out.len())].1;
                g.tx(ins, vec![], to);
            }
        }
        let miner = if h <= FUNDING_BLOCKS {
            g.faucet
        } else {
            g.pool
        };
        let block = g.seal(prev, miner);
        prev = block.block_hash();
        writer.write(&block).map_err(io)?;
        g.summary.blocks += 1;
        g.settle();
    }
    let (bytes, files) = writer.finish().map_err(io)?;
    g.summary.bytes = bytes;
    g.summary.files = files;
    g.summary.seconds = started.elapsed().as_secs_f64();
    let truth = g.truth()?;
    Ok((g.summary.clone(), truth))
}

impl Gen<'_> {
    fn truth(&mut self) -> Result<GroundTruth> {
        let mut resting = Vec::new();
        let place = |g: &Gen<'_>, kind, o: usize, stolen| RestingPlace {
            kind,
            entity: Some(g.owners[o].entity.clone()),
            address: Some(g.address(o)),
            asset: Asset::Ltc,
            stolen,
        };
        for ((o, kind), stolen) in &self.rest {
            resting.push(place(self, *kind, *o, *stolen));
        }
        let mut held: BTreeMap<usize, u128> = BTreeMap::new();
        for (o, segs) in self.taint.values() {
            *held.entry(*o).or_insert(0) += u128::from(stolen_of(segs));
        }
        for (o, stolen) in held {
            if stolen > 0 {
                resting.push(place(self, RestingKind::Held, o, stolen));
            }
        }
        if self.fee_stolen > 0 {
            resting.push(RestingPlace {
                kind: RestingKind::Fee,
                entity: None,
                address: None,
                asset: Asset::Ltc,
                stolen: self.fee_stolen,
            });
        }
        let mut entities: BTreeMap<String, Entity> = BTreeMap::new();
        let mut addresses = Vec::with_capacity(self.owners.len());
        let mut labels = Vec::new();
        for (i, o) in self.owners.iter().enumerate() {
            let kind = match o.entity.split(':').next().unwrap_or_default() {
                "user" => EntityKind::User,
                "exchange" => EntityKind::Exchange,
                "victim" => EntityKind::Victim,
                "attacker" => EntityKind::Attacker,
                "privacy-exit" => EntityKind::PrivacyExit,
                "miner" => EntityKind::Miner,
                _ => EntityKind::Faucet,
            };
            entities.entry(o.entity.clone()).or_insert_with(|| Entity {
                id: o.entity.clone(),
                kind,
                name: o.entity.clone(),
            });
            let address = self.address(i);
            // Labeled as the nodes mode labels them: exchanges (where taint stops, freezable)
            // and the privacy exit (where it goes dark).
            if kind == EntityKind::PrivacyExit {
                labels.push(Label {
                    chain: UTXO_CHAIN.to_string(),
                    address: address.clone(),
                    label: "privacy exit".into(),
                    category: "privacy".into(),
                    source: "tracehound-sim".into(),
                    confidence: 0.9,
                });
            }
            if kind == EntityKind::Exchange {
                labels.push(Label {
                    chain: UTXO_CHAIN.to_string(),
                    address: address.clone(),
                    label: format!("{} {}", o.entity, o.role),
                    category: "exchange".into(),
                    source: "tracehound-sim".into(),
                    confidence: if o.role.ends_with("hot wallet") {
                        1.0
                    } else {
                        0.8
                    },
                });
            }
            addresses.push(AddressInfo {
                address,
                entity: o.entity.clone(),
                role: o.role.clone(),
                contract: false,
                chain: UTXO_CHAIN.to_string(),
            });
        }
        let truth = GroundTruth {
            chain_id: 0,
            utxo_chain: Some(UTXO_CHAIN.to_string()),
            seed: self.c.seed,
            policy: POLICY.to_string(),
            assets: vec![AssetInfo {
                id: Asset::Ltc,
                symbol: "LTC".into(),
                decimals: 8,
                contract: None,
            }],
            contracts: BTreeMap::new(),
            incident: Incident {
                victim: self.address(self.victim),
                txs: self.incident.clone(),
                stolen: vec![AssetAmount {
                    asset: Asset::Ltc,
                    amount: u128::from(self.c.stolen),
                }],
            },
            txs: Vec::new(),
            utxo_txs: std::mem::take(&mut self.truth_txs),
            links: Vec::new(),
            resting,
            entities: entities.into_values().collect(),
            addresses,
            patterns: std::mem::take(&mut self.patterns),
            labels,
        };
        truth.check()?;
        Ok(truth)
    }
}
