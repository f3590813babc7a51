//! The code planner's synthetic data: (scene, instruction, program) triples
//! drawn from the phrasings of each program kind (`phrasings.toml`; `dev`
//! for training, `test` held out for the suite) and the program each kind
//! compiles to over the robot API. Scenes are random (2–6 blocks, 1–4
//! bowls) with what the kind needs (three blocks for a tower, matching
//! colours for colour sorting).

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use ganglion_sim::tabletop::scene::COLORS;
use ganglion_sim::{Rng, SceneSpec, derive_seed};
use serde::Deserialize;

/// The phrasings file, compiled in.
pub const PHRASINGS: &str = include_str!("phrasings.toml");

/// The program kinds, in the order examples cycle through them.
pub const KINDS: &[&str] = &[
    "pick-place",
    "stack",
    "closest",
    "farthest",
    "extreme",
    "between",
    "offset",
    "colour-match",
    "tower",
    "all-in",
    "corner",
    "sequence",
];

/// One split's phrasings and words.
#[derive(Deserialize, Debug, Clone)]
pub struct Split {
    #[serde(flatten)]
    pub kinds: BTreeMap<String, toml::Value>,
}

/// Both splits.
#[derive(Deserialize, Debug, Clone)]
pub struct Phrasings {
    pub dev: Split,
    pub test: Split,
}

impl Split {
    /// The phrasings of `kind`.
    pub fn templates(&self, kind: &str) -> Result<Vec<String>> {
        let v = self
            .kinds
            .get(kind)
            .and_then(|v| v.as_array())
            .with_context(|| format!("phrasings: no list for kind `{kind}`"))?;
        v.iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_string)
                    .with_context(|| format!("phrasings `{kind}`: not a string"))
            })
            .collect()
    }

    /// A word table (`side`, `dir`, `corner`): canonical key → words.
    pub fn words(&self, table: &str) -> Result<Vec<(String, Vec<String>)>> {
        let t = self
            .kinds
            .get(table)
            .and_then(|v| v.as_table())
            .with_context(|| format!("phrasings: no table `{table}`"))?;
        t.iter()
            .map(|(k, v)| {
                let words = v
                    .as_array()
                    .with_context(|| format!("phrasings `{table}.{k}`: not a list"))?
                    .iter()
                    .filter_map(|w| w.as_str().map(str::to_string))
                    .collect();
                Ok((k.clone(), words))
            })
            .collect()
    }
}

/// Parses the compiled-in phrasings.
pub fn phrasings() -> Result<Phrasings> {
    toml::from_str(PHRASINGS).context("parsing src/lang/coder/phrasings.toml")
}

/// One training or evaluation example.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    pub kind: &'static str,
    pub scene: SceneSpec,
    pub seed: u64,
    pub instruction: String,
    pub program: String,
}

fn pick<'a, T>(rng: &mut Rng, v: &'a [T]) -> &'a T {
    &v[(rng.next_u64() % v.len() as u64) as usize]
}

/// `n` distinct colours.
fn colours(rng: &mut Rng, n: usize) -> Vec<String> {
    let mut pool: Vec<&str> = COLORS.to_vec();
    (0..n.min(pool.len()))
        .map(|_| {
            pool.remove((rng.next_u64() % pool.len() as u64) as usize)
                .to_string()
        })
        .collect()
}

