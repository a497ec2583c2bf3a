//! Link facts of UTXO blocks: deposits to and payouts from configured bridge wallets and
//! memo-routed vaults, read from their `OP_RETURN` memos.
//!
//! - A tx paying a configured wallet or vault (and not spending from it) is an
//!   [`LinkFact::Entry`] if its memo is a swap memo (`=:ETH.ETH:0x…`) or, for a bridge, a plain
//!   destination address. Its leg is the output paying the service; its party the address of
//!   the tx's first input.
//! - A tx spending from a configured wallet or vault with an `OUT:<tx>` (or `REFUND:<tx>`) memo
//!   is an [`LinkFact::Exit`] naming that tx. Its leg is the first output neither back to the
//!   service nor `OP_RETURN`.
//! - Without configuration, a THORChain swap memo still marks an entry (THORChain clients pay
//!   the vault in the first output) and an `OUT:`/`REFUND:` memo an exit, for service
//!   `thorchain`, their evidence saying the vault is not configured.
//!
//! Payers and configured payouts are known from inputs' resolved prevouts: run this on blocks
//! whose inputs are resolved (the store's or [`crate::resolve`]'s). An unresolved payer is left
//! empty and counted.
#![deny(clippy::indexing_slicing)]

use std::collections::{BTreeMap, HashMap};

use tracehound_core::link::memo::{self, Memo};
use tracehound_core::{
    Address, Destination, LinkConfig, LinkFact, LinkKind, LinkLeg, Payee, PayeeRepr, UtxoBlock,
    UtxoTx,
};

/// The service a memo alone names, when no configured vault is involved.
const MEMO_ONLY_SERVICE: &str = "thorchain";

/// Evidence suffix of facts read from a memo alone.
const MEMO_ONLY: &str = "memo only, vault not configured";

/// A configured wallet or vault on the block's chain.
struct Service {
    name: String,
    kind: LinkKind,
    address: String,
}

/// Counted reasons for what was recognised but not linked.
#[derive(Default)]
struct Reasons(BTreeMap<String, u64>);

impl Reasons {
    fn add(&mut self, reason: impl Into<String>) {
        *self.0.entry(reason.into()).or_default() += 1;
    }
}

/// A memo error's reason without the quoted bits of the memo, so that reasons count by kind
/// (`limit: … is not an amount`), not by memo.
fn generic(reason: &str) -> String {
    reason
        .split('"')
        .enumerate()
        .map(|(i, part)| if i % 2 == 1 { "…" } else { part })
        .collect()
}

/// Fills `block.links` from its txs under `config` (appending, in tx order); returns (reason,
/// count) of what was recognised but not linked (a malformed memo, a payout without a
/// reference, …).
pub fn add_link_facts(block: &mut UtxoBlock, config: &LinkConfig) -> Vec<(String, u64)> {
    let chain = block.block.chain;
    let mut services: HashMap<Payee, Service> = HashMap::new();
    let mut reasons = Reasons::default();
    for (address, name, kind) in config.utxo_services(&chain.name()) {
        match Address::parse(chain, &address)
            .ok()
            .and_then(|a| a.to_payee().map(|p| (a, p)))
        {
            Some((a, payee)) => {
                services.insert(
                    payee,
                    Service {
                        name,
                        kind,
                        address: a.as_str().to_string(),
                    },
                );
            }
            None => reasons.add(format!(
                "configured {kind} address is not a {chain} address"
            )),
        }
    }
    let mut facts = Vec::new();
    for tx in block.txs.iter().filter(|t| !t.coinbase) {
        tx_facts(tx, &services, &mut facts, &mut reasons);
    }
    block.links.extend(facts);
    reasons.0.into_iter().collect()
}

