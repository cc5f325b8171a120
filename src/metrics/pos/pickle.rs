//! A reader for the few Python pickle opcodes a protocol-2 pickle of plain data uses: strings,
//! floats, integers, lists, tuples, dicts and sets. It never runs code: the only global it
//! accepts is the builtin `set` (applied to a list), so a pickle that asks for anything else is
//! an error, not an import.

use std::cell::RefCell;
use std::rc::Rc;

/// A value read from a pickle. Containers are shared because a pickle may refer to one twice
/// (its memo).
#[derive(Debug, Clone)]
pub enum Value {
    Str(Rc<str>),
    Float(f64),
    Int(i64),
    None,
    List(Rc<RefCell<Vec<Value>>>),
    Tuple(Rc<Vec<Value>>),
    /// Key/value pairs in the pickle's order (a Python dict's iteration order).
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    Set(Rc<Vec<Value>>),
    /// The builtin `set`, before it is applied.
    SetConstructor,
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

fn list(items: Vec<Value>) -> Value {
    Value::List(Rc::new(RefCell::new(items)))
}

/// Reads one pickled value from `bytes`.
pub fn read(bytes: &[u8]) -> Result<Value, String> {
    let mut stack: Vec<Value> = Vec::new();
    let mut marks: Vec<usize> = Vec::new();
    let mut memo: Vec<Option<Value>> = Vec::new();
    let mut pos = 0usize;
    let take = |pos: &mut usize, n: usize| -> Result<&[u8], String> {
        let end = pos
            .checked_add(n)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| format!("pickle ends inside an operand at byte {pos}"))?;
        let s = &bytes[*pos..end];
        *pos = end;
        Ok(s)
    };
    let u32_at = |s: &[u8]| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize;
    let pop = |stack: &mut Vec<Value>| stack.pop().ok_or("pickle stack underflow".to_string());
    let pop_mark = |stack: &mut Vec<Value>, marks: &mut Vec<usize>| -> Result<Vec<Value>, String> {
        let mark = marks.pop().ok_or("pickle has no MARK to pop")?;
        if mark > stack.len() {
            return Err("pickle MARK above the stack".into());
        }
        Ok(stack.split_off(mark))
    };
    let text = |raw: &[u8]| -> Value {
        // Python 2 `str` holds bytes; the tagger's are ASCII. Decode as UTF-8 so any non-ASCII
        // key stays comparable with the text it was made from.
        Value::Str(String::from_utf8_lossy(raw).into())
    };
    loop {
        let op = *take(&mut pos, 1)?.first().expect("one byte");
        match op {
            0x80 => {
                take(&mut pos, 1)?; // PROTO n
            }
            b'.' => return pop(&mut stack), // STOP
            b'}' => stack.push(Value::Dict(Rc::new(RefCell::new(Vec::new())))),
            b']' => stack.push(list(Vec::new())),
            b')' => stack.push(Value::Tuple(Rc::new(Vec::new()))),
            b'(' => marks.push(stack.len()),
            b'N' => stack.push(Value::None),
            // SHORT_BINSTRING, SHORT_BINUNICODE
            b'U' | 0x8c => {
                let n = take(&mut pos, 1)?[0] as usize;
                let raw = take(&mut pos, n)?;
                stack.push(text(raw));
            }
            b'T' | b'X' => {
                let n = u32_at(take(&mut pos, 4)?);
                let raw = take(&mut pos, n)?;
                stack.push(text(raw));
            }
            b'G' => {
                let raw = take(&mut pos, 8)?;
                let v = f64::from_be_bytes(raw.try_into().expect("8 bytes"));
                stack.push(Value::Float(v));
            }
            b'K' => stack.push(Value::Int(take(&mut pos, 1)?[0] as i64)),
            b'M' => {
                let raw = take(&mut pos, 2)?;
                stack.push(Value::Int(u16::from_le_bytes([raw[0], raw[1]]) as i64));
            }
            b'J' => {
                let raw = take(&mut pos, 4)?;
                stack.push(Value::Int(
                    i32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as i64,
                ));
            }
            b'q' | b'r' => {
                let index = if op == b'q' {
                    take(&mut pos, 1)?[0] as usize
                } else {
                    u32_at(take(&mut pos, 4)?)
                };
                let top = stack.last().ok_or("pickle PUT on an empty stack")?.clone();
                if memo.len() <= index {
                    memo.resize(index + 1, None);
                }
                memo[index] = Some(top);
            }
            b'h' | b'j' => {
                let index = if op == b'h' {
                    take(&mut pos, 1)?[0] as usize
                } else {
                    u32_at(take(&mut pos, 4)?)
                };
                let v = memo
                    .get(index)
                    .cloned()
                    .flatten()
                    .ok_or_else(|| format!("pickle GET of unknown memo entry {index}"))?;
                stack.push(v);
            }
            b'u' | b's' => {
                let items = if op == b'u' {
                    pop_mark(&mut stack, &mut marks)?
                } else {
                    let v = pop(&mut stack)?;
                    let k = pop(&mut stack)?;
                    vec![k, v]
                };
                let Some(Value::Dict(dict)) = stack.last() else {
                    return Err("pickle SETITEMS without a dict".into());
                };
                let mut dict = dict.borrow_mut();
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    dict.push((k, v));
                }
            }
            b'e' | b'a' => {
                let items = if op == b'e' {
                    pop_mark(&mut stack, &mut marks)?
                } else {
                    vec![pop(&mut stack)?]
                };
                let Some(Value::List(l)) = stack.last() else {
                    return Err("pickle APPENDS without a list".into());
                };
                l.borrow_mut().extend(items);
            }
            b't' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                stack.push(Value::Tuple(Rc::new(items)));
            }
            b'l' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                stack.push(list(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    return Err("pickle stack underflow".into());
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(Value::Tuple(Rc::new(items)));
            }
            b'c' => {
                let rest = &bytes[pos..];
                let mut lines = rest.splitn(3, |&b| b == b'\n');
                let module = lines.next().unwrap_or_default();
                let name = lines.next().unwrap_or_default();
                pos += module.len() + name.len() + 2;
                if pos > bytes.len() {
                    return Err("pickle ends inside a GLOBAL".into());
                }
                match (module, name) {
                    (b"__builtin__" | b"builtins", b"set") => stack.push(Value::SetConstructor),
                    _ => {
                        return Err(format!(
                            "pickle refers to {}.{}: only plain data is read",
                            String::from_utf8_lossy(module),
                            String::from_utf8_lossy(name)
                        ));
                    }
                }
            }
            b'R' => {
                let args = pop(&mut stack)?;
                let callable = pop(&mut stack)?;
                let items = match (&callable, &args) {
                    (Value::SetConstructor, Value::Tuple(t)) => match t.first() {
                        Some(Value::List(l)) => l.borrow().clone(),
                        None => Vec::new(),
                        _ => return Err("pickle applies set to something not a list".into()),
                    },
                    _ => return Err("pickle REDUCE of something other than set".into()),
                };
                stack.push(Value::Set(Rc::new(items)));
            }
            other => {
                return Err(format!(
                    "pickle opcode {other:#04x} at byte {} is not supported (plain data only)",
                    pos - 1
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pickle.dumps(({'a b': {'NN': 1.5, 'VB': -2.0}}, {'the': 'DT'}, set(['NN'])), 2)` as
    /// Python 2 writes it (short strings, a memo, `__builtin__.set`).
    #[test]
    fn reads_a_python2_protocol2_pickle() {
        let mut p: Vec<u8> = vec![0x80, 2, b'}', b'q', 0, b'U', 3];
        p.extend(b"a b");
        p.extend([b'q', 1, b'}', b'q', 2, b'(', b'U', 2]);
        p.extend(b"NN");
        p.extend([b'q', 3, b'G']);
        p.extend(1.5f64.to_be_bytes());
        p.extend([b'U', 2]);
        p.extend(b"VB");
        p.extend([b'G']);
        p.extend((-2.0f64).to_be_bytes());
        p.extend([b'u', b's', b'}', b'U', 3]);
        p.extend(b"the");
        p.extend([b'U', 2]);
        p.extend(b"DT");
        p.extend([b's', b'c']);
        p.extend(b"__builtin__\nset\n");
        p.extend([b']', b'h', 3, b'a', 0x85, b'R', 0x87, b'.']);
        let Value::Tuple(t) = read(&p).unwrap() else {
            panic!("not a tuple")
        };
        let Value::Dict(weights) = &t[0] else {
            panic!()
        };
        let weights = weights.borrow();
        assert_eq!(weights[0].0.as_str(), Some("a b"));
        let Value::Dict(inner) = &weights[0].1 else {
            panic!()
        };
        let inner = inner.borrow();
        assert!(
            matches!(inner[1], (Value::Str(ref s), Value::Float(v)) if &**s == "VB" && v == -2.0)
        );
        let Value::Set(classes) = &t[2] else { panic!() };
        assert_eq!(classes[0].as_str(), Some("NN"));
    }

    #[test]
    fn refuses_code_and_truncation() {
        let mut p: Vec<u8> = vec![0x80, 2, b'c'];
        p.extend(b"os\nsystem\n");
        assert!(read(&p).unwrap_err().contains("os.system"));
        assert!(
            read(&[0x80, 2, b'U', 5, b'a'])
                .unwrap_err()
                .contains("ends inside")
        );
        assert!(read(&[0x80, 2, b'R']).unwrap_err().contains("underflow"));
    }
}
