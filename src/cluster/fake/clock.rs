//! The simulated clock's time as Kubernetes writes it (RFC 3339, seconds, UTC).

use std::time::Duration;

/// Where every fake cluster's clock starts: 2026-11-26T18:00:00Z, shortly before the reference
/// recordings were made. A fixed start keeps timestamps, and so snapshots, deterministic.
pub(super) const START: Duration = Duration::from_secs(1_795_716_000);

pub(crate) use crate::cluster::time::rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_start_and_leap_days() {
        assert_eq!(rfc3339(START), "2026-11-26T18:00:00Z");
        assert_eq!(rfc3339(Duration::ZERO), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(START + Duration::from_millis(41_900)), "2026-11-26T18:00:41Z");
    }
}
