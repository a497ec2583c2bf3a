//! The simulator's services as a link config (`links.toml`, written next to `truth.json` and
//! `labels.csv`): the pool's `Swap` event, the mixer's and the bridge's events with the role
//! of each field, the bridge's UTXO wallet and the chain-swap vault's addresses on both chains.
//! Ingesting a played scenario with it gives the link facts the ground truth's `links` can be
//! checked against.

use tracehound_core::link::{
    BridgeConfig, EventConfig, LinkConfig, MixerConfig, Place, SwapConfig, VaultConfig,
};

use std::collections::BTreeMap;

use crate::truth::GroundTruth;
use crate::world::{AddressInfo, ContractKind, UTXO_CHAIN, World};

/// The pool's event (Sim.sol `Pool`).
pub const POOL_SWAP: &str =
    "Swap(address indexed who, uint256 tokenIn, uint256 ethIn, uint256 tokenOut, uint256 ethOut)";
/// The mixer's deposit (Sim.sol `Mixer`).
pub const MIXER_DEPOSIT: &str =
    "Deposit(bytes32 indexed commitment, uint256 denomination, uint256 timestamp)";
/// The mixer's withdrawal.
pub const MIXER_WITHDRAWAL: &str =
    "Withdrawal(address to, bytes32 nullifierHash, uint256 denomination)";
/// The bridge's lock (Sim.sol `Bridge`).
pub const BRIDGE_LOCKED: &str = "Locked(address indexed from, uint256 amount, string destination)";
/// The bridge's release, naming the UTXO deposit it pays for.
pub const BRIDGE_RELEASED: &str = "Released(address indexed to, uint256 amount, bytes32 sourceTx)";

fn event(signature: &str) -> EventConfig {
    EventConfig {
        signature: signature.into(),
        amount: None,
        party: None,
        id: None,
        relayer: None,
    }
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

/// The link config of a played scenario's world.
pub fn link_config(truth: &GroundTruth) -> LinkConfig {
    config_of(
        (truth.chain_id != 0).then(|| format!("evm-{}", truth.chain_id)),
        truth.utxo_chain.as_deref(),
        &truth.contracts,
        &truth.addresses,
    )
}

/// The link config of a planned world (before it is played): the EVM side on `evm_chain`.
pub fn world_link_config(world: &World, evm_chain: &str) -> LinkConfig {
    let addresses: Vec<AddressInfo> = world.addresses.values().cloned().collect();
    config_of(
        Some(evm_chain.to_string()),
        None,
        &world.contracts,
        &addresses,
    )
}

fn config_of(
    evm_chain: Option<String>,
    utxo_chain: Option<&str>,
    contracts: &BTreeMap<ContractKind, String>,
    addresses: &[AddressInfo],
) -> LinkConfig {
    let utxo_chain = utxo_chain.map_or_else(|| UTXO_CHAIN.to_string(), str::to_string);
    let contract = |kind: ContractKind| -> Vec<Place> {
        match (&evm_chain, contracts.get(&kind)) {
            (Some(chain), Some(address)) => vec![Place {
                chain: chain.clone(),
                address: address.clone(),
            }],
            _ => Vec::new(),
        }
    };
    let places = |entity: &str, role: &str| -> Vec<Place> {
        addresses
            .iter()
            .filter(|a: &&AddressInfo| a.entity == entity && a.role == role)
            .filter(|a| evm_chain.as_deref() == Some(a.chain.as_str()) || a.chain == utxo_chain)
            .map(|a| Place {
                chain: a.chain.clone(),
                address: a.address.clone(),
            })
            .collect()
    };
    let mut config = LinkConfig::default();
    let pool = contract(ContractKind::Pool);
    if !pool.is_empty() {
        config.swaps.push(SwapConfig {
            name: "sim-pool".into(),
            signature: POOL_SWAP.into(),
            contracts: pool,
        });
    }
    let mixer = contract(ContractKind::Mixer);
    if !mixer.is_empty() {
        config.mixers.push(MixerConfig {
            name: "sim-mixer".into(),
            contracts: mixer,
            deposit: vec![EventConfig {
                amount: some("denomination"),
                id: some("commitment"),
                ..event(MIXER_DEPOSIT)
            }],
            withdrawal: vec![EventConfig {
                amount: some("denomination"),
                party: some("to"),
                ..event(MIXER_WITHDRAWAL)
            }],
        });
    }
    let bridge = contract(ContractKind::Bridge);
    let wallets = places("bridge", "bridge wallet");
    if !bridge.is_empty() || !wallets.is_empty() {
        config.bridges.push(BridgeConfig {
            name: "sim-bridge".into(),
            lock: if bridge.is_empty() {
                Vec::new()
            } else {
                vec![EventConfig {
                    amount: some("amount"),
                    party: some("destination"),
                    ..event(BRIDGE_LOCKED)
                }]
            },
            release: if bridge.is_empty() {
                Vec::new()
            } else {
                vec![EventConfig {
                    amount: some("amount"),
                    party: some("to"),
                    id: some("sourceTx"),
                    ..event(BRIDGE_RELEASED)
                }]
            },
            contracts: bridge,
            wallets,
            max_fee_permille: 0,
            window_seconds: 3 * 24 * 3600,
            heuristic: true,
            converts: true,
        });
    }
    let vaults = places("swap-vault", "vault");
    if !vaults.is_empty() {
        config.vaults.push(VaultConfig {
            name: "sim-chainswap".into(),
            vaults,
            routers: Vec::new(),
            window_seconds: 3 * 24 * 3600,
        });
    }
    config
}

/// [`link_config`] as the text of a `links.toml`.
pub fn links_toml(truth: &GroundTruth) -> String {
    let body = toml::to_string_pretty(&link_config(truth)).unwrap_or_default();
    format!(
        "# The simulator's link services (tracehound sim, seed {}): pass to `tracehound ingest \
         evm|btc --links`.\n\n{body}",
        truth.seed
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Scenario};

    #[test]
    fn the_worlds_services_make_a_valid_config() {
        let plan = Scenario::plan(&Config::default()).unwrap();
        let config = world_link_config(&plan.world, crate::world::EVM_CHAIN);
        let text = toml::to_string_pretty(&config).unwrap();
        let back = LinkConfig::from_toml(&text, "links.toml").unwrap();
        assert_eq!(back, config);
        tracehound_evm::links::validate(&config, "links.toml").unwrap();
        assert_eq!(config.swaps.len(), 1);
        assert_eq!(config.mixers.len(), 1);
        let bridge = &config.bridges[0];
        assert_eq!(bridge.contracts.len(), 1);
        assert_eq!(
            bridge
                .wallets
                .iter()
                .map(|w| w.chain.as_str())
                .collect::<Vec<_>>(),
            vec!["litecoin-regtest"]
        );
        let mut vault_chains: Vec<&str> = config.vaults[0]
            .vaults
            .iter()
            .map(|v| v.chain.as_str())
            .collect();
        vault_chains.sort_unstable();
        assert_eq!(vault_chains, vec!["evm-31337", "litecoin-regtest"]);
    }
}
