//! Python expressions, the subset a persona file's entries are made of: literals (strings with
//! implicit concatenation, numbers, lists, tuples), names, calls with keyword arguments,
//! attributes, subscripts, operators with Python's precedence, comparisons (chained, `in`,
//! `not in`), `and` / `or` / `not`, generator expressions and `lambda`. Anything else (a dict,
//! a conditional expression, a slice…) parses to an error naming the construct and its line.

use super::ImportError;
use crate::metrics::python::lexer::{Tok, Token};

/// An expression and where it is in the file.
#[derive(Debug, Clone)]
pub struct Node {
    pub expr: Expr,
    pub line: usize,
    /// Byte range in the file.
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Is,
    IsNot,
}

#[derive(Debug, Clone)]
pub enum Expr {
    Name(String),
    Str(String),
    Int(i64),
    Float(f64),
    List(Vec<Node>),
    Tuple(Vec<Node>),
    Lambda {
        params: Vec<String>,
        body: Box<Node>,
    },
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Compare {
        left: Box<Node>,
        rest: Vec<(CmpOp, Node)>,
    },
    Bin {
        op: BinOp,
        left: Box<Node>,
        right: Box<Node>,
    },
    Neg(Box<Node>),
    Call {
        func: Box<Node>,
        args: Vec<Node>,
        kwargs: Vec<(String, Node)>,
    },
    Attr {
        value: Box<Node>,
        name: String,
    },
    Index {
        value: Box<Node>,
        index: Box<Node>,
    },
    Generator {
        element: Box<Node>,
        var: String,
        iter: Box<Node>,
    },
}

pub struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
}

type Parsed = Result<Node, ImportError>;

impl<'a> Parser<'a> {
    pub fn new(tokens: &'a [Token], pos: usize) -> Parser<'a> {
        Parser { tokens, pos }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    fn peek(&self) -> Option<&'a Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn line(&self) -> usize {
        self.tokens
            .get(self.pos)
            .or(self.tokens.last())
            .map_or(1, |t| t.line)
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if o == op)
    }

    fn is_name(&self, name: &str) -> bool {
        matches!(self.peek(), Some(Tok::Name(n)) if n == name)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        let yes = self.is_op(op);
        self.pos += usize::from(yes);
        yes
    }

    fn eat_name(&mut self, name: &str) -> bool {
        let yes = self.is_name(name);
        self.pos += usize::from(yes);
        yes
    }

