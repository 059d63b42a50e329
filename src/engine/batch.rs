//! Routing many messages in one call: one pipelined round of route scripts for the whole batch,
//! with the same guarantees as routing each message alone.

use super::error::RouterError;
use super::model::Message;
use super::route::{Prepared, RouteOutcome};
use super::router::Router;
use crate::store::{RouteReply, Store, StoreError, StoreResult};
use std::sync::Arc;

/// Rounds a batch sends before routing what is left of it one message at a time.
const BATCH_ROUNDS: usize = 3;

/// One message of a batch and where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchItem {
    pub message: Message,
    pub orchestrator_id: String,
    /// Queue without looking for a session (the presence service says the orchestrator is offline).
    pub queue_only: bool,
}

impl<S: Store> Router<S> {
    /// Routes every item in one pipelined round; results in input order. Refuses the whole batch,
    /// writing nothing, if any item is invalid (the error names `items[i]`).
    pub async fn route_batch(self: &Arc<Self>, items: Vec<BatchItem>) -> Result<Vec<RouteOutcome>, RouterError> {
        let mut prepared = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            prepared.push(self.prepare(&item.message, &item.orchestrator_id).map_err(|e| e.within(&format!("items[{i}]")))?);
        }
        self.check_open()?;
        let outcomes = self.route_prepared_batch(&items, &prepared).await;
        self.metrics.routed(outcomes.len() as u64);
        Ok(outcomes)
    }

    /// Routes independent messages together (the `routeMessage` calls of one tick): each invalid
    /// one gets its own error, the rest route as one batch, or through the single route script
    /// when there is one. Each message is delivered through its orchestrator's active session or
    /// queued (straight away with `queue_only`, when the presence service says the orchestrator is
    /// offline), and resolves `failed` only after the retries.
    pub async fn route_each(self: &Arc<Self>, items: Vec<BatchItem>) -> Vec<Result<RouteOutcome, RouterError>> {
        let mut results: Vec<Option<Result<RouteOutcome, RouterError>>> = Vec::with_capacity(items.len());
        let mut valid = Vec::with_capacity(items.len());
        let mut prepared = Vec::with_capacity(items.len());
        for item in items {
            match self.prepare(&item.message, &item.orchestrator_id) {
                Ok(p) => {
                    results.push(None);
                    valid.push(item);
                    prepared.push(p);
                }
                Err(error) => results.push(Some(Err(error))),
            }
        }
        let mut outcomes = match self.check_open() {
            Err(error) => valid.iter().map(|_| Err(error.clone())).collect::<Vec<_>>(),
            Ok(()) if valid.len() == 1 => {
                let item = &valid[0];
                vec![Ok(self.route_prepared(&prepared[0], &item.orchestrator_id, item.queue_only, false).await)]
            }
            Ok(()) => self.route_prepared_batch(&valid, &prepared).await.into_iter().map(Ok).collect(),
        }
        .into_iter();
        let results: Vec<_> = results.into_iter().map(|r| r.unwrap_or_else(|| outcomes.next().expect("one outcome per valid item"))).collect();
        self.metrics.routed(results.iter().filter(|r| r.is_ok()).count() as u64);
        results
    }

    /// Routes prepared items in one pipelined round, with retries; outcomes in input order.
    /// Items the store could not route as sent (their session changed under them, so nothing was
    /// written for them, or their own command failed) go again together, in order, so that the
    /// items of one tick keep their call order; after [`BATCH_ROUNDS`] rounds, one by one. An
    /// item's own failure is a failed attempt like a failed round: reported, counted against
    /// `retry.maxAttempts` and followed by the backoff.
    async fn route_prepared_batch(self: &Arc<Self>, items: &[BatchItem], prepared: &[Prepared]) -> Vec<RouteOutcome> {
        let mut outcomes: Vec<Option<RouteOutcome>> = items.iter().map(|_| None).collect();
        let mut waiting: Vec<usize> = (0..items.len()).collect();
        // The attempts each item has failed so far.
        let mut failed = vec![0u32; items.len()];
        let mut dedupe = false;
        for _ in 0..BATCH_ROUNDS {
            if waiting.is_empty() {
                break;
            }
            let (replies, attempts) = match self.send_batch(items, prepared, &waiting, dedupe).await {
                Ok(sent) => sent,
                Err((error, attempts)) => {
                    for &i in &waiting {
                        outcomes[i] = Some(self.failed_on(&prepared[i].message_id, &items[i].orchestrator_id, &error, failed[i] + attempts));
                    }
                    waiting.clear();
                    break;
                }
            };
            let mut again = Vec::new();
            let mut backoff = 0;
            for (&i, reply) in waiting.iter().zip(replies) {
                let orchestrator_id = items[i].orchestrator_id.as_str();
                // The round's own failed attempts (retried as a whole) count for each of its items.
                failed[i] += attempts - 1;
                match reply {
                    Ok(RouteReply::Stale { session }) => {
                        self.memo.learn(orchestrator_id, &session);
                        again.push(i);
                    }
                    Ok(reply) => outcomes[i] = Some(self.outcome(&prepared[i], orchestrator_id, reply, failed[i] + 1)),
                    Err(error) => {
                        failed[i] += 1;
                        self.attempt_failed(&[(&prepared[i].message_id, orchestrator_id)], &error);
                        if failed[i] >= self.config.retry.max_attempts || self.is_closed() {
                            outcomes[i] = Some(self.failed_on(&prepared[i].message_id, orchestrator_id, &error, failed[i]));
                        } else {
                            backoff = backoff.max(failed[i]);
                            again.push(i);
                        }
                    }
                }
            }
            waiting = again;
            dedupe = true;
            if backoff > 0 && !waiting.is_empty() {
                tokio::time::sleep(std::time::Duration::from_millis(self.config.retry.delay_ms(backoff))).await;
                self.metrics.retried(waiting.iter().filter(|&&i| failed[i] > 0).count() as u64);
            }
        }
        for i in waiting {
            let item = &items[i];
            outcomes[i] = Some(self.route_prepared_after(&prepared[i], &item.orchestrator_id, item.queue_only, true, failed[i]).await);
        }
        outcomes.into_iter().map(|o| o.expect("every item settled")).collect()
    }

    /// Sends the `which` items as one pipelined round, retrying the round with backoff: the
    /// replies (in `which` order) and the attempt that got them, or the last error.
    async fn send_batch(
        self: &Arc<Self>,
        items: &[BatchItem],
        prepared: &[Prepared],
        which: &[usize],
        dedupe: bool,
    ) -> Result<(Vec<StoreResult<RouteReply>>, u32), (StoreError, u32)> {
        let messages: Vec<(&str, &str)> = which.iter().map(|&i| (prepared[i].message_id.as_str(), items[i].orchestrator_id.as_str())).collect();
        self.with_retries(&messages, |attempt| async move {
            let built: Vec<_> = which
                .iter()
                .map(|&i| self.build(&prepared[i], &items[i].orchestrator_id, self.memo.known(&items[i].orchestrator_id).as_ref()))
                .collect();
            let requests: Vec<_> = which
                .iter()
                .zip(&built)
                .map(|(&i, b)| self.request(&prepared[i], &items[i].orchestrator_id, b, items[i].queue_only, dedupe || attempt > 1))
                .collect();
            self.store.route_many(&requests).await
        })
        .await
    }
}
