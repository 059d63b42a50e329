//! The routing engine, in pure Rust: route, queue, drain, sessions and retries, over any
//! [`Store`](crate::store::Store), reporting through one [`EventSink`](events::EventSink).

mod batch;
pub mod config;
mod drain;
pub mod error;
pub mod events;
pub mod inspect;
pub mod metrics;
pub mod model;
mod receipts;
mod router;
mod sessions;
pub mod time;

#[cfg(test)]
mod tests;

pub use batch::BatchItem;
pub use drain::DrainSummary;
pub use events::Deferred;
pub use receipts::DeadLetterInfo;
pub use router::{FetchFuture, MessageSource, MessageUpdate, PresenceFuture, PresenceSource, RouteOutcome, RouteStatus, Router};
pub use sessions::{ActiveSession, SessionInput};
