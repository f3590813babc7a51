//! Tests of the LoRA pass: the fresh adapter is the base model, merging
//! matches the adapted forward, gradients match finite differences; and a
//! by-hand timing on the real model.

mod gradients {
    use super::super::*;

    fn tiny() -> LlamaConfig {
        LlamaConfig {
            n_layer: 3,
            d_model: 16,
            n_head: 4,
            n_kv_head: 2,
            head_dim: 4,
            d_ff: 24,
            vocab: 23,
            rope_base: 10_000.0,
            eps: 1e-5,
        }
    }

    #[test]
    fn a_fresh_adapter_is_the_base_model_and_merging_matches_the_adapted_forward() {
        let model = Llama::random(tiny(), 1);
        let tokens = [3u32, 7, 1, 19, 4, 4, 11];
        let targets: Vec<Option<u32>> = (0..tokens.len())
            .map(|i| tokens.get(i + 1).copied())
            .collect();
        let cfg = LoraConfig {
            rank: 2,
            alpha: 4.0,
            first_layer: 1,
        };
        let mut lora = Lora::new(&model.cfg, cfg, 2);
        // Base model loss through the plain forward.
        let plain = |m: &Llama| -> f32 {
            let mut cache = m.new_cache();
            let logits = m
                .forward_tree(
                    &mut cache,
                    &tokens,
                    &(0..tokens.len())
                        .map(|i| i.checked_sub(1))
                        .collect::<Vec<_>>(),
                    &(0..tokens.len() - 1).collect::<Vec<_>>(),
                    0,
                )
                .unwrap();
            (0..tokens.len() - 1)
                .map(|i| {
                    -crate::lang::llama::log_prob(&logits[i * 23..(i + 1) * 23], tokens[i + 1])
                })
                .sum()
        };
        let x0 = frozen_hidden(&model, &tokens, 1);
        let fresh = loss_and_grads(&model, &lora, &x0, &targets, 1.0, None);
        assert!(
            (fresh - plain(&model)).abs() < 1e-3,
            "{fresh} vs {}",
            plain(&model)
        );
        // Non-zero B: the merged model's plain forward equals the adapted one.
        let mut rng = ganglion_sim::Rng::new(5);
        for v in lora.params.iter_mut() {
            *v += rng.uniform(-0.2, 0.2);
        }
        let adapted = loss_and_grads(&model, &lora, &x0, &targets, 1.0, None);
        let mut merged = model.clone();
        lora.merge_into(&mut merged);
        assert!(
            (adapted - plain(&merged)).abs() < 1e-3,
            "{adapted} vs {}",
            plain(&merged)
        );
        assert!((adapted - fresh).abs() > 1e-3);
    }

    #[test]
    fn adapter_gradients_match_finite_differences() {
        let model = Llama::random(tiny(), 3);
        let tokens = [5u32, 2, 9, 14, 0, 21];
        let targets = [None, Some(9), Some(14), None, Some(21), Some(3)];
        let cfg = LoraConfig {
            rank: 2,
            alpha: 2.0,
            first_layer: 1,
        };
        let mut lora = Lora::new(&model.cfg, cfg, 4);
        let mut rng = ganglion_sim::Rng::new(6);
        for v in lora.params.iter_mut() {
            *v += rng.uniform(-0.3, 0.3);
        }
        let x0 = frozen_hidden(&model, &tokens, 1);
        let mut grads = vec![0f32; lora.params.len()];
        loss_and_grads(&model, &lora, &x0, &targets, 1.0, Some(&mut grads));
        let n = lora.params.len();
        let big = grads.iter().filter(|g| g.abs() > 0.05).count();
        assert!(big > n / 4, "only {big} of {n} gradients are not tiny");
        let mut worst = 0.0f32;
        let mut checked = 0;
        for k in (0..n).step_by((n / 60).max(1)) {
            let h = 1e-2f32;
            let keep = lora.params[k];
            lora.params[k] = keep + h;
            let up = loss_and_grads(&model, &lora, &x0, &targets, 1.0, None) as f64;
            lora.params[k] = keep - h;
            let down = loss_and_grads(&model, &lora, &x0, &targets, 1.0, None) as f64;
            lora.params[k] = keep;
            let fd = ((up - down) / (2.0 * h as f64)) as f32;
            let err = (fd - grads[k]).abs() / (fd.abs() + grads[k].abs()).max(1e-2);
            worst = worst.max(err);
            assert!(
                err < 0.05,
                "param {k}: analytic {} vs numeric {fd}",
                grads[k]
            );
            checked += 1;
        }
        assert!(worst < 0.05 && checked >= 50);
    }
}

mod timing {
    use super::super::*;

    /// The cost of one training example on the real model (run by hand:
    /// `cargo test --lib coder::lora::timing -- --ignored --nocapture`).
    #[test]
    #[ignore = "needs models/lm (ganglion models fetch); prints timings"]
    fn one_example_on_smollm2() {
        let dir = crate::lang::fetch::default_dir();
        let path = dir.join(crate::lang::fetch::SMOLLM2_GGUF);
        let (model, _) = Llama::load(&path).unwrap();
        let c = model.cfg;
        println!("{c:?}");
        let tokens: Vec<u32> = (0..60).map(|i| (i * 37 % 1000) as u32 + 100).collect();
        let targets: Vec<Option<u32>> = (0..60)
            .map(|i| (i >= 20).then_some(tokens[(i + 1) % 60]))
            .collect();
        for first in [22, 26] {
            let cfg = LoraConfig {
                rank: 8,
                alpha: 16.0,
                first_layer: first,
            };
            let lora = Lora::new(&c, cfg, 1);
            let t0 = std::time::Instant::now();
            let x0 = frozen_hidden(&model, &tokens, first);
            let t1 = t0.elapsed();
            let mut g = vec![0f32; lora.params.len()];
            let t2 = std::time::Instant::now();
            let loss = loss_and_grads(&model, &lora, &x0, &targets, 1.0 / 40.0, Some(&mut g));
            println!(
                "first_layer {first}: {} adapter params, frozen {:.3} s, train step {:.3} s, loss {loss:.1}",
                lora.params.len(),
                t1.as_secs_f64(),
                t2.elapsed().as_secs_f64()
            );
        }
    }
}
