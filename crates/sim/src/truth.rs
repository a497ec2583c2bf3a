//! The ground truth of a played scenario: the incident, every tx (EVM and UTXO) with the
//! stolen amount each of its transfers or outputs and its fee carries, the links (swaps, mixer
//! notes, bridge hops, chain swaps) taint crossed, where every stolen unit rests, who owns
//! every address, the laundering patterns, and a labels file.
//!
//! Attribution rule: [`POLICY`] — TRACING.md's **LIFO** policies (account ledger on the EVM
//! side, UTXO tx on the UTXO side), with the conventions stated there for fees, partial data,
//! services and links.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, SimError};
use crate::exec::out_memo;
use crate::plan::{Action, Asset, LinkKind, OutRef, Plan, Step, UtxoLink, UtxoStep, mul_div};
use crate::world::{AddressInfo, ContractKind, EVM_CHAIN, Entity, EntityKind, UTXO_CHAIN, World};

/// The attribution rule the stolen amounts follow.
pub const POLICY: &str = "LIFO (TRACING.md, account ledger): per address and asset, receipts form a stack and \
an outflow takes the newest first; a tx's fee leaves after its transfers (TRACING.md orders the fee last); \
a receipt taken in part gives up its stolen part pro rata, rounded down; value sent beyond what the \
address is known to have received is clean (TRACING.md, partial data); taint reaching an exchange \
address stops there (point of intervention); a DEX swap moves taint to the output at the swap's own \
rate (out/in, rounded down); a mixer note carries its deposit's taint to its withdrawal (the true, \
off-chain link), and a note never withdrawn is dark. \
UTXO txs: LIFO (TRACING.md, UTXO tx): the inputs are laid end to end in tx order, each as the \
stolen and clean segments it carries in their order; the outputs in order, then the fee, take value \
from the back (last input first); an output keeps the segments it took in their order on the line. \
A deposit into a bridge's or swap vault's address hands its stolen part to the link, and the \
service's payout on the other chain (output 0 of a UTXO payout) carries it at the link's own rate \
(amount out / amount in, rounded down); value reaching an exchange deposit or the privacy exit \
rests there";

/// One tx as the node executed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    /// The plan step.
    pub step: usize,
    /// Tx hash (`0x…`).
    pub hash: String,
    /// Block number.
    pub block: u64,
    /// Position in the block.
    pub index: u32,
    /// Seconds after the scenario's first block.
    pub time: u64,
    /// Gas fee paid (wei).
    pub fee: u128,
}

/// An asset of the world.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetInfo {
    /// Id used in this file.
    pub id: Asset,
    /// Ticker.
    pub symbol: String,
    /// Decimals of the base unit.
    pub decimals: u8,
    /// The token contract (`None` for ether).
    pub contract: Option<String>,
}

impl AssetInfo {
    /// The EVM side's assets: ether, and the stablecoin at `stablecoin`.
    pub fn evm(stablecoin: String) -> Vec<AssetInfo> {
        vec![
            AssetInfo {
                id: Asset::Eth,
                symbol: "ETH".into(),
                decimals: 18,
                contract: None,
            },
            AssetInfo {
                id: Asset::Susd,
                symbol: "SUSD".into(),
                decimals: 6,
                contract: Some(stablecoin),
            },
        ]
    }
}

/// An amount of an asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetAmount {
    /// Asset.
    pub asset: Asset,
    /// Base units.
    pub amount: u128,
}

/// The theft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// The drained hot wallet.
    pub victim: String,
    /// The txs that steal.
    pub txs: Vec<String>,
    /// What was stolen.
    pub stolen: Vec<AssetAmount>,
}

/// One value movement of a tx.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferTruth {
    /// Asset.
    pub asset: Asset,
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// Base units moved.
    pub amount: u128,
    /// Of which stolen, under [`POLICY`].
    pub stolen: u128,
}

/// One tx.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxTruth {
    /// Hash.
    pub hash: String,
    /// Block number.
    pub block: u64,
    /// Position in the block.
    pub index: u32,
    /// Seconds after the scenario's first block.
    pub time: u64,
    /// Plan step.
    pub step: usize,
    /// Part of the heist.
    pub heist: bool,
    /// Why it was sent.
    pub purpose: String,
    /// Sender (pays the fee).
    pub sender: String,
    /// Fee (wei).
    pub fee: u128,
    /// Of which stolen.
    pub fee_stolen: u128,
    /// Value movements (fee apart), in execution order.
    pub transfers: Vec<TransferTruth>,
}

/// One UTXO tx as the node mined it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtxoExecuted {
    /// The plan step.
    pub step: usize,
    /// Txid (display hex).
    pub txid: String,
    /// Block height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// Seconds after the scenario's first block.
    pub time: u64,
}

/// What the UTXO node did: the txs, and the faucet's coinbase txids by height.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UtxoRun {
    /// The plan's txs, in the order played.
    pub txs: Vec<UtxoExecuted>,
    /// Coinbase txids of the faucet's blocks.
    pub coinbase: BTreeMap<u32, String>,
}

/// An input of a UTXO tx.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UtxoInputTruth {
    /// The spent output's txid.
    pub txid: String,
    /// Its index.
    pub vout: u32,
    /// Its address.
    pub address: String,
    /// Litoshi.
    pub amount: u64,
    /// Of which stolen (what the spent output carries on).
    pub stolen: u64,
}

/// An output of a UTXO tx.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UtxoOutputTruth {
    /// Output index.
    pub vout: u32,
    /// Address.
    pub address: String,
    /// Litoshi.
    pub amount: u64,
    /// Of which stolen, under [`POLICY`].
    pub stolen: u64,
}

/// One UTXO tx.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UtxoTxTruth {
    /// Txid.
    pub txid: String,
    /// Block height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// Seconds after the scenario's first block.
    pub time: u64,
    /// Plan step.
    pub step: usize,
    /// Part of the heist.
    pub heist: bool,
    /// Why it was sent.
    pub purpose: String,
    /// Inputs in tx order.
    pub inputs: Vec<UtxoInputTruth>,
    /// Paying outputs in tx order (the OP_RETURN output, if any, follows them).
    pub outputs: Vec<UtxoOutputTruth>,
    /// The OP_RETURN memo.
    pub memo: Option<String>,
    /// Litoshi.
    pub fee: u64,
    /// Of which stolen.
    pub fee_stolen: u64,
    /// Stolen litoshi a cross-chain link brings into output 0 (a service's payout).
    pub link_in: u64,
}

