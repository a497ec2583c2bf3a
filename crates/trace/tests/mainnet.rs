//! The trace over a real store: Bitcoin mainnet's first 600 blocks (NBitcoin's blk files in
//! the shared fixtures), from block 9's coinbase, which Satoshi spent in block 170 to send
//! Hal Finney the first 10 BTC ever paid to a person.

use std::path::Path;

use tracehound_core::Chain;
use tracehound_store::{Store, StoreOptions};
use tracehound_trace::graph::{MemUtxo, UtxoIn, UtxoOut, UtxoTxData};
use tracehound_trace::{
    Incident, Policy, Rules, SourceItem, StolenItem, Stop, TraceError, Tracker, UtxoSeed, trace,
    trace_utxo,
};

const COINBASE_9: &str = "0437cd7f8525ceed2324359c2d0ba26006d92d856a9c20fa0241106ee5a597c9";
const TX_170: &str = "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16";
const HAL: &str = "1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3";

fn store(dir: &Path) -> Store {
    let blocks = tracehound_btc::fixtures::best_chain_blocks(
        &tracehound_btc::fixtures::shared_data("btc/blk"),
        Chain::BitcoinMainnet,
    );
    let store = Store::open(
        dir,
        &StoreOptions {
            cache_bytes: 16 << 20,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    store.apply_utxo_blocks(&blocks).unwrap();
    store
}

fn incident() -> Incident {
    Incident {
        name: "block 9".into(),
        stolen: vec![StolenItem {
            chain: "bitcoin".into(),
            tx: COINBASE_9.into(),
            vout: Some(0),
            sub_index: None,
            amount: None,
        }],
        ..Incident::default()
    }
}

#[test]
fn traces_block_9_coinbase_to_hal_finney_under_every_policy() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    for policy in Policy::ALL {
        let r = trace(&store, &incident(), Rules::new(policy)).unwrap();
        let s = &r.summary.assets[0];
        assert_eq!(
            (s.chain.as_str(), s.asset.as_str(), s.stolen),
            ("bitcoin", "native", 5_000_000_000)
        );
        let total: u128 = r.endpoints.iter().map(|e| e.amount).sum();
        if policy.conserves() {
            assert_eq!(total, s.stolen, "{policy}");
            assert_eq!(
                s.intervention + s.still_moving + s.dark + s.dust + s.fees,
                s.stolen
            );
        } else {
            assert!(total >= s.stolen);
        }
        // Hal's 10 BTC: the proof runs incident → block 170's tx → Hal.
        let hal = r
            .endpoints
            .iter()
            .find(|e| e.address == HAL)
            .expect("an endpoint at Hal's address");
        assert!(hal.amount >= 1_000_000_000, "{policy}: {hal:?}");
        assert_eq!(&*hal.path[0].tx, COINBASE_9);
        assert_eq!(&*hal.path[0].rule, "incident: stolen output");
        assert_eq!(&*hal.path[1].tx, TX_170);
        assert_eq!(&*hal.path[1].at, "170:1");
        assert_eq!(hal.path[1].value, 1_000_000_000);
        assert!(r.edges.iter().any(|h| &*h.tx == TX_170));
    }
}

#[test]
fn hop_limit_and_time_limit_stop_the_trace() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let mut rules = Rules::new(Policy::Haircut);
    rules.max_hops = 0;
    let r = trace(&store, &incident(), rules).unwrap();
    // Not even block 170's tx is followed: the whole coinbase output is held at the limit.
    assert_eq!(r.endpoints.len(), 1);
    assert_eq!(
        (r.endpoints[0].stop, r.endpoints[0].amount),
        (Stop::HopLimit, 5_000_000_000)
    );
    let mut rules = Rules::new(Policy::Haircut);
    rules.until = Some(1_231_700_000); // 2009-01-11, before block 170 (2009-01-12)
    let r = trace(&store, &incident(), rules).unwrap();
    assert_eq!(r.endpoints[0].stop, Stop::TimeLimit);
}

