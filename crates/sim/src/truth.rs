//! The ground truth of a played scenario: the incident, every tx with the stolen amount each of
//! its transfers and its fee carries, the links (swaps, mixer notes) taint crossed, where every
//! stolen unit rests, who owns every address, the laundering patterns, and a labels file.
//!
//! Attribution rule: [`POLICY`] — TRACING.md's **LIFO** account-ledger policy, with the
//! conventions stated there for fees, partial data, services and links.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, SimError};
use crate::plan::{Action, Asset, Plan, Step, mul_div};
use crate::world::{AddressInfo, ContractKind, Entity, EntityKind, World};

/// The attribution rule the stolen amounts follow.
pub const POLICY: &str = "LIFO (TRACING.md, account ledger): per address and asset, receipts form a stack and \
an outflow takes the newest first; a tx's fee leaves after its transfers (TRACING.md orders the fee last); \
a receipt taken in part gives up its stolen part pro rata, rounded down; value sent beyond what the \
address is known to have received is clean (TRACING.md, partial data); taint reaching an exchange \
address stops there (point of intervention); a DEX swap moves taint to the output at the swap's own \
rate (out/in, rounded down); a mixer note carries its deposit's taint to its withdrawal (the true, \
off-chain link), and a note never withdrawn is dark";

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

/// Taint crossing a swap or a mixer note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkTruth {
    /// `swap` or `mixer`.
    pub kind: String,
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
    /// Paid as gas fees.
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
    /// `fan_out`, `swap`, `mixer`, `fan_in`, `peel_chain`.
    pub kind: String,
    /// Its addresses.
    pub addresses: Vec<String>,
    /// Its txs.
    pub txs: Vec<String>,
}

/// A row of the labels file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// tracehound chain name (`evm-31337`).
    pub chain: String,
    /// Address.
    pub address: String,
    /// Label.
    pub label: String,
    /// `exchange`, `dex`, `mixer`, `issuer`.
    pub category: String,
    /// Where it comes from.
    pub source: String,
    /// 0 to 1.
    pub confidence: f32,
}