/// Taint crossing a swap, a mixer note, a bridge hop or a chain swap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkTruth {
    /// `swap`, `mixer`, `bridge` or `chain_swap`.
    pub kind: String,
    /// Chain of the tx in (`evm-31337`, `litecoin-regtest`).
    pub in_chain: String,
    /// Chain of the tx out.
    pub out_chain: String,
    /// The address the value went into (pool, mixer, bridge contract or wallet, vault).
    pub in_address: String,
    /// The address that paid it out.
    pub out_address: String,
    /// Amount in (base units of `asset_in`).
    pub amount_in: u128,
    /// Amount out (base units of `asset_out`).
    pub amount_out: u128,
    /// The memo of the tx in (bridge destination, swap memo), if any.
    pub memo_in: Option<String>,
    /// The memo of the tx out (`OUT:<tx in>`), if any.
    pub memo_out: Option<String>,
    /// The tx the value went in with (swap: the swap itself; mixer: the deposit).
    pub in_tx: String,
    /// The tx it came out with (swap: the swap; mixer: the withdrawal).
    pub out_tx: String,
    /// Asset in.
    pub asset_in: Asset,
    /// Stolen amount in.
    pub stolen_in: u128,
    /// Asset out.
    pub asset_out: Asset,
    /// Stolen amount out.
    pub stolen_out: u128,
}

/// Where stolen value ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestingKind {
    /// In an exchange's deposit address (the exchange can freeze the account).
    ExchangeDeposit,
    /// Stablecoin the launderer holds (the issuer can freeze it).
    FreezableStablecoin,
    /// In the mixer, never withdrawn: dark.
    MixerDark,
    /// Sent to the privacy-chain exit: dark.
    PrivacyExit,
    /// Paid as gas or miner fees.
    Fee,
    /// Any other balance (ether the launderer holds, …).
    Held,
}

/// One resting place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestingPlace {
    /// What kind.
    pub kind: RestingKind,
    /// The owning entity (none for fees).
    pub entity: Option<String>,
    /// The address (the mixer contract for dark value; none for fees).
    pub address: Option<String>,
    /// Asset.
    pub asset: Asset,
    /// Stolen base units resting there.
    pub stolen: u128,
}

/// A laundering-pattern instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatternTruth {
    /// `fan_out`, `swap`, `mixer`, `fan_in`, `peel_chain` (either chain), `coinjoin`,
    /// `bridge_hop`, `chain_swap`, `privacy_exit`.
    pub kind: String,
    /// Its addresses.
    pub addresses: Vec<String>,
    /// Its txs.
    pub txs: Vec<String>,
}

/// A row of the labels file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// tracehound chain name (`evm-31337`, `litecoin-regtest`).
    pub chain: String,
    /// Address.
    pub address: String,
    /// Label.
    pub label: String,
    /// `exchange`, `dex`, `mixer`, `issuer`, `bridge`, `vault`, `privacy`.
    pub category: String,
    /// Where it comes from.
    pub source: String,
    /// 0 to 1.
    pub confidence: f32,
}

/// Everything known about a played scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// EVM chain id (0 when the scenario has no EVM side, as with `--to-files`).
    pub chain_id: u64,
    /// The UTXO chain (`litecoin-regtest`), if the scenario has a UTXO side.
    pub utxo_chain: Option<String>,
    /// Seed.
    pub seed: u64,
    /// The attribution rule of every stolen amount.
    pub policy: String,
    /// The assets.
    pub assets: Vec<AssetInfo>,
    /// The contracts.
    pub contracts: BTreeMap<ContractKind, String>,
    /// The theft.
    pub incident: Incident,
    /// Every EVM tx of the scenario, in chain order.
    pub txs: Vec<TxTruth>,
    /// Every UTXO tx of the scenario, in chain order.
    pub utxo_txs: Vec<UtxoTxTruth>,
    /// Swaps and mixer notes stolen value crossed.
    pub links: Vec<LinkTruth>,
    /// Where every stolen unit rests.
    pub resting: Vec<RestingPlace>,
    /// Entities.
    pub entities: Vec<Entity>,
    /// Every address and its entity.
    pub addresses: Vec<AddressInfo>,
    /// Laundering patterns.
    pub patterns: Vec<PatternTruth>,
    /// Labels (also written as `labels.csv`).
    pub labels: Vec<Label>,
}

/// A receipt on an address's stack: its amount and the stolen part of it.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    amount: u128,
    stolen: u128,
}

/// LIFO stacks per (address, asset).
#[derive(Default)]
struct Ledger {
    stacks: BTreeMap<(String, Asset), Vec<Chunk>>,
}

impl Ledger {
    /// Takes `amount` off the top; returns its stolen part.
    fn take(&mut self, who: &str, asset: Asset, mut amount: u128) -> u128 {
        let Some(stack) = self.stacks.get_mut(&(who.to_string(), asset)) else {
            return 0;
        };
        let mut stolen = 0;
        while amount > 0 {
            let Some(top) = stack.last_mut() else { break };
            if top.amount <= amount {
                amount -= top.amount;
                stolen += top.stolen;
                stack.pop();
            } else {
                let s = mul_div(top.stolen, amount, top.amount);
                top.amount -= amount;
                top.stolen -= s;
                stolen += s;
                amount = 0;
            }
        }
        stolen
    }

    fn put(&mut self, who: &str, asset: Asset, amount: u128, stolen: u128) {
        if amount > 0 {
            self.stacks
                .entry((who.to_string(), asset))
                .or_default()
                .push(Chunk { amount, stolen });
        }
    }
}

impl GroundTruth {
    /// Computes the ground truth of an EVM-only `plan` from what the node executed.
    pub fn build(plan: &Plan, executed: &[Executed]) -> Result<GroundTruth> {
        GroundTruth::build_all(plan, executed, &UtxoRun::default())
    }

