//! Lambda bodies to Rhai checks.
//!
//! Every Python expression becomes a Rhai expression and a type, so that Python's semantics
//! survive the trip: `/` is always a float division, `in` is substring or membership by the
//! right-hand side's type, `x.split()` is Python's split (`py_split`), a helper of the paper's
//! file becomes the `paper_*` metric that computes what it computes. What the translator does
//! not know is an error naming the construct.

use std::collections::{BTreeSet, HashMap};

use super::parse::{BinOp, CmpOp, Expr, Node};

/// A downloaded word list: the module-level name it is bound to, the local list name it
/// becomes (`word_list("<name>")`) and where the paper downloads it from.
#[derive(Debug, Clone)]
pub struct Download {
    pub list: String,
    pub url: String,
}

/// What the translator knows of the file besides the lambda.
pub struct FileContext<'a> {
    /// Module-level names bound to `set(download_file(url))` or `download_file(url)`.
    pub downloads: &'a HashMap<String, Download>,
    /// The first list of strings assigned inside each helper's body (`def name(...)`): the
    /// data of helpers that carry their own word lists (slang words, colours).
    pub helper_lists: &'a HashMap<String, Vec<String>>,
}

/// A translated check.
#[derive(Debug, Clone)]
pub struct Check {
    pub rhai: String,
    /// Word lists (local names) the check needs.
    pub word_lists: BTreeSet<String>,
    /// Helpers whose paper version depends on data we cannot have and replace with a stand-in
    /// (NLTK's tagger weights): scores agree approximately, not exactly.
    pub approximations: BTreeSet<String>,
}

/// A construct or helper the translator does not know, with its line.
#[derive(Debug, Clone)]
pub struct Unknown {
    pub line: usize,
    pub what: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Ty {
    Str,
    Int,
    Float,
    Bool,
    /// A list whose items have this type (`None`: an empty literal, items unknown).
    List(Option<Box<Ty>>),
    WordSet,
}

impl Ty {
    fn name(&self) -> String {
        match self {
            Ty::Str => "a string".into(),
            Ty::Int => "an integer".into(),
            Ty::Float => "a float".into(),
            Ty::Bool => "a boolean".into(),
            Ty::List(_) => "a list".into(),
            Ty::WordSet => "a downloaded word list".into(),
        }
    }

    fn numeric(&self) -> bool {
        matches!(self, Ty::Int | Ty::Float | Ty::Bool)
    }

    fn str_list(&self) -> bool {
        match self {
            Ty::List(None) => true,
            Ty::List(Some(t)) => **t == Ty::Str,
            _ => false,
        }
    }
}

type Out = Result<(String, Ty), Unknown>;

fn unknown<T>(node: &Node, what: impl Into<String>) -> Result<T, Unknown> {
    Err(Unknown {
        line: node.line,
        what: what.into(),
    })
}

/// Helpers whose paper version uses NLTK's perceptron tagger: our port runs NLTK's algorithm
/// and tokenizer exactly, but on stand-in weights, as NLTK's own cannot be had
/// (`metrics::pos`), so scores agree approximately. The sentiment and language helpers
/// are not here: our ports of NLTK's VADER and of langdetect give those libraries' own values
/// (`metrics::sentiment`, `metrics::language::langdetect`).
const APPROXIMATE: [&str; 2] = ["count_plural_nouns", "fraction_past_tense_verbs"];

/// Translates `lambda x: body` to a Rhai expression over `x`.
pub fn translate_lambda(lambda: &Node, file: &FileContext) -> Result<Check, Unknown> {
    let Expr::Lambda { params, body } = &lambda.expr else {
        return unknown(lambda, "a check that is not a lambda");
    };
    if params.len() != 1 {
        return unknown(
            lambda,
            format!(
                "a lambda of {} parameters (a check takes one)",
                params.len()
            ),
        );
    }
    let mut t = Translator {
        file,
        param: params[0].clone(),
        locals: Vec::new(),
        word_lists: BTreeSet::new(),
        approximations: BTreeSet::new(),
    };
    let (rhai, ty) = t.expr(body)?;
    if !ty.numeric() {
        return unknown(
            body,
            format!(
                "a lambda returning {} (a check returns a number)",
                ty.name()
            ),
        );
    }
    Ok(Check {
        rhai,
        word_lists: t.word_lists,
        approximations: t.approximations,
    })
}

struct Translator<'a> {
    file: &'a FileContext<'a>,
    param: String,
    locals: Vec<(String, String, Ty)>,
    word_lists: BTreeSet<String>,
    approximations: BTreeSet<String>,
}

