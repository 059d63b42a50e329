//! The tests of the calls' layout: the positions the Lua scripts name and the calls write agree.
use super::route::{GROUP_ARGS, GROUP_KEYS, MESSAGE_ARGS, ROUTE_ARGS, ROUTE_KEYS, SHARED_ARGS, TARGET_ARGS};
use super::*;
use crate::store::RouteRequest;

/// The keys every step (drain_step.lua, redeliver_step.lua) starts with, by name, in the order
/// step_invocation writes them: lib/steps.lua's STEP_KEY. Each copy's daemon list follows.
const STEP_KEYS: [&str; 10] = ["session", "queue", "daemon", "due", "inflight", "receipts", "queue_high", "queue_low", "sessions", "records"];

/// The arguments every step starts with, by name, in the order step_invocation writes them:
/// lib/steps.lua's STEP_ARG.
const STEP_ARGS: [&str; 5] = ["orchestrator", "session", "daemon", "channel", "max_events"];

/// Each broadcast copy's arguments (copies_args): sessionId, daemonId, channel (lib/steps.lua's
/// COPY_ARGS).
const COPY_ARGS: usize = 3;

/// drain_step.lua's own arguments after STEP_ARGS, by name, in the order drain_step writes
/// them (its ARG; `levels` takes three): then the copies' arguments, then each item's.
const DRAIN_ARGS: [&str; 13] =
["marker_ttl", "list_ttl", "full_score", "score", "receipts", "deadline", "count", "broadcast", "now", "copy_count", "levels", "levels", "levels"];

/// A drain item's arguments, by name (drain_step.lua's ITEM); each copy's daemon event follows.
const DRAIN_ITEM_ARGS: [&str; 6] = ["raw", "action", "event", "marker", "record", "message_id"];

/// redeliver_step.lua's own arguments after STEP_ARGS, by name, in the order receipt_step
/// writes them (its ARG): then the copies' arguments, then each item's.
const RECEIPT_ARGS: [&str; 8] = ["list_ttl", "full_deadline", "score", "queue_key_expiry", "count", "broadcast", "now", "copy_count"];

/// A redelivery item's arguments, by name (redeliver_step.lua's ITEM); each copy's event follows.
const RECEIPT_ITEM_ARGS: [&str; 6] = ["message_id", "expected", "action", "payload", "record", "deadline"];

/// The table `name` of a Lua source (`local NAME = {a = 1, b = 2}`), as (field, number) pairs.
fn lua_table(source: &str, name: &str) -> Vec<(String, usize)> {
    let start = source.find(&format!("\nlocal {name} = {{")).unwrap_or_else(|| panic!("no table {name}"));
    let body = &source[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find('}').unwrap()];
    body.split(',').map(|field| {
        let (key, value) = field.split_once('=').unwrap();
        (key.trim().to_string(), value.trim().parse().unwrap())
    }).collect()
}

/// The number a Lua source gives `name` (`local NAME = 3`, or among `local A, B = 1, 2`).
fn lua_number(source: &str, name: &str) -> usize {
    let line = source.lines().find(|line| line.starts_with("local ") && line.split('=').next().unwrap().split([' ', ',']).any(|n| n == name)).unwrap();
    let (names, values) = line["local ".len()..].split_once('=').unwrap();
    let at = names.split(',').position(|n| n.trim() == name).unwrap();
    values.split(',').nth(at).unwrap().trim().parse().unwrap()
}

/// Checks that `names` (the Rust side, in the order written from position `first`) and the Lua
/// table agree: each Lua field is at the first position Rust gives its name, and `after` (if
/// any) just past the list.
fn agree(lua: &[(String, usize)], names: &[&str], first: usize, after: Option<&str>) {
    for (field, at) in lua {
        match names.iter().position(|name| name == field) {
            Some(i) => assert_eq!(*at, first + i, "{field}"),
            None => assert_eq!((Some(field.as_str()), *at), (after, first + names.len()), "{field} is not in {names:?}"),
        }
    }
    for name in names {
        assert!(lua.iter().any(|(field, _)| field == name), "{name} is not named in Lua");
    }
}

