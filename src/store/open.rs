//! The one place a store is made from the router's `redis` option: this process's memory for
//! `memory://` URLs, a Redis Cluster for `{ cluster: [...] }`, the primary Redis Sentinel names
//! for `{ sentinels: [...], name }`, else one Redis server.

use super::any::AnyStore;
use super::keys::Keys;
use super::memory::{memory_name, MemoryStore};
use super::pipe::Pipe;
use super::redis::{cluster_target, connection_info, sentinel_target, RedisStore};
use super::StoreLimits;
use serde_json::Value as Json;
use std::sync::Arc;
use std::time::Duration;

/// An option the store could not be made from: the option's name and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionError {
    pub field: &'static str,
    pub message: String,
}

impl OptionError {
    fn new(field: &'static str) -> impl FnOnce(String) -> Self {
        move |message| OptionError { field, message }
    }
}

/// A store and, when routes take one, the pipe whose bytes the caller carries (see
/// [`super::pipe`]).
pub struct Opened {
    pub store: AnyStore,
    pub pipe: Option<Arc<Pipe>>,
}

/// How routes reach Redis.
pub enum Routes {
    /// Over the store's own connection.
    Direct,
    /// Through a [`Pipe`] when the connection allows one (not over TLS); the function is called
    /// when the pipe has output for the caller to write.
    Piped(Box<dyn Fn() + Send + Sync>),
}

/// The store `redis` names, with keys behind `key_prefix`; each request to Redis is bounded by
/// `timeout`.
pub fn open(redis: &Json, key_prefix: &str, limits: StoreLimits, timeout: Duration, routes: Routes) -> Result<Opened, OptionError> {
    if let Some(name) = redis.get("url").and_then(Json::as_str).and_then(memory_name) {
        if limits.durability.is_some() {
            return Err(OptionError { field: "durability", message: "needs a Redis primary with replicas: the in-process store has none".into() });
        }
        return Ok(Opened { store: AnyStore::Memory(MemoryStore::open(&name, key_prefix, limits)), pipe: None });
    }
    if let Some(target) = cluster_target(redis) {
        let target = target.map_err(OptionError::new("redis"))?;
        if limits.durability.is_some() {
            return Err(OptionError { field: "durability", message: "is not supported on a Redis Cluster yet: only on one server or through Sentinel".into() });
        }
        let keys = Keys::cluster(key_prefix).map_err(OptionError::new("keyPrefix"))?;
        let store = target.store(keys, limits, timeout).map_err(OptionError::new("redis"))?;
        return Ok(Opened { store: AnyStore::Redis(store), pipe: None });
    }
    if let Some(target) = sentinel_target(redis) {
        let target = target.map_err(OptionError::new("redis"))?;
        let pipe = match routes {
            // Over TLS, routes take the store's own connection, as on one server.
            Routes::Piped(on_output) if target.node_tls.is_none() => Some(Arc::new(Pipe::logging_in(None, &target.node, on_output))),
            _ => None,
        };
        let store = RedisStore::sentinel(target, Keys::new(key_prefix), limits, timeout, pipe.clone()).map_err(OptionError::new("redis"))?;
        return Ok(Opened { store: AnyStore::Redis(store), pipe });
    }
    let info = connection_info(redis).map_err(OptionError::new("redis"))?;
    let pipe = match routes {
        Routes::Direct => None,
        Routes::Piped(on_output) => Pipe::new(&info, on_output).map(Arc::new),
    };
    let ca = redis.pointer("/tls/ca").and_then(Json::as_str);
    let store = RedisStore::new(info, ca, Keys::new(key_prefix), limits, timeout, pipe.clone()).map_err(OptionError::new("redis"))?;
    Ok(Opened { store: AnyStore::Redis(store), pipe })
}
