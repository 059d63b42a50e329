//! Each script call's `KEYS` and `ARGV`, built from a request, without I/O: one builder per step
//! here, the route calls in [`route`]. The order of keys and arguments is each script's header
//! (src/store/lua); where a script names their positions (tables of offsets), the tests below
//! name them in the order written here and check the two agree.

mod route;

pub(super) use self::route::{Head, ListTtl, ROUTE_BATCH};
use super::scripts::Scripts;
use crate::store::keys::{Key, Keys};
use crate::store::{DrainAction, DrainStep, Priority, ReceiptAction, ReceiptStep, RequeueStep, StoreLimits, QUEUE_KEY_GRACE_MS};
use redis::{Script, ToRedisArgs};

/// A script call being built: its script, keys and arguments. Unlike redis-rs's
/// `ScriptInvocation` it becomes a command ([`Invocation::cmd`]), which can travel in one pipeline
/// with what must follow it on the same connection (the WAIT of durability).
pub(super) struct Invocation {
    script: &'static Script,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl Invocation {
    /// A call of `script`, without keys or arguments yet.
    pub fn of(script: &'static Script) -> Self {
        Invocation { script, keys: Vec::new(), args: Vec::new() }
    }

    /// Adds a key (`KEYS`).
    pub fn key<T: ToRedisArgs>(&mut self, key: T) -> &mut Self {
        key.write_redis_args(&mut self.keys);
        self
    }

    /// Adds an argument (`ARGV`).
    pub fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        arg.write_redis_args(&mut self.args);
        self
    }

    pub fn script(&self) -> &'static Script {
        self.script
    }

    /// The call as an EVALSHA command.
    pub fn cmd(&self) -> redis::Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(self.script.get_hash()).arg(self.keys.len());
        for part in self.keys.iter().chain(&self.args) {
            cmd.arg(part.as_slice());
        }
        cmd
    }
}

/// The calls of one store: its keys, limits and scripts.
pub(super) struct Calls<'s> {
    pub keys: &'s Keys,
    pub limits: &'s StoreLimits,
    pub scripts: &'static Scripts,
    /// When each daemon list's TTL was last refreshed by a route.
    pub list_ttl: &'s ListTtl,
}

