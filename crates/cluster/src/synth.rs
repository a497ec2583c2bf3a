//! Synthetic co-spend workloads for benchmarks (`tracehound bench cluster`, the criterion
//! bench): many txs of a few inputs over a large address space, shaped like a chain.
//!
//! Address ids are interned in order of first appearance and most spends are of recent
//! outputs, so on a real chain a tx's input ids cluster near the tip of the id space. Here
//! nine picks in ten come from a window of 65,536 ids behind a cursor that sweeps the whole
//! space as txs go by, the tenth from anywhere before it. Inputs per tx: one for half the
//! txs, two for a quarter, three to eight for the rest (2.6 on average).

use tracehound_core::ScriptKind;

use crate::{Clusterer, TxIn, TxOut, TxShape, UnionFind};

/// Txs as flat input address ids.
#[derive(Debug, Clone, Default)]
pub struct SynthTxs {
    /// Input address ids of every tx, one after another.
    pub inputs: Vec<u32>,
    /// End (exclusive) of each tx's inputs in `inputs`.
    pub ends: Vec<usize>,
    /// Address ids run `0..addresses`.
    pub addresses: u32,
}

/// About `inputs` inputs over `addresses` ids.
pub fn generate(addresses: u32, inputs: u64, seed: u64) -> SynthTxs {
    let mut rng = fastrand::Rng::with_seed(seed);
    let n = usize::try_from(inputs).unwrap_or(usize::MAX);
    let mut t = SynthTxs {
        inputs: Vec::with_capacity(n),
        ends: Vec::with_capacity(n / 2),
        addresses: addresses.max(2),
    };
    let space = u64::from(t.addresses);
    while t.inputs.len() < n {
        let k = match rng.u32(0..4) {
            0 | 1 => 1,
            2 => 2,
            _ => rng.usize(3..=8),
        };
        let cursor = (t.inputs.len() as u64 * space / inputs.max(1)).clamp(1, space - 1) as u32;
        for _ in 0..k {
            let id = if rng.u32(0..10) < 9 {
                cursor.saturating_sub(rng.u32(0..1 << 16))
            } else {
                rng.u32(0..=cursor)
            };
            t.inputs.push(id);
        }
        t.ends.push(t.inputs.len());
    }
    t
}

/// Co-spend with the bare union-find: joins each tx's inputs; returns the merges.
pub fn union_find(t: &SynthTxs) -> u64 {
    let mut uf = UnionFind::new(t.addresses);
    let mut merges = 0;
    let mut start = 0;
    for &end in &t.ends {
        if let Some((&first, rest)) = t.inputs.get(start..end).and_then(|s| s.split_first()) {
            for &x in rest {
                merges += u64::from(uf.union(first, x));
            }
        }
        start = end;
    }
    merges
}

/// Co-spend through the [`Clusterer`] (CoinJoin guard and evidence included), each tx with
/// two outputs of distinct values; returns the merges.
pub fn clusterer(t: &SynthTxs) -> u64 {
    let mut c = Clusterer::new(t.addresses, crate::Options::default());
    let mut ins: Vec<TxIn> = Vec::new();
    let mut start = 0;
    for (k, &end) in t.ends.iter().enumerate() {
        ins.clear();
        ins.extend(
            t.inputs
                .get(start..end)
                .unwrap_or_default()
                .iter()
                .map(|&a| TxIn {
                    addr: Some(a),
                    kind: Some(ScriptKind::P2wpkh),
                }),
        );
        let outs = [
            TxOut {
                addr: Some(k as u32 % t.addresses),
                value: 1_234_567,
                kind: ScriptKind::P2wpkh,
            },
            TxOut {
                addr: Some((k as u32).wrapping_mul(7) % t.addresses),
                value: 7_654_321,
                kind: ScriptKind::P2wpkh,
            },
        ];
        c.add_tx(&TxShape {
            tx: k as u64,
            coinbase: false,
            inputs: &ins,
            outputs: &outs,
        });
        start = end;
    }
    c.finish(tracehound_core::Chain::BitcoinMainnet, t.ends.len() as u64)
        .figures
        .merges
}
