//! The words the language layer knows by heart: the basic colour names, the
//! common names of the two object kinds, and the closed classes of English
//! an instruction is built from (verbs of moving and picking, prepositions
//! of place, negation, conjunctions, quantifiers, fillers). Anything else is
//! an unknown word: grounding places a shade by the xkcd colour survey
//! (`colour_survey`), else matches it with MiniLM by its slot (a colour
//! before a noun, a noun after a determiner) against a confidence threshold,
//! or refuses the instruction naming it. The lexicon holds no paraphrase
//! lists: colour shades come from the survey's data, object synonyms from
//! MiniLM.

use super::ground::Kind;

/// Basic colour terms (Berlin & Kay's eleven, grey spelt both ways). Only
/// six are scene colours; the others are known so that "the black block"
/// is refused as absent rather than matched to the nearest scene colour.
pub const BASIC_COLORS: &[&str] = &[
    "red", "green", "blue", "yellow", "purple", "orange", "pink", "brown", "black", "white",
    "grey", "gray",
];

/// The canonical colour of a basic colour word.
pub fn basic_color(w: &str) -> Option<&'static str> {
    match w {
        "gray" => Some("grey"),
        _ => BASIC_COLORS.iter().copied().find(|c| *c == w),
    }
}

/// Object nouns: the common names of blocks and bowls, and the table.
pub fn noun(w: &str) -> Option<(Kind, bool)> {
    Some(match w {
        "block" | "cube" => (Kind::Block, false),
        "blocks" | "cubes" => (Kind::Block, true),
        "bowl" => (Kind::Bowl, false),
        "bowls" => (Kind::Bowl, true),
        "one" => (Kind::Either, false),
        "ones" => (Kind::Either, true),
        "table" | "tabletop" => (Kind::Table, false),
        _ => return None,
    })
}

/// The class of a known word that is not a colour or an object noun.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// the, a, an, this, that, my…
    Det,
    /// all, every, each, both: a set of blocks.
    Quant,
    /// everything, all of them: every block.
    Everything,
    /// it, them: the last blocks named.
    Pronoun,
    /// Moving something somewhere: put, place, move, drop…
    Transfer,
    /// Taking something into the gripper: pick, grab, lift…
    Pick,
    /// Building a stack: stack, pile, build.
    Stack,
    /// Keeping things as they are: leave, keep.
    Keep,
    /// Not moving at all: stop, halt, freeze, wait, nothing.
    Stop,
    /// go, return (towards home).
    Go,
    /// home, the rest pose.
    Home,
    /// not, don't, never, no.
    Neg,
    /// in, into, inside, within.
    In,
    /// on, onto, upon, atop, above, over.
    On,
    /// to, towards: in or on depending on the object.
    To,
    /// from, off, out (of).
    From,
    /// under, beneath, below, underneath.
    Under,
    /// Relations the skills cannot serve: next to, beside, near, behind…
    UnsupportedRel,
    /// Spatial orderings and measures: closest, leftmost, between, corner,
    /// cm, numbers. The goal reader cannot serve them (it refuses, as for
    /// `UnsupportedRel`); the code planner writes a program for them.
    Spatial,
    /// and, then, after, finally… and punctuation.
    Conj,
    /// bottom, base, lowest (of a tower).
    Bottom,
    /// top, highest.
    Top,
    /// middle, between.
    Middle,
    /// tower, stack (noun).
    Tower,
    /// same, matching, corresponding: "the bowl of the same colour".
    Same,
    /// Modifiers that say nothing about which object: small, wooden…
    Modifier,
    /// Politeness, auxiliaries and particles that carry no goal.
    Filler,
    /// Every block not named elsewhere: the other(s), the rest, remaining.
    Others,
    /// The order a tower is listed in: `bottom-up` or `top-down`.
    Direction,
}

/// The relation words the coder was taught (its dataset's phrasings); an
/// instruction with another (beside, around, across, against…) is refused
/// rather than guessed at.
pub const CODER_RELATIONS: [&str; 9] = [
    "left", "right", "front", "behind", "near", "close", "far", "away", "by",
];

