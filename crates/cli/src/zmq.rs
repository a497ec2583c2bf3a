//! The watch's wake-up from a Core node's ZMQ notifications: a SUB socket on the endpoint the
//! node publishes blocks on (`-zmqpubhashblock=tcp://…`, or `-zmqpubrawblock`), and each block
//! it announces wakes the chain's watch at once instead of at its next poll.
//!
//! As with an EVM node's websocket ([`crate::heads`]), a notification only wakes: the cycle
//! still reads blocks over JSON-RPC, and polling goes on underneath at the chain's `poll_ms`.
//! ZMQ drops messages by design (a publisher past its high-water mark, a subscriber that
//! connected late), so nothing waits on every notification arriving: a lost one costs one
//! poll interval, never a block. A publisher that cannot be reached, or that goes away, is
//! said once (stderr and the status board's error) and its return is said too; the socket
//! connects again with exponential backoff (ours while it never connected, the library's
//! after a connection dropped).
//!
//! The client is the `zeromq` crate (ZMTP 3 in pure Rust, `tcp://` only) on a current-thread
//! tokio runtime of this thread's own: the watch's chains each run on a thread, and this is
//! one more thread per ZMQ endpoint.

use tracehound_core::{Chain, ChainFamily};
use zeromq::{Socket, SocketEvent, SocketRecv};

use crate::heads::{CONNECT_TIMEOUT, FeedLog, FeedStatus, READ_SLICE, Wake, follow_feed};

/// The topics subscribed to: Core's two block notifications (a node may publish either).
const TOPICS: [&str; 2] = ["hashblock", "rawblock"];

/// Why a ZMQ URL is refused for `chain`, if it is.
pub(crate) fn check_zmq_url(chain: Chain, url: &str) -> Result<(), String> {
    if chain.family() != ChainFamily::Utxo {
        return Err(format!(
            "zmq {url:?}: ZMQ block notifications are a Core (UTXO) node's; {chain}'s node \
             wakes the watch through ws (newHeads)"
        ));
    }
    let Some(rest) = url.strip_prefix("tcp://") else {
        return Err(format!(
            "zmq {url:?} is no tcp:// URL (Core publishes on tcp://host:port, as given to its \
             -zmqpubhashblock)"
        ));
    };
    let port = rest
        .rsplit_once(':')
        .map(|(host, port)| (host, port.parse::<u16>()));
    match port {
        Some((host, Ok(p))) if !host.is_empty() && p > 0 => Ok(()),
        _ => Err(format!("zmq {url:?}: expected tcp://HOST:PORT")),
    }
}

/// What a notification is, if it has the shape Core gives it: three frames (topic, body, and
/// a 4-byte little-endian sequence number), a `hashblock` body of 32 bytes, a `rawblock` body
/// of at least a block header (80 bytes). Returns the topic and the sequence number.
pub(crate) fn block_notification(frames: &[&[u8]]) -> Result<(&'static str, u32), String> {
    let [topic, body, seq] = frames else {
        return Err(format!(
            "a message of {} frames (Core sends 3: topic, body, sequence)",
            frames.len()
        ));
    };
    let topic = TOPICS
        .into_iter()
        .find(|t| t.as_bytes() == *topic)
        .ok_or_else(|| {
            format!(
                "a message on topic {:?} (subscribed to {})",
                String::from_utf8_lossy(topic),
                TOPICS.join(" and ")
            )
        })?;
    let body_ok = match topic {
        "hashblock" => body.len() == 32,
        _ => body.len() >= 80,
    };
    if !body_ok {
        return Err(format!(
            "a {topic} message with a body of {} bytes (a block hash is 32, a block at least \
             its 80-byte header)",
            body.len()
        ));
    }
    let seq: [u8; 4] = (*seq).try_into().map_err(|_| {
        format!(
            "a {topic} message whose sequence frame has {} bytes (Core's is 4)",
            seq.len()
        )
    })?;
    Ok((topic, u32::from_le_bytes(seq)))
}

