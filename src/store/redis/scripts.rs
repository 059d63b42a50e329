//! The Lua scripts, one per atomic step (src/store/lua), each with the helpers it uses prepended:
//! built once per process, called by SHA, loaded again by the transport when Redis lost them. On
//! one server the route scripts are also built as Redis Functions ([`Function`]), which routes
//! call instead while the server and the user allow it.

use redis::Script;
use std::sync::OnceLock;

/// A script's source: the lib files it takes (src/store/lua/lib; each after those it uses), then
/// the operation's own file.
macro_rules! lua_source {
    ([$($lib:literal),*], $file:literal) => {
        concat!($(include_str!(concat!("../lua/lib/", $lib)), "\n",)* include_str!(concat!("../lua/", $file)))
    };
}

/// A delivering step's sources: on one server, as [`lua_source!`], and on a Redis Cluster, with
/// lib/cluster.lua after the lib files and the operation's own file run as a function whose reply
/// `cluster_reply` wraps.
macro_rules! delivering {
    ([$($lib:literal),*], $file:literal) => {
        Delivering {
            one_server: lua_source!([$($lib),*], $file),
            libs: concat!($(include_str!(concat!("../lua/lib/", $lib)), "\n",)*),
            main: include_str!(concat!("../lua/", $file)),
            cluster: concat!(
                $(include_str!(concat!("../lua/lib/", $lib)), "\n",)*
                include_str!("../lua/lib/cluster.lua"),
                "\nreturn cluster_reply((function()\n",
                include_str!(concat!("../lua/", $file)),
                "\nend)())\n"
            ),
        }
    };
}

/// The two sources of a script whose step delivers (see lib/cluster.lua), and the parts of the
/// one-server source: its lib files, then its own file.
struct Delivering {
    one_server: &'static str,
    cluster: &'static str,
    libs: &'static str,
    main: &'static str,
}

// Each script with the lib files it takes. A script that calls a helper it does not take fails
// when it calls it (Redis refuses a nonexistent global); the tests below check every script.
const ROUTE: Delivering = delivering!(["acl.lua", "outbox.lua", "queue.lua", "due_index.lua", "sessions.lua", "route.lua"], "route.lua");
const ROUTE_BATCH: Delivering =
    delivering!(["acl.lua", "outbox.lua", "queue.lua", "due_index.lua", "sessions.lua", "route.lua", "route_grouped.lua"], "route_batch.lua");
const ROUTE_BROADCAST: Delivering = delivering!(
    ["acl.lua", "outbox.lua", "queue.lua", "due_index.lua", "sessions.lua", "broadcast.lua", "route.lua", "route_broadcast.lua"],
    "route_broadcast.lua"
);
const DRAIN_STEP: Delivering =
    delivering!(["acl.lua", "outbox.lua", "queue.lua", "due_index.lua", "sessions.lua", "broadcast.lua", "steps.lua"], "drain_step.lua");
const REDELIVER_STEP: Delivering =
    delivering!(["acl.lua", "outbox.lua", "queue.lua", "due_index.lua", "sessions.lua", "broadcast.lua", "steps.lua"], "redeliver_step.lua");
const REGISTER_SESSION: &str = lua_source!(["acl.lua", "queue.lua", "sessions.lua"], "register_session.lua");
const TOUCH_SESSION: &str = lua_source!(["acl.lua", "queue.lua", "sessions.lua"], "touch_session.lua");
const UNREGISTER_SESSION: &str = lua_source!(["acl.lua", "sessions.lua"], "unregister_session.lua");
const READ_SESSIONS: &str = lua_source!(["acl.lua", "sessions.lua"], "read_sessions.lua");
const READ_RECEIPTS: &str = lua_source!(["acl.lua", "sessions.lua", "broadcast.lua"], "read_receipts.lua");
const SNAPSHOT: &str = lua_source!(["acl.lua", "queue.lua", "sessions.lua", "broadcast.lua"], "snapshot.lua");
const REQUEUE_DEAD: &str = lua_source!(["acl.lua", "queue.lua", "due_index.lua"], "requeue_dead.lua");
const PUSH_OUTBOX: &str = lua_source!(["acl.lua", "outbox.lua"], "push_outbox.lua");
const DUE_VERSION: &str = lua_source!(["acl.lua", "outbox.lua"], "due_version.lua");
const CLAIM_DUE: &str = lua_source!(["acl.lua"], "claim_due.lua");
const ACKNOWLEDGE: &str = lua_source!(["acl.lua"], "acknowledge.lua");
const FILE_DUE: &str = lua_source!(["acl.lua"], "file_due.lua");
const SWEEP_LOCK: &str = lua_source!(["acl.lua"], "sweep_lock.lua");
const ACKNOWLEDGE_EVENTS: &str = lua_source!(["acl.lua"], "acknowledge_events.lua");
const QUEUE_LENGTHS: &str = lua_source!(["acl.lua"], "queue_lengths.lua");
const INSPECT: &str = lua_source!(["acl.lua"], "inspect.lua");
const DROP_QUEUE: &str = lua_source!(["acl.lua", "queue.lua", "due_index.lua"], "drop_queue.lua");

