//! langdetect 1.0.9 (the Python port of Cybozu's language-detection), reproduced: the paper's
//! language detector, which its helpers `get_french_percentage` and `is_probably_language` call
//! as `detect_langs(text)`, and the project's (see [`super`]).
//!
//! The algorithm is small and is written here from its definition: the text is cleaned (URLs and
//! e-mail addresses removed, Vietnamese letters with combining marks composed, runs of spaces
//! collapsed, Latin letters dropped from mostly non-Latin text), each character is normalized
//! (punctuation and digits to a space, kana and hangul to one representative, CJK ideographs to
//! their class), and the 1-, 2- and 3-character grams the 55 language profiles know are
//! collected. Then 7 trials each start from equal probabilities and multiply in the
//! probabilities of randomly chosen grams (smoothed by `alpha`, itself jittered by a Gaussian),
//! normalizing every 5 steps and stopping once one language exceeds 0.99999 or after 1,000
//! steps; the answer is the average over trials, languages above 0.1, most probable first.
//!
//! What makes the numbers the same as langdetect's:
//! - **the data**: the 55 profiles and the normalization tables (`messages.properties`) are
//!   langdetect's own files, taken from its package on PyPI (`langdetect==1.0.9`, checked by
//!   sha256) the first time a detection needs them, and cached under
//!   `$DRIFT_SCRIPT_HOME/langdetect-1.0.9/` — the same channel as the default model;
//!   `DRIFT_SCRIPT_LANGDETECT=DIR` points at a langdetect package folder instead;
//! - **the random draws**: langdetect uses Python's `random.Random` (Mersenne Twister), seeded
//!   before every detection. [`PyRandom`] reproduces `seed`, `random`, `gauss` and the
//!   `choice` index draw bit for bit. The paper left the seed unset (each run drew its own);
//!   we always use seed 0 (`DetectorFactory.seed = 0`), so a rerun gives the same scores. On
//!   clearly written text every seed gives the same answer to ~1e-5; on mixed text the paper's
//!   own runs varied from run to run, and ours equal one of its possible outcomes;
//! - **the arithmetic**: the same f64 operations in the same order (Python ≤ 3.11 `sum`, a
//!   plain left-to-right sum; languages in file-name order, where langdetect takes the
//!   directory's listing order — a difference in the last bits of a sum at most).
//!
//! `tests/metrics.rs` compares our probabilities with those printed by langdetect itself
//! (`tests/langdetect_reference.py`).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, OnceLock};

use regex::Regex;

/// The langdetect release whose data and behaviour we reproduce.
const PACKAGE: &str = "langdetect==1.0.9";
const ARCHIVE_SHA256: &str = "cbc1fef89f8d062739774bd51eda3da3274006b3661d199c2655f6b3f6d605a0";
/// The package folder inside the source archive.
const ARCHIVE_PACKAGE_DIR: &str = "langdetect-1.0.9/langdetect";
const CACHE_NAME: &str = "langdetect-1.0.9";
/// The seed we give every detection (`DetectorFactory.seed`).
pub const SEED: u32 = 0;

const ALPHA_DEFAULT: f64 = 0.5;
const ALPHA_WIDTH: f64 = 0.05;
const ITERATION_LIMIT: usize = 1000;
const PROB_THRESHOLD: f64 = 0.1;
const CONV_THRESHOLD: f64 = 0.99999;
const BASE_FREQ: f64 = 10000.0;
const N_TRIAL: usize = 7;
const MAX_TEXT_LENGTH: usize = 10000;

/// Why a detection could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LangDetectError {
    /// langdetect raises `LangDetectException("No features in text.")` here.
    #[error("no features in text (langdetect raises an exception here)")]
    NoFeatures,
    /// The profiles could not be fetched or read.
    #[error("langdetect data unavailable: {0}")]
    Data(String),
}

/// One detected language and its probability, as langdetect's `Language`.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectedLanguage {
    pub lang: String,
    pub prob: f64,
}

/// The loaded profiles and normalization tables.
pub struct LangDetect {
    languages: Vec<String>,
    /// For each gram, the languages that have it: (language index, frequency / grams of that
    /// length in the language). Languages without the gram contribute 0.
    grams: HashMap<String, Vec<(usize, f64)>>,
    latin1_excluded: Vec<char>,
    cjk_map: HashMap<char, char>,
    vi_bases: Vec<char>,
    vi_marks: Vec<char>,
    /// `vi_composed[mark][base]`.
    vi_composed: Vec<Vec<char>>,
}

