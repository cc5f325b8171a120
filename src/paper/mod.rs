//! Reproducing the paper's artefacts (Li et al. 2024, arXiv 2402.10962): everything that exists
//! only so that personas taken from the paper's `hundred_system_prompts.py` score answers as
//! the paper did.
//!
//! - [`import`]: the persona-file importer (`drift-script personas import`), which reads the
//!   Python file without running it and translates each lambda to a Rhai check;
//! - [`helpers`]: the paper's helper functions (`paper_*`), quirks included, and [`WordSet`],
//!   the word lists those helpers read;
//! - [`register`]: their Rhai names, registered next to the project's metrics for persona checks
//!   and scripts.
//!
//! This module owns the paper's definitions; the scorers they rest on (NLTK's tokenizer and
//! tagger, VADER, langdetect, Python's string primitives and lexer) are the project's own, in
//! [`crate::metrics`]. `paper` depends on `metrics` (and the importer on `persona`, whose
//! library it writes and loads); `metrics` must never import `paper`.

pub mod helpers;
pub mod import;
mod register;

pub use self::helpers::WordSet;
pub use self::register::register;
