//! Link facts on synthetic blocks and on real Bitcoin mainnet THORChain txs.
//!
//! The real txs are decoded from their raw bytes, as recorded (with their inputs' addresses)
//! in ShapeShift's web wallet test fixtures (github.com/shapeshift/web,
//! `packages/unchained-client/src/utxo/bitcoin/parser/__tests__/mockData/*.ts`); each is named
//! by txid and can be checked on any explorer.

use tracehound_core::link::{BridgeConfig, Place, VaultConfig};
use tracehound_core::{
    Amount, Block, Chain, Hash32, OutPoint, ResolvedPrevout, ScriptKind, UtxoInput, UtxoOutput,
};

use super::*;
use crate::decode::{decode_transaction, to_utxo_tx};

const CHAIN: Chain = Chain::BitcoinMainnet;

fn payee(address: &str) -> Payee {
    Address::parse(CHAIN, address).unwrap().to_payee().unwrap()
}

fn resolved(address: &str) -> ResolvedPrevout {
    ResolvedPrevout {
        payee: Some(payee(address)),
        kind: ScriptKind::P2wpkh,
        value: Amount::from_units(1),
        height: 1,
        coinbase: false,
    }
}

/// A real mainnet tx from its raw hex, its inputs resolved to `from`.
fn real(index: u32, hex: &str, from: &str) -> UtxoTx {
    let bytes = hex::decode(hex).unwrap();
    let mut tx = to_utxo_tx(CHAIN, index, &decode_transaction(&bytes, CHAIN).unwrap());
    for i in &mut tx.inputs {
        i.resolved = Some(resolved(from));
    }
    tx
}

fn block(txs: Vec<UtxoTx>) -> UtxoBlock {
    UtxoBlock {
        block: Block {
            chain: CHAIN,
            height: 825_000,
            hash: Hash32::ZERO,
            parent: Hash32::ZERO,
            time: 0,
            chainwork: None,
        },
        txs,
        links: Vec::new(),
    }
}

