//! Union-find throughput on synthetic co-spends: inputs per second.
fn main() {}
