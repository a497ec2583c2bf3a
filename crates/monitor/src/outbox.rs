//! The outbox: one redb file holding every alert (once per id, numbered by `seq`), the
//! webhook subscriptions and, per (subscription, alert), the delivery's state. An alert and
//! the deliveries it queues are written in one transaction, so a crash never leaves an alert
//! that nobody will deliver; a delivery's state changes only in committed transactions after
//! its outcome is known, so a crash at worst sends one again (same id).
//!
//! Tables (values are JSON, so fields can be added without a migration):
//! - `alerts`: seq → alert; `alert_ids`: id → seq; `retractions`: retracted id → seq of its
//!   retraction.
//! - `subscriptions`: id → subscription with its secret.
//! - `deliveries`: (subscription, seq) → state; `pending`: (subscription, seq) → when the next
//!   attempt is due (unix ms), only for pending ones: the deliverer's queue, in seq order.
//! - `meta`: schema version and the next seq.

use std::path::{Path, PathBuf};

use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::subscription::StoredSubscription;
use crate::{Alert, MonitorError, NewSubscription, Subscription, now_ms};

const ALERTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("alerts");
const ALERT_IDS: TableDefinition<'_, &str, u64> = TableDefinition::new("alert_ids");
const RETRACTIONS: TableDefinition<'_, &str, u64> = TableDefinition::new("retractions");
const SUBSCRIPTIONS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("subscriptions");
const DELIVERIES: TableDefinition<'_, (&str, u64), &[u8]> = TableDefinition::new("deliveries");
const PENDING: TableDefinition<'_, (&str, u64), u64> = TableDefinition::new("pending");
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

const TABLES: [&str; 7] = [
    "alerts",
    "alert_ids",
    "retractions",
    "subscriptions",
    "deliveries",
    "pending",
    "meta",
];
const SCHEMA: u64 = 1;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet: waiting for its turn or its next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up (attempts exhausted, 410 Gone, or the alert it retracts or finalises is
    /// dead): a dead
    /// letter until [`Outbox::redeliver`].
    Dead,
}

/// One (subscription, alert) delivery, as [`Outbox::deliveries`] lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeliveryStatus {
    /// The subscription.
    pub subscription: String,
    /// The alert's seq.
    pub alert_seq: u64,
    /// The alert's id.
    pub alert_id: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made (since it was last queued or redelivered).
    pub attempts: u32,
    /// HTTP status of the last answer, if there was one.
    pub last_status: Option<u16>,
    /// What went wrong last time, if anything.
    pub last_error: Option<String>,
    /// When the next attempt is due, unix ms (pending only; it also waits for the
    /// subscription's earlier pending deliveries).
    pub next_attempt_ms: Option<u64>,
    /// When the receiver took it, unix ms.
    pub delivered_at_ms: Option<u64>,
}

/// A delivery as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) alert_id: String,
    pub(crate) state: DeliveryState,
    pub(crate) attempts: u32,
    pub(crate) last_status: Option<u16>,
    pub(crate) last_error: Option<String>,
    pub(crate) next_attempt_ms: u64,
    pub(crate) delivered_at_ms: Option<u64>,
}

/// What one attempt came to, for [`Outbox::record_outcome`].
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// 2xx.
    Delivered { status: u16, at_ms: u64 },
    /// Try again at `next_ms`.
    Retry {
        status: Option<u16>,
        error: String,
        next_ms: u64,
    },
    /// Give up.
    Dead { status: Option<u16>, error: String },
}

/// What the deliverer needs to make one attempt.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) seq: u64,
    pub(crate) url: String,
    pub(crate) secret: String,
    pub(crate) alert: Alert,
    /// 1-based number of this attempt.
    pub(crate) attempt: u32,
    /// For a retraction or a final: the seq and state, for this subscription, of the alert
    /// it follows up on.
    pub(crate) followed_state: Option<(u64, DeliveryState)>,
}

