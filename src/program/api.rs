//! The robot API a program sees: perception queries over the world's state
//! (exact, or perceived with `--perception camera`), geometry in the table
//! frame (x away from the robot, y to its left, origin under the arm's base
//! axis; "front" is +x, "left" is +y), and the skills, each run through the
//! world's executor (the control loop and safety filter in the simulator).
//! Objects are named as in the scene: `"red block"`, `"green bowl"`; points
//! are arrays `[x, y]` or `[x, y, z]` in metres. A skill that fails stops
//! the program: going on after a failed pick is pointless motion.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use ganglion_sim::{SceneSpec, TabletopState};
use rhai::{Array, Dynamic, Engine, EvalAltResult, FLOAT, INT, NativeCallContext};

use super::check::Names;
use super::{SkillCall, StopKind};
use crate::lang::saycan::World;
use crate::skills::Skill;

/// What kind of value an API argument is (for the name check).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    Block,
    Bowl,
    /// A block or a bowl.
    Object,
    /// An object or a point.
    Place,
    Number,
    List,
    /// Other text (a corner's name).
    Text,
}

/// One API function: its name, arguments and one line of documentation (the
/// prompt and docs/programs.md are written from these).
pub struct ApiFn {
    pub name: &'static str,
    pub args: &'static [Arg],
    pub doc: &'static str,
}

use Arg::*;

/// The whole API.
pub const API: &[ApiFn] = &[
    ApiFn {
        name: "objects",
        args: &[],
        doc: "objects() -> every object's name, blocks first",
    },
    ApiFn {
        name: "blocks",
        args: &[],
        doc: "blocks() -> the blocks' names",
    },
    ApiFn {
        name: "bowls",
        args: &[],
        doc: "bowls() -> the bowls' names",
    },
    ApiFn {
        name: "pos",
        args: &[Place],
        doc: "pos(obj) -> [x, y, z] of its centre (m)",
    },
    ApiFn {
        name: "color",
        args: &[Object],
        doc: "color(obj) -> its colour, e.g. \"red\"",
    },
    ApiFn {
        name: "is_block",
        args: &[Object],
        doc: "is_block(obj) -> whether it is a block",
    },
    ApiFn {
        name: "is_bowl",
        args: &[Object],
        doc: "is_bowl(obj) -> whether it is a bowl",
    },
    ApiFn {
        name: "held",
        args: &[],
        doc: "held() -> the block in the gripper, or \"\"",
    },
    ApiFn {
        name: "on_top_of",
        args: &[Block, Block],
        doc: "on_top_of(a, b) -> whether block a rests on block b",
    },
    ApiFn {
        name: "in_bowl",
        args: &[Block, Bowl],
        doc: "in_bowl(block, bowl) -> whether the block is in the bowl",
    },
    ApiFn {
        name: "on_table",
        args: &[Block],
        doc: "on_table(block) -> whether it lies on the table",
    },
    ApiFn {
        name: "above",
        args: &[Block],
        doc: "above(block) -> the block resting on it, or \"\"",
    },
    ApiFn {
        name: "distance",
        args: &[Place, Place],
        doc: "distance(a, b) -> metres between two objects or points in the table plane",
    },
    ApiFn {
        name: "closest",
        args: &[Place, List],
        doc: "closest(target, list) -> the item of list nearest target",
    },
    ApiFn {
        name: "farthest",
        args: &[Place, List],
        doc: "farthest(target, list) -> the item of list farthest from target",
    },
    ApiFn {
        name: "sort_by_distance",
        args: &[Place, List],
        doc: "sort_by_distance(target, list) -> list, nearest first",
    },
    ApiFn {
        name: "leftmost",
        args: &[List],
        doc: "leftmost(list) -> the item with the largest y",
    },
    ApiFn {
        name: "rightmost",
        args: &[List],
        doc: "rightmost(list) -> the item with the smallest y",
    },
    ApiFn {
        name: "frontmost",
        args: &[List],
        doc: "frontmost(list) -> the item with the largest x (farthest from the robot)",
    },
    ApiFn {
        name: "backmost",
        args: &[List],
        doc: "backmost(list) -> the item with the smallest x (nearest the robot)",
    },
    ApiFn {
        name: "left_of",
        args: &[Place, Place],
        doc: "left_of(a, b) -> whether a is left of b (larger y)",
    },
    ApiFn {
        name: "right_of",
        args: &[Place, Place],
        doc: "right_of(a, b) -> whether a is right of b (smaller y)",
    },
    ApiFn {
        name: "in_front_of",
        args: &[Place, Place],
        doc: "in_front_of(a, b) -> whether a is in front of b (larger x)",
    },
    ApiFn {
        name: "behind",
        args: &[Place, Place],
        doc: "behind(a, b) -> whether a is behind b (smaller x, nearer the robot)",
    },
    ApiFn {
        name: "point",
        args: &[Number, Number],
        doc: "point(x, y) -> the point [x, y, 0]",
    },
    ApiFn {
        name: "offset",
        args: &[Place, Number, Number],
        doc: "offset(a, dx, dy) -> the point dx ahead of and dy left of a",
    },
    ApiFn {
        name: "midpoint",
        args: &[Place, Place],
        doc: "midpoint(a, b) -> the point halfway between a and b",
    },
    ApiFn {
        name: "corner",
        args: &[Text],
        doc: "corner(\"front left\") -> a corner of the work area (front/back + left/right)",
    },
    ApiFn {
        name: "center",
        args: &[],
        doc: "center() -> the middle of the work area",
    },
    ApiFn {
        name: "pick",
        args: &[Block],
        doc: "pick(block): pick the block up (nothing may rest on it; the gripper must be empty)",
    },
    ApiFn {
        name: "place_in",
        args: &[Bowl],
        doc: "place_in(bowl): put the held block in the bowl",
    },
    ApiFn {
        name: "place_on",
        args: &[Block],
        doc: "place_on(block): put the held block on the block",
    },
    ApiFn {
        name: "place_at",
        args: &[Place, Number],
        doc: "place_at(x, y) or place_at(point): set the held block down on the table there",
    },
    ApiFn {
        name: "home",
        args: &[],
        doc: "home(): move the arm to its home pose",
    },
];

