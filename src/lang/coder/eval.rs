//! Scoring the coder on synthetic examples (`ganglion lang eval-coder`):
//! for each (scene, instruction, reference program) the coder writes a
//! program; it counts as right when it passes the sandbox's check and,
//! run on the skills' symbolic effects, leaves every object where the
//! reference program leaves it (positions within 1 cm). Reported per kind,
//! with the exact-text matches and the generation time.

use std::collections::BTreeMap;

use anyhow::Result;
use ganglion_sim::{SceneSpec, TabletopWorld};

use super::data::{Example, examples};
use super::generate::{Coder, Constraint, Generated};
use super::grammar::ProgramGrammar;
use crate::lang::saycan::{SymbolicWorld, World};
use crate::program::{self, Limits};

/// One example's outcome.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Scored {
    pub kind: &'static str,
    pub instruction: String,
    pub reference: String,
    pub generated: Generated,
    pub exact: bool,
    pub checked: bool,
    pub same_effect: bool,
    /// Why it was refused or stopped, if it was.
    pub stop: Option<String>,
}

/// Per-kind counts.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct KindTally {
    pub n: usize,
    pub exact: usize,
    pub checked: usize,
    pub same_effect: usize,
}

/// Where each object ends: its place and position.
type Effect = Vec<(String, [f32; 3])>;

/// Where every object ends when `src` runs symbolically in `scene` laid
/// out from `seed`; `None` (and why) if it stopped.
fn effect(src: &str, scene: &SceneSpec, seed: u64) -> (Option<Effect>, Option<String>) {
    let start = TabletopWorld::new(scene, seed).state();
    let world = SymbolicWorld::new(scene.clone(), start);
    let (r, mut world) = program::run(src, world, &Limits::default());
    if let Some(stop) = r.stop {
        return (None, Some(stop.to_string()));
    }
    let Ok(state) = world.state() else {
        return (None, Some("no final state".into()));
    };
    let places = r.final_state.0;
    let positions = state.blocks.iter().chain(&state.bowls);
    (
        Some(
            places
                .into_iter()
                .map(|(_, p)| p)
                .zip(positions.copied())
                .collect(),
        ),
        None,
    )
}

fn same(a: &Effect, b: &Effect) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((pa, xa), (pb, xb))| pa == pb && (xa[0] - xb[0]).hypot(xa[1] - xb[1]) < 0.01)
}

/// Scores one example, decoding under the scene's grammar and the
/// sandbox's check when `constrained`.
pub fn score(coder: &Coder, ex: &Example, constrained: bool) -> Result<Scored> {
    let grammar = ProgramGrammar::for_scene(&ex.scene);
    let world = SymbolicWorld::new(
        ex.scene.clone(),
        TabletopWorld::new(&ex.scene, ex.seed).state(),
    );
    let checks = |p: &str| program::check_source(p, &world, &Limits::default()).is_ok();
    let constraint = Constraint {
        grammar: &grammar,
        checks: &checks,
    };
    let generated =
        coder.generate_with(&ex.instruction, 160, constrained.then_some(&constraint))?;
    let (want, _) = effect(&ex.program, &ex.scene, ex.seed);
    let (got, stop) = effect(&generated.program, &ex.scene, ex.seed);
    let checked = {
        let start = TabletopWorld::new(&ex.scene, ex.seed).state();
        let w = SymbolicWorld::new(ex.scene.clone(), start);
        program::check_source(&generated.program, &w, &Limits::default()).is_ok()
    };
    let same_effect = match (&want, &got) {
        (Some(w), Some(g)) => same(w, g),
        // The reference itself cannot finish here (a taken spot): the
        // same text is the same program.
        (None, _) => generated.program.trim() == ex.program.trim(),
        _ => false,
    };
    Ok(Scored {
        kind: ex.kind,
        instruction: ex.instruction.clone(),
        reference: ex.program.clone(),
        exact: generated.program.trim() == ex.program.trim(),
        checked,
        same_effect,
        stop,
        generated,
    })
}

/// Scores `n` examples of `split` from `seed`; `each` sees every result.
pub fn evaluate(
    coder: &Coder,
    split: &super::data::Split,
    n: usize,
    seed: u64,
    constrained: bool,
    each: &mut dyn FnMut(usize, &Scored),
) -> Result<(BTreeMap<&'static str, KindTally>, Vec<Scored>)> {
    let mut by_kind: BTreeMap<&'static str, KindTally> = BTreeMap::new();
    let mut all = Vec::new();
    for (i, ex) in examples(split, n, seed)?.iter().enumerate() {
        let s = score(coder, ex, constrained)?;
        let t = by_kind.entry(s.kind).or_default();
        t.n += 1;
        t.exact += s.exact as usize;
        t.checked += s.checked as usize;
        t.same_effect += s.same_effect as usize;
        each(i, &s);
        all.push(s);
    }
    Ok((by_kind, all))
}