#[test]
fn a_source_address_traces_what_left_it_and_bad_incidents_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let satoshi = store
        .tx(Some(Chain::BitcoinMainnet), &COINBASE_9.parse().unwrap())
        .unwrap()[0]
        .outputs[0]
        .address
        .clone()
        .unwrap();
    let view = store
        .address(&tracehound_core::Address::parse(Chain::BitcoinMainnet, &satoshi).unwrap())
        .unwrap()
        .unwrap();
    let inc = Incident {
        name: "satoshi".into(),
        sources: vec![SourceItem {
            chain: "bitcoin".into(),
            address: satoshi.clone(),
            since: None,
        }],
        ..Incident::default()
    };
    let r = trace(&store, &inc, Rules::new(Policy::Fifo)).unwrap();
    let s = &r.summary.assets[0];
    // What left the address, counted once even where it came back (change) and left again.
    assert!(
        s.stolen > 0 && s.stolen <= view.sent.units(),
        "{} vs {}",
        s.stolen,
        view.sent.units()
    );
    assert_eq!(r.endpoints.iter().map(|e| e.amount).sum::<u128>(), s.stolen);

    let mut bad = incident();
    bad.stolen[0].tx = "00".repeat(32);
    let e = trace(&store, &bad, Rules::new(Policy::Haircut)).unwrap_err();
    assert!(
        matches!(e, TraceError::Unknown(_)) && e.to_string().contains("not in the store"),
        "{e}"
    );
    let mut bad = incident();
    bad.stolen[0].vout = Some(7);
    let e = trace(&store, &bad, Rules::new(Policy::Haircut))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no output 7"), "{e}");
    let mut bad = incident();
    bad.stolen[0].chain = "litecoin".into();
    let e = trace(&store, &bad, Rules::new(Policy::Haircut))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not in the store"), "{e}");
    let mut rules = Rules::new(Policy::Haircut);
    rules.caps.max_nodes = 1;
    let e = trace(&store, &incident(), rules).unwrap_err().to_string();
    assert!(e.contains("--max-nodes"), "{e}");
    // A source with more txs than the history cap: the message names it and reads as one.
    let mut rules = Rules::new(Policy::Haircut);
    rules.caps.max_history = 1;
    let e = trace(&store, &inc, rules).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "trace stopped: more than 1 txs of source {satoshi} (it has {}) (raise the cap \
             with --max-history)",
            view.tx_count
        )
    );
}

/// Every tx of the store, read through the full tx views (txids and address text, as the
/// engine read the store before it worked on ids), as an in-memory graph.
fn views_graph(store: &Store) -> MemUtxo {
    let chain = Chain::BitcoinMainnet;
    let tip = store.tip(chain).unwrap().unwrap().height;
    let mut g = MemUtxo::default();
    for h in 0..=tip {
        let b = store.block_at(chain, h).unwrap().unwrap();
        for i in 0..b.tx_count {
            let v = store.tx_at(chain, h, i).unwrap();
            let data = UtxoTxData {
                txid: v.txid.to_string(),
                height: v.height,
                index: v.index,
                time: v.time,
                inputs: if v.coinbase {
                    Vec::new()
                } else {
                    v.inputs
                        .iter()
                        .map(|i| UtxoIn {
                            prev_txid: i.prev_txid.to_string(),
                            prev_vout: i.prev_vout,
                            address: i.address.clone(),
                            value: i.value.units(),
                        })
                        .collect()
                },
                outputs: v
                    .outputs
                    .iter()
                    .map(|o| UtxoOut {
                        value: o.value.units(),
                        address: o.address.clone(),
                        spent_by: o.spent_by.map(|(t, _)| t.to_string()),
                    })
                    .collect(),
            };
            g.txs.insert(data.txid.clone(), data);
        }
    }
    g
}

#[test]
fn the_id_based_store_reads_agree_with_the_full_tx_views() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let mut g = views_graph(&store);
    // Satoshi's block-9 address as a source: every output paying it, spent, is a seed.
    let satoshi = g.txs[COINBASE_9].outputs[0].address.clone().unwrap();
    let mut source_seeds: Vec<(u32, u32, UtxoSeed)> = Vec::new();
    for tx in g.txs.values() {
        for (vout, o) in tx.outputs.iter().enumerate() {
            if o.address.as_deref() == Some(satoshi.as_str()) && o.spent_by.is_some() {
                source_seeds.push((
                    tx.height,
                    tx.index,
                    UtxoSeed {
                        txid: tx.txid.clone(),
                        vout: vout as u32,
                        amount: None,
                        at_source: true,
                    },
                ));
            }
        }
    }
    source_seeds.sort_by_key(|s| (s.0, s.1, s.2.vout));
    let source_seeds: Vec<UtxoSeed> = source_seeds.into_iter().map(|s| s.2).collect();
    assert!(source_seeds.len() > 1);
    let source = Incident {
        name: "satoshi".into(),
        sources: vec![SourceItem {
            chain: "bitcoin".into(),
            address: satoshi,
            since: None,
        }],
        ..Incident::default()
    };
    let stolen_seed = [UtxoSeed {
        txid: COINBASE_9.into(),
        vout: 0,
        amount: None,
        at_source: false,
    }];
    for policy in Policy::ALL {
        for (inc, seeds) in [
            (incident(), &stolen_seed[..]),
            (source.clone(), &source_seeds),
        ] {
            let via_ids = trace(&store, &inc, Rules::new(policy)).unwrap();
            let mut t = Tracker::new(Rules::new(policy));
            trace_utxo(&mut t, &mut g, Chain::BitcoinMainnet, seeds).unwrap();
            let via_views = t.finish(&inc.name);
            assert!(!via_ids.endpoints.is_empty());
            assert_eq!(via_ids, via_views, "{policy}, {}", inc.name);
        }
    }
}
