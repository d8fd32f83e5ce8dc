//! Window layout strings (`%layout-change`, `#{window_layout}`) parsed into a
//! tree of cells, with the checksum verified. Grammar (tmux 3.3a, extended by
//! 3.7's floating panes and signed offsets, see the protocol reference §7):
//!
//! ```text
//! layout   = checksum "," cell [ "<" [ cell *( "," cell ) ] ">" ]
//! checksum = 4HEXDIG                   ; over every byte after the first ","
//! cell     = width "x" height "," xoff "," yoff ( "," pane-id / children )
//! children = "{" cell *( "," cell ) "}" ; side by side, left to right
//!          / "[" cell *( "," cell ) "]" ; stacked, top to bottom
//! xoff, yoff = [ "-" ] 1*DIGIT         ; signed only from 3.7
//! ```
//!
//! The parsers are nom 8 combinators over bytes; the notification parsers in
//! `notification` call [`parse_layout`] for the two layout fields of
//! `%layout-change`.

use std::fmt;

use bytes::Bytes;
use nom::branch::alt;
use nom::bytes::complete::{tag, take_while_m_n};
use nom::character::complete::digit1;
use nom::combinator::{all_consuming, opt};
use nom::multi::separated_list0;
use nom::sequence::{delimited, preceded};
use nom::Parser;

use crate::error::{ParseError, ParseErrorKind};
use crate::id::{parse_u32_digits, PaneId};
use crate::scan::{fail, lit, Expected, Res};

/// Nesting limit for `{}`/`[]` containers. tmux builds layouts in an 8 KiB
/// buffer and every level costs at least ~12 bytes, so real layouts stay far
/// below this; the cap only keeps hostile input from exhausting the stack.
const MAX_DEPTH: usize = 64;

/// A parsed window layout: the checksum tmux printed and the cell tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The checksum from the string (already verified against the body).
    pub checksum: u16,
    /// The tiled cell covering the whole window.
    pub root: LayoutCell,
    /// Floating panes (tmux 3.7+, the `<...>` suffix), in the order written;
    /// empty for older versions.
    pub floating: Vec<LayoutCell>,
}

/// One rectangle of a layout: a pane, or a container split in one direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutCell {
    /// Width in cells.
    pub width: u32,
    /// Height in cells.
    pub height: u32,
    /// Column of the left edge (negative only for 3.7+ floating panes).
    pub x: i32,
    /// Row of the top edge (negative only for 3.7+ floating panes).
    pub y: i32,
    /// What the cell holds.
    pub kind: LayoutKind,
}

/// The content of a [`LayoutCell`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayoutKind {
    /// A leaf: the pane shown in this cell.
    Pane(PaneId),
    /// `{...}`: children side by side, left to right (`split-window -h`).
    LeftRight(Vec<LayoutCell>),
    /// `[...]`: children stacked, top to bottom (`split-window -v`).
    TopBottom(Vec<LayoutCell>),
}

impl Layout {
    /// Every pane id in the layout, tiled panes first (left-to-right /
    /// top-to-bottom order), then floating panes.
    pub fn pane_ids(&self) -> Vec<PaneId> {
        let mut out = Vec::new();
        self.root.collect_panes(&mut out);
        for cell in &self.floating {
            cell.collect_panes(&mut out);
        }
        out
    }

    /// Every pane's leaf cell (its size and position), in [`Layout::pane_ids`] order:
    /// how a pane's screen follows a resize.
    pub fn pane_cells(&self) -> Vec<&LayoutCell> {
        let mut out = Vec::new();
        self.root.collect_leaves(&mut out);
        for cell in &self.floating {
            cell.collect_leaves(&mut out);
        }
        out
    }
}

impl LayoutCell {
    /// Appends the leaf cells below this cell to `out`, in order.
    fn collect_leaves<'a>(&'a self, out: &mut Vec<&'a LayoutCell>) {
        match &self.kind {
            LayoutKind::Pane(_) => out.push(self),
            LayoutKind::LeftRight(cells) | LayoutKind::TopBottom(cells) => {
                cells.iter().for_each(|c| c.collect_leaves(out))
            }
        }
    }

    /// Appends the pane ids below this cell to `out`, in order.
    fn collect_panes(&self, out: &mut Vec<PaneId>) {
        match &self.kind {
            LayoutKind::Pane(id) => out.push(*id),
            LayoutKind::LeftRight(cells) | LayoutKind::TopBottom(cells) => {
                cells.iter().for_each(|c| c.collect_panes(out))
            }
        }
    }
}