/// The tx's memo: the first `OP_RETURN` output with a payload, as (vout, text); text `None`
/// if the payload is not UTF-8.
///
/// A memo longer than an `OP_RETURN` holds is sent as its first 79 characters and `^`, the
/// rest in the programs of P2WPKH outputs following it, 20 bytes each, the last zero-padded
/// (THORChain's "Sending Transactions" guide); it is read whole.
fn memo_of(tx: &UtxoTx) -> Option<(u32, Option<String>)> {
    let (vout, data) = tx.outputs.iter().zip(0u32..).find_map(|(o, vout)| {
        let data = o.data.as_deref().filter(|d| !d.is_empty())?;
        Some((vout, data))
    })?;
    let Ok(text) = std::str::from_utf8(data) else {
        return Some((vout, None));
    };
    let Some(head) = text.strip_suffix('^') else {
        return Some((vout, Some(text.to_string())));
    };
    let mut memo = head.to_string();
    for o in tx.outputs.iter().skip(vout as usize + 1) {
        let chunk = match o.payee.map(|p| p.repr) {
            Some(PayeeRepr::Witness {
                version: 0,
                len: 20,
                program,
            }) => program,
            _ => break,
        };
        let chunk = chunk.get(..20).unwrap_or_default();
        let used = chunk.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        let (text, padding) = chunk.split_at(used);
        // A change output after the memo holds a key hash, not text: the memo ended.
        if text.is_empty() || !text.iter().all(|b| b.is_ascii_graphic()) {
            break;
        }
        memo.extend(text.iter().map(|b| char::from(*b)));
        if !padding.is_empty() {
            break;
        }
    }
    if memo.len() == head.len() {
        // No continuation found: keep the `^`, so that the cut memo is refused, not read as
        // if whole (a cut address would be a wrong destination).
        return Some((vout, Some(text.to_string())));
    }
    Some((vout, Some(memo)))
}

/// The address that paid the tx's first input, if resolved.
fn payer(tx: &UtxoTx) -> Option<String> {
    tx.inputs
        .first()?
        .resolved
        .as_ref()?
        .address()
        .map(|a| a.as_str().to_string())
}

fn leg(tx: &UtxoTx, vout: u32, party: String) -> Option<LinkLeg> {
    let o = tx.outputs.get(vout as usize)?;
    Some(LinkLeg {
        tx_index: tx.index,
        tx: tx.txid.to_string(),
        leg: vout,
        asset: "native".into(),
        amount: o.value.units(),
        party,
    })
}

/// Whether a memo that is no THORChain memo may be a bridge's plain destination address.
fn plain_address(text: &str) -> Option<&str> {
    let t = text.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\0');
    (t.len() >= 20 && t.len() <= 128 && t.chars().all(|c| c.is_ascii_alphanumeric())).then_some(t)
}

fn tx_facts(
    tx: &UtxoTx,
    services: &HashMap<Payee, Service>,
    facts: &mut Vec<LinkFact>,
    reasons: &mut Reasons,
) {
    let memo = memo_of(tx);
    let memo = memo.as_ref().map(|(v, t)| (*v, t.as_deref()));
    if services.is_empty() && memo.is_none() {
        return;
    }
    // A tx spending from a service is the service's payout (its change back to itself is not
    // a deposit); otherwise one paying a service is a deposit.
    let spending = tx.inputs.iter().find_map(|i| {
        let payee = i.resolved.as_ref()?.payee?;
        services.get(&payee)
    });
    if let Some(svc) = spending {
        return payout(tx, svc, services, memo, facts, reasons);
    }
    let paying = tx.outputs.iter().zip(0u32..).find_map(|(o, vout)| {
        let svc = services.get(&o.payee?)?;
        Some((vout, svc))
    });
    if let Some((vout, svc)) = paying {
        return deposit(tx, vout, svc, services, memo, facts, reasons);
    }
    if let Some((memo_vout, Some(text))) = memo {
        memo_only(tx, memo_vout, text, facts, reasons);
    }
}

