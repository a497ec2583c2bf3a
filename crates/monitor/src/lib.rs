//! tracehound's live alerts, from the moment the watcher raises one to the moment a receiver
//! has it (issue #10): a crash-safe **outbox** ([`Outbox`], one redb file) that stores each
//! alert once per idempotency key and queues one delivery per matching webhook subscription in
//! the same transaction, and the **deliverer** ([`deliver`], [`deliver_due`]) that POSTs them,
//! signed, retrying with exponential backoff until the receiver answers 2xx or the delivery is
//! dead-lettered.
//!
//! The watch loop and the alert rules live elsewhere: they build [`Alert`]s
//! ([`Alert::builder`], [`Alert::retraction`], [`Alert::finality`]) and [`Outbox::push`]
//! them; the CLI and the API manage subscriptions through [`Outbox`] and run [`deliver`] next
//! to the watcher (or [`deliver_due`] for one pass). A live stream (SSE, websocket) follows [`Outbox::watch`] and
//! reads [`Outbox::alerts`] after the last seq it sent.
//!
//! An alert's `id` is lowercase hex SHA-256 over what the alert is about (kind, incident,
//! chain, height, block hash, tx, address, asset, amount, retracted id; see
//! [`Alert::derive_id`]), never over when it was raised or how it is worded: the same event
//! raised again after a restart is the same alert, stored and delivered once.
//!
//! # Webhook wire format (a public contract)
//!
//! Each delivery is one `POST` to the subscription's URL with
//! `Content-Type: application/json` and as body the [`Alert`] as JSON with its outbox
//! sequence number added as `"seq"`:
//!
//! ```json
//! {"seq":7,"id":"3f1c…","kind":"reached_service","incident":"heist-1","chain":"ethereum",
//!  "height":19000000,"block_hash":"0xab…","tx":"0xcd…","address":"0x12…","asset":"ETH",
//!  "amount":"1500000000000000000","summary":"1.5 ETH of heist-1 reached Exchange X",
//!  "evidence":{…},"confirmations_needed":12,"retracts":null,"raised_at":1767225600}
//! ```
//!
//! `kind` is one of `taint_moved`, `reached_service`, `exposure`, `sanctioned`, `pattern`,
//! `retraction`, `final`; `amount` is an exact integer in the asset's base units, as a
//! string; `retracts` is, for a `retraction`, the `id` of the alert it withdraws (e.g. after
//! a reorg); `finalises`, present only on a `final`, is the `id` of the alert whose block
//! reached its `confirmations_needed` while the alert was in force (the final's evidence says
//! the depth seen). A final comes once per alert, after it; a reorg deeper than the depth can
//! still retract a final alert (the retraction's reason says it was final). Receivers should
//! ignore fields they do not know: fields may be added.
//!
//! Headers:
//!
//! - `X-Tracehound-Id: <alert id>`: the idempotency key. The same event raised twice (after a
//!   restart, by a retry, after a crash between the POST and its bookkeeping) always carries
//!   the same id: **receivers dedupe on it**.
//! - `X-Tracehound-Timestamp: <unix seconds at send>`.
//! - `X-Tracehound-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`, the
//!   key being the subscription's secret as its UTF-8 bytes (the hex text itself, not its
//!   decoding). Receivers check it and the timestamp's age with [`verify_signature`] (or
//!   their own equivalent, comparing in constant time) and reject what fails.
//! - `X-Tracehound-Attempt: <n>`: 1 for the first attempt, 2 for the first retry, …
//!
//! Answers: any 2xx is *delivered*. `410 Gone` is *dead* at once (the receiver says it will
//! never take it). Anything else, a connection error or no answer within
//! [`DeliveryConfig::timeout`] is retried after `base_backoff · 2^(attempt-1)`, capped at
//! `max_backoff`, minus up to 20 % of random jitter (so retries of many deliveries do not
//! arrive in lockstep); after [`DeliveryConfig::max_attempts`] attempts the delivery is
//! *dead*, visible with its last error in [`Outbox::deliveries`] until
//! [`Outbox::redeliver`] queues it again. Redirects are not followed (a 3xx is a failure).
//! `https` URLs need reqwest built with TLS, which tracehound's binary has through the evm
//! crate's `https` feature (native TLS); without it they fail, visibly, like any other error.
//!
//! # Guarantees
//!
//! - **At least once.** A delivery is marked delivered only after the receiver answered 2xx,
//!   in a committed transaction; a crash in between sends it again, with the same id.
//! - **Nothing lost.** Alerts and their queued deliveries are committed durably (redb) by
//!   [`Outbox::push`] before it returns; a restarted deliverer resumes from the file.
//! - **In order per subscription.** A subscription's deliveries go out one at a time in
//!   `seq` order; a later one waits while an earlier one is being retried (so one receiver's
//!   outage costs that receiver only). A retraction or a final is therefore never delivered
//!   before the alert it follows up on; if that alert is dead for the subscription, the
//!   follow-up is dead too (with a last error saying so), and [`Outbox::redeliver`] of the
//!   alert revives it.
//! - **One sender per queue.** Deliverers in one process ([`deliver`] and a [`deliver_due`]
//!   pass next to it) never serve the same subscription at once; another process cannot
//!   open the file while it is open (redb locks it).
//! - **Retractions and finals reach who saw the alert.** A retraction or a final is queued
//!   for exactly the subscriptions that had its alert queued, whatever their filters.
//!
//! # Subscriptions
//!
//! A subscription is an `http` or `https` URL, a secret (generated, 32 random bytes as hex,
//! unless one of at least 32 printable characters is given; shown once, by
//! [`Subscription::secret`] on what [`Outbox::subscribe`] returns) and a filter: alert kinds
//! and incidents (empty: all). URLs with credentials (`user:password@`) are refused: they
//! would be stored and listed in clear, and the signature already authenticates the sender.

