//! The JSON that travels over the Redis channel: `{"v":1,"event":…}`, or
//! the gap marker `{"v":1,"gap":true}` (a replica's publish failed: events
//! may have been lost, and every replica tells its sinks so).
//!
//! The version lets replicas of different releases share a channel during a
//! rolling deploy: a replica skips (and logs) envelopes it does not know.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The envelope version this release writes and reads.
pub(crate) const VERSION: u8 = 1;

#[derive(Serialize)]
struct Outgoing<'a, E> {
    v: u8,
    event: &'a E,
}

/// The gap marker. A replica of a release without it skips it as malformed.
pub(crate) const GAP: &str = r#"{"v":1,"gap":true}"#;

#[derive(Deserialize)]
struct Incoming<E> {
    v: u8,
    event: Option<E>,
    #[serde(default)]
    gap: bool,
}

/// What a payload carries.
#[derive(Debug, PartialEq)]
pub(crate) enum Received<E> {
    /// An event.
    Event(E),
    /// The gap marker ([`GAP`]).
    Gap,
}

/// Why a payload was skipped.
#[derive(Debug)]
pub(crate) enum Skipped {
    /// Not an envelope of this version's shape (or `event` is not an `E`).
    Malformed(serde_json::Error),
    /// A well-formed envelope of another version.
    Version(u8),
}

pub(crate) fn encode<E: Serialize>(event: &E) -> Result<String, serde_json::Error> {
    serde_json::to_string(&Outgoing { v: VERSION, event })
}

pub(crate) fn decode<E: DeserializeOwned>(payload: &[u8]) -> Result<Received<E>, Skipped> {
    match serde_json::from_slice::<Incoming<E>>(payload) {
        Ok(Incoming { v: VERSION, gap: true, event: None }) => Ok(Received::Gap),
        Ok(Incoming { v: VERSION, gap: false, event: Some(event) }) => Ok(Received::Event(event)),
        Ok(Incoming { v: VERSION, .. }) => {
            Err(Skipped::Malformed(serde::de::Error::custom("an envelope carries an event or the gap marker")))
        }
        Ok(Incoming { v, .. }) => Err(Skipped::Version(v)),
        // A future version may change the shape of `event`: name the version
        // when there is one, so the log says "upgrade" rather than "garbage".
        Err(e) => match serde_json::from_slice::<Incoming<serde::de::IgnoredAny>>(payload) {
            Ok(Incoming { v, .. }) if v != VERSION => Err(Skipped::Version(v)),
            _ => Err(Skipped::Malformed(e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Ping {
        n: u32,
    }

    #[test]
    fn an_event_survives_the_round_trip() {
        let json = encode(&Ping { n: 7 }).expect("encodes");
        assert_eq!(json, r#"{"v":1,"event":{"n":7}}"#);
        assert_eq!(decode::<Ping>(json.as_bytes()).expect("decodes"), Received::Event(Ping { n: 7 }));
    }

    #[test]
    fn the_gap_marker_is_of_this_version_and_carries_no_event() {
        assert_eq!(decode::<Ping>(GAP.as_bytes()).expect("decodes"), Received::Gap);
        assert!(GAP.contains(&format!(r#""v":{VERSION}"#)));
        for both_or_neither in [r#"{"v":1,"gap":true,"event":{"n":7}}"#, r#"{"v":1}"#, r#"{"v":1,"gap":false}"#] {
            assert!(
                matches!(decode::<Ping>(both_or_neither.as_bytes()), Err(Skipped::Malformed(_))),
                "{both_or_neither}"
            );
        }
    }

    #[test]
    fn garbage_and_foreign_shapes_are_malformed() {
        for payload in [&b"not json"[..], br#"{"n":7}"#, br#"{"v":1,"event":{"n":"seven"}}"#] {
            assert!(matches!(decode::<Ping>(payload), Err(Skipped::Malformed(_))), "{payload:?}");
        }
    }

    #[test]
    fn another_version_is_named_even_when_its_event_has_another_shape() {
        assert!(matches!(decode::<Ping>(br#"{"v":2,"event":{"n":7}}"#), Err(Skipped::Version(2))));
        assert!(matches!(decode::<Ping>(br#"{"v":2,"event":[1,2]}"#), Err(Skipped::Version(2))));
    }
}
