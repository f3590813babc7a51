//! Grounding an instruction in the scene before planning: split it into
//! words, find the objects it names ("the crimson cube", "the dish", "the
//! blue one", "red"), map each to a scene object, and keep every other word
//! with its lexicon class for the goal parser (`parse`). Basic colour names
//! and the common object nouns come from the lexicon (`lexicon`); a shade
//! word in the xkcd colour survey from the survey (`colour_survey`); any
//! other word is matched by its slot with sentence embeddings (MiniLM): a word
//! before an object noun against the colour names, a word where a noun goes
//! against the object kinds, each with a similarity threshold and a margin
//! over the runner-up. A word that matches nothing confidently, or sits in no
//! slot, is a refusal that names it: no word is silently dropped. A named
//! object that is not in the scene is a refusal too.

use anyhow::Result;
use ganglion_sim::SceneSpec;

use super::guard::escape;
use super::lexicon::{self, Class};

/// What kind of object a mention names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Block,
    Bowl,
    /// "the red one", "red": a colour with no noun.
    Either,
    /// The table top.
    Table,
}

/// One object (or set of blocks) the instruction names.
#[derive(Clone, Debug, PartialEq)]
pub struct Mention {
    /// The words as written ("crimson cube"), escaped for printing.
    pub text: String,
    /// The canonical colour, when one was named.
    pub color: Option<String>,
    pub kind: Kind,
    /// A plural noun ("blocks") or a quantifier ("every block").
    pub plural: bool,
    /// The scene object it grounds to ("red block"), when it names one.
    pub object: Option<String>,
}

/// A word of the instruction after grounding.
#[derive(Clone, Debug, PartialEq)]
pub enum Token {
    /// A lexicon word and its class.
    Word(String, Class),
    /// An object mention.
    Obj(Mention),
}

/// An instruction after grounding.
#[derive(Clone, Debug, PartialEq)]
pub struct Grounded {
    /// The instruction with every grounded mention in the scene's words.
    pub text: String,
    pub tokens: Vec<Token>,
    /// How words outside the lexicon were matched ("pine → green, 0.71").
    pub matched: Vec<String>,
}

/// Sentence similarities: MiniLM in the planner, a table in tests.
pub trait Embedder {
    /// Cosine similarity of `query` to each option, in order.
    fn similarities(&mut self, query: &str, options: &[String]) -> Result<Vec<f32>>;
}

/// How sure an embedding match must be: the best similarity and its lead
/// over the runner-up. Set on the dev word list only (`docs/language.md`):
/// MiniLM-L6 separates colour shades poorly (4 of 14 dev shades nearest to
/// the right basic colour, wrong ones leading by up to 0.051), so the colour
/// margin sits above every wrong lead seen and most shades are refused,
/// by name, rather than guessed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatchThresholds {
    pub colour: f32,
    pub colour_margin: f32,
    pub noun: f32,
    pub noun_margin: f32,
}

pub const THRESHOLDS: MatchThresholds = MatchThresholds {
    colour: 0.60,
    colour_margin: 0.06,
    noun: 0.42,
    noun_margin: 0.05,
};

/// Anchors an unknown noun is compared with: the two object kinds by their
/// names (and the bowl by what it is for, a container), and everyday things
/// that are neither (a match to those is a refusal).
const NOUN_ANCHORS: &[(&str, Option<Kind>)] = &[
    ("block", Some(Kind::Block)),
    ("cube", Some(Kind::Block)),
    ("bowl", Some(Kind::Bowl)),
    ("dish", Some(Kind::Bowl)),
    ("container", Some(Kind::Bowl)),
    ("tool", None),
    ("ball", None),
    ("person", None),
    ("animal", None),
    ("food", None),
    ("book", None),
    ("vehicle", None),
    ("plant", None),
    ("instruction", None),
];

/// The best-scoring anchor if it clears `min` and leads the runner-up by
/// `margin`; else the reason it does not.
fn pick_anchor(sims: &[f32], min: f32, margin: f32) -> Result<usize, (usize, f32)> {
    let mut idx: Vec<usize> = (0..sims.len()).collect();
    idx.sort_by(|a, b| sims[*b].total_cmp(&sims[*a]));
    let best = idx.first().copied().unwrap_or(0);
    let b = sims.get(best).copied().unwrap_or(f32::NEG_INFINITY);
    let second = idx
        .get(1)
        .and_then(|i| sims.get(*i))
        .copied()
        .unwrap_or(f32::NEG_INFINITY);
    if b >= min && b - second >= margin {
        Ok(best)
    } else {
        Err((best, b))
    }
}

