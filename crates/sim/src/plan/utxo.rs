//! The UTXO side of the plan: the world on the UTXO chain (users' wallets, exchanges' hot
//! wallets and per-customer deposit addresses that sweep into them, the bridge's and the swap
//! vault's wallets, a privacy exit, a miner), its background traffic, and the heist's part
//! there: ether bridged and chain-swapped over, a peel chain, a CoinJoin, a privacy exit, and
//! value bridged and swapped back to the EVM chain.
//!
//! Every UTXO tx is planned in full (inputs, outputs, fee, OP_RETURN memo) with the same rule
//! as the EVM side: a step spends only outputs confirmed before its block. Inputs name the
//! outputs they spend by plan step and output index (or by coinbase height for the faucet's
//! mined coins); the player turns those into txids as it goes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Action, Asset, LinkKind, Pattern, Planner, mul_div};
use crate::config::{Config, ETHER, LTC};
use crate::world::{ContractKind, EntityKind, World};

/// Height at which MWEB activates on Litecoin regtest; a scenario's chain stays below it (its
/// blocks would need MWEB's extension data).
pub const MWEB_HEIGHT: u64 = 432;
/// Blocks mined to the faucet before the scenario: the first [`FAUCET_COINBASES`] coinbases
/// are mature by then.
pub const SETUP_BLOCKS: u32 = 250;
/// The faucet's spendable coinbases (heights 1 to this; regtest halves the subsidy at 150).
pub const FAUCET_COINBASES: u32 = 149;
// The faucet's coinbases are mature (100 confirmations) when the scenario starts.
const _: () = assert!(FAUCET_COINBASES + 100 <= SETUP_BLOCKS);
/// The regtest block subsidy below height 150.
pub const SUBSIDY: u64 = 50 * LTC;
/// Smallest output the plan makes; smaller change goes to the fee.
const MIN_OUTPUT: u64 = 100_000;
/// What the bridge and the swap vault hold on the UTXO chain at the start.
const LIQUIDITY: u64 = 1_800 * LTC;
/// Most the bridge or the vault pays the launderer at once (liquidity bound).
const MAX_PAYOUT: u64 = 1_200 * LTC;

/// An output a UTXO step spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutRef {
    /// The coinbase output 0 of the block at `height` (mined to the faucet).
    Coinbase {
        /// Block height.
        height: u32,
    },
    /// Output `vout` of the tx of plan step `step`.
    Tx {
        /// Plan step.
        step: usize,
        /// Output index.
        vout: u32,
    },
}

/// A spendable output, as the plan knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coin {
    /// Which output.
    pub out: OutRef,
    /// Its address.
    pub address: String,
    /// Litoshi.
    pub amount: u64,
}

/// A paying output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UtxoOut {
    /// Address.
    pub address: String,
    /// Litoshi.
    pub amount: u64,
}

/// The text of an OP_RETURN output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Memo {
    /// Known when planned (`=:ETH.ETH:0x…`, an EVM address).
    Text {
        /// The memo.
        text: String,
    },
    /// `OUT:<hash of the tx of step>`, known once that tx is sent.
    Out {
        /// The inbound step the tx pays out for.
        step: usize,
    },
}

/// What a tx's output 0 is to a cross-chain service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UtxoLink {
    /// A deposit into the service's UTXO address (the memo names the EVM payee).
    Deposit {
        /// Which service.
        service: LinkKind,
    },
    /// The service's payout for an inbound EVM step.
    Payout {
        /// Which service.
        service: LinkKind,
        /// The EVM step it pays out for.
        source_step: usize,
    },
}

/// One UTXO tx: inputs, paying outputs in order, then the OP_RETURN memo if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UtxoTx {
    /// Inputs, in tx order.
    pub inputs: Vec<Coin>,
    /// Paying outputs, in tx order (vout 0, 1, …).
    pub outputs: Vec<UtxoOut>,
    /// The OP_RETURN output after them.
    pub memo: Option<Memo>,
    /// Litoshi: inputs − outputs.
    pub fee: u64,
    /// Output 0's role in a cross-chain link.
    pub link: Option<UtxoLink>,
}

/// One planned UTXO tx.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UtxoStep {
    /// Index in the plan (shared with the EVM steps).
    pub id: usize,
    /// Part of the heist.
    pub heist: bool,
    /// Why.
    pub purpose: String,
    /// The tx.
    pub tx: UtxoTx,
}

/// One UTXO block, mined `time` seconds after the scenario's start (one clock for both chains).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UtxoBlock {
    /// Seconds after the scenario's first block.
    pub time: u64,
    /// Its txs.
    pub steps: Vec<UtxoStep>,
}

/// The UTXO side of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UtxoPlan {
    /// Blocks mined to the faucet first.
    pub setup_blocks: u32,
    /// The faucet's address (its coinbases fund the world).
    pub faucet: String,
    /// Where the scenario's blocks are mined to.
    pub miner: String,
    /// The blocks.
    pub blocks: Vec<UtxoBlock>,
}

