//! Who is who: the entities of a scenario (users, exchanges, the victim, the launderer, the
//! stablecoin issuer, the DEX, the mixer, the bridge, the chain-swap vault, the privacy exit),
//! the addresses each one controls on either chain, and the contracts. Addresses are derived
//! from the seed (keccak of seed, role and index), so a plan names every address before
//! anything is deployed; contract addresses follow from their deployer's nonce 0. A UTXO
//! address is the P2WPKH address of a secp256k1 key derived the same way, kept (not
//! serialised) so the player can sign.

use std::collections::BTreeMap;

use std::sync::OnceLock;

use alloy::primitives::{Address, keccak256};
use bitcoin::secp256k1::{All, PublicKey, Secp256k1, SecretKey};
use serde::{Deserialize, Serialize};
use tracehound_core::Chain;

/// The tracehound chain name of the EVM side's addresses.
pub const EVM_CHAIN: &str = "evm-31337";
/// The UTXO chain the simulator plays on.
pub const UTXO_CHAIN: Chain = Chain::LitecoinRegtest;

/// One signing context for the process (building one takes a while).
pub(crate) fn secp() -> &'static Secp256k1<All> {
    static CTX: OnceLock<Secp256k1<All>> = OnceLock::new();
    CTX.get_or_init(Secp256k1::new)
}

/// What kind of actor an entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// Funds the world at the start (stands for everything before the scenario).
    Faucet,
    /// An ordinary user.
    User,
    /// A centralised exchange: hot wallet and per-customer deposit addresses.
    Exchange,
    /// The hacked service (its hot wallet is drained).
    Victim,
    /// The thief and launderer.
    Attacker,
    /// The stablecoin issuer (can freeze).
    Issuer,
    /// The DEX (pool contract and its operator).
    Dex,
    /// The mixer (contract and its relayer).
    Mixer,
    /// A liquidity provider of the DEX pool.
    MarketMaker,
    /// The lock/mint bridge between the EVM chain and the UTXO chain (contract, operator, UTXO
    /// wallet).
    Bridge,
    /// A THORChain-style cross-chain swap: vaults on both chains, memo-routed.
    SwapVault,
    /// An exit to a privacy chain (an instant-swap service to a shielded coin): value sent
    /// there goes dark.
    PrivacyExit,
    /// The UTXO chain's miner (collects the fees).
    Miner,
}

/// An entity: one actor controlling one or more addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    /// Stable id (`exchange:1`, `user:4`, `attacker`, …).
    pub id: String,
    /// What it is.
    pub kind: EntityKind,
    /// A display name.
    pub name: String,
}

/// One address and what it is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressInfo {
    /// Lowercase `0x` hex.
    pub address: String,
    /// The [`Entity::id`] controlling it.
    pub entity: String,
    /// Its role (`hot wallet`, `deposit for user:3`, `fan-out`, `hop 2 of chain 1`, …).
    pub role: String,
    /// Whether it is a contract.
    pub contract: bool,
    /// Its chain (`evm-31337`, `litecoin-regtest`).
    pub chain: String,
}

/// The three contracts of the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractKind {
    /// The freezable stablecoin.
    Stablecoin,
    /// The constant-product pool.
    Pool,
    /// The fixed-denomination mixer.
    Mixer,
    /// The lock/mint bridge.
    Bridge,
}

/// Every entity and address of a scenario.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct World {
    /// Entities by id.
    pub entities: BTreeMap<String, Entity>,
    /// Addresses (lowercase hex) to what they are.
    pub addresses: BTreeMap<String, AddressInfo>,
    /// The contracts' addresses.
    pub contracts: BTreeMap<ContractKind, String>,
    /// The secret key of every UTXO address (not written out).
    #[serde(skip)]
    pub(crate) keys: BTreeMap<String, [u8; 32]>,
}

/// Lowercase `0x` hex of an address.
pub fn hex_addr(a: &Address) -> String {
    format!("{a:#x}")
}

impl World {
    /// Derives the address for (`role`, `index`) from the seed.
    pub(crate) fn derive(seed: u64, role: &str, index: u64) -> String {
        let mut pre = Vec::with_capacity(32 + role.len());
        pre.extend_from_slice(b"tracehound-sim");
        pre.extend_from_slice(&seed.to_be_bytes());
        pre.extend_from_slice(role.as_bytes());
        pre.extend_from_slice(&index.to_be_bytes());
        hex_addr(&Address::from_word(keccak256(&pre)))
    }

