//! The N-API binding: converts between JavaScript values and the engine's types, and carries
//! events and message-service calls across threads. No routing logic lives here.
//!
//! Routing calls (`route`, `routeMany`, `queue`) run on the JavaScript thread ([`Local`]), and
//! their Redis round trips go through a [`Pipe`] whose bytes Node's own socket carries (index.js):
//! a route then waits only for Redis, with no thread switch on the way out or back. Everything
//! else runs on the tokio runtime over the store's own connection.

use crate::engine::config::RouterConfig;
use crate::engine::error::RouterError;
use crate::engine::events::{EventKind, EventSink, Stamped};
use crate::engine::model::{Message, Priority};
use crate::engine::{ActiveSession, BatchItem, MessageSource, MessageUpdate, PresenceSource, RouteOutcome, Router, SessionInput};
use crate::store::any::AnyStore;
use crate::store::open::{open, Routes};
use crate::store::pipe::Pipe;
use crate::store::Store;
use async_task::Runnable;
use napi::bindgen_prelude::{AsyncBlock, AsyncBlockBuilder, BufferSlice, Function, JsObjectValue, JsValue, Promise};
use napi::Env;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;
use serde::Deserialize;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::Duration;

/// The process's one tokio runtime: `#[napi] async fn`s and background work run on it (see
/// `SharedRuntime`), and routing calls enter it on the JS thread for timers and the drains they
/// start. Built once and never shut down or dropped, because every Node environment (the main
/// thread and each worker) shares it, and any of them may be the first to load or the last to go.
static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

fn runtime() -> &'static tokio::runtime::Runtime {
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("the tokio runtime starts")
    })
}

/// The most `routeMessage` calls of one tick routed as one batch: several batches in flight let
/// Redis run one while this thread settles another (256 in flight on a 2-core machine: about
/// 49,000 routes/s in batches of 8 or 16, 37,000 in batches of 32 or 64, 21,000 in one batch).
const TICK_CHUNK: usize = 16;

/// What a JS-thread call leaves for JS to do, as bits of its return value.
const EVENTS: u32 = 1; // events wait in `takeEvents`
const OUTPUT: u32 = 2; // routes wait for `dispatch`, or bytes in `takeOutput` for the Redis socket
const RESET: u32 = 4; // the Redis socket is unusable: close it (its requests already failed)
const RESULTS: u32 = 8; // results of routing calls wait in `takeCompletions`
const AWAITING: u32 = 16; // requests on the Redis socket wait for replies

/// A JS function called from any thread, never keeping the process alive, whose throw is the
/// caller's to handle.
type JsCallback<Args, Return> = ThreadsafeFunction<Args, Return, Args, Status, false, true>;

