//! What each script answered, read into the store's types; a reply of another shape is
//! [`StoreError::UnexpectedReply`].

use crate::store::{
    DrainReply, ItemOutcome, OverdueReceipts, QueueInspection, QueueSnapshot, QueueStatus, ReceiptOutcome, ReceiptReply, RouteReply,
    StoreError, StoreResult, Touched,
};
use redis::Value;

/// A text reply.
pub(super) fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// A non-negative integer reply.
pub(super) fn int(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// What the route script answered.
pub(super) fn route(reply: &Value) -> StoreResult<RouteReply> {
    let parts = match reply {
        Value::Array(parts) if !parts.is_empty() => parts,
        other => return Err(StoreError::unexpected("route", other)),
    };
    let status = |v: Option<&Value>| match v.and_then(text).as_deref() {
        Some("pending") => QueueStatus::Pending,
        _ => QueueStatus::Offline,
    };
    let second = || parts.get(1).and_then(text).ok_or_else(|| StoreError::unexpected("route", reply));
    Ok(match text(&parts[0]).as_deref() {
        Some("delivered") => RouteReply::Delivered { session_id: second()?, copies: texts(&parts[2..]) },
        Some("already") => RouteReply::AlreadyDelivered { marker: second()? },
        Some("stale") => RouteReply::Stale { session: second()? },
        Some("refused") => RouteReply::Refused { status: status(parts.get(1)) },
        Some("queued") => RouteReply::Queued {
            status: status(parts.get(1)),
            queue_size: parts.get(2).and_then(int).ok_or_else(|| StoreError::unexpected("route", reply))?,
            dropped: texts(&parts[3..]),
        },
        Some("full") => RouteReply::QueueFull {
            status: status(parts.get(1)),
            queue_size: parts.get(2).and_then(int).ok_or_else(|| StoreError::unexpected("route", reply))?,
            dropped: texts(&parts[3..]),
        },
        _ => return Err(StoreError::unexpected("route", reply)),
    })
}

/// What a batch or broadcast route call answered, one reply per message of its `count`.
pub(super) fn batch(count: usize, reply: StoreResult<Value>) -> Vec<StoreResult<RouteReply>> {
    match reply {
        Ok(Value::Array(flat)) => {
            let mut rest = flat.as_slice();
            (0..count)
                .map(|_| {
                    let len = rest.first().and_then(int).unwrap_or(0) as usize;
                    let parsed = match rest.get(1..1 + len) {
                        Some(parts) => route(&Value::Array(parts.to_vec())),
                        None => Err(StoreError::UnexpectedReply("short reply to route_batch".into())),
                    };
                    rest = rest.get(1 + len..).unwrap_or_default();
                    parsed
                })
                .collect()
        }
        Ok(other) => vec![Err(StoreError::unexpected("route_batch", &other)); count],
        Err(error) => vec![Err(error); count],
    }
}

/// The text replies among `values`.
pub(super) fn texts(values: &[Value]) -> Vec<String> {
    values.iter().filter_map(text).collect()
}

/// What drain_step.lua answered.
pub(super) fn drain_step(reply: Value) -> StoreResult<DrainReply> {
    let parts = match &reply {
        Value::Array(parts) if !parts.is_empty() => parts,
        other => return Err(StoreError::unexpected("drain_step", other)),
    };
    Ok(match text(&parts[0]).as_deref() {
        Some("conflict") => DrainReply::Conflict,
        Some("stale") => DrainReply::Stale { session: parts.get(1).and_then(text) },
        Some("done") => {
            let outcomes = parts
                .get(1)
                .and_then(text)
                .ok_or_else(|| StoreError::unexpected("drain_step", &reply))?
                .chars()
                .map(|c| match c {
                    'D' => ItemOutcome::Delivered,
                    'A' => ItemOutcome::AlreadyDelivered,
                    _ => ItemOutcome::Dropped,
                })
                .collect();
            let remaining = parts.get(2).and_then(int).ok_or_else(|| StoreError::unexpected("drain_step", &reply))?;
            DrainReply::Done { outcomes, remaining }
        }
        _ => return Err(StoreError::unexpected("drain_step", &reply)),
    })
}

/// What redeliver_step.lua answered.
pub(super) fn receipt_step(reply: Value) -> StoreResult<ReceiptReply> {
    let parts = match &reply {
        Value::Array(parts) if !parts.is_empty() => parts,
        other => return Err(StoreError::unexpected("redeliver_step", other)),
    };
    match text(&parts[0]).as_deref() {
        Some("stale") => Ok(ReceiptReply::Stale),
        Some("done") => Ok(ReceiptReply::Done(
            parts
                .get(1)
                .and_then(text)
                .unwrap_or_default()
                .chars()
                .map(|c| match c {
                    'R' => ReceiptOutcome::Redelivered,
                    'D' => ReceiptOutcome::DeadLettered,
                    'Q' => ReceiptOutcome::Requeued,
                    'F' => ReceiptOutcome::DaemonFull,
                    _ => ReceiptOutcome::Skipped,
                })
                .collect(),
        )),
        _ => Err(StoreError::unexpected("redeliver_step", &reply)),
    }
}

/// An integer reply.
pub(super) fn count(what: &str, reply: &Value) -> StoreResult<u64> {
    int(reply).ok_or_else(|| StoreError::unexpected(what, reply))
}

/// A list of text replies (ids).
pub(super) fn ids(what: &str, reply: &Value) -> StoreResult<Vec<String>> {
    match reply {
        Value::Array(ids) => Ok(texts(ids)),
        other => Err(StoreError::unexpected(what, other)),
    }
}

/// What touch_session.lua answered: the refreshed session, the queue's length and the daemon
/// list's when asked, or nil.
pub(super) fn touched(reply: &Value) -> StoreResult<Option<Touched>> {
    Ok(match reply {
        Value::Nil => None,
        Value::Array(parts) if parts.len() == 2 || parts.len() == 3 => Some(Touched {
            session: text(&parts[0]).ok_or_else(|| StoreError::unexpected("touch_session", reply))?,
            queue_length: int(&parts[1]).ok_or_else(|| StoreError::unexpected("touch_session", reply))?,
            daemon_length: parts.get(2).map(|length| int(length).ok_or_else(|| StoreError::unexpected("touch_session", reply))).transpose()?,
        }),
        other => return Err(StoreError::unexpected("touch_session", other)),
    })
}

/// What queue_lengths.lua or drop_queue.lua (`script`) answered: a length per level.
pub(super) fn level_lengths(script: &str, reply: Value) -> StoreResult<[u64; 3]> {
    let (high, normal, low): (u64, u64, u64) = redis::from_redis_value_ref(&reply).map_err(|_| StoreError::unexpected(script, &reply))?;
    Ok([high, normal, low])
}

/// What snapshot.lua answered.
pub(super) fn snapshot(reply: &Value) -> StoreResult<QueueSnapshot> {
    let parts = match reply {
        Value::Array(parts) if parts.len() >= 6 => parts,
        other => return Err(StoreError::unexpected("snapshot", other)),
    };
    let length = int(&parts[1]).ok_or_else(|| StoreError::unexpected("snapshot", reply))?;
    let per_level = text(&parts[2]).as_deref() == Some("l");
    let count = |i: usize| int(&parts[i]).map(|n| n as usize).ok_or_else(|| StoreError::unexpected("snapshot", reply));
    let levels = [count(3)?, count(4)?, count(5)?];
    let head = parts[6..]
        .iter()
        .map(|item| match item {
            Value::BulkString(bytes) => Ok(bytes.clone()),
            other => Err(StoreError::unexpected("snapshot", other)),
        })
        .collect::<StoreResult<_>>()?;
    Ok(QueueSnapshot { session: text(&parts[0]), length, head, levels, per_level })
}

/// What read_receipts.lua answered.
pub(super) fn overdue_receipts(reply: &Value) -> StoreResult<OverdueReceipts> {
    let parts = match reply {
        Value::Array(parts) if !parts.is_empty() => parts,
        other => return Err(StoreError::unexpected("read_receipts", other)),
    };
    let overdue = parts[1..].chunks(2).filter_map(|pair| Some((text(&pair[0])?, text(pair.get(1)?)?))).collect();
    Ok(OverdueReceipts { session: text(&parts[0]), overdue })
}

/// What inspect.lua answered.
pub(super) fn inspection(reply: Value) -> StoreResult<QueueInspection> {
    type Reply = (
        Option<String>,
        Vec<(String, f64)>,
        std::collections::HashMap<String, String>,
        u64,
        Option<Vec<u8>>,
        u64,
        Option<Vec<u8>>,
        u64,
        Option<Vec<u8>>,
        u64,
        u64,
    );
    let read: Reply = redis::from_redis_value_ref(&reply).map_err(|_| StoreError::unexpected("inspect", &reply))?;
    let (primary, expiries, records, high, high_head, normal, normal_head, low, low_head, pending_receipts, dead_letters) = read;
    let sessions = expiries
        .into_iter()
        .rev()
        .filter_map(|(id, expires)| records.get(&id).map(|raw| (raw.clone(), expires as i64)))
        .collect();
    Ok(QueueInspection {
        primary,
        sessions,
        lengths: [high, normal, low],
        heads: [high_head, normal_head, low_head],
        pending_receipts,
        dead_letters,
    })
}