/// The alert outbox: a redb file. Cheap to share (`Arc<Outbox>`): every method takes `&self`
/// and redb serialises writers.
pub struct Outbox {
    db: Database,
    path: PathBuf,
    /// Ticks on every push (carrying the last seq), subscription and redelivery, so the
    /// deliverer (and a live stream) wake at once instead of polling.
    changes: watch::Sender<u64>,
    /// Subscriptions whose queue a deliverer in this process is serving: a second deliverer
    /// (`deliver_due` while `deliver` runs) skips them instead of sending the same head again.
    draining: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// A subscription's queue, claimed by one deliverer until dropped.
pub(crate) struct Claim<'a> {
    outbox: &'a Outbox,
    sub: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        // A poisoned lock only means another deliverer panicked; the set is still sound.
        let mut set = self
            .outbox
            .draining
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        set.remove(&self.sub);
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("path", &self.path).finish()
    }
}

impl Outbox {
    /// Opens the outbox at `path`, creating it if missing. Fails, naming the file, if it is
    /// not a redb file, another redb database, a newer schema, or already open.
    pub fn open(path: &Path) -> Result<Outbox, MonitorError> {
        let db = Database::create(path).map_err(|source| MonitorError::Open {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        let outbox = Outbox {
            db,
            path: path.to_path_buf(),
            changes: watch::Sender::new(0),
            draining: std::sync::Mutex::default(),
        };
        outbox.init()?;
        let last = outbox.next_seq()?.saturating_sub(1);
        outbox.changes.send_replace(last);
        Ok(outbox)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db<E: Into<redb::Error>>(&self, context: &'static str) -> impl FnOnce(E) -> MonitorError {
        let path = self.path.clone();
        move |e| MonitorError::Db {
            path,
            context,
            source: Box::new(e.into()),
        }
    }

    fn corrupt(&self, table: &'static str, what: String) -> MonitorError {
        MonitorError::Corrupt {
            path: self.path.clone(),
            table,
            what,
        }
    }

    fn init(&self) -> Result<(), MonitorError> {
        let wtx = self.db.begin_write().map_err(self.db("begin init"))?;
        let existing: Vec<String> = wtx
            .list_tables()
            .map_err(self.db("list tables"))?
            .map(|t| t.name().to_string())
            .collect();
        if let Some(foreign) = existing.iter().find(|t| !TABLES.contains(&t.as_str())) {
            return Err(MonitorError::NotAnOutbox {
                path: self.path.clone(),
                reason: format!("it holds table {foreign:?}"),
            });
        }
        {
            let mut meta = wtx.open_table(META).map_err(self.db("open meta"))?;
            let schema = meta
                .get("schema")
                .map_err(self.db("read schema"))?
                .map(|v| v.value());
            match schema {
                Some(SCHEMA) => {}
                Some(other) => {
                    return Err(MonitorError::NotAnOutbox {
                        path: self.path.clone(),
                        reason: format!("schema version {other}, this build reads {SCHEMA}"),
                    });
                }
                None if existing.iter().any(|t| t != "meta") => {
                    return Err(MonitorError::NotAnOutbox {
                        path: self.path.clone(),
                        reason: "it has outbox tables but no schema version".into(),
                    });
                }
                None => {
                    meta.insert("schema", SCHEMA)
                        .map_err(self.db("write schema"))?;
                    meta.insert("next_seq", 1)
                        .map_err(self.db("write next seq"))?;
                }
            }
            // Create every table, so readers never meet a missing one.
            wtx.open_table(ALERTS).map_err(self.db("create alerts"))?;
            wtx.open_table(ALERT_IDS)
                .map_err(self.db("create alert ids"))?;
            wtx.open_table(RETRACTIONS)
                .map_err(self.db("create retractions"))?;
            wtx.open_table(SUBSCRIPTIONS)
                .map_err(self.db("create subscriptions"))?;
            wtx.open_table(DELIVERIES)
                .map_err(self.db("create deliveries"))?;
            wtx.open_table(PENDING).map_err(self.db("create pending"))?;
        }
        wtx.commit().map_err(self.db("commit init"))
    }

    fn next_seq(&self) -> Result<u64, MonitorError> {
        let rtx = self.db.begin_read().map_err(self.db("begin read"))?;
        let meta = rtx.open_table(META).map_err(self.db("open meta"))?;
        Ok(meta
            .get("next_seq")
            .map_err(self.db("read next seq"))?
            .map_or(1, |v| v.value()))
    }

    /// A receiver of change ticks: it changes on every [`Outbox::push`] (its value is then the
    /// last seq), [`Outbox::subscribe`] and [`Outbox::redeliver`]. For the deliverer and for
    /// live streams (`alerts(after_seq, ..)` on each tick).
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn tick(&self) {
        self.changes.send_modify(|_| {});
    }

    /// Stores `alert` unless an alert with its id is already stored, and queues one delivery
    /// per subscription it is for, in one durable transaction. Returns the new seq, or `None`
    /// if the id was known (nothing changes: the same event raised again).
    ///
    /// Routing: a retraction or a final goes to exactly the subscriptions the alert it follows
    /// up on was queued for (if the outbox has it; otherwise by the filters); any other alert
    /// to the
    /// subscriptions whose filter it matches, except that an alert already retracted (its
    /// retraction was pushed first) is stored but queued for nobody.
    pub fn push(&self, alert: &Alert) -> Result<Option<u64>, MonitorError> {
        if let Some(reason) = alert.problem() {
            return Err(MonitorError::InvalidAlert {
                id: alert.id.clone(),
                reason,
            });
        }
        let json = serde_json::to_vec(alert).map_err(|e| MonitorError::InvalidAlert {
            id: alert.id.clone(),
            reason: format!("does not serialise: {e}"),
        })?;
        let wtx = self.db.begin_write().map_err(self.db("begin push"))?;
        let seq;
        {
            let mut ids = wtx
                .open_table(ALERT_IDS)
                .map_err(self.db("open alert ids"))?;
            if ids
                .get(alert.id.as_str())
                .map_err(self.db("read alert ids"))?
                .is_some()
            {
                return Ok(None);
            }
            let mut meta = wtx.open_table(META).map_err(self.db("open meta"))?;
            seq = meta
                .get("next_seq")
                .map_err(self.db("read next seq"))?
                .map_or(1, |v| v.value());
            meta.insert("next_seq", seq + 1)
                .map_err(self.db("write next seq"))?;
            ids.insert(alert.id.as_str(), seq)
                .map_err(self.db("write alert id"))?;
            wtx.open_table(ALERTS)
                .map_err(self.db("open alerts"))?
                .insert(seq, json.as_slice())
                .map_err(self.db("write alert"))?;

            let subs = self.read_subscriptions(
                &wtx.open_table(SUBSCRIPTIONS)
                    .map_err(self.db("open subscriptions"))?,
            )?;
            let mut retractions = wtx
                .open_table(RETRACTIONS)
                .map_err(self.db("open retractions"))?;
            let mut deliveries = wtx
                .open_table(DELIVERIES)
                .map_err(self.db("open deliveries"))?;
            if let Some(retracted) = &alert.retracts {
                retractions
                    .insert(retracted.as_str(), seq)
                    .map_err(self.db("write retraction"))?;
            }
            // A retraction or a final goes to who had the alert it follows up on, whatever
            // their filters (and after it: deliveries go in seq order).
            let targets: Vec<&StoredSubscription> = match alert.follows() {
                Some(followed) => match ids.get(followed).map_err(self.db("read alert ids"))? {
                    Some(orig) => {
                        let orig = orig.value();
                        let mut t = Vec::new();
                        for s in &subs {
                            if deliveries
                                .get((s.id.as_str(), orig))
                                .map_err(self.db("read deliveries"))?
                                .is_some()
                            {
                                t.push(s);
                            }
                        }
                        t
                    }
                    None => subs
                        .iter()
                        .filter(|s| s.public(false).matches(alert))
                        .collect(),
                },
                None => {
                    let retracted = retractions
                        .get(alert.id.as_str())
                        .map_err(self.db("read retractions"))?
                        .is_some();
                    if retracted {
                        Vec::new()
                    } else {
                        subs.iter()
                            .filter(|s| s.public(false).matches(alert))
                            .collect()
                    }
                }
            };
            let mut pending = wtx.open_table(PENDING).map_err(self.db("open pending"))?;
            for s in targets {
                let record = Record {
                    alert_id: alert.id.clone(),
                    state: DeliveryState::Pending,
                    attempts: 0,
                    last_status: None,
                    last_error: None,
                    next_attempt_ms: 0,
                    delivered_at_ms: None,
                };
                deliveries
                    .insert((s.id.as_str(), seq), encode(&record).as_slice())
                    .map_err(self.db("write delivery"))?;
                pending
                    .insert((s.id.as_str(), seq), 0)
                    .map_err(self.db("write pending"))?;
            }
        }
        wtx.commit().map_err(self.db("commit push"))?;
        self.changes.send_replace(seq);
        Ok(Some(seq))
    }

    fn read_subscriptions(
        &self,
        table: &impl ReadableTable<&'static str, &'static [u8]>,
    ) -> Result<Vec<StoredSubscription>, MonitorError> {
        let mut out = Vec::new();
        for row in table.iter().map_err(self.db("scan subscriptions"))? {
            let (_, v) = row.map_err(self.db("scan subscriptions"))?;
            out.push(
                serde_json::from_slice(v.value())
                    .map_err(|e| self.corrupt("subscriptions", e.to_string()))?,
            );
        }
        Ok(out)
    }

    fn decode_alert(&self, seq: u64, bytes: &[u8]) -> Result<Alert, MonitorError> {
        serde_json::from_slice(bytes).map_err(|e| self.corrupt("alerts", format!("seq {seq}: {e}")))
    }

    fn decode_record(&self, sub: &str, seq: u64, bytes: &[u8]) -> Result<Record, MonitorError> {
        serde_json::from_slice(bytes)
            .map_err(|e| self.corrupt("deliveries", format!("({sub}, {seq}): {e}")))
    }

    /// Up to `limit` alerts with seq greater than `after_seq`, in seq order.
    pub fn alerts(&self, after_seq: u64, limit: usize) -> Result<Vec<(u64, Alert)>, MonitorError> {
        let rtx = self.db.begin_read().map_err(self.db("begin read"))?;
        let table = rtx.open_table(ALERTS).map_err(self.db("open alerts"))?;
        let mut out = Vec::new();
        let Some(start) = after_seq.checked_add(1) else {
            return Ok(out);
        };
        for row in table
            .range(start..)
            .map_err(self.db("scan alerts"))?
            .take(limit)
        {
            let (k, v) = row.map_err(self.db("scan alerts"))?;
            out.push((k.value(), self.decode_alert(k.value(), v.value())?));
        }
        Ok(out)
    }

    /// The alert with this id and its seq.
    pub fn alert(&self, id: &str) -> Result<Option<(u64, Alert)>, MonitorError> {
        let rtx = self.db.begin_read().map_err(self.db("begin read"))?;
        let ids = rtx
            .open_table(ALERT_IDS)
            .map_err(self.db("open alert ids"))?;
        let Some(seq) = ids
            .get(id)
            .map_err(self.db("read alert ids"))?
            .map(|v| v.value())
        else {
            return Ok(None);
        };
        let table = rtx.open_table(ALERTS).map_err(self.db("open alerts"))?;
        let bytes = table
            .get(seq)
            .map_err(self.db("read alert"))?
            .ok_or_else(|| {
                self.corrupt("alert_ids", format!("{id} points at missing seq {seq}"))
            })?;
        Ok(Some((seq, self.decode_alert(seq, bytes.value())?)))
    }

    /// Number of alerts stored.
    pub fn alert_count(&self) -> Result<u64, MonitorError> {
        let rtx = self.db.begin_read().map_err(self.db("begin read"))?;
        rtx.open_table(ALERTS)
            .map_err(self.db("open alerts"))?
            .len()
            .map_err(self.db("count alerts"))
    }

    /// Adds a webhook subscription after checking it (see [`NewSubscription`]); the result
    /// carries the secret ([`Subscription::secret`]) — the only time it is shown. It receives
    /// alerts pushed from now on.
    pub fn subscribe(&self, sub: NewSubscription) -> Result<Subscription, MonitorError> {
        let stored = StoredSubscription::create(sub, now_ms() / 1000)?;
        let json = serde_json::to_vec(&stored)
            .map_err(|e| MonitorError::InvalidSubscription(format!("does not serialise: {e}")))?;
        let wtx = self.db.begin_write().map_err(self.db("begin subscribe"))?;
        wtx.open_table(SUBSCRIPTIONS)
            .map_err(self.db("open subscriptions"))?
            .insert(stored.id.as_str(), json.as_slice())
            .map_err(self.db("write subscription"))?;
        wtx.commit().map_err(self.db("commit subscribe"))?;
        self.tick();
        Ok(stored.public(true))
    }

    /// The subscriptions, without their secrets.
    pub fn subscriptions(&self) -> Result<Vec<Subscription>, MonitorError> {
        let rtx = self.db.begin_read().map_err(self.db("begin read"))?;
        let table = rtx
            .open_table(SUBSCRIPTIONS)
            .map_err(self.db("open subscriptions"))?;
        Ok(self
            .read_subscriptions(&table)?
            .iter()
            .map(|s| s.public(false))
            .collect())
    }

    pub(crate) fn has_subscription(&self, id: &str) -> Result<bool, MonitorError> {
        let rtx = self.db.begin_read().map_err(self.db("begin read"))?;
        let table = rtx
            .open_table(SUBSCRIPTIONS)
            .map_err(self.db("open subscriptions"))?;
        Ok(table
            .get(id)
            .map_err(self.db("read subscription"))?
            .is_some())
    }

    pub(crate) fn subscription_ids(&self) -> Result<Vec<String>, MonitorError> {
        Ok(self.subscriptions()?.into_iter().map(|s| s.id).collect())
    }

    /// Removes a subscription and its deliveries (pending ones are dropped). `false` if there
    /// was none with this id.
    pub fn unsubscribe(&self, id: &str) -> Result<bool, MonitorError> {
        let wtx = self
            .db
            .begin_write()
            .map_err(self.db("begin unsubscribe"))?;
        {
            let mut subs = wtx
                .open_table(SUBSCRIPTIONS)
                .map_err(self.db("open subscriptions"))?;
            if subs
                .remove(id)
                .map_err(self.db("remove subscription"))?
                .is_none()
            {
                return Ok(false);
            }
            let mut deliveries = wtx
                .open_table(DELIVERIES)
                .map_err(self.db("open deliveries"))?;
            deliveries
                .retain_in((id, 0)..=(id, u64::MAX), |_, _| false)
                .map_err(self.db("remove deliveries"))?;
            let mut pending = wtx.open_table(PENDING).map_err(self.db("open pending"))?;
            pending
                .retain_in((id, 0)..=(id, u64::MAX), |_, _| false)
                .map_err(self.db("remove pending"))?;
        }
        wtx.commit().map_err(self.db("commit unsubscribe"))?;
        self.tick();
        Ok(true)
    }

    /// Every delivery (of the alert with seq `alert_seq`, if given), by subscription then seq.
    pub fn deliveries(&self, alert_seq: Option<u64>) -> Result<Vec<DeliveryStatus>, MonitorError> {
        let rtx = self.db.begin_read().map_err(self.db("begin read"))?;
        let table = rtx
            .open_table(DELIVERIES)
            .map_err(self.db("open deliveries"))?;
        let mut out = Vec::new();
        for row in table.iter().map_err(self.db("scan deliveries"))? {
            let (k, v) = row.map_err(self.db("scan deliveries"))?;
            let (sub, seq) = k.value();
            if alert_seq.is_some_and(|s| s != seq) {
                continue;
            }
            let r = self.decode_record(sub, seq, v.value())?;
            out.push(DeliveryStatus {
                subscription: sub.to_string(),
                alert_seq: seq,
                alert_id: r.alert_id,
                state: r.state,
                attempts: r.attempts,
                last_status: r.last_status,
                last_error: r.last_error,
                next_attempt_ms: (r.state == DeliveryState::Pending).then_some(r.next_attempt_ms),
                delivered_at_ms: r.delivered_at_ms,
            });
        }
        Ok(out)
    }

    /// Queues a dead delivery again (attempts start over, due now). Redelivering an alert
    /// also revives its retraction's dead delivery to the same subscription (it died because
    /// of it). `false` if there is no such delivery or it is not dead.
    pub fn redeliver(&self, sub_id: &str, alert_seq: u64) -> Result<bool, MonitorError> {
        let wtx = self.db.begin_write().map_err(self.db("begin redeliver"))?;
        {
            let mut deliveries = wtx
                .open_table(DELIVERIES)
                .map_err(self.db("open deliveries"))?;
            let mut pending = wtx.open_table(PENDING).map_err(self.db("open pending"))?;
            let Some(record) = self.revive(&mut deliveries, &mut pending, sub_id, alert_seq)?
            else {
                return Ok(false);
            };
            let retraction = wtx
                .open_table(RETRACTIONS)
                .map_err(self.db("open retractions"))?
                .get(record.alert_id.as_str())
                .map_err(self.db("read retractions"))?
                .map(|v| v.value());
            if let Some(rseq) = retraction {
                self.revive(&mut deliveries, &mut pending, sub_id, rseq)?;
            }
        }
        wtx.commit().map_err(self.db("commit redeliver"))?;
        self.tick();
        Ok(true)
    }

    /// Dead → pending for one delivery, inside a write transaction; the record if it was dead.
    fn revive(
        &self,
        deliveries: &mut redb::Table<'_, (&'static str, u64), &'static [u8]>,
        pending: &mut redb::Table<'_, (&'static str, u64), u64>,
        sub_id: &str,
        seq: u64,
    ) -> Result<Option<Record>, MonitorError> {
        let Some(bytes) = deliveries
            .get((sub_id, seq))
            .map_err(self.db("read delivery"))?
            .map(|v| v.value().to_vec())
        else {
            return Ok(None);
        };
        let mut record = self.decode_record(sub_id, seq, &bytes)?;
        if record.state != DeliveryState::Dead {
            return Ok(None);
        }
        record.state = DeliveryState::Pending;
        record.attempts = 0;
        record.next_attempt_ms = 0;
        deliveries
            .insert((sub_id, seq), encode(&record).as_slice())
            .map_err(self.db("write delivery"))?;
        pending
            .insert((sub_id, seq), 0)
            .map_err(self.db("write pending"))?;
        Ok(Some(record))
    }

    /// Claims `sub_id`'s queue for one deliverer; `None` if another holds it.
    pub(crate) fn claim(&self, sub_id: &str) -> Option<Claim<'_>> {
        let mut set = self.draining.lock().unwrap_or_else(|e| e.into_inner());
        set.insert(sub_id.to_string()).then(|| Claim {
            outbox: self,
            sub: sub_id.to_string(),
        })
    }