impl UtxoPlan {
    /// Every step, in plan order.
    pub fn steps(&self) -> impl Iterator<Item = &UtxoStep> {
        self.blocks.iter().flat_map(|b| b.steps.iter())
    }
}

/// The planner's UTXO state.
#[derive(Default)]
pub(super) struct UtxoState {
    /// Spendable at the start of the current block, per address.
    coins: BTreeMap<String, Vec<Coin>>,
    /// Made in the current block (spendable from the next one).
    incoming: Vec<Coin>,
    current: Vec<UtxoStep>,
    blocks: Vec<UtxoBlock>,
    faucet: String,
    miner: String,
    /// Per user (same order as the EVM users): wallet address.
    users: Vec<String>,
    /// Per exchange: hot wallet.
    hot: Vec<String>,
    /// Per user: (exchange index, deposit address on the UTXO chain).
    deposit: Vec<(usize, String)>,
    /// Deposit addresses of the launderer's exchange accounts: (exchange index, address).
    cash_out: Vec<(usize, String)>,
    bridge: String,
    bridge_op: String,
    vault: String,
    vault_evm: String,
    exit: String,
    /// Users' crossings to the UTXO chain waiting for their payout: (service, EVM step, wei,
    /// payee).
    to_utxo: Vec<(LinkKind, usize, u128, String)>,
    /// Users' crossings to the EVM chain waiting for their payout: (service, UTXO step,
    /// litoshi, payee).
    to_evm: Vec<(LinkKind, usize, u64, String)>,
    /// Set at the end: no new crossings, only the waiting ones paid.
    closing: bool,
}

impl UtxoState {
    /// Registers the UTXO side's entities and addresses (and the bridge contract).
    pub(super) fn new(w: &mut World, c: &Config) -> UtxoState {
        let seed = c.seed;
        let mut s = UtxoState::default();
        w.entity("faucet", EntityKind::Faucet, "genesis faucet");
        s.faucet = w.new_utxo_address(seed, "faucet", "coinbase faucet");
        w.entity("miner", EntityKind::Miner, "UTXO-chain miner");
        s.miner = w.new_utxo_address(seed, "miner", "coinbase");
        w.entity("bridge", EntityKind::Bridge, "SimBridge");
        s.bridge_op = w.new_address(seed, "bridge", "bridge operator");
        w.contract(ContractKind::Bridge, &s.bridge_op, "bridge");
        s.bridge = w.new_utxo_address(seed, "bridge", "bridge wallet");
        w.entity("swap-vault", EntityKind::SwapVault, "SimChain swap vault");
        s.vault_evm = w.new_address(seed, "swap-vault", "vault");
        s.vault = w.new_utxo_address(seed, "swap-vault", "vault");
        w.entity(
            "privacy-exit",
            EntityKind::PrivacyExit,
            "instant swap to a privacy coin",
        );
        s.exit = w.new_utxo_address(seed, "privacy-exit", "deposit");
        for e in 0..c.exchanges {
            s.hot
                .push(w.new_utxo_address(seed, &format!("exchange:{e}"), "ltc hot wallet"));
        }
        for u in 0..c.users {
            let id = format!("user:{u}");
            s.users.push(w.new_utxo_address(seed, &id, "ltc wallet"));
            let e = (u % c.exchanges) as usize;
            let dep = w.new_utxo_address(
                seed,
                &format!("exchange:{e}"),
                &format!("ltc deposit for {id}"),
            );
            s.deposit.push((e, dep));
        }
        for k in 0..2u32 {
            let e = (k % c.exchanges) as usize;
            let dep = w.new_utxo_address(
                seed,
                &format!("exchange:{e}"),
                &format!("ltc deposit for launderer account {k}"),
            );
            s.cash_out.push((e, dep));
        }
        s
    }

    /// The finished UTXO plan.
    pub(super) fn finish(&mut self) -> UtxoPlan {
        UtxoPlan {
            setup_blocks: SETUP_BLOCKS,
            faucet: self.faucet.clone(),
            miner: self.miner.clone(),
            blocks: std::mem::take(&mut self.blocks),
        }
    }
}

/// vsize of a P2WPKH tx (upper bound: 72-byte signatures) with an optional OP_RETURN of
/// `memo` bytes.
fn vsize(inputs: usize, outputs: usize, memo: Option<usize>) -> u64 {
    let memo_out = memo.map_or(0, |m| 8 + 1 + 2 + m);
    let base = 4 + 1 + 41 * inputs + 1 + 31 * outputs + memo_out + 4;
    let witness = 2 + 108 * inputs;
    ((4 * base + witness) as u64).div_ceil(4) + 2
}

fn memo_len(m: &Option<Memo>) -> Option<usize> {
    m.as_ref().map(|m| match m {
        Memo::Text { text } => text.len(),
        Memo::Out { .. } => 4 + 64,
    })
}

/// Litoshi for `wei` at `rate` litoshi per ether.
fn to_ltc(wei: u128, rate: u64) -> u64 {
    u64::try_from(mul_div(wei, u128::from(rate), ETHER)).unwrap_or(u64::MAX)
}

