//! The goal reader: a parse of the grounded instruction (`ground`'s tokens)
//! into what must hold at the end. Clauses are split at verbs and at
//! conjunctions that start a new object; in a clause the objects before any
//! preposition are what moves, `in`/`on`/`to` name the destination (a second
//! one chains: "red on green on blue"), `from`/`out of` the source, `under`
//! reverses the roles. Towers are ordered from position words ("blue at the
//! bottom", "red on top") and "bottom up" / "top down". "Each block in the
//! bowl of the same colour" pairs blocks with bowls by colour. Negated
//! clauses become blocks that must stay, or a refusal when nothing else is
//! asked; "stop" / "do nothing" / "leave everything where it is" read as a
//! request for no motion. Anything the parse is not sure of (a pronoun with
//! nothing before it, "the block" among three, a bowl that should move, a
//! block inside a block, two blocks on one, a tower whose order is not
//! said) is a refusal with the reason: the planner never acts on a guess.

use ganglion_sim::SceneSpec;

use super::goals::Goals;
use super::ground::{Mention, Token};
use super::lexicon::{CODER_RELATIONS, Class};
use crate::skills::Places;

/// What the instruction asks for, as the parse reads it.
#[derive(Clone, Debug, PartialEq)]
pub enum Reading {
    /// Goals to reach.
    Act(Goals),
    /// A request for no motion ("stop", "do nothing"): done, nothing moves.
    Stop(String),
    /// Not understood well enough to act on, or impossible: the reason.
    Refuse(String),
}

