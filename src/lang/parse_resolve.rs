//! The second half of the goal reader: resolving the parsed clauses against
//! the scene and the current places (pronouns, "the block", "everything",
//! "the others", sources, the bowl of the same colour), ordering towers, and
//! checking that the goals are possible and consistent before any motion.

use ganglion_sim::SceneSpec;

use super::{Clause, Reading, Ref, Rel, Shape, refuse};
use crate::lang::goals::Goals;
use crate::lang::ground::{Kind, Mention};
use crate::lang::lexicon::Class;
use crate::skills::Places;

#[path = "parse_tower.rs"]
mod tower_impl;
use tower_impl::tower;

struct Ctx<'a> {
    scene: &'a SceneSpec,
    places: &'a Places,
    /// Blocks named by colour anywhere in the instruction ("the others").
    named: Vec<String>,
    last_movers: Vec<String>,
    last_obj: Option<String>,
}

fn all_blocks(scene: &SceneSpec) -> Vec<String> {
    scene.blocks.iter().map(|b| format!("{b} block")).collect()
}

fn list(xs: &[String]) -> String {
    match xs.len() {
        0 => "nothing".into(),
        1 => xs[0].clone(),
        n => format!("{} and {}", xs[..n - 1].join(", "), xs[n - 1]),
    }
}

/// The place string of being at `obj` ("green bowl", "on red block", "table").
fn place_at(obj: &str) -> String {
    if obj.ends_with(" block") {
        format!("on {obj}")
    } else {
        obj.to_string()
    }
}

impl Ctx<'_> {
    fn blocks_at(&self, place: &str) -> Vec<String> {
        self.places
            .0
            .iter()
            .filter(|(o, p)| o.ends_with(" block") && p == place)
            .map(|(o, _)| o.clone())
            .collect()
    }

    /// Objects a mention names as a mover (blocks first) or destination.
    fn mention(
        &self,
        m: &Mention,
        dest: Option<Rel>,
        source: Option<&str>,
    ) -> Result<Vec<String>, String> {
        if let (Some(c), Kind::Either) = (&m.color, m.kind) {
            let block = self.scene.blocks.iter().any(|b| b == c);
            let bowl = self.scene.bowls.iter().any(|b| b == c);
            return Ok(vec![match (dest, block, bowl) {
                (Some(Rel::In), _, true) => format!("{c} bowl"),
                (_, true, _) => format!("{c} block"),
                _ => format!("{c} bowl"),
            }]);
        }
        if let Some(o) = &m.object {
            return Ok(vec![o.clone()]);
        }
        match m.kind {
            Kind::Table => Ok(vec!["table".into()]),
            Kind::Block => {
                let pool = match source {
                    Some(p) => self.blocks_at(p),
                    None => all_blocks(self.scene),
                };
                if m.plural || pool.len() == 1 {
                    if pool.is_empty() {
                        return refuse(format!(
                            "there are no blocks {}",
                            source.map_or(String::new(), |s| format!("at the {s}"))
                        ));
                    }
                    Ok(pool)
                } else {
                    refuse(format!(
                        "\"{}\": which one? the scene has the {}",
                        m.text,
                        list(&pool)
                    ))
                }
            }
            Kind::Bowl => {
                let bowls: Vec<String> = self
                    .scene
                    .bowls
                    .iter()
                    .map(|b| format!("{b} bowl"))
                    .collect();
                if bowls.len() == 1 && !m.plural {
                    Ok(bowls)
                } else {
                    refuse(format!(
                        "\"{}\": which bowl? the scene has the {}",
                        m.text,
                        list(&bowls)
                    ))
                }
            }
            Kind::Either => refuse(format!("\"{}\": which one?", m.text)),
        }
    }

    fn resolve(
        &self,
        r: &Ref,
        dest: Option<Rel>,
        source: Option<&str>,
    ) -> Result<Vec<String>, String> {
        match r {
            Ref::Obj(m) => self.mention(m, dest, source),
            Ref::Everything => Ok(match source {
                Some(p) => self.blocks_at(p),
                None => all_blocks(self.scene),
            }),
            Ref::Others => Ok(all_blocks(self.scene)
                .into_iter()
                .filter(|b| !self.named.contains(b))
                .collect()),
            Ref::Pronoun => {
                let found = if dest.is_some() {
                    self.last_obj.clone().into_iter().collect()
                } else {
                    self.last_movers.clone()
                };
                if found.is_empty() {
                    refuse("\"it\" / \"them\": nothing named before it to refer to")
                } else {
                    Ok(found)
                }
            }
        }
    }
}

