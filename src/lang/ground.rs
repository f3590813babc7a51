//! Grounding an instruction in the scene before planning: find the objects it
//! names ("the crimson cube", "the dish", "the blue one"), map each to a scene
//! object, and rewrite the instruction with the scene's own names ("the red
//! block") so the language model scores skills against words it can match.
//! Known colour and object synonyms come from a small lexicon; an unknown
//! colour word is matched to the scene's colours by sentence embedding
//! (MiniLM) when an embedder is given. A named object that is not in the
//! scene is a reason to refuse before anything moves.

use ganglion_sim::SceneSpec;

/// Colour words and their canonical colour.
const COLOR_WORDS: &[(&str, &str)] = &[
    ("red", "red"),
    ("crimson", "red"),
    ("scarlet", "red"),
    ("ruby", "red"),
    ("cherry", "red"),
    ("maroon", "red"),
    ("green", "green"),
    ("emerald", "green"),
    ("lime", "green"),
    ("olive", "green"),
    ("jade", "green"),
    ("blue", "blue"),
    ("navy", "blue"),
    ("azure", "blue"),
    ("cobalt", "blue"),
    ("sapphire", "blue"),
    ("cyan", "blue"),
    ("yellow", "yellow"),
    ("golden", "yellow"),
    ("gold", "yellow"),
    ("lemon", "yellow"),
    ("mustard", "yellow"),
    ("purple", "purple"),
    ("violet", "purple"),
    ("lilac", "purple"),
    ("lavender", "purple"),
    ("magenta", "purple"),
    ("plum", "purple"),
    ("orange", "orange"),
    ("tangerine", "orange"),
    ("amber", "orange"),
    ("apricot", "orange"),
];

/// Object words: blocks and bowls.
const BLOCK_WORDS: &[&str] = &["block", "blocks", "cube", "cubes", "brick", "bricks", "box"];
const BOWL_WORDS: &[&str] = &[
    "bowl",
    "bowls",
    "dish",
    "dishes",
    "basin",
    "container",
    "pot",
    "cup",
    "plate",
];

/// What kind of object a mention names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Block,
    Bowl,
    /// "the red one": a colour with no noun.
    Either,
}

/// One object the instruction names.
#[derive(Clone, Debug, PartialEq)]
pub struct Mention {
    /// The words as written ("crimson cube").
    pub text: String,
    /// The canonical colour, if the colour word was recognised.
    pub color: Option<String>,
    pub kind: Kind,
    /// The scene object it grounds to ("red block"), if any.
    pub object: Option<String>,
}

/// An instruction after grounding.
#[derive(Clone, Debug, PartialEq)]
pub struct Grounded {
    /// The instruction with every grounded mention in the scene's words.
    pub text: String,
    pub mentions: Vec<Mention>,
}

impl Grounded {
    /// The first mention that names no scene object, as a refusal reason.
    pub fn missing(&self) -> Option<String> {
        self.mentions.iter().find(|m| m.object.is_none()).map(|m| {
            format!(
                "the instruction names \"{}\", which is not in the scene",
                m.text
            )
        })
    }
}

/// Maps an unknown colour word to the closest scene colour, if close enough
/// (an embedder: MiniLM in the planner).
pub trait ColorMatcher {
    fn closest(&mut self, word: &str, colors: &[&str]) -> Option<String>;
}

fn canonical_color(word: &str) -> Option<&'static str> {
    COLOR_WORDS
        .iter()
        .find(|(w, _)| *w == word)
        .map(|(_, c)| *c)
}

fn kind_of(word: &str) -> Option<Kind> {
    if BLOCK_WORDS.contains(&word) {
        Some(Kind::Block)
    } else if BOWL_WORDS.contains(&word) {
        Some(Kind::Bowl)
    } else if word == "one" || word == "ones" {
        Some(Kind::Either)
    } else {
        None
    }
}

