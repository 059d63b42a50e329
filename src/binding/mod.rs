//! The N-API binding: converts between JavaScript values and the engine's types, and carries
//! events and message-service calls across threads. No routing logic lives here.
//!
//! Routing calls (`route`, `routeMany`, `queue`) run on the JavaScript thread (`executor::Local`), and
//! their Redis round trips go through a [`Pipe`] whose bytes Node's own socket carries (index.js, [`socket`]):
//! a route then waits only for Redis, with no thread switch on the way out or back. Everything
//! else runs on the tokio runtime over the store's own connection.
//!
//! This file is the `NativeRouter` class: each method converts its arguments and hands them to
//! the engine. Beside it: [`crossing`] (the values that cross, errors included), [`sink`] (events
//! and results waiting for JS), [`executor`] (where work runs), [`host`] (the host's services),
//! [`socket`] (the routes' socket protocol) and [`operator`] (the command-line tool's reads).

mod crossing;
mod executor;
mod host;
mod operator;
mod sink;
mod socket;

use self::crossing::{
    js_error, message, route_json, session_result, js_promise, BatchColumns, DeadLetterResult, DrainResult, SessionResult, AWAITING, OUTPUT, RESET,
};
use self::executor::Local;
use self::host::{js_callback, JsMessageSource, JsPresenceSource};
use self::sink::JsSink;
use crate::engine::config::RouterConfig;
use crate::engine::error::RouterError;
use crate::engine::events::{EventKind, EventSink};
use crate::engine::{BatchItem, MessageSource, PresenceSource, Router, SessionInput};
use crate::store::any::AnyStore;
use crate::store::keys::{Key, Keys};
use crate::store::Priority;
use crate::store::open::{open, Routes};
use crate::store::pipe::Pipe;
use napi::bindgen_prelude::{AsyncBlock, Function, Promise};
use napi::Env;
use napi_derive::napi;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The most `routeMessage` calls of one tick routed as one batch: several batches in flight let
/// Redis run one while this thread settles another (256 in flight on a 2-core machine: about
/// 49,000 routes/s in batches of 8 or 16, 37,000 in batches of 32 or 64, 21,000 in one batch).
const TICK_CHUNK: usize = 16;

/// The native router behind the JS `OrchestratorRouter`.
#[napi]
pub struct NativeRouter {
    router: Arc<Router<AnyStore>>,
    sink: Arc<JsSink>,
    local: Arc<Local>,
    /// The connection routes take, carried by a Node socket; `None` for TLS, where routes take
    /// the store's own connection.
    pipe: Option<Arc<Pipe>>,
    /// `routeMessage` calls of this tick, routed together by `dispatch` (call ids and items).
    tick: Mutex<(Vec<u32>, Vec<BatchItem>)>,
    /// See `pipe_target`.
    silence_ms: u64,
    /// How the store names its keys: the destinations of traced messages' spans.
    keys: Keys,
}

#[napi]
impl NativeRouter {
    /// Builds a router from its JSON configuration; `onEvents` is called (with no arguments) when
    /// events are waiting in `takeEvents`.
    #[napi(constructor)]
    pub fn new(env: Env, config_json: String, on_events: Function<(), ()>) -> napi::Result<Self> {
        let fail = |error: RouterError| js_error(&env, &error);
        let json: serde_json::Value = serde_json::from_str(&config_json).map_err(|e| fail(RouterError::invalid("config", e.to_string())))?;
        let config = RouterConfig::from_json(&json).map_err(fail)?;
        let wake = on_events.build_threadsafe_function().weak::<true>().callee_handled::<false>().build()?;
        let sink = Arc::new(JsSink {
            js_thread: std::thread::current().id(),
            mask: AtomicU32::new(0),
            events: Mutex::new(String::new()),
            completions: Mutex::new(String::new()),
            wake: Mutex::new(Some(wake)),
        });
        // A live Redis answers within the delivery timeout; a socket silent for twice that (and at
        // least 5 s, so that a slow moment is not taken for a dead peer) is closed and reopened.
        let silence_ms = (config.delivery_timeout_ms * 2).max(5000);
        let waker = Arc::clone(&sink);
        let routes = Routes::Piped(Box::new(move || waker.wake_from_elsewhere()));
        let redis = json.get("redis").cloned().unwrap_or_default();
        let timeout = Duration::from_millis(config.delivery_timeout_ms);
        let opened = open(&redis, &config.key_prefix, config.store_limits(), timeout, routes).map_err(|e| fail(e.into()))?;
        let keys = match &opened.store {
            AnyStore::Redis(store) => store.keys().clone(),
            AnyStore::Memory(_) => Keys::new(&config.key_prefix),
        };
        let router = Router::new(opened.store, config, Arc::clone(&sink) as Arc<dyn EventSink>);
        let local = Arc::new(Local { sink: Arc::clone(&sink), ready: Mutex::new(VecDeque::new()) });
        Ok(NativeRouter { router, sink, local, pipe: opened.pipe, tick: Mutex::new((Vec::new(), Vec::new())), silence_ms, keys })
    }

