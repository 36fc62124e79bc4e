//! Instants with microsecond precision, exchanged as RFC 3339 and stored as integers.
//!
//! Every instant that comes from outside (RFC 3339 text, epoch milliseconds or seconds from a
//! profile) goes through one of the checked constructors here — [`Timestamp::parse`],
//! [`Timestamp::from_unix_millis`], [`Timestamp::from_unix_seconds`],
//! [`Timestamp::from_unix_micros`] — which refuse anything outside [`Timestamp::MIN`] ..=
//! [`Timestamp::MAX`] (years 0000 to 9999, what RFC 3339 can write). Nothing wraps or saturates:
//! an instant that cannot be written back exactly is refused, so a stored time and a hash a
//! client was given always describe the same instant. [`Timestamp::from_micros`] is for values
//! this service stored itself.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Microseconds since the Unix epoch, UTC. Stored as an integer so that ranges and sorts
/// are plain integer comparisons in every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(i64);

/// Why an instant from outside was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// The text was not an RFC 3339 date-time.
    #[error("expected an RFC 3339 date-time such as 2026-11-22T10:15:00Z")]
    Syntax,
    /// A well-formed instant outside the years 0000 to 9999.
    #[error("is outside the representable range (years 0000 to 9999)")]
    OutOfRange,
}

impl Timestamp {
    pub fn now() -> Self {
        Self::from_offset(OffsetDateTime::now_utc())
    }

    /// 0000-01-01T00:00:00Z, the earliest instant RFC 3339 can write.
    pub const MIN: Timestamp = Timestamp(-62_167_219_200_000_000);
    /// 9999-12-31T23:59:59.999999Z, the latest instant RFC 3339 can write.
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999_999);

    /// An instant this service stored itself (a database column, a signed head). Input from
    /// outside goes through the checked constructors instead.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Epoch microseconds from outside, refused outside [`Self::MIN`] ..= [`Self::MAX`].
    pub fn from_unix_micros(micros: i64) -> Result<Self, TimestampError> {
        Self::checked(i128::from(micros))
    }

    /// Epoch milliseconds from outside (JavaScript's `Date.now()`), refused outside the range.
    pub fn from_unix_millis(millis: i64) -> Result<Self, TimestampError> {
        Self::checked(i128::from(millis) * 1000)
    }

    /// Epoch seconds from outside, refused outside the range.
    pub fn from_unix_seconds(seconds: i64) -> Result<Self, TimestampError> {
        Self::checked(i128::from(seconds) * 1_000_000)
    }

    /// The one range check every external constructor ends in (i128: no overflow on the way).
    fn checked(micros: i128) -> Result<Self, TimestampError> {
        if (i128::from(Self::MIN.0)..=i128::from(Self::MAX.0)).contains(&micros) {
            i64::try_from(micros).map(Self).map_err(|_| TimestampError::OutOfRange)
        } else {
            Err(TimestampError::OutOfRange)
        }
    }

    pub fn as_micros(self) -> i64 {
        self.0
    }

    /// RFC 3339 text from outside, refused when malformed or outside the range (an offset
    /// can move a year-9999 local time past the end).
    pub fn parse(s: &str) -> Result<Self, TimestampError> {
        let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| TimestampError::Syntax)?;
        Self::checked(t.unix_timestamp_nanos().div_euclid(1000))
    }

    fn from_offset(t: OffsetDateTime) -> Self {
        // The clock is within the range for the next eight thousand years.
        Self::checked(t.unix_timestamp_nanos().div_euclid(1000)).unwrap_or(Self::MAX)
    }

    /// The instant as an `OffsetDateTime` in UTC.
    pub fn to_offset(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            .to_offset(UtcOffset::UTC)
    }

    /// The same instant shifted by a number of microseconds (saturating).
    pub fn plus_micros(self, micros: i64) -> Self {
        Self(self.0.saturating_add(micros))
    }
}

impl fmt::Display for Timestamp {
    /// `2026-11-22T10:15:00.123456Z`: always UTC, always six fractional digits, so the text
    /// form sorts like the instant.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.to_offset();
        // Digits written by hand: every event's JSON and leaf holds two of these, and
        // `write!` with seven padded numbers was 3% of the ingest request path.
        if let Ok(year) = u32::try_from(t.year()) {
            if year <= 9999 {
                let mut text = *b"0000-00-00T00:00:00.000000Z";
                let fields = [
                    (0, 4, year),
                    (5, 2, u32::from(u8::from(t.month()))),
                    (8, 2, u32::from(t.day())),
                    (11, 2, u32::from(t.hour())),
                    (14, 2, u32::from(t.minute())),
                    (17, 2, u32::from(t.second())),
                    (20, 6, t.microsecond()),
                ];
                for (at, width, mut value) in fields {
                    for digit in text[at..at + width].iter_mut().rev() {
                        *digit = b'0' + (value % 10) as u8;
                        value /= 10;
                    }
                }
                return f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?);
            }
        }
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_micros() {
        let t = Timestamp::parse("2026-11-22T10:15:00.123456Z").expect("parses");
        assert_eq!(t.to_string(), "2026-11-22T10:15:00.123456Z");
        let shifted = Timestamp::parse("2026-11-22T11:15:00.5+01:00").expect("parses");
        assert_eq!(shifted.to_string(), "2026-11-22T10:15:00.500000Z");
    }

    #[test]
    fn rejects_non_rfc3339() {
        assert_eq!(Timestamp::parse("2026-11-22"), Err(TimestampError::Syntax));
        assert_eq!(Timestamp::parse("yesterday"), Err(TimestampError::Syntax));
    }

    #[test]
    fn range_ends_round_trip_and_nothing_beyond_is_accepted() {
        assert_eq!(Timestamp::MIN.to_string(), "0000-01-01T00:00:00.000000Z");
        assert_eq!(Timestamp::MAX.to_string(), "9999-12-31T23:59:59.999999Z");
        assert_eq!(Timestamp::parse(&Timestamp::MAX.to_string()), Ok(Timestamp::MAX));
        assert_eq!(Timestamp::parse("9999-12-31T23:59:59Z").map(|t| t.as_micros()), Ok(253_402_300_799_000_000));
        assert_eq!(Timestamp::parse("9999-12-31T23:59:59-01:00"), Err(TimestampError::OutOfRange));
        assert_eq!(Timestamp::from_unix_millis(i64::MAX), Err(TimestampError::OutOfRange));
        assert_eq!(Timestamp::from_unix_millis(i64::MIN), Err(TimestampError::OutOfRange));
        assert_eq!(Timestamp::from_unix_seconds(i64::MAX), Err(TimestampError::OutOfRange));
        assert_eq!(Timestamp::from_unix_micros(Timestamp::MAX.as_micros() + 1), Err(TimestampError::OutOfRange));
        assert_eq!(
            Timestamp::from_unix_millis(1_465_790_400_000).map(|t| t.to_string()).as_deref(),
            Ok("2016-06-13T04:00:00.000000Z")
        );
    }

    proptest::proptest! {
        /// The hand-written digits are what `write!` with padded numbers gives, over the
        /// whole range (and beyond it, where the fallback takes over).
        #[test]
        fn text_is_the_padded_fields(micros in Timestamp::MIN.as_micros() - 1_000_000_000..=Timestamp::MAX.as_micros() + 1_000_000_000) {
            let t = Timestamp::from_micros(micros);
            let o = t.to_offset();
            let expected = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                o.year(), u8::from(o.month()), o.day(), o.hour(), o.minute(), o.second(), o.microsecond()
            );
            proptest::prop_assert_eq!(t.to_string(), expected);
        }
    }
}
