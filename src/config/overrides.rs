//! `--set key=value` overrides: change one field of a robot config (a device
//! path, a gain, a limit) without copying the file. The value is TOML
//! (`3`, `0.5`, `true`, `[1.0, 2.0]`, `"text"`; a bare word such as
//! `/dev/ttyUSB1` is taken as a string), the key a dotted field path with
//! optional indices (`safety.max[0]`). The overridden text is validated like
//! the file; a problem with an overridden field names the `--set`, any other
//! keeps its line in the file.

use std::path::Path;

use toml::{Table, Value};

use super::error::{ConfigErrors, ConfigProblem};
use super::span::{Seg, field_line, parse_path};
use super::{Integrity, RobotConfig};

/// One `--set key=value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    /// The dotted field path as written.
    pub key: String,
    path: Vec<Seg>,
    pub value: Value,
}

impl Override {
    /// Parses `key=value`; the error says what is wrong with it.
    pub fn parse(arg: &str) -> Result<Override, String> {
        let (key, value) = arg
            .split_once('=')
            .ok_or_else(|| format!("`{arg}`: expected key=value (e.g. plant.seed=3)"))?;
        let key = key.trim();
        let path = parse_path(key)
            .ok_or_else(|| format!("`{key}`: not a field path (e.g. safety.max[0])"))?;
        if !matches!(path.first(), Some(Seg::Key(_))) {
            return Err(format!("`{key}`: a field path starts with a key"));
        }
        Ok(Override {
            key: key.to_string(),
            path,
            value: parse_value(value.trim()).map_err(|e| format!("`{key}`: {e}"))?,
        })
    }

    /// Whether the config field `field` lies inside this override.
    fn covers(&self, field: &str) -> bool {
        field == self.key
            || field
                .strip_prefix(self.key.as_str())
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    }
}

/// A TOML value, or a bare word as a string.
fn parse_value(text: &str) -> Result<Value, String> {
    if text.is_empty() {
        return Err("empty value (write \"\" for an empty string)".into());
    }
    match format!("v = {text}").parse::<Table>() {
        Ok(mut t) => t.remove("v").ok_or_else(|| "no value".to_string()),
        Err(e) => {
            // Anything that starts like a TOML value must be one; the rest
            // (paths, names, endpoints) is a string.
            let looks_typed = text.starts_with(['"', '\'', '[', '{', '+', '-', '.'])
                || text.starts_with(|c: char| c.is_ascii_digit())
                || text == "true"
                || text == "false";
            if looks_typed {
                Err(format!(
                    "`{text}` is not a TOML value: {}",
                    e.message().trim().replace('\n', "; ")
                ))
            } else {
                Ok(Value::String(text.to_string()))
            }
        }
    }
}

/// `text` (a TOML document) with `overrides` applied, in order; a missing
/// table on the way is created, an array index must exist.
pub fn apply(text: &str, overrides: &[Override]) -> Result<String, (String, String)> {
    let mut root: Table = text
        .parse()
        .map_err(|e: toml::de::Error| (String::new(), format!("TOML syntax error: {e}")))?;
    for o in overrides {
        set(&mut root, o).map_err(|e| (o.key.clone(), e))?;
    }
    toml::to_string(&root).map_err(|e| (String::new(), format!("cannot write the config: {e}")))
}

fn set(root: &mut Table, o: &Override) -> Result<(), String> {
    let Some((last, parents)) = o.path.split_last() else {
        return Err("empty field path".into());
    };
    let mut slot = Slot::Table(root);
    for seg in parents {
        slot = slot.child(seg, true)?;
    }
    match (slot, last) {
        (Slot::Table(t), Seg::Key(k)) => {
            t.insert(k.clone(), o.value.clone());
            Ok(())
        }
        (Slot::Array(a), Seg::Index(i)) => {
            let n = a.len();
            let v = a
                .get_mut(*i)
                .ok_or_else(|| format!("index {i} is past the end (the array has {n})"))?;
            *v = o.value.clone();
            Ok(())
        }
        (Slot::Table(_), Seg::Index(_)) => Err("indexes a table, not an array".into()),
        (Slot::Array(_), Seg::Key(_)) => Err("names a key inside an array".into()),
    }
}

