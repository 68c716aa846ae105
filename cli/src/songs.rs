//! Songs through the mesh: publish, play, stats, swarm benchmark.
