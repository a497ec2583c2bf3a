//! Co-spend clustering throughput on synthetic txs (see `tracehound_cluster::synth`): the
//! bare union-find and the whole `Clusterer` (CoinJoin guard, evidence), in inputs per second.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tracehound_cluster::synth;

fn bench(c: &mut Criterion) {
    let t = synth::generate(4_000_000, 10_000_000, 1);
    let mut g = c.benchmark_group("co_spend");
    g.sample_size(10);
    g.throughput(Throughput::Elements(t.inputs.len() as u64));
    g.bench_function("union_find", |b| b.iter(|| synth::union_find(&t)));
    g.bench_function("clusterer", |b| b.iter(|| synth::clusterer(&t)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