/// Where the walk down a field path stands.
enum Slot<'a> {
    Table(&'a mut Table),
    Array(&'a mut Vec<Value>),
}

impl<'a> Slot<'a> {
    fn child(self, seg: &Seg, create: bool) -> Result<Slot<'a>, String> {
        let v = match (self, seg) {
            (Slot::Table(t), Seg::Key(k)) => {
                if create && !t.contains_key(k) {
                    t.insert(k.clone(), Value::Table(Table::new()));
                }
                t.get_mut(k).ok_or_else(|| format!("no key `{k}`"))?
            }
            (Slot::Array(a), Seg::Index(i)) => {
                let n = a.len();
                a.get_mut(*i)
                    .ok_or_else(|| format!("index {i} is past the end (the array has {n})"))?
            }
            (Slot::Table(_), Seg::Index(_)) => return Err("indexes a table, not an array".into()),
            (Slot::Array(_), Seg::Key(_)) => return Err("names a key inside an array".into()),
        };
        match v {
            Value::Table(t) => Ok(Slot::Table(t)),
            Value::Array(a) => Ok(Slot::Array(a)),
            other => Err(format!(
                "goes inside a {}, which has no fields",
                other.type_str()
            )),
        }
    }
}

/// Loads the config at `path` with `overrides` (`key=value` strings)
/// applied. With none, this is `config::load_with`: the text is the file's.
pub fn load_with_overrides(
    path: &Path,
    integrity: Integrity,
    overrides: &[String],
) -> Result<RobotConfig, ConfigErrors> {
    if overrides.is_empty() {
        return super::load_with(path, integrity);
    }
    let problem = |field: &str, message: String| ConfigErrors {
        problems: vec![ConfigProblem {
            file: path.to_path_buf(),
            line: None,
            field: field.to_string(),
            message,
        }],
    };
    let parsed: Vec<Override> = overrides
        .iter()
        .map(|a| {
            Override::parse(a).map_err(|e| {
                // Name the field when the key itself is fine.
                let key = a.split_once('=').map_or("", |(k, _)| k.trim());
                let field = if parse_path(key).is_some() { key } else { "" };
                problem(field, format!("--set {e}"))
            })
        })
        .collect::<Result<_, _>>()?;
    let text = crate::input::read_text(path, crate::input::FileKind::Config)
        .map_err(|e| problem("", format!("cannot read: {e}")))?;
    let effective = apply(&text, &parsed).map_err(|(field, e)| {
        let e = if field.is_empty() {
            e
        } else {
            format!("--set: {e}")
        };
        problem(&field, e)
    })?;
    super::parse_with(path, &effective, integrity).map_err(|mut errs| {
        for p in &mut errs.problems {
            if let Some(o) = parsed.iter().rev().find(|o| o.covers(&p.field)) {
                p.line = None;
                p.message = format!("{} (set by --set {}={})", p.message, o.key, o.value);
            } else {
                p.line = line_in_file(&text, &p.field);
            }
        }
        errs
    })
}

/// The line of `field` in the file, or of the nearest enclosing field that
/// is there (a missing key: its table).
fn line_in_file(text: &str, field: &str) -> Option<usize> {
    let mut f = field;
    while !f.is_empty() {
        if let Some(line) = field_line(text, f) {
            return Some(line);
        }
        f = &f[..f.rfind(['.', '[']).unwrap_or(0)];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_toml_typed_and_bare_words_are_strings() {
        let v = |s: &str| Override::parse(s).map(|o| o.value);
        assert_eq!(v("plant.seed=3"), Ok(Value::Integer(3)));
        assert_eq!(v("a.b = 0.5"), Ok(Value::Float(0.5)));
        assert_eq!(v("a=true"), Ok(Value::Boolean(true)));
        assert_eq!(
            v("a=/dev/ttyUSB1"),
            Ok(Value::String("/dev/ttyUSB1".into()))
        );
        assert_eq!(v("a=\"x y\""), Ok(Value::String("x y".into())));
        assert!(matches!(v("a=[1.0, 2.0]"), Ok(Value::Array(a)) if a.len() == 2));
        for bad in ["a", "=3", "a..b=1", "[0]=1", "a=[1,", "a=1.2.3", "a="] {
            assert!(Override::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn apply_sets_nested_fields_and_indices() {
        let text = "robot = \"r\"\n[safety]\nmax = [1.0, 2.0]\n";
        let o = |s: &str| Override::parse(s).unwrap();
        let out = apply(
            text,
            &[o("safety.max[1]=5.0"), o("plant.seed=4"), o("robot=other")],
        )
        .unwrap();
        let t: Table = out.parse().unwrap();
        assert_eq!(t["robot"].as_str(), Some("other"));
        assert_eq!(t["safety"]["max"][1].as_float(), Some(5.0));
        assert_eq!(t["plant"]["seed"].as_integer(), Some(4));
        for (bad, why) in [
            ("safety.max[2]=1.0", "past the end"),
            ("robot.x=1", "string"),
            ("safety[0]=1", "table"),
        ] {
            let (key, e) = apply(text, &[o(bad)]).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
            assert_eq!(key, bad.split('=').next().unwrap());
        }
    }
}