/// Writes the cell in tmux's layout syntax (no checksum).
impl fmt::Display for LayoutCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{},{},{}", self.width, self.height, self.x, self.y)?;
        let (open, close, cells) = match &self.kind {
            LayoutKind::Pane(id) => return write!(f, ",{}", id.0),
            LayoutKind::LeftRight(cells) => ('{', '}', cells),
            LayoutKind::TopBottom(cells) => ('[', ']', cells),
        };
        write_cells(f, open, cells, close)
    }
}

/// Writes `open cell,cell,... close`.
fn write_cells(
    f: &mut fmt::Formatter<'_>,
    open: char,
    cells: &[LayoutCell],
    close: char,
) -> fmt::Result {
    write!(f, "{open}")?;
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            write!(f, ",")?;
        }
        write!(f, "{cell}")?;
    }
    write!(f, "{close}")
}

/// Writes the layout as tmux would: `cksm,cell[<floating>]`. The checksum is
/// computed from the written body (not taken from [`Layout::checksum`]), so
/// the output always parses.
impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Body<'a>(&'a Layout);
        impl fmt::Display for Body<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0.root)?;
                if !self.0.floating.is_empty() {
                    write_cells(f, '<', &self.0.floating, '>')?;
                }
                Ok(())
            }
        }
        let body = Body(self).to_string();
        write!(f, "{:04x},{}", layout_checksum(body.as_bytes()), body)
    }
}

/// tmux's layout checksum over `body` (the bytes after the checksum's comma):
/// start at 0; per byte, rotate the 16-bit value right by one, then add the
/// byte (wrapping).
pub fn layout_checksum(body: &[u8]) -> u16 {
    body.iter().fold(0u16, |sum, &b| sum.rotate_right(1).wrapping_add(u16::from(b)))
}

/// `1*DIGIT` as a `u32`.
fn unsigned<'a>(what: &'static str) -> impl FnMut(&'a [u8]) -> Res<'a, u32> {
    move |i| {
        let (rest, digits) = digit1::<_, Expected>(i).or_else(|_| fail(what))?;
        match parse_u32_digits(digits) {
            Some(v) => Ok((rest, v)),
            None => fail(what),
        }
    }
}

/// `[ "-" ] 1*DIGIT` as an `i32`.
fn signed<'a>(what: &'static str) -> impl FnMut(&'a [u8]) -> Res<'a, i32> {
    move |i| {
        let (i, minus) = opt(tag(&b"-"[..])).parse(i)?;
        let (i, v) = unsigned(what)(i)?;
        let v = i64::from(v);
        match i32::try_from(if minus.is_some() { -v } else { v }) {
            Ok(v) => Ok((i, v)),
            Err(_) => fail(what),
        }
    }
}

/// `cell = width "x" height "," xoff "," yoff ( "," pane-id / children )`
fn cell(i: &[u8], depth: usize) -> Res<'_, LayoutCell> {
    if depth > MAX_DEPTH {
        return fail("nesting depth");
    }
    let (i, width) = unsigned("cell width").parse(i)?;
    let (i, _) = lit(b"x", "cell size").parse(i)?;
    let (i, height) = unsigned("cell height").parse(i)?;
    let (i, x) = preceded(lit(b",", "cell x offset"), signed("cell x offset")).parse(i)?;
    let (i, y) = preceded(lit(b",", "cell y offset"), signed("cell y offset")).parse(i)?;
    let children = |open: &'static [u8], close: &'static [u8]| {
        delimited(tag(open), cell_list(depth), tag(close))
    };
    let (i, kind) = alt((
        preceded(tag(&b","[..]), unsigned("pane id")).map(|n| LayoutKind::Pane(PaneId(n))),
        children(b"{", b"}").map(LayoutKind::LeftRight),
        children(b"[", b"]").map(LayoutKind::TopBottom),
    ))
    .parse(i)
    .or_else(|e| match e {
        nom::Err::Error(_) => fail("cell content"),
        other => Err(other),
    })?;
    Ok((i, LayoutCell { width, height, x, y, kind }))
}