impl Calls<'_> {
    /// The keys register_session.lua and touch_session.lua take: the session, the three queue
    /// lists (normal, pending index, high, low, as numbered there) and the session set.
    fn session_step(&self, script: &'static Script, orchestrator_id: &str) -> Invocation {
        let k = self.keys;
        let mut invocation = Invocation::of(script);
        invocation
            .key(k.session(orchestrator_id))
            .key(k.queue(orchestrator_id))
            .key(k.index(orchestrator_id))
            .key(k.key(Key::QueueHigh, orchestrator_id))
            .key(k.key(Key::QueueLow, orchestrator_id))
            .key(k.session_set(orchestrator_id).as_slice());
        invocation
    }

    /// The keys and arguments drain_step.lua and redeliver_step.lua start with (lib/steps.lua's
    /// STEP_KEY, then each copy's daemon list, and STEP_ARG; no expected session: '' for its ids).
    fn step_invocation(&self, script: &'static Script, orchestrator_id: &str, session: Option<(&str, &str)>, copies: &[(&str, &str)]) -> Invocation {
        let k = self.keys;
        let (session_id, daemon_id) = session.unwrap_or(("", ""));
        let mut invocation = Invocation::of(script);
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

    /// The broadcast flag, now and the copy count, as steps take them (the last of their own
    /// arguments; see `copies_args`).
    fn targets_args(&self, invocation: &mut Invocation, copies: &[(&str, &str)], now_ms: i64) {
        invocation.arg(flag(self.limits.broadcast)).arg(now_ms).arg(copies.len());
    }

    /// Each broadcast copy's session id, daemon id and channel (lib/steps.lua's COPY_ARGS).
    fn copies_args(&self, invocation: &mut Invocation, copies: &[(&str, &str)]) {
        for (session_id, daemon_id) in copies {
            invocation.arg(*session_id).arg(*daemon_id).arg(self.keys.daemon_channel(daemon_id));
        }
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
        let mut invocation = Invocation::of(&self.scripts.unregister_session);
        invocation.key(k.session(orchestrator_id));
        invocation.key(k.session_set(orchestrator_id).as_slice()).arg(session_id.unwrap_or("")).arg(now_ms);
        invocation
    }

    /// touch_session.lua: the heartbeat of the primary session, or of the one named.
    pub(super) fn touch_session(&self, orchestrator_id: &str, session_id: Option<&str>, daemon_id: Option<&str>, now_iso: &str, now_ms: i64) -> Invocation {
        let mut invocation = self.session_step(&self.scripts.touch_session, orchestrator_id);
        invocation
            .arg(now_iso)
            .arg(self.limits.session_ttl_seconds)
            .arg(orchestrator_id)
            .arg(now_ms)
            .arg(session_id.unwrap_or(""));
        if let Some(daemon_id) = daemon_id {
            invocation.key(self.keys.daemon_events(daemon_id)).arg(daemon_id);
        }
        invocation
    }

    /// read_sessions.lua: the living sessions, the primary first.
    pub(super) fn sessions(&self, orchestrator_id: &str, now_ms: i64) -> Invocation {
        let k = self.keys;
        let mut invocation = Invocation::of(&self.scripts.read_sessions);
        invocation.key(k.session(orchestrator_id));
        invocation.key(k.session_set(orchestrator_id).as_slice()).arg(now_ms);
        invocation
    }

    /// queue_lengths.lua: the length of each queue level.
    pub(super) fn queue_lengths(&self, orchestrator_id: &str) -> Invocation {
        let mut invocation = Invocation::of(&self.scripts.queue_lengths);
        for queue in self.keys.queues(orchestrator_id) {
            invocation.key(queue);
        }
        invocation
    }

    /// snapshot.lua: the session and the first `count` items in drain order.
    pub(super) fn snapshot(&self, orchestrator_id: &str, count: usize, now_ms: i64) -> Invocation {
        let k = self.keys;
        let mut invocation = Invocation::of(&self.scripts.snapshot);
        invocation.key(k.session(orchestrator_id));
        for queue in k.queues(orchestrator_id) {
            invocation.key(queue);
        }
        invocation.key(k.session_set(orchestrator_id).as_slice()).arg(count).arg(now_ms).arg(flag(self.limits.broadcast));
        invocation
    }

    /// drain_step.lua for `step`: its own arguments (its ARG), the copies', then per item its ITEM
    /// and each copy's event.
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
        let mut invocation = Invocation::of(&self.scripts.acknowledge);
        invocation.key(self.keys.inflight(orchestrator_id)).key(self.keys.receipts(orchestrator_id));
        for id in message_ids {
            invocation.arg(id);
        }
        invocation
    }

    /// read_receipts.lua: the session and the receipts due by `due_by_ms`.
    pub(super) fn overdue_receipts(&self, orchestrator_id: &str, now_ms: i64, due_by_ms: i64, limit: usize) -> Invocation {
        let k = self.keys;
        let mut invocation = Invocation::of(&self.scripts.read_receipts);
        invocation.key(k.session(orchestrator_id));
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

    /// redeliver_step.lua for `step`: its own arguments (its ARG), the copies', then per item its
    /// ITEM and each copy's event.
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
    pub(super) fn requeue_dead(&self, step: &RequeueStep<'_>) -> Invocation {
        let RequeueStep { orchestrator_id, expected, items, message_ids, revisit_at_ms, queue_expires_at_ms } = *step;
        let k = self.keys;
        let mut invocation = Invocation::of(&self.scripts.requeue_dead);
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
        let mut invocation = Invocation::of(&self.scripts.claim_due);
        invocation.key(self.keys.due_index());
        invocation.arg(now_ms).arg(lease_until_ms).arg(limit);
        invocation
    }

    /// inspect.lua: what an operator sees of one orchestrator.
    pub(super) fn inspect(&self, orchestrator_id: &str) -> Invocation {
        let k = self.keys;
        let mut invocation = Invocation::of(&self.scripts.inspect);
        invocation.key(k.session(orchestrator_id));
        invocation.key(k.key(Key::Sessions, orchestrator_id)).key(k.key(Key::SessionRecords, orchestrator_id));
        for queue in k.queues(orchestrator_id) {
            invocation.key(queue);
        }
        invocation.key(k.receipts(orchestrator_id)).key(k.dead(orchestrator_id));
        invocation
    }

    /// drop_queue.lua: delete every level of the queue, filing what remains at `now_ms`.
    pub(super) fn drop_queue(&self, orchestrator_id: &str, now_ms: i64) -> Invocation {
        let k = self.keys;
        let mut invocation = Invocation::of(&self.scripts.drop_queue);
        for queue in k.queues(orchestrator_id) {
            invocation.key(queue);
        }
        invocation.key(k.index(orchestrator_id)).key(k.receipts(orchestrator_id)).arg(orchestrator_id).arg(now_ms);
        invocation
    }

    /// acknowledge_events.lua: remove these events from a daemon's list.
    pub(super) fn acknowledge_events(&self, daemon_id: &str, event_ids: &[String]) -> Invocation {
        let mut invocation = Invocation::of(&self.scripts.acknowledge_events);
        invocation.key(self.keys.daemon_events(daemon_id));
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


#[cfg(test)]
mod tests;