/// The detector over the cached langdetect data, fetched on first use; an error names what
/// went wrong (no pip, no network, a corrupt file) and is returned again on every later call.
pub fn shared() -> Result<&'static LangDetect, LangDetectError> {
    static SHARED: OnceLock<Result<LangDetect, LangDetectError>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let dir = data_dir().map_err(LangDetectError::Data)?;
            LangDetect::load(&dir).map_err(LangDetectError::Data)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// `detect_langs(text)` with seed [`SEED`].
pub fn detect_langs(text: &str) -> Result<Vec<DetectedLanguage>, LangDetectError> {
    shared()?.detect_langs(text, SEED)
}

/// [`LangDetect::probabilities`] with seed [`SEED`]: every language with its probability, in
/// the profiles' order, none left out.
pub fn probabilities(text: &str) -> Result<Vec<DetectedLanguage>, LangDetectError> {
    let detector = shared()?;
    let probs = detector.probabilities(text, SEED)?;
    Ok(detector
        .languages()
        .iter()
        .zip(probs)
        .map(|(lang, prob)| DetectedLanguage {
            lang: lang.clone(),
            prob,
        })
        .collect())
}

/// The langdetect package folder (holding `profiles/` and `utils/messages.properties`):
/// `$DRIFT_SCRIPT_LANGDETECT`, else the cache, fetched with pip when absent.
pub fn data_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("DRIFT_SCRIPT_LANGDETECT").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = crate::fetch::home_dir();
    ensure_data(&home, &crate::fetch::pip_command()).map_err(|e| {
        format!(
            "the language detector needs langdetect's profiles: {}",
            crate::util::error_chain(&e)
        )
    })
}

/// `home/langdetect-1.0.9`, downloaded with `pip` if absent: langdetect's source archive is
/// checked against its sha256, and the profiles and `messages.properties` are extracted into a
/// staging folder that is renamed into place only when complete (a crash leaves no half
/// folder under the final name).
pub fn ensure_data(home: &Path, pip: &[String]) -> crate::fetch::Result<PathBuf> {
    use crate::fetch::FetchError;
    use crate::fetch::{StagingDir, pip_download, sha256_file};
    let target = home.join(CACHE_NAME);
    if target.join("profiles").is_dir() {
        return Ok(target);
    }
    std::fs::create_dir_all(home).map_err(|e| FetchError::io(home, e))?;
    let staging = StagingDir::new(home)?;
    crate::progress::eprintln(format_args!(
        "drift-script: downloading {PACKAGE} with pip (the language detector's data)"
    ));
    let archive = pip_download(
        pip,
        PACKAGE,
        staging.path(),
        ".tar.gz",
        "set DRIFT_SCRIPT_LANGDETECT to an installed langdetect package folder",
    )?;
    let actual = sha256_file(&archive)?;
    if actual != ARCHIVE_SHA256 {
        return Err(FetchError::HashMismatch {
            path: archive,
            expected: ARCHIVE_SHA256.into(),
            actual,
        });
    }
    let unpacked = staging.path().join(CACHE_NAME);
    let corrupt = |e: std::io::Error| {
        FetchError::Failed(format!("corrupt archive {}: {e}", archive.display()))
    };
    let file = std::fs::File::open(&archive).map_err(|e| FetchError::io(&archive, e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in tar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let path = entry.path().map_err(corrupt)?.into_owned();
        let Ok(inside) = path.strip_prefix(ARCHIVE_PACKAGE_DIR) else {
            continue;
        };
        let wanted = inside.starts_with("profiles") && entry.header().entry_type().is_file()
            || inside == Path::new("utils/messages.properties");
        if !wanted {
            continue;
        }
        let dest = unpacked.join(inside);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| FetchError::io(parent, e))?;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(corrupt)?;
        std::fs::write(&dest, bytes).map_err(|e| FetchError::io(&dest, e))?;
    }
    if !unpacked.join("profiles").is_dir() {
        return Err(FetchError::Failed(format!(
            "{} holds no {ARCHIVE_PACKAGE_DIR}/profiles",
            archive.display()
        )));
    }
    match std::fs::rename(&unpacked, &target) {
        Ok(()) => Ok(target),
        // Another process finished first: its copy is as good as ours.
        Err(_) if target.join("profiles").is_dir() => Ok(target),
        Err(e) => Err(FetchError::io(&target, e)),
    }
}