/// A scene for `kind`: enough blocks and bowls, matching colours for
/// colour sorting.
fn scene_for(kind: &str, rng: &mut Rng) -> SceneSpec {
    let range =
        |rng: &mut Rng, lo: usize, hi: usize| lo + (rng.next_u64() % (hi - lo + 1) as u64) as usize;
    let (nb, nw) = match kind {
        "tower" => (range(rng, 3, 5), range(rng, 1, 3)),
        "between" | "offset" | "corner" => (range(rng, 2, 4), range(rng, 1, 3)),
        "all-in" => (range(rng, 2, 4), range(rng, 1, 3)),
        "sequence" => (range(rng, 3, 6), range(rng, 1, 4)),
        _ => (range(rng, 2, 6), range(rng, 1, 4)),
    };
    let blocks = colours(rng, nb);
    let bowls = if kind == "colour-match" {
        // Some bowls share a block's colour, some may not.
        let mut b: Vec<String> = blocks.iter().take(nw.min(nb)).cloned().collect();
        b.sort();
        b
    } else {
        colours(rng, nw)
    };
    SceneSpec {
        blocks,
        bowls,
        ..SceneSpec::default()
    }
}

fn q(s: &str) -> String {
    format!("\"{s}\"")
}

/// One example of `kind` from the phrasings of `split`, drawn from `seed`.
pub fn example(split: &Split, kind: &'static str, seed: u64) -> Result<Example> {
    let mut rng = Rng::new(derive_seed(seed, 0xc0de));
    let scene = scene_for(kind, &mut rng);
    let blocks: Vec<String> = scene.blocks.iter().map(|c| format!("{c} block")).collect();
    let bowls: Vec<String> = scene.bowls.iter().map(|c| format!("{c} bowl")).collect();
    let objects: Vec<String> = blocks.iter().chain(&bowls).cloned().collect();
    let template = pick(&mut rng, &split.templates(kind)?).clone();
    let mut slots: Vec<(&str, String)> = Vec::new();
    let two_blocks = |rng: &mut Rng| {
        let a = pick(rng, &blocks).clone();
        let others: Vec<&String> = blocks.iter().filter(|b| **b != a).collect();
        (a.clone(), (*pick(rng, &others)).clone())
    };
    let program = match kind {
        "pick-place" => {
            let (b, w) = (pick(&mut rng, &blocks).clone(), pick(&mut rng, &bowls).clone());
            slots.extend([("block", b.clone()), ("bowl", w.clone())]);
            format!("pick({});\nplace_in({});\n", q(&b), q(&w))
        }
        "stack" => {
            let (a, b) = two_blocks(&mut rng);
            slots.extend([("block", a.clone()), ("block2", b.clone())]);
            format!("pick({});\nplace_on({});\n", q(&a), q(&b))
        }
        "closest" | "farthest" => {
            let (r, w) = (pick(&mut rng, &bowls).clone(), pick(&mut rng, &bowls).clone());
            slots.extend([("ref", r.clone()), ("bowl", w.clone())]);
            let f = if kind == "closest" { "closest" } else { "farthest" };
            format!("let b = {f}({}, blocks());\npick(b);\nplace_in({});\n", q(&r), q(&w))
        }
        "extreme" => {
            let sides = split.words("side-words")?;
            let (side, words) = pick(&mut rng, &sides).clone();
            let w = pick(&mut rng, &bowls).clone();
            slots.extend([("side", pick(&mut rng, &words).clone()), ("bowl", w.clone())]);
            let f = format!("{side}most");
            format!("let b = {f}(blocks());\npick(b);\nplace_in({});\n", q(&w))
        }
        "between" => {
            let b = pick(&mut rng, &blocks).clone();
            let others: Vec<String> = objects.iter().filter(|o| **o != b).cloned().collect();
            let a1 = pick(&mut rng, &others).clone();
            let rest: Vec<String> = others.iter().filter(|o| **o != a1).cloned().collect();
            let a2 = pick(&mut rng, &rest).clone();
            slots.extend([("block", b.clone()), ("a", a1.clone()), ("b", a2.clone())]);
            format!("pick({});\nplace_at(midpoint({}, {}));\n", q(&b), q(&a1), q(&a2))
        }
        "offset" => {
            let b = pick(&mut rng, &blocks).clone();
            let others: Vec<String> = objects.iter().filter(|o| **o != b).cloned().collect();
            let r = pick(&mut rng, &others).clone();
            let dirs = split.words("dir-words")?;
            let (dir, words) = pick(&mut rng, &dirs).clone();
            let n = 5 + rng.next_u64() % 11;
            let m = format!("{:.2}", n as f64 / 100.0);
            let (dx, dy) = match dir.as_str() {
                "left" => ("0.0".to_string(), m),
                "right" => ("0.0".to_string(), format!("-{m}")),
                "front" => (m, "0.0".to_string()),
                _ => (format!("-{m}"), "0.0".to_string()),
            };
            slots.extend([
                ("block", b.clone()),
                ("ref", r.clone()),
                ("n", n.to_string()),
                ("dir", pick(&mut rng, &words).clone()),
            ]);
            format!("pick({});\nplace_at(offset({}, {dx}, {dy}));\n", q(&b), q(&r))
        }
        "colour-match" => "for b in blocks() {\n    let w = color(b) + \" bowl\";\n    if bowls().contains(w) {\n        pick(b);\n        place_in(w);\n    }\n}\n".to_string(),
        "tower" => {
            let mut order = blocks.clone();
            for i in (1..order.len()).rev() {
                order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
            }
            let (c1, c2, c3) = (order[0].clone(), order[1].clone(), order[2].clone());
            slots.extend([("c1", c1.clone()), ("c2", c2.clone()), ("c3", c3.clone())]);
            format!(
                "pick({});\nplace_on({});\npick({});\nplace_on({});\n",
                q(&c2),
                q(&c1),
                q(&c3),
                q(&c2)
            )
        }
        "all-in" => {
            let w = pick(&mut rng, &bowls).clone();
            slots.push(("bowl", w.clone()));
            format!("for b in blocks() {{\n    pick(b);\n    place_in({});\n}}\n", q(&w))
        }
        "corner" => {
            let b = pick(&mut rng, &blocks).clone();
            let corners = split.words("corner-words")?;
            let (_, words) = pick(&mut rng, &corners).clone();
            let word = pick(&mut rng, &words).clone();
            slots.extend([("block", b.clone()), ("corner", word.clone())]);
            format!("pick({});\nplace_at(corner({}));\n", q(&b), q(&word))
        }
        "sequence" => sequence(split, &template, &blocks, &bowls, &mut rng, &mut slots)?,
        other => bail!("unknown program kind `{other}`"),
    };
    let mut instruction = template;
    for (k, v) in &slots {
        instruction = instruction.replace(&format!("{{{k}}}"), v);
    }
    if instruction.contains('{') {
        bail!("phrasing `{instruction}` of `{kind}` has a slot this kind does not fill");
    }
    Ok(Example {
        kind,
        scene,
        seed,
        instruction,
        program,
    })
}