/// Matches an unknown colour word to a basic colour.
pub fn match_colour(
    word: &str,
    emb: &mut dyn Embedder,
    t: &MatchThresholds,
) -> Result<Result<(String, f32), String>> {
    let anchors: Vec<&str> = lexicon::BASIC_COLORS
        .iter()
        .copied()
        .filter(|c| *c != "gray")
        .collect();
    let options: Vec<String> = anchors.iter().map(|c| format!("the colour {c}")).collect();
    let sims = emb.similarities(&format!("the colour {word}"), &options)?;
    Ok(match pick_anchor(&sims, t.colour, t.colour_margin) {
        Ok(i) => Ok((anchors[i].to_string(), sims[i])),
        Err((i, s)) => Err(format!(
            "the colour word \"{}\" is not one I know (closest: {} at similarity {s:.2}, below the confidence needed)",
            escape(word),
            anchors.get(i).unwrap_or(&"?")
        )),
    })
}

/// Matches an unknown noun to an object kind.
pub fn match_noun(
    word: &str,
    emb: &mut dyn Embedder,
    t: &MatchThresholds,
) -> Result<Result<(Kind, f32), String>> {
    let options: Vec<String> = NOUN_ANCHORS.iter().map(|(a, _)| format!("a {a}")).collect();
    let sims = emb.similarities(&format!("a {word}"), &options)?;
    // Anchors of one kind do not compete with each other: the margin is
    // over the best anchor of another kind.
    let mut best: Option<(usize, f32)> = None;
    for (i, s) in sims.iter().enumerate() {
        if best.is_none_or(|(_, b)| *s > b) {
            best = Some((i, *s));
        }
    }
    let Some((bi, bs)) = best else {
        return Ok(Err(format!(
            "\"{}\": nothing to compare with",
            escape(word)
        )));
    };
    let kind = NOUN_ANCHORS[bi].1;
    let rival = sims
        .iter()
        .enumerate()
        .filter(|(i, _)| NOUN_ANCHORS[*i].1 != kind)
        .map(|(_, s)| *s)
        .fold(f32::NEG_INFINITY, f32::max);
    Ok(match kind {
        Some(k) if bs >= t.noun && bs - rival >= t.noun_margin => Ok((k, bs)),
        _ => Err(format!(
            "I do not know what \"{}\" is (closest: {} at similarity {bs:.2}); I can move blocks into bowls and onto blocks",
            escape(word),
            NOUN_ANCHORS[bi].0
        )),
    })
}

/// One word before mentions are built.
#[derive(Clone, Debug)]
enum Tag {
    Class(Class),
    Colour(String),
    Noun(Kind, bool),
    Unknown,
}

/// Splits into lower-case words and punctuation marks; hyphenated words
/// whose parts are all lexicon words are split.
fn words(instruction: &str) -> Vec<String> {
    let lower = instruction.to_lowercase().replace(['\u{2019}', '`'], "'");
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<String>| {
        let w = cur.trim_matches(|c| c == '\'' || c == '-').to_string();
        cur.clear();
        if w.is_empty() {
            return;
        }
        let parts: Vec<&str> = w.split('-').collect();
        if parts.len() > 1
            && lexicon::class(&w).is_none()
            && parts
                .iter()
                .all(|p| lexicon::class(p).is_some() || lexicon::noun(p).is_some())
        {
            out.extend(parts.iter().map(|p| p.to_string()));
        } else {
            out.push(w);
        }
    };
    for c in lower.chars() {
        if c.is_alphanumeric() || c == '\'' || c == '-' {
            cur.push(c);
        } else {
            flush(&mut cur, &mut out);
            // Punctuation is a token of its own; spaces, quotes and brackets
            // only separate words.
            if !c.is_whitespace() && !matches!(c, '"' | '(' | ')') {
                out.push(c.to_string());
            }
        }
    }
    flush(&mut cur, &mut out);
    lexicon::join_phrases(&out)
}

fn tag_of(w: &str) -> Tag {
    if let Some(c) = lexicon::basic_color(w) {
        return Tag::Colour(c.to_string());
    }
    if let Some((k, p)) = lexicon::noun(w) {
        return Tag::Noun(k, p);
    }
    if let Some(c) = lexicon::class(w).or_else(|| lexicon::phrase_class(w)) {
        return Tag::Class(c);
    }
    Tag::Unknown
}

/// A compound colour ("ocean-blue", "blood-red"): English compounds are
/// head-final, so the last part names the colour when it is the only basic
/// colour in the word.
fn compound_colour(w: &str) -> Option<String> {
    let parts: Vec<&str> = w.split('-').collect();
    if parts.len() < 2 {
        return None;
    }
    let colours: Vec<&str> = parts
        .iter()
        .filter_map(|p| lexicon::basic_color(p))
        .collect();
    let last = lexicon::basic_color(parts[parts.len() - 1])?;
    (colours.len() == 1).then(|| last.to_string())
}