/// Makes a host's function (message look-up, presence) a [`JsCallback`].
fn js_callback<Args, Return>(function: Function<'_, Args, Return>) -> napi::Result<Arc<JsCallback<Args, Return>>>
where
    Args: napi::bindgen_prelude::JsValuesTupleIntoVec + 'static,
    Return: napi::bindgen_prelude::FromNapiValue + 'static,
{
    Ok(Arc::new(function.build_threadsafe_function().weak::<true>().callee_handled::<false>().build()?))
}

/// A router error as the JS error lib/errors.js maps to its class: an `Error` with the
/// variant's `code` ([`RouterError::code`]) and, for an invalid argument, its `field`.
fn js_error(env: &Env, error: &RouterError) -> napi::Error {
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
fn error_json(error: &RouterError) -> serde_json::Value {
    serde_json::json!({ "code": error.code(), "field": error.field(), "message": error.to_string() })
}

/// What waits for JS — events (serialised only when someone listens) and the results of routing
/// calls — handed over in batches: one wake-up of the JS thread takes everything waiting.
struct JsSink {
    /// The thread JS runs on: what is posted there is taken when the call that posted it returns.
    js_thread: ThreadId,
    mask: AtomicU32,
    events: Mutex<String>,
    completions: Mutex<String>,
    /// Released by `close()`, so that no native handle outlives the router.
    wake: Mutex<Option<JsCallback<(), ()>>>,
}

impl JsSink {
    /// Appends a JSON value to a batch, waking JS when the batch was empty (from another thread:
    /// on the JS thread, the call running returns `EVENTS` or `RESULTS`).
    fn post(&self, batch: &Mutex<String>, json: &str) {
        let mut waiting = batch.lock().unwrap_or_else(|e| e.into_inner());
        let first = waiting.is_empty();
        if !first {
            waiting.push(',');
        }
        waiting.push_str(json);
        drop(waiting);
        if first {
            self.wake_from_elsewhere();
        }
    }

    /// Asks JS to call `pump`, unless this is the JS thread (whose running call reports instead).
    fn wake_from_elsewhere(&self) {
        if std::thread::current().id() == self.js_thread {
            return;
        }
        if let Some(wake) = self.wake.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            wake.call((), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }

    /// `EVENTS | RESULTS`, as far as they wait.
    fn waiting(&self) -> u32 {
        let waiting = |batch: &Mutex<String>| !batch.lock().unwrap_or_else(|e| e.into_inner()).is_empty();
        (if waiting(&self.events) { EVENTS } else { 0 }) | (if waiting(&self.completions) { RESULTS } else { 0 })
    }

    /// Takes a whole batch as one JSON array, or `None` when it is empty.
    fn take(batch: &Mutex<String>) -> Option<String> {
        let mut waiting = batch.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.is_empty() {
            return None;
        }
        let taken = format!("[{waiting}]");
        waiting.clear();
        Some(taken)
    }

    /// Hands JS the result of call `call_id`: `[id, value]`, or `[id, null, error]`.
    fn complete<T: serde::Serialize>(&self, call_id: u32, result: Result<T, RouterError>) {
        let mut json = format!("[{call_id},");
        match result {
            Ok(value) => json.push_str(&serde_json::to_string(&value).expect("results serialise")),
            Err(error) => {
                json.push_str("null,");
                json.push_str(&error_json(&error).to_string());
            }
        }
        json.push(']');
        self.post(&self.completions, &json);
    }
}

impl EventSink for JsSink {
    fn wants(&self, kind: EventKind) -> bool {
        self.mask.load(Ordering::Relaxed) & kind.bit() != 0
    }

    fn emit(&self, event: Stamped) {
        self.post(&self.events, &serde_json::to_string(&event).expect("events serialise"));
    }
}

/// Runs routing calls on the JavaScript thread. A call is polled when it starts and again each
/// time it is woken: by a Redis reply arriving through `feed` (on the JS thread, so it runs before
/// `feed` returns), or by a timer or the store's own connection (on another thread, which then
/// wakes JS to call `pump`).
struct Local {
    sink: Arc<JsSink>,
    ready: Mutex<VecDeque<Runnable>>,
}

impl Local {
    /// Runs the routing calls `call_ids` as `future`. A panic inside it fails those calls instead
    /// of unwinding into Node (which would abort the process).
    fn spawn(self: &Arc<Self>, call_ids: Vec<u32>, future: impl Future<Output = ()> + Send + 'static) {
        let local = Arc::clone(self);
        let sink = Arc::clone(&self.sink);
        let guarded = async move {
            if let Err(panic) = Guarded(Box::pin(future)).await {
                for call_id in call_ids {
                    sink.complete::<()>(call_id, Err(RouterError::Internal(panic.clone())));
                }
            }
        };
        let (runnable, task) = async_task::spawn(guarded, move |runnable| local.schedule(runnable));
        task.detach();
        runnable.schedule();
    }

    fn schedule(&self, runnable: Runnable) {
        self.ready.lock().unwrap_or_else(|e| e.into_inner()).push_back(runnable);
        self.sink.wake_from_elsewhere();
    }

    /// Polls every call that can make progress (on the JS thread).
    fn run(&self) {
        let _runtime = runtime().enter();
        loop {
            let next = self.ready.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
            match next {
                Some(runnable) => {
                    runnable.run();
                }
                None => return,
            }
        }
    }
}

/// A future whose panic ends it with `Err(message)`.
struct Guarded(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>);

impl Future for Guarded {
    type Output = Result<(), String>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(poll) => poll.map(Ok),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                std::task::Poll::Ready(Err(message))
            }
        }
    }
}

