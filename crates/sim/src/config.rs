//! The scenario config: how big the world is, what the victim holds, what is stolen and how the
//! playbook launders it. Read from JSON (every field has a default), checked by
//! [`Config::validate`] before anything is planned or sent: impossible configs fail there with
//! an error naming the field.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, SimError};

/// One ether in wei.
pub const ETHER: u128 = 1_000_000_000_000_000_000;
/// One stablecoin unit (6 decimals) in base units.
pub const DOLLAR: u128 = 1_000_000;
/// One litecoin in litoshi.
pub const LTC: u64 = 100_000_000;

/// A scenario. Amounts are integers in base units (wei; stablecoin units of 10⁻⁶).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Seed of every random choice: same seed and config, same plan.
    pub seed: u64,
    /// The EVM chain the scenario is played on: `anvil` / `31337` (the only one so far).
    pub chain: String,
    /// Ordinary users (each also a customer of one exchange).
    pub users: u32,
    /// Exchanges (each a hot wallet plus one deposit address per customer).
    pub exchanges: u32,
    /// Background steps before the heist (each a block of a few benign txs).
    pub background_blocks: u32,
    /// Ether the victim's hot wallet holds before the heist.
    pub victim_eth: u128,
    /// Stablecoin the victim's hot wallet holds before the heist.
    pub victim_token: u128,
    /// Ether stolen.
    pub stolen_eth: u128,
    /// Stablecoin stolen.
    pub stolen_token: u128,
    /// Fresh addresses the loot is fanned out to.
    pub fan_out: u32,
    /// Share (per cent) of the stablecoin fan-out addresses that swap to ether on the DEX; the
    /// others consolidate their tokens into one address (freezable by the issuer).
    pub swap_percent: u32,
    /// Mixer denominations in wei, ascending.
    pub mixer_denominations: Vec<u128>,
    /// Share (per cent) of the mixer notes the launderer never withdraws (dark).
    pub dark_percent: u32,
    /// Consolidation addresses (fan-in targets).
    pub consolidators: u32,
    /// Hops of each consolidator's peel chain before its last deposit.
    pub hops: u32,
    /// Ether in the DEX pool at the start.
    pub pool_eth: u128,
    /// Stablecoin in the DEX pool at the start.
    pub pool_token: u128,
    /// Whether the scenario has its UTXO side (a litecoind -regtest beside the anvil): users and
    /// exchanges there, the bridge, the chain-swap vault, peel chains, a CoinJoin, a privacy
    /// exit. Off, the scenario is the EVM half alone.
    pub utxo: bool,
    /// The UTXO chain the bridge and the swap vault reach: `litecoin-regtest` (the only one
    /// so far).
    pub utxo_chain: String,
    /// The exchange rate bridges and vaults quote: litoshi per ether.
    pub ltc_per_eth: u64,
    /// Hops of the UTXO-side peel chain.
    pub utxo_hops: u32,
    /// Users who join the launderer's CoinJoin.
    pub coinjoin_peers: u32,
}

impl Default for Config {
    /// A small world: a few minutes on anvil, a few hundred txs.
    fn default() -> Config {
        Config {
            seed: 1,
            chain: "anvil".into(),
            users: 12,
            exchanges: 2,
            background_blocks: 20,
            victim_eth: 420 * ETHER,
            victim_token: 2_500_000 * DOLLAR,
            stolen_eth: 311_734_185_220_000_000_000,
            stolen_token: 1_873_412_550_000,
            fan_out: 24,
            swap_percent: 75,
            mixer_denominations: vec![ETHER, 10 * ETHER, 100 * ETHER],
            dark_percent: 25,
            consolidators: 3,
            hops: 4,
            pool_eth: 3_000 * ETHER,
            pool_token: 9_000_000 * DOLLAR,
            utxo: true,
            utxo_chain: "litecoin-regtest".into(),
            ltc_per_eth: 3_417_265_113,
            utxo_hops: 4,
            coinjoin_peers: 4,
        }
    }
}

/// Most of anything the config asks for (keeps a typo from planning a billion txs).
const MAX_COUNT: u32 = 10_000;
/// Most users a scenario with a UTXO side funds: the regtest chain's supply before MWEB
/// activates (height 432) bounds what the world can hold there.
pub const MAX_UTXO_USERS: u32 = 30;

