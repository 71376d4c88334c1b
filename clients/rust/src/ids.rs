//! Client-chosen job ids. `generate` always carries one, so that sending it again (a retry after a
//! timeout) returns the same job instead of creating a second.

use crate::protocol::{GenerateParams, RetryParams};

/// A new job id: a random (v4) UUID, e.g. `3f2b…-…`. It matches the protocol's id rule (letters,
/// digits and `-`, first a letter or digit).
pub fn new_job_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl GenerateParams {
    /// The job id, chosen now (a new UUID) when there is none. Call it before the first attempt and
    /// keep the params: every retry then names the same job.
    pub fn ensure_id(&mut self) -> &str {
        self.id.get_or_insert_with(new_job_id)
    }
}

impl RetryParams {
    /// The new job's id, chosen now (a new UUID) when there is none, as for `generate`: every retry
    /// of the `retry` request then names the same new job.
    pub fn ensure_id(&mut self) -> &str {
        self.id.get_or_insert_with(new_job_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fresh_and_kept() {
        let mut params = GenerateParams::default();
        let first = params.ensure_id().to_owned();
        assert_eq!(params.ensure_id(), first, "a second call keeps the id");
        assert_ne!(new_job_id(), new_job_id());
        assert!(first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') && first.len() == 36);

        let mut retry = RetryParams::new("knight-4").new_seed();
        let new = retry.ensure_id().to_owned();
        assert_eq!(retry.ensure_id(), new, "a second call keeps the retry's id");
        assert_ne!(new, first);
    }
}
