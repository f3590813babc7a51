//! Colour shade words ("plum", "pine", "canary") to basic colours, from
//! how people name colours rather than from word similarity: the xkcd
//! colour survey (`colour_survey.txt`, 949 names with the RGB most
//! respondents gave them) puts each shade at a colour, and the survey's own
//! names built on a basic colour term ("dark green", "sky blue", "pale
//! purple") say which basic term people use around it. A shade takes the
//! basic term of its `NEIGHBOURS` nearest such names in CIELAB, weighted by
//! nearness, when that term holds at least `MIN_SHARE` of the vote; else it
//! is refused, naming the two terms it falls between. A word the survey
//! does not hold goes on to MiniLM (`ground::match_colour`).
//!
//! Tuned on the dev shade list only (`docs/language.md`): 13 of 14 dev
//! shades right, "amber" refused (orange 0.50 against yellow), none wrong.

use std::sync::OnceLock;

use super::guard::escape;
use super::lexicon;

/// How many basic-term names vote.
pub const NEIGHBOURS: usize = 7;
/// The least share of the weighted vote the winning term needs.
pub const MIN_SHARE: f32 = 0.6;

/// One survey name: its words, the basic term it is built on (if any) and
/// its colour in CIELAB.
struct Entry {
    name: String,
    basic: Option<&'static str>,
    lab: [f32; 3],
}

fn table() -> &'static [Entry] {
    static TABLE: OnceLock<Vec<Entry>> = OnceLock::new();
    TABLE.get_or_init(|| parse(include_str!("colour_survey.txt")))
}

/// Reads the shipped table; a malformed line (none ship) is skipped.
fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (name, hex) = l.split_once('\t')?;
            let rgb = hex_rgb(hex.trim())?;
            let head = name.rsplit(' ').next().unwrap_or(name);
            Some(Entry {
                name: name.to_string(),
                basic: lexicon::basic_color(head),
                lab: lab(rgb),
            })
        })
        .collect()
}

fn hex_rgb(hex: &str) -> Option<[f32; 3]> {
    let h = hex.strip_prefix('#')?;
    if h.len() != 6 {
        return None;
    }
    let c = |i: usize| u8::from_str_radix(h.get(i..i + 2)?, 16).ok();
    Some([c(0)?, c(2)?, c(4)?].map(|v| f32::from(v) / 255.0))
}

/// sRGB (0–1) to CIELAB under D65.
fn lab(rgb: [f32; 3]) -> [f32; 3] {
    let lin = |c: f32| {
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let [r, g, b] = rgb.map(lin);
    let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
    let f = |t: f32| {
        if t > 0.008856 {
            t.cbrt()
        } else {
            7.787 * t + 16.0 / 116.0
        }
    };
    [
        116.0 * f(y) - 16.0,
        500.0 * (f(x) - f(y)),
        200.0 * (f(y) - f(z)),
    ]
}

fn distance(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(p, q)| (p - q) * (p - q))
        .sum::<f32>()
        .sqrt()
}

/// The basic colour of a shade word by the survey: `None` when the survey
/// does not hold the word (hyphens read as spaces), `Some(Ok((colour,
/// share)))` when its neighbours agree, `Some(Err(why))` when they do not.
pub fn basic_of(word: &str) -> Option<Result<(String, f32), String>> {
    let key = word.to_lowercase().replace('-', " ");
    let table = table();
    let entry = table.iter().find(|e| e.name == key)?;
    let mut near: Vec<(f32, &'static str)> = table
        .iter()
        .filter(|e| e.name != key)
        .filter_map(|e| e.basic.map(|b| (distance(&e.lab, &entry.lab), b)))
        .collect();
    near.sort_by(|a, b| a.0.total_cmp(&b.0));
    near.truncate(NEIGHBOURS);
    let mut votes: Vec<(&str, f32)> = Vec::new();
    for (d, b) in &near {
        let w = 1.0 / (d + 1.0);
        match votes.iter_mut().find(|(c, _)| c == b) {
            Some((_, v)) => *v += w,
            None => votes.push((b, w)),
        }
    }
    let total: f32 = votes.iter().map(|(_, v)| v).sum();
    votes.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (best, v) = *votes.first()?;
    let share = v / total;
    Some(if share >= MIN_SHARE {
        Ok((best.to_string(), share))
    } else {
        let runner = votes.get(1).map_or("?", |(c, _)| c);
        Err(format!(
            "the colour word \"{}\" falls between {best} and {runner} (the colour survey's names around it agree only {:.0}%)",
            escape(word),
            share * 100.0
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_table_reads() {
        assert_eq!(table().len(), 949);
        assert!(table().iter().filter(|e| e.basic.is_some()).count() > 500);
    }

    #[test]
    fn dev_shades_take_their_basic_colour_or_are_refused() {
        for (w, want) in [
            ("crimson", "red"),
            ("scarlet", "red"),
            ("emerald", "green"),
            ("navy", "blue"),
            ("cobalt", "blue"),
            ("lemon", "yellow"),
            ("violet", "purple"),
            ("tangerine", "orange"),
        ] {
            let got = basic_of(w).map(|r| r.map(|(c, _)| c));
            assert_eq!(got, Some(Ok(want.to_string())), "{w}");
        }
        let why = basic_of("amber").and_then(Result::err).unwrap_or_default();
        assert!(
            why.contains("\"amber\"") && why.contains("between"),
            "{why}"
        );
        assert!(basic_of("hammer").is_none());
        assert!(basic_of("").is_none());
    }

    #[test]
    fn colour_maths() {
        let white = lab([1.0, 1.0, 1.0]);
        assert!((white[0] - 100.0).abs() < 0.1 && white[1].abs() < 0.5 && white[2].abs() < 0.5);
        assert_eq!(hex_rgb("#ff0000"), Some([1.0, 0.0, 0.0]));
        assert_eq!(hex_rgb("ff0000"), None);
        assert_eq!(hex_rgb("#ff00"), None);
    }
}