/// A Rhai string literal.
pub fn rhai_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\U{:08x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn float_literal(f: f64) -> String {
    let s = format!("{f:?}");
    if s.contains('.') || s.contains("inf") || s.contains("NaN") {
        s
    } else if let Some((m, e)) = s.split_once('e') {
        format!("{m}.0e{e}")
    } else {
        format!("{s}.0")
    }
}

/// The value as a Rhai float.
fn as_float((code, ty): (String, Ty)) -> String {
    match ty {
        Ty::Float => code,
        _ if code.parse::<i64>().is_ok() => format!("{code}.0"),
        _ => format!("py_float({code})"),
    }
}

/// The value as a Rhai integer (Python's bools are integers).
fn as_int((code, ty): (String, Ty)) -> String {
    match ty {
        Ty::Bool => format!("py_int({code})"),
        _ => code,
    }
}

impl Translator<'_> {
    fn expr(&mut self, node: &Node) -> Out {
        match &node.expr {
            Expr::Name(n) => self.name(node, n),
            Expr::Str(s) => Ok((rhai_string(s), Ty::Str)),
            Expr::Int(i) => Ok((i.to_string(), Ty::Int)),
            Expr::Float(f) => Ok((float_literal(*f), Ty::Float)),
            Expr::List(items) => self.list(node, items),
            Expr::Tuple(_) => unknown(node, "tuple inside a check"),
            Expr::Lambda { .. } => unknown(node, "lambda inside a check"),
            Expr::Generator { .. } => unknown(
                node,
                "generator expression outside `any(...)` or `all(...)`",
            ),
            Expr::And(items) | Expr::Or(items) => {
                let and = matches!(node.expr, Expr::And(_));
                let mut parts = Vec::new();
                for item in items {
                    let (code, ty) = self.expr(item)?;
                    if ty != Ty::Bool {
                        return unknown(
                            item,
                            format!(
                                "`{}` of {} (only booleans are supported)",
                                if and { "and" } else { "or" },
                                ty.name()
                            ),
                        );
                    }
                    parts.push(code);
                }
                let op = if and { " && " } else { " || " };
                Ok((format!("({})", parts.join(op)), Ty::Bool))
            }
            Expr::Not(inner) => {
                let (code, ty) = self.expr(inner)?;
                let code = match ty {
                    Ty::Bool => format!("!({code})"),
                    Ty::Int => format!("({code} == 0)"),
                    Ty::Float => format!("({code} == 0.0)"),
                    Ty::Str | Ty::List(_) => format!("({code}).is_empty()"),
                    other => return unknown(node, format!("`not` of {}", other.name())),
                };
                Ok((code, Ty::Bool))
            }
            Expr::Compare { left, rest } => self.compare(left, rest),
            Expr::Bin { op, left, right } => self.binary(node, *op, left, right),
            Expr::Neg(inner) => {
                let v = self.expr(inner)?;
                match v.1 {
                    Ty::Float => Ok((format!("(-{})", v.0), Ty::Float)),
                    Ty::Int | Ty::Bool => Ok((format!("(-{})", as_int(v)), Ty::Int)),
                    other => unknown(node, format!("unary `-` of {}", other.name())),
                }
            }
            Expr::Call { func, args, kwargs } => self.call(node, func, args, kwargs),
            Expr::Attr { name, .. } => unknown(node, format!("attribute `.{name}` (not called)")),
            Expr::Index { value, index } => {
                let (v, vt) = self.expr(value)?;
                let (i, it) = self.expr(index)?;
                if !matches!(it, Ty::Int | Ty::Bool) {
                    return unknown(index, format!("subscript by {}", it.name()));
                }
                let i = as_int((i, it));
                match vt {
                    // Rhai's string index is a character; Python's is a one-character string.
                    Ty::Str => Ok((format!("{v}[{i}].to_string()"), Ty::Str)),
                    Ty::List(Some(t)) => Ok((format!("{v}[{i}]"), *t)),
                    other => unknown(node, format!("subscript of {}", other.name())),
                }
            }
        }
    }

    fn name(&mut self, node: &Node, n: &str) -> Out {
        if let Some((_, rhai, ty)) = self.locals.iter().rev().find(|(p, _, _)| p == n) {
            return Ok((rhai.clone(), ty.clone()));
        }
        if n == self.param {
            return Ok(("x".into(), Ty::Str));
        }
        if let Some(d) = self.file.downloads.get(n) {
            self.word_lists.insert(d.list.clone());
            return Ok((format!("word_list({})", rhai_string(&d.list)), Ty::WordSet));
        }
        match n {
            "True" => Ok(("true".into(), Ty::Bool)),
            "False" => Ok(("false".into(), Ty::Bool)),
            _ => unknown(
                node,
                format!("name `{n}` (neither the lambda's parameter nor a downloaded word list)"),
            ),
        }
    }

    fn list(&mut self, node: &Node, items: &[Node]) -> Out {
        let mut codes = Vec::new();
        let mut item_ty: Option<Ty> = None;
        for item in items {
            let (code, ty) = self.expr(item)?;
            let ty = if ty == Ty::Bool { Ty::Int } else { ty };
            item_ty = match (item_ty, ty) {
                (None, t) => Some(t),
                (Some(a), b) if a == b => Some(a),
                (Some(Ty::Int), Ty::Float) | (Some(Ty::Float), Ty::Int) => Some(Ty::Float),
                (Some(a), b) => {
                    return unknown(node, format!("list mixing {} and {}", a.name(), b.name()));
                }
            };
            codes.push(code);
        }
        if item_ty == Some(Ty::Float) {
            // Make every item a float, so the list is homogeneous in Rhai too.
            codes = items
                .iter()
                .zip(codes)
                .map(|(item, code)| match item.expr {
                    Expr::Int(i) => float_literal(i as f64),
                    _ => format!("py_float({code})"),
                })
                .collect();
        }
        Ok((
            format!("[{}]", codes.join(", ")),
            Ty::List(item_ty.map(Box::new)),
        ))
    }

    fn compare(&mut self, left: &Node, rest: &[(CmpOp, Node)]) -> Out {
        let mut parts = Vec::new();
        let mut lhs_node = left;
        let mut lhs = self.expr(left)?;
        for (op, rhs_node) in rest {
            let rhs = self.expr(rhs_node)?;
            let part = match op {
                CmpOp::In | CmpOp::NotIn => {
                    let ok = match &rhs.1 {
                        Ty::Str => lhs.1 == Ty::Str,
                        Ty::WordSet => lhs.1 == Ty::Str,
                        Ty::List(None) => true,
                        Ty::List(Some(t)) => **t == lhs.1 || (t.numeric() && lhs.1.numeric()),
                        _ => false,
                    };
                    if !ok {
                        return unknown(
                            rhs_node,
                            format!("`in` of {} in {}", lhs.1.name(), rhs.1.name()),
                        );
                    }
                    let test = format!("{}.contains({})", rhs.0, lhs.0);
                    if *op == CmpOp::In {
                        test
                    } else {
                        format!("!{test}")
                    }
                }
                CmpOp::Is | CmpOp::IsNot => {
                    return unknown(lhs_node, "`is` comparison");
                }
                _ => {
                    let sym = match op {
                        CmpOp::Eq => "==",
                        CmpOp::Ne => "!=",
                        CmpOp::Lt => "<",
                        CmpOp::Le => "<=",
                        CmpOp::Gt => ">",
                        _ => ">=",
                    };
                    let (a, b) = if lhs.1.numeric() && rhs.1.numeric() {
                        if lhs.1 == rhs.1 {
                            (lhs.0.clone(), rhs.0.clone())
                        } else {
                            (as_float(lhs.clone()), as_float(rhs.clone()))
                        }
                    } else if lhs.1 == rhs.1 && matches!(lhs.1, Ty::Str | Ty::List(_)) {
                        (lhs.0.clone(), rhs.0.clone())
                    } else {
                        return unknown(
                            rhs_node,
                            format!("comparing {} with {}", lhs.1.name(), rhs.1.name()),
                        );
                    };
                    format!("{a} {sym} {b}")
                }
            };
            parts.push(format!("({part})"));
            lhs = rhs;
            lhs_node = rhs_node;
        }
        Ok((
            if parts.len() == 1 {
                parts.pop().expect("one")
            } else {
                format!("({})", parts.join(" && "))
            },
            Ty::Bool,
        ))
    }

    fn binary(&mut self, node: &Node, op: BinOp, left: &Node, right: &Node) -> Out {
        let a = self.expr(left)?;
        let b = self.expr(right)?;
        let sym = match op {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::FloorDiv => return unknown(node, "operator `//`"),
            BinOp::Mod => return unknown(node, "operator `%`"),
            BinOp::Div => {
                if !(a.1.numeric() && b.1.numeric()) {
                    return unknown(node, format!("`/` of {} and {}", a.1.name(), b.1.name()));
                }
                return Ok((
                    format!("py_div({}, {})", as_float(a), as_float(b)),
                    Ty::Float,
                ));
            }
            BinOp::Pow => {
                if !(a.1.numeric() && b.1.numeric()) {
                    return unknown(node, format!("`**` of {} and {}", a.1.name(), b.1.name()));
                }
                return Ok((
                    format!("py_pow({}, {})", as_float(a), as_float(b)),
                    Ty::Float,
                ));
            }
        };
        if op == BinOp::Add && a.1 == Ty::Str && b.1 == Ty::Str {
            return Ok((format!("({} + {})", a.0, b.0), Ty::Str));
        }
        if op == BinOp::Add && matches!(a.1, Ty::List(_)) && a.1 == b.1 {
            return Ok((format!("({} + {})", a.0, b.0), a.1));
        }
        if !(a.1.numeric() && b.1.numeric()) {
            return unknown(
                node,
                format!("`{sym}` of {} and {}", a.1.name(), b.1.name()),
            );
        }
        if a.1 == Ty::Float || b.1 == Ty::Float {
            Ok((
                format!("({} {sym} {})", as_float(a), as_float(b)),
                Ty::Float,
            ))
        } else {
            Ok((format!("({} {sym} {})", as_int(a), as_int(b)), Ty::Int))
        }
    }

    /// Positional arguments, checked for number and type.
    fn args(
        &mut self,
        call: &Node,
        name: &str,
        args: &[Node],
        want: &[Ty],
    ) -> Result<Vec<String>, Unknown> {
        if args.len() != want.len() {
            return unknown(
                call,
                format!(
                    "`{name}` with {} argument(s) (expected {})",
                    args.len(),
                    want.len()
                ),
            );
        }
        let mut out = Vec::new();
        for (arg, want) in args.iter().zip(want) {
            let (code, ty) = self.expr(arg)?;
            let ok = match want {
                Ty::List(Some(t)) if **t == Ty::Str => ty.str_list(),
                Ty::List(Some(t)) if **t == Ty::Int => {
                    matches!(&ty, Ty::List(None)) || ty == Ty::List(Some(Box::new(Ty::Int)))
                }
                Ty::Float => ty.numeric(),
                Ty::Int => matches!(ty, Ty::Int | Ty::Bool),
                w => *w == ty,
            };
            if !ok {
                return unknown(
                    arg,
                    format!(
                        "`{name}` given {} where it takes {}",
                        ty.name(),
                        want.name()
                    ),
                );
            }
            out.push(match want {
                Ty::Float => as_float((code, ty)),
                Ty::Int => as_int((code, ty)),
                _ => code,
            });
        }
        Ok(out)
    }

    fn string_literal<'n>(&self, node: &'n Node, what: &str) -> Result<&'n str, Unknown> {
        match &node.expr {
            Expr::Str(s) => Ok(s),
            _ => unknown(node, format!("{what} that is not a string literal")),
        }
    }

    fn call(&mut self, node: &Node, func: &Node, args: &[Node], kwargs: &[(String, Node)]) -> Out {
        if let Expr::Attr { value, name } = &func.expr {
            if !kwargs.is_empty() {
                return unknown(node, format!("keyword arguments to `.{name}()`"));
            }
            return self.method(node, value, name, args);
        }
        let Expr::Name(name) = &func.expr else {
            return unknown(func, "a call of something other than a name or a method");
        };
        let name = name.as_str();
        // Keyword arguments: only `is_upper` of `fraction_of_case_letters`.
        let mut args = args.to_vec();
        for (k, v) in kwargs {
            if name == "fraction_of_case_letters" && k == "is_upper" && args.len() == 1 {
                args.push(v.clone());
            } else {
                return unknown(v, format!("keyword argument `{k}=` to `{name}`"));
            }
        }
        let args = &args[..];
        if APPROXIMATE.contains(&name) {
            self.approximations.insert(name.to_string());
        }
        use Ty::*;
        let strs = || List(Some(Box::new(Str)));
        let ints = || List(Some(Box::new(Int)));
        let simple = |rhai: &str, ty: Ty| Some((rhai.to_string(), ty));
        // Helpers of one text argument, by the metric that computes them.
        let one_text = match name {
            "count_num_words_one" => simple("paper_one_word", Float),
            "fraction_non_letter" => simple("paper_non_letter_fraction", Float),
            "fraction_digit" => simple("paper_digit_fraction", Float),
            "are_first_and_last_words_same" => simple("paper_first_equals_last", Bool),
            "count_plural_nouns" => simple("paper_plural_noun_fraction", Float),
            "is_valid_json_format" => simple("paper_json_format", Bool),
            "is_valid_list_format" => simple("paper_list_format", Float),
            "is_valid_dash_format" => simple("paper_dash_format", Float),
            "split_into_sentences" => simple("paper_sentences", strs()),
            "is_alliteration" => simple("paper_alliteration", Float),
            "is_valid_alternating_french_english" => simple("paper_french_english", Float),
            "fraction_alter_upper_lower" => simple("paper_case_alternation", Float),
            "fraction_past_tense_verbs" => simple("paper_past_tense_fraction", Float),
            "fraction_unique_words" => simple("paper_unique_fraction", Float),
            "fraction_repeated_words" => simple("paper_repeated_fraction", Float),
            "fraction_alter_short_long" => simple("paper_short_long_alternation", Float),
            "fraction_sentences_that_are_questions" => simple("paper_question_fraction", Float),
            "is_valid_repeat" => simple("paper_doubled_words", Float),
            _ => None,
        };
        if let Some((rhai, ty)) = one_text {
            let a = self.args(node, name, args, &[Str])?;
            return Ok((format!("{rhai}({})", a[0]), ty));
        }
        match name {
            "len" => {
                if args.len() != 1 {
                    return unknown(node, "`len` with other than one argument");
                }
                let (code, ty) = self.expr(&args[0])?;
                match ty {
                    Str | List(_) | WordSet => Ok((format!("{code}.len()"), Int)),
                    other => unknown(&args[0], format!("`len` of {}", other.name())),
                }
            }
            "float" | "int" | "abs" => {
                let [arg] = args else {
                    return unknown(node, format!("`{name}` with other than one argument"));
                };
                let v = self.expr(arg)?;
                if name == "float" && v.1 == Str {
                    return Ok((format!("py_float({})", v.0), Float));
                }
                if !v.1.numeric() {
                    return unknown(arg, format!("`{name}` of {}", v.1.name()));
                }
                Ok(match name {
                    "float" => (as_float(v), Float),
                    "int" => (format!("py_int({})", v.0), Int),
                    _ if v.1 == Float => (format!("abs({})", v.0), Float),
                    _ => (format!("abs({})", as_int(v)), Int),
                })
            }
            "any" | "all" => {
                let [arg] = args else {
                    return unknown(node, format!("`{name}` with other than one argument"));
                };
                let Expr::Generator { element, var, iter } = &arg.expr else {
                    return unknown(arg, format!("`{name}` of something other than a generator"));
                };
                let (iter_code, iter_ty) = self.expr(iter)?;
                let (iter_code, item_ty) = match iter_ty {
                    List(Some(t)) => (iter_code, *t),
                    List(None) => (iter_code, Str),
                    // Iterating a string gives its characters, as one-character strings.
                    Str => (
                        format!("{iter_code}.to_chars().map(|c| c.to_string())"),
                        Str,
                    ),
                    other => return unknown(iter, format!("iterating over {}", other.name())),
                };
                let rhai_var = format!("v_{}", self.locals.len());
                self.locals.push((var.clone(), rhai_var.clone(), item_ty));
                let body = self.expr(element);
                self.locals.pop();
                let (body, body_ty) = body?;
                if body_ty != Bool {
                    return unknown(element, format!("`{name}` over {}", body_ty.name()));
                }
                let method = if name == "any" { "some" } else { "all" };
                Ok((format!("{iter_code}.{method}(|{rhai_var}| {body})"), Bool))
            }
            "fraction_starts_with" => {
                let a = self.args(node, name, args, &[Str, Str])?;
                Ok((format!("paper_starts_with({}, {})", a[0], a[1]), Bool))
            }
            "fraction_of_case_letters" => {
                let a = self.args(node, name, args, &[Str, Bool])?;
                Ok((format!("paper_case_fraction({}, {})", a[0], a[1]), Float))
            }
            "count_num_words" => {
                let a = self.args(node, name, args, &[Str])?;
                Ok((format!("paper_word_count_closeness({}, 10)", a[0]), Float))
            }
            "get_sentiment" => {
                let a = self.args(node, name, args, &[Str, Str])?;
                let kind = self.string_literal(&args[1], "a sentiment kind")?;
                if !["pos", "neg", "neu", "compound"].contains(&kind) {
                    return unknown(&args[1], format!("sentiment kind {kind:?}"));
                }
                Ok((format!("paper_sentiment({}).{kind}", a[0]), Float))
            }
            "get_french_percentage" => {
                let a = self.args(node, name, args, &[Str])?;
                Ok((format!("paper_french_probability({})", a[0]), Float))
            }
            "is_probably_language" => {
                let a = self.args(node, name, args, &[Str, Str])?;
                Ok((format!("paper_is_language({}, {})", a[0], a[1]), Bool))
            }
            "does_not_contain" => {
                let a = self.args(node, name, args, &[Str, strs()])?;
                Ok((format!("paper_contains_none({}, {})", a[0], a[1]), Int))
            }
            "fraction_of_text_that_is_a_target" => {
                let text = self.args(node, name, &args[..args.len().min(1)], &[Str])?;
                if args.len() != 2 {
                    return unknown(node, format!("`{name}` with other than two arguments"));
                }
                let (list, ty) = self.expr(&args[1])?;
                if !(ty.str_list() || ty == WordSet) {
                    return unknown(
                        &args[1],
                        format!("`{name}` given {} as its word list", ty.name()),
                    );
                }
                Ok((format!("paper_target_fraction({}, {list})", text[0]), Float))
            }
            "fraction_of_target_words_hit" => {
                let a = self.args(node, name, args, &[Str, strs()])?;
                Ok((format!("paper_targets_hit({}, {})", a[0], a[1]), Float))
            }
            "sentences_start_with" => {
                let a = self.args(node, name, args, &[strs(), Str])?;
                Ok((
                    format!("paper_sentences_start_with({}, {})", a[0], a[1]),
                    Float,
                ))
            }
            "is_valid_sentence_word_count" => {
                let a = self.args(node, name, args, &[strs(), ints()])?;
                Ok((
                    format!("paper_sentence_word_counts({}, {})", a[0], a[1]),
                    Float,
                ))
            }
            "is_increasing_sentence_word_count" => {
                let a = self.args(node, name, args, &[strs()])?;
                Ok((format!("paper_increasing_sentences({})", a[0]), Float))
            }
            "close_to_num" => {
                let a = self.args(node, name, args, &[Str, Float])?;
                Ok((format!("paper_close_to_number({}, {})", a[0], a[1]), Float))
            }
            "fraction_alter_banana" => {
                let a = self.args(node, name, args, &[Str])?;
                Ok((
                    format!("paper_word_alternation({}, \"banana\")", a[0]),
                    Float,
                ))
            }
            "teenager_score" | "contains_color_and_number" => {
                let a = self.args(node, name, args, &[Str])?;
                let Some(list) = self.file.helper_lists.get(name) else {
                    return unknown(
                        node,
                        format!(
                            "helper `{name}` without its word list (a list of strings assigned \
                             inside `def {name}` in this file)"
                        ),
                    );
                };
                let list: Vec<String> = list.iter().map(|s| rhai_string(s)).collect();
                let (rhai, ty) = if name == "teenager_score" {
                    ("paper_slang_fraction", Float)
                } else {
                    ("paper_colour_and_number", Bool)
                };
                Ok((format!("{rhai}({}, [{}])", a[0], list.join(", ")), ty))
            }
            _ => unknown(func, format!("helper `{name}`")),
        }
    }

    fn method(&mut self, node: &Node, value: &Node, name: &str, args: &[Node]) -> Out {
        let (v, ty) = self.expr(value)?;
        if ty != Ty::Str {
            return unknown(node, format!("method `.{name}()` of {}", ty.name()));
        }
        use Ty::*;
        let strs = List(Some(Box::new(Str)));
        let (rhai, want, out): (&str, Vec<Ty>, Ty) = match (name, args.len()) {
            ("lower", 0) => ("py_lower", vec![], Str),
            ("upper", 0) => ("py_upper", vec![], Str),
            ("strip", 0) => ("py_strip", vec![], Str),
            ("split", 0) => ("py_split", vec![], strs),
            ("split", 1) => ("py_split", vec![Str], strs),
            ("count", 1) => ("py_count", vec![Str], Int),
            ("startswith", 1) => ("py_startswith", vec![Str], Bool),
            ("endswith", 1) => ("py_endswith", vec![Str], Bool),
            _ => {
                return unknown(
                    node,
                    format!("string method `.{name}()` with {} argument(s)", args.len()),
                );
            }
        };
        let a = self.args(node, &format!(".{name}()"), args, &want)?;
        let mut all = vec![v];
        all.extend(a);
        Ok((format!("{rhai}({})", all.join(", ")), out))
    }
}
