//! Property tests on random graphs, for every policy and both shapes of value:
//! - the endpoints (including dust, dark and fees) add up to the stolen total exactly
//!   (every policy but poison), so the traced total never exceeds it, whatever stop rules;
//! - with no stop rules, every endpoint equals what a slow, obviously-correct reference
//!   computes by replaying the whole graph (every address, every tx) in chain order;
//! - poison's exposure is never below the conserved figure of any other policy.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use tracehound_core::Chain;
use tracehound_trace::graph::{AccountEvent, MemAccounts, MemUtxo, UtxoIn, UtxoOut, UtxoTxData};
use tracehound_trace::{
    AccountSeed, Label, Labels, Policy, Rules, Stop, TraceResult, Tracker, UtxoSeed, trace_account,
    trace_utxo,
};

const CHAIN: Chain = Chain::Evm(31337);
const BTC: Chain = Chain::BitcoinRegtest;
const MINER: &str = "0x00000000000000000000000000000000000000ff";

fn addr(i: usize) -> String {
    format!("0x{:040x}", i + 1)
}

// ---------------------------------------------------------------------------------------
// Account graphs

#[derive(Debug, Clone)]
struct AccountCase {
    events: Vec<AccountEvent>,
    seeds: Vec<(usize, u128)>,
}

fn account_case() -> impl Strategy<Value = AccountCase> {
    // (from, to, amount, asset, with a fee) per tx; seeds pick non-fee transfers.
    let tx = (
        0usize..6,
        0usize..6,
        1u128..100,
        0u8..2,
        any::<bool>(),
        1u128..5,
    );
    (
        proptest::collection::vec(tx, 1..40),
        proptest::collection::vec((any::<prop::sample::Index>(), 0u128..=100), 1..3),
    )
        .prop_map(|(txs, seeds)| {
            let mut events = Vec::new();
            for (n, (from, to, amount, asset, fee, fee_amount)) in txs.into_iter().enumerate() {
                let height = u32::try_from(n / 2).unwrap_or(0);
                let index = u32::try_from(n % 2).unwrap_or(0);
                let ev =
                    |sub: u32, to: String, amount: u128, fee: bool, asset: &str| AccountEvent {
                        height,
                        tx: index,
                        sub,
                        time: u64::from(height) * 12,
                        txid: format!("{n:064x}").parse().unwrap(),
                        fee,
                        asset: asset.into(),
                        from: addr(from).into(),
                        to: to.into(),
                        amount,
                    };
                // The fee comes first in sub-index order, as EVM ingest writes it; it applies last.
                if fee {
                    events.push(ev(0, MINER.into(), fee_amount, true, "native"));
                }
                let asset = if asset == 0 {
                    "native"
                } else {
                    "0x00000000000000000000000000000000000000aa"
                };
                events.push(ev(1, addr(to), amount, false, asset));
            }
            let plain: Vec<usize> = (0..events.len()).filter(|&i| !events[i].fee).collect();
            let seeds = seeds
                .into_iter()
                .map(|(ix, pct)| {
                    let i = plain[ix.index(plain.len())];
                    (i, events[i].amount * pct / 100)
                })
                .collect();
            AccountCase { events, seeds }
        })
}

fn run_account(case: &AccountCase, rules: Rules) -> TraceResult {
    let mut g = MemAccounts::new(&case.events);
    let seeds: Vec<AccountSeed> = case
        .seeds
        .iter()
        .map(|&(i, stolen)| AccountSeed::Transfer {
            event: case.events[i].clone(),
            stolen,
        })
        .collect();
    let mut t = Tracker::new(rules);
    trace_account(&mut t, &mut g, CHAIN, &seeds).expect("trace");
    t.finish("prop")
}

/// The reference ledger: a plain list of receipts (value, taint), oldest first.
#[derive(Default, Clone)]
struct RefLedger {
    receipts: Vec<(u128, u128)>,
}

