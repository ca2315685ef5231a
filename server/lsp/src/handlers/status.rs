//! The `precedent/status` request and `precedent/statusChanged` notification: an index's
//! status from the loaded index, times in RFC 3339.

use std::time::SystemTime;

use precedent_engine::assist::LoadedIndex;

pub use crate::protocol::{IndexStatus, Status};

impl IndexStatus {
    pub fn of(index: &LoadedIndex) -> IndexStatus {
        let modified = std::fs::metadata(&index.path)
            .and_then(|m| m.modified())
            .ok()
            .map(rfc3339);
        IndexStatus {
            path: index.path.display().to_string(),
            entries: index.corpus.len(),
            documents: index.documents,
            modified,
            keep_inline_code: index.encoding.keep_inline_code,
            replacement_error: None,
            search_error: None,
        }
    }
}

/// UTC time as RFC 3339 ("2026-11-26T16:00:00Z"), without a date crate.
pub fn rfc3339(time: SystemTime) -> String {
    let seconds = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_print_as_rfc3339() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (1_795_708_800, "2026-11-26T16:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(
                rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)),
                expected
            );
        }
    }
}