/// One goal per mover, with the place it must end in.
#[derive(Default)]
struct Acc {
    goals: Vec<(String, String)>,
    picks: Vec<String>,
    keep: Vec<String>,
    not_there: Vec<(String, String)>,
    /// Blocks to order in a tower, in the order named.
    seq: Vec<String>,
    home: bool,
    no_home: bool,
    stop: bool,
    /// A stack verb listed blocks with no destination: a tower to order.
    stack_list: bool,
    /// Blocks to move that no clause has given a place yet.
    undirected: Vec<String>,
    /// Blocks were named as a set ("the blocks") somewhere.
    set_listed: bool,
    /// A block asked onto the table is on the table already.
    already: bool,
    keep_seen: bool,
    neg_seen: bool,
}

fn push_unique(v: &mut Vec<String>, x: String) {
    if !v.contains(&x) {
        v.push(x);
    }
}

pub(super) fn resolve(s: &Shape, scene: &SceneSpec, places: &Places) -> Result<Reading, String> {
    let mut named = Vec::new();
    let mut scan = |r: &Ref| {
        if let Ref::Obj(m) = r
            && let Some(o) = &m.object
            && o.ends_with(" block")
        {
            push_unique(&mut named, o.clone());
        }
    };
    for c in &s.clauses {
        c.movers.iter().for_each(&mut scan);
        c.dests.iter().for_each(|(_, r)| scan(r));
    }
    let mut ctx = Ctx {
        scene,
        places,
        named,
        last_movers: Vec::new(),
        last_obj: None,
    };
    let mut acc = Acc::default();
    let towerish = s.tower || !s.markers.is_empty() || s.bottom_up.is_some();
    for c in &s.clauses {
        clause(&mut ctx, &mut acc, c, towerish)?;
    }
    if towerish || acc.stack_list {
        tower(&ctx, &mut acc, s)?;
    }
    finish(&ctx, acc)
}

