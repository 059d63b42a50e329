//! A Redis connection whose bytes someone else carries.
//!
//! Requests are packed into an output buffer that the owner writes to its socket, and the owner
//! feeds back what the socket reads, which settles the requests in the order they were sent
//! (Redis answers a connection's commands in order). The binding lets Node's own socket carry the
//! bytes, so that a route's round trip runs on the JavaScript thread without a thread switch: the
//! only waits are the two Redis waits a plain client has too.

use super::StoreError;
use redis::{ConnectionAddr, ConnectionInfo, RedisConnectionInfo, Value};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::sync::oneshot;

/// Where the owner should connect to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipeTarget {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A request's reply: a server's error reply is [`StoreError::Refused`]; a connection that failed
/// or closed before the reply came, [`StoreError::Connection`] (the request may or may not have run).
type Reply = Result<Value, StoreError>;

enum Waiter {
    Request(oneshot::Sender<Reply>),
    /// A reply to the connection's opening commands (AUTH, SELECT): an error ends the connection.
    Handshake,
}

#[derive(Default)]
struct State {
    output: Vec<u8>,
    input: Vec<u8>,
    waiting: VecDeque<Waiter>,
    closed: bool,
    /// A new connection's opening commands, not yet handed out.
    greeting: Vec<u8>,
    /// Opening commands not answered yet: until they all succeed, nothing else goes out (a
    /// refused SELECT must not let commands run on the wrong database).
    opening: usize,
}

/// Requests and replies of one Redis connection, carried by the owner (see the module docs).
pub struct Pipe {
    state: Mutex<State>,
    handshake: Vec<Vec<u8>>,
    /// Where the owner connects; unknown until a Sentinel target's primary is found.
    target: Mutex<Option<PipeTarget>>,
    /// The target moved while a connection was open: the owner should close that connection.
    moved: std::sync::atomic::AtomicBool,
    /// How many times a connection closed: another connection to the same server was likely cut too.
    closures: AtomicU64,
    /// Called when output appears in an empty buffer: the owner should write it soon.
    on_output: Box<dyn Fn() + Send + Sync>,
}

impl Pipe {
    /// A pipe for `info`, or `None` for connections the owner cannot carry (TLS).
    pub fn new(info: &ConnectionInfo, on_output: Box<dyn Fn() + Send + Sync>) -> Option<Self> {
        let target = match info.addr() {
            ConnectionAddr::Tcp(host, port) => PipeTarget { host: Some(host.clone()), port: Some(*port), path: None },
            ConnectionAddr::Unix(path) => PipeTarget { host: None, port: None, path: Some(path.to_string_lossy().into_owned()) },
            _ => return None,
        };
        Some(Self::logging_in(Some(target), info.redis_settings(), on_output))
    }

    /// A pipe that logs in with `settings` (credentials and database), to `target` or, when it is
    /// `None`, where [`Pipe::retarget`] later says.
    pub fn logging_in(target: Option<PipeTarget>, settings: &RedisConnectionInfo, on_output: Box<dyn Fn() + Send + Sync>) -> Self {
        let mut handshake = Vec::new();
        if let Some(password) = settings.password() {
            let mut auth = redis::cmd("AUTH");
            if let Some(username) = settings.username() {
                auth.arg(username);
            }
            handshake.push(auth.arg(password).get_packed_command());
        } else {
            // Without a password, a PING opens the connection: a server that wants one answers
            // NOAUTH to it, before any command went out (and before a long command's length
            // could make it drop the connection with a protocol error instead).
            handshake.push(redis::cmd("PING").get_packed_command());
        }
        if settings.db() != 0 {
            handshake.push(redis::cmd("SELECT").arg(settings.db()).get_packed_command());
        }
        Pipe {
            state: Mutex::new(State::default()),
            handshake,
            target: Mutex::new(target),
            moved: false.into(),
            closures: AtomicU64::new(0),
            on_output,
        }
    }

