//! Link facts kept with their blocks: read back exactly, found by every match key, gone with
//! their blocks on unwind (a new branch has its own facts only), kept across a reopen.

use std::path::Path;

use tracehound_core::{
    AccountBlock, Amount, Block, Chain, Destination, Hash32, LinkFact, LinkKind, LinkLeg, Payee,
    PayeeRepr, ScriptKind, UtxoBlock, UtxoOutput, UtxoTx,
};
use tracehound_store::{FactRef, Store, StoreOptions};

const UTXO: Chain = Chain::LitecoinRegtest;
const EVM: Chain = Chain::Evm(31337);

fn open(dir: &Path) -> Store {
    Store::open(dir, &StoreOptions::default()).unwrap()
}

fn block(chain: Chain, height: u32, branch: u8, parent: Hash32) -> Block {
    Block {
        chain,
        height,
        hash: Hash32([branch.wrapping_add(height as u8); 32]),
        parent,
        time: 1_700_000_000 + u64::from(height),
        chainwork: None,
    }
}

/// A UTXO block of one coinbase paying one key hash.
fn utxo_block(height: u32, branch: u8, parent: Hash32, links: Vec<LinkFact>) -> UtxoBlock {
    let b = block(UTXO, height, branch, parent);
    UtxoBlock {
        txs: vec![UtxoTx {
            txid: Hash32([b.hash.0[0] ^ 0x55; 32]),
            index: 0,
            coinbase: true,
            hogex: false,
            size: 100,
            vsize: 100,
            inputs: Vec::new(),
            outputs: vec![UtxoOutput {
                value: Amount::from_units(5_000),
                kind: ScriptKind::P2pkh,
                payee: Some(Payee {
                    chain: UTXO,
                    repr: PayeeRepr::KeyHash([b.hash.0[0]; 20]),
                }),
                data: None,
            }],
        }],
        block: b,
        links,
    }
}

fn account_block(height: u32, parent: Hash32, links: Vec<LinkFact>) -> AccountBlock {
    AccountBlock {
        block: block(EVM, height, 0x70, parent),
        txs: Vec::new(),
        transfers: Vec::new(),
        tokens: Vec::new(),
        links,
    }
}

fn leg(tx: &str, amount: u128, party: &str) -> LinkLeg {
    LinkLeg {
        tx_index: 1,
        tx: tx.into(),
        leg: 0,
        asset: "native".into(),
        amount,
        party: party.into(),
    }
}

fn entry(kind: LinkKind, service: &str, tx: &str, id: Option<&str>) -> LinkFact {
    LinkFact::Entry {
        kind,
        service: service.into(),
        contract: "ltc-vault".into(),
        leg: leg(tx, u128::MAX, "payer"),
        id: id.map(str::to_string),
        destination: Some(Destination {
            chain: Some("ETH".into()),
            address: "0xPayee".into(),
            min_out: Some(u128::MAX - 1),
        }),
        gas_price: None,
        evidence: format!("op_return:1:=:ETH.ETH:0xPayee ({tx})"),
    }
}

fn exit(kind: LinkKind, service: &str, tx: &str, reference: &str, to: &str) -> LinkFact {
    LinkFact::Exit {
        kind,
        service: service.into(),
        contract: "0xvault".into(),
        leg: leg(tx, 12_345, to),
        reference: Some(reference.into()),
        relayer: None,
        gas_price: Some(7),
        evidence: format!("calldata:OUT:{reference}"),
    }
}

fn swap(tx: &str) -> LinkFact {
    LinkFact::Within {
        kind: LinkKind::Swap,
        service: "uniswap-v2".into(),
        contract: "0xpool".into(),
        input: leg(tx, 1, "0xA"),
        output: leg(tx, 2, "0xA"),
        evidence: "log:3:uniswap-v2 Swap".into(),
    }
}

/// The stored facts of every block of both chains, by where they sit.
fn all_facts(store: &Store) -> Vec<(FactRef, LinkFact)> {
    let mut out = Vec::new();
    for chain in [UTXO, EVM] {
        for height in 0..4 {
            for (i, f) in store
                .link_facts(chain, height)
                .unwrap()
                .into_iter()
                .enumerate()
            {
                let r = FactRef {
                    chain,
                    height,
                    index: i as u32,
                };
                out.push((r, f));
            }
        }
    }
    out
}

