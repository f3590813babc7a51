//! Tabletop scenes: which blocks and bowls are on the table and where they
//! start. A scene is written as
//! `blocks=red,green,blue; bowls=green,yellow; stacked=red/blue; in=green/yellow; holding=blue`
//! or drawn at random from a seed. An object may carry its position,
//! `blocks=red@(0.40,0.12),green; bowls=blue@(0.45,0.25)` (metres, table
//! frame: x away from the robot, y to its left, origin under the arm's base
//! axis); the others are drawn from the seed (uniform in the arm's
//! workspace, rejection-sampled so nothing overlaps).

use std::fmt;

use crate::rng::{Rng, derive_seed};

/// Colours a block or bowl may have.
pub const COLORS: &[&str] = &["red", "green", "blue", "yellow", "purple", "orange"];
/// At most this many blocks and this many bowls (the plant's sensor slots).
pub const MAX_BLOCKS: usize = 6;
pub const MAX_BOWLS: usize = 4;

/// Workspace where objects are placed: polar in the table plane around the
/// arm's base (m, rad).
pub const PLACE_RADIUS: (f32, f32) = (0.27, 0.50);
pub const PLACE_ANGLE: f32 = 1.2;
/// Where a scene may put an object by position: distance from the base
/// axis (m), and x > 0.
pub const POSITION_REACH: (f32, f32) = (0.25, 0.52);

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
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SceneSpec {
    pub blocks: Vec<String>,
    pub bowls: Vec<String>,
    pub relations: Vec<Relation>,
    /// The block the gripper holds at the start.
    pub holding: Option<String>,
    /// Objects with a stated start position, as (`"red block"` /
    /// `"blue bowl"`, [x, y]) in metres.
    pub at: Vec<(String, [f32; 2])>,
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
                    let kind = if key == "blocks" { "block" } else { "bowl" };
                    let (list, at) = parse_objects(key, kind, value)?;
                    spec.at.extend(at);
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
            at: Vec::new(),
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
        self.validate_positions()?;
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

    /// Stated positions: reachable, not overlapping one another, and only
    /// for objects that stand on the table.
    fn validate_positions(&self) -> Result<(), SceneError> {
        for (k, (name, p)) in self.at.iter().enumerate() {
            let r = p[0].hypot(p[1]);
            if !(p[0].is_finite() && p[1].is_finite())
                || p[0] <= 0.0
                || !(POSITION_REACH.0..=POSITION_REACH.1).contains(&r)
            {
                return err(format!(
                    "scene: the {name} at ({:.2},{:.2}) is out of reach: positions must have x > 0 and lie {}–{} m from the base axis (it is {r:.2} m)",
                    p[0], p[1], POSITION_REACH.0, POSITION_REACH.1
                ));
            }
            if let Some(color) = name.strip_suffix(" block") {
                let placed =
                    self.support_of(color).is_some() || self.holding.as_deref() == Some(color);
                if placed {
                    return err(format!(
                        "scene: the {name} has a position but is also stacked, in a bowl or held; its position comes from that"
                    ));
                }
            }
            for (other, q) in &self.at[..k] {
                let need = footprint(name) + footprint(other);
                let d = (p[0] - q[0]).hypot(p[1] - q[1]);
                if d < need {
                    return err(format!(
                        "scene: the {name} at ({:.2},{:.2}) overlaps the {other} at ({:.2},{:.2}): {d:.3} m apart, at least {need:.3} m needed",
                        p[0], p[1], q[0], q[1]
                    ));
                }
            }
        }
        Ok(())
    }

    /// The stated position of an object (`"red block"`), if any.
    pub fn position_of(&self, name: &str) -> Option<[f32; 2]> {
        self.at.iter().find(|(n, _)| n == name).map(|(_, p)| *p)
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
        // Stated positions first, so drawn ones keep clear of them. A scene
        // with none draws exactly as before.
        let fixed = self.at.clone();
        for (name, p) in &fixed {
            spots.push((*p, footprint(name)));
        }
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
        let mut draw = |rng: &mut Rng, radius: f32, name: String| -> [f32; 2] {
            match fixed.iter().find(|(n, _)| *n == name) {
                Some((_, p)) => *p,
                None => draw(rng, radius),
            }
        };
        let bowls: Vec<[f32; 3]> = self
            .bowls
            .iter()
            .map(|c| {
                let p = draw(&mut rng, bowl_r, format!("{c} bowl"));
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
            let p = draw(&mut rng, block_r, format!("{b} block"));
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

/// How much room an object needs around its centre (m): what the drawn
/// layout keeps between objects, less its 2 cm margin.
fn footprint(name: &str) -> f32 {
    if name.ends_with(" bowl") {
        BOWL_RADIUS + 0.01
    } else {
        BLOCK_SIZE * 0.75
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

/// Splits at `sep` outside parentheses.
fn split_outside_parens(s: &str, sep: char) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            c if c == sep && depth == 0 => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// `red@(0.40,0.12)` → ("red", Some([0.40, 0.12])); `red` → ("red", None).
fn parse_item<'a>(key: &str, item: &'a str) -> Result<(&'a str, Option<[f32; 2]>), SceneError> {
    let Some((color, pos)) = item.split_once('@') else {
        return Ok((item, None));
    };
    let bad = || {
        err(format!(
            "scene `{key}`: `{item}`: a position is written colour@(x,y) in metres, e.g. red@(0.40,0.12)"
        ))
    };
    let Some(inner) = pos
        .trim()
        .strip_prefix('(')
        .and_then(|p| p.strip_suffix(')'))
    else {
        return bad();
    };
    let Some((x, y)) = inner.split_once(',') else {
        return bad();
    };
    match (x.trim().parse::<f32>(), y.trim().parse::<f32>()) {
        (Ok(x), Ok(y)) if x.is_finite() && y.is_finite() => Ok((color.trim(), Some([x, y]))),
        _ => bad(),
    }
}

/// A `blocks=` or `bowls=` list: the colours, and the stated positions as
/// (`"red block"`, [x, y]).
#[allow(clippy::type_complexity)]
fn parse_objects(
    key: &str,
    kind: &str,
    value: &str,
) -> Result<(Vec<String>, Vec<(String, [f32; 2])>), SceneError> {
    let mut at = Vec::new();
    let mut colors = Vec::new();
    for item in split_outside_parens(value, ',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (c, p) = parse_item(key, item)?;
        if let Some(p) = p {
            at.push((format!("{} {kind}", c), p));
        }
        colors.push(c);
    }
    Ok((parse_colors(key, &colors)?, at))
}

fn parse_colors(key: &str, value: &[&str]) -> Result<Vec<String>, SceneError> {
    let mut out: Vec<String> = Vec::new();
    for c in value {
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
#[path = "scene_tests.rs"]
mod tests;