    /// Computes the ground truth of `plan` from what the nodes executed: both chains' txs are
    /// taken in the plan's one time order, so taint crossing a link is known on its way out.
    pub fn build_all(plan: &Plan, executed: &[Executed], utxo: &UtxoRun) -> Result<GroundTruth> {
        let mut b = Builder::new(plan, utxo);
        let mut events: Vec<(u64, u8, u64, u32, usize)> = Vec::new();
        for (i, e) in executed.iter().enumerate() {
            events.push((e.time, 0, e.block, e.index, i));
        }
        for (i, e) in utxo.txs.iter().enumerate() {
            events.push((e.time, 1, e.height, e.index, i));
        }
        events.sort_unstable();
        for (_, chain, _, _, i) in events {
            if chain == 0 {
                b.evm_tx(&executed[i])?;
            } else {
                b.utxo_tx(&utxo.txs[i])?;
            }
        }
        let truth = b.finish()?;
        truth.check()?;
        Ok(truth)
    }

    /// Checks the ground truth is internally consistent: no transfer, output or fee carries
    /// more stolen value than it moves; per UTXO tx, stolen in (inputs and link) = stolen out
    /// (outputs and fee), every input spends an earlier output once and carries what that
    /// output carries on; per address and asset, stolen in − out = what rests there; every
    /// swap or cross-chain link pays out no more than its rate allows and every note comes out
    /// once at most; per asset, stolen + link outputs = resting + link inputs (no unit twice,
    /// none lost); no resting place listed twice; every stolen-carrying transfer or input and
    /// every resting address reached from the victim by a chain of stolen-carrying movements
    /// and links, each after the one before.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(SimError::Truth(m));
        let pool = self
            .contracts
            .get(&ContractKind::Pool)
            .cloned()
            .unwrap_or_default();
        let incident: BTreeSet<&str> = self.incident.txs.iter().map(String::as_str).collect();
        let kind_of: BTreeMap<&str, EntityKind> = {
            let kinds: BTreeMap<&str, EntityKind> = self
                .entities
                .iter()
                .map(|e| (e.id.as_str(), e.kind))
                .collect();
            self.addresses
                .iter()
                .filter_map(|a| Some((a.address.as_str(), *kinds.get(a.entity.as_str())?)))
                .collect()
        };
        let mut net: BTreeMap<(&str, Asset), i128> = BTreeMap::new();
        for tx in &self.txs {
            if tx.fee_stolen > tx.fee {
                return bad(format!(
                    "tx {}: fee {} carries {} stolen",
                    tx.hash, tx.fee, tx.fee_stolen
                ));
            }
            *net.entry((tx.sender.as_str(), Asset::Eth)).or_insert(0) -= tx.fee_stolen as i128;
            for t in &tx.transfers {
                if t.stolen > t.amount {
                    return bad(format!(
                        "tx {}: transfer of {} carries {} stolen",
                        tx.hash, t.amount, t.stolen
                    ));
                }
                if t.stolen == 0 {
                    continue;
                }
                if !incident.contains(tx.hash.as_str()) {
                    *net.entry((t.from.as_str(), t.asset)).or_insert(0) -= t.stolen as i128;
                }
                *net.entry((t.to.as_str(), t.asset)).or_insert(0) += t.stolen as i128;
            }
        }
        // UTXO txs: per-tx conservation, spends of earlier outputs carrying what they carry.
        let link_from: BTreeMap<&str, &str> = self
            .links
            .iter()
            .filter(|l| l.out_chain != EVM_CHAIN)
            .map(|l| (l.out_tx.as_str(), l.out_address.as_str()))
            .collect();
        let mut carried: BTreeMap<(&str, u32), u64> = BTreeMap::new();
        let mut utxo_order: Vec<&UtxoTxTruth> = self.utxo_txs.iter().collect();
        utxo_order.sort_by_key(|t| (t.height, t.index));
        for tx in utxo_order {
            let (mut s_in, mut v_in) = (u128::from(tx.link_in), 0u128);
            for i in &tx.inputs {
                if i.stolen > i.amount {
                    return bad(format!(
                        "utxo tx {}: input carries more than it holds",
                        tx.txid
                    ));
                }
                let before = carried.remove(&(i.txid.as_str(), i.vout));
                if i.stolen > 0 && before != Some(i.stolen) {
                    return bad(format!(
                        "utxo tx {} spends {}:{} as carrying {} stolen, which no earlier output carries ({before:?})",
                        tx.txid, i.txid, i.vout, i.stolen
                    ));
                }
                s_in += u128::from(i.stolen);
                v_in += u128::from(i.amount);
                *net.entry((i.address.as_str(), Asset::Ltc)).or_insert(0) -= i128::from(i.stolen);
            }
            if tx.link_in > 0 {
                let Some(from) = link_from.get(tx.txid.as_str()) else {
                    return bad(format!("utxo tx {} pays out for no link", tx.txid));
                };
                *net.entry((from, Asset::Ltc)).or_insert(0) -= i128::from(tx.link_in);
            }
            let mut s_out = u128::from(tx.fee_stolen);
            let mut v_out = u128::from(tx.fee);
            if tx.fee_stolen > tx.fee {
                return bad(format!("utxo tx {}: fee carries more than it is", tx.txid));
            }
            for o in &tx.outputs {
                if o.stolen > o.amount {
                    return bad(format!(
                        "utxo tx {}: output {} of {} carries {} stolen",
                        tx.txid, o.vout, o.amount, o.stolen
                    ));
                }
                s_out += u128::from(o.stolen);
                v_out += u128::from(o.amount);
                *net.entry((o.address.as_str(), Asset::Ltc)).or_insert(0) += i128::from(o.stolen);
                let stops = matches!(
                    kind_of.get(o.address.as_str()),
                    Some(
                        EntityKind::Exchange
                            | EntityKind::PrivacyExit
                            | EntityKind::Bridge
                            | EntityKind::SwapVault
                    )
                );
                carried.insert((tx.txid.as_str(), o.vout), if stops { 0 } else { o.stolen });
            }
            // The theft itself makes stolen value out of the victim's own.
            if s_in != s_out && !incident.contains(tx.txid.as_str()) {
                return bad(format!(
                    "utxo tx {}: stolen in {s_in} ≠ stolen out {s_out}",
                    tx.txid
                ));
            }
            if !tx.inputs.is_empty() && v_in != v_out {
                return bad(format!(
                    "utxo tx {}: value in {v_in} ≠ out {v_out}",
                    tx.txid
                ));
            }
        }
        // Links: the pool and the mixer pass taint on and hold none of it (but dark notes);
        // a cross-chain service takes it on one chain and pays it out on the other.
        let mut per_asset: BTreeMap<Asset, i128> = BTreeMap::new();
        for a in &self.incident.stolen {
            *per_asset.entry(a.asset).or_insert(0) += a.amount as i128;
        }
        let mut seen_notes = BTreeSet::new();
        for l in &self.links {
            *per_asset.entry(l.asset_in).or_insert(0) -= l.stolen_in as i128;
            *per_asset.entry(l.asset_out).or_insert(0) += l.stolen_out as i128;
            *net.entry((l.in_address.as_str(), l.asset_in)).or_insert(0) -= l.stolen_in as i128;
            *net.entry((l.out_address.as_str(), l.asset_out))
                .or_insert(0) += l.stolen_out as i128;
            if l.stolen_in > l.amount_in || l.stolen_out > l.amount_out {
                return bad(format!(
                    "link {} → {}: stolen above amount",
                    l.in_tx, l.out_tx
                ));
            }
            if l.kind == "mixer" && (!seen_notes.insert(&l.in_tx) || l.stolen_in != l.stolen_out) {
                return bad(format!("mixer note {} spent twice or changed", l.in_tx));
            }
            if l.kind == "swap" {
                let Some(tx) = self.txs.iter().find(|t| t.hash == l.in_tx) else {
                    return bad(format!("swap link {} has no tx", l.in_tx));
                };
                let amount = |asset: Asset, to_pool: bool| {
                    tx.transfers
                        .iter()
                        .find(|t| t.asset == asset && (t.to == pool) == to_pool)
                        .map_or(0, |t| t.amount)
                };
                let (i, o) = (amount(l.asset_in, true), amount(l.asset_out, false));
                if l.stolen_out > mul_div(l.stolen_in, o, i) {
                    return bad(format!(
                        "swap {} pays {} stolen out, above its rate",
                        l.in_tx, l.stolen_out
                    ));
                }
            } else if l.stolen_out > mul_div(l.stolen_in, l.amount_out, l.amount_in) {
                return bad(format!(
                    "{} link {} pays {} stolen out, above its rate",
                    l.kind, l.in_tx, l.stolen_out
                ));
            }
        }
        let mut keys = BTreeSet::new();
        for r in &self.resting {
            if !keys.insert((r.kind, r.address.clone(), r.asset)) {
                return bad(format!(
                    "resting place {:?} {:?} {:?} listed twice",
                    r.kind, r.address, r.asset
                ));
            }
            *per_asset.entry(r.asset).or_insert(0) -= r.stolen as i128;
            if let Some(a) = &r.address {
                *net.entry((a.as_str(), r.asset)).or_insert(0) -= r.stolen as i128;
            }
        }
        if let Some((asset, d)) = per_asset.iter().find(|(_, d)| **d != 0) {
            return bad(format!(
                "{asset:?}: stolen + link outputs − resting − link inputs = {d}, not 0"
            ));
        }
        if let Some(((who, asset), d)) = net.iter().find(|(_, d)| **d != 0) {
            return bad(format!(
                "{who} {asset:?}: stolen in − out − resting = {d}, not 0"
            ));
        }
        self.check_reachability()
    }

    /// Every stolen-carrying movement starts where stolen value already was (the victim, or
    /// an address an earlier stolen movement or a link's inbound tx reached), and every
    /// resting address is reached.
    fn check_reachability(&self) -> Result<()> {
        let bad = |m: String| Err(SimError::Truth(m));
        // (time, chain, block, index, which)
        let mut order: Vec<(u64, u8, u64, u32, usize)> = Vec::new();
        for (i, t) in self.txs.iter().enumerate() {
            order.push((t.time, 0, t.block, t.index, i));
        }
        for (i, t) in self.utxo_txs.iter().enumerate() {
            order.push((t.time, 1, t.height, t.index, i));
        }
        order.sort_unstable();
        let mut opens: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for l in &self.links {
            opens
                .entry(l.in_tx.as_str())
                .or_default()
                .push(&l.out_address);
        }
        let mut seen: BTreeSet<&str> = BTreeSet::from([self.incident.victim.as_str()]);
        for (_, chain, _, _, i) in order {
            let id = if chain == 0 {
                let tx = &self.txs[i];
                for t in tx.transfers.iter().filter(|t| t.stolen > 0) {
                    if !seen.contains(t.from.as_str()) {
                        return bad(format!(
                            "tx {} moves stolen value out of {}, which no earlier stolen-carrying transfer reached",
                            tx.hash, t.from
                        ));
                    }
                    seen.insert(&t.to);
                }
                tx.hash.as_str()
            } else {
                let tx = &self.utxo_txs[i];
                for inp in tx.inputs.iter().filter(|x| x.stolen > 0) {
                    if !seen.contains(inp.address.as_str()) {
                        return bad(format!(
                            "utxo tx {} moves stolen value out of {}, which nothing earlier reached",
                            tx.txid, inp.address
                        ));
                    }
                }
                for o in tx.outputs.iter().filter(|o| o.stolen > 0) {
                    seen.insert(&o.address);
                }
                tx.txid.as_str()
            };
            for out in opens.get(id).into_iter().flatten() {
                seen.insert(out);
            }
        }
        for r in &self.resting {
            if let Some(a) = &r.address
                && !seen.contains(a.as_str())
            {
                return bad(format!(
                    "resting place {a} is not reached by any stolen-carrying transfer"
                ));
            }
        }
        Ok(())
    }

    /// Stolen base units resting in places of `kind`, per asset.
    pub fn resting_total(&self, kind: RestingKind, asset: Asset) -> u128 {
        self.resting
            .iter()
            .filter(|r| r.kind == kind && r.asset == asset)
            .map(|r| r.stolen)
            .sum()
    }

    /// Writes `truth.json`, `labels.csv` and `links.toml` (the services' link config, see
    /// [`crate::links`]) into `dir` (created if missing).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let werr = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SimError::Write { path, source }
        };
        std::fs::create_dir_all(dir).map_err(werr(dir))?;
        let path = dir.join("truth.json");
        let json = serde_json::to_vec_pretty(self).map_err(|e| SimError::Write {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        std::fs::write(&path, json).map_err(werr(&path))?;
        let path = dir.join("labels.csv");
        let mut out = Vec::new();
        let _ = writeln!(out, "chain,address,label,category,source,confidence");
        for l in &self.labels {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{}",
                l.chain, l.address, l.label, l.category, l.source, l.confidence
            );
        }
        std::fs::write(&path, out).map_err(werr(&path))?;
        let path = dir.join("links.toml");
        std::fs::write(&path, crate::links::links_toml(self)).map_err(werr(&path))?;
        Ok(())
    }
}

