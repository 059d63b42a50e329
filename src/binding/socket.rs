//! The socket protocol: index.js carries the routes' Redis connection on a Node socket, moving the
//! bytes the [`Pipe`](crate::store::pipe::Pipe) packs and reads; these are the calls it makes.

use super::crossing::RESET;
use super::NativeRouter;
use napi::bindgen_prelude::BufferSlice;
use napi::Env;
use napi_derive::napi;

#[napi]
impl NativeRouter {
    /// Where the routes' Redis socket connects, as JSON `{ host, port }` or `{ path }` (neither
    /// while a Sentinel target's primary is not known yet), with `silenceMs`: how long the socket
    /// may stay silent while requests wait for replies before it is taken for dead. Null when
    /// routes take the store's own connection (TLS, a cluster). Asked at each connection: the
    /// target moves with a Sentinel target's primary.
    #[napi]
    pub fn pipe_target(&self) -> Option<String> {
        let pipe = self.pipe.as_ref()?;
        let mut target = pipe.target().map_or_else(|| serde_json::json!({}), |t| serde_json::to_value(t).expect("targets serialise"));
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
            Ok(()) => self.run_ready(),
            Err(reason) => {
                pipe.closed(&reason);
                self.run_ready() | RESET
            }
        }
    }

    /// The socket closed (or never opened): the requests waiting on it fail with `reason`.
    #[napi]
    pub fn pipe_closed(&self, reason: String) -> u32 {
        if let Some(pipe) = &self.pipe {
            pipe.closed(&reason);
        }
        self.run_ready()
    }

    /// Runs the calls another thread woke (a timer, the store's connection) and reports as `feed`.
    #[napi]
    pub fn pump(&self) -> u32 {
        self.run_ready()
    }
}