/// The class of `w`, if the lexicon knows it. Numbers ("10", "0.25")
/// are measures (`Spatial`).
pub fn class(w: &str) -> Option<Class> {
    use Class::*;
    if !w.is_empty() && w.parse::<f64>().is_ok_and(f64::is_finite) {
        return Some(Spatial);
    }
    Some(match w {
        "the" | "a" | "an" | "this" | "that" | "these" | "those" | "my" | "your" | "our"
        | "whichever" | "whatever" => Det,
        "all" | "every" | "each" | "both" | "any" => Quant,
        "everything" | "anything" => Everything,
        "it" | "them" | "itself" | "they" => Pronoun,
        "put" | "place" | "move" | "moves" | "drop" | "set" | "lay" | "bring" | "carry"
        | "transfer" | "relocate" | "shift" | "deposit" | "position" | "insert" | "load"
        | "throw" | "toss" | "dump" | "store" | "stash" | "get" | "take" | "stick" | "pop"
        | "slide" | "sort" | "puts" | "placing" | "putting" | "moving" | "dropping" | "arrange"
        | "reposition" | "send" | "fetch" => Transfer,
        "pick" | "grab" | "lift" | "grasp" | "hold" | "raise" | "seize" | "collect" => Pick,
        "stack" | "pile" | "build" | "stacking" | "piling" | "make" | "form" => Stack,
        "leave" | "keep" | "remain" | "stay" | "untouched" | "alone" => Keep,
        "stop" | "halt" | "freeze" | "wait" | "pause" | "nothing" | "cancel" | "abort" => Stop,
        "go" | "return" | "head" => Go,
        "home" => Home,
        "not" | "don't" | "dont" | "never" | "no" | "doesn't" | "shouldn't" | "mustn't"
        | "won't" | "without" => Neg,
        "in" | "into" | "inside" | "within" => In,
        "on" | "onto" | "upon" | "atop" | "above" | "over" => On,
        "to" | "towards" | "toward" => To,
        "from" | "off" | "out" => From,
        "under" | "beneath" | "below" | "underneath" => Under,
        "beside" | "besides" | "near" | "behind" | "front" | "left" | "right" | "around"
        | "beyond" | "against" | "by" | "close" | "far" | "away" | "across" | "along"
        | "outside" | "among" => UnsupportedRel,
        "and" | "then" | "after" | "afterwards" | "afterward" | "finally" | "lastly" | "also"
        | "plus" | "before" | "while" | "once" | "next" | "followed" | "but" | "," | ";" | "."
        | "!" | "?" | ":" => Conj,
        "bottom" | "base" | "lowest" | "foundation" => Bottom,
        "top" | "highest" | "uppermost" | "topmost" => Top,
        "middle" | "centre" | "center" => Middle,
        "closest" | "nearest" | "farthest" | "furthest" | "closer" | "nearer" | "farther"
        | "further" | "most" | "least" | "distant" | "leftmost" | "rightmost" | "frontmost"
        | "backmost" | "rearmost" | "left-most" | "right-most" | "front-most" | "back-most"
        | "rear-most" | "between" | "halfway" | "midway" | "midpoint" | "corner" | "corners"
        | "edge" | "side" | "sides" | "forward" | "forwards" | "ahead" | "backward"
        | "backwards" | "rear" | "cm" | "centimeter" | "centimeters" | "centimetre"
        | "centimetres" | "mm" | "millimeter" | "millimeters" | "millimetre" | "millimetres"
        | "meter" | "meters" | "metre" | "metres" | "distance" | "apart" => Spatial,
        "tower" | "pyramid" => Tower,
        "other" | "others" | "rest" | "remaining" => Others,
        "same" | "matching" | "matches" | "match" | "corresponding" | "own" => Same,
        "small" | "big" | "large" | "little" | "tiny" | "wooden" | "plastic" | "empty"
        | "square" | "round" | "light" | "dark" | "pale" | "bright" | "deep" | "toy" | "colour"
        | "color" | "coloured" | "colored" | "colours" | "colors" => Modifier,
        "please" | "kindly" | "could" | "can" | "would" | "will" | "you" | "i" | "i'd" | "id"
        | "we" | "let's" | "lets" | "like" | "want" | "need" | "be" | "is" | "are" | "it's"
        | "so" | "which" | "just" | "now" | "quickly" | "gently" | "carefully" | "slowly"
        | "for" | "me" | "us" | "thanks" | "thank" | "of" | "its" | "their" | "with" | "at"
        | "there" | "here" | "where" | "as" | "robot" | "hey" | "okay" | "ok" | "do" | "does"
        | "should" | "must" | "shall" | "have" | "has" | "again" | "too" | "gets" | "ends"
        | "end" | "sits" | "sit" | "goes" | "lies" | "lie" | "rests" | "were" | "was" | "being"
        | "they're" | "spot" | "pose" | "try" | "able" | "kind" | "sure" | "if" | "possible"
        | "currently" | "already" | "still" | "only" | "exactly" | "directly" | "straight"
        | "immediately" | "back" | "first" | "second" | "third" | "fourth" | "last" | "up"
        | "down" | "ready" => Filler,
        _ => return None,
    })
}