/// Everything known about a played scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// EVM chain id.
    pub chain_id: u64,
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
    /// Every tx of the scenario, in chain order.
    pub txs: Vec<TxTruth>,
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
    /// Computes the ground truth of `plan` from what the node executed (chain order).
    pub fn build(plan: &Plan, executed: &[Executed]) -> Result<GroundTruth> {
        let w = &plan.world;
        let pool = w.contract_address(ContractKind::Pool).to_string();
        let mixer = w.contract_address(ContractKind::Mixer).to_string();
        let steps: BTreeMap<usize, &Step> = plan.steps().map(|s| (s.id, s)).collect();
        let incident: BTreeSet<usize> = plan.incident.iter().copied().collect();
        let mut hash_of: BTreeMap<usize, String> = BTreeMap::new();
        let mut ledger = Ledger::default();
        let mut notes: BTreeMap<usize, u128> = BTreeMap::new();
        let mut exchange_rest: BTreeMap<(String, Asset), u128> = BTreeMap::new();
        let mut fee_rest = 0u128;
        let mut txs = Vec::new();
        let mut links = Vec::new();
        let mut stolen_total: BTreeMap<Asset, u128> = BTreeMap::new();
        for e in executed {
            let step = steps.get(&e.step).ok_or_else(|| {
                SimError::Truth(format!("executed step {} is not in the plan", e.step))
            })?;
            hash_of.insert(e.step, e.hash.clone());
            let mut transfers = Vec::new();
            let mut into_pool: Option<(Asset, u128, u128)> = None;
            for m in step.action.movements(w) {
                let stolen = if incident.contains(&e.step) {
                    ledger.take(&m.from, m.asset, m.amount);
                    *stolen_total.entry(m.asset).or_insert(0) += m.amount;
                    m.amount
                } else if m.from == pool
                    && matches!(
                        step.action,
                        Action::SwapTokenForEth { .. } | Action::SwapEthForToken { .. }
                    )
                {
                    let (asset_in, amount_in, stolen_in) =
                        into_pool.take().unwrap_or((m.asset, 0, 0));
                    let out = mul_div(stolen_in, m.amount, amount_in);
                    if stolen_in > 0 {
                        links.push(LinkTruth {
                            kind: "swap".into(),
                            in_tx: e.hash.clone(),
                            out_tx: e.hash.clone(),
                            asset_in,
                            stolen_in,
                            asset_out: m.asset,
                            stolen_out: out,
                        });
                    }
                    out
                } else if m.from == mixer {
                    let Action::MixWithdraw { deposit_step, .. } = &step.action else {
                        return Err(SimError::Truth(format!(
                            "step {} pays out of the mixer without a note",
                            e.step
                        )));
                    };
                    let stolen = notes.remove(deposit_step).unwrap_or(0);
                    if stolen > 0 {
                        links.push(LinkTruth {
                            kind: "mixer".into(),
                            in_tx: hash_of.get(deposit_step).cloned().unwrap_or_default(),
                            out_tx: e.hash.clone(),
                            asset_in: Asset::Eth,
                            stolen_in: stolen,
                            asset_out: Asset::Eth,
                            stolen_out: stolen,
                        });
                    }
                    stolen
                } else {
                    ledger.take(&m.from, m.asset, m.amount)
                };
                if m.to == pool
                    && matches!(
                        step.action,
                        Action::SwapTokenForEth { .. } | Action::SwapEthForToken { .. }
                    )
                {
                    into_pool = Some((m.asset, m.amount, stolen));
                } else if m.to == mixer {
                    notes.insert(e.step, stolen);
                } else if w.kind_of(&m.to) == Some(EntityKind::Exchange) {
                    if stolen > 0 {
                        *exchange_rest.entry((m.to.clone(), m.asset)).or_insert(0) += stolen;
                    }
                    ledger.put(&m.to, m.asset, m.amount, 0);
                } else {
                    ledger.put(&m.to, m.asset, m.amount, stolen);
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
            let fee_stolen = ledger.take(&sender, Asset::Eth, e.fee);
            fee_rest += fee_stolen;
            txs.push(TxTruth {
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
        }

        let mut resting = Vec::new();
        for ((address, asset), stolen) in exchange_rest {
            resting.push(RestingPlace {
                kind: RestingKind::ExchangeDeposit,
                entity: w.entity_of(&address).map(str::to_string),
                address: Some(address),
                asset,
                stolen,
            });
        }
        for ((address, asset), stack) in &ledger.stacks {
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
            resting.push(RestingPlace {
                kind,
                entity: w.entity_of(address).map(str::to_string),
                address: Some(address.clone()),
                asset: *asset,
                stolen,
            });
        }
        let dark: u128 = notes.values().sum();
        if dark > 0 {
            resting.push(RestingPlace {
                kind: RestingKind::MixerDark,
                entity: Some("mixer".into()),
                address: Some(mixer.clone()),
                asset: Asset::Eth,
                stolen: dark,
            });
        }
        if fee_rest > 0 {
            resting.push(RestingPlace {
                kind: RestingKind::Fee,
                entity: None,
                address: None,
                asset: Asset::Eth,
                stolen: fee_rest,
            });
        }
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
        let truth = GroundTruth {
            chain_id,
            seed: plan.config.seed,
            policy: POLICY.to_string(),
            assets: vec![
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
                    contract: Some(w.contract_address(ContractKind::Stablecoin).to_string()),
                },
            ],
            contracts: w.contracts.clone(),
            incident: Incident {
                victim: plan.victim.clone(),
                txs: plan
                    .incident
                    .iter()
                    .filter_map(|s| hash_of.get(s).cloned())
                    .collect(),
                stolen: stolen_total
                    .into_iter()
                    .map(|(asset, amount)| AssetAmount { asset, amount })
                    .collect(),
            },
            txs,
            links,
            resting,
            entities: w.entities.values().cloned().collect(),
            addresses: w.addresses.values().cloned().collect(),
            patterns,
            labels: labels(w, chain_id),
        };
        truth.check()?;
        Ok(truth)
    }

    /// Checks the ground truth is internally consistent: no transfer or fee carries more
    /// stolen value than it moves; per address and asset, stolen in − stolen out = what rests
    /// there; every swap link pays out no more than its rate allows and every note comes out
    /// once at most; per asset, stolen + link outputs = resting + link inputs (no unit twice,
    /// none lost); no resting place listed twice; every stolen-carrying transfer and every
    /// resting address reached from the victim by a chain of stolen-carrying transfers, each
    /// after the one before.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(SimError::Truth(m));
        let pool = self
            .contracts
            .get(&ContractKind::Pool)
            .cloned()
            .unwrap_or_default();
        let mixer = self
            .contracts
            .get(&ContractKind::Mixer)
            .cloned()
            .unwrap_or_default();
        let incident: BTreeSet<&str> = self.incident.txs.iter().map(String::as_str).collect();
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
        // Links: the pool and the mixer pass taint on, they hold none of it (but dark notes).
        let mut per_asset: BTreeMap<Asset, i128> = BTreeMap::new();
        for a in &self.incident.stolen {
            *per_asset.entry(a.asset).or_insert(0) += a.amount as i128;
        }
        let mut seen_notes = BTreeSet::new();
        for l in &self.links {
            *per_asset.entry(l.asset_in).or_insert(0) -= l.stolen_in as i128;
            *per_asset.entry(l.asset_out).or_insert(0) += l.stolen_out as i128;
            let holder = if l.kind == "swap" {
                pool.as_str()
            } else {
                mixer.as_str()
            };
            *net.entry((holder, l.asset_in)).or_insert(0) -= l.stolen_in as i128;
            *net.entry((holder, l.asset_out)).or_insert(0) += l.stolen_out as i128;
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
        // Reachability from the victim by chains of stolen-carrying transfers in chain order
        // (each one after the one before; the pool and the mixer pass taint on).
        let mut ordered: Vec<&TxTruth> = self.txs.iter().collect();
        ordered.sort_by_key(|t| (t.block, t.index));
        let mut seen: BTreeSet<&str> = BTreeSet::from([self.incident.victim.as_str()]);
        for tx in ordered {
            for t in tx.transfers.iter().filter(|t| t.stolen > 0) {
                if !seen.contains(t.from.as_str()) {
                    return bad(format!(
                        "tx {} moves stolen value out of {}, which no earlier stolen-carrying transfer reached",
                        tx.hash, t.from
                    ));
                }
                seen.insert(&t.to);
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

    /// Writes `truth.json` and `labels.csv` into `dir` (created if missing).
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
        Ok(())
    }
}

/// Labels a public tag source would have: exchange hot wallets and deposit addresses, the DEX
/// pool, the mixer, the stablecoin and its issuer.
fn labels(w: &World, chain_id: u64) -> Vec<Label> {
    let chain = format!("evm-{chain_id}");
    let mut out = Vec::new();
    for a in w.addresses.values() {
        let Some(e) = w.entities.get(&a.entity) else {
            continue;
        };
        let (category, confidence) = match e.kind {
            EntityKind::Exchange if a.role == "hot wallet" => ("exchange", 1.0),
            EntityKind::Exchange => ("exchange", 0.8),
            EntityKind::Dex if a.contract => ("dex", 1.0),
            EntityKind::Mixer if a.contract => ("mixer", 1.0),
            EntityKind::Issuer => ("issuer", 1.0),
            _ => continue,
        };
        out.push(Label {
            chain: chain.clone(),
            address: a.address.clone(),
            label: format!("{} {}", e.name, a.role).replace(',', " "),
            category: category.into(),
            source: "tracehound-sim".into(),
            confidence,
        });
    }
    out
}
