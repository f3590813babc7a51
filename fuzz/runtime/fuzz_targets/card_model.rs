//! Fuzz target: a model card and an ONNX file. The first two bytes give the
//! card's length; the card is parsed and size-checked as `ModelCard::load_for`
//! does, and the rest of the input is loaded as the policy it describes (an
//! MLP actor or a Decision Transformer). Errors are fine; a panic that
//! escapes, a hang or an allocation the card's sizes did not bound is not.

#![no_main]

use ganglion::policy::{DtPolicy, ModelCard, OnnxPolicy, Policy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let n = u16::from_le_bytes([data[0], data[1]]) as usize;
    let rest = &data[2..];
    let (card_bytes, model) = rest.split_at(n.min(rest.len()));
    let Ok(text) = std::str::from_utf8(card_bytes) else {
        return;
    };
    let Ok(card) = toml::from_str::<ModelCard>(text) else {
        return;
    };
    if card.check_sizes().is_err() {
        return;
    }
    let mut policy: Box<dyn Policy> = if card.dt.is_some() {
        let path = std::path::Path::new("fuzz.onnx");
        // The DT loader reads a file; the bytes go through a temp file.
        let dir = std::env::temp_dir().join(format!("ganglion-fuzz-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(path);
        if std::fs::write(&file, model).is_err() {
            return;
        }
        match DtPolicy::load(&file, &card, None) {
            Ok(p) => Box::new(p),
            Err(_) => return,
        }
    } else {
        match OnnxPolicy::from_bytes(model, card.obs_dim, card.action.clone()) {
            Ok(p) => Box::new(p),
            Err(_) => return,
        }
    };
    let obs = vec![0.5f32; card.obs_dim];
    let mut action = vec![0.0f32; card.action.action_dim()];
    let _ = policy.act(&obs, &mut action);
});