/// A deposit to configured service `svc` in output `vout`.
fn deposit(
    tx: &UtxoTx,
    vout: u32,
    svc: &Service,
    services: &HashMap<Payee, Service>,
    memo: Option<(u32, Option<&str>)>,
    facts: &mut Vec<LinkFact>,
    reasons: &mut Reasons,
) {
    let kind = svc.kind;
    let Some((memo_vout, text)) = memo else {
        return reasons.add(format!("{kind} deposit without memo"));
    };
    let Some(text) = text else {
        return reasons.add(format!("{kind} deposit memo is not text"));
    };
    let destination = match memo::parse(text) {
        Ok(m @ Memo::Swap { .. }) => destination(&m),
        // The service's own payout, its change back to it, seen with its inputs unresolved.
        Ok(Memo::Out { .. } | Memo::Refund { .. }) => {
            return payout(tx, svc, services, memo, facts, reasons);
        }
        Ok(Memo::Add { .. } | Memo::Withdraw { .. } | Memo::Other { .. }) => {
            return reasons.add(format!(
                "{kind} deposit memo is no swap (liquidity, loan, …)"
            ));
        }
        Err(e) => match plain_address(text) {
            Some(a) if kind == LinkKind::Bridge && e.is_unknown_function() => Some(Destination {
                chain: None,
                address: a.to_string(),
                min_out: None,
            }),
            _ => {
                return reasons.add(format!(
                    "{kind} deposit memo malformed: {}",
                    generic(&e.reason)
                ));
            }
        },
    };
    let party = payer(tx).unwrap_or_else(|| {
        reasons.add(format!("{kind} entry payer unresolved"));
        String::new()
    });
    let Some(leg) = leg(tx, vout, party) else {
        return;
    };
    facts.push(LinkFact::Entry {
        kind,
        service: svc.name.clone(),
        contract: svc.address.clone(),
        leg,
        id: None,
        destination,
        gas_price: None,
        evidence: format!("op_return:{memo_vout}:{text}"),
    });
}

/// A swap memo's destination.
fn destination(m: &Memo) -> Option<Destination> {
    let Memo::Swap {
        destination, limit, ..
    } = m
    else {
        return None;
    };
    Some(Destination {
        chain: m.payout_chain().map(str::to_string),
        address: destination.clone(),
        min_out: *limit,
    })
}

/// The first output neither to one of the services in `back` nor `OP_RETURN`: a payout's
/// recipient.
fn recipient(tx: &UtxoTx, back: impl Fn(&Payee) -> bool) -> Option<u32> {
    tx.outputs
        .iter()
        .zip(0u32..)
        .find(|(o, _)| o.data.is_none() && o.payee.as_ref().is_some_and(|p| !back(p)))
        .map(|(_, vout)| vout)
}

/// A payout by configured service `svc`.
fn payout(
    tx: &UtxoTx,
    svc: &Service,
    services: &HashMap<Payee, Service>,
    memo: Option<(u32, Option<&str>)>,
    facts: &mut Vec<LinkFact>,
    reasons: &mut Reasons,
) {
    let kind = svc.kind;
    // Back to the service: any address of the same service (its change, a vault migration).
    let Some(to) = recipient(tx, |p| services.get(p).is_some_and(|s| s.name == svc.name)) else {
        // Everything stays with the service: a consolidation, not a payout.
        return;
    };
    let parsed = match memo {
        None => return reasons.add(format!("{kind} payout without reference")),
        Some((_, None)) => return reasons.add(format!("{kind} payout memo is not text")),
        Some((v, Some(text))) => (v, text, memo::parse(text)),
    };
    let (memo_vout, text, reference) = match parsed {
        (v, t, Ok(Memo::Out { reference } | Memo::Refund { reference })) => (v, t, reference),
        (_, _, Ok(_)) => return reasons.add(format!("{kind} payout memo is no OUT/REFUND")),
        (_, _, Err(e)) if e.is_unknown_function() => {
            return reasons.add(format!("{kind} payout without reference"));
        }
        (_, _, Err(e)) => {
            return reasons.add(format!(
                "{kind} payout memo malformed: {}",
                generic(&e.reason)
            ));
        }
    };
    let Some(o) = tx.outputs.get(to as usize) else {
        return;
    };
    let party = o
        .address()
        .map(|a| a.as_str().to_string())
        .unwrap_or_default();
    let Some(leg) = leg(tx, to, party) else {
        return;
    };
    facts.push(LinkFact::Exit {
        kind,
        service: svc.name.clone(),
        contract: svc.address.clone(),
        leg,
        reference: Some(reference),
        relayer: None,
        gas_price: None,
        evidence: format!("op_return:{memo_vout}:{text}"),
    });
}