/// A run of value inside a UTXO output: stolen or clean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seg {
    amount: u64,
    stolen: bool,
}

impl Seg {
    pub(crate) fn clean(amount: u64) -> Seg {
        Seg {
            amount,
            stolen: false,
        }
    }

    pub(crate) fn stolen(amount: u64) -> Seg {
        Seg {
            amount,
            stolen: true,
        }
    }
}

pub(crate) fn push_seg(line: &mut Vec<Seg>, seg: Seg) {
    if seg.amount == 0 {
        return;
    }
    match line.last_mut() {
        Some(last) if last.stolen == seg.stolen => last.amount += seg.amount,
        _ => line.push(seg),
    }
}

/// The segments of `line` between offsets `from` and `to`, in order.
fn slice(line: &[Seg], from: u64, to: u64) -> Vec<Seg> {
    let mut out = Vec::new();
    let mut at = 0u64;
    for s in line {
        let (a, b) = (at, at + s.amount);
        at = b;
        let (lo, hi) = (a.max(from), b.min(to));
        if lo < hi {
            push_seg(
                &mut out,
                Seg {
                    amount: hi - lo,
                    stolen: s.stolen,
                },
            );
        }
    }
    out
}

/// TRACING.md's LIFO for a UTXO tx: the outputs (`amounts`, in order), then the fee, take
/// value from the back of the inputs' `line`. Returns each output's segments and the fee's;
/// none if the outputs exceed the inputs.
pub(crate) fn lifo_split(line: &[Seg], amounts: &[u64]) -> Option<(Vec<Vec<Seg>>, Vec<Seg>)> {
    let mut end: u64 = line.iter().map(|s| s.amount).sum();
    let mut outs = Vec::with_capacity(amounts.len());
    for a in amounts {
        let from = end.checked_sub(*a)?;
        outs.push(slice(line, from, end));
        end = from;
    }
    Some((outs, slice(line, 0, end)))
}