impl RefLedger {
    fn balance(&self) -> u128 {
        self.receipts.iter().map(|r| r.0).sum()
    }
    fn taint(&self) -> u128 {
        self.receipts.iter().map(|r| r.1).sum()
    }
    fn receive(&mut self, v: u128, t: u128) {
        self.receipts.push((v, t));
    }
    /// Sends `x`; returns the taint carried.
    fn send(&mut self, policy: Policy, x: u128) -> u128 {
        let (b, tt) = (self.balance(), self.taint());
        if x >= b {
            self.receipts.clear();
            return tt;
        }
        let carried = match policy {
            Policy::Fifo | Policy::Lifo => {
                let mut left = x;
                let mut carried = 0;
                while left > 0 {
                    let i = if policy == Policy::Fifo {
                        0
                    } else {
                        self.receipts.len() - 1
                    };
                    let (v, t) = self.receipts[i];
                    if v <= left {
                        carried += t;
                        left -= v;
                        self.receipts.remove(i);
                    } else {
                        let part = t * left / v;
                        carried += part;
                        self.receipts[i] = (v - left, t - part);
                        left = 0;
                    }
                }
                return carried;
            }
            Policy::Tiho => x.min(tt),
            Policy::Haircut => {
                // Round half up (the larger remainder of outflow vs rest; ties to the outflow).
                let (q, r) = (tt * x / b, tt * x % b);
                if r > 0 && 2 * r >= b { q + 1 } else { q }
            }
            Policy::Poison => unreachable!(),
        };
        // Haircut/TIHO keep only totals: rebuild as one mixed receipt.
        self.receipts = vec![(b - x, tt - carried)];
        carried
    }
}

/// Replays every transfer of the case in (block, tx, fee last, sub) order over every address.
fn reference_account(case: &AccountCase, policy: Policy) -> BTreeMap<(String, String), u128> {
    let mut order: Vec<usize> = (0..case.events.len()).collect();
    order.sort_by_key(|&i| case.events[i].key());
    let mut seeds: HashMap<usize, u128> = HashMap::new();
    for &(i, s) in &case.seeds {
        let e = seeds.entry(i).or_default();
        *e = (*e + s).min(case.events[i].amount);
    }
    let mut ledgers: HashMap<(String, String), RefLedger> = HashMap::new();
    for i in order {
        let e = &case.events[i];
        let mut taint = ledgers
            .entry((e.from.to_string(), e.asset.to_string()))
            .or_default()
            .send(policy, e.amount);
        if let Some(&s) = seeds.get(&i) {
            taint += s.min(e.amount - taint);
        }
        ledgers
            .entry((e.to.to_string(), e.asset.to_string()))
            .or_default()
            .receive(e.amount, taint);
    }
    ledgers
        .into_iter()
        .map(|(k, l)| (k, l.taint()))
        .filter(|(_, t)| *t > 0)
        .collect()
}

fn by_place(r: &TraceResult) -> BTreeMap<(String, String), u128> {
    let mut m = BTreeMap::new();
    for e in &r.endpoints {
        *m.entry((e.address.clone(), e.asset.clone())).or_default() += e.amount;
    }
    m
}

fn assert_conserved(r: &TraceResult) -> Result<(), TestCaseError> {
    for s in &r.summary.assets {
        let parts = s.intervention + s.still_moving + s.dark + s.dust + s.fees;
        prop_assert_eq!(parts, s.stolen, "{} {}", s.chain, s.asset);
        let ends: u128 = r
            .endpoints
            .iter()
            .filter(|e| e.chain == s.chain && e.asset == s.asset)
            .map(|e| e.amount)
            .sum();
        prop_assert_eq!(ends, s.stolen);
    }
    Ok(())
}

/// In JSON each endpoint's proof path is positions in `edges`, and they name the hops of its
/// path in memory, in order.
fn assert_json_paths(r: &TraceResult) -> Result<(), TestCaseError> {
    let v = serde_json::to_value(r).expect("a result encodes");
    let edges = v["edges"].as_array().expect("edges");
    let endpoints = v["endpoints"].as_array().expect("endpoints");
    prop_assert_eq!(endpoints.len(), r.endpoints.len());
    for (e, json) in r.endpoints.iter().zip(endpoints) {
        let at = json["path"].as_array().expect("a path");
        prop_assert_eq!(at.len(), e.path.len());
        for (i, hop) in at.iter().zip(&e.path) {
            let i = i.as_u64().expect("a position") as usize;
            prop_assert!(i < edges.len());
            prop_assert_eq!(&edges[i], &serde_json::to_value(&**hop).expect("a hop"));
        }
        prop_assert_eq!(&json["address"], &serde_json::json!(e.address));
    }
    Ok(())
}