#[derive(serde::Deserialize)]
struct Profile {
    name: String,
    freq: HashMap<String, u64>,
    n_words: Vec<u64>,
}

impl LangDetect {
    /// Loads a langdetect package folder: `profiles/<lang>` (JSON) and
    /// `utils/messages.properties`.
    pub fn load(dir: &Path) -> Result<LangDetect, String> {
        let profiles_dir = dir.join("profiles");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&profiles_dir)
            .map_err(|e| format!("cannot read {}: {e}", profiles_dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        files.sort();
        if files.len() < 2 {
            return Err(format!(
                "{} has {} profiles; langdetect needs at least 2",
                profiles_dir.display(),
                files.len()
            ));
        }
        let mut languages = Vec::new();
        let mut grams: HashMap<String, Vec<(usize, f64)>> = HashMap::new();
        for (index, file) in files.iter().enumerate() {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let profile: Profile = serde_json::from_str(&text)
                .map_err(|e| format!("profile format error in {}: {e}", file.display()))?;
            if languages.contains(&profile.name) {
                return Err(format!(
                    "{}: a second profile for {}",
                    file.display(),
                    profile.name
                ));
            }
            languages.push(profile.name);
            for (gram, count) in profile.freq {
                let length = gram.chars().count();
                let entry = grams.entry(gram).or_default();
                if (1..=3).contains(&length) {
                    let total = *profile.n_words.get(length - 1).ok_or_else(|| {
                        format!(
                            "{}: n_words has no count for length {length}",
                            file.display()
                        )
                    })?;
                    entry.push((index, count as f64 / total as f64));
                }
            }
        }
        let properties_path = dir.join("utils").join("messages.properties");
        let properties = std::fs::read_to_string(&properties_path)
            .map_err(|e| format!("cannot read {}: {e}", properties_path.display()))?;
        let messages = parse_properties(&properties)
            .map_err(|e| format!("{}: {e}", properties_path.display()))?;
        let get = |key: &str| -> Result<Vec<char>, String> {
            messages
                .get(key)
                .map(|v| v.chars().collect())
                .ok_or_else(|| format!("{} has no {key}", properties_path.display()))
        };
        let mut cjk_map = HashMap::new();
        for (key, class) in &messages {
            if key.starts_with("NGram.KANJI_") {
                let mut chars = class.chars();
                if let Some(representative) = chars.next() {
                    cjk_map.insert(representative, representative);
                    for c in chars {
                        cjk_map.insert(c, representative);
                    }
                }
            }
        }
        let vi_composed = ["0300", "0301", "0303", "0309", "0323"]
            .iter()
            .map(|mark| get(&format!("NORMALIZED_VI_CHARS_{mark}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LangDetect {
            languages,
            grams,
            latin1_excluded: get("NGram.LATIN1_EXCLUDE")?,
            cjk_map,
            vi_bases: get("TO_NORMALIZE_VI_CHARS")?,
            vi_marks: get("DMARK_CLASS")?,
            vi_composed,
        })
    }

    /// The language codes, in index order.
    pub fn languages(&self) -> &[String] {
        &self.languages
    }

    /// The probability of every language, in the order of [`LangDetect::languages`]: the
    /// detector's `langprob` after `_detect_block` with `DetectorFactory.seed = seed`, before
    /// `get_probabilities` keeps those above 0.1.
    pub fn probabilities(&self, text: &str, seed: u32) -> Result<Vec<f64>, LangDetectError> {
        let text = self.cleaned(text);
        let grams = self.extract_grams(&text);
        if grams.is_empty() {
            return Err(LangDetectError::NoFeatures);
        }
        let n = self.languages.len();
        let mut lang_prob = vec![0.0f64; n];
        let mut random = PyRandom::new(seed);
        let mut factors = vec![0.0f64; n];
        for _ in 0..N_TRIAL {
            let mut prob = vec![1.0 / n as f64; n];
            let alpha = ALPHA_DEFAULT + random.gauss() * ALPHA_WIDTH;
            let weight = alpha / BASE_FREQ;
            let mut i = 0;
            loop {
                let gram = grams[random.below(grams.len())];
                factors.fill(weight);
                for &(lang, p) in gram {
                    factors[lang] = weight + p;
                }
                for (p, f) in prob.iter_mut().zip(&factors) {
                    *p *= f;
                }
                if i % 5 == 0 && (normalize(&mut prob) > CONV_THRESHOLD || i >= ITERATION_LIMIT) {
                    break;
                }
                i += 1;
            }
            for (total, p) in lang_prob.iter_mut().zip(&prob) {
                *total += p / N_TRIAL as f64;
            }
        }
        Ok(lang_prob)
    }

    /// langdetect's `detect_langs(text)` with `DetectorFactory.seed = seed`: languages above
    /// 0.1, most probable first.
    pub fn detect_langs(
        &self,
        text: &str,
        seed: u32,
    ) -> Result<Vec<DetectedLanguage>, LangDetectError> {
        let lang_prob = self.probabilities(text, seed)?;
        let mut result: Vec<DetectedLanguage> = self
            .languages
            .iter()
            .zip(&lang_prob)
            .filter(|&(_, &p)| p > PROB_THRESHOLD)
            .map(|(lang, &prob)| DetectedLanguage {
                lang: lang.clone(),
                prob,
            })
            .collect();
        // Python's `sort(reverse=True)` is stable: equal probabilities keep index order.
        result.sort_by(|a, b| b.prob.total_cmp(&a.prob));
        Ok(result)
    }

    /// `Detector.append` followed by `cleaning_text`.
    fn cleaned(&self, text: &str) -> Vec<char> {
        static URL: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"https?://[-_.?&~;+=/#0-9A-Za-z]{1,2076}").expect("valid regex")
        });
        static MAIL: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"[-_.0-9A-Za-z]{1,64}@[-_0-9A-Za-z]{1,255}[-_.0-9A-Za-z]{1,255}")
                .expect("valid regex")
        });
        let text = URL.replace_all(text, " ");
        let text = MAIL.replace_all(&text, " ");
        let text = self.compose_vietnamese(&text);
        let mut out = Vec::new();
        let mut previous = None;
        for ch in text.into_iter().take(MAX_TEXT_LENGTH) {
            if ch != ' ' || previous != Some(' ') {
                out.push(ch);
            }
            previous = Some(ch);
        }
        let mut latin = 0usize;
        let mut non_latin = 0usize;
        for &ch in &out {
            if ('A'..='z').contains(&ch) {
                latin += 1;
            } else if ch >= '\u{0300}' && !LATIN_EXTENDED_ADDITIONAL.contains(&ch) {
                non_latin += 1;
            }
        }
        if latin * 2 < non_latin {
            out.retain(|&ch| !('A'..='z').contains(&ch));
        }
        out
    }

    /// `NGram.normalize_vi`: a Vietnamese base letter followed by a combining mark becomes the
    /// precomposed letter.
    fn compose_vietnamese(&self, text: &str) -> Vec<char> {
        let chars: Vec<char> = text.chars().collect();
        let mut out = Vec::with_capacity(chars.len());
        let mut i = 0;
        while i < chars.len() {
            let base = self.vi_bases.iter().position(|&c| c == chars[i]);
            let mark = chars
                .get(i + 1)
                .and_then(|m| self.vi_marks.iter().position(|c| c == m));
            if let (Some(base), Some(mark)) = (base, mark)
                && let Some(&composed) = self.vi_composed.get(mark).and_then(|row| row.get(base))
            {
                out.push(composed);
                i += 2;
            } else {
                out.push(chars[i]);
                i += 1;
            }
        }
        out
    }

    /// `NGram.normalize` of one character.
    fn normalize(&self, ch: char) -> char {
        let c = ch as u32;
        match c {
            0x0000..=0x007F => {
                if ch.is_ascii_alphabetic() {
                    ch
                } else {
                    ' '
                }
            }
            0x0080..=0x00FF if self.latin1_excluded.contains(&ch) => ' ',
            // Romanian: comma below → cedilla.
            0x0180..=0x024F => match ch {
                '\u{0219}' => '\u{015f}',
                '\u{021b}' => '\u{0163}',
                _ => ch,
            },
            0x2000..=0x206F => ' ',
            0x0600..=0x06FF if ch == '\u{06cc}' => '\u{064a}',
            0x1E00..=0x1EFF if c >= 0x1EA0 => '\u{1ec3}',
            0x3040..=0x309F => '\u{3042}',
            0x30A0..=0x30FF => '\u{30a2}',
            0x3100..=0x312F | 0x31A0..=0x31BF => '\u{3105}',
            0x4E00..=0x9FFF => *self.cjk_map.get(&ch).unwrap_or(&ch),
            0xAC00..=0xD7AF => '\u{ac00}',
            _ => ch,
        }
    }

    /// `Detector._extract_ngrams`: the known grams of the text, in order, as references into
    /// the profile table.
    fn extract_grams(&self, text: &[char]) -> Vec<&[(usize, f64)]> {
        let mut result = Vec::new();
        let mut grams: Vec<char> = vec![' '];
        let mut capital_word = false;
        let mut key = String::new();
        for &raw in text {
            let ch = self.normalize(raw);
            let last = *grams.last().expect("never empty");
            if last == ' ' {
                grams.clear();
                grams.push(' ');
                capital_word = false;
                if ch == ' ' {
                    continue;
                }
            } else if grams.len() >= 3 {
                grams.remove(0);
            }
            grams.push(ch);
            if py_is_upper(ch) {
                if py_is_upper(last) {
                    capital_word = true;
                }
            } else {
                capital_word = false;
            }
            if capital_word {
                continue;
            }
            for n in 1..=3 {
                if grams.len() < n {
                    break;
                }
                let gram = &grams[grams.len() - n..];
                if gram == [' '] {
                    continue;
                }
                key.clear();
                key.extend(gram);
                if let Some(entry) = self.grams.get(key.as_str()) {
                    result.push(entry.as_slice());
                }
            }
        }
        result
    }
}

