//! The playbook as a plan: a pure, seeded, deterministic list of blocks of actions (one action,
//! one tx), with every address, amount and time gap fixed before a node is touched. The plan
//! simulates what it needs of the world's state (balances, the pool's reserves) so that every
//! action succeeds when played, and records the laundering patterns it builds. The EVM blocks
//! are here; the UTXO side's are in [`UtxoPlan`]; both run on one clock (every block of
//! either chain strictly after the one before), which is the order they are played in, so a
//! cross-chain payout always comes after the deposit it pays for.
//!
//! Ordering rule that makes the plan playable with several txs per block: an action only
//! spends what its sender held at the start of the block, and at most one pool swap happens per
//! block (a swap's output depends on the reserves before it).

use std::collections::BTreeMap;

use alloy::primitives::{U256, keccak256};
use serde::{Deserialize, Serialize};

use crate::config::{Config, DOLLAR, ETHER};
use crate::error::Result;
use crate::world::{ContractKind, EntityKind, World};

mod utxo;
pub use utxo::{
    Coin, FAUCET_COINBASES, MWEB_HEIGHT, Memo, OutRef, SETUP_BLOCKS, SUBSIDY, UtxoBlock, UtxoLink,
    UtxoOut, UtxoPlan, UtxoStep, UtxoTx,
};

/// The assets of the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Asset {
    /// Ether (wei).
    Eth,
    /// The stablecoin (6 decimals).
    Susd,
    /// The UTXO chain's coin (litoshi, 8 decimals).
    Ltc,
}

/// A cross-chain link service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// The lock/mint bridge (EVM contract ↔ its UTXO wallet).
    Bridge,
    /// The THORChain-style swap (vaults on both chains, memo-routed).
    ChainSwap,
}

/// One tx.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Deploys a contract (the sender's first tx).
    Deploy {
        /// Deployer.
        from: String,
        /// Which contract.
        contract: ContractKind,
    },
    /// Sends ether.
    Eth {
        /// Sender.
        from: String,
        /// Recipient.
        to: String,
        /// Wei.
        amount: u128,
    },
    /// Sends stablecoin.
    Token {
        /// Sender.
        from: String,
        /// Recipient.
        to: String,
        /// Base units.
        amount: u128,
    },
    /// The issuer mints stablecoin.
    Mint {
        /// The issuer.
        from: String,
        /// Recipient.
        to: String,
        /// Base units.
        amount: u128,
    },
    /// Approves the pool to pull stablecoin.
    Approve {
        /// Owner.
        from: String,
        /// Allowance.
        amount: u128,
    },
    /// Adds liquidity to the pool.
    AddLiquidity {
        /// Provider.
        from: String,
        /// Stablecoin.
        token: u128,
        /// Wei.
        eth: u128,
    },
    /// Swaps stablecoin for ether.
    SwapTokenForEth {
        /// Swapper.
        from: String,
        /// Stablecoin in.
        amount_in: u128,
        /// Wei out (what the pool pays, computed by the plan).
        out: u128,
    },
    /// Swaps ether for stablecoin.
    SwapEthForToken {
        /// Swapper.
        from: String,
        /// Wei in.
        amount_in: u128,
        /// Stablecoin out.
        out: u128,
    },
    /// Deposits one note into the mixer.
    MixDeposit {
        /// Depositor.
        from: String,
        /// Wei (a denomination).
        denomination: u128,
        /// The note's commitment (hex).
        commitment: String,
    },
    /// The mixer's relayer withdraws a note to a fresh address.
    MixWithdraw {
        /// The relayer.
        from: String,
        /// Recipient.
        to: String,
        /// Wei.
        denomination: u128,
        /// The nullifier hash (hex), unrelated on chain to the deposit's commitment.
        nullifier: String,
        /// The deposit step this withdrawal spends (known off chain only).
        deposit_step: usize,
    },
    /// The bridge operator adds ether liquidity to the bridge contract.
    BridgeFund {
        /// The operator.
        from: String,
        /// Wei.
        amount: u128,
    },
    /// Locks ether in the bridge, naming the payee on the UTXO chain.
    BridgeLock {
        /// Sender.
        from: String,
        /// Wei.
        amount: u128,
        /// The UTXO address the bridge pays (the event's memo).
        destination: String,
    },
    /// The bridge operator releases ether for a deposit made to the bridge's UTXO address.
    BridgeRelease {
        /// The operator.
        from: String,
        /// Recipient (named by the deposit's OP_RETURN memo).
        to: String,
        /// Wei.
        amount: u128,
        /// The UTXO step of the deposit (its txid goes in the call).
        source_step: usize,
    },
    /// Sends ether to the chain-swap vault with a calldata memo (`=:LTC.LTC:<address>`).
    SwapDeposit {
        /// Sender.
        from: String,
        /// The vault's EVM address.
        vault: String,
        /// Wei.
        amount: u128,
        /// The memo.
        memo: String,
    },
    /// The chain-swap vault pays ether out for a deposit on the UTXO chain, with the memo
    /// `OUT:<deposit txid>` in calldata.
    SwapPayout {
        /// The vault's EVM address.
        from: String,
        /// Recipient.
        to: String,
        /// Wei.
        amount: u128,
        /// The UTXO step of the deposit.
        source_step: usize,
    },
}

/// One value movement an action causes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    /// Asset.
    pub asset: Asset,
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// Base units.
    pub amount: u128,
}

