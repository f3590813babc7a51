//! The few-shot prompt the LLM scorers complete: a SayCan-style dialogue
//! ("Human: <instruction>" / "Robot: 1. <skill>, 2. <skill>, ... done.") with
//! worked examples for each kind of task the planner meets (single
//! pick-and-place, paraphrases, several objects, stacking, "all the ...",
//! going home), then the current scene, instruction and the steps so far. A
//! candidate skill is scored as the text that comes next (` <skill>`).

/// Worked examples: (objects in the scene, instruction, plan).
const EXAMPLES: &[(&str, &str, &[&str])] = &[
    (
        "red block, blue block, green bowl, yellow bowl",
        "put the blue block in the yellow bowl",
        &[
            "pick up the blue block",
            "place it in the yellow bowl",
            "done",
        ],
    ),
    (
        "green block, yellow block, red bowl, blue bowl",
        "stack the yellow block on top of the green block",
        &[
            "pick up the yellow block",
            "place it on the green block",
            "done",
        ],
    ),
    (
        "red block, green block, blue block, blue bowl",
        "move the scarlet cube into the dish",
        &["pick up the red block", "place it in the blue bowl", "done"],
    ),
    (
        "blue block, yellow block, red block, green bowl, red bowl",
        "put all the blocks in the green bowl",
        &[
            "pick up the blue block",
            "place it in the green bowl",
            "pick up the yellow block",
            "place it in the green bowl",
            "pick up the red block",
            "place it in the green bowl",
            "done",
        ],
    ),
    (
        "yellow block, red block, blue bowl, yellow bowl",
        "drop the yellow one into the blue bowl and then go back home",
        &[
            "pick up the yellow block",
            "place it in the blue bowl",
            "go to home",
            "done",
        ],
    ),
];

const HEADER: &str = "A robot arm works at a table with blocks and bowls. It can pick up a block, \
place it in a bowl or on another block, go to home, and say done when the task is finished.\n";

fn plan_text(steps: &[&str]) -> String {
    let mut s = String::new();
    for (i, step) in steps.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&format!("{}. {step}", i + 1));
    }
    s.push('.');
    s
}

/// How the prompt lays out the plan so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// SayCan's: "Robot: 1. <skill>, 2. <skill>, 3." on one line.
    #[default]
    SayCan,
    /// One block per step: "Task: ...", "Done so far: ...", "Next step:".
    NextStep,
    /// The instruct model's chat turns (`<|im_start|>user ... assistant`),
    /// one question per step, the examples as earlier turns.
    Chat,
}

impl Style {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "saycan" => Some(Self::SayCan),
            "next-step" | "next" => Some(Self::NextStep),
            "chat" => Some(Self::Chat),
            _ => None,
        }
    }
}

/// The prompt up to where the next skill goes: examples, then `scene` (a
/// comma-separated object list, if known), the instruction, and `history`,
/// so that a candidate is scored as ` <skill>`.
pub fn build(scene: Option<&str>, instruction: &str, history: &[String]) -> String {
    build_styled(Style::default(), scene, instruction, history)
}

/// `build` in a given layout.
pub fn build_styled(
    style: Style,
    scene: Option<&str>,
    instruction: &str,
    history: &[String],
) -> String {
    match style {
        Style::SayCan => build_saycan(scene, instruction, history),
        Style::NextStep => build_next_step(scene, instruction, history),
        Style::Chat => build_chat(scene, instruction, history),
    }
}

fn build_saycan(scene: Option<&str>, instruction: &str, history: &[String]) -> String {
    let mut s = String::from(HEADER);
    for (objects, instr, plan) in EXAMPLES {
        s.push_str(&format!(
            "\nObjects: {objects}.\nHuman: {instr}\nRobot: {}\n",
            plan_text(plan)
        ));
    }
    s.push('\n');
    if let Some(scene) = scene {
        s.push_str(&format!(
            "Objects: {}.\n",
            scene.trim().trim_end_matches('.')
        ));
    }
    s.push_str(&format!("Human: {}\nRobot:", instruction.trim()));
    for (i, h) in history.iter().enumerate() {
        s.push_str(&format!(" {}. {},", i + 1, h.trim()));
    }
    s.push_str(&format!(" {}.", history.len() + 1));
    s
}

fn done_so_far(steps: &[impl AsRef<str>]) -> String {
    if steps.is_empty() {
        "nothing".into()
    } else {
        steps
            .iter()
            .map(|x| x.as_ref().trim())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn build_next_step(scene: Option<&str>, instruction: &str, history: &[String]) -> String {
    let mut s = String::from(HEADER);
    for (objects, instr, plan) in EXAMPLES {
        for k in 0..plan.len() {
            s.push_str(&format!(
                "\nObjects: {objects}.\nTask: {instr}.\nDone so far: {}.\nNext step: {}.\n",
                done_so_far(&plan[..k]),
                plan[k]
            ));
        }
    }
    s.push('\n');
    if let Some(scene) = scene {
        s.push_str(&format!(
            "Objects: {}.\n",
            scene.trim().trim_end_matches('.')
        ));
    }
    s.push_str(&format!(
        "Task: {}.\nDone so far: {}.\nNext step:",
        instruction.trim(),
        done_so_far(history)
    ));
    s
}

fn build_chat(scene: Option<&str>, instruction: &str, history: &[String]) -> String {
    let turn = |objects: &str, instr: &str, done: String| {
        format!(
            "<|im_start|>user\nObjects: {objects}.\nTask: {instr}.\nDone so far: {done}.\nWhat is the next step?<|im_end|>\n<|im_start|>assistant\nNext step:"
        )
    };
    let mut s = format!("<|im_start|>system\n{}<|im_end|>\n", HEADER.trim());
    for (objects, instr, plan) in EXAMPLES {
        for k in 0..plan.len() {
            s.push_str(&turn(objects, instr, done_so_far(&plan[..k])));
            s.push_str(&format!(" {}.<|im_end|>\n", plan[k]));
        }
    }
    s.push_str(&turn(
        scene.unwrap_or("unknown").trim().trim_end_matches('.'),
        instruction.trim(),
        done_so_far(history),
    ));
    s
}

/// The text a candidate is scored as, right after `build`'s prompt.
pub fn continuation(candidate: &str) -> String {
    format!(" {}", candidate.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_ends_at_the_next_step_number() {
        let p = build(
            Some("red block, green bowl"),
            "put the red block in the green bowl",
            &["pick up the red block".into()],
        );
        assert!(
            p.ends_with(
                "Human: put the red block in the green bowl\nRobot: 1. pick up the red block, 2."
            ),
            "{p}"
        );
        assert!(p.contains("Objects: red block, green bowl.\n"));
        let p0 = build(None, "go home", &[]);
        assert!(p0.ends_with("Human: go home\nRobot: 1."), "{p0}");
        assert_eq!(continuation(" done "), " done");
    }
}
