//! The fast path's loop: runs of plain events (a `data:` line and a blank
//! line) taken straight from a chunk's checked text.

use super::text::LfFinder;

/// Why a run of plain events stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// The next line is not one (or is over the size limit).
    Shape,
    /// The next event may be one, but does not end in the window.
    Window,
}

/// Takes the plain events (a `data:` line and a blank line, LF ends) that
/// start at `at` in `window` and end in it, handing where each one's data
/// starts and ends in `window` to `each` (on character boundaries: next to
/// ASCII bytes). Returns where the run stopped, and why.
#[inline]
pub(super) fn plain_run(
    window: &str,
    mut at: usize,
    lf: LfFinder,
    longest: usize,
    mut each: impl FnMut(usize, usize),
) -> (usize, Stop) {
    let bytes = window.as_bytes();
    let stop = loop {
        let rest = bytes.get(at..).unwrap_or_default();
        let Some(value) = rest.strip_prefix(b"data:") else {
            break match b"data:".starts_with(rest) {
                true => Stop::Window,
                false => Stop::Shape,
            };
        };
        let Some(line) = lf.find(value) else {
            break Stop::Window;
        };
        match value.get(line + 1) {
            _ if line > longest => break Stop::Shape,
            Some(b'\n') => {}
            Some(_) => break Stop::Shape,
            None => break Stop::Window,
        }
        let end = at + 5 + line;
        let start = (at + 5 + usize::from(value.first() == Some(&b' '))).min(end);
        debug_assert!(window.is_char_boundary(start) && window.is_char_boundary(end));
        each(start, end);
        at = end + 2;
    };
    (at, stop)
}
