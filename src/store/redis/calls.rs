//! Each script call's `KEYS` and `ARGV`, built from a request, without I/O: the route calls
//! (packed straight into RESP for the pipe, or as a `redis::Cmd`) and one builder per step. The
//! order of keys and arguments is each script's header (src/store/lua).

use super::cluster::Extras;
use super::scripts::{RouteScript, Scripts};
use crate::store::keys::{Key, Keys};
use crate::store::{DrainAction, DrainStep, Priority, ReceiptAction, ReceiptStep, RouteRequest, StoreLimits, QUEUE_KEY_GRACE_MS};
use redis::Script;

/// A script call being built.
pub(super) type Invocation = redis::ScriptInvocation<'static>;

/// Keys and arguments of one route request (route.lua's KEYS and ARGV); the last two keys (the
/// session set and records) only with several sessions per orchestrator.
const ROUTE_KEYS: usize = 11;
const ROUTE_ARGS: usize = 22;

/// Messages routed by one call of the batch route script.
pub(super) const ROUTE_BATCH: usize = 100;

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

/// The calls of one store: its keys, limits and scripts.
pub(super) struct Calls<'s> {
    pub keys: &'s Keys,
    pub limits: &'s StoreLimits,
    pub scripts: &'static Scripts,
}

impl Calls<'_> {
    /// The keys register_session.lua and touch_session.lua take: the session, the three queue
    /// lists (normal, pending index, high, low, as numbered there) and the session set.
    fn session_step(&self, script: &'static Script, orchestrator_id: &str) -> Invocation {
        let k = self.keys;
        let mut invocation = script.prepare_invoke();
        invocation
            .key(k.session(orchestrator_id))
            .key(k.queue(orchestrator_id))
            .key(k.index(orchestrator_id))
            .key(k.key(Key::QueueHigh, orchestrator_id))
            .key(k.key(Key::QueueLow, orchestrator_id))
            .key(k.session_set(orchestrator_id).as_slice());
        invocation
    }

    /// The keys and arguments drain_step.lua and redeliver_step.lua start with: KEYS session,
    /// queue, daemon events, pending, in-flight, receipts, the high and low queues, the session
    /// set and records, then each copy's daemon list; ARGV orchestratorId, expected sessionId
    /// and daemonId ('' when none), daemon channel, daemon maxEvents.
    fn step_invocation(&self, script: &'static Script, orchestrator_id: &str, session: Option<(&str, &str)>, copies: &[(&str, &str)]) -> Invocation {
        let k = self.keys;
        let (session_id, daemon_id) = session.unwrap_or(("", ""));
        let mut invocation = script.prepare_invoke();
        invocation
            .key(k.session(orchestrator_id))
            .key(k.queue(orchestrator_id))
            .key(k.target(orchestrator_id, daemon_id))
            .key(k.index(orchestrator_id))
            .key(k.inflight(orchestrator_id))
            .key(k.receipts(orchestrator_id))
            .key(k.key(Key::QueueHigh, orchestrator_id))
            .key(k.key(Key::QueueLow, orchestrator_id))
            .key(k.session_set(orchestrator_id).as_slice())
            .arg(orchestrator_id)
            .arg(session_id)
            .arg(daemon_id)
            .arg(k.daemon_channel(daemon_id))
            .arg(self.limits.daemon_max_events);
        for (_, copy_daemon) in copies {
            invocation.key(k.target(orchestrator_id, copy_daemon));
        }
        invocation
    }

    /// The broadcast flag, now and the copy count, as steps take them (see `copies_args`).
    fn targets_args(&self, invocation: &mut Invocation, copies: &[(&str, &str)], now_ms: i64) {
        invocation.arg(flag(self.limits.broadcast)).arg(now_ms).arg(copies.len());
    }

    /// Each broadcast copy's session id, daemon id and channel.
    fn copies_args(&self, invocation: &mut Invocation, copies: &[(&str, &str)]) {
        for (session_id, daemon_id) in copies {
            invocation.arg(*session_id).arg(*daemon_id).arg(self.keys.daemon_channel(daemon_id));
        }
    }

    /// Writes the route script's keys and arguments for one request (see route.lua).
    fn route_args(&self, out: &mut impl Args, r: &RouteRequest<'_>) {
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
    }

    /// Keys per route request: one session per orchestrator needs no session set (two keys, and
    /// Redis's parsing of them, saved on every route).
    fn route_keys(&self) -> usize {
        if self.limits.multiple_sessions { ROUTE_KEYS } else { ROUTE_KEYS - 2 }
    }

    /// The route script call for one request, the batch script call for many (see
    /// route_batch.lua) or the broadcast call for any number (route_broadcast.lua), written into
    /// `out`.
    /// On a cluster, `extras` is the key and argument every delivering step takes last.
    fn route_call(&self, out: &mut impl Args, requests: &[RouteRequest<'_>], kind: RouteScript, extras: Option<&Extras>) {
        let copies: usize = requests.iter().map(|r| r.copies.len()).sum();
        let route_keys = self.route_keys();
        out.arg(&[b"EVALSHA"]);
        out.arg(&[self.scripts.route(kind).0.get_hash().as_bytes()]);
        out.int((route_keys * requests.len() + copies + 2 * usize::from(extras.is_some())) as i64);
        // Keys come first, then arguments: write every request's keys, then every request's
        // arguments (broadcast: each request's other targets right after its own).
        for r in requests {
            self.route_args(&mut Select { out: &mut *out, range: 0..route_keys, at: 0 }, r);
            for copy in r.copies {
                out.arg(&self.keys.target_parts(r.orchestrator_id, &copy.daemon_id));
            }
        }
        if let Some(extras) = extras {
            out.arg(&[extras.seq_key.as_bytes()]);
            out.arg(&[extras.due_key.as_bytes()]);
        }
        if kind != RouteScript::Single {
            out.int(requests.len() as i64);
        }
        for r in requests {
            if kind == RouteScript::Broadcast {
                out.int(r.copies.len() as i64);
            }
            self.route_args(&mut Select { out: &mut *out, range: route_keys..route_keys + ROUTE_ARGS, at: 0 }, r);
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

    /// The route call for `requests`, packed for the pipe.
    pub(super) fn route_packed(&self, requests: &[RouteRequest<'_>], kind: RouteScript) -> Vec<u8> {
        let copies: usize = requests.iter().map(|r| r.copies.len()).sum();
        let per_request = self.route_keys() + ROUTE_ARGS + usize::from(kind == RouteScript::Broadcast);
        let count = 3 + per_request * requests.len() + usize::from(kind != RouteScript::Single) + 5 * copies;
        let size: usize = requests
            .iter()
            .map(|r| r.daemon_event.len() + r.queue_item.len() + r.marker.len() + 640 + r.copies.iter().map(|c| c.event.len() + 160).sum::<usize>())
            .sum();
        let mut out = Resp::new(count, size);
        self.route_call(&mut out, requests, kind, None);
        out.0
    }

    /// The route call for `requests`, as a command for the store's own connection.
    pub(super) fn route_cmd(&self, requests: &[RouteRequest<'_>], kind: RouteScript, extras: Option<&Extras>) -> redis::Cmd {
        let mut cmd = redis::Cmd::new();
        self.route_call(&mut cmd, requests, kind, extras);
        cmd
    }

    /// register_session.lua: store `session` as the primary one.
    pub(super) fn register_session(&self, orchestrator_id: &str, session_id: &str, session: &str, now_ms: i64) -> Invocation {
        let mut invocation = self.session_step(&self.scripts.register_session, orchestrator_id);
        invocation
            .arg(session)
            .arg(self.limits.session_ttl_seconds)
            .arg(orchestrator_id)
            .arg(now_ms)
            .arg(session_id)
            .arg(flag(self.limits.multiple_sessions));
        invocation
    }

    /// unregister_session.lua: delete one session (`Some`) or all.
    pub(super) fn unregister_session(&self, orchestrator_id: &str, session_id: Option<&str>, now_ms: i64) -> Invocation {
        let k = self.keys;
        let mut invocation = self.scripts.unregister_session.key(k.session(orchestrator_id));
        invocation.key(k.session_set(orchestrator_id).as_slice()).arg(session_id.unwrap_or("")).arg(now_ms);
        invocation
    }

    /// touch_session.lua: the heartbeat of the primary session, or of the one named.
    pub(super) fn touch_session(&self, orchestrator_id: &str, session_id: Option<&str>, now_iso: &str, now_ms: i64) -> Invocation {
        let mut invocation = self.session_step(&self.scripts.touch_session, orchestrator_id);
        invocation
            .arg(now_iso)
            .arg(self.limits.session_ttl_seconds)
            .arg(orchestrator_id)
            .arg(now_ms)
            .arg(session_id.unwrap_or(""));
        invocation
    }

    /// read_sessions.lua: the living sessions, the primary first.
    pub(super) fn sessions(&self, orchestrator_id: &str, now_ms: i64) -> Invocation {
        let k = self.keys;
        let mut invocation = self.scripts.read_sessions.key(k.session(orchestrator_id));
        invocation.key(k.session_set(orchestrator_id).as_slice()).arg(now_ms);
        invocation
    }

    /// queue_lengths.lua: the length of each queue level.
    pub(super) fn queue_lengths(&self, orchestrator_id: &str) -> Invocation {
        let mut invocation = self.scripts.queue_lengths.prepare_invoke();
        for queue in self.keys.queues(orchestrator_id) {
            invocation.key(queue);
        }
        invocation
    }

    /// snapshot.lua: the session and the first `count` items in drain order.
    pub(super) fn snapshot(&self, orchestrator_id: &str, count: usize, now_ms: i64) -> Invocation {
        let k = self.keys;
        let mut invocation = self.scripts.snapshot.key(k.session(orchestrator_id));
        for queue in k.queues(orchestrator_id) {
            invocation.key(queue);
        }
        invocation.key(k.session_set(orchestrator_id).as_slice()).arg(count).arg(now_ms).arg(flag(self.limits.broadcast));
        invocation
    }

    /// drain_step.lua for `step`.
    pub(super) fn drain_step(&self, step: &DrainStep<'_>) -> Invocation {
        let k = self.keys;
        let mut invocation = self.step_invocation(&self.scripts.drain_step, step.orchestrator_id, step.session, &step.copies);
        invocation
            .arg(self.limits.marker_ttl_seconds)
            .arg(self.limits.daemon_events_ttl_seconds)
            .arg(step.retry_at_ms)
            .arg(step.revisit_at_ms)
            .arg(flag(self.limits.receipts))
            .arg(step.receipt_deadline_ms)
            .arg(step.items.len());
        self.targets_args(&mut invocation, &step.copies, step.now_ms);
        match step.levels {
            Some(counts) => counts.iter().for_each(|count| {
                invocation.arg(*count);
            }),
            None => {
                invocation.arg("").arg("").arg("");
            }
        }
        self.copies_args(&mut invocation, &step.copies);
        for (raw, action) in &step.items {
            match action {
                DrainAction::Deliver { message_id, event, marker, receipt, copies } => {
                    invocation.key(k.delivered(step.orchestrator_id, message_id)).arg(*raw).arg("d").arg(event).arg(marker).arg(receipt).arg(message_id);
                    for copy in copies {
                        invocation.arg(copy);
                    }
                }
                DrainAction::Drop => {
                    // Never read for a drop; passed so KEYS and ARGV stay aligned with the items.
                    invocation.key(k.index(step.orchestrator_id)).arg(*raw).arg("x").arg("").arg("").arg("").arg("");
                    for _ in &step.copies {
                        invocation.arg("");
                    }
                }
            }
        }
        invocation
    }

    /// acknowledge.lua: end the wait for these receipts.
    pub(super) fn acknowledge(&self, orchestrator_id: &str, message_ids: &[String]) -> Invocation {
        let mut invocation = self.scripts.acknowledge.prepare_invoke();
        invocation.key(self.keys.inflight(orchestrator_id)).key(self.keys.receipts(orchestrator_id));
        for id in message_ids {
            invocation.arg(id);
        }
        invocation
    }

    /// read_receipts.lua: the session and the receipts due by `due_by_ms`.
    pub(super) fn overdue_receipts(&self, orchestrator_id: &str, now_ms: i64, due_by_ms: i64, limit: usize) -> Invocation {
        let k = self.keys;
        let mut invocation = self.scripts.read_receipts.key(k.session(orchestrator_id));
        invocation
            .key(k.inflight(orchestrator_id))
            .key(k.receipts(orchestrator_id))
            .key(k.session_set(orchestrator_id).as_slice())
            .arg(now_ms)
            .arg(limit)
            .arg(flag(self.limits.broadcast))
            .arg(due_by_ms);
        invocation
    }

    /// redeliver_step.lua for `step`.
    pub(super) fn receipt_step(&self, step: &ReceiptStep<'_>) -> Invocation {
        let k = self.keys;
        let mut invocation = self.step_invocation(&self.scripts.redeliver_step, step.orchestrator_id, step.session, &step.copies);
        invocation
            .key(k.dead(step.orchestrator_id))
            .arg(self.limits.daemon_events_ttl_seconds)
            .arg(step.full_retry_at_ms)
            .arg(step.queue_revisit_at_ms)
            .arg(step.queue_expires_at_ms + QUEUE_KEY_GRACE_MS)
            .arg(step.items.len());
        self.targets_args(&mut invocation, &step.copies, step.now_ms);
        self.copies_args(&mut invocation, &step.copies);
        for (message_id, record, action) in &step.items {
            invocation.key(k.delivered(step.orchestrator_id, message_id)).arg(*message_id).arg(*record);
            let copies: &[String] = match action {
                ReceiptAction::Redeliver { event, record, deadline_ms, copies } => {
                    invocation.arg("r").arg(event).arg(record).arg(*deadline_ms);
                    copies
                }
                ReceiptAction::DeadLetter { entry } => {
                    invocation.arg("d").arg(entry).arg("").arg(0);
                    &[]
                }
                ReceiptAction::Requeue { item, priority } => {
                    invocation.arg("q").arg(item).arg("").arg(level(*priority));
                    &[]
                }
            };
            for j in 0..step.copies.len() {
                invocation.arg(copies.get(j).map_or("", String::as_str));
            }
        }
        invocation
    }

    /// requeue_dead.lua: move the dead letters `expected` back to the queue as `items`.
    pub(super) fn requeue_dead(
        &self,
        orchestrator_id: &str,
        expected: &[String],
        items: &[(String, Priority)],
        message_ids: &[String],
        revisit_at_ms: i64,
        queue_expires_at_ms: i64,
    ) -> Invocation {
        let k = self.keys;
        let mut invocation = self.scripts.requeue_dead.prepare_invoke();
        invocation
            .key(k.dead(orchestrator_id))
            .key(k.queue(orchestrator_id))
            .key(k.index(orchestrator_id))
            .key(k.receipts(orchestrator_id))
            .key(k.key(Key::QueueHigh, orchestrator_id))
            .key(k.key(Key::QueueLow, orchestrator_id));
        for id in message_ids {
            invocation.key(k.delivered(orchestrator_id, id));
        }
        invocation
            .arg(orchestrator_id)
            .arg(revisit_at_ms)
            .arg(queue_expires_at_ms + QUEUE_KEY_GRACE_MS)
            .arg(expected.len());
        for entry in expected.iter().chain(items.iter().map(|(item, _)| item)) {
            invocation.arg(entry);
        }
        for (_, priority) in items {
            invocation.arg(level(*priority));
        }
        invocation
    }

    /// claim_due.lua: claim up to `limit` orchestrators due a look.
    pub(super) fn claim_due(&self, now_ms: i64, lease_until_ms: i64, limit: usize) -> Invocation {
        let mut invocation = self.scripts.claim_due.key(self.keys.due_index());
        invocation.arg(now_ms).arg(lease_until_ms).arg(limit);
        invocation
    }

    /// inspect.lua: what an operator sees of one orchestrator.
    pub(super) fn inspect(&self, orchestrator_id: &str) -> Invocation {
        let k = self.keys;
        let mut invocation = self.scripts.inspect.key(k.session(orchestrator_id));
        invocation.key(k.key(Key::Sessions, orchestrator_id)).key(k.key(Key::SessionRecords, orchestrator_id));
        for queue in k.queues(orchestrator_id) {
            invocation.key(queue);
        }
        invocation.key(k.receipts(orchestrator_id)).key(k.dead(orchestrator_id));
        invocation
    }

    /// acknowledge_events.lua: remove these events from a daemon's list.
    pub(super) fn acknowledge_events(&self, daemon_id: &str, event_ids: &[String]) -> Invocation {
        let mut invocation = self.scripts.acknowledge_events.key(self.keys.daemon_events(daemon_id));
        for id in event_ids {
            invocation.arg(id);
        }
        invocation
    }
}

/// The daemons a step with `session` delivers to: its own and each broadcast copy's.
pub(super) fn step_daemons<'a>(session: Option<(&'a str, &'a str)>, copies: &[(&'a str, &'a str)]) -> Vec<&'a str> {
    session.map(|(_, daemon_id)| daemon_id).into_iter().chain(copies.iter().map(|(_, daemon_id)| *daemon_id)).collect()
}

/// A yes/no argument as the scripts read it.
fn flag(on: bool) -> &'static str {
    if on { "1" } else { "0" }
}

/// A priority level as the scripts number them: 1 high, 2 normal, 3 low.
fn level(priority: Priority) -> i64 {
    priority.rank() as i64 + 1
}
