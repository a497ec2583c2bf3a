//! The watch's keeper of results: writes each watched incident's latest result on a thread of
//! its own, so a cycle hands its result over and goes on to the next incident and block
//! instead of waiting on the disk (a result of 141k endpoints is about 200 MB of JSON).
//!
//! Only the latest result of an incident matters: one handed over while an older one waits
//! replaces it, so a slow disk skips results, never falls behind. A write that fails is said
//! once (and its recovery too), and tried again a few seconds later unless a newer result
//! came meanwhile. Dropping the writer writes what is waiting and then stops, so a watch that
//! stops leaves its last results on disk; one that is killed leaves the previous ones, which
//! are whole (each write replaces the file only when it is complete: see
//! [`DataDir::save_result`](tracehound_app::DataDir::save_result)).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracehound_app::{DataDir, TraceSettings};
use tracehound_trace::TraceResult;

/// How long a failed write waits before it is tried again.
const RETRY: Duration = Duration::from_secs(5);

/// Writes results handed to it on its own thread. See the [module docs](self).
pub(crate) struct ResultWriter {
    shared: Arc<Queue>,
    thread: Option<JoinHandle<()>>,
}

/// A result waiting to be written, with the settings kept next to it.
type Pending = (Arc<TraceResult>, TraceSettings);

#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    changed: Condvar,
}

#[derive(Default)]
struct QueueState {
    /// Per incident, the latest result not written yet.
    pending: BTreeMap<String, Pending>,
    /// Incidents whose last write failed (said once until one succeeds).
    failed: BTreeSet<String>,
    /// A write in progress.
    busy: bool,
    closing: bool,
    /// Results written, for tests.
    written: u64,
}

impl ResultWriter {
    /// A writer keeping results in `data`, on a thread it starts.
    pub(crate) fn start(data: DataDir) -> std::io::Result<ResultWriter> {
        let shared = Arc::new(Queue::default());
        let queue = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("result-writer".into())
            .spawn(move || queue.run(&data))?;
        Ok(ResultWriter {
            shared,
            thread: Some(thread),
        })
    }

    /// Hands over `name`'s latest result, replacing any still waiting.
    pub(crate) fn keep(&self, name: &str, result: Arc<TraceResult>, settings: TraceSettings) {
        let mut state = self.shared.lock();
        state.pending.insert(name.to_string(), (result, settings));
        self.shared.changed.notify_all();
    }

    /// Waits until nothing waits to be written (a failed write that waits for its retry
    /// counts as waiting).
    #[cfg(test)]
    fn flush(&self) {
        let mut state = self.shared.lock();
        while !state.pending.is_empty() || state.busy {
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Results written so far.
    #[cfg(test)]
    fn written(&self) -> u64 {
        self.shared.lock().written
    }
}

impl Drop for ResultWriter {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&self, data: &DataDir) {
        let mut state = self.lock();
        loop {
            let Some((name, (result, settings))) = state.pending.pop_first() else {
                if state.closing {
                    return;
                }
                state = self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            };
            state.busy = true;
            drop(state);
            let outcome = data.save_result(&name, &result, &settings);
            state = self.lock();
            state.busy = false;
            match outcome {
                Ok(()) => {
                    state.written += 1;
                    if state.failed.remove(&name) {
                        eprintln!("watch: incident {name:?}'s result is kept again");
                    }
                }
                Err(e) => {
                    if state.failed.insert(name.clone()) {
                        eprintln!(
                            "watch: keeping incident {name:?}'s result failed ({e}); tried \
                             again every {}s until a write succeeds",
                            RETRY.as_secs()
                        );
                    }
                    // A closing writer tries what waits once more and gives up on this one.
                    if !state.closing {
                        state.pending.entry(name).or_insert((result, settings));
                        self.changed.notify_all();
                        state = self
                            .changed
                            .wait_timeout_while(state, RETRY, |s| !s.closing)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                        continue;
                    }
                }
            }
            self.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TraceSettings {
        TraceSettings {
            policy: "haircut".into(),
            max_hops: 64,
            follow_links: true,
            min_link_confidence: 50,
            dust: std::collections::BTreeMap::new(),
        }
    }

    fn result(name: &str) -> Arc<TraceResult> {
        use tracehound_trace::{Policy, Summary};
        Arc::new(TraceResult {
            incident: name.to_string(),
            policy: Policy::Haircut,
            endpoints: Vec::new(),
            summary: Summary {
                policy: Policy::Haircut,
                exposure: false,
                assets: Vec::new(),
                links: Vec::new(),
            },
            edges: Vec::new(),
            notes: Vec::new(),
        })
    }

    /// A data dir with its incidents directory (where saved incidents are).
    fn data_dir(dir: &std::path::Path) -> DataDir {
        std::fs::create_dir_all(dir.join("incidents")).unwrap();
        DataDir::new(dir, tracehound_store::StoreOptions::default())
    }

    fn kept(data: &DataDir, name: &str) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(data.result_path(name)).unwrap()).unwrap()
    }

    #[test]
    fn the_latest_result_is_written_and_dropping_writes_what_waits() {
        let dir = tempfile::tempdir().unwrap();
        let data = data_dir(dir.path());
        let writer = ResultWriter::start(data.clone()).unwrap();
        for i in 0..50 {
            writer.keep("drain", result(&format!("drain {i}")), settings());
        }
        writer.flush();
        // Never more writes than results, and the last one is what is kept.
        assert!((1..=50).contains(&writer.written()));
        assert_eq!(kept(&data, "drain")["incident"], "drain 49");
        // Handed over and dropped at once: still written.
        writer.keep("other", result("other 1"), settings());
        drop(writer);
        assert_eq!(kept(&data, "other")["incident"], "other 1");
    }

    #[test]
    fn a_failed_write_is_tried_again_and_a_newer_result_wins() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path(), tracehound_store::StoreOptions::default());
        // The incidents directory is a file: every write fails.
        std::fs::write(dir.path().join("incidents"), b"not a directory").unwrap();
        let writer = ResultWriter::start(data.clone()).unwrap();
        writer.keep("drain", result("drain 1"), settings());
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(writer.written(), 0);
        assert!(writer.shared.lock().failed.contains("drain"));
        // Waits for its retry, and a newer result replaces it.
        writer.keep("drain", result("drain 2"), settings());
        assert_eq!(writer.shared.lock().pending.len(), 1);
        // The disk is back: the retry writes the newer result.
        std::fs::remove_file(dir.path().join("incidents")).unwrap();
        std::fs::create_dir(dir.path().join("incidents")).unwrap();
        writer.flush();
        assert_eq!(writer.written(), 1);
        assert!(writer.shared.lock().failed.is_empty());
        assert_eq!(kept(&data, "drain")["incident"], "drain 2");
    }
}