    /// An orchestrator's queue of a priority level (its value: 3 high, 2 normal, 1 low), as the
    /// store names it: a queued message's span destination.
    #[napi]
    pub fn queue_key(&self, orchestrator_id: String, priority: u32) -> String {
        self.keys.key(Key::queue_of(Priority::from_value(priority).unwrap_or(Priority::Normal)), &orchestrator_id)
    }

    /// A daemon's event list, as the store names it: a delivered message's span destination.
    #[napi]
    pub fn daemon_list_key(&self, daemon_id: String) -> String {
        self.keys.daemon_events(&daemon_id)
    }

    /// `call`'s future as a promise, run on the shared runtime; its error rejects the promise as
    /// [`js_error`]. The future owns a clone of the router and never borrows `self`: a worker
    /// terminated mid-call frees its `NativeRouter` at teardown while the future may still be
    /// running on the runtime, which outlives every env.
    fn promise<T, F>(&self, env: &Env, call: impl FnOnce(Arc<Router<AnyStore>>) -> F) -> napi::Result<AsyncBlock<T>>
    where
        T: napi::bindgen_prelude::ToNapiValue + Send + 'static,
        F: Future<Output = Result<T, RouterError>> + Send + 'static,
    {
        js_promise(env, call(Arc::clone(&self.router)))
    }

    /// Runs what can make progress and tells JS what is left for it (`EVENTS | RESULTS | OUTPUT`,
    /// and `RESET` when the routes' socket must reconnect elsewhere).
    pub(super) fn run_ready(&self) -> u32 {
        self.local.run();
        let mut flags = self.sink.waiting();
        let routes_waiting = !self.tick.lock().unwrap_or_else(|e| e.into_inner()).0.is_empty();
        let (output, awaiting) = self.pipe.as_ref().map_or((false, false), |pipe| pipe.status());
        if routes_waiting || output {
            flags |= OUTPUT;
        }
        if awaiting {
            flags |= AWAITING;
        }
        if self.pipe.as_ref().is_some_and(|pipe| pipe.take_moved()) {
            flags |= RESET;
        }
        flags
    }

    /// Starts the `routeMessage` calls of this tick, in batches (JS calls this once per tick,
    /// before `takeOutput`); reports as `pump`.
    #[napi]
    pub fn dispatch(&self) -> u32 {
        self.start_tick();
        self.run_ready()
    }

    /// Starts the `routeMessage` calls waiting for this tick's dispatch: before any other routing
    /// call starts, so that calls reach Redis in the order they were made.
    fn start_tick(&self) {
        let (mut call_ids, mut items) = std::mem::take(&mut *self.tick.lock().unwrap_or_else(|e| e.into_inner()));
        // In call order: the batches' commands go out, and run, in the order they are started.
        while !call_ids.is_empty() {
            let n = TICK_CHUNK.min(call_ids.len());
            let (ids, batch): (Vec<u32>, Vec<BatchItem>) = (call_ids.drain(..n).collect(), items.drain(..n).collect());
            let (router, sink) = (Arc::clone(&self.router), Arc::clone(&self.sink));
            self.local.spawn(ids.clone(), async move {
                let outcomes = router.route_each(batch).await;
                for (call_id, outcome) in ids.into_iter().zip(outcomes) {
                    sink.complete(call_id, outcome.map(route_json));
                }
            });
        }
    }