/// A delivering script as a Redis Function (Redis 7 and later). A script sent by EVALSHA runs its
/// lib files again on every call, building each named table and closure anew, a third of what a
/// lone route costs Redis; a function library runs them once, when it is loaded, and each call
/// runs only the script's own file. What a lib file keeps for one call only is marked `-- per
/// call` on its declaration, and every call of the function sets it afresh (a library keeps its
/// values between calls).
pub(super) struct Function {
    /// The function's name, which is also its library's: the script's and a hash of the library,
    /// so that routers of different versions sharing a server each call their own.
    pub(super) name: String,
    /// The library's source, FUNCTION LOAD's argument.
    pub(super) library: String,
}

impl Function {
    /// `script` (its file's stem) as a function.
    fn new(script: &str, sources: &Delivering) -> Self {
        let resets: String = per_call_state(sources.libs).map(|statement| format!("  {statement}\n")).collect();
        let body = format!(
            "local KEYS, ARGV\n{libs}\nlocal function main()\n{main}\nend\n\n\
             redis.register_function{{function_name = NAME, callback = function(keys, args)\n  KEYS, ARGV = keys, args\n{resets}  return main()\nend}}\n",
            libs = sources.libs,
            main = sources.main,
        );
        let name = format!("orchestrator_router_{script}_{}", &Script::new(&body).get_hash()[..12]);
        let library = format!("#!lua name={name}\nlocal NAME = '{name}'\n{body}");
        Function { name, library }
    }
}

/// The statements that give each value a lib file keeps for one call (declared `local ... =
/// ... -- per call`) its first value again.
fn per_call_state(libs: &str) -> impl Iterator<Item = &str> {
    libs.lines().filter_map(|line| line.split_once(" -- per call")?.0.strip_prefix("local "))
}

/// Which route script a call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RouteScript {
    /// route.lua: one message.
    Single = 0,
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
    pub(super) drop_queue: Script,
    /// The route scripts as functions (one server only: single, batch, broadcast).
    route_functions: Option<[Function; 3]>,
}

/// The route script's source on one server, exactly as the store loads it (benchmarks run it
/// alone to measure what Redis itself allows).
pub fn route_source() -> &'static str {
    ROUTE.one_server
}

