//! Who is connected where: rooms with their members and graphs, the caps on
//! sockets, claiming a name (with the ping check of a socket that already
//! holds it), and leaving.

use super::{count, Inner, OUTBOX};
use crate::graph::MeshGraph;
use crate::http::ApiError;
use axum::extract::ws::Utf8Bytes;
use axum::http::StatusCode;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use wire::ErrorBody;

/// Open sockets must fall by at least this many (and by half) since the
/// last trim before freed memory is handed back again.
const TRIM_STEP: usize = 16;
/// How long after that the trim runs: leaving sockets end their reader and
/// writer within about a second.
const TRIM_DELAY: Duration = Duration::from_millis(1500);

/// What the writer of one socket sends.
pub(super) enum Outbound {
    /// A serialized server message; clones share one buffer.
    Text(Utf8Bytes),
    Ping,
    Close(u16, String),
}

pub(super) struct Member {
    pub conn: u64,
    pub tx: mpsc::Sender<Outbound>,
    /// Bumped by the socket for every frame it receives.
    seen: watch::Receiver<u64>,
    /// A newcomer under this name is waiting for this socket's pong.
    probing: bool,
}

#[derive(Default)]
pub(super) struct Room {
    pub graph: MeshGraph,
    pub members: HashMap<String, Member>,
}

/// Every room, and the counts the caps are checked against.
#[derive(Default)]
pub(super) struct Rooms {
    pub rooms: HashMap<String, Room>,
    /// Rooms each peer name is connected in.
    per_peer: HashMap<String, usize>,
    sockets: usize,
    /// Most sockets open since the last trim.
    high_water: usize,
}

impl Rooms {
    /// Sockets open or being opened.
    pub fn sockets(&self) -> usize {
        self.sockets
    }

    fn member_mut(&mut self, room: &str, peer: &str) -> Option<&mut Member> {
        self.rooms.get_mut(room)?.members.get_mut(peer)
    }

    /// Takes a place for `peer` in `room` if the caps allow it; the name
    /// must be free.
    fn reserve(&mut self, inner: &Arc<Inner>, peer: &str, room: &str) -> Result<Slot, ApiError> {
        let c = &inner.config;
        if self.sockets >= c.max_sockets {
            return Err(ApiError::unavailable(format!(
                "signalling is full: {} sockets open, at most {} (SIGNAL_MAX_SOCKETS); try again later",
                self.sockets, c.max_sockets
            )));
        }
        let in_room = self.rooms.get(room).map_or(0, |r| r.members.len());
        if in_room >= c.max_room_peers {
            return Err(ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                body: ErrorBody::field(
                    "room",
                    format!(
                        "room {room:?} is full: {in_room} peers connected, at most {} (SIGNAL_MAX_ROOM_PEERS)",
                        c.max_room_peers
                    ),
                ),
            });
        }
        let rooms_of_peer = self.per_peer.get(peer).copied().unwrap_or(0);
        if rooms_of_peer >= c.max_rooms_per_peer {
            return Err(ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                body: ErrorBody::field(
                    "peer",
                    format!(
                        "peer {peer:?} is connected in {rooms_of_peer} rooms already, at most {} (SIGNAL_MAX_ROOMS_PER_PEER)",
                        c.max_rooms_per_peer
                    ),
                ),
            });
        }
        let conn = inner.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(OUTBOX);
        let (seen_tx, seen_rx) = watch::channel(0u64);
        let r = self.rooms.entry(room.to_string()).or_default();
        r.members.insert(
            peer.to_string(),
            Member {
                conn,
                tx: tx.clone(),
                seen: seen_rx,
                probing: false,
            },
        );
        r.graph.upsert(peer, &[]);
        *self.per_peer.entry(peer.to_string()).or_default() += 1;
        self.sockets += 1;
        self.high_water = self.high_water.max(self.sockets);
        Ok(Slot {
            inner: inner.clone(),
            peer: peer.to_string(),
            room: room.to_string(),
            conn,
            tx,
            rx: Some(rx),
            seen: seen_tx,
        })
    }

    /// Removes socket `conn` of `peer` from `room` (with its edges, and the
    /// room when it was the last); returns true when enough sockets have
    /// gone since the last trim that freed memory should be handed back.
    fn leave(&mut self, room: &str, peer: &str, conn: u64) -> bool {
        let Some(r) = self.rooms.get_mut(room) else {
            return false;
        };
        if r.members.get(peer).is_none_or(|m| m.conn != conn) {
            return false;
        }
        r.members.remove(peer);
        r.graph.remove(peer);
        if r.members.is_empty() {
            self.rooms.remove(room);
        }
        match self.per_peer.get_mut(peer) {
            Some(n) if *n > 1 => *n -= 1,
            _ => {
                self.per_peer.remove(peer);
            }
        }
        self.sockets = self.sockets.saturating_sub(1);
        let trim =
            self.sockets <= self.high_water / 2 && self.high_water - self.sockets >= TRIM_STEP;
        if trim {
            self.high_water = self.sockets;
            self.rooms.shrink_to_fit();
            self.per_peer.shrink_to_fit();
            for r in self.rooms.values_mut() {
                r.members.shrink_to_fit();
            }
        }
        trim
    }
}

