//! Faults: what breaks the mesh on purpose.
//!
//! - [`net`]: link shaping, partitions and isolation, made in the peers' kernels by helper containers.

pub mod net;