// tx 54a990298b6b0c3e3ec9425e3c472ccee85e06552508c2e7622027e7cd838a4c, block 825037
// (mockData/thorchainSwap.ts): swap to ATOM, vault in vout 0, memo in vout 1.
const SWAP_TX: &str = "02000000000102f04d5ade98060a34e86a9dc42025919482b40e764e28b2683f3c1f2d1f553f870000000000ffffffff7e83be97ca70feb50ecd0a3bbb58b2240abf592ca66129b4fc50851728974ddf0000000000ffffffff03f1ed0b0000000000160014407afe0a21bd5fed4aa98da464084dd2e8a29e0d0000000000000000496a473d3a474149412e41544f4d3a636f736d6f73316179776d6c7578616e617765707532673276706533613434396173686c787930346c326d63633a333732303765353a72673a3235e0e9000000000000160014bc8fa8472cc2885775d9c6773580f00bf11d837d02483045022100db52d55d0d536b02b3a6608e3302340c708f2aca314b66a0fa65ae3fecd0542e02205a102be29c87cb29e10be25539c6dc01273b877143e4f6de131c995197d5c4a5012103618338071e5feb2c83a34578dfd36186d3123af9ccca0f4f1073c549046750f402473044022065c0952e8c2ddb5d1cc20f6021f78073c26421017d3945e25df33103e3b8652e02205582013765775d63e8d03c4259f1c10aef5b847a914e0fdf474468212ac094a2012103618338071e5feb2c83a34578dfd36186d3123af9ccca0f4f1073c549046750f400000000";
const SWAP_FROM: &str = "bc1qhj86s3evc2y9wawecemntq8sp0c3mqmaagmqjd";
// tx a1174a690a6e9cc570e4e4a76f8be49d82fa2353cfd686c1b6b210d58d0e3cc7, block 825055
// (mockData/thorchainStreamingSwap.ts): streaming swap to USDT on Ethereum.
const STREAM_TX: &str = "01000000000101b02c9e0f5c77e0ee1817c1fa8f840a6f7a89aa828d2fa1287fd2469aaaa9aa260100000000ffffffff03ac2d030000000000160014407afe0a21bd5fed4aa98da464084dd2e8a29e0d842a0700000000001600147f7b24ee432f5eff0badde9ffe41bf57c0bc9ba30000000000000000476a453d3a4554482e555344542d4543373a3078363035376432443966303765303646413038333661313761346534463030343464384630323931323a302f312f303a74693a37300247304402202ea6a37f58f32329933144aa8af636e7893845aba6923f7346b11e18eb08dd460220273b2571f1e7df8bee2b158ef063c9a4db53767a3093842c7ccc3dc44a13d51d012103e9154423011550766d1e1bf868c045613e166020556dabdb9319b149b407cc9800000000";
const STREAM_FROM: &str = "bc1q0aajfmjr9a007zadm60lusdl2lqtexars8aul3";
// tx 740ec4f695f8b13a5cdfcedecd5935eebcd4c291823c4f9f7ce439f6ea6e260f, block 825282
// (mockData/thorchainSaversOutbound.ts): a vault's payout, `OUT:` memo, change back.
const OUT_TX: &str = "01000000000101d5504539eb1c629ed853b8ea51592a2f7ad06fcc8f03e4882195787e8f9e3c740100000000ffffffff0353cc1100000000001600144634afc54fca8a04471d6dcd3d52df6862f3cf59eac18e4302000000160014801c4711208b6e3df236b9f3bbabfae52edcfa020000000000000000466a444f55543a363746303139453333384245383638324137443243393838323737423846333246433139374634323943433433414139423139354331344639353937373431450248304502210090fb40520ccebc45773f588b6b1e05c6f6fa12f74210cf49150253d41aa8026902201dd42c60453432853b9615ae1c2e02e454c412bb3e064a9ba09334ee12d24c30012102ea13b3619f73a04474af18459522b16fa8388f17d4a78393a8302b202c87548300000000";
const OUT_VAULT: &str = "bc1qsqwywyfq3dhrmu3kh8emh2l6u5hde7szxpg99j";
// tx 63718db6a7dbb2ddf0ccfc3351fba1a7ba8172bb49c463cb7c94c05dd7cf28d2, block 825042
// (mockData/thorchainLpDeposit.ts): adding liquidity, `+:BTC.BTC::t:0`.
const LP_TX: &str = "020000000001029d2037a2f19e36b986d066bc594e1596a8c9b4617584895c030c8ae1ebb8b8660000000000ffffffff907cedbbfa25c650da7bc5f2a41acfe59caa6fba85f0c39e678d4dd7ff30980c0000000000ffffffff03804a5d050000000016001427fce96d5f6a72244e56563c7eb41fb79ac5ecf00000000000000000106a0e2b3a4254432e4254433a3a743a304eab0b00000000001600149f9499b55e1a6d18c8da0ed1f9ff46565fec1f0602483045022100819c94dc2ad05ab229697c159eb4e9652c8cd9af60d6a0d1fbda4226429c6ff90220025bc0d996ba76e8ac687f2ccdf50cc2eb588ef4fe07d269fe06ff90478cde1a0121028aa8d2b3800844316100cb564d3e477a18e4aa42a6b17b3d5e97625842fe229602473044022007e40b32390201ca59f00f52bb08128b585006d73d32f6fec2cc47f7431d94d5022025bf00e1a2e05904e8c51b65f0361aa926a64392271dc5d5a6f3f739ef8b926d0121028aa8d2b3800844316100cb564d3e477a18e4aa42a6b17b3d5e97625842fe229600000000";
const LP_FROM: &str = "bc1qn72fnd27rfk33jx6pmglnl6x2e07c8cxnahrgj";
/// The vault paid by the swaps above.
const VAULT: &str = "bc1qgpa0uz3ph4076j4f3kjxgzzd6t5298sdtjvwc9";

fn real_block() -> UtxoBlock {
    block(vec![
        real(1, SWAP_TX, SWAP_FROM),
        real(2, STREAM_TX, STREAM_FROM),
        real(3, OUT_TX, OUT_VAULT),
        real(4, LP_TX, LP_FROM),
    ])
}

fn vault_config(addresses: &[&str]) -> LinkConfig {
    LinkConfig {
        vaults: vec![VaultConfig {
            name: "thorchain".into(),
            vaults: addresses
                .iter()
                .map(|a| Place {
                    chain: "bitcoin".into(),
                    address: (*a).into(),
                })
                .collect(),
            routers: Vec::new(),
            window_seconds: 3600,
        }],
        ..LinkConfig::default()
    }
}

