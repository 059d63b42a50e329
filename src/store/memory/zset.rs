//! [`ZSet`]: a sorted set of members scored in ms, with the few Redis sorted-set commands the
//! memory store's steps use (`routing:receipts:<id>` and the `routing:pending` index).

use std::collections::{BTreeSet, HashMap};

/// A sorted set of members scored in ms, as the router's Redis sorted sets hold them.
#[derive(Debug, Default)]
pub(super) struct ZSet {
    scores: HashMap<String, i64>,
    order: BTreeSet<(i64, String)>,
}

impl ZSet {
    /// ZADD.
    pub(super) fn add(&mut self, member: &str, score: i64) {
        if let Some(old) = self.scores.insert(member.to_owned(), score) {
            self.order.remove(&(old, member.to_owned()));
        }
        self.order.insert((score, member.to_owned()));
    }

    /// ZADD LT: adds, or lowers an existing score.
    pub(super) fn add_lower(&mut self, member: &str, score: i64) {
        if self.scores.get(member).is_none_or(|&old| score < old) {
            self.add(member, score);
        }
    }

    /// ZADD XX: changes the score of a member that exists.
    pub(super) fn update(&mut self, member: &str, score: i64) {
        if self.scores.contains_key(member) {
            self.add(member, score);
        }
    }

    pub(super) fn remove(&mut self, member: &str) -> bool {
        match self.scores.remove(member) {
            Some(score) => self.order.remove(&(score, member.to_owned())),
            None => false,
        }
    }

    /// ZRANGE -inf max BYSCORE LIMIT 0 limit.
    pub(super) fn up_to(&self, max: i64, limit: usize) -> Vec<String> {
        self.order.iter().take_while(|(score, _)| *score <= max).take(limit).map(|(_, m)| m.clone()).collect()
    }

    pub(super) fn first_score(&self) -> Option<i64> {
        self.order.first().map(|(score, _)| *score)
    }

    pub(super) fn len(&self) -> usize {
        self.scores.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_sets_keep_redis_semantics() {
        let mut z = ZSet::default();
        z.add("a", 5);
        z.add_lower("a", 9);
        z.add_lower("b", 3);
        z.update("c", 1);
        assert_eq!(z.up_to(10, 10), ["b", "a"]);
        z.add_lower("a", 1);
        z.update("b", 20);
        assert_eq!(z.up_to(10, 1), ["a"]);
        assert_eq!(z.first_score(), Some(1));
        assert!(z.remove("a") && !z.remove("a"));
        assert_eq!(z.len(), 1);
    }
}
