//! Integration tests of the labels crate: every shipped real label file, normalization, bad
//! input, and the store.

mod bad_input;
mod real_data;
mod store;
