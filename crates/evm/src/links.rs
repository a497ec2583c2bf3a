//! Link facts of an EVM block ([`tracehound_core::LinkFact`]): where value changed asset or
//! left for another chain, read from the block's logs, calldata and transfers during
//! extraction, so that the trace engine can follow taint across swaps, wraps, bridges,
//! chain-swap vaults and mixers.
//!
//! What is decoded:
//! - **Swaps.** Uniswap V2 and V3 `Swap` events, whoever emits them (forks with the same ABI
//!   decode too), and the `[[swap]]` events of the link config, mark their emitters as pools.
//!   The link itself comes from the tx's transfers by the net-flow rule: the user who put
//!   asset A into the pools and the receiver who got asset B out of them make one
//!   [`LinkFact::Within`], from the user's first transfer of A into a pool (amount: all the A
//!   the user put into pools in the tx) to the last transfer of B out of a pool to the
//!   receiver (amount: all the B the receiver got). Hops between pools are not links of their
//!   own: a multi-hop route is one link. The user is the tx's sender if it paid a pool, else
//!   the first payer of a pool that is not a token contract; the route is the swaps the user
//!   paid, or a party the route paid before (a router between hops): another party's swap in
//!   the same tx (a fee-on-transfer token selling its tax) is not part of the user's link. The
//!   receiver is the last swap event's named receiver (V2 `to`, V3 `recipient`) that got
//!   value, else the sender, else the last payee. Uniswap events are checked against the transfers
//!   (each amount in is the pool's total received of some asset in the tx, each amount out
//!   its total paid of some asset); when one does not add up, the tx gets no swap link.
//! - **Wraps.** Each [`WrapLink`] (WETH `Deposit`/`Withdrawal`) becomes a `Within` wrap from
//!   the native transfer into the wrapper to the token mint (or from the token burn to the
//!   native transfer out), 1:1.
//! - **Mixers and bridges** (`[[mixer]]`, `[[bridge]]`): their configured events at their
//!   configured contracts; deposits and locks are [`LinkFact::Entry`]s whose leg is the
//!   transfer into the contract (or, when the event states the amount, the sender's burn of
//!   that amount), withdrawals and releases [`LinkFact::Exit`]s whose leg is the transfer out
//!   of it to the recipient (or, with amount and recipient stated, a mint of that amount to
//!   the recipient).
//! - **Vault memos** (`[[vault]]`): a tx paying a vault with a THORChain-style memo as its
//!   calldata is an entry (its destination from the memo); a vault paying out with `OUT:<tx>`
//!   (or `REFUND:<tx>`) is an exit naming the entry.
//! - **Router events** (`[[vault]] routers`): THORChain router `Deposit` events with a swap
//!   memo are entries, their leg the transfer of the event's amount into the router or the
//!   vault the event names (the vaults themselves need not be configured: they rotate);
//!   `TransferOut` events with `OUT:`/`REFUND:` memos are exits, their leg the transfer of the
//!   event's amount to the payee; `TransferOutAndCall` events (an outbound handed to a DEX
//!   aggregator) are exits whose leg is the ether paid to the aggregator, with the final asset,
//!   recipient and minimum out in the evidence. Vault-to-vault moves (`TransferAllowance`,
//!   `VaultTransfer`) are no link. Events of contracts not configured as routers make no fact.
//!
//! What is recognised but cannot be linked (an event whose amounts do not match the
//! transfers, a malformed memo, a deposit without its transfer) is left out, counted by
//! reason in [`EvmBlock::link_skips`](crate::EvmBlock) and logged at debug level: a link fact
//! never claims more than the block shows.
//!
//! Legs name a transfer of [`EvmBlock::transfers`](crate::EvmBlock) by its `sub_index` in the
//! tx (the store keeps the same numbering), its asset as the store names it (`native` or the
//! lower-case token contract) and its party as the store writes addresses.

#![deny(clippy::indexing_slicing)]

use std::collections::{BTreeMap, HashMap, HashSet};

use alloy::dyn_abi::{DynSolEvent, DynSolValue, Specifier};
use alloy::json_abi::Event;
use alloy::primitives::{Address as EvmAddress, B256, LogData, U256};
use alloy::sol_types::SolEvent;
use tracehound_core::link::{EventConfig, memo};
use tracehound_core::{
    Address, AssetId, Chain, Destination, LinkConfig, LinkConfigError, LinkFact, LinkKind, LinkLeg,
    TransferKind,
};

use crate::model::{EvmTransfer, EvmTx, TransferSource, TxStatus, WrapDirection, WrapLink};
use crate::wire::WireLog;

mod v2 {
    alloy::sol! {
        /// Uniswap V2 pair (and forks): a swap.
        event Swap(address indexed sender, uint256 amount0In, uint256 amount1In, uint256 amount0Out, uint256 amount1Out, address indexed to);
    }
}

/// THORChain's router (`THORChain_Router.sol`, versions 2 to 4.1, as verified on Etherscan;
/// every version has the same `Deposit` and `TransferOut`): users call `deposit(address vault,
/// address asset, uint amount, string memo)` or `depositWithExpiry(…, uint expiration)`, which
/// forwards the value to the vault (or holds the token for it) and emits `Deposit`; vaults pay
/// out through `transferOut(address to, address asset, uint amount, string memo)`, which emits
/// `TransferOut`, or (version 4) `transferOutAndCall(address target, address finalToken,
/// address to, uint amountOutMin, string memo)`, which hands the ether to a DEX aggregator
/// (`target.swapOut(finalToken, to, amountOutMin)`; if that call fails, the ether goes to `to`)
/// and emits `TransferOutAndCall`. `asset` is the zero address for the native coin.
/// `transferAllowance` and `returnVaultAssets` move a vault's holdings to another vault of
/// THORChain (churns), emitting `TransferAllowance` and `VaultTransfer`.
mod router {
    alloy::sol! {
        /// Value in for `to` (the vault), with the user's memo.
        event Deposit(address indexed to, address indexed asset, uint256 amount, string memo);
        /// A vault's payment to `to`, its memo `OUT:<inbound tx>` or `REFUND:<inbound tx>`.
        event TransferOut(address indexed vault, address indexed to, address asset, uint256 amount, string memo);
        /// A vault's payment of `amount` ether to the aggregator `target`, to be swapped to
        /// `finalAsset` (a token contract) for `to`, at least `amountOutMin` of it; its memo
        /// `OUT:<inbound tx>`.
        event TransferOutAndCall(address indexed vault, address target, uint256 amount, address finalAsset, address to, uint256 amountOutMin, string memo);
        /// The router's book of a token moved from one vault to another (no transfer).
        event TransferAllowance(address indexed oldVault, address indexed newVault, address asset, uint256 amount, string memo);
        /// A batch of allowances moved from one vault to another (the ether sent along goes
        /// to the new vault).
        struct Coin { address asset; uint256 amount; }
        event VaultTransfer(address indexed oldVault, address indexed newVault, Coin[] coins, string memo);
    }
}

mod v3 {
    alloy::sol! {
        /// Uniswap V3 pool (and forks): a swap; positive amounts went into the pool.
        event Swap(address indexed sender, address indexed recipient, int256 amount0, int256 amount1, uint160 sqrtPriceX96, uint128 liquidity, int24 tick);
    }
}

/// The built-in link config (Tornado Cash's ETH pools and THORChain's routers on Ethereum),
/// always merged under a user's file.
const DEFAULT_CONFIG: &str = include_str!("../data/links-default.toml");

/// Where ERC-20 mints come from and burns go to.
const ZERO: &str = "0x0000000000000000000000000000000000000000";

/// Longest calldata kept as a memo (THORChain memos stay well under this).
pub const MAX_MEMO_BYTES: usize = 256;

/// The built-in link config (`data/links-default.toml`).
pub fn default_config() -> LinkConfig {
    // The file is part of the crate and tested to parse; an empty config is the only
    // fallback that cannot mislead.
    LinkConfig::from_toml(DEFAULT_CONFIG, "built-in links-default.toml").unwrap_or_default()
}

/// Checks what only an ABI decoder can: every event signature of `config` parses and every
/// role names a field of its event (on any chain). `origin` names the file in errors.
pub fn validate(config: &LinkConfig, origin: &str) -> Result<(), LinkConfigError> {
    config.validate(origin)?;
    for (entry, field, e) in events_of(config) {
        compile_event(e, origin, &entry, &field)?;
    }
    for s in &config.swaps {
        parse_signature(
            &s.signature,
            origin,
            &format!("swap {:?}", s.name),
            "signature",
        )?;
    }
    Ok(())
}

/// Every EVM event of a config: (entry, field, event).
fn events_of(config: &LinkConfig) -> Vec<(String, String, &EventConfig)> {
    let mut out = Vec::new();
    for m in &config.mixers {
        let entry = format!("mixer {:?}", m.name);
        for (i, e) in m.deposit.iter().enumerate() {
            out.push((entry.clone(), format!("deposit[{i}]"), e));
        }
        for (i, e) in m.withdrawal.iter().enumerate() {
            out.push((entry.clone(), format!("withdrawal[{i}]"), e));
        }
    }
    for b in &config.bridges {
        let entry = format!("bridge {:?}", b.name);
        for (i, e) in b.lock.iter().enumerate() {
            out.push((entry.clone(), format!("lock[{i}]"), e));
        }
        for (i, e) in b.release.iter().enumerate() {
            out.push((entry.clone(), format!("release[{i}]"), e));
        }
    }
    out
}

