//! What the chains watched in this process are doing: the watcher writes each cycle here and
//! `GET /api/v1/status` serves it (ingest progress, the node's reachability, alerts raised).

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;
use utoipa::ToSchema;

/// One watched chain, as of its last cycle.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ChainWatch {
    /// The chain.
    pub chain: String,
    /// The node followed (its URL without credentials).
    pub node: String,
    /// The store's tip after the last cycle.
    pub tip: Option<u32>,
    /// Whether the last attempt reached the node.
    pub node_reachable: bool,
    /// Whether the chain's wake-up feed is up (an EVM node's websocket `newHeads` or a Core
    /// node's ZMQ `hashblock`: new blocks wake the watch at once); absent when the chain is
    /// only polled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heads_subscribed: Option<bool>,
    /// Cycles run.
    pub cycles: u64,
    /// Blocks ingested since the watch started.
    pub blocks: u64,
    /// Blocks unwound by reorgs since the watch started.
    pub unwound: u64,
    /// Alerts raised since the watch started.
    pub alerts: u64,
    /// Alerts retracted since the watch started.
    pub retracted: u64,
    /// Incident traces this chain's new blocks extended (incremental taint) …
    pub traces_extended: u64,
    /// … and those traced in full instead: first seen by the watch, or started over (a reorg,
    /// a link matched otherwise by a later block, other settings).
    pub traces_started: u64,
    /// When the last cycle ended, unix seconds.
    pub last_cycle_at: Option<u64>,
    /// How long it took, in milliseconds.
    pub last_cycle_ms: Option<u64>,
    /// Why the last cycle failed, or why the websocket wake-up is down (the watch polls
    /// meanwhile), if either.
    pub error: Option<String>,
}

/// The watched chains of this process by name.
#[derive(Debug, Default)]
pub struct WatchBoard(Mutex<BTreeMap<String, ChainWatch>>);

impl WatchBoard {
    /// Changes `chain`'s entry (made empty on first use).
    pub fn update(&self, chain: &str, f: impl FnOnce(&mut ChainWatch)) {
        let mut board = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = board
            .entry(chain.to_string())
            .or_insert_with(|| ChainWatch {
                chain: chain.to_string(),
                ..ChainWatch::default()
            });
        f(entry);
    }

    /// Every watched chain, by name.
    pub fn chains(&self) -> Vec<ChainWatch> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }
}
