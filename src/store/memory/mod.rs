//! The in-process implementation of [`Store`](super::Store) (`redis: 'memory://'`): Redis's data
//! model for the router's keys, held in maps under one lock, each method one atomic step doing
//! what its Lua script does on Redis — the same TTLs, cap, order, priorities, sessions and receipts.
//!
//! Routers in one process that name the same store (`memory://<name>`, `memory://` being the
//! store named `default`) and use the same key prefix share its data, as routers sharing one
//! Redis server do; the data lives as long as a router uses it.
//!
//! [`state`] holds the data (each orchestrator's keys, with [`zset`] for the sorted sets),
//! [`sessions`] decides which session messages go to, [`steps`] implements the trait with one
//! atomic step per operation, and [`route`], [`drain`] and [`receipts`] hold the larger steps.

mod drain;
mod receipts;
mod route;
mod sessions;
mod state;
mod steps;
mod zset;

use super::{StoreError, StoreLimits, StoreResult};
use state::State;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// The stores of this process, by (name, key prefix).
type Registry = Mutex<HashMap<(String, String), Weak<Mutex<State>>>>;

fn registry() -> &'static Registry {
    static STORES: OnceLock<Registry> = OnceLock::new();
    STORES.get_or_init(Default::default)
}

/// A [`Store`](super::Store) in this process's memory.
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    limits: StoreLimits,
    closed: AtomicBool,
}

/// How often expired data is freed, in ms.
const SWEEP_INTERVAL_MS: i64 = 1000;

/// The wall clock in ms since the epoch (for operations the engine gives no time).
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The store name in a `memory://` URL, or `None` when the URL is not one.
pub fn memory_name(url: &str) -> Option<String> {
    let rest = url.strip_prefix("memory://")?;
    let name = rest.trim_end_matches('/');
    Some(if name.is_empty() { "default".to_owned() } else { name.to_owned() })
}

impl MemoryStore {
    /// The store named `name` for keys behind `prefix`: the one other routers of this process
    /// use under that name and prefix, or a new empty one.
    pub fn open(name: &str, prefix: &str, limits: StoreLimits) -> Self {
        let mut stores = registry().lock().unwrap_or_else(|e| e.into_inner());
        stores.retain(|_, state| state.strong_count() > 0);
        let key = (name.to_owned(), prefix.to_owned());
        let state = match stores.get(&key).and_then(Weak::upgrade) {
            Some(state) => state,
            None => {
                let state = Arc::new(Mutex::new(State::default()));
                stores.insert(key, Arc::downgrade(&state));
                state
            }
        };
        MemoryStore { state, limits, closed: AtomicBool::new(false) }
    }

    /// Runs one atomic step on an orchestrator's keys, and then forgets what it emptied
    /// ([`State::tidy`]), whichever way the step ends.
    fn orchestrator_step<T>(&self, orchestrator_id: &str, f: impl FnOnce(&mut State) -> T) -> StoreResult<T> {
        self.step(|state| {
            let result = f(state);
            state.tidy(orchestrator_id);
            result
        })
    }

    /// The ids, sorted, of the orchestrators that `keep` takes once what expired is dropped.
    fn orchestrators_where(&self, keep: impl Fn(&state::Orchestrator) -> bool) -> StoreResult<Vec<String>> {
        let now = now_ms();
        self.step(|state| {
            let mut ids: Vec<String> = state
                .orchestrators
                .iter_mut()
                .filter_map(|(id, o)| {
                    o.expire(now);
                    keep(o).then(|| id.clone())
                })
                .collect();
            ids.sort();
            ids
        })
    }

    /// Runs one atomic step (first freeing what expired, at most once a second).
    fn step<T>(&self, f: impl FnOnce(&mut State) -> T) -> StoreResult<T> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = now_ms();
        if now - state.swept_at >= SWEEP_INTERVAL_MS {
            state.sweep(now);
        }
        Ok(f(&mut state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_urls_name_their_store() {
        assert_eq!(memory_name("memory://").as_deref(), Some("default"));
        assert_eq!(memory_name("memory://tests-1").as_deref(), Some("tests-1"));
        assert_eq!(memory_name("redis://x"), None);
    }
}
