//! Tabletop scenes: which blocks and bowls are on the table and where they
//! start. A scene is written as
//! `blocks=red,green,blue; bowls=green,yellow; stacked=red/blue; in=green/yellow; holding=blue`
//! or drawn at random from a seed; the positions always come from a seed
//! (uniform in the arm's workspace, rejection-sampled so nothing overlaps).

use std::fmt;

use crate::rng::{Rng, derive_seed};

/// Colours a block or bowl may have.
pub const COLORS: &[&str] = &["red", "green", "blue", "yellow", "purple", "orange"];
/// At most this many blocks and this many bowls (the plant's sensor slots).
pub const MAX_BLOCKS: usize = 4;
pub const MAX_BOWLS: usize = 3;

/// Workspace where objects are placed: polar in the table plane around the
/// arm's base (m, rad).
pub const PLACE_RADIUS: (f32, f32) = (0.27, 0.50);
pub const PLACE_ANGLE: f32 = 1.2;

/// Block edge (m) and bowl inner radius / wall height (m).
pub const BLOCK_SIZE: f32 = 0.04;
pub const BOWL_RADIUS: f32 = 0.065;
pub const BOWL_WALL: f32 = 0.04;
pub const BOWL_FLOOR: f32 = 0.01;

/// A start relation a scene may state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relation {
    /// `stacked=a/b`: block `a` rests on block `b`.
    Stacked(String, String),
    /// `in=a/b`: block `a` lies in bowl `b`.
    In(String, String),
}

/// What a scene holds, before positions are drawn.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SceneSpec {
    pub blocks: Vec<String>,
    pub bowls: Vec<String>,
    pub relations: Vec<Relation>,
    /// The block the gripper holds at the start.
    pub holding: Option<String>,
}

/// Why a scene string is not a scene.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SceneError(pub String);

impl fmt::Display for SceneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for SceneError {}

fn err<T>(msg: impl Into<String>) -> Result<T, SceneError> {
    Err(SceneError(msg.into()))
}

impl SceneSpec {
    /// Parses `key=value; key=value`. Keys: `blocks`, `bowls` (comma lists of
    /// colours), `stacked=a/b`, `in=a/b` (repeatable), `holding=c`.
    pub fn parse(text: &str) -> Result<SceneSpec, SceneError> {
        let mut spec = SceneSpec::default();
        let mut seen_blocks = false;
        let mut seen_bowls = false;
        for (i, part) in text.split(';').enumerate() {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let Some((key, value)) = part.split_once('=') else {
                return err(format!(
                    "scene part {} `{part}`: expected key=value (keys: blocks, bowls, stacked, in, holding)",
                    i + 1
                ));
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "blocks" | "bowls" => {
                    let list = parse_colors(key, value)?;
                    if key == "blocks" {
                        if seen_blocks {
                            return err("scene: `blocks` given twice");
                        }
                        seen_blocks = true;
                        spec.blocks = list;
                    } else {
                        if seen_bowls {
                            return err("scene: `bowls` given twice");
                        }
                        seen_bowls = true;
                        spec.bowls = list;
                    }
                }
                "stacked" | "in" => {
                    let Some((a, b)) = value.split_once('/') else {
                        return err(format!(
                            "scene `{key}={value}`: expected two colours as a/b (e.g. {key}=red/blue)"
                        ));
                    };
                    let (a, b) = (check_color(key, a.trim())?, check_color(key, b.trim())?);
                    spec.relations.push(if key == "stacked" {
                        Relation::Stacked(a, b)
                    } else {
                        Relation::In(a, b)
                    });
                }
                "holding" => {
                    if spec.holding.is_some() {
                        return err("scene: `holding` given twice (the gripper holds one block)");
                    }
                    spec.holding = Some(check_color(key, value)?);
                }
                _ => {
                    return err(format!(
                        "scene: unknown key `{key}` (keys: blocks, bowls, stacked, in, holding)"
                    ));
                }
            }
        }
        spec.validate()?;
        Ok(spec)
    }

    /// A random scene: 2–4 blocks and 1–3 bowls of distinct colours, no
    /// start relations.
    pub fn random(seed: u64) -> SceneSpec {
        let mut rng = Rng::new(derive_seed(seed, 0x5ce7e));
        let n_blocks = 2 + (rng.next_u64() % 3) as usize;
        let n_bowls = 1 + (rng.next_u64() % 3) as usize;
        SceneSpec {
            blocks: pick_colors(&mut rng, n_blocks),
            bowls: pick_colors(&mut rng, n_bowls),
            relations: Vec::new(),
            holding: None,
        }
    }