/// `cell *( "," cell )` one level deeper than `depth`.
fn cell_list<'a>(depth: usize) -> impl FnMut(&'a [u8]) -> Res<'a, Vec<LayoutCell>> {
    move |i| {
        let (i, first) = cell(i, depth + 1)?;
        // PERF: a container has two children or more; `vec![first]` (capacity
        // 1) reallocated on the second push of every container.
        let mut cells = Vec::with_capacity(4);
        cells.push(first);
        let mut i = i;
        while let Some(rest) = i.strip_prefix(b",") {
            let (rest, next) = cell(rest, depth + 1)?;
            cells.push(next);
            i = rest;
        }
        Ok((i, cells))
    }
}

/// `checksum "," cell [ "<" [ cells ] ">" ]`
fn layout(i: &[u8]) -> Res<'_, (u16, &[u8], LayoutCell, Vec<LayoutCell>)> {
    let (i, hex) = take_while_m_n(4, 4, |b: u8| b.is_ascii_hexdigit())
        .parse(i)
        .or_else(|_: nom::Err<Expected>| fail("checksum"))?;
    let (body, ()) = lit(b",", "checksum").parse(i)?;
    let checksum = hex.iter().fold(0u16, |acc, &h| (acc << 4) | u16::from(hex_val(h)));
    let (i, root) = cell(body, 0)?;
    let (i, floating) = opt(delimited(
        tag(&b"<"[..]),
        separated_list0(tag(&b","[..]), |i| cell(i, 1)),
        tag(&b">"[..]),
    ))
    .parse(i)?;
    Ok((i, (checksum, body, root, floating.unwrap_or_default())))
}

/// The value of one ASCII hex digit (the caller checked it is one).
fn hex_val(h: u8) -> u8 {
    match h {
        b'0'..=b'9' => h - b'0',
        b'a'..=b'f' => h - b'a' + 10,
        _ => h.wrapping_sub(b'A').wrapping_add(10) & 0xf,
    }
}

