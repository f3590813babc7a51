//! The first gate of the language layer: what an instruction must be before
//! anything reads it. Empty or whitespace-only text, text over
//! `MAX_CHARS`, and text carrying control characters (terminal escape
//! codes) or invisible format characters (bidi overrides and marks,
//! zero-width joiners) are refused here, before grounding, planning or any
//! motion. `escape` makes any text safe to print: every such character is
//! written as a `\u{…}` escape, never raw.

use std::fmt::Write as _;

/// The longest instruction read, in characters.
pub const MAX_CHARS: usize = 500;

/// Whether `c` is an invisible format character that can change how text
/// is displayed or split a word without showing (bidi controls and marks,
/// zero-width characters, the soft hyphen, the byte-order mark).
pub fn is_format_char(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// Whether `c` must never reach a terminal raw.
fn is_unsafe(c: char) -> bool {
    c.is_control() || is_format_char(c)
}

/// `s` with every control or format character written as `\u{XXXX}`
/// (backslashes doubled, so the escape cannot be forged).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if is_unsafe(c) {
            let _ = write!(out, "\\u{{{:04X}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// `s` escaped and cut to `max` characters (with `…` when cut), for
/// quoting an instruction in a message.
pub fn quote(s: &str, max: usize) -> String {
    let e = escape(s);
    if e.chars().count() <= max {
        e
    } else {
        let mut t: String = e.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// Why an instruction is not read at all, or `None` when it may be.
pub fn check(instruction: &str) -> Option<String> {
    let n = instruction.chars().count();
    if n > MAX_CHARS {
        return Some(format!(
            "the instruction is {n} characters long; the limit is {MAX_CHARS}"
        ));
    }
    if instruction.trim().is_empty() {
        return Some("the instruction is empty: nothing to do".into());
    }
    if let Some((i, c)) = instruction
        .chars()
        .enumerate()
        .find(|(_, c)| is_unsafe(*c) && !matches!(c, '\t' | '\n' | '\r'))
    {
        let what = if c.is_control() {
            "a control character"
        } else {
            "an invisible formatting character (bidi or zero-width)"
        };
        return Some(format!(
            "the instruction holds {what} \\u{{{:04X}}} at character {}: \"{}\"",
            c as u32,
            i + 1,
            quote(instruction, 80)
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_empty_long_control_and_bidi() {
        assert!(check("").unwrap().contains("empty"));
        assert!(check(" \t\n ").unwrap().contains("empty"));
        assert!(check(&"a".repeat(501)).unwrap().contains("501"));
        assert!(check(&"a".repeat(500)).is_none());
        let esc = check("put the r\u{1b}[31med block in the bowl").unwrap();
        assert!(esc.contains("control character \\u{001B}"), "{esc}");
        assert!(!esc.contains('\u{1b}'));
        let rlm = check("put the re\u{200F}d block in the bowl").unwrap();
        assert!(rlm.contains("\\u{200F}") && !rlm.contains('\u{200F}'));
        assert!(check("put the red block in the green bowl").is_none());
    }

    #[test]
    fn escape_never_passes_unsafe_characters() {
        let s = "a\u{1b}[2Jb\u{202E}c\\u{1B}\u{7f}";
        let e = escape(s);
        assert!(e.chars().all(|c| !is_unsafe(c)), "{e}");
        assert_eq!(e, "a\\u{001B}[2Jb\\u{202E}c\\\\u{1B}\\u{007F}");
        assert_eq!(quote("abcdef", 3), "abc…");
    }
}
