//! Base images (PostgreSQL, Redis, BusyBox): local, pulled, or built offline from Debian packages.