/// Every fact is found by each of its keys, and every key finds only facts carrying it.
fn assert_found_by_every_key(store: &Store, expected: &[(FactRef, LinkFact)]) {
    for (r, f) in expected {
        for key in f.keys() {
            let found = store.link_lookup(&key).unwrap();
            assert!(
                found.iter().any(|(fr, ff)| fr == r && ff == f),
                "{key} does not find {r:?} {f:?}: {found:?}"
            );
            for (_, ff) in &found {
                assert!(ff.keys().contains(&key), "{key} finds {ff:?}");
            }
            let want = expected
                .iter()
                .filter(|(_, ef)| ef.keys().contains(&key))
                .count();
            assert_eq!(found.len(), want, "{key}: {found:?}");
        }
    }
}

struct Setup {
    utxo: Vec<UtxoBlock>,
    evm: Vec<AccountBlock>,
}

fn setup(store: &Store) -> Setup {
    let u0 = utxo_block(0, 0x10, Hash32::ZERO, Vec::new());
    let u1 = utxo_block(
        1,
        0x10,
        u0.block.hash,
        vec![
            entry(LinkKind::ChainSwap, "sim-chainswap", "aa01", Some("0xDEP1")),
            exit(LinkKind::Bridge, "sim-bridge", "aa02", "0xEE01", "ltcpayee"),
        ],
    );
    let u2 = utxo_block(
        2,
        0x10,
        u1.block.hash,
        vec![entry(LinkKind::Mixer, "sim-mixer", "aa03", Some("c0ffee"))],
    );
    let e0 = account_block(0, Hash32::ZERO, Vec::new());
    let e1 = account_block(
        1,
        e0.block.hash,
        vec![
            swap("0xee01"),
            // Pays out for the UTXO entry, and names the same reference as the UTXO exit.
            exit(
                LinkKind::ChainSwap,
                "sim-chainswap",
                "0xEE02",
                "AA01",
                "0xPayee",
            ),
            exit(
                LinkKind::Bridge,
                "sim-bridge",
                "0xEE03",
                "0xee01",
                "0xpayee",
            ),
        ],
    );
    let utxo = vec![u0, u1, u2];
    let evm = vec![e0, e1];
    store.apply_utxo_blocks(&utxo).unwrap();
    store.apply_account_blocks(&evm).unwrap();
    Setup { utxo, evm }
}

fn expected_of(utxo: &[UtxoBlock], evm: &[AccountBlock]) -> Vec<(FactRef, LinkFact)> {
    let mut out = Vec::new();
    let mut add = |chain, height, links: &[LinkFact]| {
        for (i, f) in links.iter().enumerate() {
            out.push((
                FactRef {
                    chain,
                    height,
                    index: i as u32,
                },
                f.clone(),
            ));
        }
    };
    for b in utxo {
        add(UTXO, b.block.height, &b.links);
    }
    for b in evm {
        add(EVM, b.block.height, &b.links);
    }
    out
}

