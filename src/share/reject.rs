//! Why a share was refused, with the Stratum error codes miners know.

/// Every way a submit can be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The job id is unknown or superseded by a new block (21).
    Stale,
    /// The same header was already submitted (22).
    Duplicate,
    /// The hash does not meet the job's share difficulty (23).
    LowDifficulty,
    /// ntime before the template's mintime or too far ahead (20).
    NtimeOutOfRange,
    /// extranonce2 is not the negotiated length (20).
    BadExtranonce2Length,
    /// A field is not valid hex or has the wrong shape (20).
    Malformed,
    /// Version bits outside the negotiated mask (20).
    BadVersionBits,
    /// Submit from a connection that has not authorized (24).
    Unauthorized,
    /// Submit naming a worker this connection did not authorize (24).
    WorkerMismatch,
    /// Submit before `mining.subscribe` (25).
    NotSubscribed,
}

impl RejectReason {
    /// The Stratum error code.
    pub fn code(self) -> i32 {
        match self {
            RejectReason::Stale => 21,
            RejectReason::Duplicate => 22,
            RejectReason::LowDifficulty => 23,
            RejectReason::Unauthorized | RejectReason::WorkerMismatch => 24,
            RejectReason::NotSubscribed => 25,
            RejectReason::NtimeOutOfRange
            | RejectReason::BadExtranonce2Length
            | RejectReason::Malformed
            | RejectReason::BadVersionBits => 20,
        }
    }

    /// The message in the Stratum error array.
    pub fn message(self) -> &'static str {
        match self {
            RejectReason::Stale => "Job not found (stale)",
            RejectReason::Duplicate => "Duplicate share",
            RejectReason::LowDifficulty => "Low difficulty share",
            RejectReason::NtimeOutOfRange => "Ntime out of range",
            RejectReason::BadExtranonce2Length => "Invalid extranonce2 size",
            RejectReason::Malformed => "Malformed submit",
            RejectReason::BadVersionBits => "Version bits outside the negotiated mask",
            RejectReason::Unauthorized => "Unauthorized worker",
            RejectReason::WorkerMismatch => "Worker mismatch: authorize this worker first",
            RejectReason::NotSubscribed => "Not subscribed",
        }
    }

    /// The short name used in events and stats (`reject_reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Stale => "stale",
            RejectReason::Duplicate => "duplicate",
            RejectReason::LowDifficulty => "low-diff",
            RejectReason::NtimeOutOfRange => "ntime-out-of-range",
            RejectReason::BadExtranonce2Length => "bad-extranonce2-length",
            RejectReason::Malformed => "malformed",
            RejectReason::BadVersionBits => "bad-version-bits",
            RejectReason::Unauthorized => "unauthorized",
            RejectReason::WorkerMismatch => "worker-mismatch",
            RejectReason::NotSubscribed => "not-subscribed",
        }
    }

    /// Every reason, for counters indexed by reason.
    pub const ALL: [RejectReason; 10] = [
        RejectReason::Stale,
        RejectReason::Duplicate,
        RejectReason::LowDifficulty,
        RejectReason::NtimeOutOfRange,
        RejectReason::BadExtranonce2Length,
        RejectReason::Malformed,
        RejectReason::BadVersionBits,
        RejectReason::Unauthorized,
        RejectReason::WorkerMismatch,
        RejectReason::NotSubscribed,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_miners_know() {
        assert_eq!(RejectReason::Stale.code(), 21);
        assert_eq!(RejectReason::Duplicate.code(), 22);
        assert_eq!(RejectReason::LowDifficulty.code(), 23);
        assert_eq!(RejectReason::Unauthorized.code(), 24);
        assert_eq!(RejectReason::WorkerMismatch.code(), 24);
        assert_eq!(RejectReason::NotSubscribed.code(), 25);
        assert_eq!(RejectReason::Malformed.code(), 20);
        let names: std::collections::HashSet<_> =
            RejectReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), RejectReason::ALL.len());
    }

    /// The texts miners show their owners (cgminer and ckpool wording).
    #[test]
    fn messages_miners_show() {
        assert_eq!(RejectReason::Stale.message(), "Job not found (stale)");
        assert_eq!(RejectReason::Duplicate.message(), "Duplicate share");
        assert_eq!(
            RejectReason::LowDifficulty.message(),
            "Low difficulty share"
        );
        let texts: std::collections::HashSet<_> =
            RejectReason::ALL.iter().map(|r| r.message()).collect();
        assert_eq!(
            texts.len(),
            RejectReason::ALL.len(),
            "each says its own reason"
        );
    }
}