/// Parses a layout string such as `c195,80x24,0,0[80x12,0,0,0,80x11,0,13,1]`
/// and verifies its checksum.
///
/// Grammar: see the module documentation (tmux 3.3a plus 3.7's `<...>`
/// floating cells and signed offsets).
///
/// # Errors
///
/// [`ParseErrorKind::BadLayout`] naming the first part that does not follow
/// the grammar (including trailing bytes and nesting deeper than 64), or
/// [`ParseErrorKind::BadChecksum`] when the body does not sum to the
/// checksum. The error's line is the layout string.
///
/// # Example
///
/// ```
/// use tmux_control_parser::{parse_layout, LayoutKind, PaneId};
/// let layout = parse_layout(b"c195,80x24,0,0[80x12,0,0,0,80x11,0,13,1]")?;
/// assert_eq!(layout.pane_ids(), vec![PaneId(0), PaneId(1)]);
/// assert!(matches!(layout.root.kind, LayoutKind::TopBottom(ref cells) if cells.len() == 2));
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_layout(s: &[u8]) -> Result<Layout, ParseError> {
    let bad = |kind| ParseError::new(kind, Bytes::copy_from_slice(s));
    match all_consuming(layout).parse(s) {
        Ok((_, (checksum, body, root, floating))) => {
            let computed = layout_checksum(body);
            if computed != checksum {
                return Err(bad(ParseErrorKind::BadChecksum { expected: checksum, computed }));
            }
            Ok(Layout { checksum, root, floating })
        }
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
            let what = if e.0 == "syntax" { "trailing data" } else { e.0 };
            Err(bad(ParseErrorKind::BadLayout { what }))
        }
        Err(nom::Err::Incomplete(_)) => Err(bad(ParseErrorKind::BadLayout { what: "syntax" })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(width: u32, height: u32, x: i32, y: i32, pane: u32) -> LayoutCell {
        LayoutCell { width, height, x, y, kind: LayoutKind::Pane(PaneId(pane)) }
    }

    #[test]
    fn single_pane() {
        let l = parse_layout(b"aaff,120x40,0,0,2").unwrap();
        assert_eq!(l.checksum, 0xaaff);
        assert_eq!(l.root, leaf(120, 40, 0, 0, 2));
        assert!(l.floating.is_empty());
    }

    #[test]
    fn nested_splits_from_fixture() {
        let s = b"b05b,80x24,0,0[80x12,0,0,0,80x11,0,13{40x11,0,13,1,39x11,41,13,2}]";
        let l = parse_layout(s).unwrap();
        let expected = LayoutCell {
            width: 80,
            height: 24,
            x: 0,
            y: 0,
            kind: LayoutKind::TopBottom(vec![
                leaf(80, 12, 0, 0, 0),
                LayoutCell {
                    width: 80,
                    height: 11,
                    x: 0,
                    y: 13,
                    kind: LayoutKind::LeftRight(vec![
                        leaf(40, 11, 0, 13, 1),
                        leaf(39, 11, 41, 13, 2),
                    ]),
                },
            ]),
        };
        assert_eq!(l.root, expected);
        assert_eq!(l.pane_ids(), vec![PaneId(0), PaneId(1), PaneId(2)]);
        let sizes: Vec<(u32, u32)> = l.pane_cells().iter().map(|c| (c.width, c.height)).collect();
        assert_eq!(sizes, [(80, 12), (40, 11), (39, 11)]);
        assert_eq!(l.to_string().as_bytes(), &s[..]);
    }

    #[test]
    fn floating_cells_and_signed_offsets() {
        let body = b"80x24,0,0,0<20x5,-3,-2,7,10x4,5,6,8>";
        let s = format!("{:04x},{}", layout_checksum(body), std::str::from_utf8(body).unwrap());
        let l = parse_layout(s.as_bytes()).unwrap();
        assert_eq!(l.floating, vec![leaf(20, 5, -3, -2, 7), leaf(10, 4, 5, 6, 8)]);
        assert_eq!(l.pane_ids(), vec![PaneId(0), PaneId(7), PaneId(8)]);
        assert_eq!(l.pane_cells()[1], &leaf(20, 5, -3, -2, 7));
        assert_eq!(l.to_string(), s);
    }

    #[test]
    fn bad_checksum_is_reported() {
        let err = parse_layout(b"c196,80x24,0,0[80x12,0,0,0,80x11,0,13,1]").unwrap_err();
        assert_eq!(err.kind(), &ParseErrorKind::BadChecksum { expected: 0xc196, computed: 0xc195 });
    }

    #[test]
    fn malformed_layouts_name_the_part() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "checksum"),
            (b"c19,80x24,0,0,0", "checksum"),
            (b"zzzz,80x24,0,0,0", "checksum"),
            (b"c195;80x24,0,0,0", "checksum"),
            (b"c195,80y24,0,0,0", "cell size"),
            (b"c195,x24,0,0,0", "cell width"),
            (b"c195,80x,0,0,0", "cell height"),
            (b"c195,80x24,a,0,0", "cell x offset"),
            (b"c195,80x24,0,99999999999,0", "cell y offset"),
            (b"c195,80x24,0,0", "cell content"),
            (b"c195,80x24,0,0,%1", "pane id"),
            (b"c195,80x24;0,0,0", "cell x offset"),
            (b"c195,80x24,0,0{}", "cell width"),
            (b"c195,80x24,0,0[80x12,0,0,0", "cell content"),
            (b"c195,80x24,0,0,0 trailing", "trailing data"),
        ];
        for (input, what) in cases {
            let err = parse_layout(input).unwrap_err();
            assert_eq!(
                err.kind(),
                &ParseErrorKind::BadLayout { what },
                "{:?}",
                String::from_utf8_lossy(input)
            );
            assert_eq!(err.line(), *input);
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let mut s = String::from("0000,");
        for _ in 0..10_000 {
            s.push_str("1x1,0,0{");
        }
        let err = parse_layout(s.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), &ParseErrorKind::BadLayout { what: "nesting depth" });
    }
}
