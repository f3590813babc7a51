//! Whether a written program answers the instruction it was written for,
//! read from the instruction's own words: a program that checks and runs
//! can still answer another question ("the far-right block" written as
//! `farthest(…)`, "12 cm to the right of" written as a step back). The code
//! planner refuses such a program before anything moves. The rules are
//! about meaning, not phrasings:
//! - every object the program names is one the instruction names;
//! - every direction the program uses (left-most, an offset's sign, a
//!   corner) has a word for it in the instruction, and every left/right
//!   word in the instruction is served by a direction of the program;
//! - `closest` needs a word of nearness, `farthest` one of distance;
//! - a measure in the instruction ("12 cm") is a distance in the program.

/// Table-frame directions: +x front, -x back, +y left, -y right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Front,
    Back,
    Left,
    Right,
}

const LEFT_WORDS: [&str; 3] = ["left", "leftmost", "left-most"];
const RIGHT_WORDS: [&str; 3] = ["right", "rightmost", "right-most"];
const FRONT_WORDS: [&str; 13] = [
    "front",
    "ahead",
    "forward",
    "forwards",
    "frontmost",
    "front-most",
    "top",
    "far",
    "farther",
    "further",
    "farthest",
    "furthest",
    "beyond",
];
const BACK_WORDS: [&str; 15] = [
    "back",
    "behind",
    "rear",
    "backward",
    "backwards",
    "backmost",
    "back-most",
    "rearmost",
    "rear-most",
    "bottom",
    "near",
    "nearer",
    "nearest",
    "closer",
    "closest",
];
const NEAR_WORDS: [&str; 7] = [
    "closest", "nearest", "near", "close", "closer", "nearer", "next",
];
const FAR_WORDS: [&str; 7] = [
    "farthest", "furthest", "far", "farther", "further", "distant", "away",
];
const UNITS: [(&str, f64); 16] = [
    ("cm", 0.01),
    ("centimeter", 0.01),
    ("centimeters", 0.01),
    ("centimetre", 0.01),
    ("centimetres", 0.01),
    ("mm", 0.001),
    ("millimeter", 0.001),
    ("millimeters", 0.001),
    ("millimetre", 0.001),
    ("millimetres", 0.001),
    ("m", 1.0),
    ("meter", 1.0),
    ("meters", 1.0),
    ("metre", 1.0),
    ("metres", 1.0),
    ("inch", 0.0254),
];

/// The instruction's words, lower case; a hyphenated word also as its parts.
fn words(instruction: &str) -> Vec<String> {
    let mut out = Vec::new();
    for w in instruction
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '.'))
        .map(|w| w.trim_matches('.'))
        .filter(|w| !w.is_empty())
    {
        out.push(w.to_string());
        if w.contains('-') {
            out.extend(w.split('-').filter(|p| !p.is_empty()).map(str::to_string));
        }
    }
    out
}

/// The arguments of every call of `f` in `program`, split at top-level
/// commas.
fn calls<'a>(program: &'a str, f: &str) -> Vec<Vec<&'a str>> {
    let mut out = Vec::new();
    let pat = format!("{f}(");
    let mut from = 0;
    while let Some(k) = program[from..].find(&pat) {
        let start = from + k;
        let before = program[..start].chars().next_back();
        from = start + pat.len();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let (mut depth, mut args, mut arg_start) = (0usize, Vec::new(), from);
        for (i, c) in program[from..].char_indices() {
            match c {
                '(' | '[' => depth += 1,
                ')' | ']' if depth > 0 => depth -= 1,
                ')' => {
                    args.push(program[arg_start..from + i].trim());
                    break;
                }
                ',' if depth == 0 => {
                    args.push(program[arg_start..from + i].trim());
                    arg_start = from + i + 1;
                }
                _ => {}
            }
        }
        out.push(args);
    }
    out
}

/// The string literals of `program`.
fn literals(program: &str) -> Vec<&str> {
    program.split('"').skip(1).step_by(2).collect()
}