fn clause(ctx: &mut Ctx, acc: &mut Acc, c: &Clause, towerish: bool) -> Result<(), String> {
    let source = match &c.source {
        Some(r) => {
            let s = ctx.resolve(r, Some(Rel::To), None)?;
            match s.as_slice() {
                [one] => Some(place_at(one)),
                _ => return refuse("\"from\" names more than one place"),
            }
        }
        None => None,
    };
    let mut movers: Vec<String> = Vec::new();
    for r in &c.movers {
        for m in ctx.resolve(r, None, source.as_deref())? {
            push_unique(&mut movers, m);
        }
    }
    if let Some(src) = &source {
        for m in &movers {
            if ctx.places.get(m) != Some(src.as_str()) {
                return refuse(format!(
                    "the {m} is not {}the {}",
                    if src.starts_with("on ") { "" } else { "in " },
                    src
                ));
            }
        }
    }
    if c.verb == Some(Class::Go) && (!movers.is_empty() || !c.dests.is_empty()) && !c.home {
        return refuse("I can only go home; the skills move blocks into bowls or onto blocks");
    }
    if c.neg {
        acc.neg_seen = true;
        if c.home {
            acc.no_home = true;
        }
        if c.stop {
            return refuse("\"do not stop\": I cannot tell what to do instead");
        }
        let movers = if movers.is_empty() && !c.dests.is_empty() {
            all_blocks(ctx.scene)
        } else {
            movers
        };
        match c.dests.first() {
            Some((rel, r)) => {
                for d in ctx.resolve(r, Some(*rel), None)? {
                    for m in &movers {
                        acc.not_there.push((m.clone(), target(*rel, &d)));
                    }
                }
            }
            None => movers
                .into_iter()
                .for_each(|m| push_unique(&mut acc.keep, m)),
        }
        return Ok(());
    }
    if c.keep {
        acc.keep_seen = true;
        let movers = if movers.is_empty() {
            all_blocks(ctx.scene)
        } else {
            movers
        };
        if let Some((rel, r)) = c.dests.first() {
            let d = ctx.resolve(r, Some(*rel), None)?;
            for m in &movers {
                if d.iter()
                    .all(|d| ctx.places.get(m) != Some(target(*rel, d).as_str()))
                {
                    return refuse(format!(
                        "\"keep\"/\"leave\" asks to leave things as they are, but the {m} is not {} the {}",
                        if *rel == Rel::In { "in" } else { "on" },
                        list(&d)
                    ));
                }
            }
        }
        movers
            .into_iter()
            .for_each(|m| push_unique(&mut acc.keep, m));
        return Ok(());
    }
    if c.stop {
        acc.stop = true;
    }
    if c.home {
        acc.home = true;
    }
    if !movers.is_empty() {
        ctx.last_movers = movers.clone();
    }
    // Blocks named one by one (not "the blocks", "everything"): the ones a
    // tower can be ordered from.
    let named: Vec<String> = c
        .movers
        .iter()
        .filter_map(|r| match r {
            Ref::Obj(m) if m.color.is_some() => ctx.resolve(r, None, None).ok(),
            _ => None,
        })
        .flatten()
        .collect();
    if named.len() < movers.len() {
        acc.set_listed = true;
    }
    if c.dests.is_empty() {
        if c.same {
            return same_colour(ctx, acc, &movers);
        }
        match c.verb {
            Some(Class::Pick) => movers
                .iter()
                .for_each(|m| push_unique(&mut acc.picks, m.clone())),
            _ if towerish || c.verb == Some(Class::Stack) => {
                acc.stack_list |= c.verb == Some(Class::Stack);
                named
                    .iter()
                    .for_each(|m| push_unique(&mut acc.seq, m.clone()))
            }
            // "take the red block out of the bowl and put it …": a later
            // clause may say where; `finish` refuses if none does.
            _ => movers
                .iter()
                .for_each(|m| push_unique(&mut acc.undirected, m.clone())),
        }
        if let Some(m) = movers.last() {
            ctx.last_obj = Some(m.clone());
        }
        return Ok(());
    }
    if movers.is_empty() {
        return refuse("the instruction names where to put something but not what");
    }
    let mut cur = movers;
    for (k, (rel, r)) in c.dests.iter().enumerate() {
        if k == 0 && c.same && matches!(r, Ref::Obj(m) if m.kind == Kind::Bowl && m.color.is_none())
        {
            same_colour(ctx, acc, &cur)?;
            return Ok(());
        }
        let d = ctx.resolve(r, Some(*rel), None)?;
        let [dest] = d.as_slice() else {
            return refuse(format!(
                "the {} cannot go to several places at once ({})",
                list(&cur),
                list(&d)
            ));
        };
        for m in &cur {
            push_unique(&mut acc.seq, m.clone());
            if *rel == Rel::Under {
                // "put X under Y": Y goes onto X.
                acc.goals.push((dest.clone(), format!("on {m}")));
            } else {
                acc.goals.push((m.clone(), target(*rel, dest)));
            }
        }
        if dest.ends_with(" block") {
            push_unique(&mut acc.seq, dest.clone());
        }
        ctx.last_obj = Some(dest.clone());
        cur = vec![dest.clone()];
    }
    Ok(())
}

/// The place a block ends in when put `rel` `dest`.
fn target(rel: Rel, dest: &str) -> String {
    match (rel, dest.ends_with(" block")) {
        (_, false) => dest.to_string(),
        (Rel::In, true) => format!("in {dest}"),
        (_, true) => format!("on {dest}"),
    }
}

fn same_colour(ctx: &Ctx, acc: &mut Acc, movers: &[String]) -> Result<(), String> {
    let movers: Vec<String> = if movers.is_empty() {
        all_blocks(ctx.scene)
    } else {
        movers.to_vec()
    };
    let mut any = false;
    for m in movers {
        let colour = m.trim_end_matches(" block");
        if ctx.scene.bowls.iter().any(|b| b == colour) {
            acc.goals.push((m.clone(), format!("{colour} bowl")));
            any = true;
        } else {
            push_unique(&mut acc.keep, m);
        }
    }
    if any {
        Ok(())
    } else {
        refuse("no block has a bowl of its own colour in the scene")
    }
}

