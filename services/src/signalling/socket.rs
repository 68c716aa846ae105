//! One open socket: a writer task draining its outbox (with keepalive
//! pings), and the reader loop that rate-limits and handles what it sends.

use super::members::{Outbound, Slot};
use super::{count, messages};
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket};
use futures::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use wire::events::EventKind;
use wire::signalling::ServerMessage;

/// Runs the socket of `slot` until either side closes it; the slot (the
/// peer's place in its room) is given up at the end.
pub(super) async fn run(mut slot: Slot, socket: WebSocket) {
    let inner = slot.inner.clone();
    let (peer, room) = (slot.peer.clone(), slot.room.clone());
    count(&inner.metrics, "connections_total", 1);
    tracing::debug!(peer, room, "connected");
    let (p, r) = (peer.clone(), room.clone());
    inner
        .events
        .record(EventKind::SocketOpened { peer: p, room: r });

    let (sink, mut stream) = socket.split();
    let Some(rx) = slot.rx.take() else {
        return;
    };
    let mut writer = tokio::spawn(write(
        sink,
        rx,
        inner.config.ping_interval,
        inner.stop.clone(),
    ));
    let c = &inner.config;
    let mut bucket = gate::Bucket::new(c.msg_rate, c.msg_burst);
    let mut over_rate = 0u32;
    let mut writer_done = false;
    let silence = c.ping_interval * 2;
    loop {
        let next = tokio::select! {
            _ = inner.stop.cancelled() => break,
            // The writer ends after a close frame or a failed write.
            _ = &mut writer, if !writer_done => {
                writer_done = true;
                break;
            }
            n = tokio::time::timeout(silence, stream.next()) => n,
        };
        let msg = match next {
            Err(_) => {
                tracing::info!(peer, room, "no answer to pings; dropping");
                break;
            }
            Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(m))) => m,
        };
        if matches!(msg, Message::Close(_)) {
            break;
        }
        slot.seen.send_modify(|n| *n = n.wrapping_add(1));
        if !bucket.take(Instant::now()) {
            count(&inner.metrics, "rate_limited_total", 1);
            over_rate += 1;
            if over_rate >= c.flood_close {
                count(&inner.metrics, "flood_closed_total", 1);
                tracing::info!(peer, room, "socket flooding past its rate; closing");
                let reason = format!(
                    "too many messages: more than {}/s (burst {})",
                    c.msg_rate, c.msg_burst
                );
                let _ = slot
                    .tx
                    .try_send(Outbound::Close(close_code::POLICY, reason));
                // Let the writer send the close frame before the slot goes.
                writer_done = tokio::time::timeout(Duration::from_secs(1), &mut writer)
                    .await
                    .is_ok();
                // Read what the client had already sent until it answers the
                // close (bounded): closing with unread data would reset the
                // connection and lose the close frame on the way.
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    loop {
                        match stream.next().await {
                            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                            Some(Ok(_)) => {}
                        }
                    }
                })
                .await;
                break;
            }
            if let Message::Text(text) = &msg {
                let target = messages::request_target(text.as_str());
                let refused = messages::error(
                    format!(
                        "rate limit: at most {}/s (burst {}); message ignored",
                        c.msg_rate, c.msg_burst
                    ),
                    target,
                );
                if !reply(&slot, refused) {
                    break;
                }
            }
            continue;
        }
        over_rate = 0;
        let answer = match msg {
            Message::Text(text) => messages::handle(&inner, &peer, &room, text.as_str()),
            Message::Binary(_) => Some(messages::error(
                "binary messages are not supported; send JSON text",
                None,
            )),
            _ => None,
        };
        if let Some(answer) = answer {
            if !reply(&slot, answer) {
                break;
            }
        }
    }
    tracing::debug!(peer, room, "disconnected");
    inner.events.record(EventKind::SocketClosed { peer, room });
    // Leave the room first, so nothing more is queued, then let the writer
    // flush a close frame (shutdown) or end with its channel.
    drop(slot);
    if !writer_done
        && tokio::time::timeout(Duration::from_secs(1), &mut writer)
            .await
            .is_err()
    {
        writer.abort();
    }
}

/// Queues `m` for this socket; false when its outbox is full (the client
/// does not read what it asked for).
fn reply(slot: &Slot, m: ServerMessage) -> bool {
    if matches!(m, ServerMessage::Error { .. }) {
        count(&slot.inner.metrics, "message_errors_total", 1);
    }
    match messages::encode(&m) {
        Some(text) => slot.tx.try_send(Outbound::Text(text)).is_ok(),
        None => true,
    }
}

async fn write(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    mut rx: tokio::sync::mpsc::Receiver<Outbound>,
    ping_every: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut ping = tokio::time::interval(ping_every);
    ping.tick().await;
    loop {
        let out = tokio::select! {
            m = rx.recv() => match m {
                Some(m) => m,
                None => return,
            },
            _ = ping.tick() => Outbound::Ping,
            _ = stop.cancelled() => Outbound::Close(close_code::AWAY, "server shutting down".into()),
        };
        let frame = match out {
            Outbound::Text(text) => Message::Text(text),
            Outbound::Ping => Message::Ping(Default::default()),
            Outbound::Close(code, reason) => {
                let _ = sink
                    .send(Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    })))
                    .await;
                return;
            }
        };
        if sink.send(frame).await.is_err() {
            return;
        }
    }
}