/// Grounds `instruction` in `scene`: the tokens for the parser, or the
/// reason to refuse. `emb` matches words outside the lexicon; without it
/// such words are refused.
pub fn ground(
    instruction: &str,
    scene: &SceneSpec,
    mut emb: Option<&mut dyn Embedder>,
    t: &MatchThresholds,
) -> Result<Result<Grounded, String>> {
    let ws = words(instruction);
    let mut tags: Vec<Tag> = ws.iter().map(|w| tag_of(w)).collect();
    let mut matched = Vec::new();
    let is_nounish = |t: &Tag| matches!(t, Tag::Noun(..));
    let opens_np = |t: &Tag| {
        matches!(
            t,
            Tag::Class(Class::Det | Class::Quant | Class::Modifier | Class::Same)
                | Tag::Colour(_)
                | Tag::Unknown
        )
    };
    let ends_np = |t: Option<&Tag>| {
        !matches!(
            t,
            Some(Tag::Noun(..) | Tag::Colour(_) | Tag::Unknown | Tag::Class(Class::Modifier))
        )
    };
    // Nouns first (right to left): an unknown word after a determiner,
    // quantifier, modifier or colour-slot word, before the end of the
    // noun phrase.
    for i in (0..ws.len()).rev() {
        if !matches!(tags[i], Tag::Unknown) || !ends_np(tags.get(i + 1)) {
            continue;
        }
        if i == 0 || !opens_np(&tags[i - 1]) {
            continue;
        }
        if compound_colour(&ws[i]).is_some() {
            continue;
        }
        let Some(e) = emb.as_deref_mut() else {
            return Ok(Err(format!(
                "I do not know the word \"{}\" (no embedding model to match it)",
                escape(&ws[i])
            )));
        };
        match match_noun(&ws[i], e, t)? {
            Ok((k, s)) => {
                matched.push(format!("\"{}\" → {k:?} ({s:.2})", escape(&ws[i])));
                let plural = ws[i].ends_with('s') && !ws[i].ends_with("ss");
                tags[i] = Tag::Noun(k, plural);
            }
            Err(why) => return Ok(Err(why)),
        }
    }
    // Colours: an unknown word before a noun (modifiers between allowed).
    for i in 0..ws.len() {
        if !matches!(tags[i], Tag::Unknown) {
            continue;
        }
        let mut j = i + 1;
        while matches!(tags.get(j), Some(Tag::Class(Class::Modifier))) {
            j += 1;
        }
        let before_noun = tags.get(j).is_some_and(is_nounish);
        // A shade word before a basic colour ("forest green block").
        let before_colour =
            matches!(tags.get(j), Some(Tag::Colour(_))) && tags.get(j + 1).is_some_and(is_nounish);
        if before_colour {
            tags[i] = Tag::Class(Class::Modifier);
            continue;
        }
        if let Some(c) = compound_colour(&ws[i]) {
            tags[i] = Tag::Colour(c);
            continue;
        }
        if !before_noun {
            return Ok(Err(format!(
                "I do not know the word \"{}\" in \"{}\"",
                escape(&ws[i]),
                super::guard::quote(instruction, 120)
            )));
        }
        // The colour survey first: it places shades by how people name
        // colours; MiniLM only sees words the survey does not hold.
        match super::colour_survey::basic_of(&ws[i]) {
            Some(Ok((c, share))) => {
                matched.push(format!(
                    "\"{}\" → {c} (colour survey, {share:.2})",
                    escape(&ws[i])
                ));
                tags[i] = Tag::Colour(c);
                continue;
            }
            Some(Err(why)) => return Ok(Err(why)),
            None => {}
        }
        let Some(e) = emb.as_deref_mut() else {
            return Ok(Err(format!(
                "I do not know the colour word \"{}\" (no embedding model to match it)",
                escape(&ws[i])
            )));
        };
        match match_colour(&ws[i], e, t)? {
            Ok((c, s)) => {
                matched.push(format!("\"{}\" → {c} ({s:.2})", escape(&ws[i])));
                tags[i] = Tag::Colour(c);
            }
            Err(why) => return Ok(Err(why)),
        }
    }
    build(&ws, &tags, scene).map(|r| {
        r.map(|(text, tokens)| Grounded {
            text,
            tokens,
            matched,
        })
    })
}

