//! Where the binding's work runs: routing calls on the JavaScript thread ([`Local`]), everything
//! else on the process's one tokio runtime, which napi's async calls share ([`SharedRuntime`]).

use super::sink::JsSink;
use crate::engine::error::RouterError;
use async_task::Runnable;
use futures_util::FutureExt;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};

/// The process's one tokio runtime: `#[napi] async fn`s and background work run on it (see
/// `SharedRuntime`), and routing calls enter it on the JS thread for timers and the drains they
/// start. Built once and never shut down or dropped, because every Node environment (the main
/// thread and each worker) shares it, and any of them may be the first to load or the last to go.
static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

pub(super) fn runtime() -> &'static tokio::runtime::Runtime {
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("the tokio runtime starts")
    })
}

/// Runs routing calls on the JavaScript thread. A call is polled when it starts and again each
/// time it is woken: by a Redis reply arriving through `feed` (on the JS thread, so it runs before
/// `feed` returns), or by a timer or the store's own connection (on another thread, which then
/// wakes JS to call `pump`).
pub(super) struct Local {
    pub(super) sink: Arc<JsSink>,
    pub(super) ready: Mutex<VecDeque<Runnable>>,
}

impl Local {
    /// Runs the routing calls `call_ids` as `future`. A panic inside it fails those calls instead
    /// of unwinding into Node (which would abort the process).
    pub(super) fn spawn(self: &Arc<Self>, call_ids: Vec<u32>, future: impl Future<Output = ()> + Send + 'static) {
        let local = Arc::clone(self);
        let sink = Arc::clone(&self.sink);
        let guarded = async move {
            if let Err(panic) = std::panic::AssertUnwindSafe(future).catch_unwind().await {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                for call_id in call_ids {
                    sink.complete::<()>(call_id, Err(RouterError::Internal(message.clone())));
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
    pub(super) fn run(&self) {
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