type Rr<T> = Result<T, Box<EvalAltResult>>;

/// The program's side of the world: the world itself, the state read since
/// the last skill, the skills run and why the program stopped (when the
/// API stopped it).
pub struct Host<W: World> {
    pub world: W,
    pub names: Names,
    scene: SceneSpec,
    state: Option<TabletopState>,
    pub skills: Vec<SkillCall>,
    max_skills: usize,
    /// Seconds spent in skills (shared with the time limit's check).
    pub skill_s: Rc<Cell<f64>>,
    /// Set when a skill failed or the skill limit was hit.
    pub stop: Option<(StopKind, String)>,
}

impl<W: World> Host<W> {
    pub fn new(world: W, max_skills: usize) -> Host<W> {
        let scene = world.scene().clone();
        Host {
            names: Names::of(&scene),
            world,
            scene,
            state: None,
            skills: Vec::new(),
            max_skills,
            skill_s: Rc::new(Cell::new(0.0)),
            stop: None,
        }
    }

    fn state(&mut self) -> Result<&TabletopState, String> {
        if self.state.is_none() {
            self.state = Some(self.world.state().map_err(|e| format!("{e:#}"))?);
        }
        self.state.as_ref().ok_or_else(|| "no state".to_string())
    }

    /// (is a block, index) of an object name.
    fn object(&self, name: &str, arg: Arg) -> Result<(bool, usize), String> {
        if let Some(why) = self.names.problem(name, arg) {
            return Err(why);
        }
        match self.names.blocks.iter().position(|b| b == name) {
            Some(i) => Ok((true, i)),
            None => Ok((
                false,
                self.names.bowls.iter().position(|b| b == name).unwrap_or(0),
            )),
        }
    }

    fn object_pos(&mut self, name: &str) -> Result<[f64; 3], String> {
        let (block, i) = self.object(name, Object)?;
        let s = self.state()?;
        let p = if block { s.blocks[i] } else { s.bowls[i] };
        Ok([p[0] as f64, p[1] as f64, p[2] as f64])
    }

    /// An object's position, or a point given as [x, y] / [x, y, z].
    fn place(&mut self, v: &Dynamic) -> Result<[f64; 3], String> {
        if let Some(s) = v.read_lock::<rhai::ImmutableString>() {
            let s = s.to_string();
            return self.object_pos(&s);
        }
        if let Some(a) = v.read_lock::<Array>() {
            if a.len() == 2 || a.len() == 3 {
                let mut p = [0.0; 3];
                for (k, x) in a.iter().enumerate() {
                    p[k] = number(x)?;
                }
                return Ok(p);
            }
            return Err(format!(
                "a point is [x, y] or [x, y, z]; got an array of {}",
                a.len()
            ));
        }
        Err(format!(
            "expected an object name or a point, got {}",
            v.type_name()
        ))
    }

