//! The one error type of the router, with a stable `code` per variant that the JS layer maps to
//! an error class.

use std::fmt;

/// Everything that can go wrong in the router.
#[derive(Debug, Clone, PartialEq)]
pub enum RouterError {
    /// An argument or a configuration field was refused before anything was written.
    InvalidArgument { field: String, message: String },
    /// Redis (or another store) failed or timed out.
    Store(String),
    /// The offline queue is disabled, so a message for an offline orchestrator cannot be kept.
    QueueDisabled { orchestrator_id: String },
    /// The queue is full and every message in it outranks this one, so it was not queued.
    QueueFull { orchestrator_id: String, max_queue_size: u64 },
    /// The message service failed while a drain re-read queued messages.
    MessageService(String),
    /// The router was closed.
    Closed,
}

impl RouterError {
    /// Builds an [`RouterError::InvalidArgument`] naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        RouterError::InvalidArgument { field: field.into(), message: message.into() }
    }

    /// The same error, its field named within `scope` (e.g. `items[3].message.id`).
    pub fn within(self, scope: &str) -> Self {
        match self {
            RouterError::InvalidArgument { field, message } => RouterError::InvalidArgument { field: format!("{scope}.{field}"), message },
            other => other,
        }
    }

    /// The stable error code the JS layer maps to an error class.
    pub fn code(&self) -> &'static str {
        match self {
            RouterError::InvalidArgument { .. } => "INVALID_ARGUMENT",
            RouterError::Store(_)
            | RouterError::QueueDisabled { .. }
            | RouterError::QueueFull { .. }
            | RouterError::MessageService(_)
            | RouterError::Closed => "ORCHESTRATOR_ROUTING_ERROR",
        }
    }
}

impl fmt::Display for RouterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouterError::InvalidArgument { field, message } => write!(f, "Invalid {field}: {message}"),
            RouterError::Store(message) => write!(f, "Redis error: {message}"),
            RouterError::QueueDisabled { orchestrator_id } => {
                write!(f, "Offline queue is disabled; cannot queue message for orchestrator: {orchestrator_id}")
            }
            RouterError::QueueFull { orchestrator_id, max_queue_size } => write!(
                f,
                "The queue of orchestrator {orchestrator_id} is full ({max_queue_size} messages) of messages of a higher priority; this one was dropped"
            ),
            RouterError::MessageService(message) => write!(f, "Message service failed: {message}"),
            RouterError::Closed => write!(f, "OrchestratorRouter is closed"),
        }
    }
}

impl std::error::Error for RouterError {}
