//! The routing engine, in pure Rust: route, queue, drain, sessions and retries, over any
//! [`Store`](crate::store::Store), reporting through one [`EventSink`](events::EventSink).
//!
//! [`Router`] (`router.rs`) is the facade: it holds the store, the configuration and the parts
//! that own the router's state (`memo`: the session each orchestrator is believed to have;
//! `slots`: the drains running here; `host`: the host's services; delivery order; metrics), and
//! the facilities every part uses (events, time limits, reports). What it does lives beside it,
//! one behaviour a file: `route` and `batch` (routing, one retry helper), `drain` and `plan`
//! (draining: passes, rounds, steps), `overdue` (deliveries whose receipt is late), `receipts`
//! (acknowledging, dead letters), `sessions` (registration, heartbeat, reads). Imports run one
//! way: the parts import the facade and the leaves (`memo`, `slots`, `host`, `model`), never
//! each other in a circle.

mod batch;
pub mod config;
mod drain;
pub mod error;
pub mod events;
mod host;
pub mod inspect;
mod memo;
pub mod metrics;
pub mod model;
mod overdue;
mod plan;
mod receipts;
mod route;
mod router;
mod sessions;
mod slots;
pub mod time;

#[cfg(test)]
mod tests;

pub use batch::BatchItem;
pub use plan::DrainSummary;
pub use events::Deferred;
pub use receipts::{requeue_dead_letters, DeadLetterInfo};
pub use host::{FetchFuture, MessageSource, MessageUpdate, PresenceFuture, PresenceSource};
pub use route::{RouteOutcome, RouteStatus};
pub use router::Router;
pub use sessions::{ActiveSession, SessionInput};