fn parse_signature(
    signature: &str,
    origin: &str,
    entry: &str,
    field: &str,
) -> Result<(Event, DynSolEvent), LinkConfigError> {
    let fail = |detail: String| LinkConfigError {
        origin: origin.to_string(),
        entry: entry.to_string(),
        field: field.to_string(),
        detail,
    };
    let event = Event::parse(signature.trim())
        .map_err(|e| fail(format!("event signature {signature:?} does not parse: {e}")))?;
    let resolved = event
        .resolve()
        .map_err(|e| fail(format!("event signature {signature:?}: {e}")))?;
    if event.anonymous {
        return Err(fail("anonymous events have no topic to match".into()));
    }
    Ok((event, resolved))
}

/// Where a named field sits in a decoded event.
#[derive(Clone, Copy, Debug)]
struct Field {
    indexed: bool,
    position: usize,
}

/// A configured event, ready to decode.
#[derive(Clone, Debug)]
struct CompiledEvent {
    /// Its name (`Deposit`), for evidence.
    name: String,
    topic0: B256,
    decoder: DynSolEvent,
    amount: Option<Field>,
    party: Option<Field>,
    id: Option<Field>,
    relayer: Option<Field>,
}

fn compile_event(
    e: &EventConfig,
    origin: &str,
    entry: &str,
    field: &str,
) -> Result<CompiledEvent, LinkConfigError> {
    let (event, decoder) =
        parse_signature(&e.signature, origin, entry, &format!("{field}.signature"))?;
    let mut fields = HashMap::new();
    let (mut indexed, mut body) = (0, 0);
    for p in &event.inputs {
        let f = if p.indexed {
            indexed += 1;
            Field {
                indexed: true,
                position: indexed - 1,
            }
        } else {
            body += 1;
            Field {
                indexed: false,
                position: body - 1,
            }
        };
        if !p.name.is_empty() {
            fields.insert(p.name.clone(), f);
        }
    }
    let role = |role: &str, name: &Option<String>| -> Result<Option<Field>, LinkConfigError> {
        let Some(name) = name else { return Ok(None) };
        fields.get(name.trim()).copied().map(Some).ok_or_else(|| {
            let mut known: Vec<&str> = fields.keys().map(String::as_str).collect();
            known.sort_unstable();
            LinkConfigError {
                origin: origin.to_string(),
                entry: entry.to_string(),
                field: format!("{field}.{role}"),
                detail: format!(
                    "event {} has no field {name:?} (its fields: {})",
                    event.name,
                    known.join(", ")
                ),
            }
        })
    };
    Ok(CompiledEvent {
        name: event.name.clone(),
        topic0: event.selector(),
        amount: role("amount", &e.amount)?,
        party: role("party", &e.party)?,
        id: role("id", &e.id)?,
        relayer: role("relayer", &e.relayer)?,
        decoder,
    })
}

/// Whether a service event brings value in or takes it out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Entry,
    Exit,
}

/// A mixer's or bridge's event at one of its contracts.
#[derive(Clone, Debug)]
struct ServiceEvent {
    kind: LinkKind,
    service: String,
    side: Side,
    event: CompiledEvent,
    /// The far chain a bridge's entries go to, when its config says (one other chain).
    far_chain: Option<String>,
}

/// A `[[swap]]` event.
#[derive(Clone, Debug)]
struct ConfigSwap {
    service: String,
    topic0: B256,
    name: String,
    decoder: DynSolEvent,
    /// Its pools on this chain; `None`: any emitter.
    contracts: Option<HashSet<EvmAddress>>,
}

/// The link config compiled for one chain: what to look for in its blocks.
#[derive(Clone, Debug)]
pub struct LinkDecoder {
    chain: Chain,
    swaps: Vec<ConfigSwap>,
    services: HashMap<EvmAddress, Vec<ServiceEvent>>,
    vaults: HashMap<EvmAddress, String>,
    /// THORChain-style routers: contract → service.
    routers: HashMap<EvmAddress, String>,
}

impl LinkDecoder {
    /// Compiles the built-in config merged with `user` for `chain` (entries of other chains
    /// are ignored, but every entry is checked: see [`validate`]).
    pub fn new(chain: Chain, user: &LinkConfig) -> Result<LinkDecoder, LinkConfigError> {
        let mut config = default_config();
        config.merge(user.clone());
        validate(&config, "link config")?;
        let here = chain.name();
        let on_chain = |p: &tracehound_core::link::Place| -> Option<EvmAddress> {
            let chain_of: Chain = p.chain.parse().ok()?;
            (chain_of.name() == here).then(|| p.address.trim().parse().ok())?
        };
        let mut services: HashMap<EvmAddress, Vec<ServiceEvent>> = HashMap::new();
        let origin = "link config";
        // A mixer's deposits and a bridge's locks are entries, withdrawals and releases exits:
        // each configured event is compiled once and listed under every contract of its service.
        let mut register = |kind: LinkKind,
                            name: &str,
                            contracts: &[EvmAddress],
                            sides: [(Side, &Vec<EventConfig>, &str); 2],
                            far_chain: Option<String>|
         -> Result<(), LinkConfigError> {
            let entry = format!("{kind} {name:?}");
            for (side, list, field) in sides {
                for (i, e) in list.iter().enumerate() {
                    let event = compile_event(e, origin, &entry, &format!("{field}[{i}]"))?;
                    for c in contracts {
                        services.entry(*c).or_default().push(ServiceEvent {
                            kind,
                            service: name.to_string(),
                            side,
                            event: event.clone(),
                            far_chain: far_chain.clone(),
                        });
                    }
                }
            }
            Ok(())
        };
        for m in &config.mixers {
            let contracts: Vec<EvmAddress> = m.contracts.iter().filter_map(on_chain).collect();
            register(
                LinkKind::Mixer,
                &m.name,
                &contracts,
                [
                    (Side::Entry, &m.deposit, "deposit"),
                    (Side::Exit, &m.withdrawal, "withdrawal"),
                ],
                None,
            )?;
        }
        for b in &config.bridges {
            let contracts: Vec<EvmAddress> = b.contracts.iter().filter_map(on_chain).collect();
            let far: HashSet<&str> = b
                .wallets
                .iter()
                .chain(&b.contracts)
                .map(|p| p.chain.as_str())
                .filter(|c| c.parse::<Chain>().map(|c| c.name()).ok().as_deref() != Some(&here))
                .collect();
            let far_chain = (far.len() == 1)
                .then(|| far.iter().next().map(|c| (*c).to_string()))
                .flatten();
            register(
                LinkKind::Bridge,
                &b.name,
                &contracts,
                [
                    (Side::Entry, &b.lock, "lock"),
                    (Side::Exit, &b.release, "release"),
                ],
                far_chain,
            )?;
        }
        let mut swaps = Vec::new();
        for s in &config.swaps {
            let entry = format!("swap {:?}", s.name);
            let (event, decoder) = parse_signature(&s.signature, origin, &entry, "signature")?;
            let contracts = (!s.contracts.is_empty()).then(|| {
                s.contracts
                    .iter()
                    .filter_map(on_chain)
                    .collect::<HashSet<_>>()
            });
            if contracts.as_ref().is_some_and(HashSet::is_empty) {
                continue; // pools on other chains only
            }
            swaps.push(ConfigSwap {
                service: s.name.clone(),
                topic0: event.selector(),
                name: event.name.clone(),
                decoder,
                contracts,
            });
        }
        let mut vaults = HashMap::new();
        let mut routers = HashMap::new();
        for v in &config.vaults {
            for a in v.vaults.iter().filter_map(on_chain) {
                vaults.insert(a, v.name.clone());
            }
            for a in v.routers.iter().filter_map(on_chain) {
                routers.insert(a, v.name.clone());
            }
        }
        Ok(LinkDecoder {
            chain,
            swaps,
            services,
            vaults,
            routers,
        })
    }

    /// The decoder of the built-in config alone.
    pub fn builtin(chain: Chain) -> LinkDecoder {
        LinkDecoder::new(chain, &LinkConfig::default()).unwrap_or(LinkDecoder {
            chain,
            swaps: Vec::new(),
            services: HashMap::new(),
            vaults: HashMap::new(),
            routers: HashMap::new(),
        })
    }
}

