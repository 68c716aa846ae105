//! meshctl's library: everything the `meshctl` binary does, without the CLI.
//!
//! Owners while the first version is written (one engineer per file set):
//! - core (deployment plan, Docker apply, status, graph, down, images of our
//!   own binaries, legacy, logs): `plan`, `docker`, `deploy`, ...
//! - offline base images and databases: [`offline`], [`db`]
//! - songs: [`songs`]

pub mod conninfo;
pub mod context;
pub mod db;
pub mod deploy;
pub mod down;
pub mod graph;
pub mod host;
pub mod images;
pub mod labels;
pub mod legacy;
pub mod mesh_file;
pub mod offline;
pub mod plan;
pub mod probe;
pub mod progress;
pub mod runtime;
pub mod songs;
pub mod status;
pub mod tar;