    /// The subscription's first pending delivery: (seq, when due, unix ms). `None` also when
    /// the subscription is gone.
    pub(crate) fn head(&self, sub_id: &str) -> Result<Option<(u64, u64)>, MonitorError> {
        let rtx = self.db.begin_read().map_err(self.db("begin read"))?;
        let pending = rtx.open_table(PENDING).map_err(self.db("open pending"))?;
        let mut range = pending
            .range((sub_id, 0)..=(sub_id, u64::MAX))
            .map_err(self.db("scan pending"))?;
        match range.next() {
            Some(row) => {
                let (k, v) = row.map_err(self.db("scan pending"))?;
                Ok(Some((k.value().1, v.value())))
            }
            None => Ok(None),
        }
    }

    /// Everything needed to attempt delivery `seq` to `sub_id`; `None` if it is no longer
    /// pending (delivered meanwhile, unsubscribed).
    pub(crate) fn job(&self, sub_id: &str, seq: u64) -> Result<Option<Job>, MonitorError> {
        let rtx = self.db.begin_read().map_err(self.db("begin read"))?;
        let deliveries = rtx
            .open_table(DELIVERIES)
            .map_err(self.db("open deliveries"))?;
        let Some(record) = deliveries
            .get((sub_id, seq))
            .map_err(self.db("read delivery"))?
        else {
            return Ok(None);
        };
        let record = self.decode_record(sub_id, seq, record.value())?;
        if record.state != DeliveryState::Pending {
            return Ok(None);
        }
        let subs = rtx
            .open_table(SUBSCRIPTIONS)
            .map_err(self.db("open subscriptions"))?;
        let Some(sub) = subs.get(sub_id).map_err(self.db("read subscription"))? else {
            return Ok(None);
        };
        let sub: StoredSubscription = serde_json::from_slice(sub.value())
            .map_err(|e| self.corrupt("subscriptions", format!("{sub_id}: {e}")))?;
        let alerts = rtx.open_table(ALERTS).map_err(self.db("open alerts"))?;
        let bytes = alerts
            .get(seq)
            .map_err(self.db("read alert"))?
            .ok_or_else(|| self.corrupt("deliveries", format!("({sub_id}, {seq}) has no alert")))?;
        let alert = self.decode_alert(seq, bytes.value())?;
        let mut followed_state = None;
        if let Some(followed) = alert.follows() {
            let ids = rtx
                .open_table(ALERT_IDS)
                .map_err(self.db("open alert ids"))?;
            if let Some(orig) = ids.get(followed).map_err(self.db("read alert ids"))? {
                let orig = orig.value();
                if let Some(r) = deliveries
                    .get((sub_id, orig))
                    .map_err(self.db("read delivery"))?
                {
                    followed_state =
                        Some((orig, self.decode_record(sub_id, orig, r.value())?.state));
                }
            }
        }
        Ok(Some(Job {
            seq,
            url: sub.url,
            secret: sub.secret,
            alert,
            attempt: record.attempts.saturating_add(1),
            followed_state,
        }))
    }