/// Reasons for links not made, counted.
#[derive(Default, Debug)]
pub(crate) struct Skips(BTreeMap<&'static str, u64>);

impl Skips {
    fn add(&mut self, reason: &'static str, tx: &EvmTx, detail: &str) {
        tracing::debug!(tx = %format!("0x{}", tx.hash), reason, detail, "link skipped");
        *self.0.entry(reason).or_insert(0) += 1;
    }

    pub(crate) fn into_vec(self) -> Vec<(String, u64)> {
        self.0
            .into_iter()
            .map(|(r, n)| (r.to_string(), n))
            .collect()
    }
}

/// What one tx offers the decoder.
pub(crate) struct TxView<'a> {
    pub(crate) tx: &'a EvmTx,
    /// Its calldata, if short printable text.
    pub(crate) memo: Option<&'a str>,
    pub(crate) logs: &'a [WireLog],
    /// Its transfers (and no other tx's).
    pub(crate) transfers: &'a [EvmTransfer],
    /// Its wraps.
    pub(crate) wraps: &'a [WrapLink],
}

fn asset_text(a: &AssetId) -> String {
    match a {
        AssetId::Native => "native".into(),
        AssetId::Contract(c) => c.as_str().to_ascii_lowercase(),
    }
}

/// The leg of a transfer; `party` is its payer (`true`) or its payee.
fn leg(t: &EvmTransfer, payer: bool, amount: u128) -> LinkLeg {
    let tr = &t.transfer;
    LinkLeg {
        tx_index: tr.tx.index,
        tx: format!("0x{}", tr.tx.txid),
        leg: tr.sub_index,
        asset: asset_text(&tr.asset),
        amount,
        party: if payer { &tr.from } else { &tr.to }.as_str().to_string(),
    }
}

/// Fungible value movements (fees and NFTs are never legs).
fn fungible(t: &EvmTransfer) -> bool {
    matches!(
        t.transfer.kind,
        TransferKind::Native | TransferKind::Internal | TransferKind::Token
    )
}

fn value_text(v: &DynSolValue) -> Option<String> {
    Some(match v {
        DynSolValue::Address(a) => format!("{a:#x}"),
        DynSolValue::FixedBytes(w, size) => {
            format!("0x{}", alloy::hex::encode(w.get(..*size).unwrap_or(&w[..])))
        }
        DynSolValue::Bytes(b) => format!("0x{}", alloy::hex::encode(b)),
        DynSolValue::Uint(u, _) => u.to_string(),
        DynSolValue::Int(i, _) => i.to_string(),
        DynSolValue::String(s) => s.clone(),
        DynSolValue::Bool(b) => b.to_string(),
        _ => return None,
    })
}

fn field_value(decoded: &alloy::dyn_abi::DecodedEvent, f: Option<Field>) -> Option<&DynSolValue> {
    let f = f?;
    if f.indexed {
        decoded.indexed.get(f.position)
    } else {
        decoded.body.get(f.position)
    }
}

/// A swap event of the tx.
struct SwapEvent {
    pool: String,
    log_index: u64,
    service: String,
    /// Who the event says got the output (V2 `to`, V3 `recipient`).
    receiver: Option<String>,
    /// Amounts in and out the event states, to check against the transfers.
    amounts_in: Vec<U256>,
    amounts_out: Vec<U256>,
}

impl SwapEvent {
    /// Whether its amounts are checked (a Uniswap event; a configured one states none).
    fn checked(&self) -> bool {
        self.receiver.is_some()
    }
}

fn text_of(chain: Chain, a: &EvmAddress) -> String {
    Address::evm(chain, &a.0.0).as_str().to_string()
}

impl LinkDecoder {
    /// Decodes the link facts of one tx into `out`.
    pub(crate) fn decode_tx(&self, v: &TxView<'_>, out: &mut Vec<LinkFact>, skips: &mut Skips) {
        if v.tx.status == TxStatus::Failed {
            return;
        }
        self.wraps(v, out, skips);
        self.swaps(v, out, skips);
        self.services(v, out, skips);
        self.vault_memos(v, out, skips);
        self.router_events(v, out, skips);
    }

    fn wraps(&self, v: &TxView<'_>, out: &mut Vec<LinkFact>, skips: &mut Skips) {
        let mut used = HashSet::new();
        for w in v.wraps {
            let amount = w.amount.units();
            let token_leg = v.transfers.iter().find(|t| {
                matches!(&t.source, TransferSource::Log { log_index, .. } if *log_index == w.log_index)
            });
            let Some(token_leg) = token_leg else {
                skips.add("wrap without its token transfer", v.tx, "");
                continue;
            };
            let contract = w.token.as_str();
            let wrap = w.direction == WrapDirection::Wrap;
            // The native side: into the wrapper for a wrap, out of it for an unwrap; the
            // account's own transfer first, any of that amount else (a router wrapping).
            let candidates = |own: bool| {
                v.transfers.iter().find(|t| {
                    let tr = &t.transfer;
                    tr.asset == AssetId::Native
                        && matches!(tr.kind, TransferKind::Native | TransferKind::Internal)
                        && tr.amount.units() == amount
                        && !used.contains(&tr.sub_index)
                        && if wrap {
                            tr.to.as_str() == contract && (!own || tr.from == w.account)
                        } else {
                            tr.from.as_str() == contract && (!own || tr.to == w.account)
                        }
                })
            };
            let Some(native) = candidates(true).or_else(|| candidates(false)) else {
                skips.add(
                    "wrap without its native transfer (no traces?)",
                    v.tx,
                    contract,
                );
                continue;
            };
            used.insert(native.transfer.sub_index);
            let (input, output) = if wrap {
                (leg(native, true, amount), leg(token_leg, false, amount))
            } else {
                (leg(token_leg, true, amount), leg(native, false, amount))
            };
            out.push(LinkFact::Within {
                kind: LinkKind::Wrap,
                service: "weth".into(),
                contract: contract.to_string(),
                input,
                output,
                evidence: format!(
                    "log:{}:{}",
                    w.log_index,
                    if wrap { "Deposit" } else { "Withdrawal" }
                ),
            });
        }
    }

    /// The tx's swap events; `Err` with a reason when one is not readable.
    fn swap_events(&self, v: &TxView<'_>) -> Result<Vec<SwapEvent>, (&'static str, String)> {
        let chain = self.chain;
        let mut events = Vec::new();
        for log in v.logs {
            let Some(topic0) = log.topics.first() else {
                continue;
            };
            // Most logs are no swap: looked at only by their first topic.
            let config = self.swaps.iter().find(|c| {
                c.topic0 == *topic0
                    && c.contracts
                        .as_ref()
                        .is_none_or(|s| s.contains(&log.address))
            });
            if *topic0 != v2::Swap::SIGNATURE_HASH
                && *topic0 != v3::Swap::SIGNATURE_HASH
                && config.is_none()
            {
                continue;
            }
            let index = log.log_index.to::<u64>();
            let pool = text_of(chain, &log.address);
            let data = LogData::new_unchecked(log.topics.clone(), log.data.clone());
            if *topic0 == v2::Swap::SIGNATURE_HASH {
                let s = v2::Swap::decode_log_data(&data).map_err(|e| {
                    (
                        "uniswap-v2 Swap does not decode",
                        format!("log {index}: {e}"),
                    )
                })?;
                events.push(SwapEvent {
                    pool,
                    log_index: index,
                    service: "uniswap-v2".into(),
                    receiver: Some(text_of(chain, &s.to)),
                    amounts_in: vec![s.amount0In, s.amount1In],
                    amounts_out: vec![s.amount0Out, s.amount1Out],
                });
            } else if *topic0 == v3::Swap::SIGNATURE_HASH {
                let s = v3::Swap::decode_log_data(&data).map_err(|e| {
                    (
                        "uniswap-v3 Swap does not decode",
                        format!("log {index}: {e}"),
                    )
                })?;
                let (mut ins, mut outs) = (Vec::new(), Vec::new());
                for a in [s.amount0, s.amount1] {
                    if a.is_negative() {
                        outs.push(a.unsigned_abs());
                    } else {
                        ins.push(a.unsigned_abs());
                    }
                }
                events.push(SwapEvent {
                    pool,
                    log_index: index,
                    service: "uniswap-v3".into(),
                    receiver: Some(text_of(chain, &s.recipient)),
                    amounts_in: ins,
                    amounts_out: outs,
                });
            } else if let Some(c) = config {
                c.decoder.decode_log_data(&data).map_err(|e| {
                    (
                        "configured swap event does not decode",
                        format!("log {index} ({} {}): {e}", c.service, c.name),
                    )
                })?;
                events.push(SwapEvent {
                    pool,
                    log_index: index,
                    service: c.service.clone(),
                    receiver: None,
                    amounts_in: Vec::new(),
                    amounts_out: Vec::new(),
                });
            }
        }
        Ok(events)
    }