pub(crate) fn stolen_of(segs: &[Seg]) -> u64 {
    segs.iter().filter(|s| s.stolen).map(|s| s.amount).sum()
}

/// Value waiting in a cross-chain service for its payout on the other chain.
struct Pending {
    kind: &'static str,
    in_chain: String,
    in_tx: String,
    in_address: String,
    asset: Asset,
    amount: u128,
    stolen: u128,
    memo: Option<String>,
}

/// Walks the executed txs of both chains in time order, keeping the taint state.
struct Builder<'a> {
    plan: &'a Plan,
    w: &'a World,
    pool: String,
    mixer: String,
    bridge: String,
    steps: BTreeMap<usize, &'a Step>,
    utxo_steps: BTreeMap<usize, &'a UtxoStep>,
    incident: BTreeSet<usize>,
    coinbase: &'a BTreeMap<u32, String>,
    hash_of: BTreeMap<usize, String>,
    ledger: Ledger,
    notes: BTreeMap<usize, u128>,
    pending: BTreeMap<usize, Pending>,
    utxo_set: BTreeMap<OutRef, (String, Vec<Seg>)>,
    exchange_rest: BTreeMap<(String, Asset), u128>,
    exit_rest: BTreeMap<String, u128>,
    fee_rest: BTreeMap<Asset, u128>,
    txs: Vec<TxTruth>,
    utxo_txs: Vec<UtxoTxTruth>,
    links: Vec<LinkTruth>,
    stolen_total: BTreeMap<Asset, u128>,
}