/// A socket's place in its room, taken before the upgrade. Dropping it
/// (the socket ended, or the upgrade never happened) leaves the room.
pub(super) struct Slot {
    pub inner: Arc<Inner>,
    pub peer: String,
    pub room: String,
    pub conn: u64,
    /// For replies to this socket.
    pub tx: mpsc::Sender<Outbound>,
    /// Taken by the socket's writer.
    pub rx: Option<mpsc::Receiver<Outbound>>,
    /// Bumped for every frame received; a name check waits on it.
    pub seen: watch::Sender<u64>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let trim = self.inner.rooms().leave(&self.room, &self.peer, self.conn);
        if trim {
            trim_soon(&self.inner);
        }
    }
}

/// Claims `peer` in `room` for a new socket. A name held by a socket that
/// answers a ping within `takeover_wait` is refused with 409; one whose
/// socket does not answer is taken over (see the module docs).
pub(super) async fn claim(inner: &Arc<Inner>, peer: &str, room: &str) -> Result<Slot, ApiError> {
    let (conn, tx, seen) = {
        let mut rooms = inner.rooms();
        let Some(m) = rooms.member_mut(room, peer) else {
            return rooms.reserve(inner, peer, room);
        };
        if m.probing {
            return Err(taken(
                peer,
                room,
                "a socket under this name is being checked for another newcomer",
            ));
        }
        m.probing = true;
        (m.conn, m.tx.clone(), m.seen.clone())
    };
    let checking = Probing {
        inner,
        peer,
        room,
        conn,
    };
    let alive = answers_ping(&tx, seen, inner.config.takeover_wait).await;
    drop(tx);
    let claimed = settle(inner, peer, room, conn, alive);
    drop(checking);
    claimed
}

/// After the ping check of socket `conn`: refuse, or replace it and reserve.
fn settle(
    inner: &Arc<Inner>,
    peer: &str,
    room: &str,
    conn: u64,
    alive: bool,
) -> Result<Slot, ApiError> {
    let mut rooms = inner.rooms();
    match rooms.member_mut(room, peer) {
        None => {}
        Some(m) if m.conn == conn && !alive => {
            let _ = m.tx.try_send(Outbound::Close(
                axum::extract::ws::close_code::AWAY,
                "did not answer a ping; replaced by a new socket under this name".into(),
            ));
            rooms.leave(room, peer, conn);
            count(&inner.metrics, "takeovers_total", 1);
            tracing::info!(peer, room, "socket did not answer a ping; replaced");
        }
        Some(_) => {
            return Err(taken(
                peer,
                room,
                "its socket answers pings; a second socket under this name is refused",
            ))
        }
    }
    rooms.reserve(inner, peer, room)
}

/// Whether the socket behind `tx` sends any frame within `wait` of being
/// pinged.
async fn answers_ping(
    tx: &mpsc::Sender<Outbound>,
    mut seen: watch::Receiver<u64>,
    wait: Duration,
) -> bool {
    seen.borrow_and_update();
    // A full outbox means the socket is not being written to: not alive.
    if tx.try_send(Outbound::Ping).is_err() {
        return false;
    }
    matches!(tokio::time::timeout(wait, seen.changed()).await, Ok(Ok(())))
}

fn taken(peer: &str, room: &str, why: &str) -> ApiError {
    ApiError {
        status: StatusCode::CONFLICT,
        body: ErrorBody::field(
            "peer",
            format!("peer {peer:?} is already connected in room {room:?} and {why}"),
        ),
    }
}

/// Clears the "being checked" mark of a member when its check ends, also
/// when the newcomer's request is dropped halfway.
struct Probing<'a> {
    inner: &'a Inner,
    peer: &'a str,
    room: &'a str,
    conn: u64,
}

impl Drop for Probing<'_> {
    fn drop(&mut self) {
        let mut rooms = self.inner.rooms();
        if let Some(m) = rooms.member_mut(self.room, self.peer) {
            if m.conn == self.conn {
                m.probing = false;
            }
        }
    }
}

/// Hands freed memory back to the kernel [`TRIM_DELAY`] from now, once the
/// sockets that just left have let go of their buffers (a socket leaves
/// its room before its reader and writer end). One trim is pending at a
/// time.
fn trim_soon(inner: &Arc<Inner>) {
    if inner.trim_pending.swap(true, Ordering::AcqRel) {
        return;
    }
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        inner.trim_pending.store(false, Ordering::Release);
        return gate::trim();
    };
    let inner = inner.clone();
    rt.spawn(async move {
        tokio::time::sleep(TRIM_DELAY).await;
        inner.trim_pending.store(false, Ordering::Release);
        // Off the sockets' thread: a trim of a large heap takes milliseconds.
        let _ = tokio::task::spawn_blocking(gate::trim).await;
    });
}