    /// Checks the relations name objects of the scene and are consistent.
    pub fn validate(&self) -> Result<(), SceneError> {
        if self.blocks.is_empty() && self.bowls.is_empty() {
            return err("scene has no objects: give at least `blocks=...` or `bowls=...`");
        }
        let has_block = |c: &str| self.blocks.iter().any(|b| b == c);
        let has_bowl = |c: &str| self.bowls.iter().any(|b| b == c);
        let mut supported: Vec<&str> = Vec::new();
        for r in &self.relations {
            match r {
                Relation::Stacked(a, b) => {
                    for c in [a, b] {
                        if !has_block(c) {
                            return err(format!(
                                "scene `stacked={a}/{b}`: there is no {c} block in `blocks`"
                            ));
                        }
                    }
                    if a == b {
                        return err(format!(
                            "scene `stacked={a}/{b}`: a block cannot be on itself"
                        ));
                    }
                }
                Relation::In(a, b) => {
                    if !has_block(a) {
                        return err(format!(
                            "scene `in={a}/{b}`: there is no {a} block in `blocks`"
                        ));
                    }
                    if !has_bowl(b) {
                        return err(format!(
                            "scene `in={a}/{b}`: there is no {b} bowl in `bowls`"
                        ));
                    }
                }
            }
            let a = match r {
                Relation::Stacked(a, _) | Relation::In(a, _) => a.as_str(),
            };
            if supported.contains(&a) {
                return err(format!(
                    "scene: the {a} block is placed twice (in more than one `stacked`/`in`)"
                ));
            }
            supported.push(a);
        }
        for r in &self.relations {
            if let Relation::Stacked(_, b) = r
                && self.on_top_of(b).count() > 1
            {
                return err(format!("scene: two blocks are stacked on the {b} block"));
            }
        }
        // Stacks must bottom out on the table or in a bowl (no cycles).
        for b in &self.blocks {
            let mut cur = b.as_str();
            for _ in 0..=self.blocks.len() {
                match self.support_of(cur) {
                    Some(Relation::Stacked(_, below)) => cur = below,
                    _ => break,
                }
                if cur == b {
                    return err(format!("scene: the stack through the {b} block is a cycle"));
                }
            }
        }
        if let Some(h) = &self.holding {
            if !has_block(h) {
                return err(format!(
                    "scene `holding={h}`: there is no {h} block in `blocks`"
                ));
            }
            if supported.contains(&h.as_str()) || self.on_top_of(h).next().is_some() {
                return err(format!(
                    "scene `holding={h}`: the held block cannot also be in a stack or a bowl"
                ));
            }
        }
        Ok(())
    }

    fn support_of(&self, block: &str) -> Option<&Relation> {
        self.relations.iter().find(|r| match r {
            Relation::Stacked(a, _) | Relation::In(a, _) => a == block,
        })
    }

    fn on_top_of<'a>(&'a self, block: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.relations.iter().filter_map(move |r| match r {
            Relation::Stacked(a, b) if b == block => Some(a.as_str()),
            _ => None,
        })
    }

    /// Lays the scene out with positions drawn from `seed`.
    pub fn layout(&self, seed: u64) -> Layout {
        let mut rng = Rng::new(derive_seed(seed, 0x1a70));
        // Free-standing objects (bowls, blocks on the table) need a spot.
        let mut spots: Vec<([f32; 2], f32)> = Vec::new();
        let mut draw = |rng: &mut Rng, radius: f32| -> [f32; 2] {
            for _ in 0..10_000 {
                let r = rng.uniform(PLACE_RADIUS.0, PLACE_RADIUS.1);
                let a = rng.uniform(-PLACE_ANGLE, PLACE_ANGLE);
                let p = [r * a.cos(), r * a.sin()];
                if spots
                    .iter()
                    .all(|(q, rq)| (p[0] - q[0]).hypot(p[1] - q[1]) > radius + rq + 0.02)
                {
                    spots.push((p, radius));
                    return p;
                }
            }
            // The workspace fits far more than MAX_BLOCKS + MAX_BOWLS objects;
            // only reachable with absurd radii.
            p_fallback(spots.len())
        };
        let bowl_r = BOWL_RADIUS + 0.01;
        let block_r = BLOCK_SIZE * 0.75;
        let bowls: Vec<[f32; 3]> = self
            .bowls
            .iter()
            .map(|_| {
                let p = draw(&mut rng, bowl_r);
                [p[0], p[1], 0.0]
            })
            .collect();
        let mut blocks: Vec<Option<[f32; 3]>> = vec![None; self.blocks.len()];
        let idx = |c: &str| self.blocks.iter().position(|b| b == c);
        let held = self.holding.as_deref().and_then(idx);
        // Blocks on the table first, then those in bowls, then stacks upward.
        for (i, b) in self.blocks.iter().enumerate() {
            if Some(i) == held || self.support_of(b).is_some() {
                continue;
            }
            let p = draw(&mut rng, block_r);
            blocks[i] = Some([p[0], p[1], BLOCK_SIZE * 0.5]);
        }
        for (i, b) in self.blocks.iter().enumerate() {
            if let Some(Relation::In(_, bowl)) = self.support_of(b)
                && let Some(k) = self.bowls.iter().position(|c| c == bowl)
            {
                let c = bowls[k];
                let dx = rng.uniform(-0.01, 0.01);
                let dy = rng.uniform(-0.01, 0.01);
                blocks[i] = Some([c[0] + dx, c[1] + dy, BOWL_FLOOR + BLOCK_SIZE * 0.5]);
            }
        }
        for _ in 0..self.blocks.len() {
            for (i, b) in self.blocks.iter().enumerate() {
                if blocks[i].is_some() {
                    continue;
                }
                if let Some(Relation::Stacked(_, below)) = self.support_of(b)
                    && let Some(j) = idx(below)
                    && let Some(p) = blocks[j]
                {
                    blocks[i] = Some([p[0], p[1], p[2] + BLOCK_SIZE]);
                }
            }
        }
        Layout {
            blocks: blocks.into_iter().map(|p| p.unwrap_or([0.0; 3])).collect(),
            bowls,
            held,
        }
    }
}

