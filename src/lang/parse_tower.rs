//! Ordering a tower for the goal reader: from position words ("blue at
//! the bottom", "red on top"), the listing direction ("bottom up", "top
//! down") and explicit "X on Y" relations, refusing when they do not fix
//! one order or contradict each other.

use super::super::{Pos, Shape, refuse};
use super::{Acc, Ctx, list};

/// Orders the named blocks into a tower from position words, the listing
/// direction and explicit "X on Y" relations.
pub(super) fn tower(ctx: &Ctx, acc: &mut Acc, s: &Shape) -> Result<(), String> {
    let on: Vec<(String, String)> = acc
        .goals
        .iter()
        .filter_map(|(o, p)| p.strip_prefix("on ").map(|b| (o.clone(), b.to_string())))
        .collect();
    let seq = acc.seq.clone();
    if seq.len() < 2 {
        return if acc.set_listed {
            refuse(
                "in which order should the blocks be stacked? name them, and say which is at the bottom or on top",
            )
        } else if s.tower || !s.markers.is_empty() || acc.stack_list {
            refuse("a tower needs at least two blocks named")
        } else {
            Ok(())
        };
    }
    let mut marks: Vec<(String, Pos)> = Vec::new();
    for (r, p) in &s.markers {
        for o in ctx.resolve(r, None, None)? {
            marks.push((o, *p));
        }
    }
    let mark_of = |b: &str| marks.iter().find(|(o, _)| o == b).map(|(_, p)| *p);
    // Explicit relations alone: a chain over every block is its own order.
    let explicit_chain = on.len() + 1 == seq.len();
    let bottom_up = match s.bottom_up {
        Some(d) => d,
        None => {
            let first = mark_of(&seq[0]);
            let last = mark_of(&seq[seq.len() - 1]);
            match (first, last) {
                (Some(Pos::Bottom), _) | (_, Some(Pos::Top)) => true,
                (Some(Pos::Top), _) | (_, Some(Pos::Bottom)) => false,
                _ if explicit_chain && marks.is_empty() => return Ok(()),
                _ => {
                    return refuse(format!(
                        "in which order should the {} be stacked? say which is at the bottom or on top",
                        list(&seq)
                    ));
                }
            }
        }
    };
    let order: Vec<String> = if bottom_up {
        seq.clone()
    } else {
        seq.iter().rev().cloned().collect()
    };
    let n = order.len();
    for (b, p) in &marks {
        let i = order.iter().position(|o| o == b).unwrap_or(usize::MAX);
        let fits = match p {
            Pos::Bottom => i == 0,
            Pos::Top => i + 1 == n,
            Pos::Middle => i > 0 && i + 1 < n,
        };
        if !fits {
            return refuse(format!("the tower's order is unclear: the {b} cannot be at the {p:?} (read bottom to top: {})", list(&order)).to_lowercase());
        }
    }
    for (x, y) in &on {
        let (ix, iy) = (
            order.iter().position(|o| o == x),
            order.iter().position(|o| o == y),
        );
        if !matches!((ix, iy), (Some(a), Some(b)) if a == b + 1) {
            return refuse(format!(
                "\"the {x} on the {y}\" does not fit the tower order {}",
                list(&order)
            ));
        }
    }
    acc.goals
        .retain(|(o, p)| !(order.contains(o) && p.starts_with("on ")));
    for w in order.windows(2) {
        acc.goals.push((w[1].clone(), format!("on {}", w[0])));
    }
    Ok(())
}
