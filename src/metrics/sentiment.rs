//! Sentiment: VADER (Hutto & Gilbert 2014), the scorer the paper uses through NLTK.
//!
//! The `vader_sentiment` crate is a port of the reference implementation with its lexicon and
//! emoji table embedded. Everything else in the project goes through [`sentiment`], so the
//! backend can be replaced without touching persona checks.

/// VADER scores of a text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sentiment {
    /// Share of the text's sentiment mass that is positive, in [0, 1].
    pub pos: f64,
    /// Share that is negative, in [0, 1].
    pub neg: f64,
    /// Share that is neutral, in [0, 1].
    pub neu: f64,
    /// Normalized sum of valences, in [−1, 1]; VADER's headline score.
    pub compound: f64,
}

/// VADER scores of `text`: `pos + neg + neu = 1` for any text with a word; all four are 0.0 for
/// empty or punctuation-only text (as NLTK returns them). Non-finite results (none are known)
/// would come back as 0.0.
pub fn sentiment(text: &str) -> Sentiment {
    if !text
        .chars()
        .any(|c| c.is_alphanumeric() || super::text::is_pictographic(c))
    {
        return Sentiment {
            pos: 0.0,
            neg: 0.0,
            neu: 0.0,
            compound: 0.0,
        };
    }
    let analyzer = vader_sentiment::SentimentIntensityAnalyzer::new();
    let scores = analyzer.polarity_scores(text);
    let get = |k: &str| {
        scores
            .get(k)
            .copied()
            .filter(|v| v.is_finite())
            .unwrap_or(0.0)
    };
    Sentiment {
        pos: get("pos"),
        neg: get("neg"),
        neu: get("neu"),
        compound: get("compound").clamp(-1.0, 1.0),
    }
}

/// `(compound + 1) / 2`: 1 for the most positive text, 0 for the most negative, 0.5 for neutral
/// or empty text.
pub fn positivity(text: &str) -> f64 {
    (sentiment(text).compound + 1.0) / 2.0
}

/// `(1 − compound) / 2`: 1 for the most negative text, 0 for the most positive, 0.5 for neutral
/// or empty text (the paper's score for the rude persona).
pub fn negativity(text: &str) -> f64 {
    (1.0 - sentiment(text).compound) / 2.0
}