    fn swaps(&self, v: &TxView<'_>, out: &mut Vec<LinkFact>, skips: &mut Skips) {
        let events = match self.swap_events(v) {
            Ok(e) if e.is_empty() => return,
            Ok(e) => e,
            Err((reason, detail)) => {
                skips.add(reason, v.tx, &detail);
                return;
            }
        };
        let pools: HashSet<&str> = events.iter().map(|e| e.pool.as_str()).collect();
        let flows: Vec<&EvmTransfer> = v.transfers.iter().filter(|t| fungible(t)).collect();
        // Each event against the transfers: its pool must have moved value both ways, and a
        // Uniswap event's amounts must be there. A Uniswap pool moves only tokens, each
        // movement logged before its `Swap` and after the pool's previous one, so an event is
        // checked against the token transfers of that window (one tx may swap in one pool
        // twice: a fee-on-transfer token selling its tax inside a user's sell). A configured
        // pool (any ABI, maybe ether) is checked over the whole tx.
        let mut previous: HashMap<&str, u64> = HashMap::new();
        // Per checked event: its window's transfers (sub-indices), who outside the pools paid
        // in and who got paid out.
        let mut windows: Vec<(Vec<u32>, HashSet<&str>, HashSet<&str>)> = Vec::new();
        for e in &events {
            let after = previous.insert(e.pool.as_str(), e.log_index);
            let in_window = |t: &EvmTransfer| match (&t.source, e.checked()) {
                (_, false) => true,
                (TransferSource::Log { log_index, .. }, true) => {
                    let i = u64::from(*log_index);
                    i < e.log_index && after.is_none_or(|a| i > a)
                }
                (_, true) => false,
            };
            let into: Vec<&&EvmTransfer> = flows
                .iter()
                .filter(|t| t.transfer.to.as_str() == e.pool && in_window(t))
                .collect();
            let from_pool: Vec<&&EvmTransfer> = flows
                .iter()
                .filter(|t| t.transfer.from.as_str() == e.pool && in_window(t))
                .collect();
            if into.is_empty() || from_pool.is_empty() {
                skips.add(
                    "swap event without matching transfers",
                    v.tx,
                    &format!("log {} of pool {}", e.log_index, e.pool),
                );
                return;
            }
            // Totals per asset: a fee-on-transfer token splits one payment into several
            // transfers.
            fn totals<'t>(list: &[&&'t EvmTransfer]) -> HashMap<&'t AssetId, u128> {
                let mut m: HashMap<&'t AssetId, u128> = HashMap::new();
                for t in list {
                    let total = m.entry(&t.transfer.asset).or_insert(0);
                    *total = total.saturating_add(t.transfer.amount.units());
                }
                m
            }
            let (received, paid) = (totals(&into), totals(&from_pool));
            // What moved may be less than the event states, never more: a fee-on-transfer
            // token may keep its tax without logging it (the pool's books count the whole
            // amount, the token's `Transfer` says what arrived).
            let matches = |stated: &[U256], moved: &HashMap<&AssetId, u128>, exact: bool| {
                stated.iter().filter(|a| !a.is_zero()).all(|a| {
                    moved.values().any(|m| {
                        let m = U256::from(*m);
                        m == *a || (!exact && m > U256::ZERO && m < *a)
                    })
                })
            };
            let ins_ok = matches(&e.amounts_in, &received, true);
            let outs_ok = matches(&e.amounts_out, &paid, false);
            if !ins_ok || !outs_ok {
                skips.add(
                    "swap event amounts do not match the transfers",
                    v.tx,
                    &format!(
                        "log {} of pool {}: in {:?}, out {:?}",
                        e.log_index, e.pool, e.amounts_in, e.amounts_out
                    ),
                );
                return;
            }
            if e.checked() {
                let outside = |a: &'_ Address| !pools.contains(a.as_str());
                windows.push((
                    into.iter()
                        .chain(&from_pool)
                        .map(|t| t.transfer.sub_index)
                        .collect(),
                    into.iter()
                        .map(|t| &t.transfer.from)
                        .filter(|a| outside(a))
                        .map(Address::as_str)
                        .collect(),
                    from_pool
                        .iter()
                        .map(|t| &t.transfer.to)
                        .filter(|a| outside(a))
                        .map(Address::as_str)
                        .collect(),
                ));
            }
        }
        // The user: the tx's sender if it paid a pool, else the first payer of a pool that is
        // not a token contract itself (a fee-on-transfer token selling its tax inside the tx),
        // else the first payer.
        let into_pools = |t: &&&EvmTransfer| {
            pools.contains(t.transfer.to.as_str()) && !pools.contains(t.transfer.from.as_str())
        };
        let tokens: HashSet<&str> = flows
            .iter()
            .filter_map(|t| match &t.transfer.asset {
                AssetId::Contract(c) => Some(c.as_str()),
                AssetId::Native => None,
            })
            .collect();
        let payers: Vec<&Address> = flows
            .iter()
            .filter(into_pools)
            .map(|t| &t.transfer.from)
            .collect();
        let Some(&first_payer) = payers.first() else {
            skips.add("swap without flows into and out of its pools", v.tx, "");
            return;
        };
        let user = if payers.contains(&&v.tx.from) {
            &v.tx.from
        } else {
            payers
                .iter()
                .copied()
                .find(|p| !tokens.contains(p.as_str()))
                .unwrap_or(first_payer)
        };
        // The user's route: the swaps paid by the user or by someone the route paid before
        // (a router between hops); another party's swap in the same tx (a token's tax sale)
        // is left out, so that its output does not count as the user's.
        let mut route: HashSet<&str> = HashSet::from([user.as_str()]);
        let mut foreign: HashSet<u32> = HashSet::new();
        for (transfers, paid_in, paid_out) in &windows {
            if !paid_in.is_empty() && paid_in.is_disjoint(&route) {
                foreign.extend(transfers);
            } else {
                route.extend(paid_out);
            }
        }
        let ours = |t: &&&EvmTransfer| !foreign.contains(&t.transfer.sub_index);
        let ins: Vec<&EvmTransfer> = flows
            .iter()
            .filter(into_pools)
            .filter(ours)
            .copied()
            .collect();
        let outs: Vec<&EvmTransfer> = flows
            .iter()
            .filter(|t| {
                pools.contains(t.transfer.from.as_str()) && !pools.contains(t.transfer.to.as_str())
            })
            .filter(ours)
            .copied()
            .collect();
        let (Some(input), Some(last_out)) =
            (ins.iter().find(|t| &t.transfer.from == user), outs.last())
        else {
            skips.add("swap without flows into and out of its pools", v.tx, "");
            return;
        };
        let asset_in = &input.transfer.asset;
        let amount_in: u128 = ins
            .iter()
            .filter(|t| &t.transfer.from == user && &t.transfer.asset == asset_in)
            .map(|t| t.transfer.amount.units())
            .fold(0, u128::saturating_add);
        // The receiver: the last event's named receiver outside the pools that got value, else
        // the sender if it got value, else whoever got value last.
        let got = |who: &str| outs.iter().any(|t| t.transfer.to.as_str() == who);
        let named = events
            .iter()
            .rev()
            .filter_map(|e| e.receiver.as_deref())
            .find(|r| !pools.contains(r) && got(r));
        let receiver = named
            .or_else(|| got(v.tx.from.as_str()).then_some(v.tx.from.as_str()))
            .unwrap_or(last_out.transfer.to.as_str());
        let Some(output) = outs
            .iter()
            .rev()
            .find(|t| t.transfer.to.as_str() == receiver && &t.transfer.asset != asset_in)
        else {
            skips.add(
                "swap with no other asset out to its receiver (arbitrage?)",
                v.tx,
                receiver,
            );
            return;
        };
        let asset_out = &output.transfer.asset;
        let amount_out: u128 = outs
            .iter()
            .filter(|t| t.transfer.to.as_str() == receiver && &t.transfer.asset == asset_out)
            .map(|t| t.transfer.amount.units())
            .fold(0, u128::saturating_add);
        let services: Vec<&str> = {
            let mut s: Vec<&str> = events.iter().map(|e| e.service.as_str()).collect();
            s.dedup();
            s
        };
        let service = match services.as_slice() {
            [one] => (*one).to_string(),
            _ => "net-flow".to_string(),
        };
        let evidence = events
            .iter()
            .map(|e| format!("log:{}:{} Swap", e.log_index, e.service))
            .collect::<Vec<_>>()
            .join(",");
        out.push(LinkFact::Within {
            kind: LinkKind::Swap,
            service,
            contract: input.transfer.to.as_str().to_string(),
            input: leg(input, true, amount_in),
            output: leg(output, false, amount_out),
            evidence,
        });
    }

    fn services(&self, v: &TxView<'_>, out: &mut Vec<LinkFact>, skips: &mut Skips) {
        if self.services.is_empty() {
            return;
        }
        let mut used: HashSet<u32> = HashSet::new();
        for log in v.logs {
            let (Some(events), Some(topic0)) =
                (self.services.get(&log.address), log.topics.first())
            else {
                continue;
            };
            let Some(s) = events.iter().find(|s| s.event.topic0 == *topic0) else {
                continue;
            };
            let index = log.log_index.to::<u64>();
            let data = LogData::new_unchecked(log.topics.clone(), log.data.clone());
            let decoded = match s.event.decoder.decode_log_data(&data) {
                Ok(d) => d,
                Err(e) => {
                    skips.add(
                        match s.kind {
                            LinkKind::Mixer => "mixer event does not decode",
                            _ => "bridge event does not decode",
                        },
                        v.tx,
                        &format!("log {index}: {e}"),
                    );
                    continue;
                }
            };
            let contract = text_of(self.chain, &log.address);
            let amount = match field_value(&decoded, s.event.amount) {
                Some(DynSolValue::Uint(u, _)) => match u128::try_from(*u) {
                    Ok(a) => Some(a),
                    Err(_) => {
                        skips.add("service event amount beyond 128 bits", v.tx, "");
                        continue;
                    }
                },
                _ => None,
            };
            let party = field_value(&decoded, s.event.party).and_then(value_text);
            let id = field_value(&decoded, s.event.id).and_then(value_text);
            let relayer = field_value(&decoded, s.event.relayer).and_then(value_text);
            let evidence = format!("log:{index}:{} {}", s.service, s.event.name);
            let gas_price = Some(v.tx.effective_gas_price);
            match s.side {
                Side::Entry => {
                    let free =
                        |t: &&EvmTransfer| fungible(t) && !used.contains(&t.transfer.sub_index);
                    // Value paid into the contract; else, when the event states the amount,
                    // the sender's tokens of that amount burnt (to the zero address) in the
                    // tx (a burn-and-mint bridge keeps nothing).
                    let found = v
                        .transfers
                        .iter()
                        .filter(free)
                        .find(|t| {
                            t.transfer.to.as_str() == contract
                                && amount.is_none_or(|a| t.transfer.amount.units() == a)
                        })
                        .or_else(|| {
                            let a = amount?;
                            v.transfers.iter().filter(free).find(|t| {
                                t.transfer.from == v.tx.from
                                    && t.transfer.to.as_str() == ZERO
                                    && t.transfer.amount.units() == a
                            })
                        });
                    let Some(t) = found else {
                        skips.add(
                            "service entry event without a transfer into the contract",
                            v.tx,
                            &evidence,
                        );
                        continue;
                    };
                    used.insert(t.transfer.sub_index);
                    let destination = match s.kind {
                        LinkKind::Bridge => party.map(|address| Destination {
                            chain: s.far_chain.clone(),
                            address,
                            min_out: None,
                        }),
                        _ => None,
                    };
                    out.push(LinkFact::Entry {
                        kind: s.kind,
                        service: s.service.clone(),
                        contract,
                        leg: leg(t, true, t.transfer.amount.units()),
                        id,
                        destination,
                        gas_price,
                        evidence,
                    });
                }
                Side::Exit => {
                    let free =
                        |t: &&EvmTransfer| fungible(t) && !used.contains(&t.transfer.sub_index);
                    let to_party = |t: &&EvmTransfer| {
                        party
                            .as_deref()
                            .is_none_or(|p| t.transfer.to.as_str() == p.to_ascii_lowercase())
                    };
                    // Value paid by the contract; else, when the event states amount and
                    // payee, tokens of that amount minted (from the zero address) to the payee
                    // in the tx (a bridge minting its wrapped token).
                    let found = v
                        .transfers
                        .iter()
                        .filter(free)
                        .filter(to_party)
                        .find(|t| {
                            t.transfer.from.as_str() == contract
                                && amount.is_none_or(|a| t.transfer.amount.units() == a)
                        })
                        .or_else(|| {
                            let (a, _) = (amount?, party.as_deref()?);
                            v.transfers.iter().filter(free).filter(to_party).find(|t| {
                                t.transfer.from.as_str() == ZERO && t.transfer.amount.units() == a
                            })
                        });
                    let Some(t) = found else {
                        skips.add(
                            "service exit event without a transfer out of the contract",
                            v.tx,
                            &evidence,
                        );
                        continue;
                    };
                    used.insert(t.transfer.sub_index);
                    // A mixer withdrawal's relayer: the event's (a zero address is none), else
                    // whoever sent the tx if not the recipient (a withdrawal someone else
                    // submitted).
                    let relayer = relayer
                        .filter(|r| {
                            !r.trim_start_matches("0x")
                                .trim_start_matches('0')
                                .is_empty()
                        })
                        .or_else(|| {
                            (s.kind == LinkKind::Mixer && v.tx.from != t.transfer.to)
                                .then(|| v.tx.from.as_str().to_string())
                        });
                    out.push(LinkFact::Exit {
                        kind: s.kind,
                        service: s.service.clone(),
                        contract,
                        leg: leg(t, false, t.transfer.amount.units()),
                        reference: id,
                        relayer,
                        gas_price,
                        evidence,
                    });
                }
            }
        }
    }

    fn vault_memos(&self, v: &TxView<'_>, out: &mut Vec<LinkFact>, skips: &mut Skips) {
        if self.vaults.is_empty() {
            return;
        }
        let vault_of = |a: &Address| -> Option<&String> {
            let parsed: EvmAddress = a.as_str().parse().ok()?;
            self.vaults.get(&parsed)
        };
        let to_vault =
            v.tx.to
                .as_ref()
                .and_then(|to| vault_of(to).map(|s| (to, s)));
        let from_vault = vault_of(&v.tx.from).map(|s| (&v.tx.from, s));
        let Some((vault, service)) = to_vault.or(from_vault) else {
            return;
        };
        // A vault calling its router (`transferOut`) has its memo in the router's event, not
        // in the calldata: [`LinkDecoder::router_events`] reads it.
        let to_router = v.tx.to.as_ref().is_some_and(|to| {
            to.as_str()
                .parse::<EvmAddress>()
                .is_ok_and(|a| self.routers.contains_key(&a))
        });
        if to_router {
            return;
        }
        let inbound = to_vault.is_some();
        let Some(text) = v.memo else {
            skips.add("vault tx without a memo", v.tx, vault.as_str());
            return;
        };
        let memo = match memo::parse(text) {
            Ok(m) => m,
            Err(e) => {
                skips.add("malformed memo", v.tx, &e.to_string());
                return;
            }
        };
        let value = v
            .transfers
            .iter()
            .find(|t| t.source == TransferSource::TxValue);
        let Some(value) = value else {
            skips.add("vault memo tx moves no value", v.tx, text);
            return;
        };
        let evidence = format!("calldata memo {text:?}");
        let gas_price = Some(v.tx.effective_gas_price);
        match (memo, inbound) {
            (
                memo::Memo::Swap {
                    chain,
                    destination,
                    limit,
                    ..
                },
                true,
            ) => out.push(LinkFact::Entry {
                kind: LinkKind::ChainSwap,
                service: service.clone(),
                contract: vault.as_str().to_string(),
                leg: leg(value, true, value.transfer.amount.units()),
                id: None,
                destination: Some(Destination {
                    chain: Some(chain),
                    address: destination,
                    min_out: limit,
                }),
                gas_price,
                evidence,
            }),
            (memo::Memo::Out { reference } | memo::Memo::Refund { reference }, false) => {
                out.push(LinkFact::Exit {
                    kind: LinkKind::ChainSwap,
                    service: service.clone(),
                    contract: vault.as_str().to_string(),
                    leg: leg(value, false, value.transfer.amount.units()),
                    reference: Some(reference),
                    relayer: None,
                    gas_price,
                    evidence,
                })
            }
            (_, true) => skips.add("outbound memo paid into a vault", v.tx, text),
            (_, false) => skips.add("inbound memo paid by a vault", v.tx, text),
        }
    }
}

