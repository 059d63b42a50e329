//! The route calls (route.lua, route_batch.lua, route_broadcast.lua): their `KEYS` and `ARGV`,
//! packed straight into RESP for the pipe (the hot path) or as a `redis::Cmd` for the store's own
//! connection.

use super::{flag, level, Calls};
use crate::store::keys::{Key, Keys};
use crate::store::redis::cluster::Extras;
use crate::store::redis::scripts::RouteScript;
use crate::store::{RouteRequest, QUEUE_KEY_GRACE_MS};

/// A message's keys by name, in the order `route_args` writes them: route.lua's KEYS, and
/// lib/route.lua's KEY (a test checks they agree). The last two (the session set and records)
/// only with several sessions per orchestrator.
pub(super) const ROUTE_KEYS: [&str; 11] =
    ["session", "queue", "marker", "daemon", "due", "inflight", "receipts", "queue_high", "queue_low", "sessions", "records"];

/// A message's arguments by name, in the order `route_args` writes them: route.lua's ARGV, and
/// lib/route.lua's ARG.
pub(super) const ROUTE_ARGS: [&str; 23] = [
    "orchestrator",
    "session",
    "daemon",
    "event",
    "marker",
    "channel",
    "item",
    "max_events",
    "max_queue",
    "queueing",
    "marker_ttl",
    "list_ttl",
    "item_expiry",
    "now",
    "dedupe",
    "queue_key_expiry",
    "receipts",
    "record",
    "deadline",
    "message_id",
    "queue_only",
    "level",
    "refresh",
];

/// The grouped layout of route_batch.lua (lib/route_grouped.lua's read_route_call): what the
/// messages of one call share is written once. A group is the requests of one call that share
/// everything but the message ([`same_group`]); its keys by name, in the order written
/// (GROUP_KEY; the last two only with several sessions per orchestrator).
pub(super) const GROUP_KEYS: [&str; 10] = ["session", "queue", "daemon", "due", "inflight", "receipts", "queue_high", "queue_low", "sessions", "records"];

/// The arguments after the message and group counts, shared by the whole call (SHARED_ARG).
pub(super) const SHARED_ARGS: [&str; 5] = ["max_events", "max_queue", "queueing", "marker_ttl", "list_ttl"];

/// Each group's arguments (GROUP_ARG).
pub(super) const GROUP_ARGS: [&str; 13] =
    ["orchestrator", "session", "daemon", "marker", "channel", "item_expiry", "now", "dedupe", "queue_key_expiry", "receipts", "deadline", "queue_only", "refresh"];

/// Each message's own arguments (MESSAGE_ARG): its group's number (from 1), then what is its own.
pub(super) const MESSAGE_ARGS: [&str; 6] = ["group", "event", "item", "record", "message_id", "level"];

/// Each other target's arguments after its message's in route_broadcast.lua (its TARGET_ARGS):
/// sessionId, daemonId, daemon event JSON, channel. Each also takes one key, its daemon list.
pub(super) const TARGET_ARGS: usize = 4;

/// Messages routed by one call of the batch route script.
pub(in crate::store::redis) const ROUTE_BATCH: usize = 100;

/// Where a command's arguments go: packed straight into RESP for the pipe, or into a
/// `redis::Cmd` for the store's own connection.
trait Args {
    /// One argument: the concatenation of `parts`.
    fn arg(&mut self, parts: &[&[u8]]);

    fn int(&mut self, n: i64) {
        self.arg(&[itoa::Buffer::new().format(n).as_bytes()]);
    }
}

impl Args for redis::Cmd {
    fn arg(&mut self, parts: &[&[u8]]) {
        redis::Cmd::arg(self, parts.concat());
    }
}

/// A command packed as RESP: `*<count>` then each argument as a bulk string. Hand-written rather
/// than packed by `redis::Cmd` (a `Vec` per argument, then its packed copy), which led the
/// profile of a route: writing the route call straight into RESP was most of the change that took
/// one route in flight from p50 205 to 165 µs (commit e0ff5a0).
struct Resp(Vec<u8>);