fn expected_real(memo_only: bool) -> Vec<LinkFact> {
    let ev = |vout: u32, memo: &str| {
        if memo_only {
            format!("op_return:{vout}:{memo} ({MEMO_ONLY})")
        } else {
            format!("op_return:{vout}:{memo}")
        }
    };
    let l = |tx_index: u32, tx: &str, leg: u32, amount: u128, party: &str| LinkLeg {
        tx_index,
        tx: tx.into(),
        leg,
        asset: "native".into(),
        amount,
        party: party.into(),
    };
    vec![
        LinkFact::Entry {
            kind: LinkKind::ChainSwap,
            service: "thorchain".into(),
            contract: VAULT.into(),
            leg: l(
                1,
                "54a990298b6b0c3e3ec9425e3c472ccee85e06552508c2e7622027e7cd838a4c",
                0,
                781_809,
                SWAP_FROM,
            ),
            id: None,
            destination: Some(Destination {
                chain: Some("GAIA".into()),
                address: "cosmos1aywmluxanawepu2g2vpe3a449ashlxy04l2mcc".into(),
                min_out: Some(3_720_700_000),
            }),
            gas_price: None,
            evidence: ev(
                1,
                "=:GAIA.ATOM:cosmos1aywmluxanawepu2g2vpe3a449ashlxy04l2mcc:37207e5:rg:25",
            ),
        },
        LinkFact::Entry {
            kind: LinkKind::ChainSwap,
            service: "thorchain".into(),
            contract: VAULT.into(),
            leg: l(
                2,
                "a1174a690a6e9cc570e4e4a76f8be49d82fa2353cfd686c1b6b210d58d0e3cc7",
                0,
                208_300,
                STREAM_FROM,
            ),
            id: None,
            destination: Some(Destination {
                chain: Some("ETH".into()),
                address: "0x6057d2D9f07e06FA0836a17a4e4F0044d8F02912".into(),
                min_out: Some(0),
            }),
            gas_price: None,
            evidence: ev(
                2,
                "=:ETH.USDT-EC7:0x6057d2D9f07e06FA0836a17a4e4F0044d8F02912:0/1/0:ti:70",
            ),
        },
        LinkFact::Exit {
            kind: LinkKind::ChainSwap,
            service: "thorchain".into(),
            contract: OUT_VAULT.into(),
            leg: l(
                3,
                "740ec4f695f8b13a5cdfcedecd5935eebcd4c291823c4f9f7ce439f6ea6e260f",
                0,
                1_166_419,
                "bc1qgc62l320e29qg3cadhxn65kldp308n6epn07ej",
            ),
            reference: Some(
                "67F019E338BE8682A7D2C988277B8F32FC197F429CC43AA9B195C14F9597741E".into(),
            ),
            relayer: None,
            gas_price: None,
            evidence: ev(
                2,
                "OUT:67F019E338BE8682A7D2C988277B8F32FC197F429CC43AA9B195C14F9597741E",
            ),
        },
    ]
}

#[test]
fn real_thorchain_txs_by_memo_alone() {
    let mut b = real_block();
    let reasons = add_link_facts(&mut b, &LinkConfig::default());
    assert_eq!(b.links, expected_real(true));
    assert_eq!(
        reasons,
        [(
            "thorchain memo is no swap or payout (liquidity, loan, …)".to_string(),
            1
        )],
        "the liquidity deposit is recognised, not linked"
    );
}

#[test]
fn real_thorchain_txs_with_configured_vaults() {
    let mut b = real_block();
    let reasons = add_link_facts(&mut b, &vault_config(&[VAULT, OUT_VAULT]));
    assert_eq!(b.links, expected_real(false));
    assert_eq!(
        reasons,
        [(
            "thorchain memo is no swap or payout (liquidity, loan, …)".to_string(),
            1
        )]
    );
    // The exit's reference finds the entry of the same id on the far side.
    assert!(b.links[2].keys().contains(
        &"ref:67f019e338be8682a7d2c988277b8f32fc197f429cc43aa9b195c14f9597741e".to_string()
    ));
}

