//! Typed, span-aware reading of a parsed TOML document for validation: every
//! missing key, wrong type or unknown key becomes a `ConfigProblem` with its
//! field path and line, and reading goes on so that all problems are found.

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::ConfigProblem;
use super::span::{LineIndex, index, join};

/// Collects the problems of one file.
pub(crate) struct Reporter {
    file: PathBuf,
    lines: LineIndex,
    pub(crate) problems: Vec<ConfigProblem>,
    /// Problems past `MAX_PROBLEMS`, counted but not kept (a file with a
    /// million bad entries gets a readable report, not a million lines).
    pub(crate) omitted: usize,
    /// Whether the policy file's sha256 must match its model card.
    pub(crate) verify_model: bool,
}

/// The most problems kept for one file.
pub(crate) const MAX_PROBLEMS: usize = 100;

impl Reporter {
    pub(crate) fn new(file: &Path, text: &str) -> Self {
        Reporter {
            file: file.to_path_buf(),
            lines: LineIndex::new(text),
            problems: Vec::new(),
            omitted: 0,
            verify_model: true,
        }
    }

    pub(crate) fn file(&self) -> &Path {
        &self.file
    }

    /// Records a problem at `span` (its start line), or with no line.
    pub(crate) fn report(
        &mut self,
        field: impl Into<String>,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) {
        if self.problems.len() >= MAX_PROBLEMS {
            self.omitted += 1;
            return;
        }
        self.problems.push(ConfigProblem {
            file: self.file.clone(),
            line: span.map(|s| self.lines.line(s.start)),
            field: field.into(),
            message: message.into(),
        });
    }
}

/// What kind of TOML value `v` is, for "expected X, found Y" messages.
fn kind_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// One value of the document, with its field path.
#[derive(Clone)]
pub(crate) struct Item<'a> {
    pub(crate) path: String,
    value: &'a Spanned<DeValue<'a>>,
}

impl<'a> Item<'a> {
    pub(crate) fn span(&self) -> Option<Range<usize>> {
        Some(self.value.span())
    }

    /// Records a problem with this value.
    pub(crate) fn report(&self, rep: &mut Reporter, message: impl Into<String>) {
        rep.report(self.path.clone(), self.span(), message);
    }

    fn wrong_type(&self, rep: &mut Reporter, expected: &str) {
        let found = kind_name(self.value.get_ref());
        self.report(rep, format!("expected {expected}, found {found}"));
    }

    pub(crate) fn str(&self, rep: &mut Reporter) -> Option<&'a str> {
        match self.value.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            _ => {
                self.wrong_type(rep, "a string");
                None
            }
        }
    }

    /// A string naming one of `options`: its value, else reported as
    /// `must be "a", "b" or "c", got "x"`.
    pub(crate) fn one_of<T: Copy>(&self, rep: &mut Reporter, options: &[(&str, T)]) -> Option<T> {
        let s = self.str(rep)?;
        if let Some((_, v)) = options.iter().find(|(name, _)| *name == s) {
            return Some(*v);
        }
        let names: Vec<String> = options.iter().map(|(n, _)| format!("{n:?}")).collect();
        let listed = match names.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        self.report(rep, format!("must be {listed}, got {s:?}"));
        None
    }

    pub(crate) fn bool(&self, rep: &mut Reporter) -> Option<bool> {
        match self.value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(rep, "a boolean (true or false)");
                None
            }
        }
    }

    /// An integer (a float is a type error).
    pub(crate) fn integer(&self, rep: &mut Reporter) -> Option<i64> {
        match self.value.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(v) => Some(v),
                Err(_) => {
                    self.report(rep, format!("integer {i} is out of range"));
                    None
                }
            },
            _ => {
                self.wrong_type(rep, "an integer");
                None
            }
        }
    }

    /// An integer >= 0 (and <= `max`), as usize/u64 callers need.
    pub(crate) fn count(&self, rep: &mut Reporter, min: u64, max: u64) -> Option<u64> {
        let v = self.integer(rep)?;
        match u64::try_from(v) {
            Ok(v) if (min..=max).contains(&v) => return Some(v),
            _ => {}
        }
        let want = match (min, max) {
            (1, u64::MAX) => "> 0".to_string(),
            (_, u64::MAX) => format!(">= {min}"),
            _ => format!("in {min}..={max}"),
        };
        self.report(rep, format!("must be {want}, got {v}"));
        None
    }

    /// A number: an integer or a float (which may be inf or nan; callers
    /// check finiteness where it matters).
    pub(crate) fn number(&self, rep: &mut Reporter) -> Option<f64> {
        match self.value.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(v) => Some(v as f64),
                Err(_) => {
                    self.report(rep, format!("integer {i} is out of range"));
                    None
                }
            },
            DeValue::Float(f) => match f.as_str().parse::<f64>() {
                Ok(v) => Some(v),
                Err(_) => {
                    self.report(rep, format!("cannot read float {f}"));
                    None
                }
            },
            _ => {
                self.wrong_type(rep, "a number");
                None
            }
        }
    }

    /// The elements of an array, each with its indexed path.
    pub(crate) fn array(&self, rep: &mut Reporter) -> Option<Vec<Item<'a>>> {
        match self.value.get_ref() {
            DeValue::Array(a) => Some(
                a.iter()
                    .enumerate()
                    .map(|(i, value)| Item {
                        path: index(&self.path, i),
                        value,
                    })
                    .collect(),
            ),
            _ => {
                self.wrong_type(rep, "an array");
                None
            }
        }
    }

    pub(crate) fn table(&self, rep: &mut Reporter) -> Option<Table<'a>> {
        match self.value.get_ref() {
            DeValue::Table(table) => Some(Table {
                path: self.path.clone(),
                table,
                span: self.span(),
            }),
            _ => {
                self.wrong_type(rep, "a table");
                None
            }
        }
    }
}

