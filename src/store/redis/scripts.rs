//! The Lua scripts, one per atomic step (src/store/lua), each with the helpers it uses prepended:
//! built once per process, called by SHA, loaded again by the transport when Redis lost them.

use redis::Script;
use std::sync::OnceLock;

/// A script's source: the shared Lua helpers followed by the operation's own file.
macro_rules! lua_source {
    ($file:literal $(, $lib:literal)*) => {
        concat!(
            include_str!("../lua/lib/common.lua"),
            "\n",
            $(include_str!(concat!("../lua/lib/", $lib)), "\n",)*
            include_str!(concat!("../lua/", $file))
        )
    };
}

/// A script's source on a Redis Cluster: as [`lua_source!`], with lib/cluster.lua after the
/// helpers and the operation's own file run as a function whose reply `cluster_reply` wraps.
macro_rules! lua_cluster {
    ($file:literal $(, $lib:literal)*) => {
        Script::new(concat!(
            include_str!("../lua/lib/common.lua"),
            "\n",
            $(include_str!(concat!("../lua/lib/", $lib)), "\n",)*
            include_str!("../lua/lib/cluster.lua"),
            "\nreturn cluster_reply((function()\n",
            include_str!(concat!("../lua/", $file)),
            "\nend)())\n"
        ))
    };
}

/// Builds a script from [`lua_source!`].
macro_rules! lua {
    ($file:literal $(, $lib:literal)*) => {
        Script::new(lua_source!($file $(, $lib)*))
    };
}

/// The sources of the scripts routes send through the pipe, which loads them itself when Redis
/// lost them.
const ROUTE_SOURCE: &str = lua_source!("route.lua", "route.lua");
const ROUTE_BATCH_SOURCE: &str = lua_source!("route_batch.lua", "route.lua");
const ROUTE_BROADCAST_SOURCE: &str = lua_source!("route_broadcast.lua", "route.lua");

/// Which route script a call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RouteScript {
    /// route.lua: one message.
    Single,
    /// route_batch.lua: many messages.
    Batch,
    /// route_broadcast.lua: one message, to every target session.
    Broadcast,
}

pub(super) struct Scripts {
    pub(super) route: Script,
    pub(super) route_batch: Script,
    pub(super) route_broadcast: Script,
    pub(super) register_session: Script,
    pub(super) touch_session: Script,
    pub(super) drain_step: Script,
    pub(super) claim_due: Script,
    pub(super) acknowledge: Script,
    pub(super) read_receipts: Script,
    pub(super) redeliver_step: Script,
    /// Cluster only: moves outbox entries into a daemon's list.
    pub(super) push_outbox: Script,
    /// Cluster only: an orchestrator's due time with a new version.
    pub(super) due_version: Script,
    /// Cluster only: copies a due time into the index, unless a newer one is there.
    pub(super) file_due: Script,
    /// Cluster only: which router sweeps.
    pub(super) sweep_lock: Script,
    pub(super) requeue_dead: Script,
    pub(super) snapshot: Script,
    pub(super) acknowledge_events: Script,
    pub(super) unregister_session: Script,
    pub(super) read_sessions: Script,
    pub(super) queue_lengths: Script,
    pub(super) inspect: Script,
}

impl Scripts {
    /// The scripts for one server, or (`cluster`) those whose steps deliver into outboxes, built
    /// once for the process: every store shares them (each set is about 370 KB of Lua with the
    /// shared library prepended, which a store of its own would hold until it is dropped).
    pub(super) fn shared(cluster: bool) -> &'static Scripts {
        static SINGLE: OnceLock<Scripts> = OnceLock::new();
        static CLUSTER: OnceLock<Scripts> = OnceLock::new();
        if cluster { CLUSTER.get_or_init(|| Scripts::new(true)) } else { SINGLE.get_or_init(|| Scripts::new(false)) }
    }

    /// The route script of `kind`, and its source (for the pipe, which loads it itself).
    pub(super) fn route(&self, kind: RouteScript) -> (&Script, &'static str) {
        match kind {
            RouteScript::Single => (&self.route, ROUTE_SOURCE),
            RouteScript::Batch => (&self.route_batch, ROUTE_BATCH_SOURCE),
            RouteScript::Broadcast => (&self.route_broadcast, ROUTE_BROADCAST_SOURCE),
        }
    }

    /// The scripts for one server, or (`cluster`) those whose steps deliver into outboxes (see
    /// lib/cluster.lua).
    fn new(cluster: bool) -> Self {
        let (route, route_batch, route_broadcast, drain_step, redeliver_step) = if cluster {
            (
                lua_cluster!("route.lua", "route.lua"),
                lua_cluster!("route_batch.lua", "route.lua"),
                lua_cluster!("route_broadcast.lua", "route.lua"),
                lua_cluster!("drain_step.lua"),
                lua_cluster!("redeliver_step.lua"),
            )
        } else {
            (
                Script::new(ROUTE_SOURCE),
                Script::new(ROUTE_BATCH_SOURCE),
                Script::new(ROUTE_BROADCAST_SOURCE),
                lua!("drain_step.lua"),
                lua!("redeliver_step.lua"),
            )
        };
        Scripts {
            route,
            route_batch,
            route_broadcast,
            register_session: lua!("register_session.lua"),
            touch_session: lua!("touch_session.lua"),
            drain_step,
            claim_due: lua!("claim_due.lua"),
            acknowledge: lua!("acknowledge.lua"),
            read_receipts: lua!("read_receipts.lua"),
            redeliver_step,
            push_outbox: lua!("push_outbox.lua"),
            due_version: lua!("due_version.lua"),
            file_due: lua!("file_due.lua"),
            sweep_lock: lua!("sweep_lock.lua"),
            requeue_dead: lua!("requeue_dead.lua"),
            snapshot: lua!("snapshot.lua"),
            acknowledge_events: lua!("acknowledge_events.lua"),
            unregister_session: lua!("unregister_session.lua"),
            read_sessions: lua!("read_sessions.lua"),
            queue_lengths: lua!("queue_lengths.lua"),
            inspect: lua!("inspect.lua"),
        }
    }
}