const LATIN_EXTENDED_ADDITIONAL: std::ops::RangeInclusive<char> = '\u{1E00}'..='\u{1EFF}';

/// Python's `str.isupper` for one character: it is cased and uppercase.
fn py_is_upper(ch: char) -> bool {
    ch.is_uppercase()
}

/// `Detector._normalize_prob`: divides by the (left-to-right) sum and returns the largest.
fn normalize(prob: &mut [f64]) -> f64 {
    let mut sum = 0.0;
    for p in prob.iter() {
        sum += p;
    }
    let mut max = 0.0;
    for p in prob.iter_mut() {
        *p /= sum;
        if max < *p {
            max = *p;
        }
    }
    max
}

/// A Java-style `.properties` file as langdetect's `Messages` reads it: `key=value` per line,
/// `\uXXXX` escapes decoded.
fn parse_properties(text: &str) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        let mut decoded = String::new();
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                decoded.push(c);
                continue;
            }
            match chars.next() {
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let code = u32::from_str_radix(&hex, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or_else(|| format!("line {}: bad escape \\u{hex}", number + 1))?;
                    decoded.push(code);
                }
                Some('\\') => decoded.push('\\'),
                Some(other) => {
                    return Err(format!("line {}: unknown escape \\{other}", number + 1));
                }
                None => return Err(format!("line {}: a lone \\ at the end", number + 1)),
            }
        }
        out.insert(key.to_string(), decoded);
    }
    Ok(out)
}