    fn color(&self, name: &str) -> Result<String, String> {
        self.object(name, Object)?;
        Ok(name.split(' ').next().unwrap_or("").to_string())
    }

    fn held(&mut self) -> Result<String, String> {
        let h = self.state()?.held;
        Ok(h.and_then(|i| self.names.blocks.get(i).cloned())
            .unwrap_or_default())
    }

    fn relation(&mut self, a: &str, b: &str, which: &str) -> Result<bool, String> {
        let (_, i) = self.object(a, Block)?;
        let s = self.state()?.clone();
        Ok(match which {
            "on" => {
                let (_, j) = self.object(b, Block)?;
                s.below(i) == Some(j)
            }
            "in" => {
                let (_, k) = self.object(b, Bowl)?;
                s.bowl_of(i) == Some(k)
            }
            _ => {
                s.held != Some(i)
                    && s.bowl_of(i).is_none()
                    && s.below(i).is_none()
                    && s.blocks[i][2] < ganglion_sim::tabletop::scene::BLOCK_SIZE
            }
        })
    }

    fn above(&mut self, a: &str) -> Result<String, String> {
        let (_, i) = self.object(a, Block)?;
        let s = self.state()?;
        Ok(s.above(i)
            .and_then(|j| self.names.blocks.get(j).cloned())
            .unwrap_or_default())
    }

    /// Runs a skill through the world; a failure stops the program.
    fn skill(&mut self, skill: Skill, line: Option<usize>) -> Result<(), String> {
        if self.skills.len() >= self.max_skills {
            let why = format!(
                "the program asked for more than {} skills; stopped before `{skill}`",
                self.max_skills
            );
            self.stop = Some((StopKind::SkillLimit, why.clone()));
            return Err(why);
        }
        let texts: Vec<String> = self.skills.iter().map(|c| c.skill.clone()).collect();
        if crate::lang::saycan::repeats_pair(&texts, &skill.text()) {
            let why = format!(
                "the program repeats `{}` then `{skill}` a third time: stopped (at most {} times)",
                texts.last().map_or("", String::as_str),
                crate::lang::saycan::MAX_PAIR_REPEATS
            );
            self.stop = Some((StopKind::SkillLimit, why.clone()));
            return Err(why);
        }
        let t0 = Instant::now();
        // The skill's own allocations (the control loop's) are not the
        // program's memory.
        crate::runtime::alloc_count::program_heap_count(false, false);
        let result = self.world.execute_why(&skill);
        crate::runtime::alloc_count::program_heap_count(true, false);
        self.skill_s
            .set(self.skill_s.get() + t0.elapsed().as_secs_f64());
        self.state = None;
        let (success, why) = match result {
            Ok(Ok(())) => (true, None),
            Ok(Err(why)) => (false, Some(why)),
            Err(e) => (false, Some(format!("{e:#}"))),
        };
        self.skills.push(SkillCall {
            skill: skill.text(),
            success,
            line,
        });
        match why {
            None => Ok(()),
            Some(why) => {
                let msg = format!("`{skill}` failed: {why}");
                self.stop = Some((StopKind::SkillFailed, msg.clone()));
                Err(msg)
            }
        }
    }

    fn pick(&mut self, v: &str, line: Option<usize>) -> Result<(), String> {
        let (_, i) = self.object(v, Block)?;
        // Already in the gripper: what `pick` is for holds; nothing moves.
        if self.state()?.held == Some(i) {
            return Ok(());
        }
        let c = self.color(v)?;
        self.skill(Skill::Pick(c), line)
    }

    fn place_in(&mut self, v: &str, line: Option<usize>) -> Result<(), String> {
        self.object(v, Bowl)?;
        let c = self.color(v)?;
        self.skill(Skill::PlaceIn(c), line)
    }

    fn place_on(&mut self, v: &str, line: Option<usize>) -> Result<(), String> {
        self.object(v, Block)?;
        let c = self.color(v)?;
        self.skill(Skill::PlaceOn(c), line)
    }

    /// The scene the program was checked against.
    pub fn scene(&self) -> &SceneSpec {
        &self.scene
    }
}

