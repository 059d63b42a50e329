//! The one error type of the router, with a stable `code` per variant that the JS layer maps to
//! an error class (lib/errors.js).

use crate::store::open::OptionError;
use crate::store::StoreError;
use std::fmt;

/// Everything that can go wrong in the router.
#[derive(Debug, Clone, PartialEq)]
pub enum RouterError {
    /// An argument or a configuration field was refused before anything was written.
    InvalidArgument { field: String, message: String },
    /// Redis (or another store) failed, refused or timed out.
    Store(StoreError),
    /// The offline queue is disabled, so a message for an offline orchestrator cannot be kept.
    QueueDisabled { orchestrator_id: String },
    /// The queue is full and every message in it outranks this one, so it was not queued.
    QueueFull { orchestrator_id: String, max_queue_size: u64 },
    /// The message service failed while a drain re-read queued messages.
    MessageService(String),
    /// The router was closed.
    Closed,
    /// A bug: a call panicked (its message).
    Internal(String),
}

impl RouterError {
    /// Every code [`RouterError::code`] gives, for the JS layer's table (lib/errors.js).
    pub const CODES: [&'static str; 8] =
        ["INVALID_ARGUMENT", "STORE_FAILED", "NOT_REPLICATED", "QUEUE_DISABLED", "QUEUE_FULL", "MESSAGE_SERVICE_FAILED", "CLOSED", "INTERNAL"];

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

    /// The stable code of the variant, which the JS layer maps to an error class.
    pub fn code(&self) -> &'static str {
        match self {
            RouterError::InvalidArgument { .. } => "INVALID_ARGUMENT",
            // The writes are on the primary but not confirmed by its replicas (`durability`).
            RouterError::Store(StoreError::NotReplicated { .. }) => "NOT_REPLICATED",
            RouterError::Store(_) => "STORE_FAILED",
            RouterError::QueueDisabled { .. } => "QUEUE_DISABLED",
            RouterError::QueueFull { .. } => "QUEUE_FULL",
            RouterError::MessageService(_) => "MESSAGE_SERVICE_FAILED",
            RouterError::Closed => "CLOSED",
            RouterError::Internal(_) => "INTERNAL",
        }
    }

    /// The field an invalid argument names.
    pub fn field(&self) -> Option<&str> {
        match self {
            RouterError::InvalidArgument { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl From<StoreError> for RouterError {
    fn from(error: StoreError) -> Self {
        RouterError::Store(error)
    }
}

impl From<OptionError> for RouterError {
    fn from(error: OptionError) -> Self {
        RouterError::invalid(error.field, error.message)
    }
}

impl fmt::Display for RouterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouterError::InvalidArgument { field, message } => write!(f, "Invalid {field}: {message}"),
            RouterError::Store(error) => write!(f, "Redis error: {error}"),
            RouterError::QueueDisabled { orchestrator_id } => {
                write!(f, "Offline queue is disabled; cannot queue message for orchestrator: {orchestrator_id}")
            }
            RouterError::QueueFull { orchestrator_id, max_queue_size } => write!(
                f,
                "The queue of orchestrator {orchestrator_id} is full ({max_queue_size} messages) of messages of a higher priority; this one was dropped"
            ),
            RouterError::MessageService(message) => write!(f, "Message service failed: {message}"),
            RouterError::Closed => write!(f, "OrchestratorRouter is closed"),
            RouterError::Internal(message) => write!(f, "internal error (a bug; please report it): {message}"),
        }
    }
}

impl std::error::Error for RouterError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_its_own_code_and_the_list_holds_them_all() {
        let errors = [
            RouterError::invalid("f", "m"),
            RouterError::Store(StoreError::Closed),
            RouterError::Store(StoreError::NotReplicated { confirmed: 0, wanted: 1, timeout_ms: 100 }),
            RouterError::QueueDisabled { orchestrator_id: "o".into() },
            RouterError::QueueFull { orchestrator_id: "o".into(), max_queue_size: 1 },
            RouterError::MessageService("m".into()),
            RouterError::Closed,
            RouterError::Internal("m".into()),
        ];
        let codes: Vec<&str> = errors.iter().map(RouterError::code).collect();
        assert_eq!(codes, RouterError::CODES);
    }
}
