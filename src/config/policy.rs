//! `[policy]`: the model file, its kind and model card (loaded, checked
//! against the file's sha256 and the kind), a Decision Transformer's
//! target return, and the chunked-execution keys (`chunking`).

use std::path::{Path, PathBuf};

use super::reader::{Item, Reporter, Table};
use super::types::*;
use crate::input::{FileError, FileKind, check_file, read_text};
use crate::policy::card::{CARD_FORMAT, ModelCard, card_path};

/// Reads a model card the way `ModelCard::load_for` does, from any path
/// (`beside`: the default card next to the model, not one named in the file).
fn load_card(path: &Path, beside: bool) -> Result<ModelCard, String> {
    let text = read_text(path, FileKind::Card).map_err(|e| {
        let hint = if beside {
            "; every model needs one beside it"
        } else {
            ""
        };
        match e {
            FileError::NotFound { .. } => format!("{e}{hint}"),
            e => e.to_string(),
        }
    })?;
    let card: ModelCard = toml::from_str(&text).map_err(|e| {
        let msg = e.message().trim().replace('\n', "; ");
        format!("model card {} is invalid: {msg}", path.display())
    })?;
    if card.format != CARD_FORMAT {
        return Err(format!(
            "model card {}: format is `{}`, expected `{CARD_FORMAT}`",
            path.display(),
            card.format
        ));
    }
    card.check_sizes()
        .map_err(|e| format!("model card {}: {e}", path.display()))?;
    Ok(card)
}

/// A path value, resolved against the config file's directory.
pub(crate) fn path_value(rep: &mut Reporter, item: &Item<'_>, base: &Path) -> Option<PathBuf> {
    let s = item.str(rep)?;
    if s.is_empty() {
        item.report(rep, "must not be empty");
        return None;
    }
    Some(base.join(s))
}

/// `safety.fallback`: a model (an mlp-kind ONNX file with its card beside
/// it) whose card has the policy's observation and action shapes.
pub(crate) fn fallback(
    rep: &mut Reporter,
    item: &Item<'_>,
    base: &Path,
    policy_card: Option<&ModelCard>,
) -> Option<PathBuf> {
    let path = path_value(rep, item, base)?;
    if let Err(e) = check_file(&path, FileKind::Model) {
        item.report(rep, e.to_string());
        return None;
    }
    let card = match load_card(&card_path(&path), true) {
        Ok(c) => c,
        Err(msg) => {
            item.report(rep, msg);
            return None;
        }
    };
    if card.kind != "mlp" {
        item.report(
            rep,
            format!(
                "a fallback controller must be an mlp-kind model, its card says `{}`",
                card.kind
            ),
        );
        return None;
    }
    if let Some(main) = policy_card
        && (main.obs_dim != card.obs_dim || main.action != card.action)
    {
        item.report(
            rep,
            format!(
                "the fallback's card has obs_dim {} and action {:?}; the policy's has obs_dim {} and action {:?}",
                card.obs_dim, card.action, main.obs_dim, main.action
            ),
        );
        return None;
    }
    Some(path)
}

pub(crate) fn policy(
    rep: &mut Reporter,
    t: &Table<'_>,
    base: &Path,
) -> (Option<PolicyConfig>, Option<ModelCard>) {
    let mut keys = vec!["path", "kind", "card", "target_return"];
    keys.extend(super::chunking::KEYS);
    t.check_keys(rep, &keys);
    let chunking = super::chunking::parse(rep, t);
    let path_item = t.require(rep, "path");
    let path = path_item.as_ref().and_then(|i| {
        let p = path_value(rep, i, base)?;
        if let Err(e) = check_file(&p, FileKind::Model) {
            i.report(rep, e.to_string());
            return None;
        }
        Some(p)
    });
    let kind_item = t.require(rep, "kind");
    let kind = kind_item.as_ref().and_then(|i| {
        let kinds = [
            ("mlp", PolicyKind::Mlp),
            ("decision-transformer", PolicyKind::DecisionTransformer),
        ];
        i.one_of(rep, &kinds)
    });
    // The card: given explicitly, or beside the model (then only looked for
    // when the model itself was found, not to report the same thing twice).
    let beside = !t.has("card");
    let (card_file, card_item) = match t.get("card") {
        Some(i) => (path_value(rep, &i, base), Some(i)),
        None => (path.as_deref().map(card_path), path_item.clone()),
    };
    let card = match (&card_file, &card_item) {
        (Some(file), Some(item)) => match load_card(file, beside) {
            Ok(card) => Some(card),
            Err(msg) => {
                item.report(rep, msg);
                None
            }
        },
        _ => None,
    };
    if let (Some(card), Some(kind), Some(item)) = (&card, kind, &kind_item) {
        let name = match kind {
            PolicyKind::Mlp => "mlp",
            PolicyKind::DecisionTransformer => "decision-transformer",
        };
        if card.kind != name {
            let msg = format!(
                "policy kind is `{name}` but the model card says `{}`",
                card.kind
            );
            item.report(rep, msg);
        }
    }
    // The model must be the file its card describes (a swapped model is
    // caught here, before anything runs it).
    if let (Some(card), Some(path), Some(item)) = (&card, &path, &path_item)
        && rep.verify_model
    {
        match crate::input::read_file(path, FileKind::Model) {
            Ok(bytes) => {
                let actual = crate::input::sha256_hex(&bytes);
                if actual != card.sha256 {
                    let msg = format!(
                        "policy file {} has sha256 {actual} but its model card says {} (the \
                         model was replaced or the card is stale; `ganglion run \
                         --allow-unverified` runs it anyway)",
                        path.display(),
                        if card.sha256.is_empty() {
                            "nothing"
                        } else {
                            &card.sha256
                        }
                    );
                    item.report(rep, msg);
                }
            }
            Err(e) => item.report(rep, e.to_string()),
        }
    }
    // A Decision Transformer is conditioned on the return it should achieve,
    // within the range its dataset held.
    let target_item = t.get("target_return");
    let target_return = match (&target_item, kind) {
        (Some(i), _) => match i.number(rep) {
            Some(v) => match card.as_ref().and_then(|c| c.dt.as_ref()) {
                Some(dt) => match dt.check_target(v as f32) {
                    Ok(()) => Some(v as f32),
                    Err(e) => {
                        i.report(rep, e);
                        None
                    }
                },
                None if v.is_finite() && (v as f32).is_finite() => Some(v as f32),
                None => {
                    i.report(rep, "must be a finite number");
                    None
                }
            },
            None => None,
        },
        (None, Some(PolicyKind::DecisionTransformer)) => {
            if let Some(item) = &kind_item {
                item.report(
                    rep,
                    "a decision-transformer policy needs `target_return` (the return to condition on)",
                );
            }
            None
        }
        (None, _) => None,
    };
    // A chunk model's card declares the whole chunk; the rest of the config
    // (the action mapping) sees one tick's action.
    let card = match (card, &chunking) {
        (Some(c), Some(ch)) => super::chunking::per_tick(rep, t, ch, c),
        (c, _) => c,
    };
    let config = match (path, kind, card_file) {
        (Some(path), Some(kind), Some(card)) => Some(PolicyConfig {
            path,
            kind,
            card,
            target_return,
            chunking,
        }),
        _ => None,
    };
    (config, card)
}