    /// Records what an attempt came to. Does nothing if the delivery is no longer pending
    /// (unsubscribed meanwhile). Returns whether it recorded.
    pub(crate) fn record_outcome(
        &self,
        sub_id: &str,
        seq: u64,
        attempted: bool,
        outcome: &Outcome,
    ) -> Result<bool, MonitorError> {
        let wtx = self.db.begin_write().map_err(self.db("begin record"))?;
        {
            let mut deliveries = wtx
                .open_table(DELIVERIES)
                .map_err(self.db("open deliveries"))?;
            let Some(bytes) = deliveries
                .get((sub_id, seq))
                .map_err(self.db("read delivery"))?
                .map(|v| v.value().to_vec())
            else {
                return Ok(false);
            };
            let mut record = self.decode_record(sub_id, seq, &bytes)?;
            if record.state != DeliveryState::Pending {
                return Ok(false);
            }
            if attempted {
                record.attempts = record.attempts.saturating_add(1);
            }
            let mut pending = wtx.open_table(PENDING).map_err(self.db("open pending"))?;
            match outcome {
                Outcome::Delivered { status, at_ms } => {
                    record.state = DeliveryState::Delivered;
                    record.last_status = Some(*status);
                    record.last_error = None;
                    record.delivered_at_ms = Some(*at_ms);
                    pending
                        .remove((sub_id, seq))
                        .map_err(self.db("remove pending"))?;
                }
                Outcome::Retry {
                    status,
                    error,
                    next_ms,
                } => {
                    record.last_status = *status;
                    record.last_error = Some(error.clone());
                    record.next_attempt_ms = *next_ms;
                    pending
                        .insert((sub_id, seq), *next_ms)
                        .map_err(self.db("write pending"))?;
                }
                Outcome::Dead { status, error } => {
                    record.state = DeliveryState::Dead;
                    record.last_status = *status;
                    record.last_error = Some(error.clone());
                    pending
                        .remove((sub_id, seq))
                        .map_err(self.db("remove pending"))?;
                }
            }
            deliveries
                .insert((sub_id, seq), encode(&record).as_slice())
                .map_err(self.db("write delivery"))?;
        }
        wtx.commit().map_err(self.db("commit record"))?;
        Ok(true)
    }
}

fn encode(record: &Record) -> Vec<u8> {
    // A struct of strings and integers always serialises.
    serde_json::to_vec(record).unwrap_or_default()
}