fn random_rules(policy: Policy, hops: u32, dust: u128, label: Option<(usize, bool)>) -> Rules {
    let mut rules = Rules::new(policy);
    rules.max_hops = hops;
    rules.dust.insert("native".into(), dust);
    if let Some((who, mixer)) = label {
        let mut labels = Labels::new();
        let chain = if who >= 100 { BTC } else { CHAIN };
        let text = if who >= 100 {
            btc_addr(who - 100)
        } else {
            addr(who)
        };
        labels.insert(
            &tracehound_core::Address::parse(chain, &text).expect("address"),
            Label {
                label: "x".into(),
                category: if mixer { "mixer" } else { "exchange" }.into(),
                source: "test".into(),
                confidence: 1.0,
            },
        );
        rules.labels = labels;
    }
    rules
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn account_policies_match_the_reference(case in account_case()) {
        for policy in [Policy::Haircut, Policy::Fifo, Policy::Lifo, Policy::Tiho] {
            let r = run_account(&case, Rules::new(policy));
            assert_conserved(&r)?;
            prop_assert_eq!(by_place(&r), reference_account(&case, policy), "{}", policy);
            for e in &r.endpoints {
                prop_assert!(matches!(e.stop, Stop::Unmoved | Stop::Fee));
                prop_assert_eq!(e.stop == Stop::Fee, e.address == MINER);
            }
        }
    }

    #[test]
    fn account_stop_rules_conserve(
        case in account_case(),
        hops in 0u32..4,
        dust in 0u128..30,
        label in proptest::option::of((0usize..6, any::<bool>())),
    ) {
        let mut exposure = BTreeMap::new();
        let poison = run_account(&case, random_rules(Policy::Poison, hops, dust, label));
        for e in &poison.endpoints {
            *exposure.entry(e.asset.clone()).or_insert(0u128) += e.amount;
        }
        for policy in [Policy::Haircut, Policy::Fifo, Policy::Lifo, Policy::Tiho] {
            let r = run_account(&case, random_rules(policy, hops, dust, label));
            assert_conserved(&r)?;
            assert_json_paths(&r)?;
            for e in &r.endpoints {
                prop_assert!(e.hops <= hops + 1, "{:?}", e);
                if e.stop == Stop::Dust {
                    prop_assert!(e.amount > 0);
                }
            }
        }
        // Poison's exposure covers at least the stolen total of each asset.
        for s in &poison.summary.assets {
            prop_assert!(exposure.get(&s.asset).copied().unwrap_or(0) >= s.stolen, "{}", s.asset);
        }
    }
}

// ---------------------------------------------------------------------------------------
// UTXO graphs

fn btc_addr(i: usize) -> String {
    // Regtest P2PKH addresses of hash160 = [i; 20].
    tracehound_core::Address::p2pkh(BTC, &[u8::try_from(i).unwrap_or(0); 20])
        .as_str()
        .to_string()
}

fn txid(n: usize) -> String {
    format!("{n:064x}")
}

#[derive(Debug, Clone)]
struct UtxoCase {
    txs: Vec<UtxoTxData>,
    seeds: Vec<(usize, u32)>,
}

