//! The residual-stream read-out and residual edits (steering, ablation, capping) on the real
//! default model: read from the generating passes, equal to a teacher-forced read of the same
//! conversation, edits that follow their formulas, identities that hold bit for bit, and bad
//! options refused by name.

use drift_script::model::options::{
    ActivationReadout, Positions, Reduce, ResidualEdit, ResidualOp,
};
use drift_script::model::{
    ChatModel, Generation, Intervention, LocalModel, LocalOptions, Message, SamplingOptions,
};

fn model() -> LocalModel {
    let path = drift_script::fetch::default_model_path(&mut |m| eprintln!("{m}")).unwrap();
    LocalModel::load_gguf(&path, &LocalOptions::default()).unwrap()
}

fn conversation() -> Vec<Message> {
    vec![
        Message::system("You are a cheerful assistant who loves astronomy."),
        Message::user("Tell me one fact about the Moon."),
    ]
}

fn opts(intervention: Intervention, max_tokens: usize) -> SamplingOptions {
    SamplingOptions {
        seed: 5,
        max_tokens,
        intervention,
        ..SamplingOptions::default()
    }
}

fn read(layers: &[usize], reduce: Reduce) -> Intervention {
    Intervention {
        activations: Some(ActivationReadout {
            layers: layers.to_vec(),
            reduce,
        }),
        ..Default::default()
    }
}

fn one(m: &LocalModel, intervention: Intervention, max_tokens: usize) -> Generation {
    m.chat(&conversation(), 1, &opts(intervention, max_tokens))
        .unwrap()
        .remove(0)
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum()
}

fn unit(v: &[f32]) -> Vec<f32> {
    let n = dot(v, v).sqrt();
    v.iter().map(|&x| (f64::from(x) / n) as f32).collect()
}