/// Grounds `instruction` in `scene`. A mention is a colour word before an
/// object word ("red block", "crimson cube", "blue one"), or an object word
/// alone when the scene has exactly one object of that kind ("the bowl").
/// `matcher` resolves colour words that are not in the lexicon.
pub fn ground(
    instruction: &str,
    scene: &SceneSpec,
    mut matcher: Option<&mut dyn ColorMatcher>,
) -> Grounded {
    let lower = instruction.to_lowercase();
    let words: Vec<String> = lower
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(|w| w.to_string())
        .collect();
    let mut out_words: Vec<String> = Vec::with_capacity(words.len());
    let mut mentions = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        let next_kind = words.get(i + 1).and_then(|n| kind_of(n));
        // A colour-like word followed by an object word.
        if let Some(kind) = next_kind
            && !matches!(
                w,
                "the"
                    | "a"
                    | "an"
                    | "that"
                    | "this"
                    | "each"
                    | "every"
                    | "all"
                    | "both"
                    | "other"
                    | "same"
            )
        {
            let noun = words[i + 1].as_str();
            let color = match canonical_color(w) {
                Some(c) => Some(c.to_string()),
                None => matcher.as_deref_mut().and_then(|m| {
                    let mut all: Vec<&str> = scene.blocks.iter().map(String::as_str).collect();
                    all.extend(scene.bowls.iter().map(String::as_str));
                    m.closest(w, &all)
                }),
            };
            if color.is_some() || canonical_color(w).is_none() && is_adjective_slot(w) {
                let object = color.as_deref().and_then(|c| resolve(scene, c, kind));
                let plural = noun.ends_with('s') && noun != "box";
                mentions.push(Mention {
                    text: format!("{w} {noun}"),
                    color: color.clone(),
                    kind,
                    object: object.clone(),
                });
                match object {
                    Some(o) => out_words.push(o),
                    None => {
                        out_words.push(w.to_string());
                        out_words.push(noun.to_string());
                    }
                }
                if plural && let Some(last) = out_words.last_mut() {
                    last.push('s');
                }
                i += 2;
                continue;
            }
        }
        // An object word alone: "the bowl", "the dish".
        if let Some(kind) = kind_of(w)
            && kind != Kind::Either
            && !w.ends_with('s')
        {
            let names: Vec<&String> = match kind {
                Kind::Block => scene.blocks.iter().collect(),
                _ => scene.bowls.iter().collect(),
            };
            let noun = if kind == Kind::Block { "block" } else { "bowl" };
            if names.len() == 1 {
                out_words.push(format!("{} {noun}", names[0]));
            } else {
                out_words.push(noun.to_string());
            }
            i += 1;
            continue;
        }
        out_words.push(w.to_string());
        i += 1;
    }
    Grounded {
        text: out_words.join(" "),
        mentions,
    }
}

/// Words that sit where a colour would and are not one ("big", "small",
/// "first"): no mention.
fn is_adjective_slot(_w: &str) -> bool {
    false
}

/// The scene object of colour `c` and kind `kind`.
fn resolve(scene: &SceneSpec, c: &str, kind: Kind) -> Option<String> {
    let block = scene.blocks.iter().any(|b| b == c);
    let bowl = scene.bowls.iter().any(|b| b == c);
    match kind {
        Kind::Block => block.then(|| format!("{c} block")),
        Kind::Bowl => bowl.then(|| format!("{c} bowl")),
        // "the red one": a block if there is one (blocks are what gets moved).
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
mod tests {
    use super::*;

    fn scene() -> SceneSpec {
        SceneSpec::parse("blocks=red,green,blue; bowls=yellow").unwrap()
    }

    #[test]
    fn synonyms_become_scene_names() {
        let g = ground("Drop the crimson cube into the dish!", &scene(), None);
        assert_eq!(g.text, "drop the red block into the yellow bowl");
        assert!(g.missing().is_none());
        let g = ground("stack the blue one on the green one", &scene(), None);
        assert_eq!(g.text, "stack the blue block on the green block");
    }

    #[test]
    fn absent_objects_are_reported() {
        let g = ground("put the purple block in the yellow bowl", &scene(), None);
        assert!(g.missing().unwrap().contains("purple block"));
        let g = ground("put the red block in the blue bowl", &scene(), None);
        assert!(g.missing().unwrap().contains("blue bowl"));
    }

    #[test]
    fn quantifiers_are_not_mentions() {
        let g = ground("put all the blocks in the yellow bowl", &scene(), None);
        assert_eq!(g.text, "put all the blocks in the yellow bowl");
        assert!(g.missing().is_none());
    }
}