impl<'a> Builder<'a> {
    fn new(plan: &'a Plan, utxo: &'a UtxoRun) -> Builder<'a> {
        let w = &plan.world;
        Builder {
            plan,
            w,
            pool: w.contract_address(ContractKind::Pool).to_string(),
            mixer: w.contract_address(ContractKind::Mixer).to_string(),
            bridge: w.contract_address(ContractKind::Bridge).to_string(),
            steps: plan.steps().map(|s| (s.id, s)).collect(),
            utxo_steps: plan
                .utxo
                .iter()
                .flat_map(|u| u.steps())
                .map(|s| (s.id, s))
                .collect(),
            incident: plan.incident.iter().copied().collect(),
            coinbase: &utxo.coinbase,
            hash_of: BTreeMap::new(),
            ledger: Ledger::default(),
            notes: BTreeMap::new(),
            pending: BTreeMap::new(),
            utxo_set: BTreeMap::new(),
            exchange_rest: BTreeMap::new(),
            exit_rest: BTreeMap::new(),
            fee_rest: BTreeMap::new(),
            txs: Vec::new(),
            utxo_txs: Vec::new(),
            links: Vec::new(),
            stolen_total: BTreeMap::new(),
        }
    }

    /// Pays out the value pending for `source_step`: its stolen part at the link's rate.
    #[allow(clippy::too_many_arguments)]
    fn complete(
        &mut self,
        source_step: usize,
        out_chain: &str,
        out_tx: &str,
        out_address: &str,
        asset_out: Asset,
        amount_out: u128,
        memo_out: Option<String>,
    ) -> Result<u128> {
        let p = self.pending.remove(&source_step).ok_or_else(|| {
            SimError::Truth(format!(
                "a payout in {out_tx} names step {source_step}, which deposited nothing (or was paid already)"
            ))
        })?;
        let stolen_out = mul_div(p.stolen, amount_out, p.amount);
        self.links.push(LinkTruth {
            kind: p.kind.into(),
            in_chain: p.in_chain,
            out_chain: out_chain.into(),
            in_address: p.in_address,
            out_address: out_address.into(),
            amount_in: p.amount,
            amount_out,
            memo_in: p.memo,
            memo_out,
            in_tx: p.in_tx,
            out_tx: out_tx.into(),
            asset_in: p.asset,
            stolen_in: p.stolen,
            asset_out,
            stolen_out,
        });
        Ok(stolen_out)
    }

    fn evm_tx(&mut self, e: &Executed) -> Result<()> {
        let step: &Step = self.steps.get(&e.step).copied().ok_or_else(|| {
            SimError::Truth(format!("executed step {} is not in the plan", e.step))
        })?;
        self.hash_of.insert(e.step, e.hash.clone());
        let w = self.w;
        let mut transfers = Vec::new();
        let mut into_pool: Option<(Asset, u128, u128)> = None;
        let link = |kind: &str, address: &str, amount: u128, stolen: u128| LinkTruth {
            kind: kind.into(),
            in_chain: EVM_CHAIN.into(),
            out_chain: EVM_CHAIN.into(),
            in_address: address.into(),
            out_address: address.into(),
            amount_in: amount,
            amount_out: amount,
            memo_in: None,
            memo_out: None,
            in_tx: e.hash.clone(),
            out_tx: e.hash.clone(),
            asset_in: Asset::Eth,
            stolen_in: stolen,
            asset_out: Asset::Eth,
            stolen_out: stolen,
        };
        for m in step.action.movements(w) {
            let is_swap = matches!(
                step.action,
                Action::SwapTokenForEth { .. } | Action::SwapEthForToken { .. }
            );
            let stolen = if self.incident.contains(&e.step) {
                self.ledger.take(&m.from, m.asset, m.amount);
                *self.stolen_total.entry(m.asset).or_insert(0) += m.amount;
                m.amount
            } else if m.from == self.pool && is_swap {
                let (asset_in, amount_in, stolen_in) = into_pool.take().unwrap_or((m.asset, 0, 0));
                let out = mul_div(stolen_in, m.amount, amount_in);
                if stolen_in > 0 {
                    let mut l = link("swap", &self.pool, amount_in, stolen_in);
                    l.asset_in = asset_in;
                    l.asset_out = m.asset;
                    l.amount_out = m.amount;
                    l.stolen_out = out;
                    self.links.push(l);
                }
                out
            } else if m.from == self.mixer {
                let Action::MixWithdraw { deposit_step, .. } = &step.action else {
                    return Err(SimError::Truth(format!(
                        "step {} pays out of the mixer without a note",
                        e.step
                    )));
                };
                let stolen = self.notes.remove(deposit_step).unwrap_or(0);
                if stolen > 0 {
                    let mut l = link("mixer", &self.mixer, m.amount, stolen);
                    l.in_tx = self.hash_of.get(deposit_step).cloned().unwrap_or_default();
                    self.links.push(l);
                }
                stolen
            } else if let Action::BridgeRelease { source_step, .. }
            | Action::SwapPayout { source_step, .. } = &step.action
            {
                let memo = match &step.action {
                    Action::SwapPayout { .. } => self.hash_of.get(source_step).map(|h| out_memo(h)),
                    _ => None,
                };
                self.complete(
                    *source_step,
                    EVM_CHAIN,
                    &e.hash.clone(),
                    &m.from,
                    m.asset,
                    m.amount,
                    memo,
                )?
            } else {
                self.ledger.take(&m.from, m.asset, m.amount)
            };
            if m.to == self.pool && is_swap {
                into_pool = Some((m.asset, m.amount, stolen));
            } else if m.to == self.mixer {
                self.notes.insert(e.step, stolen);
            } else if let Action::BridgeLock { destination, .. } = &step.action {
                self.pending.insert(
                    e.step,
                    Pending {
                        kind: "bridge",
                        in_chain: EVM_CHAIN.into(),
                        in_tx: e.hash.clone(),
                        in_address: self.bridge.clone(),
                        asset: m.asset,
                        amount: m.amount,
                        stolen,
                        memo: Some(destination.clone()),
                    },
                );
            } else if let Action::SwapDeposit { memo, .. } = &step.action {
                self.pending.insert(
                    e.step,
                    Pending {
                        kind: "chain_swap",
                        in_chain: EVM_CHAIN.into(),
                        in_tx: e.hash.clone(),
                        in_address: m.to.clone(),
                        asset: m.asset,
                        amount: m.amount,
                        stolen,
                        memo: Some(memo.clone()),
                    },
                );
            } else if w.kind_of(&m.to) == Some(EntityKind::Exchange) {
                if stolen > 0 {
                    *self
                        .exchange_rest
                        .entry((m.to.clone(), m.asset))
                        .or_insert(0) += stolen;
                }
                self.ledger.put(&m.to, m.asset, m.amount, 0);
            } else {
                self.ledger.put(&m.to, m.asset, m.amount, stolen);
            }
            transfers.push(TransferTruth {
                asset: m.asset,
                from: m.from,
                to: m.to,
                amount: m.amount,
                stolen,
            });
        }
        let sender = step.action.sender().to_string();
        let fee_stolen = self.ledger.take(&sender, Asset::Eth, e.fee);
        *self.fee_rest.entry(Asset::Eth).or_insert(0) += fee_stolen;
        self.txs.push(TxTruth {
            hash: e.hash.clone(),
            block: e.block,
            index: e.index,
            time: e.time,
            step: e.step,
            heist: step.heist,
            purpose: step.purpose.clone(),
            sender,
            fee: e.fee,
            fee_stolen,
            transfers,
        });
        Ok(())
    }

    fn utxo_tx(&mut self, e: &UtxoExecuted) -> Result<()> {
        let step: &UtxoStep = self.utxo_steps.get(&e.step).copied().ok_or_else(|| {
            SimError::Truth(format!("executed utxo step {} is not in the plan", e.step))
        })?;
        let bad = |m: String| SimError::Truth(format!("utxo tx {} (step {}): {m}", e.txid, e.step));
        self.hash_of.insert(e.step, e.txid.clone());
        let tx = &step.tx;
        let mut line: Vec<Seg> = Vec::new();
        let mut inputs = Vec::new();
        for coin in &tx.inputs {
            let (txid, vout, segs) = match coin.out {
                OutRef::Coinbase { height } => {
                    let txid = self
                        .coinbase
                        .get(&height)
                        .cloned()
                        .ok_or_else(|| bad(format!("no coinbase txid at height {height}")))?;
                    let clean = vec![Seg {
                        amount: coin.amount,
                        stolen: false,
                    }];
                    (txid, 0, clean)
                }
                OutRef::Tx { step, vout } => {
                    let (_, segs) = self
                        .utxo_set
                        .remove(&coin.out)
                        .ok_or_else(|| bad(format!("spends {step}:{vout}, unspent nowhere")))?;
                    let txid = self.hash_of.get(&step).cloned().unwrap_or_default();
                    (txid, vout, segs)
                }
            };
            inputs.push(UtxoInputTruth {
                txid,
                vout,
                address: coin.address.clone(),
                amount: coin.amount,
                stolen: stolen_of(&segs),
            });
            for s in segs {
                push_seg(&mut line, s);
            }
        }
        let amounts: Vec<u64> = tx.outputs.iter().map(|o| o.amount).collect();
        let (mut out_segs, fee_segs) =
            lifo_split(&line, &amounts).ok_or_else(|| bad("outputs exceed inputs".into()))?;
        let fee_left: u64 = fee_segs.iter().map(|s| s.amount).sum();
        if fee_left != tx.fee {
            return Err(bad(format!("fee {} planned, {fee_left} left", tx.fee)));
        }
        let fee_stolen = stolen_of(&fee_segs);
        let memo = match &tx.memo {
            Some(m) => Some(crate::utxo_exec::render_memo(m, &self.hash_of).map_err(bad)?),
            None => None,
        };
        let mut link_in = 0u64;
        if let Some(UtxoLink::Payout { source_step, .. }) = tx.link {
            let (Some(first), Some(wallet)) = (tx.outputs.first(), tx.inputs.first()) else {
                return Err(bad("a payout without output or input".into()));
            };
            if stolen_of(&out_segs[0]) > 0 {
                return Err(bad("a service's own coins carry stolen value".into()));
            }
            let s = self.complete(
                source_step,
                &UTXO_CHAIN.to_string(),
                &e.txid,
                &wallet.address,
                Asset::Ltc,
                u128::from(first.amount),
                memo.clone(),
            )?;
            link_in = u64::try_from(s).map_err(|_| bad("link beyond u64".into()))?;
            out_segs[0] = Vec::new();
            push_seg(
                &mut out_segs[0],
                Seg {
                    amount: link_in,
                    stolen: true,
                },
            );
            push_seg(
                &mut out_segs[0],
                Seg {
                    amount: first.amount - link_in,
                    stolen: false,
                },
            );
        }
        let mut outputs = Vec::new();
        for (vout, (o, segs)) in tx.outputs.iter().zip(out_segs).enumerate() {
            let stolen = stolen_of(&segs);
            let key = OutRef::Tx {
                step: e.step,
                vout: vout as u32,
            };
            let clean = vec![Seg {
                amount: o.amount,
                stolen: false,
            }];
            let kind = self.w.kind_of(&o.address);
            if let (0, Some(UtxoLink::Deposit { service })) = (vout, tx.link) {
                self.pending.insert(
                    e.step,
                    Pending {
                        kind: match service {
                            LinkKind::Bridge => "bridge",
                            LinkKind::ChainSwap => "chain_swap",
                        },
                        in_chain: UTXO_CHAIN.to_string(),
                        in_tx: e.txid.clone(),
                        in_address: o.address.clone(),
                        asset: Asset::Ltc,
                        amount: u128::from(o.amount),
                        stolen: u128::from(stolen),
                        memo: memo.clone(),
                    },
                );
                self.utxo_set.insert(key, (o.address.clone(), clean));
            } else if kind == Some(EntityKind::Exchange) {
                if stolen > 0 {
                    *self
                        .exchange_rest
                        .entry((o.address.clone(), Asset::Ltc))
                        .or_insert(0) += u128::from(stolen);
                }
                self.utxo_set.insert(key, (o.address.clone(), clean));
            } else if kind == Some(EntityKind::PrivacyExit) {
                *self.exit_rest.entry(o.address.clone()).or_insert(0) += u128::from(stolen);
                self.utxo_set.insert(key, (o.address.clone(), clean));
            } else {
                self.utxo_set.insert(key, (o.address.clone(), segs));
            }
            outputs.push(UtxoOutputTruth {
                vout: vout as u32,
                address: o.address.clone(),
                amount: o.amount,
                stolen,
            });
        }
        *self.fee_rest.entry(Asset::Ltc).or_insert(0) += u128::from(fee_stolen);
        self.utxo_txs.push(UtxoTxTruth {
            txid: e.txid.clone(),
            height: e.height,
            index: e.index,
            time: e.time,
            step: e.step,
            heist: step.heist,
            purpose: step.purpose.clone(),
            inputs,
            outputs,
            memo,
            fee: tx.fee,
            fee_stolen,
            link_in,
        });
        Ok(())
    }

    fn finish(self) -> Result<GroundTruth> {
        let (w, plan) = (self.w, self.plan);
        if let Some((step, p)) = self.pending.iter().next() {
            return Err(SimError::Truth(format!(
                "step {step} deposited into the {} ({}) and was never paid out",
                p.kind, p.in_address
            )));
        }
        let mut resting = Vec::new();
        let place = |kind, address: &str, asset, stolen| RestingPlace {
            kind,
            entity: w.entity_of(address).map(str::to_string),
            address: Some(address.to_string()),
            asset,
            stolen,
        };
        for ((address, asset), stolen) in &self.exchange_rest {
            resting.push(place(
                RestingKind::ExchangeDeposit,
                address,
                *asset,
                *stolen,
            ));
        }
        for ((address, asset), stack) in &self.ledger.stacks {
            let stolen: u128 = stack.iter().map(|c| c.stolen).sum();
            if stolen == 0 {
                continue;
            }
            let kind = if *asset == Asset::Susd && w.kind_of(address) == Some(EntityKind::Attacker)
            {
                RestingKind::FreezableStablecoin
            } else {
                RestingKind::Held
            };
            resting.push(place(kind, address, *asset, stolen));
        }
        let mut held: BTreeMap<&str, u128> = BTreeMap::new();
        for (address, segs) in self.utxo_set.values() {
            let s = stolen_of(segs);
            if s > 0 {
                *held.entry(address).or_insert(0) += u128::from(s);
            }
        }
        for (address, stolen) in held {
            resting.push(place(RestingKind::Held, address, Asset::Ltc, stolen));
        }
        for (address, stolen) in &self.exit_rest {
            if *stolen > 0 {
                resting.push(place(
                    RestingKind::PrivacyExit,
                    address,
                    Asset::Ltc,
                    *stolen,
                ));
            }
        }
        let dark: u128 = self.notes.values().sum();
        if dark > 0 {
            resting.push(place(RestingKind::MixerDark, &self.mixer, Asset::Eth, dark));
        }
        for (asset, stolen) in &self.fee_rest {
            if *stolen > 0 {
                resting.push(RestingPlace {
                    kind: RestingKind::Fee,
                    entity: None,
                    address: None,
                    asset: *asset,
                    stolen: *stolen,
                });
            }
        }
        let hash_of = &self.hash_of;
        let patterns = plan
            .patterns
            .iter()
            .map(|p| PatternTruth {
                kind: p.kind.clone(),
                addresses: p.addresses.clone(),
                txs: p
                    .steps
                    .iter()
                    .filter_map(|s| hash_of.get(s).cloned())
                    .collect(),
            })
            .collect();
        let chain_id = plan.config.chain_id()?;
        let mut assets = AssetInfo::evm(w.contract_address(ContractKind::Stablecoin).to_string());
        if plan.utxo.is_some() {
            assets.push(AssetInfo {
                id: Asset::Ltc,
                symbol: "LTC".into(),
                decimals: 8,
                contract: None,
            });
        }
        let mut utxo_txs = self.utxo_txs;
        utxo_txs.sort_by_key(|t| (t.height, t.index));
        Ok(GroundTruth {
            chain_id,
            utxo_chain: plan.utxo.as_ref().map(|_| UTXO_CHAIN.to_string()),
            seed: plan.config.seed,
            policy: POLICY.to_string(),
            assets,
            contracts: w.contracts.clone(),
            incident: Incident {
                victim: plan.victim.clone(),
                txs: plan
                    .incident
                    .iter()
                    .filter_map(|s| hash_of.get(s).cloned())
                    .collect(),
                stolen: self
                    .stolen_total
                    .into_iter()
                    .map(|(asset, amount)| AssetAmount { asset, amount })
                    .collect(),
            },
            txs: self.txs,
            utxo_txs,
            links: self.links,
            resting,
            entities: w.entities.values().cloned().collect(),
            addresses: w.addresses.values().cloned().collect(),
            patterns,
            labels: labels(w),
        })
    }
}