/// A direction that is not special to the model: fixed pseudo-random values.
fn direction(hidden: usize, salt: u32) -> Vec<f32> {
    (0..hidden as u32)
        .map(|i| {
            let h = i
                .wrapping_mul(2_654_435_761)
                .wrapping_add(salt.wrapping_mul(40_503));
            ((h >> 8) % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

#[test]
fn the_read_out_changes_no_text_and_equals_a_teacher_forced_read() {
    let m = model();
    let plain = one(&m, Intervention::default(), 48);
    assert!(
        plain.activations.is_none(),
        "nothing is read when not asked"
    );
    let layers = [3, 15, 29];
    let g = one(&m, read(&layers, Reduce::Mean), 48);
    assert_eq!(g.text, plain.text, "reading changes nothing");
    let trace = g.activations.expect("asked for");
    assert_eq!(trace.layers, layers);
    assert_eq!(trace.vectors.len(), 3);
    assert!(trace.vectors.iter().all(|v| v.len() == 576));
    // The rows read are the answer's own tokens that were fed back.
    let ended_by_stop = g.finish_reason == drift_script::model::FinishReason::Stop;
    let expected_rows = if ended_by_stop {
        g.tokens.len()
    } else {
        g.tokens.len() - 1
    };
    assert_eq!(trace.tokens, expected_rows);

    // The same conversation read after the fact: the assistant message's content tokens.
    let mut messages = conversation();
    messages.push(Message::assistant(g.text.clone()));
    let forced = m.message_activations(&messages, &layers, &[]).unwrap();
    assert_eq!(forced.len(), 3);
    let answer = forced[2].as_ref().expect("the answer has content tokens");
    if ended_by_stop {
        for (l, (ours, theirs)) in trace.vectors.iter().zip(answer).enumerate() {
            let worst = ours
                .iter()
                .zip(theirs)
                .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
                .fold(0f32, f32::max);
            // Rows computed one at a time or in one pass give the same bits (ARCHITECTURE.md);
            // the tolerance only covers a re-tokenization of the answer text that differs.
            assert!(worst < 1e-3, "layer {}: differs by {worst}", layers[l]);
        }
    }
    // Last-row reduction reads one row: a different vector from the mean.
    let last = one(&m, read(&layers, Reduce::Last), 48)
        .activations
        .unwrap();
    assert_ne!(last.vectors[0], trace.vectors[0]);
    // Messages without content tokens have no vectors.
    let mut with_empty = conversation();
    with_empty.push(Message::assistant(""));
    assert!(m.message_activations(&with_empty, &[0], &[]).unwrap()[2].is_none());
}

/// Residual read-outs and all-position edits are per-row functions, so their answers draft
/// (ARCHITECTURE.md): drafting must change neither the text nor the vectors.
#[test]
fn drafting_changes_neither_text_nor_activations() {
    let path = drift_script::fetch::default_model_path(&mut |m| eprintln!("{m}")).unwrap();
    let load = |draft_tokens| {
        LocalModel::load_gguf(
            &path,
            &LocalOptions {
                draft_tokens,
                ..LocalOptions::default()
            },
        )
        .unwrap()
    };
    let (plain, drafting) = (load(0), load(4));
    let v = direction(576, 9);
    let intervention = Intervention {
        steer: vec![edit(
            8,
            ResidualOp::Add {
                vector: v,
                coefficient: -1.5,
            },
        )],
        ..read(&[8, 20], Reduce::Mean)
    };
    // A conversation that repeats itself, so that prompt lookup finds drafts.
    let messages = vec![
        Message::system("You repeat what you are told, word for word, three times."),
        Message::user("The quick brown fox jumps over the lazy dog, and the lazy dog sleeps."),
    ];
    let o = SamplingOptions {
        temperature: 0.0,
        ..opts(intervention, 120)
    };
    let a = plain.chat(&messages, 1, &o).unwrap().remove(0);
    let b = drafting.chat(&messages, 1, &o).unwrap().remove(0);
    assert_eq!(a.text, b.text);
    assert_eq!(
        a.activations.unwrap().vectors,
        b.activations.unwrap().vectors
    );
    let stats = drafting.draft_stats();
    assert!(stats.drafted > 0, "the steered answer drafted: {stats:?}");
}

fn edit(layer: usize, op: ResidualOp) -> ResidualEdit {
    ResidualEdit {
        layer,
        positions: Positions::All,
        op,
    }
}

#[test]
fn identities_hold_bit_for_bit() {
    let m = model();
    let layers = [10, 20];
    let plain = one(&m, read(&layers, Reduce::Mean), 40);
    let v = direction(576, 1);
    let zero_add = Intervention {
        steer: vec![edit(
            10,
            ResidualOp::Add {
                vector: v.clone(),
                coefficient: 0.0,
            },
        )],
        ..read(&layers, Reduce::Mean)
    };
    let g = one(&m, zero_add, 40);
    assert_eq!(g.text, plain.text);
    assert_eq!(
        g.activations.unwrap().vectors,
        plain.activations.clone().unwrap().vectors
    );
    let high_cap = Intervention {
        steer: vec![edit(
            10,
            ResidualOp::Cap {
                vector: v.clone(),
                threshold: 1e6,
            },
        )],
        ..read(&layers, Reduce::Mean)
    };
    let g = one(&m, high_cap, 40);
    assert_eq!(
        g.text, plain.text,
        "a cap above every projection changes nothing"
    );
    assert_eq!(
        g.activations.unwrap().vectors,
        plain.activations.unwrap().vectors
    );
}

#[test]
fn steering_capping_and_ablation_follow_their_formulas() {
    let m = model();
    let layer = 12;
    let mut messages = conversation();
    messages.push(Message::assistant(
        "The Moon is slowly drifting away from the Earth.",
    ));
    let v = direction(576, 7);
    let v_hat = unit(&v);
    let project = |edits: &[ResidualEdit]| {
        let read = m.message_activations(&messages, &[layer], edits).unwrap();
        read.iter()
            .map(|r| dot(&r.as_ref().unwrap()[0], &v_hat))
            .collect::<Vec<f64>>()
    };
    let before = project(&[]);
    // Addition moves every mean along v by c·|v| (all rows move by the same amount).
    let c = -2.0f32;
    let added = project(&[edit(
        layer,
        ResidualOp::Add {
            vector: v.clone(),
            coefficient: c,
        },
    )]);
    let norm = dot(&v, &v).sqrt();
    for (b, a) in before.iter().zip(&added) {
        assert!((a - (b + f64::from(c) * norm)).abs() < 1e-2, "{b} → {a}");
    }
    // Ablation with c = 0 removes the component: the projection is 0.
    let ablated = project(&[edit(
        layer,
        ResidualOp::Ablate {
            vector: v.clone(),
            coefficient: 0.0,
        },
    )]);
    assert!(ablated.iter().all(|p| p.abs() < 1e-3), "{ablated:?}");
    // Capping holds the projection at or below τ (every row, so every mean).
    let tau = before.iter().cloned().fold(f64::MAX, f64::min) - 0.5;
    let capped = project(&[edit(
        layer,
        ResidualOp::Cap {
            vector: v.clone(),
            threshold: tau as f32,
        },
    )]);
    assert!(
        capped.iter().all(|&p| p <= tau + 1e-4),
        "τ = {tau}: {capped:?}"
    );

    // Steering changes what the model says, and the read-out sees the edit.
    let plain = one(&m, read(&[layer], Reduce::Mean), 32);
    let steered = one(
        &m,
        Intervention {
            steer: vec![edit(
                layer,
                ResidualOp::Add {
                    vector: v.clone(),
                    coefficient: -8.0,
                },
            )],
            ..read(&[layer], Reduce::Mean)
        },
        32,
    );
    assert_ne!(steered.text, plain.text);
    let p = |g: &Generation| dot(&g.activations.as_ref().unwrap().vectors[0], &v_hat);
    assert!(p(&steered) < p(&plain), "{} vs {}", p(&steered), p(&plain));
}

#[test]
fn bad_options_are_refused_by_name() {
    let m = model();
    let err = |intervention: Intervention| {
        m.chat(&conversation(), 1, &opts(intervention, 4))
            .unwrap_err()
            .to_string()
    };
    let v = direction(576, 3);
    let e = err(read(&[30], Reduce::Mean));
    assert!(
        e.contains("activations: the model has layers 0 to 29, got layer 30"),
        "{e}"
    );
    let e = err(read(&[], Reduce::Mean));
    assert!(e.contains("give the layers"), "{e}");
    let e = err(Intervention {
        steer: vec![edit(
            3,
            ResidualOp::Add {
                vector: vec![1.0; 10],
                coefficient: 1.0,
            },
        )],
        ..Default::default()
    });
    assert!(
        e.contains("steer[0] (add): vector has 10 values but the model's hidden size is 576"),
        "{e}"
    );
    let e = err(Intervention {
        steer: vec![edit(
            3,
            ResidualOp::Cap {
                vector: v.clone(),
                threshold: f32::NAN,
            },
        )],
        ..Default::default()
    });
    assert!(
        e.contains("steer[0] (cap): threshold must be a finite number"),
        "{e}"
    );
    let e = err(Intervention {
        steer: vec![edit(
            40,
            ResidualOp::Cap {
                vector: v.clone(),
                threshold: 1.0,
            },
        )],
        ..Default::default()
    });
    assert!(e.contains("got layer 40"), "{e}");
    let e = err(Intervention {
        steer: vec![edit(
            1,
            ResidualOp::Ablate {
                vector: vec![0.0; 576],
                coefficient: 1.0,
            },
        )],
        ..Default::default()
    });
    assert!(e.contains("the vector is zero"), "{e}");
    let e = m
        .message_activations(&conversation(), &[99], &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("got layer 99"), "{e}");
}

/// On the shipped assistant axis of the default model (scripts/persona_space.rhai's full run):
/// steering with a negative coefficient lowers the projection on the axis and changes the
/// text; capping along the axis holds every projection at or below τ.
#[test]
fn steering_and_capping_on_the_shipped_assistant_axis() {
    let m = model();
    let file = drift_script::vectors::load_vectors(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("personas/smollm2-assistant-axis.safetensors"),
    )
    .unwrap();
    let layer = 18;
    let axis = file.vectors["axis_L18"].as_slice().to_vec();
    let a_hat = unit(&axis);
    let project = |g: &Generation| dot(&g.activations.as_ref().unwrap().vectors[0], &a_hat);
    let plain = one(&m, read(&[layer], Reduce::Mean), 40);
    let steered = one(
        &m,
        Intervention {
            steer: vec![edit(
                layer,
                ResidualOp::Add {
                    vector: a_hat.clone(),
                    coefficient: -6.0,
                },
            )],
            ..read(&[layer], Reduce::Mean)
        },
        40,
    );
    assert_ne!(steered.text, plain.text);
    assert!(
        project(&steered) < project(&plain) - 1.0,
        "{} vs {}",
        project(&steered),
        project(&plain)
    );
    // Cap well below the plain answer's projection: every row is held at τ or under.
    let tau = (project(&plain) - 3.0) as f32;
    let mut messages = conversation();
    messages.push(Message::assistant(plain.text.clone()));
    let capped = m
        .message_activations(
            &messages,
            &[layer],
            &[edit(
                layer,
                ResidualOp::Cap {
                    vector: axis.clone(),
                    threshold: tau,
                },
            )],
        )
        .unwrap();
    for per_message in capped.iter().flatten() {
        let p = dot(&per_message[0], &a_hat);
        assert!(p <= f64::from(tau) + 1e-4, "{p} > τ = {tau}");
    }
}
