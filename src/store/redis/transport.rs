//! How commands reach Redis: the store's own connection (redis-rs's connection manager to one
//! server, or its cluster client), or for routes the [`Pipe`] whose bytes Node's socket carries;
//! and the one way a round of script calls survives a server that lost its scripts.

use super::calls::Calls;
use super::scripts::RouteScript;
use super::RedisStore;
use crate::store::pipe::Pipe;
use crate::store::{RouteRequest, StoreError, StoreResult};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};

/// Where the store connects: one server, or a cluster.
// One per store, built once: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub(super) enum Client {
    Single(redis::Client),
    Cluster(redis::cluster::ClusterClient),
}

/// The store's own connection (to one server, or to every master of a cluster).
#[derive(Clone)]
pub(super) enum Connection {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(&'a mut self, pipeline: &'a redis::Pipeline, offset: usize, count: usize) -> redis::RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

impl From<redis::RedisError> for StoreError {
    /// A Redis error as the router reports it: a server's error by its code (with what fixes
    /// it), else a timeout or a failed connection (a TLS refusal named as such: rustls says only
    /// `invalid peer certificate: <reason>`, inside an I/O error).
    fn from(error: redis::RedisError) -> Self {
        let text = error.to_string();
        if let Some(code) = error.code() {
            return StoreError::refused(code, &text);
        }
        match error.kind() {
            redis::ErrorKind::AuthenticationFailed => StoreError::refused("WRONGPASS", &text),
            redis::ErrorKind::Parse | redis::ErrorKind::UnexpectedReturnType => StoreError::UnexpectedReply(text),
            _ if error.is_timeout() => StoreError::Timeout(text),
            _ if text.contains("invalid peer certificate") => StoreError::Connection(format!(
                "TLS certificate verification failed ({text}): the server's certificate must be valid for the host and \
                 signed by a CA the router trusts (tls.ca when given, else the system's root certificates)"
            )),
            _ => StoreError::Connection(text),
        }
    }
}

/// A round of calls to one script, and where they go.
enum Round<'a> {
    /// Through the pipe, packed; `source` is the script's, which the pipe loads itself.
    Piped { pipe: &'a Pipe, source: &'static str, calls: Vec<Vec<u8>> },
    /// On the store's own connection, as one pipeline.
    Direct { store: &'a RedisStore, connection: Connection, script: &'a Script, calls: &'a [redis::Cmd] },
}

impl Round<'_> {
    /// Sends the round and, when Redis answered some calls NOSCRIPT (it restarted, or its script
    /// cache was flushed, so those did not run), loads the script and sends those calls again:
    /// only those, since the others ran and sending them twice could queue a message twice. The
    /// outer error is a connection failure (nothing is known of any call), the inner ones are each
    /// call's own.
    async fn run(mut self) -> StoreResult<Vec<StoreResult<Value>>> {
        let all: Vec<usize> = (0..self.len()).collect();
        let mut replies = self.send(&all).await?;
        let lost: Vec<usize> = (0..replies.len()).filter(|&i| matches!(&replies[i], Err(StoreError::Refused { code, .. }) if code == "NOSCRIPT")).collect();
        if lost.is_empty() {
            return Ok(replies);
        }
        self.load().await?;
        for (i, reply) in lost.iter().zip(self.send(&lost).await?) {
            replies[*i] = reply;
        }
        Ok(replies)
    }

    fn len(&self) -> usize {
        match self {
            Round::Piped { calls, .. } => calls.len(),
            Round::Direct { calls, .. } => calls.len(),
        }
    }

    /// Sends the calls `which`, in one round trip.
    async fn send(&mut self, which: &[usize]) -> StoreResult<Vec<StoreResult<Value>>> {
        match self {
            Round::Piped { pipe, calls, .. } => {
                let packed: Vec<&[u8]> = which.iter().map(|&i| calls[i].as_slice()).collect();
                piped(pipe, &packed).await
            }
            Round::Direct { store, connection, calls, .. } => {
                let mut pipeline = redis::pipe();
                // Each command's own error comes back in its place (NOSCRIPT included).
                pipeline.ignore_errors();
                for &i in which {
                    pipeline.add_command(calls[i].clone());
                }
                let replies: Vec<redis::RedisResult<Value>> = store.checked(pipeline.query_async(connection).await)?;
                Ok(replies.into_iter().map(|reply| reply.map_err(StoreError::from)).collect())
            }
        }
    }