impl Scripts {
    /// The scripts for one server, or (`cluster`) those whose steps deliver into outboxes, built
    /// once for the process: every store shares them (each set is about 260 KB of Lua with the lib
    /// files prepended, which a store of its own would hold until it is dropped).
    pub(super) fn shared(cluster: bool) -> &'static Scripts {
        static SINGLE: OnceLock<Scripts> = OnceLock::new();
        static CLUSTER: OnceLock<Scripts> = OnceLock::new();
        if cluster { CLUSTER.get_or_init(|| Scripts::new(true)) } else { SINGLE.get_or_init(|| Scripts::new(false)) }
    }

    /// The route script of `kind`, and its source (for the pipe, which loads it itself).
    pub(super) fn route(&self, kind: RouteScript) -> (&Script, &'static str) {
        match kind {
            RouteScript::Single => (&self.route, ROUTE.one_server),
            RouteScript::Batch => (&self.route_batch, ROUTE_BATCH.one_server),
            RouteScript::Broadcast => (&self.route_broadcast, ROUTE_BROADCAST.one_server),
        }
    }

    /// The route script of `kind` as a function (on one server).
    pub(super) fn route_function(&self, kind: RouteScript) -> Option<&Function> {
        let functions = self.route_functions.as_ref()?;
        Some(&functions[kind as usize])
    }

    /// The scripts for one server, or (`cluster`) those whose steps deliver into outboxes (see
    /// lib/cluster.lua).
    fn new(cluster: bool) -> Self {
        let delivering = |sources: &Delivering| Script::new(if cluster { sources.cluster } else { sources.one_server });
        Scripts {
            route: delivering(&ROUTE),
            route_batch: delivering(&ROUTE_BATCH),
            route_broadcast: delivering(&ROUTE_BROADCAST),
            register_session: Script::new(REGISTER_SESSION),
            touch_session: Script::new(TOUCH_SESSION),
            drain_step: delivering(&DRAIN_STEP),
            claim_due: Script::new(CLAIM_DUE),
            acknowledge: Script::new(ACKNOWLEDGE),
            read_receipts: Script::new(READ_RECEIPTS),
            redeliver_step: delivering(&REDELIVER_STEP),
            push_outbox: Script::new(PUSH_OUTBOX),
            due_version: Script::new(DUE_VERSION),
            file_due: Script::new(FILE_DUE),
            sweep_lock: Script::new(SWEEP_LOCK),
            requeue_dead: Script::new(REQUEUE_DEAD),
            snapshot: Script::new(SNAPSHOT),
            acknowledge_events: Script::new(ACKNOWLEDGE_EVENTS),
            unregister_session: Script::new(UNREGISTER_SESSION),
            read_sessions: Script::new(READ_SESSIONS),
            queue_lengths: Script::new(QUEUE_LENGTHS),
            inspect: Script::new(INSPECT),
            drop_queue: Script::new(DROP_QUEUE),
            route_functions: (!cluster).then(|| {
                [Function::new("route", &ROUTE), Function::new("route_batch", &ROUTE_BATCH), Function::new("route_broadcast", &ROUTE_BROADCAST)]
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    /// Every script as it is built, by name: each one-server source, then each cluster one.
    fn sources() -> Vec<(String, &'static str)> {
        let delivering = [
            ("route.lua", &ROUTE),
            ("route_batch.lua", &ROUTE_BATCH),
            ("route_broadcast.lua", &ROUTE_BROADCAST),
            ("drain_step.lua", &DRAIN_STEP),
            ("redeliver_step.lua", &REDELIVER_STEP),
        ];
        let others = [
            ("register_session.lua", REGISTER_SESSION),
            ("touch_session.lua", TOUCH_SESSION),
            ("unregister_session.lua", UNREGISTER_SESSION),
            ("read_sessions.lua", READ_SESSIONS),
            ("read_receipts.lua", READ_RECEIPTS),
            ("snapshot.lua", SNAPSHOT),
            ("requeue_dead.lua", REQUEUE_DEAD),
            ("push_outbox.lua", PUSH_OUTBOX),
            ("due_version.lua", DUE_VERSION),
            ("claim_due.lua", CLAIM_DUE),
            ("acknowledge.lua", ACKNOWLEDGE),
            ("file_due.lua", FILE_DUE),
            ("sweep_lock.lua", SWEEP_LOCK),
            ("acknowledge_events.lua", ACKNOWLEDGE_EVENTS),
            ("queue_lengths.lua", QUEUE_LENGTHS),
            ("inspect.lua", INSPECT),
            ("drop_queue.lua", DROP_QUEUE),
        ];
        let mut out: Vec<(String, &'static str)> = delivering.iter().map(|(name, s)| (name.to_string(), s.one_server)).collect();
        out.extend(others.iter().map(|(name, s)| (name.to_string(), *s)));
        out.extend(delivering.iter().map(|(name, s)| (format!("{name} (cluster)"), s.cluster)));
        out
    }

    fn lua_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/lua")
    }

    /// The files of `dir` ending in .lua, by name, with their text.
    fn lua_files(dir: &std::path::Path) -> Vec<(String, String)> {
        let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "lua"))
            .map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&path).unwrap()))
            .collect();
        files.sort();
        files
    }

    /// The names a Lua chunk declares at its top level (`local function f`, `local a, b =`), each
    /// with the offset of its declaration.
    fn declarations(source: &str) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        let mut offset = 0;
        for line in source.split_inclusive('\n') {
            if let Some(rest) = line.strip_prefix("local ") {
                let rest = rest.strip_prefix("function ").unwrap_or(rest);
                let names = rest.split(['=', '(']).next().unwrap_or("");
                out.extend(names.split(',').map(|name| (offset, name.trim().to_string())));
            }
            offset += line.len();
        }
        out
    }

    /// Each name a Lua chunk reads or calls, outside comments and strings, with its offset: not a
    /// field (`a.name`, `a:name`) nor a table constructor's key (`{name = 1, name = 2}`).
    fn uses(source: &str) -> Vec<(usize, &str)> {
        let bytes = source.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        let previous = |at: usize| bytes[..at].iter().rev().find(|b| !b.is_ascii_whitespace()).copied();
        while i < bytes.len() {
            let b = bytes[i];
            if source[i..].starts_with("--") {
                i = source[i..].find('\n').map_or(bytes.len(), |end| i + end);
            } else if b == b'\'' || b == b'"' {
                i += 1;
                while i < bytes.len() && bytes[i] != b {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            } else if b.is_ascii_alphabetic() || b == b'_' {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let next = source[i..].trim_start();
                let key = matches!(previous(start), Some(b'{' | b',')) && next.starts_with('=') && !next.starts_with("==");
                if !matches!(previous(start), Some(b'.' | b':')) && !key {
                    out.push((start, &source[start..i]));
                }
            } else {
                i += 1;
            }
        }
        out
    }

    #[test]
    fn every_script_file_is_built() {
        let files: HashSet<String> = lua_files(&lua_dir()).into_iter().map(|(name, _)| name).collect();
        let built: HashSet<String> = sources().into_iter().filter(|(name, _)| !name.ends_with("(cluster)")).map(|(name, _)| name).collect();
        assert_eq!(files, built);
    }

    #[test]
    fn every_helper_a_script_uses_comes_before_it_in_its_source() {
        // The names the lib files declare: a script that uses one must take the file that declares
        // it, before the use (a name Lua has not seen as local is a global, nil in Redis).
        let helpers: HashMap<String, String> = lua_files(&lua_dir().join("lib"))
            .into_iter()
            .flat_map(|(file, text)| declarations(&text).into_iter().map(move |(_, name)| (name, file.clone())))
            .collect();
        for (script, source) in sources() {
            let declared = declarations(source);
            for (at, name) in uses(source) {
                if let Some(file) = helpers.get(name) {
                    assert!(
                        declared.iter().any(|(declared_at, declared_name)| declared_name == name && *declared_at <= at),
                        "{script} uses {name} before lib/{file} declares it (or without taking lib/{file})"
                    );
                }
            }
        }
    }

    #[test]
    fn every_lib_file_a_script_takes_is_used_by_what_follows_it() {
        for (script, source) in sources() {
            for (file, text) in lua_files(&lua_dir().join("lib")) {
                let Some(start) = source.find(text.as_str()) else { continue };
                let end = start + text.len();
                let names: HashSet<String> = declarations(&text).into_iter().map(|(_, name)| name).collect();
                assert!(uses(&source[end..]).iter().any(|(_, name)| names.contains(*name)), "{script} takes lib/{file} but uses none of it");
            }
        }
    }

    #[test]
    fn every_value_a_script_changes_is_set_afresh_by_every_function_call() {
        // What a lib file declares at its top level and any script assigns (`name = `, `name[k] = `)
        // is per call (unless marked as a memo kept across calls): a function's library would otherwise carry it from one call to the next.
        let libs = lua_files(&lua_dir().join("lib"));
        let scripts = lua_files(&lua_dir());
        for (file, text) in &libs {
            for line in text.lines().filter(|line| line.starts_with("local ") && !line.starts_with("local function ")) {
                let names: Vec<String> = declarations(line).into_iter().map(|(_, name)| name).collect();
                let assigned = libs.iter().chain(&scripts).flat_map(|(_, text)| text.lines()).any(|other| {
                    let other = other.trim_start();
                    names.iter().any(|name| {
                        other.strip_prefix(name.as_str()).is_some_and(|rest| rest.starts_with([' ', '[', ',']) && rest.contains('=') && !rest.trim_start().starts_with("=="))
                    })
                });
                // Or a memo kept on purpose (each entry a pure function of its key), so marked.
                if !line.ends_with(" -- kept across calls") {
                    assert_eq!(assigned, line.ends_with(" -- per call"), "lib/{file}: {line}");
                }
            }
        }
        let functions = Scripts::new(false).route_functions.expect("one server's route functions");
        for function in &functions {
            let callback = &function.library[function.library.find("callback = function").expect("a callback")..];
            for statement in per_call_state(&function.library) {
                assert!(callback.contains(&format!("\n  {statement}\n")), "{}: {statement}", function.name);
            }
            assert!(function.library.starts_with(&format!("#!lua name={}\n", function.name)));
        }
        assert_eq!(per_call_state(functions[0].library.as_str()).count(), 5, "the route library's per-call values");
    }

    #[test]
    fn every_include_says_what_it_holds() {
        for (file, text) in lua_files(&lua_dir().join("lib")) {
            assert!(text.starts_with(&format!("-- lib/{file}: ")), "lib/{file} does not open with what it holds");
        }
    }
}
