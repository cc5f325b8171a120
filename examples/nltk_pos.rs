//! Prints what our ports of NLTK's `sent_tokenize`, `word_tokenize` and `pos_tag` make of each
//! text of a JSON array, as one JSON array of `{sentences, tokens, tags}`, for
//! `tests/nltk_pos_reference.py --fuzz`, which compares them with NLTK's own code on random
//! texts.
//!
//!     cargo run --release --example nltk_pos -- TEXTS.json
use drift_script::metrics::pos::{self, tokenize};

fn main() -> anyhow::Result<()> {
    let Some(path) = std::env::args().nth(1) else {
        anyhow::bail!("usage: nltk_pos TEXTS.json");
    };
    let texts: Vec<String> = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let data = pos::shared().map_err(anyhow::Error::msg)?;
    let out: Vec<serde_json::Value> = texts
        .iter()
        .map(|text| {
            let sentences = tokenize::sent_tokenize(text, &data.punkt);
            let tokens = tokenize::word_tokenize(text, &data.punkt);
            let tags: Vec<String> = data.tagger.tags(&tokens);
            serde_json::json!({"sentences": sentences, "tokens": tokens, "tags": tags})
        })
        .collect();
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}
