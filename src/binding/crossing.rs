//! The values that cross between JavaScript and the engine: the flags and names index.js reads,
//! the objects calls take and return, and errors (a JS `Error` with the variant's `code`).

use crate::engine::error::RouterError;
use crate::engine::events::EventKind;
use crate::engine::model::{Message, Priority};
use crate::engine::{ActiveSession, BatchItem, RouteOutcome};
use napi::bindgen_prelude::{AsyncBlock, AsyncBlockBuilder, JsObjectValue, JsValue};
use napi::Env;
use napi_derive::napi;
use std::future::Future;

/// What a JS-thread call leaves for JS to do, as bits of its return value (index.js reads them
/// from here).
#[napi]
pub const EVENTS: u32 = 1; // events wait in `takeEvents`
#[napi]
pub const OUTPUT: u32 = 2; // routes wait for `dispatch`, or bytes in `takeOutput` for the Redis socket
#[napi]
pub const RESET: u32 = 4; // the Redis socket is unusable: close it (its requests already failed)
#[napi]
pub const RESULTS: u32 = 8; // results of routing calls wait in `takeCompletions`
#[napi]
pub const AWAITING: u32 = 16; // requests on the Redis socket wait for replies

/// The route script's source exactly as the store loads it on one server, for the benchmarks
/// (bench/) that run it alone.
#[napi]
pub fn route_script_source() -> &'static str {
    crate::store::redis::route_source()
}

/// The name of every event the router emits (`message.routed`…), in the order of their bits.
#[napi]
pub fn event_names() -> Vec<&'static str> {
    EventKind::ALL.iter().map(|kind| kind.name()).collect()
}

/// A router error as the JS error lib/errors.js maps to its class: an `Error` with the
/// variant's `code` ([`RouterError::code`]) and, for an invalid argument, its `field`.
pub(super) fn js_error(env: &Env, error: &RouterError) -> napi::Error {
    let build = || -> napi::Result<napi::Error> {
        let mut object = env.create_error(napi::Error::from_reason(error.to_string()))?;
        object.set_named_property("code", error.code())?;
        if let Some(field) = error.field() {
            object.set_named_property("field", field)?;
        }
        Ok(napi::Error::from(object.to_unknown()))
    };
    build().unwrap_or_else(|failure| failure)
}

/// Every code [`js_error`] gives an error, for lib/errors.js's table (checked against it by a test).
#[napi]
pub fn error_codes() -> Vec<&'static str> {
    RouterError::CODES.to_vec()
}

/// A router error as `{ code, field?, message }`, as routing calls' results carry it.
pub(super) fn error_json(error: &RouterError) -> serde_json::Value {
    serde_json::json!({ "code": error.code(), "field": error.field(), "message": error.to_string() })
}

/// `future` as a promise, run on the shared runtime; its error rejects the promise as
/// [`js_error`] (built on the JS thread, where the promise settles).
pub(super) fn js_promise<T, F>(env: &Env, future: F) -> napi::Result<AsyncBlock<T>>
where
    T: napi::bindgen_prelude::ToNapiValue + Send + 'static,
    F: Future<Output = Result<T, RouterError>> + Send + 'static,
{
    AsyncBlockBuilder::build_with_map(env, async move { Ok(future.await) }, |env, result| result.map_err(|error| js_error(&env, &error)))
}

/// A session; dates in ms since the epoch (NaN when unreadable).
#[napi(object)]
pub struct SessionResult {
    pub session_id: String,
    pub daemon_id: String,
    pub status: String,
    pub last_active_at: f64,
    pub created_at: f64,
}

pub(super) fn session_result(s: ActiveSession) -> SessionResult {
    SessionResult {
        session_id: s.session_id,
        daemon_id: s.daemon_id,
        status: s.status,
        last_active_at: s.last_active_at_ms.map_or(f64::NAN, |t| t as f64),
        created_at: s.created_at_ms.map_or(f64::NAN, |t| t as f64),
    }
}

/// `processQueuedMessages`'s result; `deferred` is `{ reason, error? }` when set.
#[napi(object)]
pub struct DrainResult {
    pub processed: f64,
    pub failed: f64,
    pub remaining: f64,
    pub deferred: Option<serde_json::Value>,
}

