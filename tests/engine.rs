//! The local engine on the real default model: the prefix cache and batching never change
//! results, and sampling is reproducible from the seed.

use drift_script::model::local::kv_cache::KvPrecision;
use drift_script::model::{ChatModel, LocalModel, LocalOptions, Message, SamplingOptions};

fn model(kv_precision: KvPrecision) -> LocalModel {
    model_with(LocalOptions {
        kv_precision,
        ..LocalOptions::default()
    })
}

fn model_with(options: LocalOptions) -> LocalModel {
    let path = drift_script::fetch::default_model_path(&mut |m| eprintln!("{m}")).unwrap();
    LocalModel::load_gguf(&path, &options).unwrap()
}

fn conversation() -> Vec<Message> {
    vec![
        Message::system("You are a pirate. Always answer like a pirate would."),
        Message::user("What do you think about space exploration?"),
    ]
}

fn opts(seed: u64, max_tokens: usize) -> SamplingOptions {
    SamplingOptions {
        seed,
        max_tokens,
        ..SamplingOptions::default()
    }
}

/// A prompt that extends an earlier one reuses its state and gets bit-identical logits, for
/// prefixes ending inside a block, on a block boundary, and including generated tokens.
#[test]
fn cached_and_uncached_logits_are_identical() {
    for precision in [KvPrecision::F32, KvPrecision::F16] {
        let m = model(precision);
        let mut messages = conversation();
        messages.push(Message::assistant(
            "Arr, the stars be a fine sea to sail, matey!",
        ));
        messages.push(Message::user(
            "Would you sail to Mars if you could? Why or why not?",
        ));
        let prompt = m.tokenize_chat(&messages).unwrap().ids;
        assert!(
            prompt.len() > 40,
            "the prompt spans more than one cache block"
        );
        let uncached = m.prompt_logits(&prompt, false).unwrap();
        for prefix_len in [1, 17, 32, 33, prompt.len() - 1] {
            m.clear_cache();
            m.prompt_logits(&prompt[..prefix_len], true).unwrap();
            let cached = m.prompt_logits(&prompt, true).unwrap();
            assert!(
                cached == uncached,
                "{precision:?}: prefix of {prefix_len} tokens changed the logits"
            );
        }
        // The whole prompt is cached: only its last token is recomputed.
        let again = m.prompt_logits(&prompt, true).unwrap();
        assert!(
            again == uncached,
            "{precision:?}: a fully cached prompt changed the logits"
        );

        // Keys and values computed while decoding are reused by the next turn's prompt.
        m.clear_cache();
        let answer = &m.generate(&prompt, 1, &opts(3, 24)).unwrap()[0];
        let mut next = prompt.clone();
        next.extend(&answer.tokens);
        next.extend(m.tokenizer().encode("\nTell me more.", false).unwrap().ids);
        let from_cache = m.prompt_logits(&next, true).unwrap();
        let from_scratch = m.prompt_logits(&next, false).unwrap();
        assert!(
            from_cache == from_scratch,
            "{precision:?}: decode-time keys and values differ"
        );
    }
}

#[test]
fn the_next_turn_reuses_the_conversation_so_far() {
    let m = model(KvPrecision::F16);
    let mut messages = conversation();
    let first = m.chat(&messages, 1, &opts(1, 32)).unwrap().remove(0);
    assert_eq!(first.cached_prompt_tokens, 0);
    messages.push(Message::assistant(first.text.clone()));
    messages.push(Message::user("And what about the ocean?"));
    let second = m.chat(&messages, 1, &opts(1, 8)).unwrap().remove(0);
    // Everything up to the end of the first reply comes from the cache (the reply is
    // re-tokenized from its text, so allow the last few tokens to differ).
    let first_turn_tokens = first.prompt_tokens + first.tokens.len();
    assert!(
        second.cached_prompt_tokens + 4 >= first_turn_tokens,
        "only {} of {} tokens of the first turn were reused",
        second.cached_prompt_tokens,
        first_turn_tokens
    );
}

#[test]
fn same_seed_same_text_across_calls_and_instances() {
    let a = model(KvPrecision::F16);
    let first = a.chat(&conversation(), 1, &opts(7, 40)).unwrap();
    let again = a.chat(&conversation(), 1, &opts(7, 40)).unwrap();
    let fresh = model(KvPrecision::F16)
        .chat(&conversation(), 1, &opts(7, 40))
        .unwrap();
    assert_eq!(
        first[0].text, again[0].text,
        "the cached prompt changed the answer"
    );
    assert_eq!(
        first[0].text, fresh[0].text,
        "a new process gave another answer"
    );
    assert!(!first[0].text.is_empty());
    let other = a.chat(&conversation(), 1, &opts(8, 40)).unwrap();
    assert_ne!(
        first[0].text, other[0].text,
        "another seed gave the same answer"
    );
}

