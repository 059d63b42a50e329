//! The host's services as the engine sees them: the message service a drain re-reads queued
//! messages through, and the presence service that says whether an orchestrator is online; the
//! [`Hosts`] a router was given, and a drain's one question to presence ([`Presence`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

/// A message as the message service returns it now, for a drain to deliver.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MessageUpdate {
    pub content: String,
    pub channel_id: Option<String>,
    pub author_id: Option<String>,
    pub created_at_ms: Option<i64>,
}

/// Future returned by a [`MessageSource`].
pub type FetchFuture = Pin<Box<dyn Future<Output = Result<Vec<Option<MessageUpdate>>, String>> + Send>>;

/// Re-reads queued messages just before a drain delivers them (Neolith's message service).
pub trait MessageSource: Send + Sync + 'static {
    /// The current form of each message, in order; `None` for one that no longer exists.
    fn fetch(&self, message_ids: Vec<String>) -> FetchFuture;
}

/// Future returned by a [`PresenceSource`].
pub type PresenceFuture = Pin<Box<dyn Future<Output = Result<bool, String>> + Send>>;

/// Says whether an orchestrator is online (Neolith's presence service): a drain asks it once
/// before delivering, and leaves the queue as it is when the answer is no.
pub trait PresenceSource: Send + Sync + 'static {
    /// Whether the orchestrator is online; an error when the service could not tell.
    fn online(&self, orchestrator_id: String) -> PresenceFuture;
}

/// The host services a router was given (each may be set, replaced or cleared at any time).
#[derive(Default)]
pub(super) struct Hosts {
    messages: RwLock<Option<Arc<dyn MessageSource>>>,
    presence: RwLock<Option<Arc<dyn PresenceSource>>>,
}

impl Hosts {
    pub(super) fn set_messages(&self, source: Option<Arc<dyn MessageSource>>) {
        *self.messages.write().unwrap_or_else(|e| e.into_inner()) = source;
    }

    pub(super) fn set_presence(&self, source: Option<Arc<dyn PresenceSource>>) {
        *self.presence.write().unwrap_or_else(|e| e.into_inner()) = source;
    }

    /// The message service now, if any.
    pub(super) fn messages(&self) -> Option<Arc<dyn MessageSource>> {
        self.messages.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The presence service now, if any.
    pub(super) fn presence(&self) -> Option<Arc<dyn PresenceSource>> {
        self.presence.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The presence service's answer for one drain: asked at most once, and only once there is
/// something to deliver (`None` until then).
#[derive(Default)]
pub(super) struct Presence(pub(super) Option<bool>);
