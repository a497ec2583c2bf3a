//! EVM deposit addresses (Victor 2020, "Address clustering heuristics for Ethereum"): an
//! exchange gives each customer a deposit address and sweeps what arrives there to its hot
//! wallet; so an address that receives from others and forwards what it got to an exchange's
//! hot wallet, soon, is that exchange's.
//!
//! Candidates are the senders of every address the label store calls an exchange (category
//! `exchange` or `hot_wallet`) on the chain; a candidate `D` joins the hot wallet `H` it
//! forwards most to when, over `D`'s history (fees and NFTs aside):
//! - `D` received from at least [`DepositRules::min_senders`] distinct addresses;
//! - for some asset (native or a token), what `D` sent to exchange addresses, counting only
//!   what left within [`DepositRules::window`] blocks of a receipt of that asset, is at least
//!   [`DepositRules::min_forwarded_pct`] % of what it had received by its last such forward
//!   (receipts after the last sweep wait for the next one; they do not count against it);
//! - for no asset did `D` send more than the remaining share to anyone else (a deposit address
//!   only forwards; a user paying an exchange also pays others);
//! - its history is at most [`DepositRules::max_history`] transfers long (deposit addresses
//!   are short-lived; a long history is a service, such as the hot wallet itself).
//!
//! The evidence is the forwarding tx that carried the most, as `height << 32 | tx index`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use tracehound_core::{Address, Chain, TransferKind};
use tracehound_labels::{Category, Filter, LabelStore};
use tracehound_store::{AccountFlow, Store};

use crate::{ClusterError, Clusterer, EvidenceKind};

/// Confidence of a deposit merge (0..=100).
pub const DEPOSIT_CONFIDENCE: u8 = 80;

/// Thresholds of the deposit heuristic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DepositRules {
    /// Distinct senders a deposit address must have received from.
    pub min_senders: usize,
    /// Blocks between a receipt and the forward that counts.
    pub window: u32,
    /// Share of what was received that must go on to exchange addresses, in percent.
    pub min_forwarded_pct: u8,
    /// Candidates with longer histories are skipped.
    pub max_history: usize,
}

impl Default for DepositRules {
    fn default() -> Self {
        DepositRules {
            min_senders: 1,
            window: 10_000,
            min_forwarded_pct: 90,
            max_history: 10_000,
        }
    }
}

/// What the pass found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DepositReport {
    /// Exchange addresses on the chain (from labels) present in the store.
    pub hot_wallets: u64,
    /// Addresses that sent to one, examined.
    pub candidates: u64,
    /// Deposit addresses found.
    pub deposits: u64,
    /// Transfers read.
    pub transfers: u64,
}

fn key(s: &str) -> String {
    s.to_ascii_lowercase()
}

fn history(store: &Store, chain: Chain, id: u64) -> Result<Vec<AccountFlow>, ClusterError> {
    Ok(store.account_flows(chain, id, 0, usize::MAX)?)
}

fn counts(r: &AccountFlow) -> bool {
    !matches!(r.kind, TransferKind::Fee | TransferKind::Nft)
}

/// Runs the heuristic on account chain `chain`, joining deposit addresses to hot wallets in
/// `c` (address ids are the store's account ids).
pub fn find_deposits(
    store: &Store,
    labels: &LabelStore,
    chain: Chain,
    rules: &DepositRules,
    c: &mut Clusterer,
) -> Result<DepositReport, ClusterError> {
    let mut report = DepositReport::default();
    let mut hot: HashMap<String, u64> = HashMap::new();
    for category in [Category::Exchange, Category::HotWallet] {
        for tag in labels.list(&Filter {
            category: Some(category),
            chain: Some(chain),
            source: None,
        })? {
            let addr = Address::from_canonical(chain, tag.address.clone());
            if let Some(view) = store.account(&addr)? {
                hot.insert(key(&tag.address), view.id);
            }
        }
    }
    report.hot_wallets = hot.len() as u64;
    // Senders into any hot wallet, in a stable order.
    let mut candidates: BTreeSet<String> = BTreeSet::new();
    for &h in hot.values() {
        let rows = history(store, chain, h)?;
        report.transfers += rows.len() as u64;
        // Senders labelled exchange themselves stay candidates: a source that labels every
        // address of an exchange alike (deposits too) still gets its deposits joined to the
        // hot wallet they sweep to.
        for r in rows.iter().filter(|r| counts(r) && r.received.units() > 0) {
            candidates.insert(key(&r.from));
        }
    }
    for d in candidates {
        let Some(view) = store.account(&Address::from_canonical(chain, d.clone()))? else {
            continue;
        };
        report.candidates += 1;
        if view.transfers > rules.max_history as u64 {
            continue;
        }
        let rows = history(store, chain, view.id)?;
        report.transfers += rows.len() as u64;
        if let Some((h, tx)) = judge(&d, &rows, &hot, rules)
            && let (Ok(a), Ok(b)) = (u32::try_from(view.id), u32::try_from(h))
        {
            c.link(a, b, tx, EvidenceKind::Deposit, DEPOSIT_CONFIDENCE);
            report.deposits += 1;
        }
    }
    Ok(report)
}

/// Whether `d` (with history `rows`, oldest first) is a deposit address: the hot wallet id
/// it forwards most to and the evidence tx, if so.
fn judge(
    d: &str,
    rows: &[AccountFlow],
    hot: &HashMap<String, u64>,
    rules: &DepositRules,
) -> Option<(u64, u64)> {
    let mut senders: HashSet<String> = HashSet::new();
    // Per asset: received, forwarded in time to exchanges, sent elsewhere, last receipt height.
    #[derive(Default)]
    struct Flow {
        received: u128,
        received_by_last_forward: u128,
        forwarded: u128,
        elsewhere: u128,
        last_in: Option<u32>,
    }
    let mut flows: BTreeMap<&str, Flow> = BTreeMap::new();
    let mut to_hot: BTreeMap<u64, u128> = BTreeMap::new();
    let mut best: Option<(u128, u64)> = None;
    for r in rows.iter().filter(|r| counts(r)) {
        let (from, to) = (key(&r.from), key(&r.to));
        let f = flows.entry(r.asset.as_str()).or_default();
        if to == d && from != d {
            senders.insert(from);
            f.received += r.received.units();
            f.last_in = Some(r.height);
        } else if from == d && to != d {
            let amount = r.sent.units();
            match hot.get(&to) {
                Some(&h)
                    if f.last_in
                        .is_some_and(|l| r.height.saturating_sub(l) <= rules.window) =>
                {
                    f.forwarded += amount;
                    f.received_by_last_forward = f.received;
                    *to_hot.entry(h).or_insert(0) += amount;
                    let tx = u64::from(r.height) << 32 | u64::from(r.tx_index);
                    if best.is_none_or(|(a, _)| amount > a) {
                        best = Some((amount, tx));
                    }
                }
                Some(_) => {}
                None => f.elsewhere += amount,
            }
        }
    }
    if senders.len() < rules.min_senders {
        return None;
    }
    let pct = u128::from(rules.min_forwarded_pct);
    let forwards = flows.values().any(|f| {
        f.received_by_last_forward > 0 && f.forwarded * 100 >= f.received_by_last_forward * pct
    });
    let leaks = flows
        .values()
        .any(|f| f.elsewhere * 100 > f.received * (100 - pct.min(100)));
    if !forwards || leaks {
        return None;
    }
    let (&h, _) = to_hot
        .iter()
        .max_by_key(|&(h, v)| (*v, std::cmp::Reverse(*h)))?;
    Some((h, best?.1))
}
