//! meshctl's library: everything the `meshctl` binary does, without the CLI.
//!
//! Owners while the first version is written (one engineer per file set):
//! - core (deployment plan, Docker apply, status, graph, down, images of our
//!   own binaries, legacy, logs): `plan`, `docker`, `deploy`, ...
//! - offline base images and databases: [`offline`], [`db`]
//! - songs: [`songs`]

pub mod context;
pub mod db;
pub mod offline;
pub mod songs;