#[test]
fn facts_are_read_back_exactly_and_found_by_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let s = setup(&store);
    for b in &s.utxo {
        assert_eq!(store.link_facts(UTXO, b.block.height).unwrap(), b.links);
    }
    for b in &s.evm {
        assert_eq!(store.link_facts(EVM, b.block.height).unwrap(), b.links);
    }
    assert!(store.link_facts(UTXO, 9).unwrap().is_empty(), "no block");
    // Read one by one through the header, each fact and its input are the whole row's.
    let rows = s.utxo.iter().map(|b| (UTXO, b.block.height, &b.links));
    for (chain, h, links) in rows.chain(s.evm.iter().map(|b| (EVM, b.block.height, &b.links))) {
        let inputs = store.link_fact_inputs(chain, h).unwrap();
        assert_eq!(inputs.len(), links.len());
        for (i, (fact, input)) in links.iter().zip(&inputs).enumerate() {
            let index = u32::try_from(i).unwrap();
            assert_eq!(
                store.link_fact_at(chain, h, index).unwrap().as_ref(),
                Some(fact)
            );
            assert_eq!(*input, fact.input().map(|l| (l.tx_index, l.leg)));
        }
        let past = u32::try_from(links.len()).unwrap();
        assert_eq!(store.link_fact_at(chain, h, past).unwrap(), None);
    }
    assert!(store.link_fact_inputs(UTXO, 9).unwrap().is_empty());
    let expected = expected_of(&s.utxo, &s.evm);
    assert_eq!(all_facts(&store), expected);
    assert_found_by_every_key(&store, &expected);

    // The far sides find each other across chains, normalized, in chain and block order.
    let by_ref = store.link_lookup("ref:ee01").unwrap();
    assert_eq!(
        by_ref
            .iter()
            .map(|(r, _)| (r.chain, r.height, r.index))
            .collect::<Vec<_>>(),
        [(UTXO, 1, 1), (EVM, 1, 2)]
    );
    let entry = store.link_lookup("in:aa01").unwrap();
    let payout = store.link_lookup("ref:aa01").unwrap();
    assert_eq!((entry.len(), payout.len()), (1, 1));
    assert_eq!(payout[0].0.chain, EVM);
    assert_eq!(store.link_lookup("id:sim-chainswap:dep1").unwrap().len(), 1);
    assert_eq!(store.link_lookup("svc:sim-mixer").unwrap().len(), 1);
    assert_eq!(store.link_lookup("to:0xpayee").unwrap().len(), 2);
    assert!(store.link_lookup("in:nothing").unwrap().is_empty());
    let counts = store.link_counts(UTXO).unwrap();
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        [
            ("bridge exit".to_string(), 1),
            ("chain_swap entry".to_string(), 1),
            ("mixer entry".to_string(), 1)
        ]
    );
}

#[test]
fn unwind_removes_facts_and_keys_and_a_new_branch_has_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let s = {
        let store = open(dir.path());
        let s = setup(&store);
        assert_eq!(store.unwind_to(UTXO, 0).unwrap(), 2);
        let evm_only = expected_of(&[], &s.evm);
        assert_eq!(all_facts(&store), evm_only, "the UTXO chain's facts went");
        for f in s.utxo.iter().flat_map(|b| &b.links) {
            for key in f.keys() {
                assert!(
                    store
                        .link_lookup(&key)
                        .unwrap()
                        .iter()
                        .all(|(r, _)| r.chain == EVM),
                    "{key} still finds an unwound fact"
                );
            }
        }
        assert!(store.link_lookup("svc:sim-mixer").unwrap().is_empty());
        assert!(store.link_counts(UTXO).unwrap().is_empty());

        // Another branch from height 1, with facts of its own.
        let b1 = utxo_block(
            1,
            0x40,
            s.utxo[0].block.hash,
            vec![entry(LinkKind::Bridge, "sim-bridge", "bb01", None)],
        );
        let b2 = utxo_block(2, 0x40, b1.block.hash, Vec::new());
        let b3 = utxo_block(
            3,
            0x40,
            b2.block.hash,
            vec![exit(
                LinkKind::ChainSwap,
                "sim-chainswap",
                "bb03",
                "0xEE02",
                "ltc1",
            )],
        );
        let branch = vec![s.utxo[0].clone(), b1, b2, b3];
        store.apply_utxo_blocks(&branch[1..]).unwrap();
        let expected = expected_of(&branch, &s.evm);
        assert_eq!(all_facts(&store), expected);
        assert_found_by_every_key(&store, &expected);
        assert!(store.link_lookup("in:aa01").unwrap().is_empty());
        assert!(
            store
                .link_lookup("id:sim-chainswap:dep1")
                .unwrap()
                .is_empty()
        );
        Setup {
            utxo: branch,
            evm: s.evm,
        }
    };
    // Reopened, the store keeps exactly the branch's facts and keys.
    let store = open(dir.path());
    let expected = expected_of(&s.utxo, &s.evm);
    assert_eq!(all_facts(&store), expected);
    assert_found_by_every_key(&store, &expected);
    assert!(store.link_lookup("in:aa03").unwrap().is_empty());

    // Unwinding the account chain takes its facts too; the UTXO branch's stay.
    assert_eq!(store.unwind_to(EVM, 0).unwrap(), 1);
    assert_eq!(all_facts(&store), expected_of(&s.utxo, &[]));
    assert!(store.link_lookup("ref:aa01").unwrap().is_empty());
    assert_eq!(store.link_lookup("ref:ee02").unwrap().len(), 1);
}
