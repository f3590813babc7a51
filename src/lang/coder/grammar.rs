//! The constraint the coder decodes under: a program may only grow into
//! one that names API functions, the sandbox's standard functions, rhai's
//! keywords and its own variables, and whose strings are the scene's
//! objects, their colours, the `" block"`/`" bowl"` suffixes or a corner
//! name; brackets must match; and it may only end where it parses and
//! passes the sandbox's check. Decoding takes the most likely token that
//! keeps the text a valid prefix (`allows_prefix`), so a held-out word can
//! no longer become a function the API lacks or an object the scene lacks.

use ganglion_sim::SceneSpec;

use crate::program::api::API;
use crate::program::check::{ALLOWED, Names};

/// rhai keywords a program may use.
const KEYWORDS: [&str; 12] = [
    "let", "const", "for", "in", "if", "else", "while", "loop", "break", "continue", "true",
    "false",
];

/// Words a corner name is made of (`corner("front left")`).
const CORNER_WORDS: [&str; 8] = [
    "front", "back", "left", "right", "top", "bottom", "far", "near",
];

/// What a program for one scene may say.
pub struct ProgramGrammar {
    /// Functions and keywords.
    names: Vec<String>,
    /// Whole string literals (besides corner names).
    strings: Vec<String>,
}

impl ProgramGrammar {
    pub fn for_scene(scene: &SceneSpec) -> ProgramGrammar {
        let mut names: Vec<String> = API.iter().map(|a| a.name.to_string()).collect();
        names.extend(ALLOWED.iter().map(|s| s.to_string()));
        names.extend(KEYWORDS.iter().map(|s| s.to_string()));
        let objects = Names::of(scene);
        let mut strings: Vec<String> = objects.blocks.into_iter().chain(objects.bowls).collect();
        strings.extend(scene.blocks.iter().chain(&scene.bowls).cloned());
        strings.extend([" block".to_string(), " bowl".to_string()]);
        ProgramGrammar { names, strings }
    }

    /// Whether `text` can still grow into an acceptable program.
    pub fn allows_prefix(&self, text: &str) -> bool {
        self.scan(text).is_some()
    }

    /// Whether `text` is lexically complete: no open string, bracket or
    /// half-written name (the sandbox's check decides the rest).
    pub fn allows_end(&self, text: &str) -> bool {
        self.scan(text).is_some_and(|open| !open)
    }

    /// Walks `text`; `None` if it breaks the constraint, else whether
    /// something (a string, a bracket) is left open.
    fn scan(&self, text: &str) -> Option<bool> {
        let chars: Vec<char> = text.chars().collect();
        let mut declared: Vec<String> = Vec::new();
        let mut brackets: Vec<char> = Vec::new();
        // The previous identifier, if it was `let`/`const`/`for`: the next
        // one is a new variable.
        let mut declaring = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '"' {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && chars[j] != '"' {
                    if chars[j] == '\\' || chars[j] == '\n' {
                        return None;
                    }
                    j += 1;
                }
                let body: String = chars[start..j].iter().collect();
                if j == chars.len() {
                    return self.string_prefix_ok(&body).then_some(true);
                }
                if !self.string_ok(&body) {
                    return None;
                }
                i = j + 1;
                declaring = false;
            } else if c.is_ascii_alphabetic() || c == '_' {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let complete = i < chars.len();
                if declaring {
                    if complete {
                        declared.push(word.clone());
                    }
                } else {
                    let known = self.names.iter().chain(&declared);
                    let ok = if complete {
                        self.names.contains(&word) || declared.contains(&word)
                    } else {
                        known.into_iter().any(|n| n.starts_with(&word))
                    };
                    if !ok {
                        return None;
                    }
                }
                declaring = matches!(word.as_str(), "let" | "const" | "for");
                if !complete {
                    return Some(true);
                }
            } else if c.is_ascii_digit() {
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
            } else if "([{".contains(c) {
                brackets.push(c);
                i += 1;
            } else if ")]}".contains(c) {
                let open = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if brackets.pop() != Some(open) {
                    return None;
                }
                i += 1;
            } else if c == '/' && chars.get(i + 1).is_some_and(|n| *n == '/' || *n == '*') {
                // No comments: nothing the program says may hide from the check.
                return None;
            } else if " \n\t;,.+-*/<>=!&|%".contains(c) {
                i += 1;
            } else {
                return None;
            }
        }
        Some(!brackets.is_empty())
    }

    fn string_ok(&self, s: &str) -> bool {
        self.strings.iter().any(|x| x == s) || corner_name(s, true)
    }

    fn string_prefix_ok(&self, s: &str) -> bool {
        self.strings.iter().any(|x| x.starts_with(s)) || corner_name(s, false)
    }
}

/// Whether `s` is (or, unless `whole`, can grow into) a corner name: words
/// of `CORNER_WORDS` joined by a space or a hyphen.
fn corner_name(s: &str, whole: bool) -> bool {
    let words: Vec<&str> = s.split([' ', '-']).collect();
    let last = words.len() - 1;
    words.iter().enumerate().all(|(k, w)| {
        if k == last && !whole {
            CORNER_WORDS.iter().any(|c| c.starts_with(w))
        } else {
            CORNER_WORDS.contains(w)
        }
    }) && (!whole || words.len() == 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g() -> ProgramGrammar {
        ProgramGrammar::for_scene(&SceneSpec::parse("blocks=red,green; bowls=blue").unwrap())
    }

    #[test]
    fn programs_the_coder_is_taught_are_allowed_at_every_prefix() {
        let g = g();
        let programs = [
            "let b = closest(\"blue bowl\", blocks());\npick(b);\nplace_in(\"blue bowl\");\n",
            "for b in blocks() {\n    let w = color(b) + \" bowl\";\n    if bowls().contains(w) {\n        pick(b);\n        place_in(w);\n    }\n}\n",
            "pick(\"red block\");\nplace_at(offset(\"green block\", -0.08, 0.0));\n",
            "pick(\"red block\");\nplace_at(corner(\"far left\"));\n",
        ];
        for p in programs {
            for (k, _) in p.char_indices() {
                assert!(g.allows_prefix(&p[..k]), "{:?}", &p[..k]);
            }
            assert!(g.allows_end(p), "{p}");
        }
    }

    #[test]
    fn unknown_names_objects_and_unclosed_programs_are_not() {
        let g = g();
        for bad in [
            "far left(blocks())",
            "pick(\"yellow block\")",
            "pick(\"red block\"));",
            "eval(\"1\")",
            "import \"x\"",
            "pick(\"red\\n block\")",
            "// pick(\"x\")",
            "place_at(corner(\"front middle\"))",
            "let f = `x`;",
        ] {
            assert!(!g.allows_prefix(bad), "{bad}");
        }
        assert!(g.allows_prefix("pick(\"re"));
        assert!(!g.allows_end("pick(\"red block\""));
        assert!(!g.allows_end("pick(\"red block\";"));
        assert!(g.allows_end("let x = blocks();\npick(x[0]);"));
    }
}