/// Answers sampled together equal the answers sampled alone: answer i uses stream i of the seed
/// and batching does not change any row's arithmetic.
#[test]
fn batched_samples_equal_single_samples() {
    let m = model(KvPrecision::F16);
    let together = m.chat(&conversation(), 4, &opts(11, 30)).unwrap();
    assert_eq!(together.len(), 4);
    let alone = m.chat(&conversation(), 1, &opts(11, 30)).unwrap();
    assert_eq!(together[0].text, alone[0].text);
    assert_eq!(together[0].tokens, alone[0].tokens);
    let distinct: std::collections::HashSet<_> = together.iter().map(|g| &g.text).collect();
    assert!(
        distinct.len() > 1,
        "four samples at temperature 1 were all identical"
    );
}

#[test]
fn stop_strings_and_token_limits_end_answers() {
    let m = model(KvPrecision::F16);
    let limited = m.chat(&conversation(), 1, &opts(5, 5)).unwrap().remove(0);
    assert_eq!(limited.tokens.len(), 5);
    assert_eq!(
        limited.finish_reason,
        drift_script::model::FinishReason::Length
    );
    let full = m.chat(&conversation(), 1, &opts(5, 60)).unwrap().remove(0);
    let word = full
        .text
        .split_whitespace()
        .nth(3)
        .expect("a few words")
        .to_string();
    let stopped = m
        .chat(
            &conversation(),
            1,
            &SamplingOptions {
                stop: vec![word.clone()],
                ..opts(5, 60)
            },
        )
        .unwrap()
        .remove(0);
    assert!(
        !stopped.text.contains(&word),
        "{:?} still contains the stop string {word:?}",
        stopped.text
    );
    assert!(full.text.starts_with(&stopped.text));
    assert_eq!(
        stopped.finish_reason,
        drift_script::model::FinishReason::Stop
    );
}

#[test]
fn bad_requests_are_clear_errors() {
    let m = model(KvPrecision::F16);
    let err = m.generate(&[], 1, &SamplingOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), "the prompt is empty");
    let err = m
        .generate(&[70_000], 1, &SamplingOptions::default())
        .unwrap_err();
    assert_eq!(err.to_string(), "token id 70000 is outside the vocabulary");
    let long = vec![1u32; 9000];
    let err = m
        .generate(&long, 1, &SamplingOptions::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the prompt has 9000 tokens but the model's context holds 8192"
    );
    let err = m
        .chat(
            &conversation(),
            1,
            &SamplingOptions {
                top_p: 1.5,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "top_p must be in (0, 1], got 1.5");
}

/// Several prompts sampled together give what separate calls give.
#[test]
fn a_batch_of_prompts_equals_separate_calls() {
    let m = model(KvPrecision::F16);
    let cat = vec![
        Message::system("You are a cat. Answer like a cat."),
        Message::user("What is your favourite food?"),
    ];
    let batch = vec![(conversation(), 4u64), (cat.clone(), 9u64)];
    let together = m.chat_batch(&batch, 2, &opts(0, 24)).unwrap();
    let alone_pirate = m.chat(&conversation(), 2, &opts(4, 24)).unwrap();
    let alone_cat = m.chat(&cat, 2, &opts(9, 24)).unwrap();
    let texts = |g: &[drift_script::model::Generation]| {
        g.iter().map(|a| a.text.clone()).collect::<Vec<_>>()
    };
    assert_eq!(texts(&together[0]), texts(&alone_pirate));
    assert_eq!(texts(&together[1]), texts(&alone_cat));
    assert_ne!(texts(&together[0]), texts(&together[1]));
}

/// Answers submitted and collected later, in any order, while other calls run, equal answers
/// drawn alone: unfinished answers are decoded as rows of whatever step comes next.
#[test]
fn submitted_answers_ride_along_and_equal_separate_calls() {
    use drift_script::model::local::engine::Request;
    let m = model(KvPrecision::F16);
    let cat = m
        .tokenize_chat(&[
            Message::system("You are a cat."),
            Message::user("What do you eat?"),
        ])
        .unwrap()
        .ids;
    let pirate = m.tokenize_chat(&conversation()).unwrap().ids;
    let tickets = m
        .submit(
            &[Request {
                prompt: &cat,
                seed: 21,
                ..Request::default()
            }],
            2,
            &opts(0, 20),
        )
        .unwrap();
    // A chat call in between decodes the submitted answers alongside its own.
    let middle = m.generate(&pirate, 1, &opts(22, 30)).unwrap();
    let late = m
        .submit(
            &[Request {
                prompt: &pirate,
                seed: 23,
                ..Request::default()
            }],
            1,
            &opts(0, 10),
        )
        .unwrap();
    let late_answers = m.wait(late[0]).unwrap();
    let cat_answers = m.wait(tickets[0]).unwrap();
    assert!(m.wait(tickets[0]).is_err(), "a ticket is collected once");
    let texts = |g: &[drift_script::model::Generation]| {
        g.iter().map(|a| a.text.clone()).collect::<Vec<_>>()
    };
    assert_eq!(
        texts(&cat_answers),
        texts(&m.generate(&cat, 2, &opts(21, 20)).unwrap())
    );
    assert_eq!(
        texts(&middle),
        texts(&m.generate(&pirate, 1, &opts(22, 30)).unwrap())
    );
    assert_eq!(
        texts(&late_answers),
        texts(&m.generate(&pirate, 1, &opts(23, 10)).unwrap())
    );
}

