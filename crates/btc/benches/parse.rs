//! Decode throughput of a real mainnet block (702861: 2,500 txs, mostly segwit) and of its
//! conversion into the model (script → address for every output).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tracehound_btc::decode;
use tracehound_core::Chain;

fn block_bytes() -> Vec<u8> {
    let path = tracehound_btc::fixtures::shared_data(
        "btc/raw/mainnet_block_000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae.raw",
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn bench(c: &mut Criterion) {
    let bytes = block_bytes();
    let mut g = c.benchmark_group("block_702861");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| decode::decode_block(black_box(&bytes), Chain::BitcoinMainnet))
    });
    let decoded = decode::decode_block(&bytes, Chain::BitcoinMainnet).expect("fixture decodes");
    g.bench_function("to_model", |b| {
        b.iter(|| decode::to_utxo_block(Chain::BitcoinMainnet, 702_861, black_box(&decoded)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