    /// Loads the round's script.
    async fn load(&mut self) -> StoreResult<()> {
        match self {
            Round::Piped { pipe, source, .. } => {
                let load = redis::cmd("SCRIPT").arg("LOAD").arg(*source).get_packed_command();
                match piped(pipe, &[&load]).await?.pop() {
                    Some(Err(StoreError::Refused { code, message })) => {
                        Err(StoreError::Refused { code, message: format!("could not load the route script: {message}") })
                    }
                    _ => Ok(()),
                }
            }
            Round::Direct { store, connection, script, .. } => store.checked(script.prepare_invoke().load_async(connection).await).map(drop),
        }
    }
}

/// Sends packed commands through the pipe: each command's reply, or (the outer error) the
/// connection's failure, when nothing is known of any of them.
async fn piped(pipe: &Pipe, packed: &[&[u8]]) -> StoreResult<Vec<StoreResult<Value>>> {
    let mut replies = Vec::with_capacity(packed.len());
    for reply in pipe.send(packed) {
        match reply.await {
            Err(error @ (StoreError::Connection(_) | StoreError::Closed)) => return Err(error),
            other => replies.push(other),
        }
    }
    Ok(replies)
}

impl RedisStore {
    /// The shared connection, created (without waiting for it) on first use.
    pub(super) fn connection(&self) -> StoreResult<Connection> {
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let mut slot = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        // When the pipe's connection closed since this one was made (Redis restarted, say), this
        // one is likely cut too: connect afresh instead of failing the next request on it.
        let closures = self.pipe.as_ref().map_or(0, |pipe| pipe.closures());
        if let Some((connection, seen)) = slot.as_ref() {
            if *seen == closures {
                return Ok(connection.clone());
            }
        }
        // Reconnection is tried once per failing request: the engine's own retries own backoff.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let connection = match &self.client {
            Client::Single(client) => Connection::Single(ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(StoreError::from)?),
            Client::Cluster(client) => Connection::Cluster(
                client.get_pending_async_connection_with_config(
                    redis::cluster::ClusterConfig::new().set_connection_timeout(self.timeout).set_response_timeout(self.timeout),
                ),
            ),
        };
        *slot = Some((connection.clone(), closures));
        Ok(connection)
    }

    /// Runs route calls of `kind` in one round (one per slice; a slice holds one request unless
    /// `kind` is the batch script), through the pipe when there is one (see [`Round::run`]).
    pub(super) async fn eval_routes(&self, calls: &[&[RouteRequest<'_>]], kind: RouteScript) -> StoreResult<Vec<StoreResult<Value>>> {
        let builder: Calls<'_> = self.calls();
        let (script, source) = self.scripts.route(kind);
        match &self.pipe {
            Some(pipe) => {
                let calls = calls.iter().map(|requests| builder.route_packed(requests, kind)).collect();
                Round::Piped { pipe, source, calls }.run().await
            }
            None => {
                let commands: Vec<redis::Cmd> = calls.iter().map(|requests| builder.route_cmd(requests, kind, None)).collect();
                self.eval_commands(script, &commands).await
            }
        }
    }

    /// Runs EVALSHA commands of `script` as one pipeline on the store's own connection (see
    /// [`Round::run`]).
    pub(super) async fn eval_commands(&self, script: &Script, commands: &[redis::Cmd]) -> StoreResult<Vec<StoreResult<Value>>> {
        Round::Direct { store: self, connection: self.connection()?, script, calls: commands }.run().await
    }

    /// Runs one script call on the store's own connection.
    pub(super) async fn run(&self, invocation: &redis::ScriptInvocation<'_>) -> StoreResult<Value> {
        let mut connection = self.connection()?;
        let result = invocation.invoke_async(&mut connection).await;
        self.checked(result)
    }

    /// Passes a result through; on a connection failure, drops the connection so that the next
    /// request connects afresh instead of awaiting the failed attempt (the manager caches it).
    pub(super) fn checked<T>(&self, result: redis::RedisResult<T>) -> StoreResult<T> {
        result.map_err(|error| {
            // Redis closes a connection after a protocol error (such as a long command sent
            // before authenticating), so it is dropped too.
            let protocol = error.to_string().contains("Protocol error");
            if protocol || error.is_io_error() || error.is_connection_refusal() || error.is_connection_dropped() {
                self.connection.lock().unwrap_or_else(|e| e.into_inner()).take();
            }
            error.into()
        })
    }
}
