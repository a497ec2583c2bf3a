//! The services whose links tracehound decodes, beyond the built-in ones (Uniswap V2/V3
//! pools and forks, WETH-style wrappers, THORChain-style memos): a data file
//! (`links.toml`), so that a new bridge, vault or mixer is a config entry, not code.
//!
//! Each entry names the service, the chain and address(es) it lives at, and — for EVM
//! contracts — its event signatures in Solidity's human-readable form with the role of each
//! field, so any contract with the same shape decodes without new code.

use serde::{Deserialize, Serialize};

use super::LinkKind;
use crate::{Address, Chain};

/// A `links.toml` that does not parse or names something impossible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {entry}: {field}: {detail}")]
pub struct LinkConfigError {
    /// Where the config came from (a file path, `built-in defaults`).
    pub origin: String,
    /// The entry (`mixer "tornado-eth"`, `bridge #2`), or `file` for a syntax error.
    pub entry: String,
    /// The field (`contracts[0].address`, `deposit[1].signature`).
    pub field: String,
    /// What is wrong.
    pub detail: String,
}

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

impl EventConfig {
    /// The roles given, as (role, field name).
    pub fn roles(&self) -> Vec<(&'static str, &str)> {
        [
            ("amount", &self.amount),
            ("party", &self.party),
            ("id", &self.id),
            ("relayer", &self.relayer),
        ]
        .into_iter()
        .filter_map(|(role, field)| field.as_deref().map(|f| (role, f)))
        .collect()
    }
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
    /// Whether the bridge pays out another asset at its own rate (a swap bridge): then an
    /// exit's amount says nothing about its entry's, and matching without ids uses the
    /// destination and time only. Otherwise an exit must be the entry's amount less at most
    /// `max_fee_permille`.
    #[serde(default)]
    pub converts: bool,
}

