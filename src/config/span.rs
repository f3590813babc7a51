//! From spans to lines: byte offsets of a TOML text to 1-based line numbers,
//! and dotted field paths (`safety.max_delta[0]`, `safety.poses."a b"[1]`) to
//! the span of that field in a document parsed by `toml::de::DeTable`.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Byte offset → 1-based line of one text.
pub(crate) struct LineIndex {
    /// Byte offset where each line starts.
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { starts }
    }

    /// The 1-based line holding byte `offset` (past the end: the last line).
    pub(crate) fn line(&self, offset: usize) -> usize {
        // starts[0] == 0 <= offset, so the count is at least 1.
        self.starts.partition_point(|&s| s <= offset)
    }
}

/// Whether `key` can be written bare in a field path (and in TOML).
fn is_bare(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `parent` + `.key` as a field path; keys that are not bare are quoted.
pub(crate) fn join(parent: &str, key: &str) -> String {
    let seg = if is_bare(key) {
        key.to_string()
    } else {
        format!("{key:?}")
    };
    if parent.is_empty() {
        seg
    } else {
        format!("{parent}.{seg}")
    }
}

/// `parent[index]` as a field path.
pub(crate) fn index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// Splits a field path into keys and indices; `None` when malformed.
pub(crate) fn parse_path(path: &str) -> Option<Vec<Seg>> {
    let mut segs = Vec::new();
    let mut chars = path.chars().peekable();
    // Whether a key may start here (at the start or after a '.').
    let mut want_key = true;
    while let Some(&c) = chars.peek() {
        if c == '[' {
            chars.next();
            let mut digits = String::new();
            loop {
                match chars.next()? {
                    ']' => break,
                    d if d.is_ascii_digit() => digits.push(d),
                    _ => return None,
                }
            }
            segs.push(Seg::Index(digits.parse().ok()?));
            want_key = false;
        } else if c == '.' {
            if want_key {
                return None;
            }
            chars.next();
            want_key = true;
        } else if !want_key {
            return None;
        } else if c == '"' {
            chars.next();
            segs.push(Seg::Key(parse_quoted(&mut chars)?));
            want_key = false;
        } else {
            let mut key = String::new();
            while let Some(&k) = chars.peek() {
                if k == '.' || k == '[' {
                    break;
                }
                key.push(k);
                chars.next();
            }
            if !is_bare(&key) {
                return None;
            }
            segs.push(Seg::Key(key));
            want_key = false;
        }
    }
    if want_key { None } else { Some(segs) }
}

/// The rest of a quoted key written by `join` (Rust `{:?}` escapes), after
/// its opening quote.
fn parse_quoted(chars: &mut impl Iterator<Item = char>) -> Option<String> {
    let mut key = String::new();
    loop {
        match chars.next()? {
            '"' => return Some(key),
            '\\' => key.push(match chars.next()? {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                '0' => '\0',
                'u' => {
                    if chars.next()? != '{' {
                        return None;
                    }
                    let hex: String = chars.by_ref().take_while(|&h| h != '}').collect();
                    char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
                }
                other => other,
            }),
            c => key.push(c),
        }
    }
}

/// The span of the field at `path`: a value's span, or a table's header.
/// `None` for an unknown or malformed path and for the root itself.
pub(crate) fn field_span(root: &Spanned<DeTable<'_>>, path: &str) -> Option<Range<usize>> {
    let segs = parse_path(path)?;
    let (first, rest) = segs.split_first()?;
    let Seg::Key(first) = first else {
        return None;
    };
    let mut value = root.get_ref().get(first.as_str())?;
    for seg in rest {
        value = match (seg, value.get_ref()) {
            (Seg::Key(k), DeValue::Table(t)) => t.get(k.as_str())?,
            (Seg::Index(i), DeValue::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(value.span())
}

/// The 1-based line of the field at `path` in TOML `text` (`None` when the
/// text does not parse or has no such field).
pub fn field_line(text: &str, path: &str) -> Option<usize> {
    let root = DeTable::parse(text).ok()?;
    let span = field_span(&root, path)?;
    Some(LineIndex::new(text).line(span.start))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"# a comment
robot = "cartpole"
rate_hz = 50

[safety]
min = [-10.0]
max_delta = [
    20.0,
    30.0,
]

[safety.poses]
center = [0.0]
"odd key.x" = [1.0, 2.0]

[plant]
kind = "sim:cartpole"
inline = { a = 1, b = [5, 6] }
"#;

    #[test]
    fn line_index_maps_offsets() {
        let idx = LineIndex::new("ab\ncd\n\nef");
        assert_eq!(idx.line(0), 1);
        assert_eq!(idx.line(2), 1); // the '\n' itself
        assert_eq!(idx.line(3), 2);
        assert_eq!(idx.line(6), 3);
        assert_eq!(idx.line(7), 4);
        assert_eq!(idx.line(1000), 4);
        assert_eq!(LineIndex::new("").line(0), 1);
    }

    #[test]
    fn top_level_and_section_fields() {
        assert_eq!(field_line(DOC, "robot"), Some(2));
        assert_eq!(field_line(DOC, "rate_hz"), Some(3));
        assert_eq!(field_line(DOC, "safety"), Some(5));
        assert_eq!(field_line(DOC, "safety.min"), Some(6));
        assert_eq!(field_line(DOC, "plant.kind"), Some(17));
    }

    #[test]
    fn array_indices_and_nesting() {
        assert_eq!(field_line(DOC, "safety.min[0]"), Some(6));
        assert_eq!(field_line(DOC, "safety.max_delta"), Some(7));
        assert_eq!(field_line(DOC, "safety.max_delta[0]"), Some(8));
        assert_eq!(field_line(DOC, "safety.max_delta[1]"), Some(9));
        assert_eq!(field_line(DOC, "safety.poses"), Some(12));
        assert_eq!(field_line(DOC, "safety.poses.center[0]"), Some(13));
        assert_eq!(field_line(DOC, "plant.inline.b[1]"), Some(18));
    }

    #[test]
    fn quoted_keys_round_trip() {
        let path = join("safety.poses", "odd key.x");
        assert_eq!(path, r#"safety.poses."odd key.x""#);
        assert_eq!(field_line(DOC, &path), Some(14));
        assert_eq!(field_line(DOC, &index(&path, 1)), Some(14));
        assert_eq!(
            parse_path(&join("a", "q\"\\\n\u{7}")),
            Some(vec![Seg::Key("a".into()), Seg::Key("q\"\\\n\u{7}".into())])
        );
    }

    #[test]
    fn unknown_or_malformed_paths() {
        for path in [
            "",
            "nope",
            "safety.nope",
            "safety.min[1]",
            "safety.min.x",
            "robot[0]",
            "safety..min",
            "safety.",
            ".safety",
            "safety.min[x]",
            "safety.min[0",
            "[0]",
            "safety.\"unterminated",
            "safety min",
        ] {
            assert_eq!(field_line(DOC, path), None, "{path:?}");
        }
        assert_eq!(field_line("robot = ", "robot"), None);
    }
}
