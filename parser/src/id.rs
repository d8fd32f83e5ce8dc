//! Typed tmux object identifiers: sessions (`$N`), windows (`@N`) and panes
//! (`%N`). Every notification parser in `notification` turns the prefixed
//! decimal form it finds on the wire into one of these newtypes, so the rest of
//! ctmuxd never confuses a window number with a pane number. Parsing is strict:
//! exactly the one prefix, then one or more ASCII digits that fit in a `u32`
//! (no sign, no spaces, no `+`).

use std::fmt;
use std::str::FromStr;

/// Why a string could not be parsed as a [`SessionId`], [`WindowId`] or [`PaneId`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdError {
    /// Which id kind was expected (`"session id"`, ...).
    what: &'static str,
    /// The prefix that id kind needs.
    prefix: char,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: expected '{}' followed by a decimal u32", self.what, self.prefix)
    }
}

impl std::error::Error for IdError {}

/// Parses `digits` (already stripped of the prefix) as a strict decimal `u32`.
///
/// `str::parse::<u32>` would also accept a leading `+`, which tmux never writes,
/// so the digits are checked first.
pub(crate) fn parse_u32_digits(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 10 {
        return None;
    }
    let mut value: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u64::from(b - b'0');
    }
    u32::try_from(value).ok()
}

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);

        impl $name {
            /// The one-character prefix tmux writes before the number.
            pub const PREFIX: u8 = $prefix;

            /// Parses the wire form (prefix + decimal digits) from bytes.
            ///
            /// Returns `None` unless the input is exactly the prefix followed by
            /// 1..=10 ASCII digits whose value fits in a `u32`.
            pub fn from_bytes(s: &[u8]) -> Option<Self> {
                match s.split_first() {
                    Some((&p, digits)) if p == $prefix => parse_u32_digits(digits).map($name),
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix as char, self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            /// Parses `"$1"`/`"@2"`/`"%3"` strictly.
            ///
            /// # Errors
            ///
            /// [`IdError`] when the prefix is missing or wrong, or the rest is not
            /// a decimal `u32`.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_bytes(s.as_bytes())
                    .ok_or(IdError { what: $what, prefix: $prefix as char })
            }
        }
    };
}

define_id!(
    /// A tmux session id, written `$N` on the wire; unique for a server's lifetime.
    SessionId,
    b'$',
    "session id"
);
define_id!(
    /// A tmux window id, written `@N` on the wire; unique for a server's lifetime.
    WindowId,
    b'@',
    "window id"
);
define_id!(
    /// A tmux pane id, written `%N` on the wire; unique for a server's lifetime.
    PaneId,
    b'%',
    "pane id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        assert_eq!(SessionId(1).to_string(), "$1");
        assert_eq!(WindowId(2).to_string(), "@2");
        assert_eq!(PaneId(3).to_string(), "%3");
        assert_eq!("$1".parse::<SessionId>(), Ok(SessionId(1)));
        assert_eq!("@4294967295".parse::<WindowId>(), Ok(WindowId(u32::MAX)));
        assert_eq!("%0".parse::<PaneId>(), Ok(PaneId(0)));
    }

    #[test]
    fn strict_parsing_rejects_near_misses() {
        for bad in
            ["", "%", "3", "@3", "%+3", "% 3", "%3 ", "%-1", "%4294967296", "%99999999999", "%3a"]
        {
            assert!(bad.parse::<PaneId>().is_err(), "{bad:?} should not parse");
        }
        let err = "x".parse::<WindowId>().unwrap_err();
        assert_eq!(err.to_string(), "invalid window id: expected '@' followed by a decimal u32");
    }
}