fn number(x: &Dynamic) -> Result<f64, String> {
    if let Some(f) = x.clone().try_cast::<FLOAT>() {
        Ok(f)
    } else if let Some(i) = x.clone().try_cast::<INT>() {
        Ok(i as f64)
    } else {
        Err(format!("expected a number, got {}", x.type_name()))
    }
}

fn finite(v: f64, what: &str) -> Result<f64, String> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("{what} is not a finite number"))
    }
}

fn point(p: [f64; 3]) -> Array {
    p.iter().map(|v| Dynamic::from_float(*v)).collect()
}

fn names(v: &[String]) -> Array {
    v.iter().map(|s| Dynamic::from(s.clone())).collect()
}

fn line(ctx: &NativeCallContext) -> Option<usize> {
    ctx.call_position().line()
}

/// The planar distance between two points.
fn dist(a: [f64; 3], b: [f64; 3]) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// Registers the API on `engine`, every function working on `host`.
pub fn register<W: World + 'static>(engine: &mut Engine, host: Rc<RefCell<Host<W>>>) {
    // Each registered closure holds its own handle on the host.
    macro_rules! with {
        ($name:literal, |$h:ident $(, $a:ident : $t:ty)*| $body:expr) => {{
            let hh = host.clone();
            engine.register_fn($name, move |$($a: $t),*| -> Rr<_> {
                let $h = &mut *hh.borrow_mut();
                let r: Result<_, String> = $body;
                r.map_err(|e| e.into())
            });
        }};
    }
    macro_rules! skill {
        ($name:literal, |$h:ident, $ln:ident $(, $a:ident : $t:ty)*| $body:expr) => {{
            let hh = host.clone();
            engine.register_fn($name, move |ctx: NativeCallContext $(, $a: $t)*| -> Rr<()> {
                let $ln = line(&ctx);
                let $h = &mut *hh.borrow_mut();
                let r: Result<(), String> = $body;
                r.map_err(|e| e.into())
            });
        }};
    }
    with!("objects", |h| {
        let mut all = h.names.blocks.clone();
        all.extend(h.names.bowls.iter().cloned());
        Ok(names(&all))
    });
    with!("blocks", |h| Ok(names(&h.names.blocks)));
    with!("bowls", |h| Ok(names(&h.names.bowls)));
    with!("pos", |h, o: Dynamic| h.place(&o).map(point));
    with!("color", |h, o: &str| h.color(o));
    with!("is_block", |h, o: &str| h.object(o, Object).map(|(b, _)| b));
    with!("is_bowl", |h, o: &str| h.object(o, Object).map(|(b, _)| !b));
    with!("held", |h| h.held());
    with!("on_top_of", |h, a: &str, b: &str| h.relation(a, b, "on"));
    with!("in_bowl", |h, a: &str, b: &str| h.relation(a, b, "in"));
    with!("on_table", |h, a: &str| h.relation(a, a, "table"));
    with!("above", |h, a: &str| h.above(a));
    with!("distance", |h, a: Dynamic, b: Dynamic| {
        Ok(dist(h.place(&a)?, h.place(&b)?))
    });
    with!("closest", |h, t: Dynamic, list: Array| by_distance(
        h, &t, &list, -1.0
    ));
    with!("farthest", |h, t: Dynamic, list: Array| by_distance(
        h, &t, &list, 1.0
    ));
    with!("sort_by_distance", |h, t: Dynamic, list: Array| {
        let target = h.place(&t)?;
        let mut keyed = Vec::with_capacity(list.len());
        for item in list {
            let d = dist(target, h.place(&item)?);
            keyed.push((d, item));
        }
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(keyed.into_iter().map(|(_, v)| v).collect::<Array>())
    });
    with!("leftmost", |h, list: Array| by_coordinate(h, &list, 1, 1.0));
    with!("rightmost", |h, list: Array| by_coordinate(
        h, &list, 1, -1.0
    ));
    with!("frontmost", |h, list: Array| by_coordinate(
        h, &list, 0, 1.0
    ));
    with!("backmost", |h, list: Array| by_coordinate(
        h, &list, 0, -1.0
    ));
    with!("left_of", |h, a: Dynamic, b: Dynamic| Ok(
        h.place(&a)?[1] > h.place(&b)?[1]
    ));
    with!("right_of", |h, a: Dynamic, b: Dynamic| Ok(
        h.place(&a)?[1] < h.place(&b)?[1]
    ));
    with!("in_front_of", |h, a: Dynamic, b: Dynamic| Ok(h
        .place(&a)?[0]
        > h.place(&b)?[0]));
    with!("behind", |h, a: Dynamic, b: Dynamic| Ok(
        h.place(&a)?[0] < h.place(&b)?[0]
    ));
    with!("point", |h, x: Dynamic, y: Dynamic| {
        let _ = &h;
        Ok(point([
            finite(number(&x)?, "x")?,
            finite(number(&y)?, "y")?,
            0.0,
        ]))
    });
    with!("offset", |h, a: Dynamic, dx: Dynamic, dy: Dynamic| {
        let p = h.place(&a)?;
        let (dx, dy) = (finite(number(&dx)?, "dx")?, finite(number(&dy)?, "dy")?);
        Ok(point([p[0] + dx, p[1] + dy, 0.0]))
    });
    with!("midpoint", |h, a: Dynamic, b: Dynamic| {
        let (p, q) = (h.place(&a)?, h.place(&b)?);
        Ok(point([(p[0] + q[0]) / 2.0, (p[1] + q[1]) / 2.0, 0.0]))
    });
    with!("corner", |h, which: &str| {
        let _ = &h;
        corner(which).map(|p| point([p[0], p[1], 0.0]))
    });
    with!("center", |h| {
        let _ = &h;
        Ok(point([WORK_AREA.0.midpoint(WORK_AREA.1), 0.0, 0.0]))
    });
    skill!("pick", |h, ln, o: &str| h.pick(o, ln));
    skill!("place_in", |h, ln, o: &str| h.place_in(o, ln));
    skill!("place_on", |h, ln, o: &str| h.place_on(o, ln));
    skill!("place_at", |h, ln, x: Dynamic, y: Dynamic| {
        let (x, y) = (finite(number(&x)?, "x")?, finite(number(&y)?, "y")?);
        h.skill(Skill::place_at(x, y), ln)
    });
    skill!("place_at", |h, ln, p: Dynamic| {
        let p = h.place(&p)?;
        h.skill(Skill::place_at(p[0], p[1]), ln)
    });
    skill!("home", |h, ln| h.skill(Skill::Home, ln));
}