/// Wei for `litoshi` at `rate` litoshi per ether.
fn to_wei(litoshi: u64, rate: u64) -> u128 {
    mul_div(u128::from(litoshi), ETHER, u128::from(rate))
}

impl Planner<'_> {
    fn utxo_addr(&mut self, entity: &str, role: &str) -> String {
        self.world.new_utxo_address(self.c.seed, entity, role)
    }

    /// Litoshi per vbyte this tx pays (wallets differ; all above the relay minimum).
    fn fee_rate(&mut self) -> u64 {
        self.rng.u64(20..=60)
    }

    fn ltc_amount(&mut self, around: u64, spread: u32) -> u64 {
        u64::try_from(self.amount(u128::from(around), spread)).unwrap_or(u64::MAX)
    }

    /// Adds a UTXO step: its outputs become spendable when the block is mined.
    fn utxo_push(&mut self, heist: bool, purpose: &str, tx: UtxoTx) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        for (vout, o) in tx.outputs.iter().enumerate() {
            self.u.incoming.push(Coin {
                out: OutRef::Tx {
                    step: id,
                    vout: vout as u32,
                },
                address: o.address.clone(),
                amount: o.amount,
            });
        }
        self.u.current.push(UtxoStep {
            id,
            heist,
            purpose: purpose.to_string(),
            tx,
        });
        id
    }

    /// Closes the current UTXO block, `gap` seconds after the previous block of either chain.
    fn mine_utxo(&mut self, gap: u64) {
        if self.u.current.is_empty() {
            return;
        }
        self.time += gap.max(1);
        for c in std::mem::take(&mut self.u.incoming) {
            self.u.coins.entry(c.address.clone()).or_default().push(c);
        }
        self.u.blocks.push(UtxoBlock {
            time: self.time,
            steps: std::mem::take(&mut self.u.current),
        });
    }

    /// Seconds to the next UTXO block: Litecoin's 2.5-minute blocks, a few of them.
    fn utxo_gap(&mut self, lo: u64, hi: u64) -> u64 {
        150 * self.rng.u64(lo..=hi) + self.rng.u64(0..60)
    }

    fn ltc_balance(&self, who: &str) -> u64 {
        self.u
            .coins
            .get(who)
            .map_or(0, |c| c.iter().map(|c| c.amount).sum())
    }

    /// Takes coins of `who` (largest first) worth at least `need`; none if it holds less.
    fn take_coins(&mut self, who: &str, need: u64) -> Option<Vec<Coin>> {
        let coins = self.u.coins.get_mut(who)?;
        if coins.iter().map(|c| c.amount).sum::<u64>() < need {
            return None;
        }
        coins.sort_by_key(|c| std::cmp::Reverse(c.amount));
        let mut taken = Vec::new();
        let mut sum = 0;
        while sum < need {
            let c = coins.remove(0);
            sum += c.amount;
            taken.push(c);
        }
        Some(taken)
    }

    /// Spends `inputs` to `outs`; what is left after the fee goes to `rest_to` (or to the fee
    /// when below [`MIN_OUTPUT`]). None (coins given back) if the inputs do not cover it.
    #[allow(clippy::too_many_arguments)]
    fn spend(
        &mut self,
        heist: bool,
        purpose: &str,
        inputs: Vec<Coin>,
        mut outs: Vec<UtxoOut>,
        rest_to: &str,
        memo: Option<Memo>,
        link: Option<UtxoLink>,
    ) -> Option<usize> {
        let rate = self.fee_rate();
        let total: u64 = inputs.iter().map(|c| c.amount).sum();
        let paid: u64 = outs.iter().map(|o| o.amount).sum();
        let mut fee = rate * vsize(inputs.len(), outs.len() + 1, memo_len(&memo));
        if total < paid + fee {
            for c in inputs {
                self.u.coins.entry(c.address.clone()).or_default().push(c);
            }
            return None;
        }
        let rest = total - paid - fee;
        if rest >= MIN_OUTPUT {
            outs.push(UtxoOut {
                address: rest_to.to_string(),
                amount: rest,
            });
        } else {
            fee += rest;
        }
        Some(self.utxo_push(
            heist,
            purpose,
            UtxoTx {
                inputs,
                outputs: outs,
                memo,
                fee,
                link,
            },
        ))
    }

    /// Pays `outs` from `from`'s coins, change back to `from`.
    fn pay(
        &mut self,
        heist: bool,
        purpose: &str,
        from: &str,
        outs: Vec<UtxoOut>,
        memo: Option<Memo>,
        link: Option<UtxoLink>,
    ) -> Option<usize> {
        let paid: u64 = outs.iter().map(|o| o.amount).sum();
        // Room for the fee of a largish tx; the change takes what is not needed.
        let need = paid + 60 * vsize(8, outs.len() + 1, memo_len(&memo));
        let inputs = self.take_coins(from, need)?;
        self.spend(heist, purpose, inputs, outs, from, memo, link)
    }

    /// The faucet's coinbases; then the EVM side of the bridge and the vault; then the UTXO
    /// world's funding.
    pub(super) fn utxo_setup(&mut self) {
        let faucet = self.u.faucet.clone();
        let coins = (1..=FAUCET_COINBASES)
            .map(|height| Coin {
                out: OutRef::Coinbase { height },
                address: faucet.clone(),
                amount: SUBSIDY,
            })
            .collect();
        self.u.coins.insert(faucet.clone(), coins);

        // The bridge's operator and the vault get ether; the bridge contract gets liquidity.
        let f = self.faucet.clone();
        let op = self.u.bridge_op.clone();
        let liquidity = self.amount(150 * ETHER, 20);
        for (who, amount) in [
            (op.clone(), liquidity + ETHER),
            (self.u.vault_evm.clone(), self.amount(300 * ETHER, 20)),
        ] {
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
        self.mine(12);
        self.push(
            false,
            "deploy",
            Action::Deploy {
                from: op.clone(),
                contract: ContractKind::Bridge,
            },
        );
        self.mine(12);
        self.push(
            false,
            "bridge liquidity",
            Action::BridgeFund {
                from: op,
                amount: liquidity,
            },
        );
        self.mine(12);

        // The UTXO world: the services' wallets, exchanges' hot wallets, users (batched payouts).
        let mut outs = vec![
            UtxoOut {
                address: self.u.bridge.clone(),
                amount: LIQUIDITY,
            },
            UtxoOut {
                address: self.u.vault.clone(),
                amount: LIQUIDITY,
            },
        ];
        for h in self.u.hot.clone() {
            let amount = self.ltc_amount(300 * LTC, 20);
            outs.push(UtxoOut { address: h, amount });
        }
        for u in self.u.users.clone() {
            let amount = self.ltc_amount(40 * LTC, 40);
            outs.push(UtxoOut { address: u, amount });
        }
        for batch in outs.chunks(8) {
            self.pay(false, "fund", &faucet, batch.to_vec(), None, None);
            let gap = self.utxo_gap(1, 3);
            self.mine_utxo(gap);
        }
    }

    /// A few benign UTXO txs: payments, exchange deposits and withdrawals, sweeps of deposit
    /// addresses into hot wallets.
    pub(super) fn utxo_background(&mut self) {
        self.benign_crossings_utxo();
        let n = self.rng.usize(2..=5);
        for _ in 0..n {
            let i = self.rng.usize(..self.u.users.len());
            let user = self.u.users[i].clone();
            let bal = self.ltc_balance(&user);
            let roll = self.rng.u32(0..100);
            match roll {
                0..=39 if bal > 2 * LTC => {
                    let j = (i + 1 + self.rng.usize(..self.u.users.len() - 1)) % self.u.users.len();
                    let amount = self.ltc_amount(bal / 6, 80);
                    let to = self.u.users[j].clone();
                    let outs = vec![UtxoOut {
                        address: to,
                        amount,
                    }];
                    self.pay(false, "payment", &user, outs, None, None);
                }
                40..=69 if bal > 2 * LTC => {
                    let amount = self.ltc_amount(bal / 4, 60);
                    let to = self.u.deposit[i].1.clone();
                    let outs = vec![UtxoOut {
                        address: to,
                        amount,
                    }];
                    self.pay(false, "exchange deposit", &user, outs, None, None);
                }
                70..=99 => {
                    let hot = self.u.hot[self.u.deposit[i].0].clone();
                    let amount = self.ltc_amount(3 * LTC, 70);
                    let outs = vec![UtxoOut {
                        address: user,
                        amount,
                    }];
                    self.pay(false, "exchange withdrawal", &hot, outs, None, None);
                }
                _ => {}
            }
        }
        // Exchanges sweep their deposit addresses, now and then, in one tx each.
        for e in 0..self.u.hot.len() {
            if self.rng.u32(0..100) >= 40 {
                continue;
            }
            let deposits: Vec<String> = self
                .u
                .deposit
                .iter()
                .chain(self.u.cash_out.iter())
                .filter(|(x, _)| *x == e)
                .map(|(_, a)| a.clone())
                .collect();
            let mut inputs = Vec::new();
            for d in deposits {
                inputs.extend(self.u.coins.remove(&d).unwrap_or_default());
            }
            if inputs.is_empty() {
                continue;
            }
            let hot = self.u.hot[e].clone();
            self.spend(false, "sweep", inputs, vec![], &hot, None, None);
        }
        let gap = self.utxo_gap(1, 6);
        self.mine_utxo(gap);
    }

    /// Whether users' crossings still wait for a payout.
    pub(super) fn crossings_waiting(&self) -> bool {
        !self.u.to_utxo.is_empty() || !self.u.to_evm.is_empty()
    }

    /// Ends users' new crossings (the scenario is closing).
    pub(super) fn close_crossings(&mut self) {
        self.u.closing = true;
    }

    /// EVM side of users' ordinary bridge and swap use: the services pay out what users sent
    /// from the UTXO chain, and now and then a user sends ether over.
    pub(super) fn benign_crossings_evm(&mut self) {
        let rate = self.c.ltc_per_eth;
        for (service, step, litoshi, payee) in std::mem::take(&mut self.u.to_evm) {
            let wei = to_wei(litoshi, rate) / 1000 * 998;
            let (purpose, action) = match service {
                LinkKind::Bridge => (
                    "bridge release",
                    Action::BridgeRelease {
                        from: self.u.bridge_op.clone(),
                        to: payee,
                        amount: wei,
                        source_step: step,
                    },
                ),
                LinkKind::ChainSwap => (
                    "chain-swap payout",
                    Action::SwapPayout {
                        from: self.u.vault_evm.clone(),
                        to: payee,
                        amount: wei.saturating_sub(ETHER / 1000),
                        source_step: step,
                    },
                ),
            };
            self.push(false, purpose, action);
        }
        if self.u.closing || self.rng.u32(0..100) >= 30 {
            return;
        }
        let i = self.rng.usize(..self.users.len());
        let user = self.users[i].clone();
        if self.bal(&user, Asset::Eth) < 3 * ETHER {
            return;
        }
        let amount = self.amount(ETHER, 60);
        let dest = self.u.users[i].clone();
        let (service, purpose, action) = if self.rng.bool() {
            (
                LinkKind::Bridge,
                "bridge lock",
                Action::BridgeLock {
                    from: user,
                    amount,
                    destination: dest.clone(),
                },
            )
        } else {
            (
                LinkKind::ChainSwap,
                "chain-swap deposit",
                Action::SwapDeposit {
                    from: user,
                    vault: self.u.vault_evm.clone(),
                    amount,
                    memo: format!("=:LTC.LTC:{dest}"),
                },
            )
        };
        let step = self.push(false, purpose, action);
        self.u.to_utxo.push((service, step, amount, dest));
    }

    /// UTXO side of users' ordinary bridge and swap use: the services pay out what users
    /// sent from the EVM chain, and now and then a user sends litecoin over.
    fn benign_crossings_utxo(&mut self) {
        let rate = self.c.ltc_per_eth;
        for (service, step, wei, payee) in std::mem::take(&mut self.u.to_utxo) {
            let (wallet, purpose, out) = match service {
                LinkKind::Bridge => (
                    self.u.bridge.clone(),
                    "bridge payout",
                    (to_ltc(wei, rate) / 1000 * 998).saturating_sub(LTC / 1000),
                ),
                LinkKind::ChainSwap => (
                    self.u.vault.clone(),
                    "chain-swap payout",
                    (to_ltc(wei, rate) / 1000 * 995).saturating_sub(2 * LTC / 1000),
                ),
            };
            let paid = self.pay(
                false,
                purpose,
                &wallet,
                vec![UtxoOut {
                    address: payee.clone(),
                    amount: out,
                }],
                Some(Memo::Out { step }),
                Some(UtxoLink::Payout {
                    service,
                    source_step: step,
                }),
            );
            if paid.is_none() {
                // The wallet's coins are all in flight: pay next time.
                self.u.to_utxo.push((service, step, wei, payee));
            }
        }
        if self.u.closing || self.rng.u32(0..100) >= 30 {
            return;
        }
        let i = self.rng.usize(..self.u.users.len());
        let user = self.u.users[i].clone();
        let bal = self.ltc_balance(&user);
        if bal < 4 * LTC {
            return;
        }
        let amount = self.ltc_amount(bal / 8, 50);
        let payee = self.users[i].clone();
        let (service, wallet, memo) = if self.rng.bool() {
            (LinkKind::Bridge, self.u.bridge.clone(), payee.clone())
        } else {
            (
                LinkKind::ChainSwap,
                self.u.vault.clone(),
                format!("=:ETH.ETH:{payee}"),
            )
        };
        let purpose = match service {
            LinkKind::Bridge => "bridge deposit",
            LinkKind::ChainSwap => "chain-swap deposit",
        };
        let step = self.pay(
            false,
            purpose,
            &user,
            vec![UtxoOut {
                address: wallet,
                amount,
            }],
            Some(Memo::Text { text: memo }),
            Some(UtxoLink::Deposit { service }),
        );
        if let Some(step) = step {
            self.u.to_evm.push((service, step, amount, payee));
        }
    }

    /// The heist's cross-chain part: part of two fan-out holders' ether goes over (bridge
    /// lock, chain swap), runs a peel chain and a CoinJoin on the UTXO chain, partly exits to
    /// a privacy chain and an exchange there, and partly comes back over the bridge and the
    /// vault to exchange deposits on the EVM chain.
    pub(super) fn cross_chain(
        &mut self,
        station: &str,
        eth_holders: &mut [(String, u128)],
        cash_out_evm: &[String],
    ) {
        let c = self.c;
        let a = "attacker";
        let rate = c.ltc_per_eth;
        let cap = to_wei(MAX_PAYOUT, rate);
        let bridge = self
            .world
            .contract_address(ContractKind::Bridge)
            .to_string();
        let (bridge_ltc, vault_ltc, vault_evm) = (
            self.u.bridge.clone(),
            self.u.vault.clone(),
            self.u.vault_evm.clone(),
        );

        // Over: a bridge lock and a chain-swap deposit in one block.
        let l0 = self.utxo_addr(a, "bridge payee");
        let l1 = self.utxo_addr(a, "chain-swap payee");
        let share =
            |p: &mut Self, x: u128| (mul_div(x, u128::from(p.rng.u32(35..65)), 100)).min(cap);
        let lock = share(self, eth_holders[0].1);
        let swap = share(self, eth_holders[1].1);
        eth_holders[0].1 -= lock;
        eth_holders[1].1 -= swap;
        let (bridger, swapper) = (eth_holders[0].0.clone(), eth_holders[1].0.clone());
        let lock_step = self.push(
            true,
            "bridge lock",
            Action::BridgeLock {
                from: bridger.clone(),
                amount: lock,
                destination: l0.clone(),
            },
        );
        let swap_step = self.push(
            true,
            "chain-swap deposit",
            Action::SwapDeposit {
                from: swapper.clone(),
                vault: vault_evm.clone(),
                amount: swap,
                memo: format!("=:LTC.LTC:{l1}"),
            },
        );
        let gap = self.gap_blocks(1, 5);
        self.mine(gap);

        // The services pay out on the UTXO chain ten to thirty minutes later.
        let out0 = (to_ltc(lock, rate) / 1000 * 998).saturating_sub(LTC / 1000);
        let out1 = (to_ltc(swap, rate) / 1000 * 995).saturating_sub(2 * LTC / 1000);
        let pay0 = self.pay(
            true,
            "bridge payout",
            &bridge_ltc,
            vec![UtxoOut {
                address: l0.clone(),
                amount: out0,
            }],
            Some(Memo::Out { step: lock_step }),
            Some(UtxoLink::Payout {
                service: LinkKind::Bridge,
                source_step: lock_step,
            }),
        );
        let pay1 = self.pay(
            true,
            "chain-swap payout",
            &vault_ltc,
            vec![UtxoOut {
                address: l1.clone(),
                amount: out1,
            }],
            Some(Memo::Out { step: swap_step }),
            Some(UtxoLink::Payout {
                service: LinkKind::ChainSwap,
                source_step: swap_step,
            }),
        );
        let gap = self.utxo_gap(4, 12);
        self.mine_utxo(gap);
        self.patterns.push(Pattern {
            kind: "bridge_hop".into(),
            addresses: vec![bridger, bridge.clone(), bridge_ltc.clone(), l0.clone()],
            steps: [Some(lock_step), pay0].into_iter().flatten().collect(),
        });
        self.patterns.push(Pattern {
            kind: "chain_swap".into(),
            addresses: vec![swapper, vault_evm.clone(), vault_ltc.clone(), l1.clone()],
            steps: [Some(swap_step), pay1].into_iter().flatten().collect(),
        });

        // Peel chain: each hop pays a slice to an exchange deposit and passes the rest on.
        let mut holder = l0;
        let mut chain_addrs = vec![holder.clone()];
        let mut chain_steps = Vec::new();
        for hop in 0..c.utxo_hops {
            let Some(inputs) = self.u.coins.remove(&holder) else {
                break;
            };
            let total: u64 = inputs.iter().map(|c| c.amount).sum();
            let pct = u64::from(self.rng.u32(3..12));
            let peel = self.ltc_amount(total / 100 * pct, 10);
            let k = self.rng.usize(..self.u.cash_out.len());
            let to = self.u.cash_out[k].1.clone();
            let next = self.utxo_addr(a, &format!("ltc peel hop {hop}"));
            let outs = vec![UtxoOut {
                address: to.clone(),
                amount: peel,
            }];
            if let Some(step) = self.spend(true, "peel", inputs, outs, &next, None, None) {
                chain_steps.push(step);
                chain_addrs.push(next.clone());
                holder = next;
            }
            let gap = self.utxo_gap(1, 8);
            self.mine_utxo(gap);
        }
        self.patterns.push(Pattern {
            kind: "peel_chain".into(),
            addresses: chain_addrs,
            steps: chain_steps,
        });

        // Payees of the way back to the EVM chain, with gas first.
        let r0 = self.addr(a, "bridge release payee");
        let r1 = self.addr(a, "chain-swap payee");
        for who in [&r0, &r1] {
            let amount = self.amount(super::GAS_MONEY / 3, 40);
            self.push(
                true,
                "gas",
                Action::Eth {
                    from: station.to_string(),
                    to: who.clone(),
                    amount,
                },
            );
        }
        let gap = self.gap_blocks(1, 4);
        self.mine(gap);

        // A fifth to a third of the chain's end goes straight back over the bridge (the memo
        // names the EVM payee); the rest waits for a CoinJoin.
        let mut back = Vec::new();
        let pre_join = self.utxo_addr(a, "coinjoin input");
        if let Some(inputs) = self.u.coins.remove(&holder) {
            let total: u64 = inputs.iter().map(|c| c.amount).sum();
            let pct = u64::from(self.rng.u32(20..34));
            let amount = self.ltc_amount(total / 100 * pct, 10);
            let outs = vec![UtxoOut {
                address: bridge_ltc.clone(),
                amount,
            }];
            let memo = Some(Memo::Text { text: r0.clone() });
            let link = Some(UtxoLink::Deposit {
                service: LinkKind::Bridge,
            });
            if let Some(step) =
                self.spend(true, "bridge deposit", inputs, outs, &pre_join, memo, link)
            {
                back.push((
                    LinkKind::Bridge,
                    step,
                    amount,
                    holder.clone(),
                    bridge_ltc.clone(),
                    r0.clone(),
                ));
            }
            let gap = self.utxo_gap(1, 4);
            self.mine_utxo(gap);
        }

        // CoinJoin: the launderer and a few users, equal outputs plus change.
        let launder_in = self.u.coins.remove(&pre_join).unwrap_or_default();
        let outs = self.coinjoin(launder_in);

        // The launderer's equal outputs: one to the privacy exit, one back through the vault,
        // the rest to an exchange deposit on the UTXO chain.
        let mut outs = outs.into_iter();
        let exit = self.u.exit.clone();
        let mut exit_steps = Vec::new();
        if let Some(coin) = outs.next() {
            let step = self.spend(true, "privacy exit", vec![coin], vec![], &exit, None, None);
            exit_steps.extend(step);
        }
        for (service, to_ltc_addr, payee) in [(LinkKind::ChainSwap, vault_ltc.clone(), r1.clone())]
        {
            let Some(coin) = outs.next() else { break };
            let memo = match service {
                LinkKind::Bridge => payee.clone(),
                LinkKind::ChainSwap => format!("=:ETH.ETH:{payee}"),
            };
            let fee = 60 * vsize(1, 2, Some(memo.len()));
            let amount = coin.amount - fee;
            let from = coin.address.clone();
            if let Some(step) = self.spend(
                true,
                match service {
                    LinkKind::Bridge => "bridge deposit",
                    LinkKind::ChainSwap => "chain-swap deposit",
                },
                vec![coin],
                vec![UtxoOut {
                    address: to_ltc_addr.clone(),
                    amount,
                }],
                &from,
                Some(Memo::Text { text: memo }),
                Some(UtxoLink::Deposit { service }),
            ) {
                back.push((service, step, amount, from, to_ltc_addr, payee));
            }
        }
        let rest: Vec<Coin> = outs.collect();
        if !rest.is_empty() {
            let to = self.u.cash_out[0].1.clone();
            self.spend(true, "cash out", rest, vec![], &to, None, None);
        }
        // The vault payout's coins: part to the privacy exit, the rest to an exchange.
        if let Some(inputs) = self.u.coins.remove(&l1) {
            let total: u64 = inputs.iter().map(|c| c.amount).sum();
            let part = self.ltc_amount(total / 100 * 45, 10);
            let to = self.u.cash_out[self.u.cash_out.len() - 1].1.clone();
            let outs = vec![UtxoOut {
                address: exit.clone(),
                amount: part,
            }];
            exit_steps.extend(self.spend(true, "privacy exit", inputs, outs, &to, None, None));
        }
        let gap = self.utxo_gap(2, 10);
        self.mine_utxo(gap);
        self.patterns.push(Pattern {
            kind: "privacy_exit".into(),
            addresses: vec![exit],
            steps: exit_steps,
        });

        // Back on the EVM chain: the bridge releases, the vault pays out; then exchange deposits.
        let mut payees = Vec::new();
        for (service, step, amount, from, holder_ltc, payee) in back {
            let wei = to_wei(amount, rate) / 1000 * 998;
            let (action, kind, holder_evm) = match service {
                LinkKind::Bridge => (
                    Action::BridgeRelease {
                        from: self.u.bridge_op.clone(),
                        to: payee.clone(),
                        amount: wei,
                        source_step: step,
                    },
                    "bridge_hop",
                    bridge.clone(),
                ),
                LinkKind::ChainSwap => (
                    Action::SwapPayout {
                        from: vault_evm.clone(),
                        to: payee.clone(),
                        amount: wei.saturating_sub(ETHER / 1000),
                        source_step: step,
                    },
                    "chain_swap",
                    vault_evm.clone(),
                ),
            };
            let purpose = match service {
                LinkKind::Bridge => "bridge release",
                LinkKind::ChainSwap => "chain-swap payout",
            };
            let out = self.push(true, purpose, action);
            self.patterns.push(Pattern {
                kind: kind.into(),
                addresses: vec![from, holder_ltc, holder_evm, payee.clone()],
                steps: vec![step, out],
            });
            payees.push(payee);
        }
        let gap = self.gap_blocks(2, 10);
        self.mine(gap);
        for (k, payee) in payees.into_iter().enumerate() {
            let amount = self.bal(&payee, Asset::Eth);
            let stolen_part = amount.saturating_sub(super::GAS_MONEY);
            if stolen_part == 0 {
                continue;
            }
            self.push(
                true,
                "cash out",
                Action::Eth {
                    from: payee,
                    to: cash_out_evm[k % cash_out_evm.len()].clone(),
                    amount: stolen_part,
                },
            );
        }
        let gap = self.gap_blocks(5, 30);
        self.mine(gap);
    }

    /// Plans a CoinJoin of the launderer's `inputs` with `coinjoin_peers` users; returns the
    /// launderer's equal outputs (as coins, spendable after the next UTXO block).
    fn coinjoin(&mut self, launder_in: Vec<Coin>) -> Vec<Coin> {
        let a = "attacker";
        let total: u64 = launder_in.iter().map(|c| c.amount).sum();
        if total == 0 {
            return Vec::new();
        }
        // Peers: users with a coin of their own, each bringing their largest one.
        let mut order: Vec<usize> = (0..self.u.users.len()).collect();
        self.rng.shuffle(&mut order);
        let mut peers: Vec<(usize, Coin)> = Vec::new();
        for i in order {
            if peers.len() == self.c.coinjoin_peers as usize {
                break;
            }
            let user = self.u.users[i].clone();
            let Some(coins) = self.u.coins.get_mut(&user) else {
                continue;
            };
            coins.sort_by_key(|c| c.amount);
            if let Some(c) = coins.pop() {
                peers.push((i, c));
            }
        }
        // The pool's denomination: the largest standard one every peer can afford.
        let smallest = peers.iter().map(|p| p.1.amount).min().unwrap_or(0);
        let d = [25 * LTC, 10 * LTC, 5 * LTC, 2 * LTC, LTC, LTC / 10]
            .into_iter()
            .find(|d| *d + LTC / 100 <= smallest && *d <= total / 3)
            .unwrap_or(LTC / 10);
        // Who gets how many equal outputs, and what change.
        let mut inputs: Vec<Coin> = launder_in.clone();
        let mut equal: Vec<(String, bool)> = Vec::new();
        let mut change: Vec<UtxoOut> = Vec::new();
        let mut n_launder = (total / d).clamp(1, 8);
        if n_launder > 1 && total - n_launder * d < LTC / 100 {
            n_launder -= 1;
        }
        for k in 0..n_launder {
            let addr = self.utxo_addr(a, &format!("coinjoin output {k}"));
            equal.push((addr, true));
        }
        let mut parties: Vec<(u64, u64, String)> =
            vec![(total, n_launder, self.utxo_addr(a, "coinjoin change"))];
        for (i, coin) in peers {
            let n = (coin.amount / d).clamp(1, 2);
            let n = if n * d + LTC / 100 > coin.amount {
                1
            } else {
                n
            };
            let id = format!("user:{i}");
            for k in 0..n {
                let addr = self.utxo_addr(&id, &format!("coinjoin output {k}"));
                equal.push((addr, false));
            }
            parties.push((coin.amount, n, self.u.users[i].clone()));
            inputs.push(coin);
        }
        let rate = self.fee_rate();
        let fee = rate * vsize(inputs.len(), equal.len() + parties.len(), None);
        let share = fee / parties.len() as u64 + 1;
        let mut fee_paid = 0;
        for (amount, n, back_to) in &parties {
            let rest = amount.saturating_sub(n * d + share);
            if rest >= MIN_OUTPUT {
                change.push(UtxoOut {
                    address: back_to.clone(),
                    amount: rest,
                });
                fee_paid += share;
            } else {
                fee_paid += amount - n * d;
            }
        }
        self.rng.shuffle(&mut inputs);
        self.rng.shuffle(&mut equal);
        self.rng.shuffle(&mut change);
        let mut outputs: Vec<UtxoOut> = equal
            .iter()
            .map(|(address, _)| UtxoOut {
                address: address.clone(),
                amount: d,
            })
            .collect();
        outputs.extend(change);
        let addrs: Vec<String> = inputs
            .iter()
            .map(|c| c.address.clone())
            .chain(outputs.iter().map(|o| o.address.clone()))
            .collect();
        let step = self.utxo_push(
            true,
            "coinjoin",
            UtxoTx {
                inputs,
                outputs,
                memo: None,
                fee: fee_paid,
                link: None,
            },
        );
        self.patterns.push(Pattern {
            kind: "coinjoin".into(),
            addresses: addrs,
            steps: vec![step],
        });
        let gap = self.utxo_gap(2, 8);
        self.mine_utxo(gap);
        // The launderer's equal outputs, now confirmed, leave the launderer's coin lists.
        let mut mine = Vec::new();
        for (vout, (address, launderer)) in equal.into_iter().enumerate() {
            if launderer && let Some(coins) = self.u.coins.get_mut(&address) {
                coins.retain(|c| {
                    c.out
                        != OutRef::Tx {
                            step,
                            vout: vout as u32,
                        }
                });
                mine.push(Coin {
                    out: OutRef::Tx {
                        step,
                        vout: vout as u32,
                    },
                    address,
                    amount: d,
                });
            }
        }
        mine
    }
}
