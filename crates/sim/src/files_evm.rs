//! `--to-files`, EVM side: an account-chain heist at benchmark scale, written as a transfer list
//! in the format `tracehound import transfers` reads (no node), with its ground truth.
//!
//! The world: users, each a customer of one exchange (a deposit address per customer, swept
//! into the exchange's hot wallet, which pays withdrawals), a freezable stablecoin, a hacked
//! service's hot wallet, the launderer. Background traffic every block (ether and stablecoin
//! payments between users, exchange deposits, sweeps, withdrawals). At a quarter of the chain
//! the service's hot wallet is drained of ether and stablecoin; the loot fans out to fresh
//! addresses, each running a peel chain that peels 3–12 % a hop into the launderer's exchange
//! deposit addresses; at the end most chains deposit what is left, some keep it (held). Blocks
//! are 12 s apart; amounts are not round. Each tx moves one transfer (fees are not modelled:
//! an imported list carries none).
//!
//! The launderer's addresses only ever hold stolen value, so under [`crate::POLICY`] (LIFO,
//! taint stopping at exchange deposits) every transfer they make is stolen in full, and the
//! truth lists exactly those transfers, the resting places (exchange deposits, held) and the
//! patterns (fan-out, peel chains).

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use alloy::primitives::keccak256;
use serde::Serialize;

use crate::Asset;
use crate::error::{Result, SimError};
use crate::plan::mul_div;
use crate::truth::{
    AssetAmount, AssetInfo, GroundTruth, Incident, Label, POLICY, PatternTruth, RestingKind,
    RestingPlace, TransferTruth, TxTruth,
};
use crate::world::{AddressInfo, ContractKind, EVM_CHAIN, Entity, EntityKind};

/// The chain id of the written chain (the simulator's EVM chain).
pub const FILES_CHAIN_ID: u64 = 31_337;
/// Unix time of block 0 (2025-01-01).
const START_TIME: u64 = 1_735_689_600;
const BLOCK_SECONDS: u64 = 12;
const HEADER: &str = "chain,tx_hash,block,timestamp,log_index,from,to,asset,amount";

/// What to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvmFilesConfig {
    /// Seed of every choice: the same config writes byte-identical files and truth.
    pub seed: u64,
    /// Blocks (from 0).
    pub blocks: u32,
    /// Background txs per block.
    pub txs_per_block: u32,
    /// Users.
    pub users: u32,
    /// Exchanges.
    pub exchanges: u32,
    /// Wei drained from the hacked service.
    pub stolen_eth: u128,
    /// Stablecoin base units (6 decimals) drained.
    pub stolen_usd: u128,
    /// Addresses the loot fans out to.
    pub fan_out: u32,
    /// Hops of each peel chain.
    pub hops: u32,
    /// Share (per cent) of background txs that are users' swaps through the DEX pool (ether
    /// for stablecoin or back, at a fixed rate), each with its link fact in `links.jsonl`:
    /// a large world with links for the trace benchmark. 0 writes no pool.
    pub swap_percent: u32,
}

impl Default for EvmFilesConfig {
    fn default() -> EvmFilesConfig {
        EvmFilesConfig {
            seed: 1,
            blocks: 2_000,
            txs_per_block: 200,
            users: 20_000,
            exchanges: 4,
            stolen_eth: 4_312_887_310_442_917_000_000,
            stolen_usd: 27_655_103_250_118,
            fan_out: 24,
            hops: 8,
            swap_percent: 0,
        }
    }
}

impl EvmFilesConfig {
    /// Rejects configs that cannot be written, naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(SimError::Config(m));
        if self.blocks < 4 * (self.hops + 4) || self.blocks > 10_000_000 {
            return bad(format!(
                "evm blocks is {}: between {} (the heist starts at a quarter of the chain and runs {} hops) and 10⁷",
                self.blocks,
                4 * (self.hops + 4),
                self.hops
            ));
        }
        if self.swap_percent > 100 {
            return bad(format!(
                "evm swap_percent is {}: at most 100",
                self.swap_percent
            ));
        }
        if self.txs_per_block > 100_000 {
            return bad("evm txs_per_block is above 100000".into());
        }
        if self.users < 2 || self.users > 100_000_000 {
            return bad(format!("evm users is {}: between 2 and 10⁸", self.users));
        }
        if self.exchanges == 0 || self.exchanges > 1_000 {
            return bad(format!(
                "evm exchanges is {}: between 1 and 1000",
                self.exchanges
            ));
        }
        if self.fan_out < 2 || self.fan_out > 10_000 || self.hops > 1_000 {
            return bad("evm fan_out (2 to 10000) or hops (≤ 1000) out of range".into());
        }
        let per_chain = u128::from(self.fan_out) * 1_000;
        if self.stolen_eth < per_chain || self.stolen_usd < per_chain {
            return bad(format!(
                "stolen amounts must give every fan-out address at least 1000 base units ({per_chain} in all)"
            ));
        }
        Ok(())
    }
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct EvmFilesSummary {
    /// Blocks.
    pub blocks: u64,
    /// Txs (one transfer each).
    pub txs: u64,
    /// Transfer rows written.
    pub transfers: u64,
    /// Bytes of the transfer list.
    pub bytes: u64,
    /// Wall time of writing.
    pub seconds: f64,
}