/// CPython's `random.Random` (MT19937), for the draws langdetect makes: `seed(int)`,
/// `random()`, `gauss(0, 1)` and `choice` (an index below `n` by rejection sampling on
/// `getrandbits`).
pub struct PyRandom {
    state: [u32; 624],
    index: usize,
    gauss_next: Option<f64>,
}

impl PyRandom {
    /// `random.Random(seed)` for a seed below 2³²: `init_by_array([seed])`.
    pub fn new(seed: u32) -> PyRandom {
        let mut r = PyRandom {
            state: [0; 624],
            index: 624,
            gauss_next: None,
        };
        r.init_genrand(19650218);
        let key = [seed];
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..624.max(key.len()) {
            let prev = r.state[i - 1] ^ (r.state[i - 1] >> 30);
            r.state[i] = (r.state[i] ^ prev.wrapping_mul(1664525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= 624 {
                r.state[0] = r.state[623];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..623 {
            let prev = r.state[i - 1] ^ (r.state[i - 1] >> 30);
            r.state[i] = (r.state[i] ^ prev.wrapping_mul(1566083941)).wrapping_sub(i as u32);
            i += 1;
            if i >= 624 {
                r.state[0] = r.state[623];
                i = 1;
            }
        }
        r.state[0] = 0x8000_0000;
        r
    }

    fn init_genrand(&mut self, seed: u32) {
        self.state[0] = seed;
        for i in 1..624 {
            let prev = self.state[i - 1] ^ (self.state[i - 1] >> 30);
            self.state[i] = 1812433253u32.wrapping_mul(prev).wrapping_add(i as u32);
        }
        self.index = 624;
    }

    fn next_u32(&mut self) -> u32 {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        if self.index >= 624 {
            for k in 0..624 {
                let y = (self.state[k] & UPPER) | (self.state[(k + 1) % 624] & LOWER);
                let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
                self.state[k] = self.state[(k + 397) % 624] ^ (y >> 1) ^ mag;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `random()`: 53 random bits in [0, 1).
    pub fn random(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67108864.0 + b) * (1.0 / 9007199254740992.0)
    }

    /// `gauss(0.0, 1.0)`: Box–Muller, the second value of each pair kept for the next call.
    pub fn gauss(&mut self) -> f64 {
        if let Some(z) = self.gauss_next.take() {
            return z;
        }
        let x2pi = self.random() * std::f64::consts::TAU;
        let g2rad = (-2.0 * (1.0 - self.random()).ln()).sqrt();
        self.gauss_next = Some(x2pi.sin() * g2rad);
        x2pi.cos() * g2rad
    }

    /// `_randbelow(n)` for 0 < n < 2³²: `getrandbits(n.bit_length())` until below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0 && n <= u32::MAX as usize, "below({n})");
        let bits = usize::BITS - n.leading_zeros();
        loop {
            let r = (self.next_u32() >> (32 - bits)) as usize;
            if r < n {
                return r;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `random.Random(0)` in CPython: gauss(0, 1), random(), getrandbits(5) printed by Python.
    #[test]
    fn python_random_sequence() {
        let mut r = PyRandom::new(0);
        assert_eq!(r.gauss(), 0.9417154046806644);
        assert_eq!(r.random(), 0.420571580830845);
        assert_eq!(r.below(31), 8);
    }

    /// A folder that is not a langdetect package names the file and the problem.
    #[test]
    fn bad_data_folders_are_named() {
        let dir = std::env::temp_dir().join(format!("drift-langdetect-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let err = LangDetect::load(&dir).err().unwrap();
        assert!(
            err.starts_with("cannot read") && err.contains("profiles"),
            "{err}"
        );
        let profiles = dir.join("profiles");
        std::fs::create_dir_all(&profiles).unwrap();
        std::fs::write(
            profiles.join("en"),
            r#"{"name": "en", "freq": {"a": 2}, "n_words": [2, 0, 0]}"#,
        )
        .unwrap();
        let err = LangDetect::load(&dir).err().unwrap();
        assert!(
            err.contains("has 1 profiles; langdetect needs at least 2"),
            "{err}"
        );
        std::fs::write(profiles.join("fr"), "{not json").unwrap();
        let err = LangDetect::load(&dir).err().unwrap();
        assert!(
            err.starts_with("profile format error in") && err.contains("fr"),
            "{err}"
        );
        std::fs::write(
            profiles.join("fr"),
            r#"{"name": "en", "freq": {}, "n_words": [1, 1, 1]}"#,
        )
        .unwrap();
        let err = LangDetect::load(&dir).err().unwrap();
        assert!(err.contains("a second profile for en"), "{err}");
        std::fs::write(
            profiles.join("fr"),
            r#"{"name": "fr", "freq": {}, "n_words": [1, 1, 1]}"#,
        )
        .unwrap();
        let err = LangDetect::load(&dir).err().unwrap();
        assert!(err.contains("messages.properties"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn properties_escapes() {
        let p = parse_properties("A=\\u00e9x\nB=\\u4F7C\\u6934\nC\n").unwrap();
        assert_eq!(p["A"], "éx");
        assert_eq!(p["B"], "\u{4F7C}\u{6934}");
        assert_eq!(p["C"], "");
        assert!(
            parse_properties("A=\\uZZZZ")
                .unwrap_err()
                .contains("line 1")
        );
        assert!(
            parse_properties("A=\\q")
                .unwrap_err()
                .contains("unknown escape")
        );
    }
}