#[test]
fn the_route_calls_name_the_positions_lib_route_lua_names() {
    let lib = include_str!("../../lua/lib/route.lua");
    agree(&lua_table(lib, "KEY"), &ROUTE_KEYS, 1, None);
    agree(&lua_table(lib, "ARG"), &ROUTE_ARGS, 1, None);
    assert_eq!(lua_number(lib, "MESSAGE_KEYS"), ROUTE_KEYS.len());
    assert_eq!(lua_number(lib, "MESSAGE_ARGS"), ROUTE_ARGS.len());
    assert_eq!(lua_number(include_str!("../../lua/route_broadcast.lua"), "TARGET_ARGS"), TARGET_ARGS);

    // The grouped layout: the message and group counts, then the shared arguments.
    let lib = include_str!("../../lua/lib/route_grouped.lua");
    agree(&lua_table(lib, "GROUP_KEY"), &GROUP_KEYS, 1, None);
    agree(&lua_table(lib, "SHARED_ARG"), &SHARED_ARGS, 3, None);
    agree(&lua_table(lib, "GROUP_ARG"), &GROUP_ARGS, 1, None);
    agree(&lua_table(lib, "MESSAGE_ARG"), &MESSAGE_ARGS, 1, None);
    assert_eq!(lua_number(lib, "SHARED_ARGS"), 2 + SHARED_ARGS.len());
    assert_eq!(lua_number(lib, "GROUP_ARGS"), GROUP_ARGS.len());
    assert_eq!(lua_number(lib, "GROUP_MESSAGE_ARGS"), MESSAGE_ARGS.len());
    // ... which give route_message every key and argument it takes (KEY, ARG), each once.
    let mut keys: Vec<&str> = GROUP_KEYS.iter().copied().chain(["marker"]).collect();
    let mut args: Vec<&str> = SHARED_ARGS.iter().chain(&GROUP_ARGS).chain(&MESSAGE_ARGS[1..]).copied().collect();
    keys.sort_unstable();
    args.sort_unstable();
    let (mut all_keys, mut all_args) = (ROUTE_KEYS.to_vec(), ROUTE_ARGS.to_vec());
    all_keys.sort_unstable();
    all_args.sort_unstable();
    assert_eq!((keys, args), (all_keys, all_args));
}

#[test]
fn the_step_calls_name_the_positions_the_step_scripts_name() {
    let lib = include_str!("../../lua/lib/steps.lua");
    agree(&lua_table(lib, "STEP_KEY"), &STEP_KEYS, 1, Some("copies"));
    agree(&lua_table(lib, "STEP_ARG"), &STEP_ARGS, 1, None);
    assert_eq!(lua_number(lib, "COPY_ARGS"), COPY_ARGS);
    let drain = include_str!("../../lua/drain_step.lua");
    agree(&lua_table(drain, "ARG"), &DRAIN_ARGS, STEP_ARGS.len() + 1, Some("copies"));
    agree(&lua_table(drain, "ITEM"), &DRAIN_ITEM_ARGS, 0, Some("copy_events"));
    let redeliver = include_str!("../../lua/redeliver_step.lua");
    agree(&lua_table(redeliver, "ARG"), &RECEIPT_ARGS, STEP_ARGS.len() + 1, Some("copies"));
    agree(&lua_table(redeliver, "ITEM"), &RECEIPT_ITEM_ARGS, 0, Some("copy_events"));
}

/// How many keys and arguments an `EVALSHA` call sends (its RESP count, less the command, the
/// SHA and the key count).
fn sent(packed: &[u8]) -> usize {
    let count = &packed[1..packed.iter().position(|b| *b == b'\r').unwrap()];
    std::str::from_utf8(count).unwrap().parse::<usize>().unwrap() - 3
}

fn invoked(invocation: &Invocation) -> usize {
    sent(&invocation.cmd().get_packed_command())
}

fn limits(multiple_sessions: bool) -> StoreLimits {
    StoreLimits {
        max_queue_size: 100,
        queue_enabled: true,
        daemon_max_events: 1000,
        session_ttl_seconds: 3600,
        multiple_sessions,
        broadcast: multiple_sessions,
        marker_ttl_seconds: 3600,
        daemon_events_ttl_seconds: 86400,
        receipts: true,
        sweep_interval_ms: 5000,
        durability: None,
    }
}