/// A named address of the world.
struct Owner {
    address: String,
    entity: String,
    role: String,
}

struct Gen<'a> {
    c: &'a EvmFilesConfig,
    rng: fastrand::Rng,
    out: BufWriter<std::fs::File>,
    path: std::path::PathBuf,
    owners: Vec<Owner>,
    token: String,
    block: u32,
    index: u32,
    txs: u64,
    /// Stolen-carrying txs, in order.
    truth_txs: Vec<TxTruth>,
    purpose: &'static str,
}

impl Gen<'_> {
    fn owner(&mut self, entity: &str, role: String) -> usize {
        let mut seed = self.c.seed.to_le_bytes().to_vec();
        seed.extend_from_slice(&(self.owners.len() as u64).to_le_bytes());
        seed.extend_from_slice(role.as_bytes());
        let h = keccak256(&seed);
        self.owners.push(Owner {
            address: format!("0x{}", alloy::primitives::hex::encode(&h[12..])),
            entity: entity.to_string(),
            role,
        });
        self.owners.len() - 1
    }

    fn time(&self) -> u64 {
        START_TIME + u64::from(self.block) * BLOCK_SECONDS
    }

    /// Writes a one-transfer tx; a stolen one also goes into the truth.
    /// The hash of the next tx: the seed and the tx count, hashed.
    fn next_hash(&self) -> String {
        let mut id = self.c.seed.to_le_bytes().to_vec();
        id.extend_from_slice(&self.txs.to_le_bytes());
        format!("0x{}", alloy::primitives::hex::encode(keccak256(&id)))
    }

    fn transfer(
        &mut self,
        from: usize,
        to: usize,
        asset: Asset,
        amount: u128,
        stolen: bool,
    ) -> Result<String> {
        let hash = self.next_hash();
        let (f, t) = (&self.owners[from].address, &self.owners[to].address);
        let (block, time) = (self.block, self.time());
        let asset_text = match asset {
            Asset::Susd => self.token.as_str(),
            _ => "native",
        };
        writeln!(
            self.out,
            "{EVM_CHAIN},{hash},{block},{time},0,{f},{t},{asset_text},{amount}"
        )
        .map_err(|source| SimError::Write {
            path: self.path.clone(),
            source,
        })?;
        if stolen {
            self.truth_txs.push(TxTruth {
                hash: hash.clone(),
                block: u64::from(self.block),
                index: self.index,
                time: self.time(),
                step: self.truth_txs.len(),
                heist: true,
                purpose: self.purpose.to_string(),
                sender: f.clone(),
                fee: 0,
                fee_stolen: 0,
                transfers: vec![TransferTruth {
                    asset,
                    from: f.clone(),
                    to: t.clone(),
                    amount,
                    stolen: amount,
                }],
            });
        }
        self.index += 1;
        self.txs += 1;
        Ok(hash)
    }

    /// A random amount around `scale` base units, not round.
    /// A user's swap through the pool: one tx, the user paying `amount_in` of `asset_in`
    /// (log index 0) and the pool paying `amount_out` of the other asset (log index 1), and
    /// its link fact as `links.jsonl` takes it.
    #[allow(clippy::too_many_arguments)]
    fn swap(
        &mut self,
        user: usize,
        pool: usize,
        asset_in: Asset,
        amount_in: u128,
        amount_out: u128,
        links: &mut dyn Write,
        links_path: &Path,
    ) -> Result<()> {
        let hash = self.next_hash();
        let (u, p) = (
            self.owners[user].address.clone(),
            self.owners[pool].address.clone(),
        );
        let (block, time) = (self.block, self.time());
        let text = |a: Asset| match a {
            Asset::Susd => self.token.clone(),
            _ => "native".to_string(),
        };
        let asset_out = if asset_in == Asset::Eth {
            Asset::Susd
        } else {
            Asset::Eth
        };
        let (tin, tout) = (text(asset_in), text(asset_out));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SimError::Write { path, source }
        };
        writeln!(
            self.out,
            "{EVM_CHAIN},{hash},{block},{time},0,{u},{p},{tin},{amount_in}\n{EVM_CHAIN},{hash},{block},{time},1,{p},{u},{tout},{amount_out}"
        )
        .map_err(io(&self.path))?;
        let leg = |sub: u32, asset: &str, amount: u128| {
            serde_json::json!({"tx_index": self.index, "tx": hash, "leg": sub, "asset": asset,
                "amount": amount.to_string(), "party": u})
        };
        let fact = serde_json::json!({"height": block, "fact": {
            "fact": "within", "kind": "swap", "service": "sim-pool", "contract": p,
            "input": leg(0, &tin, amount_in), "output": leg(1, &tout, amount_out),
            "evidence": "sim files: pool swap"}});
        writeln!(links, "{fact}").map_err(io(links_path))?;
        self.index += 1;
        self.txs += 1;
        Ok(())
    }

    fn amount(&mut self, scale: u128) -> u128 {
        let m = u128::from(self.rng.u64(1_000..9_999_999));
        (scale / 1_000_000).max(1) * m + u128::from(self.rng.u64(1..999))
    }
}

