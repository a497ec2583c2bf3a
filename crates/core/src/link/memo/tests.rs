//! Memo grammar on real memos: THORChain's own documentation, and Bitcoin mainnet txs.
//!
//! Sources:
//! - docs: dev.thorchain.org, pages "Transaction Memos" (concepts/memos.html), "Memo Length
//!   Reduction" (concepts/memo-length-reduction.html), "Memoless Swaps"
//!   (swap-guide/memoless-swaps.html), "Aggregators: Memos" (aggregators/memos.html).
//! - mainnet: Bitcoin txs recorded, with the THORChain Midgard actions they belong to, as test
//!   fixtures of ShapeShift's web wallet (github.com/shapeshift/web,
//!   `packages/unchained-client/src/utxo/bitcoin/parser/__tests__/mockData/*.ts`); each memo
//!   below names its txid (and block), where it can be checked on any explorer.

use proptest::prelude::*;

use super::*;

fn swap(asset: &str, destination: &str, limit: Option<u128>) -> Memo {
    Memo::Swap {
        chain: asset
            .split(['.', '/', '~', '-'])
            .next()
            .unwrap()
            .to_string(),
        asset: asset.into(),
        destination: destination.into(),
        limit,
        refund_address: None,
        streaming: None,
        affiliates: Vec::new(),
        aggregator: Vec::new(),
    }
}

fn with_affiliate(mut m: Memo, name: &str, bps: u32) -> Memo {
    if let Memo::Swap { affiliates, .. } = &mut m {
        affiliates.push(Affiliate {
            name: name.into(),
            bps: Some(bps),
        });
    }
    m
}

fn with_streaming(mut m: Memo, interval: u64, quantity: u64) -> Memo {
    if let Memo::Swap { streaming, .. } = &mut m {
        *streaming = Some(Streaming {
            interval,
            quantity: Some(quantity),
        });
    }
    m
}