/// A reference before it is resolved against the scene.
#[derive(Clone, Debug)]
enum Ref {
    Obj(Mention),
    Pronoun,
    Everything,
    Others,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rel {
    In,
    On,
    To,
    Under,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pos {
    Bottom,
    Middle,
    Top,
}

#[derive(Default, Debug)]
struct Clause {
    verb: Option<Class>,
    neg: bool,
    stop: bool,
    keep: bool,
    home: bool,
    same: bool,
    movers: Vec<Ref>,
    dests: Vec<(Rel, Ref)>,
    source: Option<Ref>,
    pending: Option<Class>,
    /// The last word was a conjunction: 1 joins ("and", ","), 2 sequences
    /// ("then", "after that", ".", "but").
    conj: u8,
}

impl Clause {
    fn content(&self) -> bool {
        self.verb.is_some()
            || !self.movers.is_empty()
            || !self.dests.is_empty()
            || self.home
            || self.stop
            || self.keep
    }
}

/// Clauses and tower words read from the tokens.
#[derive(Default)]
struct Shape {
    clauses: Vec<Clause>,
    /// Position words with the reference they follow (clause index, ref).
    markers: Vec<(Ref, Pos)>,
    /// `Some(true)`: listed bottom-up; `Some(false)`: top-down.
    bottom_up: Option<bool>,
    tower: bool,
}

fn refuse<T>(why: impl Into<String>) -> Result<T, String> {
    Err(why.into())
}

/// Splits the tokens into clauses.
fn shape(tokens: &[Token]) -> Result<Shape, String> {
    let mut s = Shape::default();
    let mut c = Clause::default();
    let mut last_ref: Option<Ref> = None;
    for tok in tokens {
        let (word, class) = match tok {
            Token::Obj(m) => {
                let r = Ref::Obj(m.clone());
                place_ref(&mut s, &mut c, r.clone())?;
                last_ref = Some(r);
                continue;
            }
            Token::Word(w, cl) => (w.as_str(), *cl),
        };
        match class {
            Class::Det | Class::Filler | Class::Modifier => {}
            Class::Conj => {
                let hard = matches!(
                    word,
                    "then"
                        | "after"
                        | "afterwards"
                        | "afterward"
                        | "finally"
                        | "lastly"
                        | "next"
                        | "before"
                        | "once"
                        | "followed"
                        | "but"
                        | "."
                        | ";"
                        | "!"
                        | "?"
                        | ":"
                );
                c.conj = c.conj.max(if hard { 2 } else { 1 });
            }
            Class::Neg => {
                if c.content() {
                    s.clauses.push(std::mem::take(&mut c));
                }
                c.neg = true;
            }
            Class::Go if c.verb.is_none() && !c.movers.is_empty() && c.dests.is_empty() => {
                // "the red block should go in the bowl": the subject moves.
                c.verb = Some(Class::Transfer);
            }
            Class::Transfer | Class::Pick | Class::Stack | Class::Go => {
                if c.content() {
                    s.clauses.push(std::mem::take(&mut c));
                }
                c.verb = Some(class);
            }
            Class::Keep => c.keep = true,
            Class::Stop => {
                if c.content() && c.conj > 0 && !c.stop {
                    s.clauses.push(std::mem::take(&mut c));
                }
                c.stop = true;
            }
            Class::Home => {
                c.pending = None;
                c.home = true;
            }
            Class::In | Class::On | Class::To | Class::From | Class::Under => {
                c.pending = Some(class);
            }
            Class::UnsupportedRel | Class::Spatial => {
                let hint = if class == Class::Spatial || CODER_RELATIONS.contains(&word) {
                    " (the code planner can: --planner code)"
                } else {
                    ""
                };
                return refuse(format!(
                    "I cannot place things \"{word}\" something: the skills put blocks in bowls or on blocks{hint}"
                ));
            }
            Class::Bottom | Class::Middle | Class::Top => {
                let pos = match class {
                    Class::Bottom => Pos::Bottom,
                    Class::Middle => Pos::Middle,
                    _ => Pos::Top,
                };
                c.pending = None;
                match &last_ref {
                    Some(r) => s.markers.push((r.clone(), pos)),
                    None => {
                        return refuse(format!("\"{word}\" of what? no block is named before it"));
                    }
                }
            }
            Class::Direction => s.bottom_up = Some(word == "bottom-up"),
            Class::Tower => s.tower = true,
            Class::Same => c.same = true,
            Class::Quant | Class::Everything => {
                place_ref(&mut s, &mut c, Ref::Everything)?;
                last_ref = None;
            }
            Class::Others => {
                place_ref(&mut s, &mut c, Ref::Others)?;
                last_ref = None;
            }
            Class::Pronoun => {
                place_ref(&mut s, &mut c, Ref::Pronoun)?;
            }
        }
    }
    if c.pending.is_some() {
        return refuse("the instruction ends with a preposition: in or on what?");
    }
    if c.content() || c.neg {
        s.clauses.push(c);
    }
    Ok(s)
}

/// Puts a reference into the clause by what precedes it.
fn place_ref(s: &mut Shape, c: &mut Clause, r: Ref) -> Result<(), String> {
    match c.pending.take() {
        Some(Class::From) => c.source = Some(r),
        Some(p) => {
            let rel = match p {
                Class::In => Rel::In,
                Class::On => Rel::On,
                Class::Under => Rel::Under,
                _ => Rel::To,
            };
            c.dests.push((rel, r));
        }
        None => {
            if !c.dests.is_empty() || c.stop || c.home || c.conj == 2 && c.content() {
                // "…in the green bowl and the blue block in…": a new clause
                // with the same verb (and negation).
                let verb = c.verb;
                let neg = c.neg;
                s.clauses.push(std::mem::take(c));
                c.verb = verb;
                c.neg = neg;
            }
            c.movers.push(r);
        }
    }
    c.conj = 0;
    Ok(())
}

/// Reads `tokens` (from `ground`) against the scene and the places now.
pub fn read(tokens: &[Token], scene: &SceneSpec, places: &Places) -> Reading {
    match shape(tokens).and_then(|s| resolve(&s, scene, places)) {
        Ok(r) => r,
        Err(why) => Reading::Refuse(why),
    }
}

#[path = "parse_resolve.rs"]
mod resolve_impl;
use resolve_impl::resolve;

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