fn utxo_case() -> impl Strategy<Value = UtxoCase> {
    // Genesis outputs, then txs: (inputs picked among unspent, output weights, fee %, addresses).
    let genesis = proptest::collection::vec(1u128..200, 2..6);
    let tx = (
        proptest::collection::vec(any::<prop::sample::Index>(), 1..4),
        proptest::collection::vec(1u128..10, 1..4),
        0u128..20,
        proptest::collection::vec(0usize..5, 3),
    );
    (
        genesis,
        proptest::collection::vec(tx, 0..25),
        proptest::collection::vec(any::<prop::sample::Index>(), 1..3),
    )
        .prop_map(|(genesis, txs, seeds)| {
            let mut all: Vec<UtxoTxData> = vec![UtxoTxData {
                txid: txid(0),
                height: 0,
                index: 0,
                time: 0,
                inputs: Vec::new(),
                outputs: genesis
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| UtxoOut {
                        value: v,
                        address: Some(btc_addr(i % 5)),
                        spent_by: None,
                    })
                    .collect(),
            }];
            let mut unspent: Vec<(usize, u32)> =
                (0..genesis.len()).map(|v| (0, v as u32)).collect();
            for (n, (picks, weights, fee_pct, addrs)) in txs.into_iter().enumerate() {
                if unspent.is_empty() {
                    break;
                }
                let mut inputs = Vec::new();
                for p in picks {
                    if unspent.is_empty() {
                        break;
                    }
                    let (t, v) = unspent.remove(p.index(unspent.len()));
                    let out = &all[t].outputs[v as usize];
                    inputs.push(UtxoIn {
                        prev_txid: all[t].txid.clone(),
                        prev_vout: v,
                        address: out.address.clone().unwrap_or_default(),
                        value: out.value,
                    });
                    all[t].outputs[v as usize].spent_by = Some(txid(n + 1));
                }
                let total: u128 = inputs.iter().map(|i| i.value).sum();
                let spend = total - total * fee_pct / 100;
                let wsum: u128 = weights.iter().sum();
                let mut outputs: Vec<UtxoOut> = weights
                    .iter()
                    .enumerate()
                    .map(|(i, w)| UtxoOut {
                        value: spend * w / wsum,
                        address: Some(btc_addr(addrs[i % 3])),
                        spent_by: None,
                    })
                    .collect();
                let given: u128 = outputs.iter().map(|o| o.value).sum();
                if let Some(last) = outputs.last_mut() {
                    last.value += spend - given;
                }
                let height = u32::try_from(n / 3 + 1).unwrap_or(0);
                for v in 0..outputs.len() {
                    unspent.push((n + 1, v as u32));
                }
                all.push(UtxoTxData {
                    txid: txid(n + 1),
                    height,
                    index: u32::try_from(n % 3).unwrap_or(0),
                    time: u64::from(height) * 600,
                    inputs,
                    outputs,
                });
            }
            let seeds = seeds
                .into_iter()
                .map(|ix| (0, ix.index(genesis.len()) as u32))
                .collect();
            UtxoCase { txs: all, seeds }
        })
}

fn run_utxo(case: &UtxoCase, rules: Rules) -> TraceResult {
    let mut g = MemUtxo::default();
    for tx in &case.txs {
        g.txs.insert(tx.txid.clone(), tx.clone());
    }
    let seeds: Vec<UtxoSeed> = case
        .seeds
        .iter()
        .map(|&(t, v)| UtxoSeed {
            txid: case.txs[t].txid.clone(),
            vout: v,
            amount: None,
            at_source: false,
        })
        .collect();
    let mut t = Tracker::new(rules);
    trace_utxo(&mut t, &mut g, BTC, &seeds).expect("trace");
    t.finish("prop")
}

/// The reference split of one tx, written for clarity over speed: unit by unit where the
/// policy is about order, and exact fractions sorted by hand for haircut.
fn reference_split(policy: Policy, inputs: &[(u128, u128)], shares: &[u128]) -> Vec<u128> {
    let tainted: u128 = inputs.iter().map(|i| i.1).sum();
    let in_sum: u128 = inputs.iter().map(|i| i.0).sum();
    match policy {
        Policy::Fifo | Policy::Lifo => {
            let mut segs: Vec<(u128, u128)> = inputs.to_vec();
            if policy == Policy::Lifo {
                segs.reverse();
            }
            shares
                .iter()
                .map(|&want| {
                    let mut got = 0;
                    let mut left = want;
                    while left > 0 && !segs.is_empty() {
                        let (v, t) = segs[0];
                        if v <= left {
                            got += t;
                            left -= v;
                            segs.remove(0);
                        } else {
                            let part = t * left / v;
                            got += part;
                            segs[0] = (v - left, t - part);
                            left = 0;
                        }
                    }
                    got
                })
                .collect()
        }
        Policy::Tiho => {
            let mut got = vec![0u128; shares.len()];
            for _ in 0..tainted {
                // One unit to the largest share (first by index on ties) with room left.
                let mut best: Option<usize> = None;
                for i in 0..shares.len() {
                    if got[i] < shares[i] && best.is_none_or(|b| shares[i] > shares[b]) {
                        best = Some(i);
                    }
                }
                if let Some(b) = best {
                    got[b] += 1;
                }
            }
            got
        }
        Policy::Haircut if in_sum == 0 => vec![0; shares.len()],
        Policy::Haircut => {
            let mut got: Vec<u128> = shares.iter().map(|s| tainted * s / in_sum).collect();
            let left = tainted - got.iter().sum::<u128>();
            let mut by_rem: Vec<(u128, usize)> = shares
                .iter()
                .enumerate()
                .map(|(i, s)| (tainted * s % in_sum, i))
                .collect();
            by_rem.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            for &(_, i) in by_rem.iter().take(left as usize) {
                got[i] += 1;
            }
            got
        }
        Policy::Poison => unreachable!(),
    }
}