/// A THORChain router event that makes a link.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RouterEvent {
    Deposit,
    TransferOut,
    TransferOutAndCall,
}

impl RouterEvent {
    fn of(topic0: &B256) -> Option<RouterEvent> {
        match *topic0 {
            router::Deposit::SIGNATURE_HASH => Some(RouterEvent::Deposit),
            router::TransferOut::SIGNATURE_HASH => Some(RouterEvent::TransferOut),
            router::TransferOutAndCall::SIGNATURE_HASH => Some(RouterEvent::TransferOutAndCall),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            RouterEvent::Deposit => "Deposit",
            RouterEvent::TransferOut => "TransferOut",
            RouterEvent::TransferOutAndCall => "TransferOutAndCall",
        }
    }
}

/// What a router event says, as its leg must match it.
struct RouterLog {
    /// `Deposit`: the vault; `TransferOut`: the payee; `TransferOutAndCall`: the aggregator.
    party: EvmAddress,
    /// Who else may have been paid: `TransferOutAndCall`'s `to`, whom the router pays
    /// directly when the aggregator's call fails.
    fallback: Option<EvmAddress>,
    asset: EvmAddress,
    amount: U256,
    memo: String,
    /// Evidence beyond the memo (`TransferOutAndCall`: where the value was meant to end).
    detail: String,
}

impl LinkDecoder {
    fn decode_router_log(
        &self,
        event: RouterEvent,
        data: &LogData,
    ) -> alloy::sol_types::Result<RouterLog> {
        Ok(match event {
            RouterEvent::Deposit => {
                let e = router::Deposit::decode_log_data(data)?;
                RouterLog {
                    party: e.to,
                    fallback: None,
                    asset: e.asset,
                    amount: e.amount,
                    memo: e.memo,
                    detail: String::new(),
                }
            }
            RouterEvent::TransferOut => {
                let e = router::TransferOut::decode_log_data(data)?;
                RouterLog {
                    party: e.to,
                    fallback: None,
                    asset: e.asset,
                    amount: e.amount,
                    memo: e.memo,
                    detail: String::new(),
                }
            }
            RouterEvent::TransferOutAndCall => {
                let e = router::TransferOutAndCall::decode_log_data(data)?;
                let chain = self.chain;
                RouterLog {
                    party: e.target,
                    fallback: Some(e.to),
                    // The router passes on the ether the vault sent with its call: native only.
                    asset: EvmAddress::ZERO,
                    amount: e.amount,
                    detail: format!(
                        " target {} final asset {} to {} amount out min {}",
                        text_of(chain, &e.target),
                        text_of(chain, &e.finalAsset),
                        text_of(chain, &e.to),
                        e.amountOutMin
                    ),
                    memo: e.memo,
                }
            }
        })
    }

