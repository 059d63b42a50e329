//! The drains running in this process: one slot per orchestrator that keeps its drains one at a
//! time and remembers what a drain needs across passes (asked again, failures in a row), and how a
//! drain meets a full daemon list ([`Pace`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::{Arc, Mutex};

/// How a drain meets a full daemon list that the daemon is taking events from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pace {
    /// Hand the rest to a background drain and return: someone waits on this drain.
    HandOff,
    /// Look again shortly, until the waits add up to `drainIntervalMs`: a background drain.
    KeepUp,
}

/// The drains running in this process, one slot per orchestrator, and whether the store's upkeep
/// runs beside them.
#[derive(Default)]
pub(super) struct DrainSlots {
    slots: Mutex<HashMap<String, Arc<DrainSlot>>>,
    /// The store's upkeep ([`Store::maintain`]) is running.
    pub(super) upkeep: AtomicBool,
}

impl DrainSlots {
    /// The slot that keeps drains of one orchestrator in this process one at a time.
    pub(super) fn slot(&self, orchestrator_id: &str) -> Arc<DrainSlot> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.retain(|_, slot| Arc::strong_count(slot) > 1);
        Arc::clone(slots.entry(orchestrator_id.to_owned()).or_default())
    }

    /// Forgets every slot (the router closed).
    pub(super) fn clear(&self) {
        *self.slots.lock().unwrap_or_else(|e| e.into_inner()) = HashMap::new();
    }
}

/// One orchestrator's drain in this process: the lock that keeps drains one at a time, and
/// whether another drain was asked for while one ran.
#[derive(Default)]
pub(super) struct DrainSlot {
    pub(super) lock: tokio::sync::Mutex<()>,
    pub(super) again: AtomicBool,
    /// Cuts short the wait of a drain paced by a full daemon list: a heartbeat says the daemon is
    /// alive and taking events, so the list is looked at again at once.
    pub(super) wake: tokio::sync::Notify,
    /// Drains of this orchestrator that failed in a row (kept while a retry waits, which holds
    /// the slot).
    pub(super) failures: AtomicU32,
    /// A retry after a failed drain is waiting: another failure does not start a second one.
    pub(super) retrying: AtomicBool,
}
