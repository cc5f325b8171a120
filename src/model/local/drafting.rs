//! Prompt-lookup drafting: one token guessed per decoding step from what followed the same two
//! tokens earlier in the context, verified in the same forward pass. It changes how many passes
//! an answer takes, never its text (ARCHITECTURE.md, invariants).

use std::sync::OnceLock;

/// How drafting has gone since the model was loaded.
#[derive(Debug, Default)]
pub(super) struct DraftCounters {
    pub(super) steps: std::sync::atomic::AtomicU64,
    pub(super) drafted: std::sync::atomic::AtomicU64,
    pub(super) kept: std::sync::atomic::AtomicU64,
}

/// Decoding steps, tokens drafted and drafted tokens kept, since the model was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DraftStats {
    pub steps: u64,
    pub drafted: u64,
    pub kept: u64,
}

/// Tokens drafted per step unless `DRIFT_SCRIPT_DRAFT_TOKENS` says otherwise (0 turns drafting
/// off, e.g. to time decoding without it).
pub(super) fn default_draft_tokens() -> usize {
    static SETTING: OnceLock<usize> = OnceLock::new();
    *SETTING.get_or_init(|| {
        let value = std::env::var("DRIFT_SCRIPT_DRAFT_TOKENS").ok();
        draft_tokens_setting(value.as_deref()).unwrap_or_else(|problem| {
            crate::progress::eprintln(format_args!("warning: {problem}"));
            DRAFT_TOKENS
        })
    })
}

/// The drafted tokens per step that `DRIFT_SCRIPT_DRAFT_TOKENS` (`value`) asks for.
fn draft_tokens_setting(value: Option<&str>) -> Result<usize, String> {
    match value {
        None => Ok(DRAFT_TOKENS),
        Some(v) => v.trim().parse().map_err(|_| {
            format!(
                "DRIFT_SCRIPT_DRAFT_TOKENS={v:?} is not a whole number of tokens (0 turns drafting off); drafting {DRAFT_TOKENS} a step"
            )
        }),
    }
}

/// One drafted token a step: on the benchmark episode (paired runs, PERFORMANCE.md) one made it
/// ~20% faster than none; two or three were slower than one — a second drafted row is kept only
/// about a quarter of the time, too rarely to pay for its arithmetic.
const DRAFT_TOKENS: usize = 1;

/// Prompt-lookup drafting: if the last two tokens of the context (`context` then `last`)
/// occurred earlier, the up to `limit` tokens that followed their latest earlier occurrence.
/// Chats repeat themselves (names, phrases, the other speaker's words), so the model often
/// samples exactly these; the drafted tokens are checked in the same forward pass as `last`
/// and kept only while each is what the sampler draws from the row before it, which is what
/// plain decoding would have drawn (a row's logits do not depend on the rows beside it, and the
/// sampler takes one uniform per token in order). So drafting changes the number of forward
/// passes, never the text.
pub(super) fn prompt_lookup_draft(context: &[u32], last: u32, limit: usize) -> &[u32] {
    let Some(&previous) = context.last() else {
        return &[];
    };
    if limit == 0 {
        return &[];
    }
    // The pair (previous, last) ends at context.len(); look for it ending earlier.
    (1..context.len().saturating_sub(1))
        .rev()
        .find(|&i| context[i] == last && context[i - 1] == previous)
        .map_or(&[], |i| {
            let after = &context[i + 1..];
            &after[..after.len().min(limit)]
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_tokens_setting_reads_numbers_and_names_bad_values() {
        assert_eq!(draft_tokens_setting(None), Ok(DRAFT_TOKENS));
        assert_eq!(draft_tokens_setting(Some("0")), Ok(0));
        assert_eq!(draft_tokens_setting(Some(" 2 ")), Ok(2));
        for bad in ["", "two", "-1", "1.5"] {
            let problem = draft_tokens_setting(Some(bad)).unwrap_err();
            assert!(
                problem.contains("DRIFT_SCRIPT_DRAFT_TOKENS")
                    && problem.contains(&format!("{bad:?}")),
                "{problem}"
            );
        }
    }
}