/// The directions `program` uses, and the distances (m) its offsets move.
fn directions(program: &str) -> (Vec<Dir>, Vec<f64>) {
    let mut dirs = Vec::new();
    let mut dists = Vec::new();
    for (f, d) in [
        ("leftmost", Dir::Left),
        ("rightmost", Dir::Right),
        ("frontmost", Dir::Front),
        ("backmost", Dir::Back),
    ] {
        if !calls(program, f).is_empty() {
            dirs.push(d);
        }
    }
    for args in calls(program, "offset") {
        let num = |k: usize| {
            args.get(k)
                .and_then(|a| a.replace(' ', "").parse::<f64>().ok())
        };
        for (v, pos, neg) in [
            (num(1), Dir::Front, Dir::Back),
            (num(2), Dir::Left, Dir::Right),
        ] {
            match v {
                Some(v) if v > 0.0 => dirs.push(pos),
                Some(v) if v < 0.0 => dirs.push(neg),
                _ => {}
            }
            if let Some(v) = v.filter(|v| *v != 0.0) {
                dists.push(v.abs());
            }
        }
    }
    for args in calls(program, "corner") {
        let name = args.first().map_or("", |a| a.trim_matches('"'));
        for w in words(name) {
            for (set, d) in [
                (&LEFT_WORDS[..], Dir::Left),
                (&RIGHT_WORDS[..], Dir::Right),
                (&FRONT_WORDS[..], Dir::Front),
                (&BACK_WORDS[..], Dir::Back),
            ] {
                if set.contains(&w.as_str()) {
                    dirs.push(d);
                }
            }
        }
    }
    (dirs, dists)
}

/// Words for the robot itself, as what a distance is measured from.
const ROBOT_WORDS: [&str; 7] = ["robot", "arm", "base", "me", "you", "yourself", "us"];

/// When the instruction measures from the robot ("the block nearest to
/// the robot", "farthest from you"), a distance the program measures from
/// a scene object answers another question.
fn measured_from_an_object(ws: &[String], program: &str) -> Option<String> {
    let robot = |k: usize| ws.get(k).is_some_and(|w| ROBOT_WORDS.contains(&w.as_str()));
    let from_robot = (0..ws.len()).any(|i| {
        matches!(ws[i].as_str(), "from" | "to")
            && (robot(i + 1) || (ws.get(i + 1).is_some_and(|w| w == "the") && robot(i + 2)))
    });
    if !from_robot {
        return None;
    }
    ["closest", "farthest", "sort_by_distance"]
        .iter()
        .flat_map(|f| calls(program, f))
        .filter_map(|args| args.first().map(|a| a.trim_matches('"')))
        .find(|a| a.ends_with(" block") || a.ends_with(" bowl"))
        .map(|a| format!("the instruction measures from the robot, the program from the {a}"))
}