fn p_fallback(k: usize) -> [f32; 2] {
    [0.3 + 0.05 * k as f32, 0.0]
}

/// Where each object starts: block centres, bowl centres (on the table), and
/// the held block's index (its position is at the gripper, set by the world).
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub blocks: Vec<[f32; 3]>,
    pub bowls: Vec<[f32; 3]>,
    pub held: Option<usize>,
}

fn check_color(key: &str, c: &str) -> Result<String, SceneError> {
    if COLORS.contains(&c) {
        Ok(c.to_string())
    } else {
        err(format!(
            "scene `{key}`: unknown colour `{c}` (colours: {})",
            COLORS.join(", ")
        ))
    }
}

fn parse_colors(key: &str, value: &str) -> Result<Vec<String>, SceneError> {
    let mut out: Vec<String> = Vec::new();
    for c in value.split(',') {
        let c = c.trim();
        if c.is_empty() {
            continue;
        }
        let c = check_color(key, c)?;
        if out.contains(&c) {
            return err(format!("scene `{key}`: `{c}` listed twice"));
        }
        out.push(c);
    }
    let max = if key == "blocks" {
        MAX_BLOCKS
    } else {
        MAX_BOWLS
    };
    if out.len() > max {
        return err(format!(
            "scene `{key}`: {} given, at most {max} supported",
            out.len()
        ));
    }
    Ok(out)
}

fn pick_colors(rng: &mut Rng, n: usize) -> Vec<String> {
    let mut pool: Vec<&str> = COLORS.to_vec();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n.min(pool.len()) {
        let k = (rng.next_u64() % pool.len() as u64) as usize;
        out.push(pool.remove(k).to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_issue_examples() {
        let s = SceneSpec::parse(
            "blocks=red,green,blue; bowls=green,yellow; stacked=red/blue; in=green/yellow",
        )
        .unwrap();
        assert_eq!(s.blocks, ["red", "green", "blue"]);
        assert_eq!(s.bowls, ["green", "yellow"]);
        assert_eq!(s.relations.len(), 2);
        let h = SceneSpec::parse("blocks=red,green; bowls=blue; holding=green").unwrap();
        assert_eq!(h.holding.as_deref(), Some("green"));
    }

    #[test]
    fn bad_scenes_say_what_is_wrong() {
        for (text, needle) in [
            ("blocks=red,crimson", "unknown colour `crimson`"),
            ("blocks=red; bowls=blue; in=red/green", "no green bowl"),
            ("blocks=red; stacked=red/blue", "no blue block"),
            ("blocks=red,blue; stacked=red/red", "on itself"),
            (
                "blocks=red,blue; stacked=red/blue; stacked=blue/red",
                "cycle",
            ),
            ("blocks red", "expected key=value"),
            ("cubes=red", "unknown key `cubes`"),
            ("", "no objects"),
            ("blocks=red,red", "listed twice"),
            ("blocks=red,green,blue,yellow,purple", "at most 4"),
            (
                "blocks=red,blue; stacked=red/blue; holding=blue",
                "held block",
            ),
        ] {
            let e = SceneSpec::parse(text).unwrap_err();
            assert!(
                e.0.contains(needle),
                "`{text}` -> `{e}` (wanted `{needle}`)"
            );
        }
    }

    #[test]
    fn layout_is_deterministic_and_separated() {
        let s = SceneSpec::parse("blocks=red,green,blue,yellow; bowls=green,yellow,blue").unwrap();
        let a = s.layout(42);
        assert_eq!(a, s.layout(42));
        assert_ne!(a, s.layout(43));
        let mut pts: Vec<[f32; 3]> = a.blocks.clone();
        pts.extend(a.bowls.iter().copied());
        for i in 0..pts.len() {
            for j in 0..i {
                let d = (pts[i][0] - pts[j][0]).hypot(pts[i][1] - pts[j][1]);
                assert!(d > 0.05, "objects {i} and {j} overlap: {d}");
            }
        }
        assert_eq!(SceneSpec::random(5), SceneSpec::random(5));
    }

    #[test]
    fn stacks_sit_on_their_base() {
        let s = SceneSpec::parse(
            "blocks=red,blue,green; bowls=yellow; stacked=red/blue; stacked=blue/green",
        )
        .unwrap();
        let l = s.layout(1);
        assert!((l.blocks[0][2] - 0.1).abs() < 1e-6);
        assert!((l.blocks[1][2] - 0.06).abs() < 1e-6);
        assert_eq!(l.blocks[0][0], l.blocks[2][0]);
    }
}