    /// THORChain router events: a `Deposit` whose memo is a swap is an entry, its leg the
    /// transfer bringing that amount of the asset into the router or the vault the event names
    /// (the tx's value, or the user's ERC-20 transfer; no vault need be configured: vaults
    /// rotate, the event names the current one); a `TransferOut` with `OUT:`/`REFUND:` is an
    /// exit naming the inbound, its leg the transfer of that amount to the payee; a
    /// `TransferOutAndCall` with `OUT:` is an exit whose leg is the ether paid to the
    /// aggregator (`target`), or to the final recipient when the aggregator's call failed
    /// and the router paid it directly; its evidence names the aggregator, the final asset,
    /// the recipient and the minimum out, where the value was meant to end. Only configured
    /// routers (`[[vault]] routers`) make facts: any contract can emit these events, and a
    /// fake one must not link anything (counted, so that a missing router shows).
    ///
    /// `TransferAllowance` and `VaultTransfer` make no link and are not counted: they move
    /// holdings between THORChain's own vaults when the vault set rotates (the router's book of
    /// which vault owns the tokens it holds; the ether sent along goes from the old vault to the
    /// new one), so no user's value enters or leaves THORChain there. Linking them would claim
    /// an inbound or an outbound that never was; a trace simply follows the ether from vault to
    /// vault as an ordinary transfer.
    fn router_events(&self, v: &TxView<'_>, out: &mut Vec<LinkFact>, skips: &mut Skips) {
        // Transfers already a leg of this tx's facts (two deposits of one amount in one tx
        // take one transfer each).
        let tx = format!("0x{}", v.tx.hash);
        let mut used: HashSet<u32> = out
            .iter()
            .filter_map(|f| match f {
                LinkFact::Entry { leg, .. } | LinkFact::Exit { leg, .. } if leg.tx == tx => {
                    Some(leg.leg)
                }
                _ => None,
            })
            .collect();
        for log in v.logs {
            let Some(topic0) = log.topics.first() else {
                continue;
            };
            // Vault-to-vault moves: no link (see above), and nothing to count.
            if *topic0 == router::TransferAllowance::SIGNATURE_HASH
                || *topic0 == router::VaultTransfer::SIGNATURE_HASH
            {
                continue;
            }
            let Some(event) = RouterEvent::of(topic0) else {
                continue;
            };
            let deposit = event == RouterEvent::Deposit;
            let index = log.log_index.to::<u64>();
            let contract = text_of(self.chain, &log.address);
            let Some(service) = self.routers.get(&log.address) else {
                skips.add(
                    "router event from a contract not configured as a router",
                    v.tx,
                    &format!("log {index}: {contract}"),
                );
                continue;
            };
            let data = LogData::new_unchecked(log.topics.clone(), log.data.clone());
            let decoded = match self.decode_router_log(event, &data) {
                Ok(d) => d,
                Err(e) => {
                    skips.add(
                        "router event does not decode",
                        v.tx,
                        &format!("log {index} ({}): {e}", event.name()),
                    );
                    continue;
                }
            };
            let Ok(amount) = u128::try_from(decoded.amount) else {
                skips.add("router event amount beyond 128 bits", v.tx, &contract);
                continue;
            };
            let text = decoded.memo;
            let memo = match memo::parse(&text) {
                Ok(m) => m,
                Err(e) => {
                    skips.add("malformed router memo", v.tx, &format!("log {index}: {e}"));
                    continue;
                }
            };
            let evidence = format!(
                "log:{index}:{service} {} memo {text:?}{}",
                event.name(),
                decoded.detail
            );
            let asset = if decoded.asset.is_zero() {
                "native".to_string()
            } else {
                text_of(self.chain, &decoded.asset).to_ascii_lowercase()
            };
            let party = text_of(self.chain, &decoded.party);
            // Whom an outbound may have paid, in order of preference.
            let payees: Vec<String> = std::iter::once(&decoded.party)
                .chain(decoded.fallback.as_ref())
                .map(|a| text_of(self.chain, a))
                .collect();
            // The transfers that could carry the event's value: inbound, paid into the router
            // or the vault by someone else (the router forwarding to the vault is not the
            // user's payment); outbound, paid to a payee by the router or the vault.
            let candidates: Vec<&EvmTransfer> = v
                .transfers
                .iter()
                .filter(|t| {
                    let tr = &t.transfer;
                    fungible(t)
                        && !used.contains(&tr.sub_index)
                        && asset_text(&tr.asset) == asset
                        && if deposit {
                            (tr.to.as_str() == contract || tr.to.as_str() == party)
                                && tr.from.as_str() != contract
                        } else {
                            payees.iter().any(|p| tr.to.as_str() == p)
                                && (tr.from.as_str() == contract || tr.from == v.tx.from)
                        }
                })
                .collect();
            if candidates.is_empty() {
                skips.add(
                    match event {
                        RouterEvent::Deposit => {
                            "router Deposit without a transfer into the router or vault"
                        }
                        RouterEvent::TransferOut => {
                            "router TransferOut without its transfer to the payee (no traces?)"
                        }
                        RouterEvent::TransferOutAndCall => {
                            "router TransferOutAndCall without its transfer to the aggregator or recipient (no traces?)"
                        }
                    },
                    v.tx,
                    &evidence,
                );
                continue;
            }
            let found = payees.iter().find_map(|p| {
                candidates.iter().find(|t| {
                    t.transfer.amount.units() == amount && (deposit || t.transfer.to.as_str() == p)
                })
            });
            let Some(t) = found else {
                skips.add(
                    "router event amount does not match its transfer",
                    v.tx,
                    &evidence,
                );
                continue;
            };
            let gas_price = Some(v.tx.effective_gas_price);
            used.insert(t.transfer.sub_index);
            match (memo, deposit) {
                (
                    memo::Memo::Swap {
                        chain,
                        destination,
                        limit,
                        ..
                    },
                    true,
                ) => out.push(LinkFact::Entry {
                    kind: LinkKind::ChainSwap,
                    service: service.clone(),
                    contract,
                    leg: leg(t, true, amount),
                    id: None,
                    destination: Some(Destination {
                        chain: Some(chain),
                        address: destination,
                        min_out: limit,
                    }),
                    gas_price,
                    evidence,
                }),
                (memo::Memo::Out { reference } | memo::Memo::Refund { reference }, false) => out
                    .push(LinkFact::Exit {
                        kind: LinkKind::ChainSwap,
                        service: service.clone(),
                        contract,
                        leg: leg(t, false, amount),
                        reference: Some(reference),
                        relayer: None,
                        gas_price,
                        evidence,
                    }),
                (_, true) => skips.add("router Deposit memo is not a swap", v.tx, &evidence),
                (_, false) => skips.add(
                    if event == RouterEvent::TransferOut {
                        "router TransferOut memo names no inbound"
                    } else {
                        "router TransferOutAndCall memo names no inbound"
                    },
                    v.tx,
                    &evidence,
                ),
            }
        }
    }
}