    fn expect_op(&mut self, op: &str) -> Result<(), ImportError> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{op}`")))
        }
    }

    fn unexpected(&self, wanted: &str) -> ImportError {
        let found = match self.peek() {
            None => "the end of the file".to_string(),
            Some(Tok::Name(n)) => format!("`{n}`"),
            Some(Tok::Op(o)) => format!("`{o}`"),
            Some(Tok::Number(n)) => format!("the number {n}"),
            Some(Tok::Str { .. }) => "a string".to_string(),
        };
        ImportError::at(self.line(), format!("expected {wanted}, found {found}"))
    }

    fn node(&self, expr: Expr, first: usize) -> Node {
        let first_tok = &self.tokens[first];
        let last = &self.tokens[self.pos.saturating_sub(1).max(first)];
        Node {
            expr,
            line: first_tok.line,
            start: first_tok.start,
            end: last.end,
        }
    }

    /// `expression`: a lambda, or a disjunction.
    pub fn expression(&mut self) -> Parsed {
        let first = self.pos;
        if self.eat_name("lambda") {
            let mut params = Vec::new();
            while let Some(Tok::Name(n)) = self.peek() {
                params.push(n.clone());
                self.pos += 1;
                if !self.eat_op(",") {
                    break;
                }
            }
            if self.is_op("*") || self.is_op("**") || self.is_op("=") {
                return Err(ImportError::at(
                    self.line(),
                    "lambda with default, *args or **kwargs parameters",
                ));
            }
            self.expect_op(":")?;
            let body = self.expression()?;
            return Ok(self.node(
                Expr::Lambda {
                    params,
                    body: Box::new(body),
                },
                first,
            ));
        }
        let value = self.disjunction()?;
        if self.is_name("if") {
            return Err(ImportError::at(
                self.line(),
                "conditional expression (`a if c else b`)",
            ));
        }
        Ok(value)
    }

    fn disjunction(&mut self) -> Parsed {
        let first = self.pos;
        let mut items = vec![self.conjunction()?];
        while self.eat_name("or") {
            items.push(self.conjunction()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            self.node(Expr::Or(items), first)
        })
    }

    fn conjunction(&mut self) -> Parsed {
        let first = self.pos;
        let mut items = vec![self.inversion()?];
        while self.eat_name("and") {
            items.push(self.inversion()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            self.node(Expr::And(items), first)
        })
    }

    fn inversion(&mut self) -> Parsed {
        let first = self.pos;
        if self.eat_name("not") {
            let inner = self.inversion()?;
            return Ok(self.node(Expr::Not(Box::new(inner)), first));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Parsed {
        let first = self.pos;
        let left = self.arith()?;
        let mut rest = Vec::new();
        loop {
            let op = match self.peek() {
                Some(Tok::Op(o)) => match o.as_str() {
                    "==" => CmpOp::Eq,
                    "!=" => CmpOp::Ne,
                    "<" => CmpOp::Lt,
                    "<=" => CmpOp::Le,
                    ">" => CmpOp::Gt,
                    ">=" => CmpOp::Ge,
                    _ => break,
                },
                Some(Tok::Name(n)) if n == "in" => CmpOp::In,
                Some(Tok::Name(n)) if n == "not" => {
                    if matches!(self.tokens.get(self.pos + 1).map(|t| &t.tok), Some(Tok::Name(n)) if n == "in")
                    {
                        self.pos += 1;
                        CmpOp::NotIn
                    } else {
                        break;
                    }
                }
                Some(Tok::Name(n)) if n == "is" => {
                    if matches!(self.tokens.get(self.pos + 1).map(|t| &t.tok), Some(Tok::Name(n)) if n == "not")
                    {
                        self.pos += 1;
                        CmpOp::IsNot
                    } else {
                        CmpOp::Is
                    }
                }
                _ => break,
            };
            self.pos += 1;
            rest.push((op, self.arith()?));
        }
        Ok(if rest.is_empty() {
            left
        } else {
            self.node(
                Expr::Compare {
                    left: Box::new(left),
                    rest,
                },
                first,
            )
        })
    }

    fn arith(&mut self) -> Parsed {
        let first = self.pos;
        let mut left = self.term()?;
        loop {
            let op = if self.eat_op("+") {
                BinOp::Add
            } else if self.eat_op("-") {
                BinOp::Sub
            } else {
                return Ok(left);
            };
            let right = self.term()?;
            left = self.node(
                Expr::Bin {
                    op,
                    left: Box::new(left),
                    right: Box::new(right),
                },
                first,
            );
        }
    }

    fn term(&mut self) -> Parsed {
        let first = self.pos;
        let mut left = self.factor()?;
        loop {
            let op = if self.eat_op("*") {
                BinOp::Mul
            } else if self.eat_op("/") {
                BinOp::Div
            } else if self.eat_op("//") {
                BinOp::FloorDiv
            } else if self.eat_op("%") {
                BinOp::Mod
            } else if self.is_op("@") {
                return Err(ImportError::at(self.line(), "operator `@`"));
            } else {
                return Ok(left);
            };
            let right = self.factor()?;
            left = self.node(
                Expr::Bin {
                    op,
                    left: Box::new(left),
                    right: Box::new(right),
                },
                first,
            );
        }
    }

    fn factor(&mut self) -> Parsed {
        let first = self.pos;
        if self.eat_op("-") {
            let inner = self.factor()?;
            return Ok(self.node(Expr::Neg(Box::new(inner)), first));
        }
        if self.eat_op("+") {
            return self.factor();
        }
        if self.is_op("~") {
            return Err(ImportError::at(self.line(), "operator `~`"));
        }
        self.power()
    }

    fn power(&mut self) -> Parsed {
        let first = self.pos;
        let base = self.primary()?;
        if self.eat_op("**") {
            let exponent = self.factor()?;
            return Ok(self.node(
                Expr::Bin {
                    op: BinOp::Pow,
                    left: Box::new(base),
                    right: Box::new(exponent),
                },
                first,
            ));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Parsed {
        let first = self.pos;
        let mut value = self.atom()?;
        loop {
            if self.eat_op(".") {
                let Some(Tok::Name(name)) = self.peek().cloned() else {
                    return Err(self.unexpected("an attribute name"));
                };
                self.pos += 1;
                value = self.node(
                    Expr::Attr {
                        value: Box::new(value),
                        name,
                    },
                    first,
                );
            } else if self.eat_op("(") {
                let (args, kwargs) = self.call_args()?;
                value = self.node(
                    Expr::Call {
                        func: Box::new(value),
                        args,
                        kwargs,
                    },
                    first,
                );
            } else if self.eat_op("[") {
                if self.is_op(":") {
                    return Err(ImportError::at(self.line(), "slice (`a[i:j]`)"));
                }
                let index = self.expression()?;
                if self.is_op(":") || self.is_op(",") {
                    return Err(ImportError::at(
                        self.line(),
                        "slice or tuple subscript (`a[i:j]`, `a[i, j]`)",
                    ));
                }
                self.expect_op("]")?;
                value = self.node(
                    Expr::Index {
                        value: Box::new(value),
                        index: Box::new(index),
                    },
                    first,
                );
            } else {
                return Ok(value);
            }
        }
    }

    /// After `(`: positional and keyword arguments, or one generator expression, then `)`.
    #[allow(clippy::type_complexity)]
    fn call_args(&mut self) -> Result<(Vec<Node>, Vec<(String, Node)>), ImportError> {
        let mut args = Vec::new();
        let mut kwargs = Vec::new();
        while !self.eat_op(")") {
            if self.is_op("*") || self.is_op("**") {
                return Err(ImportError::at(
                    self.line(),
                    "argument unpacking (`*args`, `**kwargs`)",
                ));
            }
            let keyword = match (self.peek(), self.tokens.get(self.pos + 1).map(|t| &t.tok)) {
                (Some(Tok::Name(n)), Some(Tok::Op(eq))) if eq == "=" => Some(n.clone()),
                _ => None,
            };
            if let Some(name) = keyword {
                self.pos += 2;
                kwargs.push((name, self.expression()?));
            } else {
                let first = self.pos;
                let value = self.expression()?;
                if self.is_name("for") {
                    args.push(self.generator(value, first)?);
                } else {
                    if !kwargs.is_empty() {
                        return Err(ImportError::at(
                            self.line(),
                            "positional argument after a keyword argument",
                        ));
                    }
                    args.push(value);
                }
            }
            if !self.eat_op(",") {
                self.expect_op(")")?;
                break;
            }
        }
        Ok((args, kwargs))
    }

    /// `element for var in iter` (one `for`, no `if`), after `element`.
    fn generator(&mut self, element: Node, first: usize) -> Parsed {
        self.eat_name("for");
        let Some(Tok::Name(var)) = self.peek().cloned() else {
            return Err(ImportError::at(
                self.line(),
                "generator with a target other than one name",
            ));
        };
        self.pos += 1;
        if !self.eat_name("in") {
            return Err(ImportError::at(
                self.line(),
                "generator with a target other than one name",
            ));
        }
        let iter = self.disjunction()?;
        if self.is_name("if") || self.is_name("for") {
            return Err(ImportError::at(
                self.line(),
                "generator with `if` or a second `for`",
            ));
        }
        Ok(self.node(
            Expr::Generator {
                element: Box::new(element),
                var,
                iter: Box::new(iter),
            },
            first,
        ))
    }

    fn atom(&mut self) -> Parsed {
        let first = self.pos;
        let Some(tok) = self.peek().cloned() else {
            return Err(self.unexpected("an expression"));
        };
        match tok {
            Tok::Str { .. } => {
                let mut value = String::new();
                while let Some(Tok::Str { value: v, prefix }) = self.peek() {
                    if prefix.contains('f') {
                        return Err(ImportError::at(self.line(), "f-string"));
                    }
                    if prefix.contains('b') {
                        return Err(ImportError::at(self.line(), "bytes literal"));
                    }
                    value.push_str(v);
                    self.pos += 1;
                }
                Ok(self.node(Expr::Str(value), first))
            }
            Tok::Number(n) => {
                self.pos += 1;
                let clean = n.replace('_', "");
                let expr = if let Ok(i) = clean.parse::<i64>() {
                    Expr::Int(i)
                } else if let Some(f) = clean.parse::<f64>().ok().filter(|f| f.is_finite()) {
                    Expr::Float(f)
                } else {
                    return Err(ImportError::at(
                        self.line(),
                        format!("number literal `{n}`"),
                    ));
                };
                Ok(self.node(expr, first))
            }
            Tok::Name(n) => {
                const KEYWORDS: [&str; 20] = [
                    "if", "else", "for", "while", "def", "class", "return", "yield", "await",
                    "async", "import", "from", "with", "try", "except", "del", "global",
                    "nonlocal", "assert", "raise",
                ];
                if KEYWORDS.contains(&n.as_str()) {
                    return Err(ImportError::at(
                        self.line(),
                        format!("keyword `{n}` inside an expression"),
                    ));
                }
                self.pos += 1;
                Ok(self.node(Expr::Name(n), first))
            }
            Tok::Op(o) if o == "(" => {
                self.pos += 1;
                if self.eat_op(")") {
                    return Ok(self.node(Expr::Tuple(Vec::new()), first));
                }
                let item_first = self.pos;
                let item = self.expression()?;
                if self.is_name("for") {
                    let g = self.generator(item, item_first)?;
                    self.expect_op(")")?;
                    return Ok(g);
                }
                if self.eat_op(")") {
                    return Ok(item);
                }
                let mut items = vec![item];
                while self.eat_op(",") {
                    if self.is_op(")") {
                        break;
                    }
                    items.push(self.expression()?);
                }
                self.expect_op(")")?;
                Ok(self.node(Expr::Tuple(items), first))
            }
            Tok::Op(o) if o == "[" => {
                self.pos += 1;
                let mut items = Vec::new();
                while !self.eat_op("]") {
                    let item_first = self.pos;
                    let item = self.expression()?;
                    if self.is_name("for") {
                        return Err(ImportError::at(
                            self.tokens[item_first].line,
                            "list comprehension",
                        ));
                    }
                    items.push(item);
                    if !self.eat_op(",") {
                        self.expect_op("]")?;
                        break;
                    }
                }
                Ok(self.node(Expr::List(items), first))
            }
            Tok::Op(o) if o == "{" => Err(ImportError::at(
                self.line(),
                "dict or set literal (`{...}`)",
            )),
            _ => Err(self.unexpected("an expression")),
        }
    }
}