#![warn(clippy::unwrap_used)]

mod alert;
mod deliver;
mod outbox;
mod signature;
mod subscription;

use std::path::PathBuf;

pub use alert::{Alert, AlertBuilder, AlertKind};
pub use deliver::{DeliveryConfig, DeliveryPass, client, deliver, deliver_due};
pub use outbox::{DeliveryState, DeliveryStatus, Outbox};
pub use signature::{sign, verify_signature};
pub use subscription::{NewSubscription, Subscription};

/// Why the outbox or the deliverer could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// The outbox file could not be opened or created (or is not a redb file).
    #[error("cannot open alert outbox {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What redb said.
        source: Box<redb::DatabaseError>,
    },
    /// The file is a redb database but not an outbox this build reads.
    #[error("{path} is not a tracehound alert outbox this version reads: {reason}")]
    NotAnOutbox {
        /// The file.
        path: PathBuf,
        /// What does not fit.
        reason: String,
    },
    /// A storage operation on the outbox failed.
    #[error("alert outbox {path}: {context}: {source}")]
    Db {
        /// The file.
        path: PathBuf,
        /// What was being done.
        context: &'static str,
        /// What redb said.
        source: Box<redb::Error>,
    },
    /// A stored record does not decode: the file is damaged.
    #[error("alert outbox {path}: table {table} holds a corrupt record: {what}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The table.
        table: &'static str,
        /// What is wrong.
        what: String,
    },
    /// A webhook URL is refused.
    #[error("webhook URL {url:?} is refused: {reason}")]
    InvalidUrl {
        /// The URL as given, with any credentials in it masked.
        url: String,
        /// Why.
        reason: String,
    },
    /// A subscription's other settings are refused.
    #[error("subscription is refused: {0}")]
    InvalidSubscription(String),
    /// An alert cannot be stored as it is.
    #[error("alert {id:?} is refused: {reason}")]
    InvalidAlert {
        /// The alert's id.
        id: String,
        /// Why.
        reason: String,
    },
    /// The operating system's random source failed (secrets and ids need it).
    #[error("no randomness for a {what}: {reason}")]
    Random {
        /// What was being generated.
        what: &'static str,
        /// What the OS said.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the webhook HTTP client: {0}")]
    Client(String),
}

/// Unix time now, in milliseconds (0 if the clock is before 1970).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