impl Config {
    /// Reads a JSON config (missing fields take their defaults) and validates it.
    pub fn from_json_file(path: &Path) -> Result<Config> {
        let err = |detail: String| SimError::ConfigFile {
            path: path.to_path_buf(),
            detail,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let config: Config = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The chain id the config names.
    pub fn chain_id(&self) -> Result<u64> {
        match self.chain.as_str() {
            "anvil" | "31337" => Ok(31337),
            other => Err(SimError::Config(format!(
                "unknown chain {other:?}: the simulator plays on anvil (\"anvil\" or \"31337\")"
            ))),
        }
    }

    /// Rejects impossible configs with an error naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(SimError::Config(m));
        self.chain_id()?;
        for (name, value, min) in [
            ("users", self.users, 2),
            ("exchanges", self.exchanges, 1),
            ("fan_out", self.fan_out, 2),
            ("consolidators", self.consolidators, 1),
        ] {
            if value < min {
                return bad(format!("{name} is {value}: at least {min} needed"));
            }
            if value > MAX_COUNT {
                return bad(format!("{name} is {value}: at most {MAX_COUNT}"));
            }
        }
        if self.hops > 64 || self.background_blocks > MAX_COUNT {
            return bad("hops (≤ 64) or background_blocks (≤ 10000) too large".into());
        }
        if self.stolen_eth == 0 && self.stolen_token == 0 {
            return bad("nothing is stolen: stolen_eth and stolen_token are both 0".into());
        }
        if self.stolen_eth > self.victim_eth {
            return bad(format!(
                "stolen_eth {} wei is more than the victim holds (victim_eth {} wei)",
                self.stolen_eth, self.victim_eth
            ));
        }
        if self.stolen_token > self.victim_token {
            return bad(format!(
                "stolen_token {} is more than the victim holds (victim_token {})",
                self.stolen_token, self.victim_token
            ));
        }
        if self.swap_percent > 100 || self.dark_percent > 100 {
            return bad("swap_percent and dark_percent are per cent (0 to 100)".into());
        }
        if self.mixer_denominations.is_empty()
            || self.mixer_denominations.contains(&0)
            || !self.mixer_denominations.is_sorted_by(|a, b| a < b)
        {
            return bad(format!(
                "mixer_denominations {:?} must be non-zero and strictly ascending",
                self.mixer_denominations
            ));
        }
        // Each fan-out address must get a real share of what it carries.
        let eth_slots = u128::from(self.fan_out).div_ceil(2);
        if self.stolen_eth > 0 && self.stolen_eth < eth_slots * 1_000_000_000_000 {
            return bad(format!(
                "stolen_eth {} wei is too small to fan out to {eth_slots} addresses",
                self.stolen_eth
            ));
        }
        if self.stolen_token > 0 && self.stolen_token < eth_slots * 1_000 {
            return bad(format!(
                "stolen_token {} is too small to fan out",
                self.stolen_token
            ));
        }
        if self.utxo {
            if self.utxo_chain != "litecoin-regtest" {
                return bad(format!(
                    "utxo_chain {:?}: the bridge and the swap vault reach an unknown chain (the simulator's UTXO side plays on \"litecoin-regtest\")",
                    self.utxo_chain
                ));
            }
            if self.users > MAX_UTXO_USERS {
                return bad(format!(
                    "users is {}: at most {MAX_UTXO_USERS} with the UTXO side on (utxo: true)",
                    self.users
                ));
            }
            if self.stolen_eth == 0 || eth_slots < 3 {
                return bad(
                    "the UTXO side bridges stolen ether: it needs stolen_eth above 0 and fan_out ≥ 5"
                        .into(),
                );
            }
            if !(1_000_000..=1_000_000_000_000).contains(&self.ltc_per_eth) {
                return bad(format!(
                    "ltc_per_eth is {} litoshi per ether: between 10⁶ and 10¹² expected",
                    self.ltc_per_eth
                ));
            }
            if self.utxo_hops > 32 {
                return bad(format!("utxo_hops is {}: at most 32", self.utxo_hops));
            }
            if self.coinjoin_peers < 1 || self.coinjoin_peers >= self.users {
                return bad(format!(
                    "coinjoin_peers is {}: at least 1 and fewer than users ({})",
                    self.coinjoin_peers, self.users
                ));
            }
        }
        if self.pool_eth == 0 || self.pool_token == 0 {
            return bad("the DEX pool needs pool_eth and pool_token above 0".into());
        }
        // Every amount the world funds must fit the faucet with room for gas.
        let needed = [self.victim_eth, self.pool_eth]
            .into_iter()
            .try_fold(0u128, u128::checked_add)
            .and_then(|x| x.checked_add(ETHER * u128::from(self.users + self.exchanges) * 10));
        if needed.is_none_or(|n| n > 1_000_000_000 * ETHER) {
            return bad("victim_eth + pool_eth too large (at most 10⁹ ether in all)".into());
        }
        if self
            .victim_token
            .checked_add(self.pool_token)
            .is_none_or(|t| t > u128::from(u64::MAX) * DOLLAR)
        {
            return bad("victim_token + pool_token too large".into());
        }
        Ok(())
    }
}