#[test]
fn a_configured_payout_is_found_with_its_inputs_unresolved() {
    // Its change goes back to the vault: the vault's own tx, even unresolved.
    let bytes = hex::decode(OUT_TX).unwrap();
    let tx = to_utxo_tx(CHAIN, 3, &decode_transaction(&bytes, CHAIN).unwrap());
    let mut b = block(vec![tx]);
    let reasons = add_link_facts(&mut b, &vault_config(&[OUT_VAULT]));
    assert_eq!(b.links, vec![expected_real(false).remove(2)]);
    assert!(reasons.is_empty(), "{reasons:?}");
}

// Synthetic txs on the same chain, addresses of the fixtures reused as plain addresses.
const WALLET: &str = "bc1qyl7wjm2ldfezgnjk2c78adqlk7dvtm8sd7gn0q";
const USER: &str = "bc1qss42t2tk76cst7267xj4jsuddqea69zgdkql89";
const OTHER: &str = "bc1qtgsttdcy3z67hegc36l99egdm36va0m5r0gece";

fn out(address: &str, value: u128) -> UtxoOutput {
    UtxoOutput {
        value: Amount::from_units(value),
        kind: ScriptKind::P2wpkh,
        payee: Some(payee(address)),
        data: None,
    }
}

fn op_return(data: &[u8]) -> UtxoOutput {
    UtxoOutput {
        value: Amount::ZERO,
        kind: ScriptKind::NullData,
        payee: None,
        data: Some(data.to_vec()),
    }
}

fn tx(index: u32, from: Option<&str>, outputs: Vec<UtxoOutput>) -> UtxoTx {
    UtxoTx {
        txid: Hash32::from_internal([u8::try_from(index).unwrap(); 32]),
        index,
        coinbase: false,
        hogex: false,
        size: 200,
        vsize: 150,
        inputs: vec![UtxoInput {
            prevout: OutPoint {
                txid: Hash32::ZERO,
                vout: index,
            },
            sequence: u32::MAX,
            resolved: from.map(resolved),
        }],
        outputs,
    }
}

fn bridge_config() -> LinkConfig {
    LinkConfig {
        bridges: vec![BridgeConfig {
            name: "sim-bridge".into(),
            contracts: Vec::new(),
            lock: Vec::new(),
            release: Vec::new(),
            wallets: vec![Place {
                chain: "bitcoin".into(),
                // Configured text in another case still names the wallet.
                address: WALLET.to_ascii_uppercase(),
            }],
            max_fee_permille: 10,
            window_seconds: 3600,
            heuristic: true,
            converts: false,
        }],
        ..LinkConfig::default()
    }
}