/// Builds mentions from tagged words: `[quantifier] [det] [modifier]*
/// [colour] [modifier]* noun`, or a bare colour.
fn build(
    ws: &[String],
    tags: &[Tag],
    scene: &SceneSpec,
) -> Result<Result<(String, Vec<Token>), String>> {
    let mut tokens = Vec::new();
    let mut text: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ws.len() {
        // Find the extent of a noun phrase starting at i.
        let mut j = i;
        let mut quant = false;
        let mut colours: Vec<String> = Vec::new();
        let mut words_used: Vec<&str> = Vec::new();
        while j < ws.len() {
            match &tags[j] {
                Tag::Class(Class::Quant) if colours.is_empty() => quant = true,
                Tag::Class(Class::Det | Class::Modifier) => {}
                Tag::Colour(c) => colours.push(c.clone()),
                _ => break,
            }
            words_used.push(&ws[j]);
            j += 1;
        }
        let noun = match tags.get(j) {
            Some(Tag::Noun(k, p)) => Some((*k, *p)),
            _ => None,
        };
        if noun.is_none() && colours.is_empty() {
            // No mention here: emit the first word as it is.
            match &tags[i] {
                Tag::Class(c) => {
                    tokens.push(Token::Word(ws[i].clone(), *c));
                    text.push(ws[i].clone());
                }
                _ => {
                    return Ok(Err(format!(
                        "I do not know the word \"{}\"",
                        escape(&ws[i])
                    )));
                }
            }
            i += 1;
            continue;
        }
        if colours.len() > 1 {
            return Ok(Err(format!(
                "\"{}\" names more than one colour for one object",
                escape(&words_used.join(" "))
            )));
        }
        let (kind, plural_noun) = noun.unwrap_or((Kind::Either, false));
        let end = if noun.is_some() { j + 1 } else { j };
        // Determiners before the phrase stay words of their own.
        let first = (i..end)
            .find(|k| !matches!(tags[*k], Tag::Class(Class::Det)))
            .unwrap_or(i);
        for w in &ws[i..first] {
            tokens.push(Token::Word(w.clone(), Class::Det));
            text.push(w.clone());
        }
        let written = ws[first..end].join(" ");
        let color = colours.first().cloned();
        let plural = plural_noun || quant;
        let object = match (&color, kind) {
            (_, Kind::Table) => Some("table".to_string()),
            (Some(c), k) => match resolve(scene, c, k) {
                Some(o) => Some(o),
                None => {
                    return Ok(Err(format!(
                        "the instruction names \"{}\", which is not in the scene",
                        escape(&written)
                    )));
                }
            },
            // "the bowl" in a one-bowl scene.
            (None, Kind::Block) if !plural && scene.blocks.len() == 1 => {
                Some(format!("{} block", scene.blocks[0]))
            }
            (None, Kind::Bowl) if !plural && scene.bowls.len() == 1 => {
                Some(format!("{} bowl", scene.bowls[0]))
            }
            (None, _) => None,
        };
        text.push(match (&object, plural) {
            (Some(o), false) => o.clone(),
            (Some(o), true) => format!("{o}s"),
            (None, _) => {
                let canon = match kind {
                    Kind::Block => "block",
                    Kind::Bowl => "bowl",
                    Kind::Table => "table",
                    Kind::Either => "one",
                };
                let head = if noun.is_some() { end - 1 } else { end };
                let mut t = ws[first..head].join(" ");
                t.push(' ');
                t.push_str(noun_word(canon, plural_noun));
                t.trim().to_string()
            }
        });
        tokens.push(Token::Obj(Mention {
            text: escape(&written),
            color,
            kind,
            plural,
            object,
        }));
        i = end;
    }
    Ok(Ok((text.join(" "), tokens)))
}

/// The canonical noun, plural when `plural`.
fn noun_word(noun: &str, plural: bool) -> &'static str {
    match (noun, plural) {
        ("block", false) => "block",
        ("block", true) => "blocks",
        ("bowl", false) => "bowl",
        ("bowl", true) => "bowls",
        ("table", _) => "table",
        (_, false) => "one",
        (_, true) => "ones",
    }
}

/// The scene object of colour `c` and kind `kind` ("the red one": a block
/// if there is one, else the bowl).
pub fn resolve(scene: &SceneSpec, c: &str, kind: Kind) -> Option<String> {
    let block = scene.blocks.iter().any(|b| b == c);
    let bowl = scene.bowls.iter().any(|b| b == c);
    match kind {
        Kind::Block => block.then(|| format!("{c} block")),
        Kind::Bowl => bowl.then(|| format!("{c} bowl")),
        Kind::Table => Some("table".into()),
        Kind::Either => {
            if block {
                Some(format!("{c} block"))
            } else if bowl {
                Some(format!("{c} bowl"))
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
#[path = "ground_tests.rs"]
mod tests;