/// A memo-routed vault service (THORChain style).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultConfig {
    /// Name (`thorchain`, `sim-chainswap`).
    pub name: String,
    /// Its vault addresses on each chain (EVM EOAs, UTXO wallets): a payment to one with a
    /// memo is an inbound, a payment from one with an `OUT:` memo an outbound. May be empty
    /// when routers are given: THORChain's vaults rotate, and its router's events name them.
    #[serde(default)]
    pub vaults: Vec<Place>,
    /// Its router contracts on EVM chains (THORChain's `THORChain_Router`): their `Deposit`
    /// events are inbounds (the memo in the event), their `TransferOut` and
    /// `TransferOutAndCall` events outbounds.
    /// Router events of contracts not listed here make no link (anyone can emit them), they
    /// are only counted.
    #[serde(default)]
    pub routers: Vec<Place>,
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
    /// Parses a `links.toml` and checks what can be checked without an ABI decoder: every
    /// chain is a tracehound chain, every address valid there, names given and unique per
    /// kind, roles name a field. (Event signatures are checked by the EVM decoder, which
    /// parses them: `tracehound_evm::links::validate`.) `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<LinkConfig, LinkConfigError> {
        let config: LinkConfig = toml::from_str(text).map_err(|e| LinkConfigError {
            origin: origin.to_string(),
            entry: "file".into(),
            field: "syntax".into(),
            detail: e.message().to_string()
                + &e.span()
                    .map(|s| {
                        let line = text
                            .get(..s.start)
                            .map_or(0, |t| t.matches('\n').count() + 1);
                        format!(" (line {line})")
                    })
                    .unwrap_or_default(),
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    /// Adds `other`'s entries after this config's (an entry of the same kind and name as one
    /// already here replaces it: a user's file overrides the built-in defaults).
    pub fn merge(&mut self, other: LinkConfig) {
        fn put<T>(list: &mut Vec<T>, items: Vec<T>, name: impl Fn(&T) -> &str) {
            for item in items {
                match list.iter().position(|x| name(x) == name(&item)) {
                    Some(i) => {
                        if let Some(slot) = list.get_mut(i) {
                            *slot = item;
                        }
                    }
                    None => list.push(item),
                }
            }
        }
        put(&mut self.bridges, other.bridges, |b| &b.name);
        put(&mut self.vaults, other.vaults, |v| &v.name);
        put(&mut self.mixers, other.mixers, |m| &m.name);
        put(&mut self.swaps, other.swaps, |s| &s.name);
    }

    /// Checks chains, addresses, names and roles (see [`LinkConfig::from_toml`]).
    pub fn validate(&self, origin: &str) -> Result<(), LinkConfigError> {
        let mut names = std::collections::HashSet::new();
        let entries = self
            .bridges
            .iter()
            .map(|b| ("bridge", &b.name))
            .chain(self.vaults.iter().map(|v| ("vault", &v.name)))
            .chain(self.mixers.iter().map(|m| ("mixer", &m.name)))
            .chain(self.swaps.iter().map(|s| ("swap", &s.name)));
        for (i, (kind, name)) in entries.enumerate() {
            let fail = |detail: &str| LinkConfigError {
                origin: origin.to_string(),
                entry: format!("{kind} #{}", i + 1),
                field: "name".into(),
                detail: detail.to_string(),
            };
            if name.trim().is_empty() {
                return Err(fail("empty name"));
            }
            if !names.insert((kind, name.as_str())) {
                return Err(fail(&format!("two {kind} entries are named {name:?}")));
            }
        }
        let err = |entry: String, field: String, detail: String| LinkConfigError {
            origin: origin.to_string(),
            entry,
            field,
            detail,
        };
        let places = |entry: &str, field: &str, list: &[Place]| -> Result<(), LinkConfigError> {
            for (i, p) in list.iter().enumerate() {
                let chain: Chain = p.chain.parse().map_err(|e: crate::ChainParseError| {
                    err(entry.into(), format!("{field}[{i}].chain"), e.to_string())
                })?;
                Address::parse(chain, &p.address).map_err(|e| {
                    err(entry.into(), format!("{field}[{i}].address"), e.to_string())
                })?;
            }
            Ok(())
        };
        let events = |entry: &str, field: &str, list: &[EventConfig]| {
            for (i, e) in list.iter().enumerate() {
                if e.signature.trim().is_empty() {
                    return Err(err(
                        entry.into(),
                        format!("{field}[{i}].signature"),
                        "empty signature".into(),
                    ));
                }
                for (role, value) in e.roles() {
                    if value.trim().is_empty() {
                        return Err(err(
                            entry.into(),
                            format!("{field}[{i}].{role}"),
                            "names no field".into(),
                        ));
                    }
                }
            }
            Ok(())
        };
        for b in &self.bridges {
            let entry = format!("bridge {:?}", b.name);
            places(&entry, "contracts", &b.contracts)?;
            places(&entry, "wallets", &b.wallets)?;
            events(&entry, "lock", &b.lock)?;
            events(&entry, "release", &b.release)?;
            if !b.contracts.is_empty() && b.lock.is_empty() && b.release.is_empty() {
                return Err(err(
                    entry,
                    "lock".into(),
                    "contracts are given but no lock or release event".into(),
                ));
            }
        }
        for v in &self.vaults {
            let entry = format!("vault {:?}", v.name);
            places(&entry, "vaults", &v.vaults)?;
            places(&entry, "routers", &v.routers)?;
            for (i, r) in v.routers.iter().enumerate() {
                // A router is a contract: only an EVM chain has one.
                if !r
                    .chain
                    .parse::<Chain>()
                    .is_ok_and(|c| c.family() == crate::ChainFamily::Account)
                {
                    return Err(err(
                        entry,
                        format!("routers[{i}].chain"),
                        format!("{:?} is not an EVM chain", r.chain),
                    ));
                }
            }
            if v.vaults.is_empty() && v.routers.is_empty() {
                return Err(err(
                    entry,
                    "vaults".into(),
                    "no vault address and no router".into(),
                ));
            }
        }
        for m in &self.mixers {
            let entry = format!("mixer {:?}", m.name);
            places(&entry, "contracts", &m.contracts)?;
            events(&entry, "deposit", &m.deposit)?;
            events(&entry, "withdrawal", &m.withdrawal)?;
            if m.contracts.is_empty() {
                return Err(err(entry, "contracts".into(), "no pool contract".into()));
            }
        }
        for s in &self.swaps {
            let entry = format!("swap {:?}", s.name);
            places(&entry, "contracts", &s.contracts)?;
            if s.signature.trim().is_empty() {
                return Err(err(entry, "signature".into(), "empty signature".into()));
            }
        }
        Ok(())
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[mixer]]
name = "m"
contracts = [{ chain = "evm-1", address = "0x12D66f87A04A9E220743712cE6d9bB1B5616B8Fc" }]
deposit = [{ signature = "Deposit(bytes32 indexed commitment)", id = "commitment" }]
withdrawal = []

[[vault]]
name = "v"
vaults = [{ chain = "litecoin-regtest", address = "VAULT" }]
"#;

    fn good() -> String {
        let vault = Address::segwit(Chain::LitecoinRegtest, 0, &[7; 20]).unwrap();
        GOOD.replace("VAULT", vault.as_str())
    }

    #[test]
    fn parses_and_merges_by_name() {
        let mut a = LinkConfig::from_toml(&good(), "a.toml").unwrap();
        assert_eq!(a.mixers[0].deposit[0].id.as_deref(), Some("commitment"));
        let mut b = a.clone();
        b.mixers[0].contracts.clear();
        b.vaults[0].name = "w".into();
        a.merge(b);
        assert_eq!(a.mixers.len(), 1, "same name replaces");
        assert!(a.mixers[0].contracts.is_empty());
        assert_eq!(a.vaults.len(), 2);
    }

    #[test]
    fn routers_default_to_none_and_must_be_on_an_evm_chain() {
        let c = LinkConfig::from_toml(&good(), "a.toml").unwrap();
        assert!(c.vaults[0].routers.is_empty());
        let router = "routers = [{ chain = \"evm-1\", address = \"0xD37BbE5744D730a1d98d8DC97c42F0Ca46aD7146\" }]";
        let with = good() + router + "\n";
        let c = LinkConfig::from_toml(&with, "a.toml").unwrap();
        assert_eq!(c.vaults[0].routers[0].chain, "evm-1");
        let vault = Address::segwit(Chain::LitecoinRegtest, 0, &[7; 20]).unwrap();
        let on_ltc = format!(
            "{}routers = [{{ chain = \"litecoin-regtest\", address = \"{}\" }}]\n",
            good(),
            vault.as_str()
        );
        let e = LinkConfig::from_toml(&on_ltc, "a.toml").unwrap_err();
        assert_eq!(
            (e.entry.as_str(), e.field.as_str()),
            ("vault \"v\"", "routers[0].chain")
        );
    }

    #[test]
    fn a_vault_entry_needs_a_vault_or_a_router() {
        let router = "[[vault]]\nname = \"thorchain\"\n\
                      routers = [{ chain = \"evm-1\", address = \"0xD37BbE5744D730a1d98d8DC97c42F0Ca46aD7146\" }]\n";
        let c = LinkConfig::from_toml(router, "a.toml").unwrap();
        assert!(c.vaults[0].vaults.is_empty());
        assert_eq!(c.vaults[0].routers.len(), 1);
        for neither in [
            "[[vault]]\nname = \"thorchain\"\n",
            "[[vault]]\nname = \"thorchain\"\nvaults = []\nrouters = []\n",
        ] {
            let e = LinkConfig::from_toml(neither, "a.toml").unwrap_err();
            assert_eq!(
                e.to_string(),
                "a.toml: vault \"thorchain\": vaults: no vault address and no router"
            );
        }
    }

    #[test]
    fn errors_name_entry_and_field() {
        let bad_chain = good().replace("evm-1", "evm-zero");
        let e = LinkConfig::from_toml(&bad_chain, "x.toml").unwrap_err();
        assert_eq!(
            (e.entry.as_str(), e.field.as_str()),
            ("mixer \"m\"", "contracts[0].chain")
        );
        let bad_address = good().replace("0x12D66f87A04A9E220743712cE6d9bB1B5616B8Fc", "0x12");
        let e = LinkConfig::from_toml(&bad_address, "x.toml").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("x.toml: mixer \"m\": contracts[0].address"),
            "{e}"
        );
        let e = LinkConfig::from_toml(&good().replace("id = ", "relayer = \"\", id = "), "x")
            .unwrap_err();
        assert_eq!(e.field, "deposit[0].relayer");
        let e = LinkConfig::from_toml("[[mixer]]\nname = 3\n", "x").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = LinkConfig::from_toml("[[bridge]]\nname = \"b\"\nfee = 1\n", "x").unwrap_err();
        assert!(
            e.to_string().contains("fee"),
            "unknown fields are refused: {e}"
        );
    }
}