    /// Where the owner should connect (`None` while unknown).
    pub fn target(&self) -> Option<PipeTarget> {
        self.target.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// From now on the owner connects to `target`. When it moved, what waits on the connection
    /// to the old one fails with `reason` (the callers retry), and [`Pipe::take_moved`] tells the
    /// owner to close that connection. When it moved, answers how many closures the pipe has
    /// counted with the one the move counted.
    pub fn retarget(&self, target: &PipeTarget, reason: &str) -> Option<u64> {
        let previous = {
            let mut current = self.target.lock().unwrap_or_else(|e| e.into_inner());
            if current.as_ref() == Some(target) {
                return None;
            }
            current.replace(target.clone())
        };
        previous.map(|_| {
            self.moved.store(true, Ordering::Release);
            self.closed(reason)
        })
    }

    /// Whether the target moved since this was last asked (see [`Pipe::retarget`]).
    pub fn take_moved(&self) -> bool {
        self.moved.swap(false, Ordering::AcqRel)
    }

    /// How many times a connection of this pipe closed.
    pub fn closures(&self) -> u64 {
        self.closures.load(Ordering::Acquire)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends packed commands (copied into the output); each future resolves with its command's reply.
    pub fn send(&self, commands: &[&[u8]]) -> Vec<impl Future<Output = Reply> + use<>> {
        let mut state = self.state();
        let was_empty = state.output.is_empty();
        let receivers: Vec<_> = commands
            .iter()
            .map(|command| {
                let (sender, receiver) = oneshot::channel();
                if state.closed {
                    let _ = sender.send(Err(StoreError::Closed));
                } else {
                    state.output.extend_from_slice(command);
                    state.waiting.push_back(Waiter::Request(sender));
                }
                receiver
            })
            .collect();
        let wake = was_empty && !state.output.is_empty();
        drop(state);
        if wake {
            (self.on_output)();
        }
        receivers
            .into_iter()
            .map(|receiver| async move {
                receiver.await.unwrap_or_else(|_| Err(StoreError::Connection("the connection was dropped".into())))
            })
            .collect()
    }

    /// Takes what is waiting to be written: a new connection's opening commands alone, then,
    /// once they all succeeded, the rest.
    pub fn take_output(&self) -> Vec<u8> {
        let mut state = self.state();
        if !state.greeting.is_empty() {
            return std::mem::take(&mut state.greeting);
        }
        if state.opening > 0 {
            return Vec::new();
        }
        std::mem::take(&mut state.output)
    }

    /// Whether output waits to be handed out, and whether requests wait for replies.
    pub fn status(&self) -> (bool, bool) {
        let state = self.state();
        (!state.greeting.is_empty() || (state.opening == 0 && !state.output.is_empty()), !state.waiting.is_empty())
    }

    /// A new connection opens: its opening commands (AUTH, SELECT) go out first, and the rest
    /// only after their replies.
    pub fn opened(&self) {
        let mut state = self.state();
        state.greeting = self.handshake.concat();
        state.opening = self.handshake.len();
        for _ in &self.handshake {
            state.waiting.push_front(Waiter::Handshake);
        }
    }

    /// Takes bytes read from the connection and settles the requests they answer. An `Err` means
    /// the connection is unusable (unreadable bytes, or an opening command refused): the owner
    /// should close it and report that through [`Pipe::closed`].
    pub fn feed(&self, bytes: &[u8]) -> Result<(), String> {
        let mut settled = Vec::new();
        let mut fault = None;
        {
            let mut state = self.state();
            state.input.extend_from_slice(bytes);
            let mut at = 0;
            while at < state.input.len() {
                match parse(&state.input[at..]) {
                    Ok(Some((reply, used))) => {
                        at += used;
                        match state.waiting.pop_front() {
                            Some(Waiter::Request(sender)) => settled.push((sender, reply)),
                            Some(Waiter::Handshake) => {
                                if let Err(error) = reply {
                                    fault = Some(format!("Redis refused the connection: {error}"));
                                    break;
                                }
                                state.opening = state.opening.saturating_sub(1);
                            }
                            None => {
                                fault = Some("Redis sent a reply nobody asked for".to_owned());
                                break;
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(error) => {
                        fault = Some(format!("unreadable reply from Redis: {error}"));
                        break;
                    }
                }
            }
            state.input.drain(..at);
        }
        for (sender, reply) in settled {
            let _ = sender.send(reply);
        }
        fault.map_or(Ok(()), Err)
    }

    /// The connection closed (or failed to open): every request without a reply fails with
    /// `reason`, and what was not written yet is dropped with them (the callers retry).
    /// Answers how many closures the pipe has counted, this one included.
    pub fn closed(&self, reason: &str) -> u64 {
        let closures = self.closures.fetch_add(1, Ordering::AcqRel) + 1;
        let waiting = {
            let mut state = self.state();
            state.output.clear();
            state.input.clear();
            state.greeting.clear();
            state.opening = 0;
            std::mem::take(&mut state.waiting)
        };
        for waiter in waiting {
            if let Waiter::Request(sender) = waiter {
                let _ = sender.send(Err(StoreError::Connection(reason.to_owned())));
            }
        }
        closures
    }

    /// The router closes: requests in flight fail and later ones are refused.
    pub fn shut(&self) {
        self.state().closed = true;
        self.closed("the router is closed");
        // A closed pipe never carries bytes again: its buffers go now, not when the last handle does.
        let mut state = self.state();
        state.output = Vec::new();
        state.input = Vec::new();
        state.greeting = Vec::new();
        state.waiting = VecDeque::new();
    }
}

/// Parses one RESP2 reply at the start of `buf`: the reply and the bytes it used, or `None` when
/// `buf` holds only part of it.
///
/// Hand-written because it pays on the JavaScript thread, which parses every reply: over 10,000
/// route-like replies fed in 64 KiB chunks it took 83–115 ns a reply against 333–405 ns for
/// redis-rs 1.8's `redis::Parser` resumed chunk by chunk (355–451 ns for its `ValueCodec`), which
/// gave the same replies for any chunking. That is 0.25–0.3 µs more per route: 0.2 % of a 150 µs
/// round trip, but 1–1.5 % of the 19–24 µs of CPU the Node thread spends on one, the thread that
/// bounds throughput (docs/performance.md). Medians of 11 alternating rounds in each of 3 runs of
/// a throwaway release-build harness, pinned with `taskset -c 1`.
fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let Some((&kind, line)) = buf[..end].split_first() else {
        return Err("an empty line".into());
    };
    let text = || String::from_utf8_lossy(line).into_owned();
    let number = || -> Result<i64, String> {
        std::str::from_utf8(line).ok().and_then(|s| s.parse().ok()).ok_or_else(|| format!("{:?} is not a number", text()))
    };
    let after = end + 2;
    Ok(match kind {
        b'+' => Some((Ok(Value::SimpleString(text())), after)),
        b'-' => Some((Err(StoreError::from_reply(&text())), after)),
        b':' => Some((Ok(Value::Int(number()?)), after)),
        b'$' => {
            let len = number()?;
            if len < 0 {
                return Ok(Some((Ok(Value::Nil), after)));
            }
            let len = len as usize;
            if buf.len() < after + len + 2 {
                return Ok(None);
            }
            Some((Ok(Value::BulkString(buf[after..after + len].to_vec())), after + len + 2))
        }
        b'*' => {
            let len = number()?;
            if len < 0 {
                return Ok(Some((Ok(Value::Nil), after)));
            }
            let mut items = Vec::with_capacity(len.min(1024) as usize);
            let mut at = after;
            let mut error = None;
            for _ in 0..len {
                match parse(&buf[at..])? {
                    None => return Ok(None),
                    Some((item, used)) => {
                        at += used;
                        match item {
                            Ok(value) => items.push(value),
                            // Our scripts never return errors inside arrays; keep the first.
                            Err(e) => error = error.or(Some(e)),
                        }
                    }
                }
            }
            Some((error.map_or(Ok(Value::Array(items)), Err), at))
        }
        other => return Err(format!("unknown reply type {:?}", other as char)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe() -> Pipe {
        let info = redis::IntoConnectionInfo::into_connection_info("redis://:secret@127.0.0.1:6390/3").unwrap();
        Pipe::new(&info, Box::new(|| {})).unwrap()
    }

    #[test]
    fn parses_every_reply_kind_and_waits_for_partial_ones() {
        let all = b"+OK\r\n-ERR no\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n$1\r\nx\r\n:7\r\n*0\r\n";
        let mut at = 0;
        let mut replies = Vec::new();
        while at < all.len() {
            let (reply, used) = parse(&all[at..]).unwrap().unwrap();
            replies.push(reply);
            at += used;
        }
        assert_eq!(
            replies,
            vec![
                Ok(Value::SimpleString("OK".into())),
                Err(StoreError::from_reply("ERR no")),
                Ok(Value::Int(42)),
                Ok(Value::BulkString(b"abc".to_vec())),
                Ok(Value::Nil),
                Ok(Value::Array(vec![Value::BulkString(b"x".to_vec()), Value::Int(7)])),
                Ok(Value::Array(vec![])),
            ]
        );
        for cut in 0..all.len() {
            if let Some((_, used)) = parse(&all[..cut]).unwrap() {
                assert!(used <= cut);
            }
        }
        assert_eq!(parse(b"*2\r\n$1\r\nx\r\n").unwrap(), None);
        assert!(parse(b"?\r\n").is_err());
    }

    #[test]
    fn a_reply_cut_anywhere_waits_for_the_rest() {
        let all = b"+OK\r\n-ERR no\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n$1\r\nx\r\n:7\r\n*0\r\n";
        let mut at = 0;
        while at < all.len() {
            let (_, used) = parse(&all[at..]).unwrap().unwrap();
            for cut in at..at + used {
                assert_eq!(parse(&all[at..cut]), Ok(None), "{:?}", String::from_utf8_lossy(&all[at..cut]));
            }
            at += used;
        }
    }

    #[tokio::test]
    async fn sends_nothing_but_the_opening_commands_until_they_succeed_then_settles_in_order() {
        let pipe = pipe();
        let mut futures = pipe.send(&[b"A"]);
        pipe.opened();
        // Sent while the connection opens: held back behind the opening commands too.
        futures.extend(pipe.send(&[b"B"]));
        let out = String::from_utf8(pipe.take_output()).unwrap();
        assert_eq!(out, "*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n");
        assert!(!pipe.status().0);
        pipe.feed(b"+OK\r\n").unwrap();
        assert!(!pipe.status().0, "SELECT is not answered yet");
        pipe.feed(b"+OK\r\n").unwrap();
        assert_eq!(pipe.take_output(), b"AB");
        // Replies split anywhere still settle in order.
        pipe.feed(b":1\r").unwrap();
        pipe.feed(b"\n$2\r\nhi\r\n").unwrap();
        let b = futures.pop().unwrap().await;
        let a = futures.pop().unwrap().await;
        assert_eq!(a, Ok(Value::Int(1)));
        assert_eq!(b, Ok(Value::BulkString(b"hi".to_vec())));
    }

    #[tokio::test]
    async fn a_refused_handshake_or_a_closed_connection_fails_what_waits() {
        let pipe = pipe();
        let waiting = pipe.send(&[b"A"]).pop().unwrap();
        pipe.opened();
        pipe.take_output();
        let refused = pipe.feed(b"-WRONGPASS invalid password\r\n").unwrap_err();
        assert!(refused.starts_with("Redis refused the connection: WRONGPASS invalid password (check redis.username"), "{refused}");
        assert!(pipe.take_output().is_empty(), "nothing goes out on a refused connection");
        pipe.closed("connection reset");
        assert_eq!(waiting.await, Err(StoreError::Connection("connection reset".into())));
        pipe.shut();
        let refused = pipe.send(&[b"B"]).pop().unwrap();
        assert_eq!(refused.await, Err(StoreError::Closed));
        assert!(!pipe.status().0);
    }

    #[tokio::test]
    async fn a_target_that_moves_fails_what_waits_on_the_old_one_and_asks_the_owner_to_reconnect() {
        let settings = redis::RedisConnectionInfo::default();
        let pipe = Pipe::logging_in(None, &settings, Box::new(|| {}));
        assert_eq!(pipe.target(), None);
        let here = PipeTarget { host: Some("10.0.0.1".into()), port: Some(6379), path: None };
        // The first target found: nothing was connected, nothing fails.
        let waiting = pipe.send(&[b"A"]).pop().unwrap();
        assert_eq!(pipe.retarget(&here, "moved"), None);
        assert_eq!(pipe.target(), Some(here.clone()));
        assert!(!pipe.take_moved());
        // The same target again changes nothing.
        assert_eq!(pipe.retarget(&here, "moved"), None);
        assert!(!pipe.take_moved());
        assert_eq!(pipe.closures(), 0);
        // Another target: what waited fails (the callers retry) and the owner is told, once.
        let there = PipeTarget { host: Some("10.0.0.2".into()), port: Some(6379), path: None };
        assert_eq!(pipe.retarget(&there, "the primary moved"), Some(1));
        assert_eq!(waiting.await, Err(StoreError::Connection("the primary moved".into())));
        assert_eq!(pipe.target(), Some(there));
        assert!(pipe.take_moved());
        assert!(!pipe.take_moved());
        assert_eq!(pipe.closures(), 1);
    }
}