fn ok(text: &str) -> Memo {
    parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn mainnet_inbound_swaps() {
    // tx 54a990298b6b0c3e3ec9425e3c472ccee85e06552508c2e7622027e7cd838a4c, block 825037
    // (mockData/thorchainSwap.ts): scientific limit, THORName affiliate.
    assert_eq!(
        ok("=:GAIA.ATOM:cosmos1aywmluxanawepu2g2vpe3a449ashlxy04l2mcc:37207e5:rg:25"),
        with_affiliate(
            swap(
                "GAIA.ATOM",
                "cosmos1aywmluxanawepu2g2vpe3a449ashlxy04l2mcc",
                Some(3_720_700_000)
            ),
            "rg",
            25
        )
    );
    // tx a1174a690a6e9cc570e4e4a76f8be49d82fa2353cfd686c1b6b210d58d0e3cc7, block 825055
    // (mockData/thorchainStreamingSwap.ts): streaming, abbreviated token.
    assert_eq!(
        ok("=:ETH.USDT-EC7:0x6057d2D9f07e06FA0836a17a4e4F0044d8F02912:0/1/0:ti:70"),
        with_affiliate(
            with_streaming(
                swap(
                    "ETH.USDT-EC7",
                    "0x6057d2D9f07e06FA0836a17a4e4F0044d8F02912",
                    Some(0)
                ),
                1,
                0
            ),
            "ti",
            70
        )
    );
    // The inbound memos Midgard reports for the refund and payouts below
    // (mockData/thorchainSwapRefund.ts, thorchainSaversOutbound.ts, thorchainSwapOutbound.ts).
    assert_eq!(
        ok("=:ETH.ETH:0x7fFA927b18576304bFF35d5C1bFe20CDa66C1BF1:52656381:ss:29"),
        with_affiliate(
            swap(
                "ETH.ETH",
                "0x7fFA927b18576304bFF35d5C1bFe20CDa66C1BF1",
                Some(52_656_381)
            ),
            "ss",
            29
        )
    );
    assert_eq!(
        ok("=:BTC.BTC:bc1qgc62l320e29qg3cadhxn65kldp308n6epn07ej"),
        swap(
            "BTC.BTC",
            "bc1qgc62l320e29qg3cadhxn65kldp308n6epn07ej",
            None
        )
    );
    assert_eq!(
        ok("SWAP:BTC.BTC:bc1qtgsttdcy3z67hegc36l99egdm36va0m5r0gece:24000000"),
        swap(
            "BTC.BTC",
            "bc1qtgsttdcy3z67hegc36l99egdm36va0m5r0gece",
            Some(24_000_000)
        )
    );
}

#[test]
fn mainnet_outbound_and_other_memos() {
    // tx 740ec4f695f8b13a5cdfcedecd5935eebcd4c291823c4f9f7ce439f6ea6e260f, block 825282
    // (mockData/thorchainSaversOutbound.ts).
    assert_eq!(
        ok("OUT:67F019E338BE8682A7D2C988277B8F32FC197F429CC43AA9B195C14F9597741E"),
        Memo::Out {
            reference: "67F019E338BE8682A7D2C988277B8F32FC197F429CC43AA9B195C14F9597741E".into()
        }
    );
    // tx bf0c67414d6842ce3f24af1114ad2afb4afdc8f7fab9ec2dc2feec52a1b8e65d, block 825042
    // (mockData/thorchainSwapOutbound.ts).
    assert_eq!(
        ok("OUT:B5FE4F2D310D32ADD3D70C1E806E224943A08E73AC89287AB374B6566C4605D8"),
        Memo::Out {
            reference: "B5FE4F2D310D32ADD3D70C1E806E224943A08E73AC89287AB374B6566C4605D8".into()
        }
    );
    // tx 89d3c6fb860248a517bcff7b7e0846d76a6b67186da705f798cd3a2943e6d0b2, block 825327
    // (mockData/thorchainSwapRefund.ts).
    assert_eq!(
        ok("REFUND:1A15D2C488FCA6FE4B50A930BDFCF320DAD6FCFF629B8D91310648E35FCEE967"),
        Memo::Refund {
            reference: "1A15D2C488FCA6FE4B50A930BDFCF320DAD6FCFF629B8D91310648E35FCEE967".into()
        }
    );
    // tx 63718db6a7dbb2ddf0ccfc3351fba1a7ba8172bb49c463cb7c94c05dd7cf28d2, block 825042
    // (mockData/thorchainLpDeposit.ts): liquidity, not a swap.
    assert_eq!(
        ok("+:BTC.BTC::t:0"),
        Memo::Add {
            pool: "BTC.BTC".into(),
            paired: None
        }
    );
    // tx 9cddfc4cda88eca0f48ad36cd6501cf72812a81d1eeab1d036d1902d2548d8d1, block 825042
    // (mockData/thorchainSaversDeposit.ts): a savers deposit.
    assert_eq!(
        ok("+:BTC/BTC::t:0"),
        Memo::Add {
            pool: "BTC/BTC".into(),
            paired: None
        }
    );
    // Midgard's memo of the savers withdrawal paid by tx 740ec4f6… above.
    assert_eq!(
        ok("-:BTC/BTC:10000"),
        Memo::Withdraw {
            pool: "BTC/BTC".into(),
            basis_points: Some(10_000)
        }
    );
    // tx b4e88401bb9b2b3b17c376bf5a62efd968ddfdf796c55fd4e35d80695225c4dc, block 824488
    // (mockData/thorchainLoanOpen.ts): a loan, recognised, not a swap.
    assert_eq!(
        ok("$+:THOR.RUNE:thor1h7jfggcpqvc4dz546wm9etlgsas0x6su3q490w"),
        Memo::Other {
            function: "LOAN+".into(),
            params: vec![
                "THOR.RUNE".into(),
                "thor1h7jfggcpqvc4dz546wm9etlgsas0x6su3q490w".into()
            ]
        }
    );
}

#[test]
fn documented_examples() {
    // Memo Length Reduction: shortened assets, THORNames, scientific notation.
    assert_eq!(
        ok("=:e:0x388C818CA8B9251b393131C08a736A67ccB19297"),
        swap(
            "ETH.ETH",
            "0x388C818CA8B9251b393131C08a736A67ccB19297",
            None
        )
    );
    assert_eq!(
        ok("=:r:thor1el4ufmhll3yw7zxzszvfakrk66j7fx0tvcslym"),
        swap(
            "THOR.RUNE",
            "thor1el4ufmhll3yw7zxzszvfakrk66j7fx0tvcslym",
            None
        )
    );
    assert_eq!(
        ok("=:e:dx:161e6:t:10"),
        with_affiliate(swap("ETH.ETH", "dx", Some(161_000_000)), "t", 10)
    );
    assert_eq!(
        ok("=:ETH.USDT:dx:100e7:t:10"),
        with_affiliate(swap("ETH.USDT", "dx", Some(1_000_000_000)), "t", 10)
    );
    assert_eq!(
        ok(
            "SWAP:ETH.ETH:0xe6a30f4f3bad978910e2cbb4d97581f5b5a0ade0:1612345678:thor1el4ufmhll3yw7zxzszvfakrk66j7fx0tvcslym:10"
        ),
        with_affiliate(
            swap(
                "ETH.ETH",
                "0xe6a30f4f3bad978910e2cbb4d97581f5b5a0ade0",
                Some(1_612_345_678)
            ),
            "thor1el4ufmhll3yw7zxzszvfakrk66j7fx0tvcslym",
            10
        )
    );
    // Transaction Memos: swap examples (a synth out is paid on THORChain).
    assert_eq!(
        ok("=:THOR.RUNE:thor1el4ufmhll3yw7zxzszvfakrk66j7fx0tvcslym:19779138111"),
        swap(
            "THOR.RUNE",
            "thor1el4ufmhll3yw7zxzszvfakrk66j7fx0tvcslym",
            Some(19_779_138_111)
        )
    );
    let synth = ok("s:BNB/BUSD-BD1:thor15s4apx9ap7lazpsct42nmvf0t6am4r3w0r64f2:628197586176");
    assert_eq!(
        synth,
        swap(
            "BNB/BUSD-BD1",
            "thor15s4apx9ap7lazpsct42nmvf0t6am4r3w0r64f2",
            Some(628_197_586_176)
        )
    );
    assert_eq!(synth.payout_chain(), Some("THOR"));
    assert_eq!(ok("=:e:dx").payout_chain(), Some("ETH"));
    assert_eq!(
        ok("-:BTC.BTC:10000"),
        Memo::Withdraw {
            pool: "BTC.BTC".into(),
            basis_points: Some(10_000)
        }
    );
    assert_eq!(
        ok("BOND:thor1xd4j3gk9frpxh8r22runntnqy34lwzrdkazldh"),
        Memo::Other {
            function: "BOND".into(),
            params: vec!["thor1xd4j3gk9frpxh8r22runntnqy34lwzrdkazldh".into()]
        }
    );
    assert!(matches!(
        ok("LEAVE:thor18r8gnfm4qjak47qvpjdtw66ehsx49w99c5wewd"),
        Memo::Other { function, .. } if function == "LEAVE"
    ));
    // Aggregators: an outbound memo as the network writes it.
    assert_eq!(
        ok("OUT:EA7D80B3EB709319A6577AF6CF4DEFF67975D4F5A93CD8817E7FF04A048D1C5C"),
        Memo::Out {
            reference: "EA7D80B3EB709319A6577AF6CF4DEFF67975D4F5A93CD8817E7FF04A048D1C5C".into()
        }
    );
    // Memoless swaps: registering a memo, and naming a registered one.
    assert!(matches!(
        ok("REFERENCE:BTC.BTC:=:ETH.ETH:0x86d526d6624AbC0178cF7296cD538Ecc080A95F1"),
        Memo::Other { function, .. } if function == "REFERENCE"
    ));
    assert!(matches!(
        ok("R:20002"),
        Memo::Other { function, params } if function == "REFERENCE" && params == ["20002"]
    ));
}

#[test]
fn grammar_details() {
    // Functions and shorthands are case-insensitive; padding is ignored.
    assert_eq!(ok("swap:B:bc1qxyz"), swap("BTC.BTC", "bc1qxyz", None));
    assert_eq!(ok("S:l:ltc1qxyz\0\0"), swap("LTC.LTC", "ltc1qxyz", None));
    // Several affiliates, fees paired; one fee for several applies to each.
    let Memo::Swap { affiliates, .. } = ok("=:b:bc1qx::t/ej:10/15") else {
        panic!()
    };
    assert_eq!(
        affiliates,
        [
            Affiliate {
                name: "t".into(),
                bps: Some(10)
            },
            Affiliate {
                name: "ej".into(),
                bps: Some(15)
            }
        ]
    );
    let Memo::Swap { affiliates, .. } = ok("=:b:bc1qx::t/ej:10") else {
        panic!()
    };
    assert!(affiliates.iter().all(|a| a.bps == Some(10)));
    // A refund address after the destination; aggregator fields kept as written; data
    // after `|` is not a parameter.
    let Memo::Swap {
        destination,
        refund_address,
        aggregator,
        limit,
        ..
    } = ok("=:ETH.ETH:0xdead/bc1qrefund:1.5e8:t:5:0x6980:0x0a44:1000|hello:world")
    else {
        panic!()
    };
    assert_eq!(destination, "0xdead");
    assert_eq!(refund_address.as_deref(), Some("bc1qrefund"));
    assert_eq!(limit, Some(150_000_000));
    assert_eq!(aggregator, ["0x6980", "0x0a44", "1000"]);
    // CashAddr destinations keep their prefix.
    let Memo::Swap {
        destination,
        streaming,
        ..
    } = ok("=:BCH.BCH:bitcoincash:qzfzukmpry8y4mdp6xz7cy65eagtwhajzvj749257p:0/20/1:t:30")
    else {
        panic!()
    };
    assert_eq!(
        destination,
        "bitcoincash:qzfzukmpry8y4mdp6xz7cy65eagtwhajzvj749257p"
    );
    assert_eq!(
        streaming,
        Some(Streaming {
            interval: 20,
            quantity: Some(1)
        })
    );
    // Exact limits at the edge of u128.
    assert_eq!(
        amount(&u128::MAX.to_string()),
        Ok(u128::MAX),
        "the largest amount is exact"
    );
    assert!(amount("1e39").is_err());
}

fn refused(text: &str) -> String {
    match parse(text) {
        Ok(m) => panic!("{text:?} parsed as {m:?}"),
        Err(e) => e.reason,
    }
}

#[test]
fn malformed_memos_are_refused_with_the_reason() {
    assert_eq!(refused(""), "empty");
    assert_eq!(refused(" \0 "), "empty");
    assert_eq!(refused("HELLO:world"), "unknown function \"HELLO\"");
    assert!(parse("0xa9059cbb").unwrap_err().is_unknown_function());
    assert_eq!(refused("=:ETH.ETH:0xé"), "not ASCII");
    assert!(refused(&format!("=:ETH.ETH:{}", "a".repeat(300))).starts_with("too long: 310 bytes"));
    assert_eq!(refused("=:ETH.ETH"), "missing destination");
    assert_eq!(refused("=:ETH.ETH::100"), "missing destination");
    assert_eq!(refused("=:ETH.ETH:0x ab"), "destination has ' '");
    assert_eq!(refused("=::0xab"), "asset: missing");
    assert_eq!(
        refused("=:ETHETH:0xab"),
        "asset: \"ETHETH\" has no chain (CHAIN.ASSET)"
    );
    assert_eq!(refused("=:e:0xab:12x"), "limit: \"12x\" is not an amount");
    assert_eq!(
        refused("=:e:0xab:1.25e1"),
        "limit: \"1.25e1\" is not a whole number"
    );
    assert_eq!(refused("=:e:0xab:1e40"), "limit: \"1e40\" is too large");
    assert_eq!(refused("=:e:0xab:-5"), "limit: \"-5\" is not an amount");
    assert_eq!(refused("=:e:0xab:0/x/0"), "bad streaming interval \"x\"");
    assert_eq!(
        refused("=:e:0xab:0/1/0/9"),
        "limit: more than LIM/INTERVAL/QUANTITY"
    );
    assert_eq!(refused("=:e:0xab::t:ten"), "bad affiliate fee \"ten\"");
    assert_eq!(
        refused("=:e:0xab:::10"),
        "1 affiliate fees for 0 affiliates"
    );
    assert_eq!(refused("OUT:"), "missing tx hash");
    assert_eq!(refused("OUT:XYZ"), "bad tx hash \"XYZ\" (64 hex digits)");
    assert_eq!(refused("REFUND"), "missing tx hash");
    assert_eq!(
        refused("-:BTC.BTC:20000"),
        "bad basis points \"20000\" (0 to 10000)"
    );
    assert_eq!(refused("+:"), "pool: missing");
    // Errors print the memo and the reason.
    assert_eq!(
        parse("OUT:XYZ").unwrap_err().to_string(),
        "memo \"OUT:XYZ\": bad tx hash \"XYZ\" (64 hex digits)"
    );
}

proptest! {
    #[test]
    fn never_panics_on_any_text(s in "\\PC{0,300}") {
        let _ = parse(&s);
    }

    #[test]
    fn never_panics_on_memo_like_text(s in "[=sSoOrR+\\-$][:a-zA-Z0-9./~+\\-|eE ]{0,120}") {
        let _ = parse(&s);
    }

    #[test]
    fn swaps_read_back_exactly(
        asset in "(b|e|l|BTC\\.BTC|ETH\\.USDT-0x[0-9a-f]{8}|BNB/BUSD-BD1)",
        dest in "[a-zA-Z0-9]{1,60}",
        limit in proptest::option::of(any::<u64>()),
        interval in proptest::option::of(0u64..1000),
    ) {
        let lim = limit.map(|l| l.to_string()).unwrap_or_default();
        let stream = interval.map(|i| format!("/{i}/0")).unwrap_or_default();
        let m = parse(&format!("=:{asset}:{dest}:{lim}{stream}")).unwrap();
        let Memo::Swap { destination, limit: got, streaming, .. } = m else { panic!() };
        prop_assert_eq!(destination, dest);
        let expect = if limit.is_none() && interval.is_some() { None } else { limit.map(u128::from) };
        prop_assert_eq!(got, expect);
        prop_assert_eq!(streaming.map(|s| s.interval), interval);
    }
}