/// Calldata as a memo: kept only when it is short printable ASCII (THORChain-style memos),
/// so that ordinary contract calls cost nothing. `hex` is the `0x…` calldata.
pub(crate) fn memo_of_calldata(hex: &str) -> Option<String> {
    let digits = hex.strip_prefix("0x").unwrap_or(hex);
    if digits.is_empty() || digits.len() > 2 * MAX_MEMO_BYTES || !digits.len().is_multiple_of(2) {
        return None;
    }
    let bytes = alloy::hex::decode(digits).ok()?;
    bytes
        .iter()
        .all(|b| (0x20..0x7f).contains(b))
        .then(|| String::from_utf8(bytes).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniswap_topics_are_the_mainnet_ones() {
        assert_eq!(
            format!("{:x}", v2::Swap::SIGNATURE_HASH),
            "d78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"
        );
        assert_eq!(
            format!("{:x}", v3::Swap::SIGNATURE_HASH),
            "c42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67"
        );
    }

    #[test]
    fn default_config_parses_and_names_tornado() {
        let c = default_config();
        assert_eq!(c.mixers.len(), 1);
        assert_eq!(c.mixers[0].contracts.len(), 4);
        let d = LinkDecoder::builtin(Chain::Evm(1));
        assert_eq!(d.services.len(), 4);
        // Tornado's Deposit topic, as on Etherscan.
        let deposit = &d.services.values().next().unwrap()[0].event;
        assert_eq!(
            format!("{:x}", deposit.topic0),
            "a945e51eec50ab98c161376f0db4cf2aeba3ec92755fe2fcd388bdbbb80ff196"
        );
        assert!(LinkDecoder::builtin(Chain::Evm(5)).services.is_empty());
    }

    #[test]
    fn default_config_names_thorchains_mainnet_routers_and_no_vault() {
        let c = default_config();
        let [thorchain] = c.vaults.as_slice() else {
            panic!("{:?}", c.vaults)
        };
        assert_eq!(thorchain.name, "thorchain");
        assert!(thorchain.vaults.is_empty(), "vaults rotate: none is listed");
        let d = LinkDecoder::builtin(Chain::Evm(1));
        let mut routers: Vec<String> = d.routers.keys().map(|a| format!("{a:#x}")).collect();
        routers.sort();
        assert_eq!(
            routers,
            [
                "0x3624525075b88b24ecc29ce226b0cec1ffcb6976", // v3
                "0xc145990e84155416144c532e31f89b840ca8c2ce", // v2
                "0xd37bbe5744d730a1d98d8dc97c42f0ca46ad7146", // v4.1
            ]
        );
        assert!(d.routers.values().all(|s| s == "thorchain"));
        assert!(d.vaults.is_empty());
        assert!(LinkDecoder::builtin(Chain::Evm(56)).routers.is_empty());
    }

    #[test]
    fn bad_signatures_and_roles_are_named() {
        let mut c = default_config();
        c.mixers[0].deposit[0].signature = "Deposit(bytes33 x)".into();
        let e = validate(&c, "f.toml").unwrap_err().to_string();
        assert!(
            e.starts_with("f.toml: mixer \"tornado-eth\": deposit[0].signature"),
            "{e}"
        );
        let mut c = default_config();
        c.mixers[0].withdrawal[0].party = Some("recipient".into());
        let e = validate(&c, "f.toml").unwrap_err().to_string();
        assert!(
            e.contains("withdrawal[0].party") && e.contains("no field \"recipient\""),
            "{e}"
        );
    }

    #[test]
    fn router_topics_are_the_mainnet_ones() {
        // topic0 of each event of THORChain's router, as its logs on Ethereum carry them.
        for (topic, expected) in [
            (
                router::Deposit::SIGNATURE_HASH,
                "ef519b7eb82aaf6ac376a6df2d793843ebfd593de5f1a0601d3cc6ab49ebb395",
            ),
            (
                router::TransferOut::SIGNATURE_HASH,
                "a9cd03aa3c1b4515114539cd53d22085129d495cb9e9f9af77864526240f1bf7",
            ),
            (
                router::TransferOutAndCall::SIGNATURE_HASH,
                "8e5841bcd195b858d53b38bcf91b38d47f3bc800469b6812d35451ab619c6f6c",
            ),
            (
                router::TransferAllowance::SIGNATURE_HASH,
                "05b90458f953d3fcb2d7fb25616a2fddeca749d0c47cc5c9832d0266b5346eea",
            ),
            (
                router::VaultTransfer::SIGNATURE_HASH,
                "281daef48d91e5cd3d32db0784f6af69cd8d8d2e8c612a3568dca51ded51e08f",
            ),
        ] {
            assert_eq!(format!("{topic:x}"), expected);
        }
    }

    /// THORChain's router on Ethereum mainnet, its logs hand-built with alloy's encoder.
    mod thorchain {
        use super::*;
        use alloy::primitives::U64;
        use tracehound_core::{Amount, Hash32, Transfer, TxRef};

        use crate::model::TraceAction;

        pub(super) const CHAIN: Chain = Chain::Evm(1);
        /// The router v4.1 (lower case, as the store writes addresses).
        pub(super) const ROUTER: &str = "0xd37bbe5744d730a1d98d8dc97c42f0ca46ad7146";
        /// An asgard vault EOA (vaults rotate: none is configured, the events name them).
        pub(super) const VAULT: &str = "0x4444444444444444444444444444444444444444";
        pub(super) const USER: &str = "0x1111111111111111111111111111111111111111";
        pub(super) const PAYEE: &str = "0x8888888888888888888888888888888888888888";
        /// A DEX aggregator a `TransferOutAndCall` pays.
        pub(super) const AGGREGATOR: &str = "0x7777777777777777777777777777777777777777";
        /// USDT on Ethereum, a final asset.
        pub(super) const USDT: &str = "0xdac17f958d2ee523a2206206994597c13d831ec7";
        pub(super) const INBOUND: &str =
            "67F019E338BE8682A7D2C988277B8F32FC197F429CC43AA9B195C14F9597741E";

        pub(super) fn a(s: &str) -> EvmAddress {
            s.parse().unwrap()
        }

        fn address(s: &str) -> Address {
            Address::parse(CHAIN, s).unwrap()
        }

        /// The built-in decoder of Ethereum mainnet (THORChain's routers, no vault).
        pub(super) fn decoder() -> LinkDecoder {
            LinkDecoder::builtin(CHAIN)
        }

        pub(super) fn tx(from: &str, to: &str, value: u128) -> EvmTx {
            EvmTx {
                hash: Hash32::from_internal([7; 32]),
                index: 3,
                from: address(from),
                to: Some(address(to)),
                value: Amount::from_units(value),
                status: TxStatus::Success,
                gas_used: 60_000,
                effective_gas_price: 9,
                blob_gas_used: None,
                blob_gas_price: None,
                created_contract: None,
                tx_type: 2,
            }
        }

        /// An ether transfer of `tx`: its value (`sub` 0) or an internal call.
        pub(super) fn ether(
            tx: &EvmTx,
            sub: u32,
            from: &str,
            to: &str,
            amount: u128,
        ) -> EvmTransfer {
            EvmTransfer {
                transfer: Transfer {
                    tx: TxRef {
                        chain: CHAIN,
                        height: 20_000_000,
                        index: tx.index,
                        txid: tx.hash,
                    },
                    sub_index: sub,
                    kind: if sub == 0 {
                        TransferKind::Native
                    } else {
                        TransferKind::Internal
                    },
                    asset: AssetId::Native,
                    from: address(from),
                    to: address(to),
                    amount: Amount::from_units(amount),
                },
                source: if sub == 0 {
                    TransferSource::TxValue
                } else {
                    TransferSource::Trace {
                        trace_address: vec![sub - 1],
                        action: TraceAction::Call,
                    }
                },
            }
        }

        pub(super) fn log(emitter: &str, index: u64, data: &LogData) -> WireLog {
            WireLog {
                address: a(emitter),
                topics: data.topics().to_vec(),
                data: data.data.clone(),
                log_index: U64::from(index),
                transaction_hash: None,
                block_hash: None,
                removed: false,
            }
        }

        pub(super) fn run(
            tx: &EvmTx,
            logs: &[WireLog],
            transfers: &[EvmTransfer],
        ) -> (Vec<LinkFact>, Vec<(String, u64)>) {
            let (mut out, mut skips) = (Vec::new(), Skips::default());
            let view = TxView {
                tx,
                memo: None,
                logs,
                transfers,
                wraps: &[],
            };
            decoder().decode_tx(&view, &mut out, &mut skips);
            (out, skips.into_vec())
        }

        pub(super) fn deposit(vault: &str, amount: u128, memo: &str) -> LogData {
            router::Deposit {
                to: a(vault),
                asset: EvmAddress::ZERO,
                amount: U256::from(amount),
                memo: memo.into(),
            }
            .encode_log_data()
        }

        pub(super) fn transfer_out(amount: u128, memo: &str) -> LogData {
            router::TransferOut {
                vault: a(VAULT),
                to: a(PAYEE),
                asset: EvmAddress::ZERO,
                amount: U256::from(amount),
                memo: memo.into(),
            }
            .encode_log_data()
        }

        pub(super) fn transfer_out_and_call(amount: u128, memo: &str) -> LogData {
            router::TransferOutAndCall {
                vault: a(VAULT),
                target: a(AGGREGATOR),
                amount: U256::from(amount),
                finalAsset: a(USDT),
                to: a(PAYEE),
                amountOutMin: U256::from(1_234_567u64),
                memo: memo.into(),
            }
            .encode_log_data()
        }
    }

    #[test]
    fn a_mainnet_router_deposit_with_a_swap_memo_is_an_entry() {
        use thorchain::*;
        let memo = "SWAP:BTC.BTC:bc1qtgsttdcy3z67hegc36l99egdm36va0m5r0gece:24000000";
        // The user pays the router (the tx's value), the router forwards it to the vault the
        // event names — a vault no config lists.
        let t = tx(USER, ROUTER, 5_000);
        let transfers = [
            ether(&t, 0, USER, ROUTER, 5_000),
            ether(&t, 1, ROUTER, VAULT, 5_000),
        ];
        let (out, skips) = run(
            &t,
            &[log(ROUTER, 4, &deposit(VAULT, 5_000, memo))],
            &transfers,
        );
        assert!(skips.is_empty(), "{skips:?}");
        let [
            LinkFact::Entry {
                kind,
                service,
                contract,
                leg,
                id,
                destination,
                gas_price,
                evidence,
            },
        ] = out.as_slice()
        else {
            panic!("{out:?}")
        };
        assert_eq!(
            (*kind, service.as_str(), contract.as_str()),
            (LinkKind::ChainSwap, "thorchain", ROUTER)
        );
        assert_eq!(
            (leg.leg, leg.asset.as_str(), leg.amount, leg.party.as_str()),
            (0, "native", 5_000, USER),
            "the user's payment, not the router's forwarding"
        );
        assert_eq!(*id, None);
        assert_eq!(
            destination.as_ref(),
            Some(&Destination {
                chain: Some("BTC".into()),
                address: "bc1qtgsttdcy3z67hegc36l99egdm36va0m5r0gece".into(),
                min_out: Some(24_000_000),
            })
        );
        assert_eq!(*gas_price, Some(9));
        assert_eq!(evidence, &format!("log:4:thorchain Deposit memo {memo:?}"));
    }

    #[test]
    fn a_mainnet_router_transfer_out_is_an_exit_naming_the_inbound() {
        use thorchain::*;
        let memo = format!("OUT:{INBOUND}");
        // The vault calls `transferOut` with the ether, the router pays the payee.
        let t = tx(VAULT, ROUTER, 700);
        let transfers = [
            ether(&t, 0, VAULT, ROUTER, 700),
            ether(&t, 1, ROUTER, PAYEE, 700),
        ];
        let (out, skips) = run(&t, &[log(ROUTER, 0, &transfer_out(700, &memo))], &transfers);
        assert!(skips.is_empty(), "{skips:?}");
        let [
            LinkFact::Exit {
                kind,
                contract,
                leg,
                reference,
                relayer,
                evidence,
                ..
            },
        ] = out.as_slice()
        else {
            panic!("{out:?}")
        };
        assert_eq!((*kind, contract.as_str()), (LinkKind::ChainSwap, ROUTER));
        assert_eq!(
            (leg.leg, leg.asset.as_str(), leg.amount, leg.party.as_str()),
            (1, "native", 700, PAYEE)
        );
        assert_eq!(reference.as_deref(), Some(INBOUND));
        assert_eq!(*relayer, None);
        assert_eq!(
            evidence,
            &format!("log:0:thorchain TransferOut memo {memo:?}")
        );
    }

    #[test]
    fn a_mainnet_router_transfer_out_and_call_is_an_exit_to_the_aggregator() {
        use thorchain::*;
        let memo = format!("OUT:{INBOUND}");
        // The vault hands 900 wei to the router, which calls the aggregator with them.
        let t = tx(VAULT, ROUTER, 900);
        let transfers = [
            ether(&t, 0, VAULT, ROUTER, 900),
            ether(&t, 1, ROUTER, AGGREGATOR, 900),
        ];
        let logs = [log(ROUTER, 2, &transfer_out_and_call(900, &memo))];
        let (out, skips) = run(&t, &logs, &transfers);
        assert!(skips.is_empty(), "{skips:?}");
        let [
            LinkFact::Exit {
                kind,
                service,
                contract,
                leg,
                reference,
                gas_price,
                evidence,
                ..
            },
        ] = out.as_slice()
        else {
            panic!("{out:?}")
        };
        assert_eq!(
            (*kind, service.as_str(), contract.as_str()),
            (LinkKind::ChainSwap, "thorchain", ROUTER)
        );
        assert_eq!(
            (leg.leg, leg.asset.as_str(), leg.amount, leg.party.as_str()),
            (1, "native", 900, AGGREGATOR)
        );
        assert_eq!(reference.as_deref(), Some(INBOUND));
        assert_eq!(*gas_price, Some(9));
        assert_eq!(
            evidence,
            &format!(
                "log:2:thorchain TransferOutAndCall memo {memo:?} target {AGGREGATOR} \
                 final asset {USDT} to {PAYEE} amount out min 1234567"
            )
        );
        // The aggregator's call failed: the router paid the recipient directly.
        let transfers = [
            ether(&t, 0, VAULT, ROUTER, 900),
            ether(&t, 1, ROUTER, PAYEE, 900),
        ];
        let (out, skips) = run(&t, &logs, &transfers);
        assert!(skips.is_empty(), "{skips:?}");
        let [LinkFact::Exit { leg, .. }] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!((leg.leg, leg.party.as_str()), (1, PAYEE));
    }

    #[test]
    fn vault_to_vault_router_events_make_no_link_and_are_not_counted() {
        use thorchain::*;
        let new_vault = "0x6666666666666666666666666666666666666666";
        let t = tx(VAULT, ROUTER, 50);
        // `returnVaultAssets`: the ether sent along goes to the new vault.
        let transfers = [
            ether(&t, 0, VAULT, ROUTER, 50),
            ether(&t, 1, ROUTER, new_vault, 50),
        ];
        let churn = "MIGRATE:3494355";
        let vault_transfer = router::VaultTransfer {
            oldVault: a(VAULT),
            newVault: a(new_vault),
            coins: vec![router::Coin {
                asset: a(USDT),
                amount: U256::from(10u64),
            }],
            memo: churn.into(),
        }
        .encode_log_data();
        let allowance = router::TransferAllowance {
            oldVault: a(VAULT),
            newVault: a(new_vault),
            asset: a(USDT),
            amount: U256::from(10u64),
            memo: churn.into(),
        }
        .encode_log_data();
        let logs = [log(ROUTER, 0, &vault_transfer), log(ROUTER, 1, &allowance)];
        let (out, skips) = run(&t, &logs, &transfers);
        assert!(out.is_empty(), "{out:?}");
        assert!(skips.is_empty(), "{skips:?}");
    }

    #[test]
    fn router_events_that_cannot_be_linked_at_mainnet_are_counted() {
        use thorchain::*;
        let out_memo = format!("OUT:{INBOUND}");
        let t = tx(VAULT, ROUTER, 900);
        let paid = [
            ether(&t, 0, VAULT, ROUTER, 900),
            ether(&t, 1, ROUTER, AGGREGATOR, 900),
        ];
        let good = transfer_out_and_call(900, &out_memo);
        // The right topic, a body cut short.
        let cut = LogData::new_unchecked(
            good.topics().to_vec(),
            good.data.slice(..good.data.len() - 40),
        );
        // A Deposit without its indexed asset.
        let deposit_topics = deposit(VAULT, 900, "=:b:bc1qx");
        let short_topics = LogData::new_unchecked(
            deposit_topics.topics()[..2].to_vec(),
            deposit_topics.data.clone(),
        );
        let spoof = "0x3333333333333333333333333333333333333333";
        let cases: Vec<(WireLog, &str)> = vec![
            (log(ROUTER, 0, &cut), "router event does not decode"),
            (
                log(ROUTER, 0, &short_topics),
                "router event does not decode",
            ),
            // `OUT:` with a tx id that is no tx id.
            (
                log(ROUTER, 0, &transfer_out_and_call(900, "OUT:67F019E338BE")),
                "malformed router memo",
            ),
            (
                log(ROUTER, 0, &transfer_out(900, "OUT:XYZ")),
                "malformed router memo",
            ),
            // The same event from a contract that is not THORChain's router.
            (
                log(spoof, 0, &good),
                "router event from a contract not configured as a router",
            ),
            (
                log(spoof, 0, &deposit(VAULT, 900, "=:b:bc1qx")),
                "router event from a contract not configured as a router",
            ),
            // More than the router paid out.
            (
                log(ROUTER, 0, &transfer_out_and_call(901, &out_memo)),
                "router event amount does not match its transfer",
            ),
            // A swap memo on an outbound.
            (
                log(ROUTER, 0, &transfer_out_and_call(900, "=:b:bc1qx")),
                "router TransferOutAndCall memo names no inbound",
            ),
        ];
        for (l, reason) in cases {
            let (out, skips) = run(&t, std::slice::from_ref(&l), &paid);
            assert!(out.is_empty(), "{reason}: {out:?}");
            assert_eq!(skips, vec![(reason.to_string(), 1)], "{reason}");
        }
        // No traces: the router's payment to the aggregator is not seen.
        let (out, skips) = run(&t, &[log(ROUTER, 0, &good)], &paid[..1]);
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(
            skips,
            vec![(
                "router TransferOutAndCall without its transfer to the aggregator or recipient (no traces?)"
                    .to_string(),
                1
            )]
        );
    }

    #[test]
    fn only_short_printable_calldata_is_a_memo() {
        let hex = |s: &str| format!("0x{}", alloy::hex::encode(s));
        assert_eq!(
            memo_of_calldata(&hex("=:LTC.LTC:rltc1qxyz")).as_deref(),
            Some("=:LTC.LTC:rltc1qxyz")
        );
        assert_eq!(
            memo_of_calldata("0xa9059cbb0000"),
            None,
            "a call is no memo"
        );
        assert_eq!(
            memo_of_calldata(&hex(&"a".repeat(MAX_MEMO_BYTES + 1))),
            None
        );
        assert_eq!(memo_of_calldata("0x"), None);
        assert_eq!(memo_of_calldata("0x4f5"), None);
    }
}