#[test]
fn bridge_deposits_and_payouts() {
    let evm_payee = "0x86d526d6624AbC0178cF7296cD538Ecc080A95F1";
    let out_memo = format!("OUT:{}", "AB".repeat(32));
    let mut b = block(vec![
        // 1: deposit, memo the EVM payee.
        tx(
            1,
            Some(USER),
            vec![
                out(WALLET, 5_000),
                out(USER, 10),
                op_return(evm_payee.as_bytes()),
            ],
        ),
        // 2: payout, change back, OUT memo.
        tx(
            2,
            Some(WALLET),
            vec![
                out(OTHER, 4_900),
                out(WALLET, 90),
                op_return(out_memo.as_bytes()),
            ],
        ),
        // 3: payout without memo; 4: deposit without memo; 5: deposit, malformed swap memo.
        tx(3, Some(WALLET), vec![out(OTHER, 1)]),
        tx(4, Some(USER), vec![out(WALLET, 7)]),
        tx(5, Some(USER), vec![out(WALLET, 7), op_return(b"=:ETH.ETH")]),
        // 6: deposit with a swap memo, payer unresolved.
        tx(6, None, vec![out(WALLET, 8), op_return(b"=:e:0xabc:1e3")]),
        // 7: consolidation: everything back to the wallet.
        tx(7, Some(WALLET), vec![out(WALLET, 100)]),
        // 8: unrelated OP_RETURN data elsewhere: nothing, not even a reason.
        tx(
            8,
            Some(USER),
            vec![out(OTHER, 1), op_return(&[0xff, 0x00, 0x13])],
        ),
        tx(
            9,
            Some(USER),
            vec![out(OTHER, 1), op_return(b"hello world")],
        ),
    ]);
    let reasons = add_link_facts(&mut b, &bridge_config());
    let id = |i: u8| Hash32::from_internal([i; 32]).to_string();
    assert_eq!(
        b.links,
        vec![
            LinkFact::Entry {
                kind: LinkKind::Bridge,
                service: "sim-bridge".into(),
                contract: WALLET.into(),
                leg: LinkLeg {
                    tx_index: 1,
                    tx: id(1),
                    leg: 0,
                    asset: "native".into(),
                    amount: 5_000,
                    party: USER.into(),
                },
                id: None,
                destination: Some(Destination {
                    chain: None,
                    address: evm_payee.into(),
                    min_out: None,
                }),
                gas_price: None,
                evidence: format!("op_return:2:{evm_payee}"),
            },
            LinkFact::Exit {
                kind: LinkKind::Bridge,
                service: "sim-bridge".into(),
                contract: WALLET.into(),
                leg: LinkLeg {
                    tx_index: 2,
                    tx: id(2),
                    leg: 0,
                    asset: "native".into(),
                    amount: 4_900,
                    party: OTHER.into(),
                },
                reference: Some("AB".repeat(32)),
                relayer: None,
                gas_price: None,
                evidence: format!("op_return:2:{out_memo}"),
            },
            LinkFact::Entry {
                kind: LinkKind::Bridge,
                service: "sim-bridge".into(),
                contract: WALLET.into(),
                leg: LinkLeg {
                    tx_index: 6,
                    tx: id(6),
                    leg: 0,
                    asset: "native".into(),
                    amount: 8,
                    party: String::new(),
                },
                id: None,
                destination: Some(Destination {
                    chain: Some("ETH".into()),
                    address: "0xabc".into(),
                    min_out: Some(1_000),
                }),
                gas_price: None,
                evidence: "op_return:1:=:e:0xabc:1e3".into(),
            },
        ]
    );
    assert_eq!(
        reasons,
        [
            (
                "bridge deposit memo malformed: missing destination".to_string(),
                1
            ),
            ("bridge deposit without memo".to_string(), 1),
            ("bridge entry payer unresolved".to_string(), 1),
            ("bridge payout without reference".to_string(), 1),
        ]
    );
}

#[test]
fn vault_deposits_need_a_swap_memo() {
    // A plain address is a bridge's convention, not a vault's.
    let mut b = block(vec![tx(
        1,
        Some(USER),
        vec![
            out(VAULT, 5),
            op_return(b"0x86d526d6624AbC0178cF7296cD538Ecc080A95F1"),
        ],
    )]);
    let reasons = add_link_facts(&mut b, &vault_config(&[VAULT]));
    assert!(b.links.is_empty());
    assert_eq!(
        reasons,
        [(
            "chain_swap deposit memo malformed: unknown function …".to_string(),
            1
        )]
    );
}

#[test]
fn malformed_thorchain_memos_alone_are_counted() {
    let mut b = block(vec![
        tx(
            1,
            Some(USER),
            vec![out(OTHER, 5), op_return(b"=:ETH.ETH:0xabc:lots")],
        ),
        tx(2, Some(USER), vec![out(OTHER, 5), op_return(b"OUT:123")]),
    ]);
    let reasons = add_link_facts(&mut b, &LinkConfig::default());
    assert!(b.links.is_empty());
    assert_eq!(
        reasons,
        [
            (
                "thorchain memo malformed: bad tx hash … (64 hex digits)".to_string(),
                1
            ),
            (
                "thorchain memo malformed: limit: … is not an amount".to_string(),
                1
            ),
        ]
    );
}

/// A P2WPKH output whose program is `chunk`, zero-padded: a piece of a long memo.
fn carrier(chunk: &[u8]) -> UtxoOutput {
    let mut program = [0u8; 40];
    program[..chunk.len()].copy_from_slice(chunk);
    UtxoOutput {
        value: Amount::from_units(546),
        kind: ScriptKind::P2wpkh,
        payee: Some(Payee {
            chain: CHAIN,
            repr: PayeeRepr::Witness {
                version: 0,
                len: 20,
                program,
            },
        }),
        data: None,
    }
}

