//! The watch's wake-up from an EVM node's websocket: `eth_subscribe` to `newHeads`, and each
//! head the node announces wakes the chain's watch at once instead of at its next poll.
//!
//! The websocket only wakes: the cycle still reads blocks over HTTP JSON-RPC, and polling goes
//! on underneath at the chain's `poll_ms`. So a websocket that is refused, drops or goes quiet
//! costs latency, never the watch: the outage is said once (stderr and the status board's
//! error), the subscription is made again with exponential backoff, and its return is said too.
//!
//! The client is `tungstenite`'s blocking one over a plain `TcpStream` (no TLS, so `ws://`
//! only): the watch's chains each run on a thread of their own, and this is one more thread
//! per websocket, with a short read timeout so it notices the watch stopping.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use tracehound_core::{Chain, ChainFamily};
use tungstenite::Message;
use tungstenite::client::IntoClientRequest;

// The timings of every wake-up feed (this websocket and [`crate::zmq`]).
/// How long connecting and the feed's handshake may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a quiet socket looks at whether the watch stopped.
pub(crate) const READ_SLICE: Duration = Duration::from_millis(200);
/// The first wait before subscribing again, doubled each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why a websocket URL is refused for `chain`, if it is.
pub(crate) fn check_ws_url(chain: Chain, url: &str) -> Result<(), String> {
    if chain.family() != ChainFamily::Account {
        return Err(format!(
            "ws {url:?}: a websocket wake-up is for EVM nodes (newHeads); {chain}'s node \
             wakes the watch through zmq (its -zmqpubhashblock endpoint)"
        ));
    }
    if url.starts_with("wss://") {
        return Err(format!(
            "ws {url:?}: wss:// is not supported (the websocket client is built without TLS); \
             give a ws:// URL or leave ws out to poll"
        ));
    }
    if !url.starts_with("ws://") {
        return Err(format!("ws {url:?} is no ws:// URL"));
    }
    url.into_client_request()
        .map(|_| ())
        .map_err(|e| format!("ws {url:?}: {e}"))
}

/// A doorbell between the websocket thread and the chain's watch loop. A ring while a cycle
/// runs is kept, so the next wait returns at once: no head is missed between two cycles.
#[derive(Debug, Default)]
pub(crate) struct Wake {
    rung: Mutex<bool>,
    bell: Condvar,
}

impl Wake {
    pub(crate) fn ring(&self) {
        let mut rung = self
            .rung
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *rung = true;
        self.bell.notify_all();
    }

    /// Waits until the bell rings, `stop` is set or `timeout` passed; whether it rang. The
    /// ring is consumed.
    pub(crate) fn wait(&self, stop: &AtomicBool, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        let mut rung = self
            .rung
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if *rung {
                *rung = false;
                return true;
            }
            let now = Instant::now();
            if stop.load(Ordering::Relaxed) || now >= until {
                return false;
            }
            // In slices: `stop` is a flag set by a signal task, not a ring.
            let slice = (until - now).min(Duration::from_millis(50));
            rung = self
                .bell
                .wait_timeout(rung, slice)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

/// What the websocket thread reports: the subscription is up, or why it is not.
pub(crate) enum FeedStatus<'a> {
    Up,
    Down(&'a str),
}

/// Subscribes to `newHeads` at `url` and rings `wake` for each head until `quit` says so;
/// subscribes again with backoff whenever the socket fails. `report` hears each subscription
/// made and the first failure of each outage (which is also said on stderr, once).
pub(crate) fn follow_heads(
    chain: Chain,
    url: &str,
    wake: &Wake,
    quit: &(dyn Fn() -> bool + Sync),
    report: &(dyn Fn(FeedStatus<'_>) + Sync),
) {
    let mut log = FeedLog::new(
        chain,
        ("websocket", url),
        ("new heads", "subscribing"),
        report,
    );
    follow_feed(&mut log, quit, |log| {
        subscribe(url, wake, quit, &mut || log.up())
    });
}

/// A wake-up feed's outages as said: the first failure of each outage and the return after
/// it, once each, on stderr and to the status board.
pub(crate) struct FeedLog<'a> {
    pub(crate) chain: Chain,
    /// `websocket` or `ZMQ`.
    kind: &'static str,
    pub(crate) url: &'a str,
    /// What wakes the watch when the feed is up (`new heads`), and what is tried again
    /// (`subscribing`).
    wakes: &'static str,
    retries: &'static str,
    report: &'a (dyn Fn(FeedStatus<'_>) + Sync),
    pub(crate) down: bool,
    /// Times it came up: an attempt that came up starts the backoff over.
    pub(crate) ups: u64,
}

impl<'a> FeedLog<'a> {
    /// The log of a feed of `kind` at `url`, up until said otherwise.
    pub(crate) fn new(
        chain: Chain,
        (kind, url): (&'static str, &'a str),
        (wakes, retries): (&'static str, &'static str),
        report: &'a (dyn Fn(FeedStatus<'_>) + Sync),
    ) -> FeedLog<'a> {
        FeedLog {
            chain,
            kind,
            url,
            wakes,
            retries,
            report,
            down: false,
            ups: 0,
        }
    }

    pub(crate) fn up(&mut self) {
        if self.down {
            eprintln!(
                "watch {}: {} {} is back: {} wake the watch again",
                self.chain, self.kind, self.url, self.wakes
            );
        }
        (self.report)(FeedStatus::Up);
        self.down = false;
        self.ups += 1;
    }

    pub(crate) fn down(&mut self, why: &str) {
        if !self.down {
            eprintln!(
                "watch {}: {} {}: {why}; polling meanwhile, {} again with backoff",
                self.chain, self.kind, self.url, self.retries
            );
            (self.report)(FeedStatus::Down(&format!(
                "{} {}: {why}",
                self.kind, self.url
            )));
            self.down = true;
        }
    }
}