impl Action {
    /// The tx's sender.
    pub fn sender(&self) -> &str {
        match self {
            Action::Deploy { from, .. }
            | Action::Eth { from, .. }
            | Action::Token { from, .. }
            | Action::Mint { from, .. }
            | Action::Approve { from, .. }
            | Action::AddLiquidity { from, .. }
            | Action::SwapTokenForEth { from, .. }
            | Action::SwapEthForToken { from, .. }
            | Action::MixDeposit { from, .. }
            | Action::MixWithdraw { from, .. }
            | Action::BridgeFund { from, .. }
            | Action::BridgeLock { from, .. }
            | Action::BridgeRelease { from, .. }
            | Action::SwapDeposit { from, .. }
            | Action::SwapPayout { from, .. } => from,
        }
    }

    /// A short description.
    pub fn describe(&self) -> String {
        match self {
            Action::Deploy { contract, .. } => format!("deploy {contract:?}"),
            Action::Eth { to, amount, .. } => format!("send {amount} wei to {to}"),
            Action::Token { to, amount, .. } => format!("send {amount} SUSD units to {to}"),
            Action::Mint { to, amount, .. } => format!("mint {amount} SUSD units to {to}"),
            Action::Approve { amount, .. } => format!("approve the pool for {amount}"),
            Action::AddLiquidity { token, eth, .. } => format!("add liquidity {token} + {eth} wei"),
            Action::SwapTokenForEth { amount_in, .. } => format!("swap {amount_in} SUSD units"),
            Action::SwapEthForToken { amount_in, .. } => format!("swap {amount_in} wei"),
            Action::MixDeposit { denomination, .. } => format!("mixer deposit {denomination} wei"),
            Action::MixWithdraw {
                denomination, to, ..
            } => {
                format!("mixer withdrawal {denomination} wei to {to}")
            }
            Action::BridgeFund { amount, .. } => format!("fund the bridge with {amount} wei"),
            Action::BridgeLock {
                amount,
                destination,
                ..
            } => format!("lock {amount} wei in the bridge for {destination}"),
            Action::BridgeRelease { amount, to, .. } => {
                format!("bridge release of {amount} wei to {to}")
            }
            Action::SwapDeposit { amount, memo, .. } => {
                format!("chain-swap deposit of {amount} wei, memo {memo}")
            }
            Action::SwapPayout { amount, to, .. } => {
                format!("chain-swap payout of {amount} wei to {to}")
            }
        }
    }

    /// The value movements of the tx, in the order the contracts make them (fees apart).
    pub fn movements(&self, world: &World) -> Vec<Movement> {
        let pool = world.contract_address(ContractKind::Pool).to_string();
        let mixer = world.contract_address(ContractKind::Mixer).to_string();
        let bridge = world.contract_address(ContractKind::Bridge).to_string();
        let m = |asset, from: &str, to: &str, amount| Movement {
            asset,
            from: from.to_string(),
            to: to.to_string(),
            amount,
        };
        match self {
            Action::Deploy { .. } | Action::Approve { .. } => vec![],
            Action::Eth { from, to, amount } => vec![m(Asset::Eth, from, to, *amount)],
            Action::Token { from, to, amount } => vec![m(Asset::Susd, from, to, *amount)],
            Action::Mint { to, amount, .. } => {
                vec![m(
                    Asset::Susd,
                    "0x0000000000000000000000000000000000000000",
                    to,
                    *amount,
                )]
            }
            Action::AddLiquidity { from, token, eth } => vec![
                m(Asset::Eth, from, &pool, *eth),
                m(Asset::Susd, from, &pool, *token),
            ],
            Action::SwapTokenForEth {
                from,
                amount_in,
                out,
            } => vec![
                m(Asset::Susd, from, &pool, *amount_in),
                m(Asset::Eth, &pool, from, *out),
            ],
            Action::SwapEthForToken {
                from,
                amount_in,
                out,
            } => vec![
                m(Asset::Eth, from, &pool, *amount_in),
                m(Asset::Susd, &pool, from, *out),
            ],
            Action::MixDeposit {
                from, denomination, ..
            } => {
                vec![m(Asset::Eth, from, &mixer, *denomination)]
            }
            Action::MixWithdraw {
                to, denomination, ..
            } => {
                vec![m(Asset::Eth, &mixer, to, *denomination)]
            }
            Action::BridgeFund { from, amount } | Action::BridgeLock { from, amount, .. } => {
                vec![m(Asset::Eth, from, &bridge, *amount)]
            }
            Action::BridgeRelease { to, amount, .. } => vec![m(Asset::Eth, &bridge, to, *amount)],
            Action::SwapDeposit {
                from,
                vault,
                amount,
                ..
            } => vec![m(Asset::Eth, from, vault, *amount)],
            Action::SwapPayout {
                from, to, amount, ..
            } => vec![m(Asset::Eth, from, to, *amount)],
        }
    }
}

/// One planned tx.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Index in the plan (over all blocks).
    pub id: usize,
    /// Part of the heist (else benign).
    pub heist: bool,
    /// Why (`drain`, `fan-out`, `sweep`, …).
    pub purpose: String,
    /// The tx.
    pub action: Action,
}

/// One block of txs, mined `time` seconds after the scenario's start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedBlock {
    /// Seconds after the first block.
    pub time: u64,
    /// Its txs.
    pub steps: Vec<Step>,
}