impl Resp {
    fn new(count: usize, capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity);
        out.push(b'*');
        out.extend_from_slice(itoa::Buffer::new().format(count).as_bytes());
        out.extend_from_slice(b"\r\n");
        Resp(out)
    }
}

impl Args for Resp {
    fn arg(&mut self, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        self.0.push(b'$');
        self.0.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
        self.0.extend_from_slice(b"\r\n");
        for part in parts {
            self.0.extend_from_slice(part);
        }
        self.0.extend_from_slice(b"\r\n");
    }
}

/// Passes on the arguments whose position (counted from `at`) is in `range`.
struct Select<'o, A: Args> {
    out: &'o mut A,
    range: std::ops::Range<usize>,
    at: usize,
}

impl<A: Args> Args for Select<'_, A> {
    fn arg(&mut self, parts: &[&[u8]]) {
        if self.range.contains(&self.at) {
            self.out.arg(parts);
        }
        self.at += 1;
    }
}

/// How a call names what it runs: a script by its SHA (EVALSHA), or a function by its name (FCALL).
#[derive(Debug, Clone, Copy)]
pub(in crate::store::redis) enum Head<'a> {
    Script(&'a str),
    Function(&'a str),
}

impl Head<'_> {
    /// The call's first two arguments.
    pub(in crate::store::redis) fn parts(&self) -> [&[u8]; 2] {
        match self {
            Head::Script(sha) => [b"EVALSHA", sha.as_bytes()],
            Head::Function(name) => [b"FCALL", name.as_bytes()],
        }
    }

    /// The packed call `call` (as [`Calls::route_packed`] writes it) with this head instead of its
    /// own.
    pub(in crate::store::redis) fn replacing(&self, call: &[u8]) -> Vec<u8> {
        // `*<count>\r\n`, then two bulk strings: `$<len>\r\n<bytes>\r\n`.
        let line_end = |from: usize| from + call[from..].windows(2).position(|w| w == b"\r\n").expect("a packed call") + 2;
        let header = line_end(0);
        let mut at = header;
        for _ in 0..2 {
            let length_end = line_end(at);
            let length: usize = std::str::from_utf8(&call[at + 1..length_end - 2]).ok().and_then(|n| n.parse().ok()).expect("a packed call");
            at = length_end + length + 2;
        }
        let mut out = Resp(Vec::with_capacity(call.len() + 32));
        out.0.extend_from_slice(&call[..header]);
        let [command, name] = self.parts();
        out.arg(&[command]);
        out.arg(&[name]);
        out.0.extend_from_slice(&call[at..]);
        out.0
    }
}

/// Whether two requests of one call share everything the grouped layout writes once per group.
fn same_group(a: &RouteRequest<'_>, b: &RouteRequest<'_>) -> bool {
    a.orchestrator_id == b.orchestrator_id
        && a.session_id == b.session_id
        && a.daemon_id == b.daemon_id
        && a.marker == b.marker
        && a.expires_at_ms == b.expires_at_ms
        && a.now_ms == b.now_ms
        && a.dedupe == b.dedupe
        && a.queue_only == b.queue_only
        && a.receipt.map(|(_, deadline)| deadline) == b.receipt.map(|(_, deadline)| deadline)
}

/// The groups of `requests`: the first request of each, in order, and each request's group.
fn groups(requests: &[RouteRequest<'_>]) -> (Vec<usize>, Vec<usize>) {
    let mut leaders: Vec<usize> = Vec::new();
    let mut group_of = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        let group = match leaders.iter().position(|&leader| same_group(&requests[leader], r)) {
            Some(group) => group,
            None => {
                leaders.push(i);
                leaders.len() - 1
            }
        };
        group_of.push(group);
    }
    (leaders, group_of)
}

/// When this store last asked a route to refresh each daemon list's TTL: once a second per daemon
/// is plenty for a TTL of a day, and saves an `EXPIRE` on every other route (a push that creates
/// the list always sets it, whatever this says).
#[derive(Default)]
pub(in crate::store::redis) struct ListTtl(std::sync::Mutex<std::collections::HashMap<String, i64>>);

