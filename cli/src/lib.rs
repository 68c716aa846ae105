//! meshctl's library: everything the `meshctl` binary does, without the CLI.
//!
//! Pure (no engine, no network):
//! - [`plan`]: `Settings` → the networks, volumes and containers wanted.
//! - [`mesh_file`]: mesh files, precedence, the reproducing dry run.
//! - [`labels`]: the labels every object carries and the roles they name.
//! - [`conninfo`]: PostgreSQL URLs and libpq quoting.
//! - [`tar`]: the reproducible tar writer for build contexts and root filesystems.
//!
//! The engine, behind one seam:
//! - [`runtime`]: the `Runtime` and `Images` traits; the Docker
//!   implementation (the only user of bollard) and an in-memory fake.
//! - [`deploy`]: `up` — converge, rollback, readiness, secrets.
//! - [`context`]: a deployment read back from the engine's labels and env.
//! - [`status`], [`graph`], [`down`], [`legacy`]: the other deployment commands.
//! - [`events`]: the Engine's events and the control plane's feeds as one ordered stream.
//! - [`images`], [`offline`]: our `FROM scratch` images and the offline base images.
//! - [`host`]: changes to the host itself (the kernel's neighbour table).
//! - [`faults`]: breaking a deployment on purpose (kill, pause, link
//!   shaping, partitions) and reading back what is broken.
//!
//! Around them: [`db`] (replication), [`songs`] (publish, play, stats,
//! bench), [`probe`] (service health), [`progress`] (bars or plain lines).

pub mod conninfo;
pub mod context;
pub mod db;
pub mod deploy;
pub mod down;
pub mod events;
pub mod faults;
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