/// A laundering-pattern instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pattern {
    /// `fan_out`, `swap`, `mixer`, `fan_in`, `peel_chain` (either chain), `coinjoin`,
    /// `bridge_hop`, `chain_swap`, `privacy_exit`.
    pub kind: String,
    /// Its addresses (source first for fan-out, target last for fan-in, in order for chains).
    pub addresses: Vec<String>,
    /// Its steps.
    pub steps: Vec<usize>,
}

/// The whole scenario, ready to play.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// What it was planned from.
    pub config: Config,
    /// Entities, addresses, contracts.
    pub world: World,
    /// The faucet (its balance is set on the node before the first block).
    pub faucet: String,
    /// The victim's hot wallet.
    pub victim: String,
    /// The steps that steal (the incident).
    pub incident: Vec<usize>,
    /// The blocks.
    pub blocks: Vec<PlannedBlock>,
    /// Laundering patterns built.
    pub patterns: Vec<Pattern>,
    /// The UTXO side (`None` when the config turns it off).
    pub utxo: Option<UtxoPlan>,
}

impl Plan {
    /// Every step, in plan order.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.blocks.iter().flat_map(|b| b.steps.iter())
    }
}

/// Entry point: plans a scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario;

impl Scenario {
    /// Validates `config` and plans its scenario (pure: same config, same plan).
    pub fn plan(config: &Config) -> Result<Plan> {
        config.validate()?;
        let plan = Planner::new(config).run();
        if let Some(u) = &plan.utxo {
            let height = u64::from(u.setup_blocks) + u.blocks.len() as u64;
            if height >= utxo::MWEB_HEIGHT {
                return Err(crate::SimError::Config(format!(
                    "the UTXO side needs {height} regtest blocks; it must stay below {} (where \
                     MWEB activates): fewer background_blocks or utxo_hops",
                    utxo::MWEB_HEIGHT
                )));
            }
        }
        Ok(plan)
    }
}

/// Gas money each actor that sends txs is given, roughly (the plan adds noise).
const GAS_MONEY: u128 = ETHER / 40;

struct Planner<'a> {
    c: &'a Config,
    rng: fastrand::Rng,
    world: World,
    blocks: Vec<PlannedBlock>,
    current: Vec<Step>,
    next_id: usize,
    time: u64,
    /// Spendable at the start of the current block, per (address, asset).
    avail: BTreeMap<(String, Asset), u128>,
    /// Received in the current block (spendable from the next one).
    incoming: Vec<(String, Asset, u128)>,
    pool: (u128, u128),
    patterns: Vec<Pattern>,
    faucet: String,
    issuer: String,
    lp: String,
    relayer: String,
    dex_op: String,
    mixer_dep: String,
    users: Vec<String>,
    /// Per exchange: hot wallet.
    hot: Vec<String>,
    /// Per user: (exchange index, deposit address).
    customer_deposit: Vec<(usize, String)>,
    /// Benign mixer notes not yet withdrawn: (deposit step, denomination, owner).
    benign_notes: Vec<(usize, u128, String)>,
    /// The UTXO side's state (empty when the config turns it off).
    u: utxo::UtxoState,
}