/// Prompt-lookup drafting changes how many forward passes an answer takes, never the answer:
/// the same tokens and finish reasons with drafting off and on (4 tokens a step, so drafts are
/// often cut short), for sampled and greedy answers, several answers per prompt, answers that
/// end on a stop string or a token limit in the middle of a draft, and answers that ride
/// along with another call. And drafting did happen: fewer steps than tokens.
#[test]
fn drafting_never_changes_answers() {
    use drift_script::model::local::engine::Request;
    let load = |draft_tokens| {
        model_with(LocalOptions {
            draft_tokens,
            ..LocalOptions::default()
        })
    };
    let (plain, drafting) = (load(0), load(4));
    let echo = vec![
        Message::system("You repeat what you are told, word for word, three times."),
        Message::user("The quick brown fox jumps over the lazy dog, and the lazy dog sleeps."),
    ];
    let cases: Vec<(Vec<Message>, SamplingOptions)> = vec![
        (echo.clone(), opts(1, 120)),
        (
            echo.clone(),
            SamplingOptions {
                temperature: 0.0,
                ..opts(0, 120)
            },
        ),
        (conversation(), opts(2, 90)),
        (
            echo.clone(),
            SamplingOptions {
                stop: vec!["lazy dog".into()],
                ..opts(3, 120)
            },
        ),
        (echo.clone(), opts(4, 7)),
    ];
    let run = |m: &LocalModel| {
        let mut out = Vec::new();
        for (messages, o) in &cases {
            let prompt = m.tokenize_chat(messages).unwrap().ids;
            for g in m.generate(&prompt, 2, o).unwrap() {
                out.push((g.tokens, g.text, g.finish_reason));
            }
        }
        // A submitted answer decoding alongside a later call.
        let echo_ids = m.tokenize_chat(&echo).unwrap().ids;
        let ticket = m
            .submit(
                &[Request {
                    prompt: &echo_ids,
                    seed: 5,
                    ..Request::default()
                }],
                2,
                &opts(0, 80),
            )
            .unwrap();
        let pirate = m.tokenize_chat(&conversation()).unwrap().ids;
        for g in m
            .generate(&pirate, 1, &opts(6, 60))
            .unwrap()
            .into_iter()
            .chain(m.wait(ticket[0]).unwrap())
        {
            out.push((g.tokens, g.text, g.finish_reason));
        }
        out
    };
    let expected = run(&plain);
    let got = run(&drafting);
    assert_eq!(got.len(), expected.len());
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "answer {i} changed with drafting");
    }
    let stats = drafting.draft_stats();
    assert_eq!(plain.draft_stats().drafted, 0);
    assert!(
        stats.kept > 20,
        "drafting kept too few tokens to test anything: {stats:?}"
    );
    assert!(
        stats.kept < stats.drafted,
        "some drafts must be rejected: {stats:?}"
    );
}

/// Answers submitted in the background (the paper's probes) draft nothing while they ride
/// along with a call someone waits for — their drafted rows would cost arithmetic in steps that
/// happen anyway — and draft like any other once waited for. (The answers themselves never
/// change: `drafting_never_changes_answers` covers a riding answer.)
#[test]
fn answers_nobody_waits_for_draft_nothing_until_waited() {
    use drift_script::model::local::engine::Request;
    let m = model_with(LocalOptions {
        draft_tokens: 1,
        ..LocalOptions::default()
    });
    // Text that repeats itself, so that prompt lookup has drafts to offer.
    let echo = m
        .tokenize_chat(&[
            Message::system("You repeat what you are told, word for word, three times."),
            Message::user("The quick brown fox jumps over the lazy dog, and the lazy dog sleeps."),
        ])
        .unwrap()
        .ids;
    let background = m
        .submit(
            &[Request {
                prompt: &echo,
                seed: 5,
                ..Request::default()
            }],
            2,
            &SamplingOptions {
                temperature: 0.0,
                ..opts(0, 150)
            },
        )
        .unwrap();
    let before = m.draft_stats();
    // The waited-for call reads attention out, so it drafts nothing itself: any drafting
    // during it would be the background answers'.
    let pirate = m.tokenize_chat(&conversation()).unwrap().ids;
    let readout = SamplingOptions {
        intervention: drift_script::model::options::Intervention {
            attention: drift_script::model::options::Readout::Pi,
            ..Default::default()
        },
        ..opts(6, 40)
    };
    m.generate(&pirate, 1, &readout).unwrap();
    let during = m.draft_stats();
    assert!(during.steps - before.steps >= 30, "{before:?} → {during:?}");
    assert_eq!(
        during.drafted, before.drafted,
        "background answers drafted: {before:?} → {during:?}"
    );
    let echoed = m.wait(background[0]).unwrap();
    assert!(echoed.iter().all(|g| g.tokens.len() > 60), "{echoed:?}");
    let after = m.draft_stats();
    assert!(
        after.kept - during.kept > 10,
        "waited for, they draft again: {during:?} → {after:?}"
    );
}