/// The message service, reached through a JS function `(idsJson) => Promise<json>`.
struct JsMessageSource(Arc<JsCallback<String, Promise<String>>>);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsMessage {
    content: String,
    channel_id: Option<String>,
    author_id: Option<String>,
    created_at: Option<f64>,
}

impl MessageSource for JsMessageSource {
    fn fetch(&self, message_ids: Vec<String>) -> crate::engine::FetchFuture {
        let callback = Arc::clone(&self.0);
        Box::pin(async move {
            let ids = serde_json::to_string(&message_ids).map_err(|e| e.to_string())?;
            let promise = callback.call_async_catch(ids).await.map_err(|e| e.reason.clone())?;
            let json = promise.await.map_err(|e| e.reason.clone())?;
            let messages: Vec<Option<JsMessage>> =
                serde_json::from_str(&json).map_err(|e| format!("returned an unreadable message list: {e}"))?;
            Ok(messages
                .into_iter()
                .map(|m| {
                    m.map(|m| MessageUpdate {
                        content: m.content,
                        channel_id: m.channel_id,
                        author_id: m.author_id,
                        created_at_ms: m.created_at.filter(|t| t.is_finite()).map(|t| t as i64),
                    })
                })
                .collect())
        })
    }
}

/// The presence service, reached through a JS function `(orchestratorId) => Promise<boolean>`
/// (whether it says ONLINE).
struct JsPresenceSource(Arc<JsCallback<String, Promise<bool>>>);

impl PresenceSource for JsPresenceSource {
    fn online(&self, orchestrator_id: String) -> crate::engine::PresenceFuture {
        let callback = Arc::clone(&self.0);
        Box::pin(async move {
            let promise = callback.call_async_catch(orchestrator_id).await.map_err(|e| e.reason.clone())?;
            promise.await.map_err(|e| e.reason.clone())
        })
    }
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

fn session_result(s: ActiveSession) -> SessionResult {
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
}

/// `routeMessage`'s result object.
fn route_json(outcome: RouteOutcome) -> RouteResult {
    RouteResult {
        success: outcome.success,
        status: outcome.status.as_str(),
        session_id: outcome.session_id,
        error: outcome.error,
        attempts: outcome.attempts,
    }
}

/// `routeMessage`'s result object, as it crosses to JS (JSON).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct RouteResult {
    success: bool,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    attempts: u32,
}