#[test]
fn a_memo_longer_than_an_op_return_is_read_from_its_carrier_outputs() {
    let memo = "=:ETH.USDT-0xdac17f958d2ee523a2206206994597c13d831ec7:0x86d526d6624AbC0178cF7296cD538Ecc080A95F1:0/1/0:t:30";
    assert!(memo.len() > 80);
    let (head, rest) = memo.split_at(79);
    let mut outputs = vec![
        out(VAULT, 50_000),
        out(USER, 10),
        op_return(format!("{head}^").as_bytes()),
    ];
    outputs.extend(rest.as_bytes().chunks(20).map(carrier));
    // A change output after the carriers is no part of it.
    outputs.push(out(USER, 5));
    let mut b = block(vec![tx(1, Some(USER), outputs)]);
    let reasons = add_link_facts(&mut b, &vault_config(&[VAULT]));
    assert!(reasons.is_empty(), "{reasons:?}");
    let [
        LinkFact::Entry {
            destination,
            evidence,
            leg,
            ..
        },
    ] = &b.links[..]
    else {
        panic!("{:?}", b.links)
    };
    assert_eq!(leg.amount, 50_000);
    assert_eq!(evidence, &format!("op_return:2:{memo}"));
    assert_eq!(
        destination.as_ref().unwrap().address,
        "0x86d526d6624AbC0178cF7296cD538Ecc080A95F1"
    );

    // Without its carriers, the cut memo is refused, not read as if whole.
    let mut b = block(vec![tx(
        1,
        Some(USER),
        vec![out(VAULT, 50_000), op_return(format!("{head}^").as_bytes())],
    )]);
    let reasons = add_link_facts(&mut b, &vault_config(&[VAULT]));
    assert!(b.links.is_empty());
    assert_eq!(
        reasons,
        [(
            "chain_swap deposit memo malformed: destination has '^'".to_string(),
            1
        )]
    );
}

mod props {
    use proptest::prelude::*;

    use super::*;

    const ADDRESSES: [&str; 4] = [VAULT, WALLET, USER, OTHER];

    fn any_output() -> impl Strategy<Value = UtxoOutput> {
        prop_oneof![
            (0usize..4, any::<u64>()).prop_map(|(a, v)| out(ADDRESSES[a], u128::from(v))),
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..90),
                "(=|OUT|REFUND|s|\\+|-|SWAP)?:[a-zA-Z0-9.:/~^-]{0,80}".prop_map(String::into_bytes),
                // Valid memos of each kind, so that facts are made.
                "(=|s|SWAP):(e|b|ETH\\.ETH|BTC/BTC):[a-z0-9]{1,40}(:[0-9]{1,20})?"
                    .prop_map(String::into_bytes),
                "(OUT|REFUND):[0-9A-F]{64}".prop_map(String::into_bytes),
                "0x[0-9a-f]{40}".prop_map(String::into_bytes),
            ]
            .prop_map(|d| op_return(&d)),
        ]
    }

    fn any_tx() -> impl Strategy<Value = (Option<usize>, Vec<UtxoOutput>)> {
        (
            proptest::option::of(0usize..4),
            proptest::collection::vec(any_output(), 0..6),
        )
    }

    proptest! {
        /// Whatever the outputs and memos, no panic, and every fact's leg is an output of its
        /// tx paying what the leg says.
        #[test]
        fn facts_point_at_real_outputs(txs in proptest::collection::vec(any_tx(), 0..8), configured in any::<bool>()) {
            let txs: Vec<UtxoTx> = txs
                .into_iter()
                .zip(1u32..)
                .map(|((from, outputs), i)| tx(i, from.map(|f| ADDRESSES[f]), outputs))
                .collect();
            let mut b = block(txs);
            let config = if configured { bridge_config() } else { vault_config(&[VAULT]) };
            let _ = add_link_facts(&mut b, &config);
            for f in &b.links {
                let leg = match f {
                    LinkFact::Entry { leg, .. } | LinkFact::Exit { leg, .. } => leg,
                    LinkFact::Within { .. } => panic!("no within facts on UTXO chains"),
                };
                let t = b.txs.iter().find(|t| t.index == leg.tx_index).unwrap();
                prop_assert_eq!(&leg.tx, &t.txid.to_string());
                let o = &t.outputs[leg.leg as usize];
                prop_assert!(o.data.is_none());
                prop_assert_eq!(o.value.units(), leg.amount);
            }
        }
    }
}