    /// Registers an entity (idempotent).
    pub(crate) fn entity(&mut self, id: &str, kind: EntityKind, name: &str) {
        self.entities.entry(id.to_string()).or_insert(Entity {
            id: id.to_string(),
            kind,
            name: name.to_string(),
        });
    }

    /// Derives and registers a fresh address of `entity`.
    pub(crate) fn new_address(&mut self, seed: u64, entity: &str, role: &str) -> String {
        let index = self.addresses.len() as u64;
        let address = World::derive(seed, role, index);
        self.addresses.insert(
            address.clone(),
            AddressInfo {
                address: address.clone(),
                entity: entity.to_string(),
                role: role.to_string(),
                contract: false,
                chain: EVM_CHAIN.into(),
            },
        );
        address
    }

    /// Derives and registers a fresh P2WPKH address of `entity` on the UTXO chain.
    pub(crate) fn new_utxo_address(&mut self, seed: u64, entity: &str, role: &str) -> String {
        let index = self.addresses.len() as u64;
        let mut n = 0u64;
        // A keccak output is a valid secret key but for odds of 2⁻¹²⁸; try the next if not.
        let key = loop {
            let mut pre = Vec::with_capacity(48 + role.len());
            pre.extend_from_slice(b"tracehound-sim-utxo");
            pre.extend_from_slice(&seed.to_be_bytes());
            pre.extend_from_slice(role.as_bytes());
            pre.extend_from_slice(&index.to_be_bytes());
            pre.extend_from_slice(&n.to_be_bytes());
            let bytes = keccak256(&pre).0;
            if SecretKey::from_slice(&bytes).is_ok() {
                break bytes;
            }
            n += 1;
        };
        let address = utxo_address_of_key(&key);
        self.addresses.insert(
            address.clone(),
            AddressInfo {
                address: address.clone(),
                entity: entity.to_string(),
                role: role.to_string(),
                contract: false,
                chain: UTXO_CHAIN.to_string(),
            },
        );
        self.keys.insert(address.clone(), key);
        address
    }

    /// The secret key of a UTXO address of the world.
    pub(crate) fn key_of(&self, address: &str) -> Option<SecretKey> {
        SecretKey::from_slice(self.keys.get(address)?).ok()
    }

    /// Registers the contract `kind` deployed by `deployer` as its first tx (nonce 0).
    pub(crate) fn contract(&mut self, kind: ContractKind, deployer: &str, entity: &str) -> String {
        let from: Address = deployer.parse().unwrap_or(Address::ZERO);
        let address = hex_addr(&from.create(0));
        self.addresses.insert(
            address.clone(),
            AddressInfo {
                address: address.clone(),
                entity: entity.to_string(),
                role: format!("{kind:?} contract").to_lowercase(),
                contract: true,
                chain: EVM_CHAIN.into(),
            },
        );
        self.contracts.insert(kind, address.clone());
        address
    }

    /// The entity kind of an address (`None` for an address outside the world).
    pub fn kind_of(&self, address: &str) -> Option<EntityKind> {
        let info = self.addresses.get(address)?;
        self.entities.get(&info.entity).map(|e| e.kind)
    }

    /// The entity id of an address.
    pub fn entity_of(&self, address: &str) -> Option<&str> {
        self.addresses.get(address).map(|i| i.entity.as_str())
    }

    /// The address of a contract (empty if the world has none of that kind, never the case
    /// for a planned world).
    pub fn contract_address(&self, kind: ContractKind) -> &str {
        self.contracts.get(&kind).map_or("", String::as_str)
    }
}

/// The compressed public key of a secret key.
pub(crate) fn public_key(key: &SecretKey) -> bitcoin::CompressedPublicKey {
    bitcoin::CompressedPublicKey(PublicKey::from_secret_key(secp(), key))
}

/// The P2WPKH address (`rltc1q…`) of a secret key.
fn utxo_address_of_key(key: &[u8; 32]) -> String {
    let Ok(sk) = SecretKey::from_slice(key) else {
        return String::new();
    };
    let hash = public_key(&sk).wpubkey_hash();
    let hash: &[u8] = hash.as_ref();
    tracehound_core::Address::segwit(UTXO_CHAIN, 0, hash)
        .map(|a| a.as_str().to_string())
        .unwrap_or_default()
}