/// Multi-word expressions rewritten to one token before classification
/// (longest first). The tokens on the right are lexicon words.
pub const PHRASES: &[(&[&str], &str)] = &[
    (&["from", "the", "bottom", "up"], "bottom-up"),
    (&["from", "bottom", "to", "top"], "bottom-up"),
    (&["from", "the", "bottom", "to", "the", "top"], "bottom-up"),
    (&["bottom", "to", "top"], "bottom-up"),
    (&["bottom", "up"], "bottom-up"),
    (&["from", "the", "top", "down"], "top-down"),
    (&["from", "top", "to", "bottom"], "top-down"),
    (&["from", "the", "top", "to", "the", "bottom"], "top-down"),
    (&["top", "to", "bottom"], "top-down"),
    (&["top", "down"], "top-down"),
    (&["on", "top", "of"], "on"),
    (&["on", "to"], "onto"),
    (&["out", "of"], "from"),
    (&["off", "of"], "from"),
    (&["in", "front", "of"], "front"),
    (&["next", "to"], "beside"),
    (&["close", "to"], "close"),
    (&["to", "the", "left", "of"], "left"),
    (&["to", "the", "right", "of"], "right"),
    (&["do", "nothing"], "nothing"),
    (&["where", "it", "is"], "untouched"),
    (&["where", "they", "are"], "untouched"),
    (&["as", "it", "is"], "untouched"),
    (&["as", "they", "are"], "untouched"),
    (&["as", "is"], "untouched"),
    (&["in", "place"], "untouched"),
    (&["in", "its", "place"], "untouched"),
    (&["in", "their", "places"], "untouched"),
    (&["at", "the", "bottom"], "bottom"),
    (&["on", "the", "bottom"], "bottom"),
    (&["on", "top"], "top"),
    (&["at", "the", "top"], "top"),
    (&["in", "the", "middle"], "middle"),
    (&["of", "the", "same", "colour"], "same"),
    (&["of", "the", "same", "color"], "same"),
    (&["of", "its", "own", "colour"], "same"),
    (&["of", "its", "own", "color"], "same"),
    (&["of", "its", "colour"], "same"),
    (&["of", "its", "color"], "same"),
    (&["of", "their", "colour"], "same"),
    (&["of", "their", "color"], "same"),
    (&["by", "colour"], "same"),
    (&["by", "color"], "same"),
    (&["all", "of", "them"], "everything"),
    (&["all", "of", "the"], "all"),
    (&["each", "of", "the"], "each"),
    (&["both", "of", "the"], "both"),
    (&["each", "of", "them"], "everything"),
    (&["both", "of", "them"], "everything"),
    (&["go", "to", "home"], "home"),
    (&["go", "home"], "home"),
    (&["go", "back", "home"], "home"),
    (&["go", "back", "to", "home"], "home"),
    (&["return", "home"], "home"),
    (&["return", "to", "home"], "home"),
    (&["move", "home"], "home"),
    (&["home", "position"], "home"),
    (&["rest", "position"], "home"),
    (&["after", "that"], "then"),
    (&["and", "then"], "then"),
];

/// Rewrites `PHRASES` in `words` (each replaced by its one token).
pub fn join_phrases(words: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(words.len());
    let mut i = 0;
    'outer: while i < words.len() {
        let mut best: Option<(usize, &str)> = None;
        for (p, t) in PHRASES {
            if words.len() - i >= p.len()
                && p.iter().zip(&words[i..]).all(|(a, b)| *a == b.as_str())
                && best.is_none_or(|(n, _)| p.len() > n)
            {
                best = Some((p.len(), t));
            }
        }
        if let Some((n, t)) = best {
            out.push(t.to_string());
            i += n;
            continue 'outer;
        }
        out.push(words[i].clone());
        i += 1;
    }
    out
}

/// The class of a phrase token made by `join_phrases`.
pub fn phrase_class(w: &str) -> Option<Class> {
    match w {
        "bottom-up" | "top-down" => Some(Class::Direction),
        _ => None,
    }
}