/// A THORChain memo in a tx touching no configured service.
fn memo_only(
    tx: &UtxoTx,
    memo_vout: u32,
    text: &str,
    facts: &mut Vec<LinkFact>,
    reasons: &mut Reasons,
) {
    let m = match memo::parse(text) {
        Ok(m) => m,
        // Most OP_RETURN data is no THORChain memo at all; only a known function counts.
        Err(e) if e.is_unknown_function() => return,
        Err(e) => {
            return reasons.add(format!("thorchain memo malformed: {}", generic(&e.reason)));
        }
    };
    let evidence = format!("op_return:{memo_vout}:{text} ({MEMO_ONLY})");
    match &m {
        Memo::Swap { .. } => {
            // THORChain clients pay the vault in the first output (VOUT0).
            let Some(vout) = tx
                .outputs
                .iter()
                .zip(0u32..)
                .find(|(o, _)| o.data.is_none() && o.payee.is_some())
                .map(|(_, v)| v)
            else {
                return reasons.add("thorchain swap memo without a paid output");
            };
            let Some(contract) = tx
                .outputs
                .get(vout as usize)
                .and_then(|o| o.address())
                .map(|a| a.as_str().to_string())
            else {
                return;
            };
            let party = payer(tx).unwrap_or_else(|| {
                reasons.add("chain_swap entry payer unresolved");
                String::new()
            });
            let Some(leg) = leg(tx, vout, party) else {
                return;
            };
            facts.push(LinkFact::Entry {
                kind: LinkKind::ChainSwap,
                service: MEMO_ONLY_SERVICE.into(),
                contract,
                leg,
                id: None,
                destination: destination(&m),
                gas_price: None,
                evidence,
            });
        }
        Memo::Out { reference } | Memo::Refund { reference } => {
            // The vault is the first input's holder; its change goes back to it.
            let vault = tx
                .inputs
                .first()
                .and_then(|i| i.resolved.as_ref())
                .and_then(|r| r.payee);
            let Some(to) = recipient(tx, |p| Some(*p) == vault) else {
                return reasons.add("thorchain payout without a recipient");
            };
            let contract = vault.map(|p| p.to_address().as_str().to_string());
            if contract.is_none() {
                reasons.add("chain_swap exit vault unresolved");
            }
            let party = tx
                .outputs
                .get(to as usize)
                .and_then(|o| o.address())
                .map(|a| a.as_str().to_string())
                .unwrap_or_default();
            let Some(leg) = leg(tx, to, party) else {
                return;
            };
            facts.push(LinkFact::Exit {
                kind: LinkKind::ChainSwap,
                service: MEMO_ONLY_SERVICE.into(),
                contract: contract.unwrap_or_default(),
                leg,
                reference: Some(reference.clone()),
                relayer: None,
                gas_price: None,
                evidence,
            });
        }
        Memo::Add { .. } | Memo::Withdraw { .. } | Memo::Other { .. } => {
            reasons.add("thorchain memo is no swap or payout (liquidity, loan, …)");
        }
    }
}

#[cfg(test)]
mod tests;