/// Connects to the publisher at `url`, subscribes to its block notifications and rings `wake`
/// for each until `quit` says so. `report` hears each connection made and the first failure
/// of each outage (also said on stderr, once).
pub(crate) fn follow_blocks(
    chain: Chain,
    url: &str,
    wake: &Wake,
    quit: &(dyn Fn() -> bool + Sync),
    report: &(dyn Fn(FeedStatus<'_>) + Sync),
) {
    let mut log = FeedLog::new(chain, ("ZMQ", url), ("new blocks", "connecting"), report);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            log.down(&format!("cannot start its runtime: {e}"));
            return;
        }
    };
    let mut received = Received::default();
    follow_feed(&mut log, quit, |log| {
        runtime.block_on(subscribe(log, &mut received, wake, quit))
    });
}

/// The messages a feed received: block notifications of Core's shape, and others.
#[derive(Debug, Default)]
struct Received {
    notifications: u64,
    malformed: u64,
}

/// One socket: connects, subscribes, rings for each notification, and follows the library's
/// reconnections. `Ok` when `quit` ended it, else why it could not connect or receive.
async fn subscribe(
    log: &mut FeedLog<'_>,
    feed: &mut Received,
    wake: &Wake,
    quit: &(dyn Fn() -> bool + Sync),
) -> Result<(), String> {
    let mut options = zeromq::SocketOptions::default();
    options.connect_timeout(CONNECT_TIMEOUT);
    let mut socket = zeromq::SubSocket::with_options(options);
    let mut events = socket.monitor();
    socket
        .connect(log.url)
        .await
        .map_err(|e| format!("cannot connect (waited up to {CONNECT_TIMEOUT:?}): {e}"))?;
    for topic in TOPICS {
        socket
            .subscribe(topic)
            .await
            .map_err(|e| format!("subscribing to {topic}: {e}"))?;
    }
    log.up();
    // A block may have come while unsubscribed: one cycle catches up with it.
    wake.ring();
    // Each connection says its first malformed message, not every one.
    let mut said_malformed = false;
    loop {
        if quit() {
            return Ok(());
        }
        match tokio::time::timeout(READ_SLICE, socket.recv()).await {
            Err(_) => {}
            Ok(Ok(message)) => {
                let frames: Vec<&[u8]> = message.iter().map(|f| f.as_ref()).collect();
                match block_notification(&frames) {
                    Ok(_) => feed.notifications += 1,
                    Err(why) => {
                        feed.malformed += 1;
                        if !said_malformed {
                            eprintln!(
                                "watch {}: ZMQ {}: {why}; taken as a wake-up all the same",
                                log.chain, log.url
                            );
                            said_malformed = true;
                        }
                    }
                }
                // Only a wake-up: the cycle reads what is new over RPC, so even a malformed
                // message costs one cycle at most.
                wake.ring();
            }
            Ok(Err(e)) => return Err(format!("receiving: {e}")),
        }
        while let Ok(event) = events.try_recv() {
            match event {
                SocketEvent::Disconnected(_) => log.down("the publisher went away"),
                // After an outage (the first connection is announced above).
                SocketEvent::Connected(..) if log.down => {
                    log.up();
                    said_malformed = false;
                    wake.ring();
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use zeromq::{SocketSend, ZmqMessage};

    use super::*;

    /// Core's largest blocks are about 4 MB, far over the socket's 64 KiB read buffer: a
    /// `rawblock` of that size must arrive as one whole message of Core's shape.
    #[test]
    fn a_four_megabyte_rawblock_arrives_whole_and_rings() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let statuses = Mutex::new(Vec::new());
        let report = |s: FeedStatus<'_>| {
            statuses.lock().unwrap().push(matches!(s, FeedStatus::Up));
        };
        let (wake, stop) = (Wake::default(), AtomicBool::new(false));
        // The publisher spawns its sending task on the runtime it is made in.
        let _in_runtime = runtime.enter();
        let mut publisher = zeromq::PubSocket::new();
        let endpoint = runtime
            .block_on(publisher.bind("tcp://127.0.0.1:0"))
            .unwrap()
            .to_string();
        let chain: Chain = "litecoin-regtest".parse().unwrap();
        let mut log = FeedLog::new(
            chain,
            ("ZMQ", &endpoint),
            ("new blocks", "connecting"),
            &report,
        );
        let mut feed = Received::default();
        let quit = || stop.load(Ordering::Relaxed);
        let block: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
        let publish = async {
            // Sent until received: a subscriber misses what is published before it joins.
            for seq in 0u32..100 {
                let mut m = ZmqMessage::from(b"rawblock".to_vec());
                m.push_back(block.clone().into());
                m.push_back(seq.to_le_bytes().to_vec().into());
                publisher.send(m).await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
                if wake.wait(&stop, Duration::ZERO) && seq > 0 {
                    break;
                }
            }
            stop.store(true, Ordering::Relaxed);
        };
        let (outcome, ()) = runtime.block_on(async {
            tokio::join!(subscribe(&mut log, &mut feed, &wake, &quit), publish)
        });
        assert_eq!(outcome, Ok(()));
        assert!(feed.notifications >= 1, "no rawblock arrived");
        assert_eq!(feed.malformed, 0);
        assert_eq!(
            *statuses.lock().unwrap(),
            [true],
            "connected once, never down"
        );
    }

    #[test]
    fn zmq_urls_are_checked_per_chain_and_scheme() {
        let evm: Chain = "evm-31337".parse().expect("a chain name");
        let ltc: Chain = "litecoin-regtest".parse().expect("a chain name");
        assert_eq!(check_zmq_url(ltc, "tcp://127.0.0.1:28332"), Ok(()));
        assert_eq!(check_zmq_url(ltc, "tcp://node.lan:28332"), Ok(()));
        let on_evm = check_zmq_url(evm, "tcp://127.0.0.1:28332").unwrap_err();
        assert!(on_evm.contains("ws (newHeads)"), "{on_evm}");
        let ipc = check_zmq_url(ltc, "ipc:///tmp/node.sock").unwrap_err();
        assert!(ipc.contains("no tcp:// URL"), "{ipc}");
        for bad in [
            "tcp://127.0.0.1",
            "tcp://:28332",
            "tcp://h:0",
            "tcp://h:port",
        ] {
            let e = check_zmq_url(ltc, bad).unwrap_err();
            assert!(e.contains("tcp://HOST:PORT"), "{bad}: {e}");
        }
    }

    #[test]
    fn notifications_have_cores_shape_or_say_what_is_wrong() {
        let hash = [7u8; 32];
        let header = [1u8; 80];
        let seq = 41u32.to_le_bytes();
        assert_eq!(
            block_notification(&[b"hashblock", &hash, &seq]),
            Ok(("hashblock", 41))
        );
        assert_eq!(
            block_notification(&[b"rawblock", &header, &seq]),
            Ok(("rawblock", 41))
        );
        let two = block_notification(&[b"hashblock", &hash]).unwrap_err();
        assert!(two.contains("2 frames"), "{two}");
        let topic = block_notification(&[b"hashtx", &hash, &seq]).unwrap_err();
        assert!(topic.contains("\"hashtx\""), "{topic}");
        let short = block_notification(&[b"hashblock", &hash[..31], &seq]).unwrap_err();
        assert!(short.contains("31 bytes"), "{short}");
        let raw = block_notification(&[b"rawblock", &header[..79], &seq]).unwrap_err();
        assert!(raw.contains("79 bytes"), "{raw}");
        let seq8 = block_notification(&[b"hashblock", &hash, &[0; 8]]).unwrap_err();
        assert!(seq8.contains("8 bytes"), "{seq8}");
    }
}
