//! Building blocks of the bulk layout planned in `docs/bulk-ingest-plan.md`: append-only
//! files whose committed length lives in redb, and (as they land) the tx log and the address
//! index. They are tested on their own; ingest does not use them yet.

pub mod addr_index;
pub mod segment;
pub mod txlog;