impl<'a> Planner<'a> {
    fn new(c: &'a Config) -> Planner<'a> {
        let mut w = World::default();
        let seed = c.seed;
        w.entity("faucet", EntityKind::Faucet, "genesis faucet");
        let faucet = w.new_address(seed, "faucet", "faucet");
        w.entity("issuer", EntityKind::Issuer, "Sim Dollar issuer");
        let issuer = w.new_address(seed, "issuer", "issuer (stablecoin deployer)");
        w.contract(ContractKind::Stablecoin, &issuer, "issuer");
        w.entity("dex", EntityKind::Dex, "SimSwap DEX");
        let dex_op = w.new_address(seed, "dex", "pool deployer");
        w.contract(ContractKind::Pool, &dex_op, "dex");
        w.entity("mixer", EntityKind::Mixer, "SimCash mixer");
        let mixer_dep = w.new_address(seed, "mixer", "mixer deployer");
        let relayer = w.new_address(seed, "mixer", "relayer");
        w.contract(ContractKind::Mixer, &mixer_dep, "mixer");
        w.entity(
            "market-maker",
            EntityKind::MarketMaker,
            "pool liquidity provider",
        );
        let lp = w.new_address(seed, "market-maker", "liquidity provider");
        let mut hot = Vec::new();
        for e in 0..c.exchanges {
            let id = format!("exchange:{e}");
            w.entity(&id, EntityKind::Exchange, &format!("Exchange {e}"));
            hot.push(w.new_address(seed, &id, "hot wallet"));
        }
        let mut users = Vec::new();
        let mut customer_deposit = Vec::new();
        for u in 0..c.users {
            let id = format!("user:{u}");
            w.entity(&id, EntityKind::User, &format!("User {u}"));
            users.push(w.new_address(seed, &id, "wallet"));
            let e = (u % c.exchanges) as usize;
            let dep = w.new_address(seed, &format!("exchange:{e}"), &format!("deposit for {id}"));
            customer_deposit.push((e, dep));
        }
        w.entity("victim", EntityKind::Victim, "hacked service");
        w.entity("attacker", EntityKind::Attacker, "heist launderer");
        let u = if c.utxo {
            utxo::UtxoState::new(&mut w, c)
        } else {
            utxo::UtxoState::default()
        };
        let mut p = Planner {
            c,
            rng: fastrand::Rng::with_seed(seed),
            world: w,
            blocks: Vec::new(),
            current: Vec::new(),
            next_id: 0,
            time: 0,
            avail: BTreeMap::new(),
            incoming: Vec::new(),
            pool: (0, 0),
            patterns: Vec::new(),
            faucet,
            issuer,
            lp,
            relayer,
            dex_op,
            mixer_dep,
            users,
            hot,
            customer_deposit,
            benign_notes: Vec::new(),
            u,
        };
        p.avail
            .insert((p.faucet.clone(), Asset::Eth), crate::exec::FAUCET_BALANCE);
        p
    }

    fn addr(&mut self, entity: &str, role: &str) -> String {
        self.world.new_address(self.c.seed, entity, role)
    }

    fn bal(&self, who: &str, asset: Asset) -> u128 {
        self.avail
            .get(&(who.to_string(), asset))
            .copied()
            .unwrap_or(0)
    }

    /// Adds a step; debits its sender now, credits recipients at the end of the block.
    fn push(&mut self, heist: bool, purpose: &str, action: Action) -> usize {
        for m in action.movements(&self.world) {
            let from = (m.from.clone(), m.asset);
            if let Some(b) = self.avail.get_mut(&from) {
                *b = b.saturating_sub(m.amount);
            }
            self.incoming.push((m.to, m.asset, m.amount));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.current.push(Step {
            id,
            heist,
            purpose: purpose.to_string(),
            action,
        });
        id
    }

    /// Closes the current block, `gap` seconds after the previous one.
    fn mine(&mut self, gap: u64) {
        if self.current.is_empty() {
            return;
        }
        self.time += gap.max(1);
        for (to, asset, amount) in std::mem::take(&mut self.incoming) {
            *self.avail.entry((to, asset)).or_insert(0) += amount;
        }
        self.blocks.push(PlannedBlock {
            time: self.time,
            steps: std::mem::take(&mut self.current),
        });
    }

    /// A realistic, non-round amount near `around`: ±`spread` per cent, 6–9 significant digits.
    fn amount(&mut self, around: u128, spread: u32) -> u128 {
        let spread = u128::from(spread.min(99));
        let lo = around / 100 * (100 - spread);
        let hi = around / 100 * (100 + spread);
        let x = self.rng.u128(lo.max(1)..=hi.max(2));
        let digits = self.rng.u32(6..=9);
        let mut unit = 1u128;
        while x / unit >= 10u128.pow(digits) {
            unit *= 10;
        }
        (x / unit * unit).max(1)
    }

    /// Splits `total` into `n` uneven, non-zero parts that add up to it.
    fn split(&mut self, total: u128, n: usize) -> Vec<u128> {
        let weights: Vec<u128> = (0..n).map(|_| u128::from(self.rng.u32(40..160))).collect();
        let sum: u128 = weights.iter().sum();
        let mut parts: Vec<u128> = weights.iter().map(|w| mul_div(total, *w, sum)).collect();
        let given: u128 = parts.iter().sum();
        if let Some(last) = parts.last_mut() {
            *last += total - given;
        }
        parts
    }

    fn gap_blocks(&mut self, lo: u64, hi: u64) -> u64 {
        12 * self.rng.u64(lo..=hi)
    }

    fn hex32(&mut self, tag: &str) -> String {
        let mut pre = tag.as_bytes().to_vec();
        pre.extend_from_slice(&self.c.seed.to_be_bytes());
        pre.extend_from_slice(&self.rng.u64(..).to_be_bytes());
        format!("{:#x}", keccak256(&pre))
    }

    fn run(mut self) -> Plan {
        let c = self.c;
        self.setup();
        let victim = self.addr("victim", "hot wallet");
        // The victim's hot wallet is funded like any other.
        let fuel = self.amount(GAS_MONEY * 4, 30);
        self.push(
            false,
            "fund victim",
            Action::Eth {
                from: self.faucet.clone(),
                to: victim.clone(),
                amount: c.victim_eth + fuel,
            },
        );
        self.push(
            false,
            "fund victim",
            Action::Mint {
                from: self.issuer.clone(),
                to: victim.clone(),
                amount: c.victim_token,
            },
        );
        self.mine(12);
        for _ in 0..c.background_blocks {
            self.background_block();
        }
        let plan_incident = self.heist(&victim);
        for _ in 0..c.background_blocks.div_ceil(3) {
            self.background_block();
        }
        // Users' crossings still under way are paid out before the scenario ends.
        self.close_crossings();
        for _ in 0..8 {
            if !self.crossings_waiting() {
                break;
            }
            self.background_block();
        }
        let patterns = std::mem::take(&mut self.patterns);
        let utxo = c.utxo.then(|| self.u.finish());
        Plan {
            utxo,
            config: c.clone(),
            faucet: self.faucet.clone(),
            victim,
            incident: plan_incident,
            blocks: self.blocks,
            patterns,
            world: self.world,
        }
    }

    /// Deploys the contracts, funds everyone, seeds the pool.
    fn setup(&mut self) {
        let c = self.c;
        let f = self.faucet.clone();
        let issuer = self.issuer.clone();
        let dex_op = self.dex_op.clone();
        let mixer_dep = self.mixer_dep.clone();
        for who in [
            issuer.clone(),
            dex_op.clone(),
            mixer_dep.clone(),
            self.relayer.clone(),
        ] {
            let amount = self.amount(ETHER, 20);
            self.push(
                false,
                "fund",
                Action::Eth {
                    from: f.clone(),
                    to: who,
                    amount,
                },
            );
        }
        let lp_eth = c.pool_eth + self.amount(ETHER, 20);
        self.push(
            false,
            "fund",
            Action::Eth {
                from: f.clone(),
                to: self.lp.clone(),
                amount: lp_eth,
            },
        );
        for h in self.hot.clone() {
            let amount = self.amount(400 * ETHER, 30);
            self.push(
                false,
                "fund",
                Action::Eth {
                    from: f.clone(),
                    to: h,
                    amount,
                },
            );
        }
        for u in self.users.clone() {
            let amount = self.amount(25 * ETHER, 60);
            self.push(
                false,
                "fund",
                Action::Eth {
                    from: f.clone(),
                    to: u,
                    amount,
                },
            );
        }
        self.mine(12);
        self.push(
            false,
            "deploy",
            Action::Deploy {
                from: issuer.clone(),
                contract: ContractKind::Stablecoin,
            },
        );
        self.push(
            false,
            "deploy",
            Action::Deploy {
                from: dex_op,
                contract: ContractKind::Pool,
            },
        );
        self.push(
            false,
            "deploy",
            Action::Deploy {
                from: mixer_dep,
                contract: ContractKind::Mixer,
            },
        );
        // Exchanges give every deposit address gas for its sweeps.
        for (e, dep) in self.customer_deposit.clone() {
            let amount = self.amount(GAS_MONEY / 2, 40);
            self.push(
                false,
                "deposit gas",
                Action::Eth {
                    from: self.hot[e].clone(),
                    to: dep,
                    amount,
                },
            );
        }
        self.mine(24);
        self.push(
            false,
            "mint",
            Action::Mint {
                from: issuer.clone(),
                to: self.lp.clone(),
                amount: c.pool_token,
            },
        );
        for h in self.hot.clone() {
            let amount = self.amount(800_000 * DOLLAR, 30);
            self.push(
                false,
                "mint",
                Action::Mint {
                    from: issuer.clone(),
                    to: h,
                    amount,
                },
            );
        }
        for u in self.users.clone() {
            let amount = self.amount(30_000 * DOLLAR, 80);
            self.push(
                false,
                "mint",
                Action::Mint {
                    from: issuer.clone(),
                    to: u,
                    amount,
                },
            );
        }
        self.mine(36);
        self.push(
            false,
            "approve",
            Action::Approve {
                from: self.lp.clone(),
                amount: c.pool_token,
            },
        );
        self.mine(12);
        self.push(
            false,
            "liquidity",
            Action::AddLiquidity {
                from: self.lp.clone(),
                token: c.pool_token,
                eth: c.pool_eth,
            },
        );
        self.pool = (c.pool_token, c.pool_eth);
        self.mine(48);
        if c.utxo {
            self.utxo_setup();
        }
    }

    fn quote_token_for_eth(&self, amount_in: u128) -> u128 {
        let (rt, re) = self.pool;
        mul_div(re, amount_in * 997, rt * 1000 + amount_in * 997)
    }

    fn quote_eth_for_token(&self, amount_in: u128) -> u128 {
        let (rt, re) = self.pool;
        mul_div(rt, amount_in * 997, re * 1000 + amount_in * 997)
    }

    /// A few benign txs: payments, exchange deposits, sweeps and withdrawals, a swap, a note.
    fn background_block(&mut self) {
        if self.c.utxo {
            self.benign_crossings_evm();
        }
        let n = self.rng.usize(3..=8);
        let mut senders: Vec<String> = Vec::new();
        let mut swapped = false;
        for _ in 0..n {
            let u = self.rng.usize(..self.users.len());
            let user = self.users[u].clone();
            if senders.contains(&user) {
                continue;
            }
            let roll = self.rng.u32(0..100);
            let eth = self.bal(&user, Asset::Eth).saturating_sub(ETHER / 2);
            let tok = self.bal(&user, Asset::Susd);
            let mut other = self.users[self.rng.usize(..self.users.len())].clone();
            if other == user {
                other = self.users[(u + 1) % self.users.len()].clone();
            }
            let (e, dep) = self.customer_deposit[u].clone();
            match roll {
                0..=24 if eth > ETHER => {
                    let amount = self.amount(eth / 5, 80);
                    self.push(
                        false,
                        "payment",
                        Action::Eth {
                            from: user.clone(),
                            to: other,
                            amount,
                        },
                    );
                }
                25..=44 if tok > 100 * DOLLAR => {
                    let amount = self.amount(tok / 6, 80);
                    self.push(
                        false,
                        "payment",
                        Action::Token {
                            from: user.clone(),
                            to: other,
                            amount,
                        },
                    );
                }
                45..=59 if eth > ETHER => {
                    let amount = self.amount(eth / 4, 60);
                    self.push(
                        false,
                        "exchange deposit",
                        Action::Eth {
                            from: user.clone(),
                            to: dep,
                            amount,
                        },
                    );
                }
                60..=69 if tok > 100 * DOLLAR => {
                    let amount = self.amount(tok / 4, 60);
                    self.push(
                        false,
                        "exchange deposit",
                        Action::Token {
                            from: user.clone(),
                            to: dep,
                            amount,
                        },
                    );
                }
                70..=79 => {
                    // The user withdraws from the exchange (paid from its hot wallet).
                    let hot = self.hot[e].clone();
                    let amount = self.amount(3 * ETHER, 70);
                    if !senders.contains(&hot) && self.bal(&hot, Asset::Eth) > amount + ETHER {
                        self.push(
                            false,
                            "exchange withdrawal",
                            Action::Eth {
                                from: hot.clone(),
                                to: user.clone(),
                                amount,
                            },
                        );
                        senders.push(hot);
                    }
                    continue;
                }
                80..=89 if !swapped && eth > ETHER => {
                    let amount_in = self.amount(eth / 8, 50);
                    let out = self.quote_eth_for_token(amount_in);
                    self.pool.1 += amount_in;
                    self.pool.0 -= out;
                    swapped = true;
                    self.push(
                        false,
                        "swap",
                        Action::SwapEthForToken {
                            from: user.clone(),
                            amount_in,
                            out,
                        },
                    );
                }
                90..=99 if eth > 2 * self.c.mixer_denominations[0] => {
                    let d = self.c.mixer_denominations[0];
                    let commitment = self.hex32("commitment");
                    let id = self.push(
                        false,
                        "privacy",
                        Action::MixDeposit {
                            from: user.clone(),
                            denomination: d,
                            commitment,
                        },
                    );
                    self.benign_notes.push((id, d, user.clone()));
                }
                _ => continue,
            }
            senders.push(user);
        }
        // Exchanges sweep deposit addresses that hold something, now and then (tokens first;
        // ether above the gas money the address keeps).
        for (e, dep) in self.customer_deposit.clone() {
            if senders.contains(&dep) || self.rng.u32(0..100) >= 40 {
                continue;
            }
            let hot = self.hot[e].clone();
            let d_tok = self.bal(&dep, Asset::Susd);
            let d_eth = self.bal(&dep, Asset::Eth).saturating_sub(GAS_MONEY);
            if d_tok > 0 {
                let action = Action::Token {
                    from: dep.clone(),
                    to: hot,
                    amount: d_tok,
                };
                self.push(false, "sweep", action);
            } else if d_eth > ETHER / 100 {
                let action = Action::Eth {
                    from: dep.clone(),
                    to: hot,
                    amount: d_eth,
                };
                self.push(false, "sweep", action);
            } else {
                continue;
            }
            senders.push(dep);
        }
        // Now and then the relayer pays out a benign note to its owner's other wallet.
        if self.benign_notes.len() > 1 && self.rng.u32(0..3) == 0 {
            let (deposit_step, denomination, owner) = self.benign_notes.remove(0);
            let to = self.users
                [(self.users.iter().position(|u| *u == owner).unwrap_or(0) + 1) % self.users.len()]
            .clone();
            let nullifier = self.hex32("nullifier");
            self.push(
                false,
                "privacy",
                Action::MixWithdraw {
                    from: self.relayer.clone(),
                    to,
                    denomination,
                    nullifier,
                    deposit_step,
                },
            );
        }
        let gap = self.gap_blocks(1, 40);
        self.mine(gap);
        if self.c.utxo {
            self.utxo_background();
        }
    }

    /// Plans the heist; returns the incident's steps.
    fn heist(&mut self, victim: &str) -> Vec<usize> {
        let c = self.c;
        let a = "attacker";
        // The launderer's gas money comes out of an exchange, like a customer's withdrawal.
        let station = self.addr(a, "gas station");
        let amount = self.amount(9 * ETHER, 20);
        let hot0 = self.hot[0].clone();
        self.push(
            true,
            "gas money",
            Action::Eth {
                from: hot0,
                to: station.clone(),
                amount,
            },
        );
        self.mine(60);
        let drainer = self.addr(a, "drainer");
        let n = c.fan_out as usize;
        let n_eth = if c.stolen_token == 0 {
            n
        } else if c.stolen_eth == 0 {
            0
        } else {
            n.div_ceil(2)
        };
        let fan: Vec<String> = (0..n)
            .map(|i| self.addr(a, &format!("fan-out {i}")))
            .collect();
        let keeper = self.addr(a, "stablecoin keeper");
        let cons: Vec<String> = (0..c.consolidators)
            .map(|i| self.addr(a, &format!("consolidator {i}")))
            .collect();
        let hops: Vec<Vec<String>> = (0..c.consolidators)
            .map(|i| {
                (0..c.hops)
                    .map(|h| self.addr(a, &format!("hop {h} of chain {i}")))
                    .collect()
            })
            .collect();
        // The accounts the launderer opens at the exchanges: one deposit address each.
        let mut cash_out = Vec::new();
        for k in 0..(c.consolidators as usize + 2) {
            let e = k % self.hot.len();
            cash_out.push(self.addr(
                &format!("exchange:{e}"),
                &format!("deposit for launderer account {k}"),
            ));
        }
        // Gas first (so that, under LIFO, stolen value sits on top of it).
        let mut fuel: Vec<String> = vec![drainer.clone(), keeper.clone()];
        fuel.extend(fan.iter().cloned());
        fuel.extend(cons.iter().cloned());
        fuel.extend(hops.iter().flatten().cloned());
        for who in fuel {
            let amount = self.amount(GAS_MONEY / 3, 40);
            self.push(
                true,
                "gas",
                Action::Eth {
                    from: station.clone(),
                    to: who,
                    amount,
                },
            );
        }
        let gap = self.gap_blocks(5, 30);
        self.mine(gap);

        // The drain.
        let mut incident = Vec::new();
        if c.stolen_eth > 0 {
            incident.push(self.push(
                true,
                "drain",
                Action::Eth {
                    from: victim.to_string(),
                    to: drainer.clone(),
                    amount: c.stolen_eth,
                },
            ));
        }
        if c.stolen_token > 0 {
            incident.push(self.push(
                true,
                "drain",
                Action::Token {
                    from: victim.to_string(),
                    to: drainer.clone(),
                    amount: c.stolen_token,
                },
            ));
        }
        let gap = self.gap_blocks(10, 25);
        self.mine(gap);

        // Fan-out.
        let eth_parts = self.split(c.stolen_eth, n_eth);
        let tok_parts = self.split(c.stolen_token, n - n_eth);
        let mut steps = Vec::new();
        for (i, amount) in eth_parts.iter().enumerate() {
            steps.push(self.push(
                true,
                "fan-out",
                Action::Eth {
                    from: drainer.clone(),
                    to: fan[i].clone(),
                    amount: *amount,
                },
            ));
        }
        for (j, amount) in tok_parts.iter().enumerate() {
            steps.push(self.push(
                true,
                "fan-out",
                Action::Token {
                    from: drainer.clone(),
                    to: fan[n_eth + j].clone(),
                    amount: *amount,
                },
            ));
        }
        let mut addrs = vec![drainer.clone()];
        addrs.extend(fan.iter().cloned());
        self.patterns.push(Pattern {
            kind: "fan_out".into(),
            addresses: addrs,
            steps,
        });
        let gap = self.gap_blocks(20, 200);
        self.mine(gap);
        self.background_block();

        // Stablecoin holders: most swap to ether (one swap per block), the rest consolidate.
        let tok_holders: Vec<(String, u128)> =
            fan[n_eth..].iter().cloned().zip(tok_parts).collect();
        let n_swap = (tok_holders.len() * c.swap_percent as usize).div_ceil(100);
        let mut eth_holders: Vec<(String, u128)> =
            fan[..n_eth].iter().cloned().zip(eth_parts).collect();
        let mut keep_steps = Vec::new();
        let mut keep_from = Vec::new();
        for (who, amount) in &tok_holders[..n_swap] {
            self.push(
                true,
                "approve",
                Action::Approve {
                    from: who.clone(),
                    amount: *amount,
                },
            );
        }
        for (who, amount) in &tok_holders[n_swap..] {
            keep_steps.push(self.push(
                true,
                "consolidate stablecoin",
                Action::Token {
                    from: who.clone(),
                    to: keeper.clone(),
                    amount: *amount,
                },
            ));
            keep_from.push(who.clone());
        }
        let gap = self.gap_blocks(2, 10);
        self.mine(gap);
        for (who, amount) in tok_holders[..n_swap].iter().cloned() {
            let out = self.quote_token_for_eth(amount);
            self.pool.0 += amount;
            self.pool.1 -= out;
            let step = self.push(
                true,
                "swap",
                Action::SwapTokenForEth {
                    from: who.clone(),
                    amount_in: amount,
                    out,
                },
            );
            self.patterns.push(Pattern {
                kind: "swap".into(),
                addresses: vec![who.clone()],
                steps: vec![step],
            });
            eth_holders.push((who, out));
            let gap = self.gap_blocks(1, 8);
            self.mine(gap);
        }
        if !keep_from.is_empty() {
            keep_from.push(keeper.clone());
            self.patterns.push(Pattern {
                kind: "fan_in".into(),
                addresses: keep_from,
                steps: keep_steps,
            });
        }
        self.background_block();

        // Part of two holders' ether crosses to the UTXO chain (bridge, chain swap), is
        // laundered there and partly comes back.
        if c.utxo {
            self.cross_chain(&station, &mut eth_holders, &cash_out);
        }

        // Ether holders: most deposit notes into the mixer; remainders go straight to consolidators.
        let mut notes: Vec<(usize, u128)> = Vec::new();
        let mut mix_addrs = Vec::new();
        let mut mix_steps = Vec::new();
        let mut to_cons: Vec<Vec<(String, usize)>> = vec![Vec::new(); cons.len()];
        for (who, amount) in eth_holders {
            let mut rest = amount;
            if self.rng.u32(0..100) < 75 {
                let mut count = 0;
                for &d in self.c.mixer_denominations.iter().rev() {
                    while rest >= d && count < 6 {
                        let commitment = self.hex32("commitment");
                        let step = self.push(
                            true,
                            "mixer deposit",
                            Action::MixDeposit {
                                from: who.clone(),
                                denomination: d,
                                commitment,
                            },
                        );
                        notes.push((step, d));
                        mix_steps.push(step);
                        rest -= d;
                        count += 1;
                    }
                }
                if count > 0 {
                    mix_addrs.push(who.clone());
                }
            }
            if rest > 0 {
                let k = self.rng.usize(..cons.len());
                let step = self.push(
                    true,
                    "consolidate",
                    Action::Eth {
                        from: who.clone(),
                        to: cons[k].clone(),
                        amount: rest,
                    },
                );
                to_cons[k].push((who, step));
            }
        }
        let gap = self.gap_blocks(30, 300);
        self.mine(gap);
        for _ in 0..3 {
            self.background_block();
        }

        // Days later: most notes come out to fresh addresses (gas first), the rest stay dark.
        self.rng.shuffle(&mut notes);
        let n_dark = (notes.len() * c.dark_percent as usize) / 100;
        let withdrawn: Vec<(usize, u128)> = notes[n_dark..].to_vec();
        let outs: Vec<String> = (0..withdrawn.len())
            .map(|i| self.addr(a, &format!("mixer withdrawal {i}")))
            .collect();
        for o in &outs {
            let amount = self.amount(GAS_MONEY / 3, 40);
            self.push(
                true,
                "gas",
                Action::Eth {
                    from: station.clone(),
                    to: o.clone(),
                    amount,
                },
            );
        }
        let gap = 86_400 + self.rng.u64(0..86_400);
        self.mine(gap);
        let mut recv = Vec::new();
        for (chunk_i, chunk) in withdrawn.chunks(4).enumerate() {
            for (j, (deposit_step, d)) in chunk.iter().enumerate() {
                let to = outs[chunk_i * 4 + j].clone();
                let nullifier = self.hex32("nullifier");
                let step = self.push(
                    true,
                    "mixer withdrawal",
                    Action::MixWithdraw {
                        from: self.relayer.clone(),
                        to: to.clone(),
                        denomination: *d,
                        nullifier,
                        deposit_step: *deposit_step,
                    },
                );
                mix_steps.push(step);
                recv.push((to, *d));
            }
            let gap = self.gap_blocks(1, 30);
            self.mine(gap);
        }
        mix_addrs.extend(outs.iter().cloned());
        self.patterns.push(Pattern {
            kind: "mixer".into(),
            addresses: mix_addrs,
            steps: mix_steps,
        });
        self.background_block();

        // Fan-in to the consolidators.
        for (to, d) in recv {
            let k = self.rng.usize(..cons.len());
            let step = self.push(
                true,
                "consolidate",
                Action::Eth {
                    from: to.clone(),
                    to: cons[k].clone(),
                    amount: d,
                },
            );
            to_cons[k].push((to, step));
        }
        let gap = self.gap_blocks(20, 100);
        self.mine(gap);
        for (k, sources) in to_cons.iter().enumerate() {
            if sources.is_empty() {
                continue;
            }
            let mut addresses: Vec<String> = sources.iter().map(|s| s.0.clone()).collect();
            addresses.push(cons[k].clone());
            self.patterns.push(Pattern {
                kind: "fan_in".into(),
                addresses,
                steps: sources.iter().map(|s| s.1).collect(),
            });
        }

        // Rapid peel chains: each hop peels a slice into an exchange deposit address and passes
        // the rest on; the last hop deposits everything.
        let mut holding: Vec<(String, u128)> = cons
            .iter()
            .map(|a| (a.clone(), self.bal(a, Asset::Eth)))
            .collect();
        let mut chains: Vec<(Vec<String>, Vec<usize>)> = holding
            .iter()
            .map(|(a, _)| (vec![a.clone()], Vec::new()))
            .collect();
        // What each consolidator received is the stolen part of its balance; its gas is apart.
        for (k, h) in holding.iter_mut().enumerate() {
            h.1 = to_cons[k]
                .iter()
                .map(|(_, step)| self.step_eth(*step))
                .sum();
        }
        for hop in 0..=c.hops as usize {
            for k in 0..holding.len() {
                let (who, amount) = holding[k].clone();
                if amount == 0 {
                    continue;
                }
                let peel_to = cash_out[self.rng.usize(..cash_out.len())].clone();
                let Some(next) = hops[k].get(hop).cloned() else {
                    let step = self.push(
                        true,
                        "cash out",
                        Action::Eth {
                            from: who,
                            to: peel_to.clone(),
                            amount,
                        },
                    );
                    chains[k].0.push(peel_to);
                    chains[k].1.push(step);
                    holding[k].1 = 0;
                    continue;
                };
                let peel = mul_div(amount, u128::from(self.rng.u32(300..1200)), 10_000);
                let s1 = self.push(
                    true,
                    "peel",
                    Action::Eth {
                        from: who.clone(),
                        to: peel_to,
                        amount: peel,
                    },
                );
                let s2 = self.push(
                    true,
                    "hop",
                    Action::Eth {
                        from: who,
                        to: next.clone(),
                        amount: amount - peel,
                    },
                );
                chains[k].0.push(next.clone());
                chains[k].1.extend([s1, s2]);
                holding[k] = (next, amount - peel);
            }
            let gap = self.gap_blocks(1, 3);
            self.mine(gap);
        }
        for (addresses, steps) in chains {
            if !steps.is_empty() {
                self.patterns.push(Pattern {
                    kind: "peel_chain".into(),
                    addresses,
                    steps,
                });
            }
        }

        // The stablecoin keeper cashes part out at an exchange and holds the rest (freezable).
        let kept = self.bal(&keeper, Asset::Susd);
        if kept > 0 {
            let part = mul_div(kept, u128::from(self.rng.u32(2000..4000)), 10_000);
            let to = cash_out[cash_out.len() - 1].clone();
            self.push(
                true,
                "cash out",
                Action::Token {
                    from: keeper,
                    to,
                    amount: part,
                },
            );
            let gap = self.gap_blocks(10, 60);
            self.mine(gap);
        }
        incident
    }

    /// The ether value a planned step sends.
    fn step_eth(&self, step: usize) -> u128 {
        let all = self
            .blocks
            .iter()
            .flat_map(|b| b.steps.iter())
            .chain(self.current.iter());
        for s in all {
            if s.id == step
                && let Action::Eth { amount, .. } = s.action
            {
                return amount;
            }
        }
        0
    }
}

/// `a·b/c` rounded down, exact for any u128 operands (c > 0).
pub(crate) fn mul_div(a: u128, b: u128, c: u128) -> u128 {
    if c == 0 {
        return 0;
    }
    let r = U256::from(a) * U256::from(b) / U256::from(c);
    u128::try_from(r).unwrap_or(u128::MAX)
}
