//! Building blocks of the bulk layout planned in `docs/bulk-ingest-plan.md`: append-only
//! files whose committed length lives in redb ([`segment`]), the tx log ([`txlog`]), the
//! address index ([`addr_index`]) and the UTXO set, RAM in front of runs on disk, with snapshots ([`utxo_set`]).
//! They are tested on their own; ingest does not use them yet.

pub mod addr_index;
pub(crate) mod fingerprint;
pub mod segment;
pub mod txlog;
pub mod utxo_set;