/// Runs `attempt` (one connection of a feed, `Ok` when `quit` ended it) until `quit` says so,
/// again after each failure with exponential backoff; an attempt that came up starts the
/// backoff over.
pub(crate) fn follow_feed(
    log: &mut FeedLog<'_>,
    quit: &(dyn Fn() -> bool + Sync),
    mut attempt: impl FnMut(&mut FeedLog<'_>) -> Result<(), String>,
) {
    let mut backoff = FIRST_BACKOFF;
    while !quit() {
        let ups = log.ups;
        let outcome = attempt(log);
        if log.ups > ups {
            backoff = FIRST_BACKOFF;
        }
        let Err(why) = outcome else {
            return;
        };
        if quit() {
            return;
        }
        log.down(&why);
        let until = Instant::now() + backoff;
        while !quit() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One subscription: connects, subscribes, rings for each head. `Ok` when `quit` ended it,
/// else why the socket failed. `on_subscribed` runs once the node accepted the subscription.
fn subscribe(
    url: &str,
    wake: &Wake,
    quit: &(dyn Fn() -> bool + Sync),
    on_subscribed: &mut dyn FnMut(),
) -> Result<(), String> {
    let request = url.into_client_request().map_err(|e| e.to_string())?;
    let uri = request.uri();
    let host = uri.host().ok_or("the URL has no host")?;
    let port = uri.port_u16().unwrap_or(80);
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    let mut last = format!("{host} resolves to no address");
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("connecting to {addr}: {e}"),
        }
    }
    let stream = stream.ok_or(last)?;
    let io = |e: std::io::Error| e.to_string();
    stream.set_read_timeout(Some(CONNECT_TIMEOUT)).map_err(io)?;
    stream
        .set_write_timeout(Some(CONNECT_TIMEOUT))
        .map_err(io)?;
    stream.set_nodelay(true).map_err(io)?;
    let (mut socket, _) = tungstenite::client(request, stream).map_err(|e| match e {
        tungstenite::HandshakeError::Interrupted(_) => {
            format!("no websocket handshake within {CONNECT_TIMEOUT:?}")
        }
        tungstenite::HandshakeError::Failure(e) => format!("websocket handshake: {e}"),
    })?;
    socket
        .get_ref()
        .set_read_timeout(Some(READ_SLICE))
        .map_err(io)?;
    let request = r#"{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newHeads"]}"#;
    socket
        .send(Message::text(request))
        .map_err(|e| format!("sending eth_subscribe: {e}"))?;
    let asked = Instant::now();
    let mut subscribed = false;
    loop {
        if quit() {
            let _ = socket.close(None);
            let _ = socket.flush();
            return Ok(());
        }
        if !subscribed && asked.elapsed() > CONNECT_TIMEOUT {
            return Err(format!(
                "no answer to eth_subscribe within {CONNECT_TIMEOUT:?}"
            ));
        }
        let text = match socket.read() {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(frame)) => {
                return Err(match frame {
                    Some(f) => format!("closed by the node ({}: {})", f.code, f.reason),
                    None => "closed by the node".to_string(),
                });
            }
            // Pings are answered by the library on the next read; binary frames are not
            // JSON-RPC.
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e.to_string()),
        };
        let Ok(message) = serde_json::from_str::<serde_json::Value>(text.as_str()) else {
            continue;
        };
        if message["method"] == "eth_subscription" {
            wake.ring();
        } else if message["id"] == 1 {
            if let Some(error) = message.get("error") {
                return Err(format!("the node refused eth_subscribe newHeads: {error}"));
            }
            subscribed = true;
            on_subscribed();
            // A head may have come while unsubscribed: one cycle catches up with it.
            wake.ring();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_urls_are_checked_per_chain_and_scheme() {
        let evm: Chain = "evm-31337".parse().expect("a chain name");
        let ltc: Chain = "litecoin-regtest".parse().expect("a chain name");
        assert_eq!(check_ws_url(evm, "ws://127.0.0.1:8545"), Ok(()));
        let utxo = check_ws_url(ltc, "ws://127.0.0.1:8545").unwrap_err();
        assert!(utxo.contains("through zmq"), "{utxo}");
        let tls = check_ws_url(evm, "wss://node.example/ws").unwrap_err();
        assert!(tls.contains("wss://"), "{tls}");
        let http = check_ws_url(evm, "http://127.0.0.1:8545").unwrap_err();
        assert!(http.contains("no ws:// URL"), "{http}");
    }

    #[test]
    fn a_ring_wakes_a_waiter_at_once_and_is_kept_until_waited_for() {
        let (wake, stop) = (Wake::default(), AtomicBool::new(false));
        // Rung before the wait (during a cycle): the wait returns at once.
        wake.ring();
        let start = Instant::now();
        assert!(wake.wait(&stop, Duration::from_secs(30)));
        assert!(start.elapsed() < Duration::from_secs(1));
        // Consumed: the next wait times out.
        assert!(!wake.wait(&stop, Duration::from_millis(30)));
        // Rung from another thread while waiting.
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                wake.ring();
            });
            let start = Instant::now();
            assert!(wake.wait(&stop, Duration::from_secs(30)));
            assert!(start.elapsed() < Duration::from_secs(5));
        });
        // Stopping ends a wait without a ring.
        stop.store(true, Ordering::Relaxed);
        let start = Instant::now();
        assert!(!wake.wait(&stop, Duration::from_secs(30)));
        assert!(start.elapsed() < Duration::from_secs(1));
    }
}
