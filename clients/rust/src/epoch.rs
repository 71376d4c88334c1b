//! Noticing a worker restart: its `started_at` (in `pong`, `worker` and `worker.stats`) changes.

/// The worker restarted between two observations: jobs may have moved on (unfinished ones had
/// their `seq` bumped by 10,000), so what a client holds should be read again with `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restart {
    /// `started_at` before (ms).
    pub previous: u64,
    /// `started_at` now (ms).
    pub now: u64,
}

/// The last `started_at` seen.
#[derive(Debug, Clone, Default)]
pub struct WorkerEpoch {
    started_at: Option<u64>,
}

impl WorkerEpoch {
    /// Record a `started_at`; a restart when it differs from the one before.
    pub fn observe(&mut self, started_at: u64) -> Option<Restart> {
        let previous = self.started_at.replace(started_at)?;
        (previous != started_at).then_some(Restart {
            previous,
            now: started_at,
        })
    }

    pub fn started_at(&self) -> Option<u64> {
        self.started_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_value_is_no_restart_a_change_is() {
        let mut epoch = WorkerEpoch::default();
        assert_eq!(epoch.observe(5), None);
        assert_eq!(epoch.observe(5), None);
        assert_eq!(epoch.observe(9), Some(Restart { previous: 5, now: 9 }));
        assert_eq!(epoch.started_at(), Some(9));
    }
}
