//! Shared nom 8 building blocks for the line grammars in `notification` and
//! `layout`: an error type that names the field that failed, single-space
//! separators, space-delimited fields, strict decimal numbers and the three
//! id kinds. Everything works on complete byte slices (`nom::*::complete`
//! semantics): the framer hands over whole lines, so there is no
//! `Incomplete`.

use nom::{IResult, Parser};

use crate::id::{parse_u32_digits, PaneId, SessionId, WindowId};

/// nom error type of this crate's grammars: the innermost named field that
/// failed (`"syntax"` when a bare combinator failed without a name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expected(pub(crate) &'static str);

impl<'a> nom::error::ParseError<&'a [u8]> for Expected {
    fn from_error_kind(_: &'a [u8], _: nom::error::ErrorKind) -> Self {
        Expected("syntax")
    }
    fn append(_: &'a [u8], _: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

/// Result of a combinator in this crate.
pub(crate) type Res<'a, T> = IResult<&'a [u8], T, Expected>;

/// Fails hard (so an enclosing `alt` does not mask the message) naming `what`.
pub(crate) fn fail<T>(what: &'static str) -> Res<'static, T> {
    Err(nom::Err::Failure(Expected(what)))
}

/// The literal `t`, failing hard with `what`.
pub(crate) fn lit<'a>(
    t: &'static [u8],
    what: &'static str,
) -> impl Parser<&'a [u8], Output = (), Error = Expected> {
    move |i: &'a [u8]| match i.strip_prefix(t) {
        Some(rest) => Ok((rest, ())),
        None => fail(what),
    }
}

/// One space (tmux separates every field with exactly one), failing with `what`.
pub(crate) fn sp<'a>(what: &'static str) -> impl Parser<&'a [u8], Output = (), Error = Expected> {
    lit(b" ", what)
}

/// A field: the bytes up to the next space or the end of the line (possibly empty).
pub(crate) fn field(i: &[u8]) -> Res<'_, &[u8]> {
    // PERF: fields are a few bytes (ids, numbers, names); a plain loop beats
    // memchr's call and dispatch here (see `classify`).
    let end = i.iter().position(|&b| b == b' ').unwrap_or(i.len());
    Ok((&i[end..], &i[..end]))
}

/// The rest of the line (possibly empty).
pub(crate) fn rest(i: &[u8]) -> Res<'_, &[u8]> {
    Ok((&i[i.len()..], i))
}

/// Maps a field through `f`, failing hard with `what` when `f` returns `None`.
pub(crate) fn typed<'a, T>(
    what: &'static str,
    f: impl Fn(&[u8]) -> Option<T>,
) -> impl Parser<&'a [u8], Output = T, Error = Expected> {
    move |i: &'a [u8]| {
        let (rest, raw) = field(i)?;
        match f(raw) {
            Some(v) => Ok((rest, v)),
            None => fail(what),
        }
    }
}

/// A strict decimal `u32` field (1-10 ASCII digits, no sign).
pub(crate) fn dec_u32<'a>(
    what: &'static str,
) -> impl Parser<&'a [u8], Output = u32, Error = Expected> {
    typed(what, parse_u32_digits)
}

/// A strict decimal `u64` field (1-20 ASCII digits, no sign).
pub(crate) fn dec_u64<'a>(
    what: &'static str,
) -> impl Parser<&'a [u8], Output = u64, Error = Expected> {
    typed(what, parse_u64_digits)
}

/// Parses 1-20 ASCII digits as a `u64`, rejecting overflow.
pub(crate) fn parse_u64_digits(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// A `$N` field.
pub(crate) fn session<'a>(
    what: &'static str,
) -> impl Parser<&'a [u8], Output = SessionId, Error = Expected> {
    typed(what, SessionId::from_bytes)
}

/// A `@N` field.
pub(crate) fn window<'a>(
    what: &'static str,
) -> impl Parser<&'a [u8], Output = WindowId, Error = Expected> {
    typed(what, WindowId::from_bytes)
}

/// A `%N` field.
pub(crate) fn pane<'a>(
    what: &'static str,
) -> impl Parser<&'a [u8], Output = PaneId, Error = Expected> {
    typed(what, PaneId::from_bytes)
}

/// Succeeds only at the end of the line (no trailing bytes), failing with `what`.
pub(crate) fn end<'a>(what: &'static str) -> impl Parser<&'a [u8], Output = (), Error = Expected> {
    move |i: &'a [u8]| if i.is_empty() { Ok((i, ())) } else { fail(what) }
}

/// Skips reserved space-separated fields up to and including a field that is
/// exactly `:`, then the single space after it; returns the remaining bytes
/// (the value, which may be empty, start with spaces or contain ` : `).
///
/// Used by `%extended-output` and `%subscription-changed`, whose grammars
/// reserve fields between the fixed ones and the lone `:`. A line that ends
/// right after the `:` (no space) has an empty value.
pub(crate) fn after_lone_colon<'a>(
    what: &'static str,
) -> impl Parser<&'a [u8], Output = &'a [u8], Error = Expected> {
    move |mut i: &'a [u8]| loop {
        let Some(after_space) = i.strip_prefix(b" ") else { return fail(what) };
        let (after_field, f) = field(after_space)?;
        if f == b":" {
            let value = after_field.strip_prefix(b" ").unwrap_or(after_field);
            return Ok((&value[value.len()..], value));
        }
        i = after_field;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u64_digits_are_strict() {
        assert_eq!(parse_u64_digits(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64_digits(b"18446744073709551616"), None);
        assert_eq!(parse_u64_digits(b""), None);
        assert_eq!(parse_u64_digits(b"+1"), None);
    }

    #[test]
    fn lone_colon_skips_reserved_fields() {
        let mut p = after_lone_colon("value");
        assert_eq!(p.parse(&b" : data"[..]).unwrap().1, b"data");
        assert_eq!(p.parse(&b" r1 r2 : a : b"[..]).unwrap().1, b"a : b");
        assert_eq!(p.parse(&b" :  lead"[..]).unwrap().1, b" lead");
        assert_eq!(p.parse(&b" : "[..]).unwrap().1, b"");
        assert_eq!(p.parse(&b" :"[..]).unwrap().1, b"");
        assert_eq!(p.parse(&b" x:y z"[..]).unwrap_err(), nom::Err::Failure(Expected("value")));
        assert_eq!(p.parse(&b""[..]).unwrap_err(), nom::Err::Failure(Expected("value")));
    }
}
