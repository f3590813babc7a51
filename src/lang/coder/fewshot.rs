//! The few-shot prompt, Code as Policies' way: the robot API in a few lines
//! and seven worked examples (one each of seven kinds, drawn from the dev
//! phrasings with a fixed seed), then the instruction. Two users: the base
//! model without adapters (`--coder-prompt few-shot`, to measure what the
//! teaching buys) and a bigger model behind an OpenAI-compatible completion
//! server (`--lm openai:URL`), where adapters cannot go.

use anyhow::Result;

use super::data::{self, Example};

/// The kinds the worked examples show, in order.
pub const KINDS_SHOWN: [&str; 7] = [
    "pick-place",
    "closest",
    "extreme",
    "between",
    "offset",
    "colour-match",
    "tower",
];

/// The seed the worked examples are drawn from.
const SEED: u64 = 20_221_104;

const HEADER: &str = "\
Write a short program (rhai) that makes a robot arm do the instruction.
Table frame: x away from the robot, y to its left, metres.
API: blocks(), bowls(), objects(), pos(obj), color(obj), held(),
distance(a, b), closest(target, list), farthest(target, list),
leftmost(list), rightmost(list), frontmost(list), backmost(list),
point(x, y), offset(obj, dx, dy), midpoint(a, b), corner(name),
pick(block), place_in(bowl), place_on(block), place_at(point), home().
Objects are named like \"red block\" and \"green bowl\".";

/// The worked examples (dev phrasings only).
pub fn examples() -> Result<Vec<Example>> {
    let phr = data::phrasings()?;
    KINDS_SHOWN
        .iter()
        .enumerate()
        .map(|(k, kind)| data::example(&phr.dev, kind, SEED + k as u64))
        .collect()
}

/// The prompt as plain text, ending where the program starts.
pub fn text(instruction: &str) -> Result<String> {
    let mut s = String::from(HEADER);
    s.push_str("\n\n");
    for ex in examples()? {
        s.push_str(&format!("# {}\n{}\n\n", ex.instruction, ex.program.trim()));
    }
    s.push_str(&format!("# {}\n", instruction.trim()));
    Ok(s)
}

/// The prompt as a chat turn for the local model (its examples inside the
/// user's message, the program as the assistant's answer).
pub fn chat(instruction: &str) -> Result<String> {
    Ok(format!(
        "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n",
        text(instruction)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_holds_seven_checked_examples_and_the_instruction() {
        let ex = examples().unwrap();
        assert_eq!(ex.len(), 7);
        for e in &ex {
            assert!(!e.program.trim().is_empty(), "{e:?}");
        }
        let t = text("put the red block in the blue bowl").unwrap();
        assert!(t.ends_with("# put the red block in the blue bowl\n"));
        assert_eq!(t.matches("\n# ").count(), 8);
        assert!(chat("x").unwrap().starts_with("<|im_start|>user\n"));
    }
}