/// Why `program` does not answer `instruction` (its words as the coder read
/// them), with `named` the scene objects the instruction names and
/// `objects` every scene object; `None` when nothing contradicts it.
pub fn mismatch(
    instruction: &str,
    program: &str,
    named: &[String],
    objects: &[String],
) -> Option<String> {
    let ws = words(instruction);
    let has = |set: &[&str]| ws.iter().any(|w| set.contains(&w.as_str()));
    for lit in literals(program) {
        if objects.iter().any(|o| o == lit) && !named.iter().any(|n| n == lit) {
            return Some(format!(
                "the program uses the {lit}, which the instruction does not name"
            ));
        }
    }
    let (dirs, dists) = directions(program);
    for d in &dirs {
        let set: &[&str] = match d {
            Dir::Left => &LEFT_WORDS,
            Dir::Right => &RIGHT_WORDS,
            Dir::Front => &FRONT_WORDS,
            Dir::Back => &BACK_WORDS,
        };
        if !has(set) {
            return Some(format!(
                "the program moves toward the {} but the instruction has no word for it",
                format!("{d:?}").to_lowercase()
            ));
        }
    }
    for (set, d) in [(&LEFT_WORDS, Dir::Left), (&RIGHT_WORDS, Dir::Right)] {
        if has(set) && !dirs.contains(&d) {
            return Some(format!(
                "the instruction says {}, which the program never does",
                format!("{d:?}").to_lowercase()
            ));
        }
    }
    if let Some(why) = measured_from_an_object(&ws, program) {
        return Some(why);
    }
    if !calls(program, "closest").is_empty() && !has(&NEAR_WORDS) {
        return Some("the program picks the closest, which the instruction does not ask".into());
    }
    if !calls(program, "farthest").is_empty() && !has(&FAR_WORDS) {
        return Some("the program picks the farthest, which the instruction does not ask".into());
    }
    for pair in ws.windows(2) {
        let Ok(n) = pair[0].parse::<f64>() else {
            continue;
        };
        let Some((_, scale)) = UNITS.iter().find(|(u, _)| *u == pair[1]) else {
            continue;
        };
        let want = n * scale;
        if !dists.iter().any(|d| (d - want).abs() < 1e-6) {
            return Some(format!(
                "the instruction asks for {} {}, which no offset of the program moves",
                pair[0], pair[1]
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objs() -> Vec<String> {
        [
            "red block",
            "green block",
            "blue block",
            "green bowl",
            "yellow bowl",
        ]
        .map(String::from)
        .to_vec()
    }

    fn named(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn programs_that_answer_their_instruction_pass() {
        let ok = [
            (
                "put the block closest to the yellow bowl in the green bowl",
                "let b = closest(\"yellow bowl\", blocks());\npick(b);\nplace_in(\"green bowl\");",
                vec!["yellow bowl", "green bowl"],
            ),
            (
                "move the red block 12 cm to the right of the blue block",
                "pick(\"red block\");\nplace_at(offset(\"blue block\", 0.0, -0.12));",
                vec!["red block", "blue block"],
            ),
            (
                "the far-left block goes in the green bowl",
                "let b = leftmost(blocks());\npick(b);\nplace_in(\"green bowl\");",
                vec!["green bowl"],
            ),
            (
                "put the red block in the near right corner",
                "pick(\"red block\");\nplace_at(corner(\"near right\"));",
                vec!["red block"],
            ),
            (
                "put the block closest to the robot in the green bowl",
                "let b = closest(point(0.0, 0.0), blocks());\npick(b);\nplace_in(\"green bowl\");",
                vec!["green bowl"],
            ),
            (
                "put every block in the bowl of its colour",
                "for b in blocks() {\n let w = color(b) + \" bowl\";\n if bowls().contains(w) { pick(b); place_in(w); }\n}",
                vec![],
            ),
        ];
        for (i, p, n) in ok {
            assert_eq!(mismatch(i, p, &named(&n), &objs()), None, "{i}");
        }
    }

    #[test]
    fn programs_that_answer_another_question_are_caught() {
        let bad = [
            (
                "the furthest right block goes in the yellow bowl",
                "let b = farthest(\"yellow bowl\", blocks());\npick(b);\nplace_in(\"yellow bowl\");",
                vec!["yellow bowl"],
                "right",
            ),
            (
                "move the nearest to the robot block to the green bowl",
                "let b = closest(\"green block\", blocks());\npick(b);\nplace_in(\"green bowl\");",
                vec!["green bowl"],
                "does not name",
            ),
            (
                "set the red block down 12 cm on the right side of the blue block",
                "pick(\"red block\");\nplace_at(offset(\"blue block\", -0.12, 0.0));",
                vec!["red block", "blue block"],
                "no word",
            ),
            (
                "set the red block down 12 cm on the right side of the blue block",
                "pick(\"red block\");\nplace_on(\"blue block\");",
                vec!["red block", "blue block"],
                "right",
            ),
            (
                "move the red block 10 cm to the left of the blue block",
                "pick(\"red block\");\nplace_at(offset(\"blue block\", 0.0, 0.12));",
                vec!["red block", "blue block"],
                "10 cm",
            ),
            (
                "put the block next to the green bowl in the yellow bowl",
                "let b = farthest(\"green bowl\", blocks());\npick(b);\nplace_in(\"yellow bowl\");",
                vec!["green bowl", "yellow bowl"],
                "farthest",
            ),
            (
                "the block farthest from the robot goes in the green bowl",
                "let b = farthest(\"green bowl\", blocks());\npick(b);\nplace_in(\"green bowl\");",
                vec!["green bowl"],
                "from the robot",
            ),
            (
                "put the block nearest to me in the green bowl",
                "let b = closest(\"green bowl\", blocks());\npick(b);\nplace_in(\"green bowl\");",
                vec!["green bowl"],
                "from the robot",
            ),
        ];
        for (i, p, n, why) in bad {
            let got = mismatch(i, p, &named(&n), &objs());
            assert!(
                got.as_deref().is_some_and(|g| g.contains(why)),
                "{i}: {got:?}"
            );
        }
    }
}