fn finish(ctx: &Ctx, mut acc: Acc) -> Result<Reading, String> {
    // A pick followed by a move of the same block is a step of the move.
    let moved: Vec<String> = acc.goals.iter().map(|(o, _)| o.clone()).collect();
    acc.picks.retain(|p| !moved.contains(p));
    acc.undirected.retain(|p| !moved.contains(p));
    if !acc.undirected.is_empty() {
        let n = acc.undirected.len();
        return refuse(format!(
            "where should the {} go? the instruction names no bowl or block to put {} on or in",
            list(&acc.undirected),
            if n == 1 { "it" } else { "them" }
        ));
    }
    match acc.picks.as_slice() {
        [] => {}
        [one] if acc.goals.is_empty() => acc.goals.push((one.clone(), "gripper".into())),
        [_] => return refuse("I cannot hold a block and move other blocks at the same time"),
        many => {
            return refuse(format!(
                "I can hold only one block at a time, not the {}",
                list(many)
            ));
        }
    }
    // A later goal for the same object replaces an earlier one.
    let mut goals: Vec<(String, String)> = Vec::new();
    for (o, p) in acc.goals {
        goals.retain(|(x, _)| *x != o);
        goals.push((o, p));
    }
    let mut keep = acc.keep;
    let mut out = Vec::new();
    for (o, p) in goals {
        if !o.ends_with(" block") {
            return refuse(format!(
                "the {o} cannot be moved: only blocks move (bowls are fixed to the table)"
            ));
        }
        if p.starts_with("in ") {
            return refuse(format!(
                "the {o} cannot go inside the {}: blocks go into bowls or onto other blocks",
                p.trim_start_matches("in ")
            ));
        }
        if p == format!("on {o}") || p == o {
            return refuse(format!("the {o} cannot be put on itself"));
        }
        if p == "table" {
            if ctx.places.get(&o) == Some("table") {
                push_unique(&mut keep, o);
                acc.already = true;
                continue;
            }
            return refuse(format!(
                "the {o} should go on the table, but no skill sets a block down on the table"
            ));
        }
        if ctx.places.get(&o) != Some(p.as_str()) && keep.contains(&o) {
            return refuse(format!("the instruction both moves and keeps the {o}"));
        }
        out.push((o, p));
    }
    for (o, p) in &acc.not_there {
        if out.iter().any(|(x, q)| x == o && q == p) {
            return refuse(format!(
                "the instruction both asks and forbids the {o} going to the {p}"
            ));
        }
        if !out.iter().any(|(x, _)| x == o) {
            push_unique(&mut keep, o.clone());
        }
    }
    // Two blocks on one block, or a cycle of stacks.
    for (i, (a, p)) in out.iter().enumerate() {
        if p.starts_with("on ") && out.iter().skip(i + 1).any(|(_, q)| q == p) {
            return refuse(format!(
                "two blocks cannot both go {p} (only one fits on a block)"
            ));
        }
        let mut cur = p.clone();
        for _ in 0..=out.len() {
            let Some(below) = cur.strip_prefix("on ") else {
                break;
            };
            if below == a {
                return refuse(format!("the stacks asked for form a loop through the {a}"));
            }
            match out.iter().find(|(x, _)| x == below) {
                Some((_, q)) => cur = q.clone(),
                None => break,
            }
        }
    }
    if acc.home && acc.no_home {
        return refuse("the instruction both asks to go home and not to");
    }
    let goals = Goals {
        goals: out,
        home: acc.home,
        keep,
        no_home: acc.no_home,
    };
    for k in &goals.keep {
        if goals.in_the_way(k, ctx.places) {
            return refuse(format!(
                "the {k} must stay, but it is in the way of what is asked"
            ));
        }
    }
    if goals.is_empty() {
        return Ok(if acc.stop || acc.keep_seen {
            Reading::Stop("asked not to move anything: nothing moves".into())
        } else if acc.already {
            Reading::Stop("what is asked holds already: nothing moves".into())
        } else if acc.neg_seen {
            Reading::Refuse(
                "the instruction only says what not to do; there is nothing to do".into(),
            )
        } else {
            Reading::Refuse("I could not find anything to do in the instruction".into())
        });
    }
    Ok(Reading::Act(goals))
}
