//! The host's services as the engine asks them: JS functions (the message service's look-up and
//! the presence service's answer) called from any thread.

use crate::engine::{MessageSource, MessageUpdate, PresenceSource};
use napi::bindgen_prelude::{Function, Promise};
use napi::threadsafe_function::ThreadsafeFunction;
use napi::Status;
use serde::Deserialize;
use std::sync::Arc;

/// A JS function called from any thread, never keeping the process alive, whose throw is the
/// caller's to handle.
pub(super) type JsCallback<Args, Return> = ThreadsafeFunction<Args, Return, Args, Status, false, true>;

/// Makes a host's function (message look-up, presence) a [`JsCallback`].
pub(super) fn js_callback<Args, Return>(function: Function<'_, Args, Return>) -> napi::Result<Arc<JsCallback<Args, Return>>>
where
    Args: napi::bindgen_prelude::JsValuesTupleIntoVec + 'static,
    Return: napi::bindgen_prelude::FromNapiValue + 'static,
{
    Ok(Arc::new(function.build_threadsafe_function().weak::<true>().callee_handled::<false>().build()?))
}

/// The message service, reached through a JS function `(idsJson) => Promise<json>`.
pub(super) struct JsMessageSource(pub(super) Arc<JsCallback<String, Promise<String>>>);

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
pub(super) struct JsPresenceSource(pub(super) Arc<JsCallback<String, Promise<bool>>>);

impl PresenceSource for JsPresenceSource {
    fn online(&self, orchestrator_id: String) -> crate::engine::PresenceFuture {
        let callback = Arc::clone(&self.0);
        Box::pin(async move {
            let promise = callback.call_async_catch(orchestrator_id).await.map_err(|e| e.reason.clone())?;
            promise.await.map_err(|e| e.reason.clone())
        })
    }
}