impl ListTtl {
    /// How long a refresh lasts.
    const EVERY_MS: i64 = 1000;
    /// Daemons remembered before those not refreshed within the last second are forgotten.
    const KEPT: usize = 4096;

    /// Whether a route to `daemon_id` at `now_ms` refreshes its list's TTL (and if so, counts it done).
    pub(in crate::store::redis) fn due(&self, daemon_id: &str, now_ms: i64) -> bool {
        let mut refreshed = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match refreshed.get_mut(daemon_id) {
            Some(at) if now_ms - *at < Self::EVERY_MS && now_ms >= *at => false,
            Some(at) => {
                *at = now_ms;
                true
            }
            None => {
                if refreshed.len() >= Self::KEPT {
                    refreshed.retain(|_, at| now_ms - *at < Self::EVERY_MS);
                }
                refreshed.insert(daemon_id.to_owned(), now_ms);
                true
            }
        }
    }
}

impl Calls<'_> {
    /// Writes route_broadcast.lua's keys and arguments for one request (see lib/route.lua's KEY and ARG).
    /// `refresh`: whether the route refreshes its daemon list's TTL (see [`ListTtl`]).
    fn route_args(&self, out: &mut impl Args, r: &RouteRequest<'_>, refresh: bool) {
        let k = self.keys;
        let l = self.limits;
        out.arg(&k.parts(Key::Session, r.orchestrator_id));
        out.arg(&k.parts(Key::Queue, r.orchestrator_id));
        out.arg(&k.marker_parts(r.orchestrator_id, r.message_id));
        out.arg(&k.target_parts(r.orchestrator_id, r.daemon_id));
        out.arg(&k.index_parts(r.orchestrator_id));
        out.arg(&k.parts(Key::Inflight, r.orchestrator_id));
        out.arg(&k.parts(Key::Receipts, r.orchestrator_id));
        out.arg(&k.parts(Key::QueueHigh, r.orchestrator_id));
        out.arg(&k.parts(Key::QueueLow, r.orchestrator_id));
        if self.limits.multiple_sessions {
            out.arg(&k.parts(Key::Sessions, r.orchestrator_id));
            out.arg(&k.parts(Key::SessionRecords, r.orchestrator_id));
        }
        out.arg(&[r.orchestrator_id.as_bytes()]);
        out.arg(&[r.session_id.as_bytes()]);
        out.arg(&[r.daemon_id.as_bytes()]);
        out.arg(&[r.daemon_event.as_bytes()]);
        out.arg(&[r.marker.as_bytes()]);
        out.arg(&Keys::daemon_channel_parts(r.daemon_id));
        out.arg(&[r.queue_item.as_bytes()]);
        out.int(l.daemon_max_events as i64);
        out.int(l.max_queue_size as i64);
        out.arg(&[flag(l.queue_enabled).as_bytes()]);
        out.int(l.marker_ttl_seconds as i64);
        out.int(l.daemon_events_ttl_seconds as i64);
        out.int(r.expires_at_ms);
        out.int(r.now_ms);
        // On a cluster the client resends a script whose connection dropped, even one that ran:
        // a route always looks for its item before queueing it there.
        out.arg(&[flag(r.dedupe || self.keys.is_cluster()).as_bytes()]);
        out.int(r.expires_at_ms + QUEUE_KEY_GRACE_MS);
        out.arg(&[flag(r.receipt.is_some()).as_bytes()]);
        out.arg(&[r.receipt.map_or("", |(record, _)| record).as_bytes()]);
        out.int(r.receipt.map_or(0, |(_, deadline)| deadline));
        out.arg(&[r.message_id.as_bytes()]);
        out.arg(&[flag(r.queue_only).as_bytes()]);
        out.int(level(r.priority));
        out.arg(&[flag(refresh).as_bytes()]);
    }

    /// Writes the grouped layout's keys and arguments for `requests` (see lib/route.lua's
    /// read_route_call), then the cluster's `extras`.
    fn grouped_call(&self, out: &mut impl Args, requests: &[RouteRequest<'_>], extras: Option<&Extras>) {
        let (k, l) = (self.keys, self.limits);
        let (leaders, group_of) = groups(requests);
        let group_keys = if l.multiple_sessions { GROUP_KEYS.len() } else { GROUP_KEYS.len() - 2 };
        for &leader in &leaders {
            let o = requests[leader].orchestrator_id;
            out.arg(&k.parts(Key::Session, o));
            out.arg(&k.parts(Key::Queue, o));
            out.arg(&k.target_parts(o, requests[leader].daemon_id));
            out.arg(&k.index_parts(o));
            out.arg(&k.parts(Key::Inflight, o));
            out.arg(&k.parts(Key::Receipts, o));
            out.arg(&k.parts(Key::QueueHigh, o));
            out.arg(&k.parts(Key::QueueLow, o));
            if group_keys == GROUP_KEYS.len() {
                out.arg(&k.parts(Key::Sessions, o));
                out.arg(&k.parts(Key::SessionRecords, o));
            }
        }
        for r in requests {
            out.arg(&k.marker_parts(r.orchestrator_id, r.message_id));
        }
        if let Some(extras) = extras {
            out.arg(&[extras.seq_key.as_bytes()]);
            out.arg(&[extras.due_key.as_bytes()]);
        }
        out.int(requests.len() as i64);
        out.int(leaders.len() as i64);
        out.int(l.daemon_max_events as i64);
        out.int(l.max_queue_size as i64);
        out.arg(&[flag(l.queue_enabled).as_bytes()]);
        out.int(l.marker_ttl_seconds as i64);
        out.int(l.daemon_events_ttl_seconds as i64);
        for &leader in &leaders {
            let r = &requests[leader];
            out.arg(&[r.orchestrator_id.as_bytes()]);
            out.arg(&[r.session_id.as_bytes()]);
            out.arg(&[r.daemon_id.as_bytes()]);
            out.arg(&[r.marker.as_bytes()]);
            out.arg(&Keys::daemon_channel_parts(r.daemon_id));
            out.int(r.expires_at_ms);
            out.int(r.now_ms);
            // On a cluster the client resends a script whose connection dropped, even one that ran:
            // a route always looks for its item before queueing it there.
            out.arg(&[flag(r.dedupe || k.is_cluster()).as_bytes()]);
            out.int(r.expires_at_ms + QUEUE_KEY_GRACE_MS);
            out.arg(&[flag(r.receipt.is_some()).as_bytes()]);
            out.int(r.receipt.map_or(0, |(_, deadline)| deadline));
            out.arg(&[flag(r.queue_only).as_bytes()]);
            out.arg(&[flag(self.list_ttl.due(r.daemon_id, r.now_ms)).as_bytes()]);
        }
        for (r, group) in requests.iter().zip(&group_of) {
            out.int(*group as i64 + 1);
            out.arg(&[r.daemon_event.as_bytes()]);
            out.arg(&[r.queue_item.as_bytes()]);
            out.arg(&[r.receipt.map_or("", |(record, _)| record).as_bytes()]);
            out.arg(&[r.message_id.as_bytes()]);
            out.int(level(r.priority));
        }
        if let Some(extras) = extras {
            out.arg(&[extras.args.as_bytes()]);
        }
    }

    /// How many keys and arguments [`Calls::grouped_call`] writes for `requests`.
    fn grouped_count(&self, requests: &[RouteRequest<'_>]) -> usize {
        let g = groups(requests).0.len();
        let group_keys = if self.limits.multiple_sessions { GROUP_KEYS.len() } else { GROUP_KEYS.len() - 2 };
        let n = requests.len();
        g * group_keys + n + 2 + SHARED_ARGS.len() + g * GROUP_ARGS.len() + n * MESSAGE_ARGS.len()
    }

    /// Keys per route request: one session per orchestrator needs no session set (two keys, and
    /// Redis's parsing of them, saved on every route).
    fn route_keys(&self) -> usize {
        if self.limits.multiple_sessions { ROUTE_KEYS.len() } else { ROUTE_KEYS.len() - 2 }
    }

    /// The route script call for one request, the batch script call for many (see
    /// route_batch.lua) or the broadcast call for any number (route_broadcast.lua), written into
    /// `out`.
    /// On a cluster, `extras` is the key and argument every delivering step takes last.
    fn route_call(&self, out: &mut impl Args, head: Head<'_>, requests: &[RouteRequest<'_>], kind: RouteScript, extras: Option<&Extras>) {
        let [command, name] = head.parts();
        out.arg(&[command]);
        out.arg(&[name]);
        if kind == RouteScript::Batch {
            let g = groups(requests).0.len();
            let group_keys = if self.limits.multiple_sessions { GROUP_KEYS.len() } else { GROUP_KEYS.len() - 2 };
            out.int((g * group_keys + requests.len() + 2 * usize::from(extras.is_some())) as i64);
            self.grouped_call(out, requests, extras);
            return;
        }
        let copies: usize = requests.iter().map(|r| r.copies.len()).sum();
        let route_keys = self.route_keys();
        out.int((route_keys * requests.len() + copies + 2 * usize::from(extras.is_some())) as i64);
        // Keys come first, then arguments: write every request's keys, then every request's
        // arguments (broadcast: each request's other targets right after its own).
        // Broadcast routing refreshes every list it pushes to; a single route, about once a second.
        let refresh: Vec<bool> = requests.iter().map(|r| kind == RouteScript::Broadcast || self.list_ttl.due(r.daemon_id, r.now_ms)).collect();
        for r in requests {
            self.route_args(&mut Select { out: &mut *out, range: 0..route_keys, at: 0 }, r, false);
            for copy in r.copies {
                out.arg(&self.keys.target_parts(r.orchestrator_id, &copy.daemon_id));
            }
        }
        if let Some(extras) = extras {
            out.arg(&[extras.seq_key.as_bytes()]);
            out.arg(&[extras.due_key.as_bytes()]);
        }
        if kind == RouteScript::Broadcast {
            out.int(requests.len() as i64);
        }
        for (r, refresh) in requests.iter().zip(refresh) {
            if kind == RouteScript::Broadcast {
                out.int(r.copies.len() as i64);
            }
            self.route_args(&mut Select { out: &mut *out, range: route_keys..route_keys + ROUTE_ARGS.len(), at: 0 }, r, refresh);
            for copy in r.copies {
                out.arg(&[copy.session_id.as_bytes()]);
                out.arg(&[copy.daemon_id.as_bytes()]);
                out.arg(&[copy.event.as_bytes()]);
                out.arg(&Keys::daemon_channel_parts(&copy.daemon_id));
            }
        }
        if let Some(extras) = extras {
            out.arg(&[extras.args.as_bytes()]);
        }
    }

    /// The route call for `requests`, packed for the pipe, calling the script as `head` says.
    pub(in crate::store::redis) fn route_packed(&self, head: Head<'_>, requests: &[RouteRequest<'_>], kind: RouteScript) -> Vec<u8> {
        let copies: usize = requests.iter().map(|r| r.copies.len()).sum();
        let count = 3 + match kind {
            RouteScript::Single => self.route_keys() + ROUTE_ARGS.len(),
            RouteScript::Broadcast => (self.route_keys() + ROUTE_ARGS.len() + 1) * requests.len() + 1 + (1 + TARGET_ARGS) * copies,
            RouteScript::Batch => self.grouped_count(requests),
        };
        let size: usize = requests
            .iter()
            .map(|r| r.daemon_event.len() + r.queue_item.len() + r.marker.len() + 640 + r.copies.iter().map(|c| c.event.len() + 160).sum::<usize>())
            .sum();
        let mut out = Resp::new(count, size);
        self.route_call(&mut out, head, requests, kind, None);
        out.0
    }

    /// The route call for `requests`, as a command for the store's own connection.
    pub(in crate::store::redis) fn route_cmd(&self, requests: &[RouteRequest<'_>], kind: RouteScript, extras: Option<&Extras>) -> redis::Cmd {
        let mut cmd = redis::Cmd::new();
        self.route_call(&mut cmd, Head::Script(self.scripts.route(kind).0.get_hash()), requests, kind, extras);
        cmd
    }
}
