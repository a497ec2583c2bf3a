//! The services whose links tracehound decodes, beyond the built-in ones (Uniswap V2/V3
//! pools and forks, WETH-style wrappers, THORChain-style memos): a data file
//! (`links.toml`), so that a new bridge, vault or mixer is a config entry, not code.
//!
//! Each entry names the service, the chain and address(es) it lives at, and — for EVM
//! contracts — its event signatures in Solidity's human-readable form with the role of each
//! field, so any contract with the same shape decodes without new code.

use serde::{Deserialize, Serialize};

use super::LinkKind;

/// Every configured service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkConfig {
    /// Bridges (lock/burn on one chain, mint/release on another).
    #[serde(default, rename = "bridge")]
    pub bridges: Vec<BridgeConfig>,
    /// Memo-routed vaults (THORChain style) on any chain.
    #[serde(default, rename = "vault")]
    pub vaults: Vec<VaultConfig>,
    /// Mixers (Tornado-style pools).
    #[serde(default, rename = "mixer")]
    pub mixers: Vec<MixerConfig>,
    /// Swap events of pools whose ABI differs from Uniswap's (forks with the same ABI need no
    /// entry).
    #[serde(default, rename = "swap")]
    pub swaps: Vec<SwapConfig>,
}

/// A place a service lives: a chain (tracehound name, e.g. `evm-1`, `litecoin-regtest`) and
/// an address there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Place {
    /// tracehound chain name.
    pub chain: String,
    /// Address (contract, vault or wallet).
    pub address: String,
}

/// An EVM event and the role of its fields (field names as in the signature).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventConfig {
    /// Solidity signature, e.g. `Locked(address indexed from, uint256 amount, string
    /// destination)`.
    pub signature: String,
    /// Field holding the amount (absent: the native value the tx moved to/from the contract).
    #[serde(default)]
    pub amount: Option<String>,
    /// Field naming the payee (entries: the destination on the far side; exits: the
    /// recipient).
    #[serde(default)]
    pub party: Option<String>,
    /// Field holding the service's id of a deposit (entries) or the reference to it (exits):
    /// a nonce, a commitment, a source tx hash.
    #[serde(default)]
    pub id: Option<String>,
    /// Field naming a relayer (mixer withdrawals).
    #[serde(default)]
    pub relayer: Option<String>,
}

/// A bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    /// Name (`wormhole`, `sim-bridge`).
    pub name: String,
    /// Its EVM contracts.
    #[serde(default)]
    pub contracts: Vec<Place>,
    /// Lock/burn events: entries.
    #[serde(default)]
    pub lock: Vec<EventConfig>,
    /// Release/mint events: exits.
    #[serde(default)]
    pub release: Vec<EventConfig>,
    /// Its wallets on UTXO chains: a deposit to one is an entry (its `OP_RETURN` memo names
    /// the destination), a payment from one is an exit (an `OUT:<tx>` memo names the entry).
    #[serde(default)]
    pub wallets: Vec<Place>,
    /// Largest fee the bridge keeps, per mille of the amount, for matching without ids.
    #[serde(default = "default_fee")]
    pub max_fee_permille: u32,
    /// Longest time from entry to exit, seconds, for matching without ids.
    #[serde(default = "default_window")]
    pub window_seconds: u64,
    /// Whether exits may be matched without ids (by destination, amount and time), with a
    /// lower confidence.
    #[serde(default = "yes")]
    pub heuristic: bool,
}

/// A memo-routed vault service (THORChain style).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultConfig {
    /// Name (`thorchain`, `sim-chainswap`).
    pub name: String,
    /// Its vault addresses on each chain (EVM EOAs or routers, UTXO wallets).
    pub vaults: Vec<Place>,
    /// Longest time from inbound to outbound, seconds.
    #[serde(default = "default_window")]
    pub window_seconds: u64,
}

/// A mixer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixerConfig {
    /// Name (`tornado-eth`, `sim-mixer`).
    pub name: String,
    /// Its pool contracts.
    pub contracts: Vec<Place>,
    /// Deposit events.
    pub deposit: Vec<EventConfig>,
    /// Withdrawal events.
    pub withdrawal: Vec<EventConfig>,
}

/// A pool's swap event with a non-Uniswap ABI. The legs are read from the tx's transfers
/// (the pool's net flows with the swapper); the event marks the pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwapConfig {
    /// Name (`sim-pool`).
    pub name: String,
    /// Solidity signature of the event.
    pub signature: String,
    /// Pools emitting it (empty: any contract emitting it).
    #[serde(default)]
    pub contracts: Vec<Place>,
}

fn default_fee() -> u32 {
    10
}

fn default_window() -> u64 {
    3 * 24 * 3600
}

fn yes() -> bool {
    true
}

impl LinkConfig {
    /// The UTXO wallets and vaults on `chain`: (address, service, kind).
    pub fn utxo_services(&self, chain: &str) -> Vec<(String, String, LinkKind)> {
        let mut out = Vec::new();
        for b in &self.bridges {
            for w in b.wallets.iter().filter(|w| w.chain == chain) {
                out.push((w.address.clone(), b.name.clone(), LinkKind::Bridge));
            }
        }
        for v in &self.vaults {
            for w in v.vaults.iter().filter(|w| w.chain == chain) {
                out.push((w.address.clone(), v.name.clone(), LinkKind::ChainSwap));
            }
        }
        out
    }
}