/// The work area's extent: x from back to front, y from right to left (m),
/// inside the arm's reach at every corner.
pub const WORK_AREA: (f64, f64, f64) = (0.30, 0.44, 0.20);

/// A corner of the work area by name: "front left", "back right", … (either
/// order, "top"/"bottom" as front/back).
fn corner(which: &str) -> Result<[f64; 2], String> {
    let words: Vec<String> = which
        .to_lowercase()
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    let has = |w: &[&str]| words.iter().any(|x| w.contains(&x.as_str()));
    let x = match (
        has(&["front", "top", "far"]),
        has(&["back", "bottom", "near"]),
    ) {
        (true, false) => WORK_AREA.1,
        (false, true) => WORK_AREA.0,
        _ => {
            return Err(format!(
                "corner(\"{which}\"): say front or back, and left or right"
            ));
        }
    };
    let y = match (has(&["left"]), has(&["right"])) {
        (true, false) => WORK_AREA.2,
        (false, true) => -WORK_AREA.2,
        _ => {
            return Err(format!(
                "corner(\"{which}\"): say front or back, and left or right"
            ));
        }
    };
    Ok([x, y])
}

/// The item of `list` with the largest `sign × distance to target`
/// (sign −1: the nearest).
fn by_distance<W: World>(
    h: &mut Host<W>,
    target: &Dynamic,
    list: &Array,
    sign: f64,
) -> Result<Dynamic, String> {
    let t = h.place(target)?;
    let mut best: Option<(f64, Dynamic)> = None;
    for item in list {
        let v = sign * dist(t, h.place(item)?);
        if best.as_ref().is_none_or(|(b, _)| v > *b) {
            best = Some((v, item.clone()));
        }
    }
    best.map(|(_, v)| v)
        .ok_or_else(|| "the list is empty".to_string())
}

/// The item of `list` with the largest `sign × coordinate[axis]`.
fn by_coordinate<W: World>(
    h: &mut Host<W>,
    list: &Array,
    axis: usize,
    sign: f64,
) -> Result<Dynamic, String> {
    let mut best: Option<(f64, Dynamic)> = None;
    for item in list {
        let v = sign * h.place(item)?[axis];
        if best.as_ref().is_none_or(|(b, _)| v > *b) {
            best = Some((v, item.clone()));
        }
    }
    best.map(|(_, v)| v)
        .ok_or_else(|| "the list is empty".to_string())
}