/// A table of the document (the root or a section), with its field path.
pub(crate) struct Table<'a> {
    pub(crate) path: String,
    table: &'a DeTable<'a>,
    /// Its header (`[safety]`) or inline value; `None` for the root.
    span: Option<Range<usize>>,
}

impl<'a> Table<'a> {
    pub(crate) fn root(doc: &'a Spanned<DeTable<'a>>) -> Self {
        Table {
            path: String::new(),
            table: doc.get_ref(),
            span: None,
        }
    }

    /// The field path of `key` in this table.
    pub(crate) fn field(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// Where this table is, for "missing" problems (section header line).
    pub(crate) fn span(&self) -> Option<Range<usize>> {
        self.span.clone()
    }

    fn describe(&self) -> String {
        if self.path.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in [{}]", self.path)
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<Item<'a>> {
        self.table.get(key).map(|value| Item {
            path: self.field(key),
            value,
        })
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    /// `key`'s value, or a "missing" problem at this table's line.
    pub(crate) fn require(&self, rep: &mut Reporter, key: &str) -> Option<Item<'a>> {
        let item = self.get(key);
        if item.is_none() {
            let msg = format!("missing (required {})", self.describe());
            rep.report(self.field(key), self.span(), msg);
        }
        item
    }

    /// The sub-table `[path.key]`: `None` when absent (a problem if
    /// `required`) or not a table.
    pub(crate) fn section(&self, rep: &mut Reporter, key: &str, required: bool) -> Option<Self> {
        if required {
            self.require(rep, key)?.table(rep)
        } else {
            self.get(key)?.table(rep)
        }
    }

    /// Every entry, in the document's key order.
    pub(crate) fn entries(&self) -> Vec<(&'a str, Item<'a>)> {
        self.table
            .iter()
            .map(|(k, value)| {
                let key: &'a str = k.get_ref().as_ref();
                let item = Item {
                    path: self.field(key),
                    value,
                };
                (key, item)
            })
            .collect()
    }

    /// A problem for each key not in `allowed` (typos), with a suggestion.
    pub(crate) fn check_keys(&self, rep: &mut Reporter, allowed: &[&str]) {
        for (key, _) in self.table.iter() {
            let name: &str = key.get_ref().as_ref();
            if allowed.contains(&name) {
                continue;
            }
            let mut msg = format!("unknown key `{name}` {}", self.describe());
            match closest(name, allowed) {
                Some(near) => msg.push_str(&format!(" (did you mean `{near}`?)")),
                None => msg.push_str(&format!(" (expected: {})", allowed.join(", "))),
            }
            // The key's own span: its value may be a table further down.
            rep.report(self.field(name), Some(key.span()), msg);
        }
    }
}

/// The allowed key nearest to `key` by edit distance, if it is close.
fn closest<'k>(key: &str, allowed: &[&'k str]) -> Option<&'k str> {
    allowed
        .iter()
        .map(|a| (edit_distance(key, a), *a))
        .filter(|&(d, a)| d <= 2.max(a.len() / 4) && d < a.len())
        .min_by_key(|&(d, _)| d)
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "ab"), 2);
        let allowed = ["min", "max", "max_delta", "stale_after_ms"];
        assert_eq!(closest("max_detla", &allowed), Some("max_delta"));
        assert_eq!(closest("stale_after", &allowed), Some("stale_after_ms"));
        assert_eq!(closest("rate", &allowed), None);
        assert_eq!(closest("mx", &allowed), Some("max"));
        assert_eq!(closest("zzzzzz", &allowed), None);
    }

    #[test]
    fn reads_typed_values_and_reports_problems() {
        let text = "a = 1\nb = \"x\"\nc = [1, 2.5]\nd = 0x10\ntypo = 3\n[s]\nk = true\n";
        let doc = DeTable::parse(text).expect("parses");
        let mut rep = Reporter::new(Path::new("f.toml"), text);
        let root = Table::root(&doc);
        root.check_keys(&mut rep, &["a", "b", "c", "d", "s", "type"]);
        let a = root.get("a").expect("a");
        assert_eq!(a.number(&mut rep), Some(1.0));
        assert_eq!(a.str(&mut rep), None);
        let c = root.get("c").expect("c").array(&mut rep).expect("array");
        assert_eq!(c[1].path, "c[1]");
        assert_eq!(c[1].number(&mut rep), Some(2.5));
        assert_eq!(c[1].integer(&mut rep), None);
        assert_eq!(root.get("d").expect("d").integer(&mut rep), Some(16));
        let s = root.section(&mut rep, "s", true).expect("s");
        assert_eq!(s.get("k").expect("k").bool(&mut rep), Some(true));
        assert!(s.require(&mut rep, "missing").is_none());
        assert!(root.require(&mut rep, "gone").is_none());
        let shown: Vec<String> = rep.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            shown,
            [
                "f.toml:5: typo: unknown key `typo` at the top level (did you mean `type`?)",
                "f.toml:1: a: expected a string, found an integer",
                "f.toml:3: c[1]: expected an integer, found a float",
                "f.toml:6: s.missing: missing (required in [s])",
                "f.toml: gone: missing (required at the top level)",
            ]
        );
    }
}