#[test]
fn each_call_sends_as_many_keys_and_arguments_as_its_names_count() {
    let keys = Keys::new("p:");
    let limits = limits(true);
    let calls = Calls { keys: &keys, limits: &limits, scripts: Scripts::shared(false), list_ttl: &ListTtl::default() };
    let copies = vec![("s2", "d2")];
    let (c, n) = (copies.len(), 2);
    let deliver = || DrainAction::Deliver { message_id: "m".into(), event: "e".into(), marker: "k".into(), receipt: "r".into(), copies: vec!["e2".into()] };
    let drain = DrainStep {
        orchestrator_id: "o",
        session: Some(("s", "d")),
        copies: copies.clone(),
        items: vec![(b"a", deliver()), (b"b", DrainAction::Drop)],
        levels: None,
        retry_at_ms: 1,
        revisit_at_ms: 2,
        receipt_deadline_ms: 3,
        now_ms: 4,
    };
    let step_keys = STEP_KEYS.len() + c;
    let per_item = |item_args: usize| item_args + c;
    assert_eq!(invoked(&calls.drain_step(&drain)), step_keys + n + STEP_ARGS.len() + DRAIN_ARGS.len() + COPY_ARGS * c + n * per_item(DRAIN_ITEM_ARGS.len()));
    let redeliver = ReceiptAction::Redeliver { event: "e".into(), record: "r".into(), deadline_ms: 9, copies: vec!["e2".into()] };
    let receipt = ReceiptStep {
        orchestrator_id: "o",
        session: Some(("s", "d")),
        copies,
        items: vec![("m1", "r1", redeliver), ("m2", "r2", ReceiptAction::Requeue { item: "i".into(), priority: Priority::High })],
        full_retry_at_ms: 1,
        queue_revisit_at_ms: 2,
        queue_expires_at_ms: 3,
        now_ms: 4,
    };
    // The dead-letter list, then one delivered marker per item.
    assert_eq!(invoked(&calls.receipt_step(&receipt)), step_keys + 1 + n + STEP_ARGS.len() + RECEIPT_ARGS.len() + COPY_ARGS * c + n * per_item(RECEIPT_ITEM_ARGS.len()));

    for multiple in [false, true] {
        let limits = self::limits(multiple);
        let calls = Calls { keys: &keys, limits: &limits, scripts: Scripts::shared(false), list_ttl: &ListTtl::default() };
        let request = RouteRequest {
            orchestrator_id: "o",
            message_id: "m",
            session_id: "s",
            daemon_id: "d",
            daemon_event: "e",
            marker: "k",
            queue_item: "i",
            priority: Priority::Normal,
            expires_at_ms: 1,
            now_ms: 0,
            dedupe: false,
            queue_only: false,
            receipt: None,
            copies: &[],
        };
        let group_keys = if multiple { GROUP_KEYS.len() } else { GROUP_KEYS.len() - 2 };
        let route_keys = if multiple { ROUTE_KEYS.len() } else { ROUTE_KEYS.len() - 2 };
        let packed = calls.route_packed(Head::Script("sha"), std::slice::from_ref(&request), crate::store::redis::scripts::RouteScript::Single);
        assert_eq!(sent(&packed), route_keys + ROUTE_ARGS.len());
        let packed = calls.route_packed(Head::Script("sha"), std::slice::from_ref(&request), crate::store::redis::scripts::RouteScript::Batch);
        assert_eq!(sent(&packed), group_keys + 1 + 2 + SHARED_ARGS.len() + GROUP_ARGS.len() + MESSAGE_ARGS.len());
        // Three messages to one orchestrator and one to another: two groups, written once each.
        let other = RouteRequest { orchestrator_id: "o2", ..request.clone() };
        let requests = [request.clone(), request.clone(), other, request.clone()];
        let packed = calls.route_packed(Head::Script("sha"), &requests, crate::store::redis::scripts::RouteScript::Batch);
        // A call's head replaced is the call packed with that head.
        let function = Head::Function("orchestrator_router_route_batch_0123");
        assert_eq!(function.replacing(&packed), calls.route_packed(function, &requests, crate::store::redis::scripts::RouteScript::Batch));
        assert_eq!(Head::Script("sha").replacing(&function.replacing(&packed)), packed);
        assert_eq!(sent(&packed), 2 * group_keys + 4 + 2 + SHARED_ARGS.len() + 2 * GROUP_ARGS.len() + 4 * MESSAGE_ARGS.len());
        let text = String::from_utf8_lossy(&packed);
        assert_eq!(text.matches("p:routing:queue:o\r").count() + text.matches("p:routing:queue:o2\r").count(), 2, "{text}");
    }
}
