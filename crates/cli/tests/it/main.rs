//! End-to-end tests of the `tracehound` binary.
//!
//! The tests against a real `litecoind -regtest` run with
//! `cargo test -p tracehound-cli --features test-litecoind --test it`.

mod litecoind;