fn reference_utxo(case: &UtxoCase, policy: Policy) -> BTreeMap<(String, String), u128> {
    let mut taint: HashMap<(String, u32), u128> = HashMap::new();
    for &(t, v) in &case.seeds {
        taint.insert(
            (case.txs[t].txid.clone(), v),
            case.txs[t].outputs[v as usize].value,
        );
    }
    let mut fees = 0u128;
    let mut order: Vec<&UtxoTxData> = case.txs.iter().collect();
    order.sort_by_key(|t| (t.height, t.index));
    for tx in order {
        if tx.inputs.is_empty() {
            continue;
        }
        let inputs: Vec<(u128, u128)> = tx
            .inputs
            .iter()
            .map(|i| {
                (
                    i.value,
                    taint
                        .remove(&(i.prev_txid.clone(), i.prev_vout))
                        .unwrap_or(0),
                )
            })
            .collect();
        let mut shares: Vec<u128> = tx.outputs.iter().map(|o| o.value).collect();
        let fee = inputs.iter().map(|i| i.0).sum::<u128>() - shares.iter().sum::<u128>();
        shares.push(fee);
        let got = reference_split(policy, &inputs, &shares);
        for (v, &g) in got.iter().enumerate().take(tx.outputs.len()) {
            taint.insert((tx.txid.clone(), v as u32), g);
        }
        fees += got[tx.outputs.len()];
    }
    let by_id: HashMap<&str, &UtxoTxData> = case.txs.iter().map(|t| (t.txid.as_str(), t)).collect();
    let mut out: BTreeMap<(String, String), u128> = BTreeMap::new();
    for ((t, v), amount) in taint {
        if amount > 0 {
            let a = by_id[t.as_str()].outputs[v as usize]
                .address
                .clone()
                .unwrap_or_default();
            *out.entry((a, "native".into())).or_default() += amount;
        }
    }
    if fees > 0 {
        out.insert(("fee".into(), "native".into()), fees);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn utxo_policies_match_the_reference(case in utxo_case()) {
        for policy in [Policy::Haircut, Policy::Fifo, Policy::Lifo, Policy::Tiho] {
            let r = run_utxo(&case, Rules::new(policy));
            assert_conserved(&r)?;
            prop_assert_eq!(by_place(&r), reference_utxo(&case, policy), "{}", policy);
        }
    }

    #[test]
    fn utxo_stop_rules_conserve(
        case in utxo_case(),
        hops in 0u32..4,
        dust in 0u128..30,
        label in proptest::option::of((100usize..105, any::<bool>())),
    ) {
        for policy in [Policy::Haircut, Policy::Fifo, Policy::Lifo, Policy::Tiho] {
            let r = run_utxo(&case, random_rules(policy, hops, dust, label));
            assert_conserved(&r)?;
            assert_json_paths(&r)?;
            for e in &r.endpoints {
                prop_assert!(e.hops <= hops + 1, "{:?}", e);
                prop_assert!(!e.path.is_empty());
            }
        }
        let poison = run_utxo(&case, random_rules(Policy::Poison, hops, dust, label));
        let stolen: u128 = poison.summary.assets.iter().map(|s| s.stolen).sum();
        let exposed: u128 = poison.endpoints.iter().map(|e| e.amount).sum();
        prop_assert!(exposed >= stolen);
    }
}
