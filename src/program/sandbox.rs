//! The sandbox a program runs in: a rhai engine holding the standard
//! language package and the robot API and nothing else (rhai has no file,
//! process or network functions; modules, custom syntax and the clock are
//! compiled out), with `eval` and function pointers disabled and hard limits
//! on operations, call depth, expression depth, string, array and map sizes,
//! variables, functions, skill calls and interpreter time. `compile` parses
//! a program and checks its names (`check`) before anything can move.

use rhai::packages::{Package, StandardPackage};
use rhai::{AST, Engine};

use super::{ProgramStop, StopKind};

/// The sandbox's limits.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Limits {
    /// Interpreter operations (each expression, statement and call).
    pub max_operations: u64,
    /// Nested script-function calls.
    pub max_call_depth: usize,
    /// Nesting depth of expressions (parsing).
    pub max_expr_depth: usize,
    pub max_string_bytes: usize,
    pub max_array_len: usize,
    pub max_map_len: usize,
    pub max_variables: usize,
    pub max_functions: usize,
    /// Skills a program may run (a pick and a place are two).
    pub max_skill_calls: usize,
    /// Interpreter time, not counting the skills' own motion (s).
    pub max_seconds: f64,
    /// Live heap bytes the interpreter may hold (counted by the process's
    /// `CountingAlloc`; the size limits above bound each value as well).
    pub max_heap_bytes: usize,
    /// Program text.
    pub max_source_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // Programs over a tabletop of at most ten objects are tiny; these
        // are generous for them and far below what hurts the process.
        Limits {
            max_operations: 1_000_000,
            max_call_depth: 32,
            max_expr_depth: 64,
            max_string_bytes: 4096,
            max_array_len: 1024,
            max_map_len: 256,
            max_variables: 256,
            max_functions: 64,
            max_skill_calls: 40,
            max_seconds: 2.0,
            max_heap_bytes: 16 << 20,
            max_source_bytes: 16 * 1024,
        }
    }
}

/// Keywords a program may not use: `eval` would run text the name check
/// never saw; function pointers (`Fn`, `call`, `curry`) would call a
/// function by a computed name.
pub const DISABLED: &[&str] = &[
    "eval",
    "Fn",
    "call",
    "curry",
    "is_def_fn",
    "is_def_var",
    "is_shared",
    "import",
    "export",
    "debug",
];

/// A fresh engine with the limits set and the standard package loaded; the
/// robot API is registered on it by `api::register`.
pub fn engine(limits: &Limits) -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(StandardPackage::new().as_shared_module());
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_depth)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth / 2)
        .set_max_string_size(limits.max_string_bytes)
        .set_max_array_size(limits.max_array_len)
        .set_max_map_size(limits.max_map_len)
        .set_max_variables(limits.max_variables)
        .set_max_functions(limits.max_functions)
        .set_strict_variables(true);
    for sym in DISABLED {
        engine.disable_symbol(*sym);
    }
    engine
}

/// Parses `source`: its size, its syntax (strict variables: a name never
/// defined is a parse error), then the names it calls and the objects it
/// names (`check`).
pub fn compile(
    engine: &Engine,
    source: &str,
    limits: &Limits,
    names: &super::check::Names,
) -> Result<AST, ProgramStop> {
    if source.len() > limits.max_source_bytes {
        return Err(ProgramStop::new(
            StopKind::Parse,
            format!(
                "the program is {} bytes; at most {} are accepted",
                source.len(),
                limits.max_source_bytes
            ),
            None,
        ));
    }
    if let Some((line, c)) = source.lines().enumerate().find_map(|(i, l)| {
        l.chars()
            .find(|c| c.is_control() && *c != '\t')
            .map(|c| (i + 1, c))
    }) {
        return Err(ProgramStop::new(
            StopKind::Parse,
            format!("control character U+{:04X} in the program", c as u32),
            Some((line, 0)),
        ));
    }
    let ast = engine.compile(source).map_err(|e| {
        let pos = e.position();
        let what = e.err_type().to_string();
        // A disabled keyword often surfaces as some other parse error
        // (`f.curry(1)`: "expecting name of a property"); name it.
        let line_text = pos
            .line()
            .and_then(|l| source.lines().nth(l.saturating_sub(1)))
            .unwrap_or("");
        let words: Vec<&str> = line_text
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .collect();
        let reserved = DISABLED
            .iter()
            .find(|k| what.contains(&format!("'{k}'")) || words.contains(k));
        let message = match reserved {
            Some(k) => format!("`{k}` is not allowed in a program ({what})"),
            None => what,
        };
        ProgramStop::new(
            StopKind::Parse,
            message,
            pos.line().map(|l| (l, pos.position().unwrap_or(0))),
        )
    })?;
    super::check::check(&ast, names)?;
    Ok(ast)
}
