//! A random account chain for equality tests: engines that must agree (the batch jobs and the
//! native walks) are run on a world with the variety the rules tell apart — several assets,
//! busy hubs over any history cap, fees, NFTs, transfers to oneself, amounts from dust to
//! 10³⁵ base units — made from a seed, with no node.

use tracehound_core::{
    AccountBlock, AccountTransfer, AccountTx, Address, Amount, AssetId, Block, Chain, Hash32,
    Transfer, TransferKind, TxRef,
};

/// The chain and who is in it.
#[derive(Debug, Clone)]
pub struct RandomAccount {
    /// Blocks from height 0, each linked to the one before.
    pub blocks: Vec<AccountBlock>,
    /// The 300 people, canonical text; the first four are the hubs.
    pub people: Vec<String>,
}

/// `blocks` blocks of `chain`, 12 s apart, of 1–3 txs, each of 1–3 transfers among 300
/// addresses — the first four of them hubs that pay and are paid far more than the rest — in
/// ether or one of two tokens (amounts from 1 to 10³⁵ base units), with a fee to the
/// validator now and then, NFT moves and transfers to oneself. The same seed gives the same
/// chain.
pub fn blocks(chain: Chain, seed: u64, blocks: u32) -> RandomAccount {
    let mut rng = fastrand::Rng::with_seed(seed);
    let address = |n: u16| {
        let mut bytes = [0x5a; 20];
        bytes[18..].copy_from_slice(&n.to_be_bytes());
        Address::evm(chain, &bytes)
    };
    let people: Vec<Address> = (1..=300).map(address).collect();
    let tokens = [address(0xa001), address(0xa002)];
    let nft = address(0xb001);
    let validator = address(0xfe00);
    let pick = |rng: &mut fastrand::Rng| {
        // Hubs (the first four) take part in about a quarter of all transfers.
        if rng.u8(..4) == 0 {
            people[rng.usize(..4)].clone()
        } else {
            people[rng.usize(..people.len())].clone()
        }
    };
    let mut parent = Hash32::ZERO;
    let mut out = Vec::new();
    let mut next_tx = 1u64;
    for height in 0..blocks {
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&(u64::from(height) + 1).to_be_bytes());
        hash[31] = 0xbb;
        let hash = Hash32(hash);
        let mut b = AccountBlock {
            block: Block {
                chain,
                height,
                hash,
                parent,
                time: 1_735_700_000 + u64::from(height) * 12,
                chainwork: None,
            },
            txs: Vec::new(),
            transfers: Vec::new(),
            tokens: Vec::new(),
            links: Vec::new(),
        };
        for index in 0..rng.u32(1..=3) {
            let mut txid = [0u8; 32];
            txid[..8].copy_from_slice(&next_tx.to_be_bytes());
            next_tx += 1;
            let txid = Hash32(txid);
            let sender = pick(&mut rng);
            let tx = TxRef {
                chain,
                height,
                index,
                txid,
            };
            let mut moves = Vec::new();
            for _ in 0..rng.u32(1..=3) {
                let from = if rng.u8(..4) == 0 {
                    pick(&mut rng)
                } else {
                    sender.clone()
                };
                let to = if rng.u8(..33) == 0 {
                    from.clone()
                } else {
                    pick(&mut rng)
                };
                // Ether around 0.1–50, a 6-decimal token 1–100,000, an 18-decimal one
                // up to a million, and once in a while a dust amount.
                let (kind, asset, amount) = match rng.u8(..20) {
                    0 => (TransferKind::Nft, AssetId::Contract(nft.clone()), 1),
                    1..=10 => (
                        TransferKind::Native,
                        AssetId::Native,
                        rng.u128(10u128.pow(17)..=5 * 10u128.pow(19)),
                    ),
                    11..=14 => (
                        TransferKind::Token,
                        AssetId::Contract(tokens[0].clone()),
                        rng.u128(10u128.pow(6)..=10u128.pow(11)),
                    ),
                    // Now and then a whale's amount of it, past what a share times an
                    // amount leaves room for in 128 bits.
                    15..=18 if rng.u8(..8) == 0 => (
                        TransferKind::Token,
                        AssetId::Contract(tokens[1].clone()),
                        rng.u128(10u128.pow(34)..=10u128.pow(35)),
                    ),
                    15..=18 => (
                        TransferKind::Token,
                        AssetId::Contract(tokens[1].clone()),
                        rng.u128(1..=10u128.pow(24)),
                    ),
                    _ => (TransferKind::Native, AssetId::Native, rng.u128(1..=1000)),
                };
                moves.push((kind, asset, from, to, amount));
            }
            if rng.u8(..3) == 0 {
                let fee = rng.u128(1..=10u128.pow(15));
                moves.push((
                    TransferKind::Fee,
                    AssetId::Native,
                    sender.clone(),
                    validator.clone(),
                    fee,
                ));
            }
            b.txs.push(AccountTx {
                hash: txid,
                index,
                from: sender.clone(),
                to: Some(moves[0].3.clone()),
                value: Amount::from_units(0),
                success: true,
                gas_used: 21_000,
                gas_price: 0,
                created: None,
            });
            for (sub_index, (kind, asset, from, to, amount)) in (0u32..).zip(moves) {
                b.transfers.push(AccountTransfer {
                    transfer: Transfer {
                        tx,
                        sub_index,
                        kind,
                        asset,
                        from,
                        to,
                        amount: Amount::from_units(amount),
                    },
                    source: "test".into(),
                });
            }
        }
        parent = hash;
        out.push(b);
    }
    RandomAccount {
        blocks: out,
        people: people.iter().map(|a| a.as_str().to_string()).collect(),
    }
}