/// Labels a public tag source would have: exchange hot wallets and deposit addresses, the DEX
/// pool, the mixer, the stablecoin and its issuer.
fn labels(w: &World) -> Vec<Label> {
    let mut out = Vec::new();
    for a in w.addresses.values() {
        let Some(e) = w.entities.get(&a.entity) else {
            continue;
        };
        let (category, confidence) = match e.kind {
            EntityKind::Exchange if a.role.ends_with("hot wallet") => ("exchange", 1.0),
            EntityKind::Exchange => ("exchange", 0.8),
            EntityKind::Dex if a.contract => ("dex", 1.0),
            EntityKind::Mixer if a.contract => ("mixer", 1.0),
            EntityKind::Issuer => ("issuer", 1.0),
            EntityKind::Bridge if a.role != "bridge operator" => ("bridge", 1.0),
            EntityKind::SwapVault => ("vault", 1.0),
            EntityKind::PrivacyExit => ("privacy", 0.9),
            _ => continue,
        };
        out.push(Label {
            chain: a.chain.clone(),
            address: a.address.clone(),
            label: format!("{} {}", e.name, a.role).replace(',', " "),
            category: category.into(),
            source: "tracehound-sim".into(),
            confidence,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(amount: u64, stolen: bool) -> Seg {
        Seg { amount, stolen }
    }

    /// TRACING.md's worked example: inputs 5 (tainted) and 5 (clean), outputs 2 and 7, fee
    /// 1; under LIFO o1 gets 0, o2 gets 4, the fee 1.
    #[test]
    fn lifo_matches_the_worked_example_of_tracing_md() {
        let line = [seg(5, true), seg(5, false)];
        let (outs, fee) = lifo_split(&line, &[2, 7]).unwrap();
        let stolen: Vec<u64> = outs.iter().map(|o| stolen_of(o)).collect();
        assert_eq!(stolen, [0, 4]);
        assert_eq!(stolen_of(&fee), 1);
        // o2's segments keep their order on the line: i1's last 4 units, then i2's first 3.
        assert_eq!(outs[1], [seg(4, true), seg(3, false)]);
        assert_eq!(fee, [seg(1, true)]);
        assert!(lifo_split(&line, &[8, 3]).is_none());
    }

    /// A partly stolen input keeps its segments' order when spent again.
    #[test]
    fn lifo_follows_segments_inside_an_input() {
        // One input made of clean 3, stolen 4, clean 3 (a previous tx's output), then a
        // stolen input of 2.
        let mut line = Vec::new();
        for s in [seg(3, false), seg(4, true), seg(3, false), seg(2, true)] {
            push_seg(&mut line, s);
        }
        let (outs, fee) = lifo_split(&line, &[3, 6]).unwrap();
        // Offsets 0–3 clean, 3–7 stolen, 7–10 clean, 10–12 stolen: o1 takes 9–12, o2 takes
        // 3–9, the fee 0–3.
        assert_eq!(outs[0], [seg(1, false), seg(2, true)]);
        assert_eq!(outs[1], [seg(4, true), seg(2, false)]);
        assert_eq!(fee, [seg(3, false)]);
    }
}
