//! Contract tests of the HTTP API and the live feed over a fixed test database: field names
//! and types, defaults, clamps, errors, and a golden JSON snapshot per endpoint
//! (`snapshots/`, reviewed with `cargo insta review`).

mod common;

mod channels;
mod config;
mod misc;
mod nodes;
mod observers;
mod packets;
mod reach;
mod system;
mod ws;