    /// Routes a message (`presenceOffline` queues it without looking for a session) with the
    /// others of this tick, from `dispatch`; its result arrives in `takeCompletions` as call
    /// `callId`.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn route(
        &self,
        call_id: u32,
        orchestrator_id: String,
        id: String,
        channel_id: String,
        author_id: Option<String>,
        content: String,
        created_at: f64,
        priority: u32,
        presence_offline: bool,
        traceparent: Option<String>,
    ) -> u32 {
        let message = message(id, channel_id, author_id, content, created_at, priority, traceparent);
        let mut tick = self.tick.lock().unwrap_or_else(|e| e.into_inner());
        tick.0.push(call_id);
        tick.1.push(BatchItem { message, orchestrator_id, queue_only: presence_offline });
        drop(tick);
        let awaiting = self.pipe.as_ref().is_some_and(|pipe| pipe.status().1);
        OUTPUT | if awaiting { AWAITING } else { 0 }
    }

    /// Starts routing a batch (one crossing, one pipelined round); its
    /// results, in order, arrive in `takeCompletions` as call `callId`.
    #[napi]
    pub fn route_many(&self, call_id: u32, batch: BatchColumns) -> u32 {
        self.start_tick();
        let Some(items) = batch.into_items() else {
            let uneven = RouterError::Internal("routeMany got columns of different lengths".into());
            self.sink.complete::<()>(call_id, Err(uneven));
            return self.run_ready();
        };
        let (router, sink) = (Arc::clone(&self.router), Arc::clone(&self.sink));
        self.local.spawn(vec![call_id], async move {
            let outcomes = router.route_batch(items).await;
            sink.complete(call_id, outcomes.map(|list| list.into_iter().map(route_json).collect::<Vec<_>>()));
        });
        self.run_ready()
    }

    /// Takes the results of every finished routing call, as one JSON array of
    /// `[callId, result]` / `[callId, null, error]` (or null when none wait).
    #[napi]
    pub fn take_completions(&self) -> Option<String> {
        JsSink::take(&self.sink.completions)
    }

    /// Keeps the Node process alive while routing calls are in flight (`true`), or lets it exit.
    // napi-rs deprecates refer/unref in favour of counting clones, but what is wanted here is the
    // event-loop reference of one long-lived function, which only these set.
    #[napi]
    #[allow(deprecated)]
    pub fn hold(&self, env: Env, hold: bool) -> napi::Result<()> {
        if let Some(wake) = self.sink.wake.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            if hold {
                wake.refer(&env)?;
            } else {
                wake.unref(&env)?;
            }
        }
        Ok(())
    }

    /// Starts queueing a message for an offline orchestrator; the queue's length arrives in
    /// `takeCompletions` as call `callId`.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn queue(
        &self,
        call_id: u32,
        orchestrator_id: String,
        id: String,
        channel_id: String,
        author_id: Option<String>,
        content: String,
        created_at: f64,
        priority: u32,
        traceparent: Option<String>,
    ) -> u32 {
        self.start_tick();
        let (router, sink) = (Arc::clone(&self.router), Arc::clone(&self.sink));
        let message = message(id, channel_id, author_id, content, created_at, priority, traceparent);
        self.local.spawn(vec![call_id], async move {
            let queued = router.queue(message, &orchestrator_id).await;
            sink.complete(call_id, queued);
        });
        self.run_ready()
    }

    /// Stores a daemon session and drains the orchestrator's queue.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn register_session(
        &self,
        env: &Env,
        orchestrator_id: String,
        id: String,
        daemon_id: String,
        status: String,
        created_at: f64,
    ) -> napi::Result<AsyncBlock<()>> {
        let session = SessionInput { id, daemon_id, status, created_at_ms: created_at as i64 };
        self.promise(env, |router| async move { router.register_session(&orchestrator_id, session) .await })
    }

    /// Deletes one session of the orchestrator, or all of them.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn unregister_session(&self, env: &Env, orchestrator_id: String, session_id: Option<String>) -> napi::Result<AsyncBlock<()>> {
        self.promise(env, |router| async move { router.unregister_session(&orchestrator_id, session_id.as_deref()) .await })
    }

    /// The heartbeat of the primary session, or of the one named.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn touch_session(&self, env: &Env, orchestrator_id: String, session_id: Option<String>) -> napi::Result<AsyncBlock<()>> {
        self.promise(env, |router| async move { router.touch_session(&orchestrator_id, session_id.as_deref()) .await })
    }

    /// The orchestrator's active (primary) session, if any.
    #[napi(ts_return_type = "Promise<SessionResult | null>")]
    pub fn get_session(&self, env: &Env, orchestrator_id: String) -> napi::Result<AsyncBlock<Option<SessionResult>>> {
        self.promise(env, |router| async move {
            let session = router.active_session(&orchestrator_id).await?;
            Ok(session.map(session_result))
        })
    }

    /// The orchestrator's living sessions, the primary first.
    #[napi]
    pub fn get_sessions(&self, env: &Env, orchestrator_id: String) -> napi::Result<AsyncBlock<Vec<SessionResult>>> {
        self.promise(env, |router| async move {
            let sessions = router.sessions_of(&orchestrator_id).await?;
            Ok(sessions.into_iter().map(session_result).collect())
        })
    }

    /// Up to `max` events of the daemon's event list, oldest first, as a JSON array of event JSON.
    #[napi]
    pub fn read_daemon_events(&self, env: &Env, daemon_id: String, max: u32) -> napi::Result<AsyncBlock<Vec<String>>> {
        self.promise(env, |router| async move { router.read_daemon_events(&daemon_id, max as usize) .await })
    }

    /// Removes these events from the daemon's event list; how many went.
    #[napi]
    pub fn acknowledge_daemon_events(&self, env: &Env, daemon_id: String, event_ids: Vec<String>) -> napi::Result<AsyncBlock<f64>> {
        self.promise(env, |router| async move { router.acknowledge_daemon_events(&daemon_id, &event_ids).await.map(|n| n as f64) })
    }

    /// How many messages wait in the orchestrator's queue.
    #[napi]
    pub fn queue_depth(&self, env: &Env, orchestrator_id: String) -> napi::Result<AsyncBlock<f64>> {
        self.promise(env, |router| async move { router.queue_depth(&orchestrator_id).await.map(|n| n as f64) })
    }

    /// The router's counters and delivery-latency summary since it was created, as JSON.
    #[napi]
    pub fn metrics_json(&self) -> String {
        serde_json::to_string(&self.router.metrics().snapshot()).expect("metrics serialise")
    }

    /// The same in the Prometheus text exposition format.
    #[napi]
    pub fn metrics_text(&self) -> String {
        self.router.metrics().prometheus()
    }

    /// Drains the orchestrator's queue now.
    #[napi]
    pub fn process_queue(&self, env: &Env, orchestrator_id: String) -> napi::Result<AsyncBlock<DrainResult>> {
        self.promise(env, |router| async move {
            let summary = router.drain_now(&orchestrator_id).await?;
            Ok(DrainResult {
                processed: summary.processed as f64,
                failed: summary.dropped as f64,
                remaining: summary.remaining as f64,
                deferred: summary.deferred.map(|d| serde_json::to_value(d).expect("deferrals serialise")),
            })
        })
    }

    /// Ends the wait for these messages' receipts; resolves how many were waiting.
    #[napi]
    pub fn acknowledge(&self, env: &Env, orchestrator_id: String, message_ids: Vec<String>) -> napi::Result<AsyncBlock<f64>> {
        self.promise(env, |router| async move { router.acknowledge(&orchestrator_id, message_ids).await.map(|n| n as f64) })
    }

    /// The orchestrator's dead letters, oldest first.
    #[napi]
    pub fn dead_letters(&self, env: &Env, orchestrator_id: String) -> napi::Result<AsyncBlock<Vec<DeadLetterResult>>> {
        self.promise(env, |router| async move {
            let letters = router.dead_letters(&orchestrator_id).await?;
            Ok(letters
                .into_iter()
                .map(|letter| DeadLetterResult {
                    message_id: letter.item.message_id,
                    channel_id: letter.item.channel_id,
                    author_id: letter.item.author_id,
                    content: letter.item.content,
                    created_at: letter.item.created_at,
                    queued_at: letter.item.queued_at,
                    attempts: letter.attempts,
                    last_error: letter.last_error,
                    dead_lettered_at: letter.dead_lettered_at_ms.map_or(f64::NAN, |t| t as f64),
                })
                .collect())
        })
    }

    /// Puts the dead letters back at the head of the queue; resolves how many.
    #[napi]
    pub fn requeue_dead_letters(&self, env: &Env, orchestrator_id: String) -> napi::Result<AsyncBlock<f64>> {
        self.promise(env, |router| async move { router.requeue_dead_letters(&orchestrator_id).await.map(|n| n as f64) })
    }

    /// Turns delivery of one event kind to JS on or off.
    #[napi]
    pub fn set_listening(&self, event: String, listening: bool) {
        if let Some(kind) = EventKind::from_name(&event) {
            if listening {
                self.sink.mask.fetch_or(kind.bit(), Ordering::Relaxed);
            } else {
                self.sink.mask.fetch_and(!kind.bit(), Ordering::Relaxed);
            }
        }
    }

    /// Takes every waiting event, as one JSON array (or null when none wait).
    #[napi]
    pub fn take_events(&self) -> Option<String> {
        JsSink::take(&self.sink.events)
    }

    /// Sets (or, with null, clears) the message-service function drains re-read messages through.
    #[napi]
    pub fn set_message_source(&self, fetch: Option<Function<String, Promise<String>>>) -> napi::Result<()> {
        let source = fetch.map(js_callback).transpose()?.map(|f| Arc::new(JsMessageSource(f)) as Arc<dyn MessageSource>);
        self.router.set_message_source(source);
        Ok(())
    }

    /// Sets (or, with null, clears) the presence function a drain asks before delivering.
    #[napi]
    pub fn set_presence_source(&self, online: Option<Function<String, Promise<bool>>>) -> napi::Result<()> {
        let source = online.map(js_callback).transpose()?.map(|f| Arc::new(JsPresenceSource(f)) as Arc<dyn PresenceSource>);
        self.router.set_presence_source(source);
        Ok(())
    }

    /// Stops background work and releases the Redis connections and the host's services; the
    /// calls waiting on Redis settle (reported as `pump`).
    #[napi]
    pub fn close(&self) -> u32 {
        self.router.close();
        self.router.set_message_source(None);
        self.router.set_presence_source(None);
        self.run_ready()
    }

    /// Releases the wake-up function, the last native handle (after the calls in flight settled).
    #[napi]
    pub fn release(&self) {
        self.sink.wake.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}