/// A dead letter; dates as ISO-8601 strings (`deadLetteredAt` in ms, NaN when unreadable).
#[napi(object)]
pub struct DeadLetterResult {
    pub message_id: String,
    pub channel_id: String,
    pub author_id: Option<String>,
    pub content: String,
    pub created_at: Option<String>,
    pub queued_at: String,
    pub attempts: u32,
    pub last_error: String,
    pub dead_lettered_at: f64,
}

/// `routeMessage`'s result object.
pub(super) fn route_json(outcome: RouteOutcome) -> RouteResult {
    RouteResult {
        success: outcome.success,
        status: outcome.status.as_str(),
        session_id: outcome.session_id,
        error: outcome.error,
        attempts: outcome.attempts,
        durable: outcome.durable,
        daemon_id: outcome.daemon_id,
    }
}

/// `routeMessage`'s result object, as it crosses to JS (JSON).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RouteResult {
    success: bool,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    durable: Option<bool>,
    /// Only for a traced message delivered: taken off by the JS layer (the span's destination).
    #[serde(skip_serializing_if = "Option::is_none")]
    daemon_id: Option<String>,
}

/// A message from the flat values `messageArgs` (lib/arguments.js) checked; `priority` is a
/// [`Priority::value`] (JS refuses any other).
pub(super) fn message(
    id: String,
    channel_id: String,
    author_id: Option<String>,
    content: String,
    created_at: f64,
    priority: u32,
    traceparent: Option<String>,
) -> Message {
    let priority = Priority::from_value(priority).unwrap_or_default();
    Message { id, channel_id, author_id, content, created_at_ms: created_at as i64, priority, traceparent }
}

/// The messages of `routeMany`, as lib/arguments.js checked them, one column per field (the
/// `i`-th message is the `i`-th entry of each). Columns rather than one object per message: reading
/// eight named properties of each of 1,000 objects made batches of 1,000 route 12 % slower (8
/// alternating runs of 100 batches each, medians: 40,400 messages/s with an object per message,
/// 46,100 with columns; /tmp harness, see the issue 15 note).
#[napi(object)]
pub struct BatchColumns {
    pub orchestrator_ids: Vec<String>,
    pub ids: Vec<String>,
    pub channel_ids: Vec<String>,
    pub author_ids: Vec<Option<String>>,
    pub contents: Vec<String>,
    pub created_ats: Vec<f64>,
    /// Each a [`Priority::value`].
    pub priorities: Vec<u32>,
    /// The presence service says the orchestrator is offline: queue without looking for a session.
    pub presence_offline: Vec<bool>,
    /// Each message's producer span as a W3C `traceparent`, when a tracer provider is registered
    /// (the column is absent otherwise).
    pub traceparents: Option<Vec<Option<String>>>,
}

impl BatchColumns {
    /// The messages, in order; `None` when the columns are not all as long as the first.
    pub(super) fn into_items(self) -> Option<Vec<BatchItem>> {
        let n = self.orchestrator_ids.len();
        let lengths = [
            self.ids.len(),
            self.channel_ids.len(),
            self.author_ids.len(),
            self.contents.len(),
            self.created_ats.len(),
            self.priorities.len(),
            self.presence_offline.len(),
            self.traceparents.as_ref().map_or(n, Vec::len),
        ];
        if lengths.iter().any(|&len| len != n) {
            return None;
        }
        let mut traceparents = self.traceparents.map(Vec::into_iter);
        let mut ids = self.ids.into_iter();
        let mut channel_ids = self.channel_ids.into_iter();
        let mut author_ids = self.author_ids.into_iter();
        let mut contents = self.contents.into_iter();
        let mut created_ats = self.created_ats.into_iter();
        let mut priorities = self.priorities.into_iter();
        let mut presence_offline = self.presence_offline.into_iter();
        self.orchestrator_ids
            .into_iter()
            .map(|orchestrator_id| {
                let traceparent = traceparents.as_mut().and_then(Iterator::next).flatten();
                let message =
                    message(ids.next()?, channel_ids.next()?, author_ids.next()?, contents.next()?, created_ats.next()?, priorities.next()?, traceparent);
                Some(BatchItem { message, orchestrator_id, queue_only: presence_offline.next()? })
            })
            .collect()
    }
}
