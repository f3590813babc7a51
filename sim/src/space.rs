//! Observation and action spaces described by value, so trainers, evaluators and
//! the runtime work with any environment without per-env code.

/// A space of values an environment consumes or produces.
#[derive(Clone, Debug, PartialEq)]
pub enum Space {
    /// One of `n` choices. Carried in a single `f32` slot holding the index
    /// (0.0, 1.0, ...), so that every action is a `&[f32]`.
    Discrete { n: usize },
    /// A box of `low.len()` real values with per-dimension bounds (may be infinite).
    Box { low: Vec<f32>, high: Vec<f32> },
}

impl Space {
    /// A box with the same bounds in every dimension.
    pub fn uniform_box(dim: usize, low: f32, high: f32) -> Self {
        Space::Box {
            low: vec![low; dim],
            high: vec![high; dim],
        }
    }

    /// Number of `f32` slots a value of this space takes.
    pub fn flat_dim(&self) -> usize {
        match self {
            Space::Discrete { .. } => 1,
            Space::Box { low, .. } => low.len(),
        }
    }

    /// Size of a policy head for this space: logits for discrete, means for a box.
    pub fn head_dim(&self) -> usize {
        match self {
            Space::Discrete { n } => *n,
            Space::Box { low, .. } => low.len(),
        }
    }

    pub fn is_discrete(&self) -> bool {
        matches!(self, Space::Discrete { .. })
    }

    /// Whether `value` is a member of the space (right length, in bounds,
    /// integral index for discrete).
    pub fn contains(&self, value: &[f32]) -> bool {
        match self {
            Space::Discrete { n } => {
                value.len() == 1
                    && value[0].fract() == 0.0
                    && value[0] >= 0.0
                    && (value[0] as usize) < *n
            }
            Space::Box { low, high } => {
                value.len() == low.len()
                    && value
                        .iter()
                        .zip(low.iter().zip(high))
                        .all(|(v, (l, h))| *v >= *l && *v <= *h)
            }
        }
    }

    /// A short human description, e.g. `Discrete(2)` or `Box(4)`.
    pub fn describe(&self) -> String {
        match self {
            Space::Discrete { n } => format!("Discrete({n})"),
            Space::Box { low, .. } => format!("Box({})", low.len()),
        }
    }
}

/// Everything a trainer or runner needs to know about an environment.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvSpec {
    /// Registry name, e.g. `cartpole`.
    pub name: String,
    pub observation: Space,
    pub action: Space,
    /// Episodes are truncated after this many steps.
    pub max_episode_steps: usize,
    /// Simulated seconds per `step`.
    pub control_period: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership() {
        let d = Space::Discrete { n: 2 };
        assert!(d.contains(&[0.0]) && d.contains(&[1.0]));
        assert!(!d.contains(&[2.0]) && !d.contains(&[0.5]) && !d.contains(&[-1.0]));
        assert!(!d.contains(&[f32::NAN]));
        let b = Space::uniform_box(2, -1.0, 1.0);
        assert!(b.contains(&[0.0, 1.0]));
        assert!(!b.contains(&[0.0, 1.5]) && !b.contains(&[0.0]));
        assert!(!b.contains(&[f32::NAN, 0.0]));
        assert_eq!(d.head_dim(), 2);
        assert_eq!(b.flat_dim(), 2);
    }
}
