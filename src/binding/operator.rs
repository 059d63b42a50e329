//! The operator's command-line tool: read-only looks at Redis through a store of its own
//! (`orchestrator-router inspect|stats`), and the dashboard's [`Observer`], which keeps one store
//! open across its reads and performs its actions.

use super::crossing::js_promise;
use crate::engine::config::RouterConfig;
use crate::engine::error::RouterError;
use crate::engine::inspect::Depth;
use crate::engine::model::key_id;
use crate::store::any::AnyStore;
use crate::store::open::{open, Routes};
use crate::store::Store;
use napi::bindgen_prelude::AsyncBlock;
use napi::Env;
use napi_derive::napi;
use std::sync::Arc;
use std::time::Duration;

/// A store for the operator's command-line tool: its own connection, no routing pipe, nothing
/// running in the background; every read gives up after `timeout_ms`.
fn operator_store(redis_json: &str, key_prefix: &str, timeout_ms: u32) -> Result<AnyStore, RouterError> {
    let redis: serde_json::Value = serde_json::from_str(redis_json).map_err(|e| RouterError::invalid("redis", e.to_string()))?;
    let limits = RouterConfig::default().store_limits();
    let timeout = Duration::from_millis(u64::from(timeout_ms.max(1)));
    match open(&redis, key_prefix, limits, timeout, Routes::Direct)?.store {
        AnyStore::Memory(_) => Err(RouterError::invalid("redis", "names an in-process store (memory://), which only its own process can read")),
        store => Ok(store),
    }
}

/// One orchestrator as the operator's `inspect` shows it, as JSON (read-only).
#[napi(ts_return_type = "Promise<string>")]
pub fn inspect_orchestrator(env: &Env, redis_json: String, key_prefix: String, orchestrator_id: String, timeout_ms: u32) -> napi::Result<AsyncBlock<String>> {
    js_promise(env, async move {
        let store = operator_store(&redis_json, &key_prefix, timeout_ms)?;
        let inspection = crate::engine::inspect::inspect(&store, &orchestrator_id, crate::engine::time::now_ms()).await;
        store.close();
        Ok(serde_json::to_string(&inspection?).expect("inspections serialise"))
    })
}

/// Every orchestrator with a queue, deepest first, as the operator's `stats` shows them, as JSON
/// (read-only).
#[napi(ts_return_type = "Promise<string>")]
pub fn queue_stats(env: &Env, redis_json: String, key_prefix: String, timeout_ms: u32) -> napi::Result<AsyncBlock<String>> {
    js_promise(env, async move {
        let store = operator_store(&redis_json, &key_prefix, timeout_ms)?;
        let rows = crate::engine::inspect::stats(&store, crate::engine::time::now_ms()).await;
        store.close();
        Ok(serde_json::to_string(&rows?).expect("stats serialise"))
    })
}

/// What the dashboard (`orchestrator-router dashboard`) reads and changes: one store kept open
/// across its reads (its own connection, no routing pipe, nothing running in the background;
/// every request gives up after `timeoutMs`).
#[napi]
pub struct Observer {
    store: Arc<AnyStore>,
}

#[napi]
impl Observer {
    /// Opens the store `redisJson` names (as the router's `redis` option), keys behind `keyPrefix`.
    #[napi(constructor)]
    pub fn new(env: Env, redis_json: String, key_prefix: String, timeout_ms: u32) -> napi::Result<Self> {
        let store = operator_store(&redis_json, &key_prefix, timeout_ms).map_err(|error| super::crossing::js_error(&env, &error))?;
        Ok(Observer { store: Arc::new(store) })
    }

    /// Every orchestrator the store holds anything of, deepest queue first, as JSON.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn overview(&self, env: &Env) -> napi::Result<AsyncBlock<String>> {
        let store = self.store.clone();
        js_promise(env, async move {
            let overview = crate::engine::inspect::overview(&*store, crate::engine::time::now_ms()).await?;
            Ok(serde_json::to_string(&overview).expect("overviews serialise"))
        })
    }

    /// One orchestrator as `orchestrator-router inspect` shows it, as JSON.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn inspect(&self, env: &Env, orchestrator_id: String) -> napi::Result<AsyncBlock<String>> {
        let store = self.store.clone();
        js_promise(env, async move {
            let inspection = crate::engine::inspect::inspect(&*store, &orchestrator_id, crate::engine::time::now_ms()).await?;
            Ok(serde_json::to_string(&inspection).expect("inspections serialise"))
        })
    }

    /// Puts the orchestrator's dead letters back at the head of its queue in one step (each kept
    /// `queueTtlMs` from now), due at once for the routers to drain; resolves how many.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn requeue_dead_letters(&self, env: &Env, orchestrator_id: String, queue_ttl_ms: f64) -> napi::Result<AsyncBlock<f64>> {
        let store = self.store.clone();
        js_promise(env, async move {
            key_id(&*store, "orchestratorId", &orchestrator_id)?;
            let moved = crate::engine::requeue_dead_letters(&*store, &orchestrator_id, queue_ttl_ms as i64, None).await?;
            Ok(moved as f64)
        })
    }

    /// Deletes every level of the orchestrator's queue in one step; resolves how many messages
    /// each held, as JSON `{ high, normal, low, total }`.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn drop_queue(&self, env: &Env, orchestrator_id: String) -> napi::Result<AsyncBlock<String>> {
        let store = self.store.clone();
        js_promise(env, async move {
            key_id(&*store, "orchestratorId", &orchestrator_id)?;
            let dropped = Depth::of(store.drop_queue(&orchestrator_id, crate::engine::time::now_ms()).await?);
            Ok(serde_json::to_string(&dropped).expect("depths serialise"))
        })
    }

    /// Releases the connection; later calls fail.
    #[napi]
    pub fn close(&self) {
        self.store.close();
    }
}