/// A `sequence` example: the clauses `{s1}` `{s2}` `{s3}` of `template`,
/// each a pick-place or a stack, the first in a full phrasing of that
/// kind, the later ones full or with the verb left out ("…, then the red
/// block in the blue bowl"). Each clause moves a different block; a stack
/// goes onto a block no later clause moves and nothing covers yet, so
/// every program runs in order. Fills `slots` with the clause texts and
/// returns the program.
fn sequence(
    split: &Split,
    template: &str,
    blocks: &[String],
    bowls: &[String],
    rng: &mut Rng,
    slots: &mut Vec<(&'static str, String)>,
) -> Result<String> {
    const CLAUSES: [&str; 3] = ["s1", "s2", "s3"];
    let n = CLAUSES
        .iter()
        .filter(|c| template.contains(&format!("{{{c}}}")))
        .count();
    let mut movers = blocks.to_vec();
    for i in (1..movers.len()).rev() {
        movers.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    movers.truncate(n);
    if movers.len() < n {
        bail!("sequence phrasing `{template}` needs {n} blocks");
    }
    let (places, stacks) = (split.templates("pick-place")?, split.templates("stack")?);
    let short = split.words("sequence-clauses")?;
    let short_of = |key: &str| -> Result<Vec<String>> {
        short
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, w)| w.clone())
            .with_context(|| format!("phrasings: no `sequence-clauses.{key}`"))
    };
    let (short_place, short_stack) = (short_of("place")?, short_of("stack")?);
    let mut covered: Vec<String> = Vec::new();
    let mut program = String::new();
    for (i, m) in movers.iter().enumerate() {
        let targets: Vec<&String> = blocks
            .iter()
            .filter(|b| !movers[i..].contains(b) && !covered.contains(b))
            .collect();
        let stack = !targets.is_empty() && rng.next_u64().is_multiple_of(3);
        let full = i == 0 || rng.next_u64().is_multiple_of(2);
        let (text, call) = if stack {
            let t = (*pick(rng, &targets)).clone();
            covered.push(t.clone());
            let tpl = pick(rng, if full { &stacks } else { &short_stack }).clone();
            let text = tpl.replace("{block}", m).replace("{block2}", &t);
            (text, format!("place_on({})", q(&t)))
        } else {
            let w = pick(rng, bowls).clone();
            let tpl = pick(rng, if full { &places } else { &short_place }).clone();
            (
                tpl.replace("{block}", m).replace("{bowl}", &w),
                format!("place_in({})", q(&w)),
            )
        };
        program.push_str(&format!("pick({});\n{call};\n", q(m)));
        slots.push((CLAUSES[i], text));
    }
    Ok(program)
}

