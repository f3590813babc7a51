//! The name check a program passes before it runs: every function it calls
//! is a robot API function, an allowed standard function or one it defines
//! itself; it redefines no API name; and every object it names in a string
//! literal handed to the API is in the scene and of the right kind. Together
//! with rhai's strict variables (an undefined variable is a parse error)
//! this is the program's grounding: a program that names something absent
//! is refused before anything moves.

use rhai::{AST, ASTNode, Expr, FnCallExpr, Position, Stmt};

use super::api::{API, Arg};
use super::{ProgramStop, StopKind};

/// Standard functions a program may call (rhai's standard package, minus
/// anything that reflects on the engine). Arithmetic and comparison
/// operators are not calls by name and need no entry.
pub const ALLOWED: &[&str] = &[
    "print",
    "len",
    "is_empty",
    "push",
    "pop",
    "shift",
    "insert",
    "remove",
    "clear",
    "contains",
    "index_of",
    "sort",
    "reverse",
    "append",
    "extract",
    "retain",
    "drain",
    "filter",
    "map",
    "reduce",
    "all",
    "some",
    "find",
    "dedup",
    "split",
    "truncate",
    "pad",
    "get",
    "set",
    "keys",
    "values",
    "abs",
    "sign",
    "sqrt",
    "exp",
    "ln",
    "log",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "hypot",
    "floor",
    "ceiling",
    "round",
    "int",
    "fraction",
    "to_int",
    "to_float",
    "to_string",
    "to_degrees",
    "to_radians",
    "min",
    "max",
    "PI",
    "E",
    "range",
    "trim",
    "to_lower",
    "to_upper",
    "starts_with",
    "ends_with",
    "sub_string",
    "chars",
    "is_odd",
    "is_even",
    "is_zero",
    "type_of",
    "parse_int",
    "parse_float",
];

/// What the check needs to know of the scene.
#[derive(Clone, Debug)]
pub struct Names {
    pub blocks: Vec<String>,
    pub bowls: Vec<String>,
}

impl Names {
    pub fn of(scene: &ganglion_sim::SceneSpec) -> Names {
        Names {
            blocks: scene.blocks.iter().map(|c| format!("{c} block")).collect(),
            bowls: scene.bowls.iter().map(|c| format!("{c} bowl")).collect(),
        }
    }

    fn objects(&self) -> String {
        let all: Vec<&str> = self
            .blocks
            .iter()
            .chain(&self.bowls)
            .map(String::as_str)
            .collect();
        if all.is_empty() {
            "none".into()
        } else {
            all.join(", ")
        }
    }

    /// Why `name` cannot be an argument of kind `arg`, if it cannot.
    pub fn problem(&self, name: &str, arg: Arg) -> Option<String> {
        let block = self.blocks.iter().any(|b| b == name);
        let bowl = self.bowls.iter().any(|b| b == name);
        if !block && !bowl {
            return Some(format!(
                "there is no `{name}` in the scene (objects: {})",
                self.objects()
            ));
        }
        match arg {
            Arg::Block if !block => Some(format!("`{name}` is a bowl; a block is needed here")),
            Arg::Bowl if !bowl => Some(format!("`{name}` is a block; a bowl is needed here")),
            _ => None,
        }
    }
}

fn at(pos: Position) -> Option<(usize, usize)> {
    pos.line().map(|l| (l, pos.position().unwrap_or(0)))
}

/// Checks `ast` against the API, the allowed functions and `names`.
pub fn check(ast: &AST, names: &Names) -> Result<(), ProgramStop> {
    let own: Vec<String> = ast.iter_functions().map(|f| f.name.to_string()).collect();
    if let Some(f) = own.iter().find(|f| API.iter().any(|a| a.name == *f)) {
        return Err(ProgramStop::new(
            StopKind::Refused,
            format!("the program defines `{f}`, a robot API function; choose another name"),
            None,
        ));
    }
    let mut problem: Option<ProgramStop> = None;
    let mut visit = |call: &FnCallExpr, pos: Position, method: bool| -> bool {
        let name = call.name.as_str();
        if call.op_token.is_some() || !name.starts_with(|c: char| c.is_alphabetic() || c == '_') {
            return true;
        }
        let api = API.iter().find(|a| a.name == name);
        if api.is_none() && !ALLOWED.contains(&name) && !own.iter().any(|f| f == name) {
            problem = Some(ProgramStop::new(
                StopKind::UnknownFunction,
                format!(
                    "`{name}` is not a function a program may call (the robot API: {}; see docs/programs.md)",
                    API.iter().map(|a| a.name).collect::<Vec<_>>().join(", ")
                ),
                at(pos),
            ));
            return false;
        }
        // A method call's receiver is outside `args`; its objects are
        // checked when it runs.
        if let (Some(api), false) = (api, method) {
            for (k, e) in call.args.iter().enumerate() {
                let (Expr::StringConstant(s, p), Some(arg)) = (e, api.args.get(k)) else {
                    continue;
                };
                if matches!(arg, Arg::Number | Arg::List | Arg::Text) {
                    continue;
                }
                if let Some(why) = names.problem(s.as_str(), *arg) {
                    problem = Some(ProgramStop::new(
                        StopKind::Refused,
                        format!("{name}(): {why}"),
                        at(*p),
                    ));
                    return false;
                }
            }
        }
        true
    };
    ast.walk(&mut |path: &[ASTNode]| {
        let Some(node) = path.last() else {
            return true;
        };
        match node {
            ASTNode::Stmt(Stmt::FnCall(call, pos)) => visit(call, *pos, false),
            ASTNode::Expr(Expr::FnCall(call, pos)) => visit(call, *pos, false),
            ASTNode::Expr(Expr::MethodCall(call, pos)) => visit(call, *pos, true),
            _ => true,
        }
    });
    match problem {
        Some(p) => Err(p),
        None => Ok(()),
    }
}
