//! Properties of the time formats the API reads back (`since`, `until`, `StartedAt`): what
//! Berth writes, it parses to the same second; nothing makes the parser panic.

use proptest::prelude::*;

proptest! {
    #[test]
    fn rfc3339_round_trip(secs in 0i64..253_402_300_799) {
        prop_assert_eq!(berth_units::parse_rfc3339(&berth_units::rfc3339(secs)), Some(secs));
        prop_assert_eq!(berth_units::parse_rfc3339(&berth_units::rfc3339_nano(secs, 123_456_789)), Some(secs));
    }

    #[test]
    fn rfc3339_never_panics(s in ".{0,40}") {
        let _ = berth_units::parse_rfc3339(&s);
    }

    #[test]
    fn rfc3339_like_input_never_panics(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})") {
        let _ = berth_units::parse_rfc3339(&s);
    }
}