/// `n` examples cycling through the kinds, from `seed`.
pub fn examples(split: &Split, n: usize, seed: u64) -> Result<Vec<Example>> {
    (0..n)
        .map(|i| example(split, KINDS[i % KINDS.len()], derive_seed(seed, i as u64)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::saycan::SymbolicWorld;
    use crate::program::{self, Limits};
    use ganglion_sim::TabletopWorld;

    #[test]
    fn dev_and_test_phrasings_are_disjoint_and_cover_every_kind() {
        let p = phrasings().unwrap();
        for kind in KINDS {
            let (d, t) = (
                p.dev.templates(kind).unwrap(),
                p.test.templates(kind).unwrap(),
            );
            assert!(d.len() >= 2 && !t.is_empty(), "{kind}");
            assert!(
                d.iter().all(|x| !t.contains(x)),
                "{kind}: a phrasing is in both splits"
            );
        }
        for table in ["side-words", "dir-words", "corner-words"] {
            let words = |s: &Split| -> Vec<String> {
                s.words(table)
                    .unwrap()
                    .into_iter()
                    .flat_map(|(_, w)| w)
                    .collect()
            };
            let (d, t) = (words(&p.dev), words(&p.test));
            assert!(
                d.iter().all(|w| !t.contains(w)),
                "{table}: a word is in both splits"
            );
        }
    }

    #[test]
    fn every_generated_program_passes_the_check_and_runs() {
        let p = phrasings().unwrap();
        for split in [&p.dev, &p.test] {
            let mut completed: BTreeMap<&str, usize> = BTreeMap::new();
            for ex in examples(split, 220, 7).unwrap() {
                let start = TabletopWorld::new(&ex.scene, ex.seed).state();
                let world = SymbolicWorld::new(ex.scene.clone(), start);
                let (r, _) = program::run(&ex.program, world, &Limits::default());
                if let Some(stop) = &r.stop {
                    assert!(
                        !stop.kind.before_motion(),
                        "`{}` ({}): {stop}\n{}",
                        ex.instruction,
                        ex.kind,
                        ex.program
                    );
                } else {
                    *completed.entry(ex.kind).or_default() += 1;
                }
            }
            // In random layouts some target spots are out of reach or
            // taken (offsets most often); every kind finishes often.
            for kind in KINDS {
                let n = completed.get(kind).copied().unwrap_or(0);
                assert!(n >= 5, "{kind}: {n} of 20 completed");
            }
        }
    }
}
