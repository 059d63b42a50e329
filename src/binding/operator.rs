//! The operator's command-line tool (`orchestrator-router inspect|stats`): read-only looks at
//! Redis through a store of its own.

use super::crossing::js_promise;
use crate::engine::config::RouterConfig;
use crate::engine::error::RouterError;
use crate::store::any::AnyStore;
use crate::store::open::{open, Routes};
use crate::store::Store;
use napi::bindgen_prelude::AsyncBlock;
use napi::Env;
use napi_derive::napi;
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