/// One launderer chain of one asset: who holds it and how much.
struct Holding {
    holder: usize,
    asset: Asset,
    amount: u128,
    addresses: Vec<String>,
    txs: Vec<String>,
}

/// Writes `DIR/transfers.csv` and returns what was written and the ground truth.
pub fn write_evm_to_files(
    dir: &Path,
    c: &EvmFilesConfig,
) -> Result<(EvmFilesSummary, GroundTruth)> {
    c.validate()?;
    let started = Instant::now();
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SimError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(werr(dir))?;
    let path = dir.join("transfers.csv");
    let file = std::fs::File::create(&path).map_err(werr(&path))?;
    let mut g = Gen {
        c,
        rng: fastrand::Rng::with_seed(c.seed ^ 0x0e7a),
        out: BufWriter::with_capacity(1 << 20, file),
        path: path.clone(),
        owners: Vec::new(),
        token: String::new(),
        block: 0,
        index: 0,
        txs: 0,
        truth_txs: Vec::new(),
        purpose: "",
    };
    writeln!(g.out, "{HEADER}").map_err(werr(&path))?;
    let token = g.owner("issuer", "stablecoin contract".into());
    g.token = g.owners[token].address.clone();
    let hot: Vec<usize> = (0..c.exchanges)
        .map(|e| g.owner(&format!("exchange:{e}"), "hot wallet".into()))
        .collect();
    let mut users = Vec::with_capacity(c.users as usize);
    let mut deposits = Vec::with_capacity(c.users as usize);
    for u in 0..c.users {
        users.push(g.owner(&format!("user:{u}"), "wallet".into()));
        let e = u % c.exchanges;
        deposits.push(g.owner(&format!("exchange:{e}"), format!("deposit for user:{u}")));
    }
    let pool = (c.swap_percent > 0).then(|| g.owner("dex", "pool".into()));
    let links_path = dir.join("links.jsonl");
    let mut links: Box<dyn Write> = if pool.is_some() {
        Box::new(BufWriter::new(
            std::fs::File::create(&links_path).map_err(werr(&links_path))?,
        ))
    } else {
        Box::new(std::io::sink())
    };
    let mut swaps = 0u64;
    let victim = g.owner("victim", "hot wallet".into());
    let thief = g.owner("attacker", "drainer".into());
    let cash_out: Vec<usize> = (0..4u32)
        .map(|k| {
            let e = k % c.exchanges;
            g.owner(
                &format!("exchange:{e}"),
                format!("deposit for launderer account {k}"),
            )
        })
        .collect();

    let drain_at = c.blocks / 4;
    let mut chains: Vec<Holding> = Vec::new();
    let mut rest: BTreeMap<(usize, Asset, RestingKind), u128> = BTreeMap::new();
    let mut incident_txs = Vec::new();
    let mut patterns = Vec::new();
    for b in 0..c.blocks {
        g.block = b;
        g.index = 0;
        // The heist's txs lead their block.
        if b == drain_at {
            g.purpose = "drain";
            incident_txs.push(g.transfer(victim, thief, Asset::Eth, c.stolen_eth, true)?);
            incident_txs.push(g.transfer(victim, thief, Asset::Susd, c.stolen_usd, true)?);
        }
        if b == drain_at + 1 {
            g.purpose = "fan-out";
            let mut fan_addrs = vec![g.owners[thief].address.clone()];
            let mut fan_txs = Vec::new();
            for (asset, total) in [(Asset::Eth, c.stolen_eth), (Asset::Susd, c.stolen_usd)] {
                let n = c.fan_out as usize;
                let weights: Vec<u128> = (0..n).map(|_| u128::from(g.rng.u64(40..160))).collect();
                let wsum: u128 = weights.iter().sum();
                let mut left = total;
                for (k, w) in weights.iter().enumerate() {
                    let a = g.owner("attacker", format!("fan-out {k} ({asset:?})"));
                    let v = if k + 1 == n {
                        left
                    } else {
                        mul_div(total, *w, wsum)
                    };
                    left -= v;
                    let tx = g.transfer(thief, a, asset, v, true)?;
                    fan_addrs.push(g.owners[a].address.clone());
                    fan_txs.push(tx);
                    chains.push(Holding {
                        holder: a,
                        asset,
                        amount: v,
                        addresses: vec![g.owners[a].address.clone()],
                        txs: Vec::new(),
                    });
                }
            }
            patterns.push(PatternTruth {
                kind: "fan_out".into(),
                addresses: fan_addrs,
                txs: fan_txs,
            });
        }
        if b >= drain_at + 2 && b < drain_at + 2 + c.hops {
            g.purpose = "peel";
            let hop = b - drain_at - 2;
            for (k, ch) in chains.iter_mut().enumerate() {
                let (holder, asset, total) = (ch.holder, ch.asset, ch.amount);
                let pct = u128::from(g.rng.u64(3..12));
                let peel = mul_div(total, pct, 100) + u128::from(g.rng.u64(0..997));
                let peel = peel.min(total);
                let to = cash_out[g.rng.usize(..cash_out.len())];
                let next = g.owner("attacker", format!("peel hop {hop} of chain {k}"));
                let t1 = g.transfer(holder, to, asset, peel, true)?;
                *rest
                    .entry((to, asset, RestingKind::ExchangeDeposit))
                    .or_insert(0) += peel;
                let t2 = g.transfer(holder, next, asset, total - peel, true)?;
                ch.txs.extend([t1, t2]);
                ch.addresses.push(g.owners[next].address.clone());
                ch.holder = next;
                ch.amount = total - peel;
            }
        }
        if b == drain_at + 2 + c.hops {
            g.purpose = "cash out";
            for (k, ch) in chains.iter_mut().enumerate() {
                let (holder, asset, total) = (ch.holder, ch.asset, ch.amount);
                if total == 0 {
                    continue;
                }
                // One chain in four keeps its remainder (held, still movable).
                if k % 4 == 3 {
                    *rest.entry((holder, asset, RestingKind::Held)).or_insert(0) += total;
                    continue;
                }
                let to = cash_out[k % cash_out.len()];
                let t = g.transfer(holder, to, asset, total, true)?;
                *rest
                    .entry((to, asset, RestingKind::ExchangeDeposit))
                    .or_insert(0) += total;
                ch.txs.push(t);
                ch.amount = 0;
            }
            for ch in &chains {
                patterns.push(PatternTruth {
                    kind: "peel_chain".into(),
                    addresses: ch.addresses.clone(),
                    txs: ch.txs.clone(),
                });
            }
        }
        // Background: payments, deposits, sweeps, withdrawals, in ether and the stablecoin.
        g.purpose = "background";
        for _ in 0..c.txs_per_block {
            let u = g.rng.usize(..users.len());
            if let Some(pool) = pool
                && g.rng.u32(..100) < c.swap_percent
            {
                // 1 ether = 2,000 stablecoin (6 decimals): 2e9 base units per 1e18 wei.
                const RATE: u128 = 2_000_000_000;
                const WEI: u128 = 1_000_000_000_000_000_000;
                let (asset_in, amount_in, amount_out) = if g.rng.bool() {
                    let a = g.amount(WEI) / 10;
                    (Asset::Eth, a, mul_div(a, RATE, WEI))
                } else {
                    let a = g.amount(100_000_000);
                    (Asset::Susd, a, mul_div(a, WEI, RATE))
                };
                if amount_in > 0 && amount_out > 0 {
                    g.swap(
                        users[u],
                        pool,
                        asset_in,
                        amount_in,
                        amount_out,
                        &mut links,
                        &links_path,
                    )?;
                    swaps += 1;
                    continue;
                }
            }
            let r = g.rng.u8(..100);
            let (from, to, asset) = match r {
                0..=34 => (users[u], users[g.rng.usize(..users.len())], Asset::Eth),
                35..=54 => (users[u], users[g.rng.usize(..users.len())], Asset::Susd),
                55..=74 => (users[u], deposits[u], Asset::Eth),
                75..=84 => (deposits[u], hot[u % hot.len()], Asset::Eth),
                _ => (hot[g.rng.usize(..hot.len())], users[u], Asset::Eth),
            };
            let scale = if asset == Asset::Eth {
                1_000_000_000_000_000_000
            } else {
                100_000_000
            };
            let amount = g.amount(scale);
            g.transfer(from, to, asset, amount, false)?;
        }
    }
    g.out.flush().map_err(werr(&path))?;
    links.flush().map_err(werr(&links_path))?;
    let bytes = std::fs::metadata(&path).map_err(werr(&path))?.len();
    let summary = EvmFilesSummary {
        blocks: u64::from(c.blocks),
        txs: g.txs,
        transfers: g.txs + swaps,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    };

    let resting = rest
        .into_iter()
        .map(|((o, asset, kind), stolen)| RestingPlace {
            kind,
            entity: Some(g.owners[o].entity.clone()),
            address: Some(g.owners[o].address.clone()),
            asset,
            stolen,
        })
        .collect();
    let mut entities: BTreeMap<String, Entity> = BTreeMap::new();
    let mut addresses = Vec::with_capacity(g.owners.len());
    let mut labels = Vec::new();
    for o in &g.owners {
        let kind = match o.entity.split(':').next().unwrap_or_default() {
            "user" => EntityKind::User,
            "exchange" => EntityKind::Exchange,
            "victim" => EntityKind::Victim,
            "attacker" => EntityKind::Attacker,
            _ => EntityKind::Issuer,
        };
        entities.entry(o.entity.clone()).or_insert_with(|| Entity {
            id: o.entity.clone(),
            kind,
            name: o.entity.clone(),
        });
        if kind == EntityKind::Exchange {
            labels.push(Label {
                chain: EVM_CHAIN.to_string(),
                address: o.address.clone(),
                label: format!("{} {}", o.entity, o.role),
                category: "exchange".into(),
                source: "tracehound-sim".into(),
                confidence: if o.role == "hot wallet" { 1.0 } else { 0.8 },
            });
        }
        addresses.push(AddressInfo {
            address: o.address.clone(),
            entity: o.entity.clone(),
            role: o.role.clone(),
            contract: kind == EntityKind::Issuer,
            chain: EVM_CHAIN.to_string(),
        });
    }
    labels.push(Label {
        chain: EVM_CHAIN.to_string(),
        address: g.token.clone(),
        label: "stablecoin (freezable)".into(),
        category: "issuer".into(),
        source: "tracehound-sim".into(),
        confidence: 1.0,
    });
    let truth = GroundTruth {
        chain_id: FILES_CHAIN_ID,
        utxo_chain: None,
        seed: c.seed,
        policy: POLICY.to_string(),
        assets: AssetInfo::evm(g.token.clone()),
        contracts: BTreeMap::from([(ContractKind::Stablecoin, g.token.clone())]),
        incident: Incident {
            victim: g.owners[victim].address.clone(),
            txs: incident_txs,
            stolen: vec![
                AssetAmount {
                    asset: Asset::Eth,
                    amount: c.stolen_eth,
                },
                AssetAmount {
                    asset: Asset::Susd,
                    amount: c.stolen_usd,
                },
            ],
        },
        txs: std::mem::take(&mut g.truth_txs),
        utxo_txs: Vec::new(),
        links: Vec::new(),
        resting,
        entities: entities.into_values().collect(),
        addresses,
        patterns,
        labels,
    };
    truth.check()?;
    Ok((summary, truth))
}