/// A message from the flat values `messageArgs` (lib/arguments.js) checked; `priority` is a
/// [`Priority::value`] (JS refuses any other).
fn message(id: String, channel_id: String, author_id: Option<String>, content: String, created_at: f64, priority: u32) -> Message {
    let priority = Priority::from_value(priority).unwrap_or_default();
    Message { id, channel_id, author_id, content, created_at_ms: created_at as i64, priority }
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
        let router = Router::new(opened.store, config, Arc::clone(&sink) as Arc<dyn EventSink>);
        let local = Arc::new(Local { sink: Arc::clone(&sink), ready: Mutex::new(VecDeque::new()) });
        Ok(NativeRouter { router, sink, local, pipe: opened.pipe, tick: Mutex::new((Vec::new(), Vec::new())), silence_ms })
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
        settled(env, call(Arc::clone(&self.router)))
    }

    /// Runs what can make progress and tells JS what is left for it (`EVENTS | RESULTS | OUTPUT`).
    fn settle(&self) -> u32 {
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
        flags
    }

    /// Starts the `routeMessage` calls of this tick, in batches (JS calls this once per tick,
    /// before `takeOutput`); reports as `pump`.
    #[napi]
    pub fn dispatch(&self) -> u32 {
        self.start_tick();
        self.settle()
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

    /// Where the routes' Redis socket connects, as JSON `{ host, port }` or `{ path }`, with
    /// `silenceMs`: how long the socket may stay silent while requests wait for replies before it
    /// is taken for dead. Null when routes take the store's own connection (TLS).
    #[napi]
    pub fn pipe_target(&self) -> Option<String> {
        let pipe = self.pipe.as_ref()?;
        let mut target = serde_json::to_value(pipe.target()).expect("targets serialise");
        target["silenceMs"] = self.silence_ms.into();
        Some(target.to_string())
    }

    /// A new socket opens: the connection's opening commands (AUTH, SELECT) go out first, and
    /// the rest once they succeeded. Runs nothing: what is waiting is written as it was queued.
    #[napi]
    pub fn pipe_opened(&self) {
        if let Some(pipe) = &self.pipe {
            pipe.opened();
        }
    }

    /// Takes the bytes waiting to be written to the socket (null when none).
    #[napi]
    pub fn take_output<'env>(&self, env: &'env Env) -> napi::Result<Option<BufferSlice<'env>>> {
        let Some(pipe) = &self.pipe else { return Ok(None) };
        let bytes = pipe.take_output();
        // A copy: for the kilobytes of one tick's commands, cheaper than an external buffer's
        // finalizer.
        if bytes.is_empty() { Ok(None) } else { BufferSlice::copy_from(env, bytes).map(Some) }
    }

    /// Bytes read from the socket: settles the requests they answer and runs their calls on.
    #[napi]
    pub fn feed(&self, chunk: &[u8]) -> u32 {
        let Some(pipe) = &self.pipe else { return 0 };
        match pipe.feed(chunk) {
            Ok(()) => self.settle(),
            Err(reason) => {
                pipe.closed(&reason);
                self.settle() | RESET
            }
        }
    }

    /// The socket closed (or never opened): the requests waiting on it fail with `reason`.
    #[napi]
    pub fn pipe_closed(&self, reason: String) -> u32 {
        if let Some(pipe) = &self.pipe {
            pipe.closed(&reason);
        }
        self.settle()
    }

    /// Runs the calls another thread woke (a timer, the store's connection) and reports as `feed`.
    #[napi]
    pub fn pump(&self) -> u32 {
        self.settle()
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
    ) -> u32 {
        let message = message(id, channel_id, author_id, content, created_at, priority);
        let mut tick = self.tick.lock().unwrap_or_else(|e| e.into_inner());
        tick.0.push(call_id);
        tick.1.push(BatchItem { message, orchestrator_id, queue_only: presence_offline });
        drop(tick);
        let awaiting = self.pipe.as_ref().is_some_and(|pipe| pipe.status().1);
        OUTPUT | if awaiting { AWAITING } else { 0 }
    }

    /// Starts routing a batch given as parallel arrays (one crossing, one pipelined round); its
    /// results, in order, arrive in `takeCompletions` as call `callId`.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn route_many(
        &self,
        call_id: u32,
        orchestrator_ids: Vec<String>,
        ids: Vec<String>,
        channel_ids: Vec<String>,
        author_ids: Vec<Option<String>>,
        contents: Vec<String>,
        created_ats: Vec<f64>,
        priorities: Vec<u32>,
        presence_offline: Vec<bool>,
    ) -> u32 {
        let items: Vec<BatchItem> = orchestrator_ids
            .into_iter()
            .zip(ids)
            .zip(channel_ids)
            .zip(author_ids)
            .zip(contents)
            .zip(created_ats)
            .zip(priorities)
            .zip(presence_offline)
            .map(|(((((((orchestrator_id, id), channel_id), author_id), content), created_at), priority), queue_only)| BatchItem {
                message: message(id, channel_id, author_id, content, created_at, priority),
                orchestrator_id,
                queue_only,
            })
            .collect();
        self.start_tick();
        let (router, sink) = (Arc::clone(&self.router), Arc::clone(&self.sink));
        self.local.spawn(vec![call_id], async move {
            let outcomes = router.route_batch(items).await;
            sink.complete(call_id, outcomes.map(|list| list.into_iter().map(route_json).collect::<Vec<_>>()));
        });
        self.settle()
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
    ) -> u32 {
        self.start_tick();
        let (router, sink) = (Arc::clone(&self.router), Arc::clone(&self.sink));
        let message = message(id, channel_id, author_id, content, created_at, priority);
        self.local.spawn(vec![call_id], async move {
            let queued = router.queue(message, &orchestrator_id).await;
            sink.complete(call_id, queued);
        });
        self.settle()
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
            let summary = router.process_queue(&orchestrator_id).await?;
            Ok(DrainResult {
                processed: summary.processed as f64,
                failed: summary.failed as f64,
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
        self.settle()
    }

    /// Releases the wake-up function, the last native handle (after the calls in flight settled).
    #[napi]
    pub fn release(&self) {
        self.sink.wake.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

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
    settled(env, async move {
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
    settled(env, async move {
        let store = operator_store(&redis_json, &key_prefix, timeout_ms)?;
        let rows = crate::engine::inspect::stats(&store, crate::engine::time::now_ms()).await;
        store.close();
        Ok(serde_json::to_string(&rows?).expect("stats serialise"))
    })
}

/// `future` as a promise, run on the shared runtime; its error rejects the promise as
/// [`js_error`] (built on the JS thread, where the promise settles).
fn settled<T, F>(env: &Env, future: F) -> napi::Result<AsyncBlock<T>>
where
    T: napi::bindgen_prelude::ToNapiValue + Send + 'static,
    F: Future<Output = Result<T, RouterError>> + Send + 'static,
{
    AsyncBlockBuilder::build_with_map(env, async move { Ok(future.await) }, |env, result| result.map_err(|error| js_error(&env, &error)))
}

/// Runs the work that is not a routing call (drains, sessions, receipts, the background look) and
/// every timer on one tokio worker thread: a future and the Redis connection's driver then wake
/// each other on one thread instead of across two (when routes ran there too, this measured one
/// call in flight p50 about 190 µs instead of 213 µs on a 2-core machine).
///
/// napi's own tokio runtime (`create_custom_tokio_runtime`) is not used: napi shuts it down when
/// the last live environment goes (a worker that loaded first and exited) and then builds a
/// default one, while handles to the first stayed in use. This backend hands napi the shared
/// runtime instead, and ignores napi's shutdown.
struct SharedRuntime;

struct Entered(#[allow(dead_code)] tokio::runtime::EnterGuard<'static>);
impl napi::bindgen_prelude::AsyncRuntimeGuard for Entered {}

// SAFETY: napi asks that nothing of the backend runs after `shutdown` returns, because Node may
// unload the addon's image then. The image is pinned for the life of the process (below), so the
// runtime's threads may keep running its code: other environments still use them.
unsafe impl napi::bindgen_prelude::AsyncRuntime for SharedRuntime {
    fn spawn(
        &self,
        task: napi::bindgen_prelude::AsyncRuntimeTask,
    ) -> Result<(), napi::bindgen_prelude::AsyncRuntimeRejection<napi::bindgen_prelude::AsyncRuntimeTask>> {
        runtime().spawn(task);
        Ok(())
    }

    fn block_on(&self, future: std::pin::Pin<&mut dyn Future<Output = ()>>) -> napi::Result<()> {
        runtime().block_on(future);
        Ok(())
    }

    fn enter(&self) -> napi::Result<Box<dyn napi::bindgen_prelude::AsyncRuntimeGuard + '_>> {
        Ok(Box::new(Entered(runtime().enter())))
    }

    fn start(&self) -> napi::Result<()> {
        runtime();
        Ok(())
    }

    /// Called when the last live environment goes; another may load the addon after it.
    fn shutdown(&self) -> napi::Result<()> {
        Ok(())
    }
}

#[napi_derive::module_init]
fn init() {
    napi::bindgen_prelude::retain_current_module_for_unload_safety();
    napi::bindgen_prelude::register_async_runtime(SharedRuntime);
}
