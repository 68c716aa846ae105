//! The mesh control plane, as a library behind three small binaries
//! (`src/bin/`), each of which only parses its flags and calls `run`.
//!
//! - [`topology`]: the global graph of peers and their links; BFS paths (`:8090`).
//! - [`tracker`]: live peers and who holds which segment, in Redis with TTL
//!   liveness; candidate lookup by region and RTT (`:7070`); its Lua scripts
//!   and the queue that keeps topology in step live in its submodules.
//! - [`signalling`]: WebSocket rooms; BFS routes pushed to every peer on them (`:7080`).
//! - [`events`]: the bounded ring of recent events behind each service's `GET /events`.
//! - [`graph`]: the undirected graph both use: an edge needs both ends to list each other.
//! - [`http`]: JSON errors, body parsing, tokens, health and serving, shared by all three.
//! - [`metrics`]: Prometheus text counters.
//! - [`cli`]: what the binaries share: tracing, signals, binding, empty values as unset.
//!
//! Every body and message is a [`wire`] type; ports and env names come from
//! [`wire::contract`]. Each service is `run(config, listener, shutdown)`:
//! tests bind port 0 and start it in-process.

pub mod cli;
pub mod events;
pub mod graph;
pub mod http;
pub mod metrics;
pub mod signalling;
pub mod topology;
pub mod tracker;
