//! Helm's `--set` syntax ("strvals"): `a.b=1,c[0].d=x,e={x,y}`, read into a values tree.
//!
//! The rules, as Helm applies them:
//! - a line holds `key=value` pairs separated by `,`; a key is a dotted path (`a.b.c`) whose
//!   segments may carry list indices (`list[0]`, `nested[0][1]`);
//! - `\` escapes the next character anywhere (`a\.b` is one key, `x\,y` one value);
//! - a value `{a,b}` is a list; `a=` is the empty string;
//! - values are typed: `true`/`false` (any case) are booleans, `null` deletes the key once the
//!   values are merged with the chart's, integers without a leading zero are integers
//!   (`0` too), everything else is a string. `--set-string` keeps every value a string;
//! - setting into values that already exist (an earlier file's) walks their maps and lists, so
//!   `containers[0].image=x` changes one field of an existing first container.
//!
//! Helm's own edge cases are kept where they are part of the syntax (`a={}` is `[""]`, a
//! trailing `,` is allowed, indices past the end pad the list with nulls); where Helm silently
//! ignores malformed input (an index without its `]`) this parser reports it instead.

use serde_json::{Map, Value};

/// A `--set` line that cannot be read, or that does not fit the values it is set into.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SetError(pub String);

/// Whether values are typed (`--set`) or always strings (`--set-string`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typing {
    Typed,
    Strings,
}

/// The largest list index a `--set` may name (Helm's limit), so a typo cannot allocate gigabytes.
pub const MAX_INDEX: usize = 65536;
/// The deepest dotted path a `--set` may name (Helm's limit).
pub const MAX_DEPTH: usize = 30;

/// Parses a `--set` line into a new values tree.
pub fn parse(line: &str, typing: Typing) -> Result<Map<String, Value>, SetError> {
    let mut out = Map::new();
    parse_into(line, &mut out, typing)?;
    Ok(out)
}

/// Parses a `--set` line and sets its values into `dest`, overwriting what is there.
pub fn parse_into(line: &str, dest: &mut Map<String, Value>, typing: Typing) -> Result<(), SetError> {
    let mut p = Parser { chars: line.chars().collect(), pos: 0, typing };
    loop {
        match p.key(dest, 0) {
            Ok(()) => continue,
            Err(Stop::End) => return Ok(()),
            Err(Stop::Error(e)) => return Err(SetError(e)),
        }
    }
}

/// Why reading stopped: the end of the line (normal), or an error.
enum Stop {
    End,
    Error(String),
}

fn fail<T>(message: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Error(message.into()))
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    typing: Typing,
}

/// What `value_list` found: a `{a,b}` list, or something else to read as a plain value.
enum ListOr {
    List(Vec<Value>),
    NotList,
    End,
}

impl Parser {
    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn unread(&mut self) {
        self.pos -= 1;
    }

    /// Reads up to (and consuming) the first unescaped character of `stop`; `None` at the end.
    fn until(&mut self, stop: &[char]) -> (String, Option<char>) {
        let mut text = String::new();
        loop {
            match self.next() {
                None => return (text, None),
                Some(c) if stop.contains(&c) => return (text, Some(c)),
                Some('\\') => match self.next() {
                    None => return (text, None),
                    Some(escaped) => text.push(escaped),
                },
                Some(c) => text.push(c),
            }
        }
    }

    /// One `key…=value` pair (or the rest of a dotted key, when nested) into `data`.
    fn key(&mut self, data: &mut Map<String, Value>, depth: usize) -> Result<(), Stop> {
        let (key, last) = self.until(&['=', '[', ',', '.']);
        match last {
            None if key.is_empty() => Err(Stop::End),
            None => fail(format!("key `{key}` has no value")),
            Some(',') => fail(format!("key `{key}` has no value (a `,` cannot follow a key)")),
            Some('=') => {
                let value = match self.value_list()? {
                    ListOr::List(list) => Value::Array(list),
                    ListOr::End => {
                        set(data, &key, Value::String(String::new()));
                        return Err(Stop::End);
                    }
                    ListOr::NotList => {
                        let (text, _) = self.until(&[',']);
                        self.typed(&text)
                    }
                };
                set(data, &key, value);
                Ok(())
            }
            Some('[') => {
                let index = self.index()?;
                let list = match data.get_mut(&key) {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(list)) => std::mem::take(list),
                    Some(_) => return fail(format!("`{key}` is not a list, but `{key}[{index}]` is set")),
                };
                let (list, result) = self.list_item(list, index, depth);
                set(data, &key, Value::Array(list));
                result
            }
            Some('.') => {
                if depth + 1 > MAX_DEPTH {
                    return fail(format!("the key is nested deeper than {MAX_DEPTH} levels"));
                }
                match data.get_mut(&key) {
                    Some(Value::Object(inner)) => self.key(inner, depth + 1),
                    Some(Value::Null) | None => {
                        let mut inner = Map::new();
                        let result = self.key(&mut inner, depth + 1);
                        if result.is_ok() && inner.is_empty() {
                            return fail(format!("key `{key}` has no value"));
                        }
                        if !inner.is_empty() {
                            set(data, &key, Value::Object(inner));
                        }
                        result
                    }
                    Some(_) => fail(format!("`{key}` is not a map, but a key inside it is set")),
                }
            }
            Some(_) => unreachable_stop(),
        }
    }

    /// The number inside `[…]`, the `[` already read.
    fn index(&mut self) -> Result<usize, Stop> {
        let (text, last) = self.until(&[']']);
        if last.is_none() {
            return fail(format!("list index `[{text}` has no `]`"));
        }
        match text.trim().parse::<i64>() {
            Ok(i) if i < 0 => fail(format!("negative list index {i}")),
            Ok(i) if i as u64 > MAX_INDEX as u64 => {
                fail(format!("list index {i} is larger than the largest allowed, {MAX_INDEX}"))
            }
            Ok(i) => Ok(i as usize),
            Err(_) => fail(format!("`{text}` is not a list index")),
        }
    }

    /// What follows `list[index]`: `=value`, another `[i]`, or `.key…`. Returns the list, changed
    /// or not, so the caller can put it back whatever happened.
    fn list_item(&mut self, mut list: Vec<Value>, index: usize, depth: usize) -> (Vec<Value>, Result<(), Stop>) {
        let (junk, last) = self.until(&['[', '.', '=']);
        if !junk.is_empty() {
            return (list, fail(format!("unexpected `{junk}` after a list index")));
        }
        match last {
            None => (list, Err(Stop::End)),
            Some('=') => {
                let value = match self.value_list() {
                    Ok(ListOr::List(l)) => Value::Array(l),
                    Ok(ListOr::End) => Value::String(String::new()),
                    Ok(ListOr::NotList) => {
                        let (text, _) = self.until(&[',']);
                        self.typed(&text)
                    }
                    Err(e) => return (list, Err(e)),
                };
                set_index(&mut list, index, value);
                (list, Ok(()))
            }
            Some('[') => {
                let next = match self.index() {
                    Ok(i) => i,
                    Err(e) => return (list, Err(e)),
                };
                let inner = match list.get_mut(index) {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(l)) => std::mem::take(l),
                    Some(_) => {
                        return (list, fail(format!("element {index} is not a list, but `[{next}]` is set in it")));
                    }
                };
                let (inner, result) = self.list_item(inner, next, depth);
                set_index(&mut list, index, Value::Array(inner));
                (list, result)
            }
            Some('.') => {
                // An element that is not a map (set out of order, or a scalar) is replaced by one.
                let mut inner = match list.get_mut(index) {
                    Some(Value::Object(m)) => std::mem::take(m),
                    _ => Map::new(),
                };
                let result = self.key(&mut inner, depth);
                set_index(&mut list, index, Value::Object(inner));
                (list, result)
            }
            Some(_) => (list, unreachable_stop()),
        }
    }

    /// A `{a,b}` list value, if the value starts with `{`.
    fn value_list(&mut self) -> Result<ListOr, Stop> {
        match self.next() {
            None => return Ok(ListOr::End),
            Some('{') => {}
            Some(_) => {
                self.unread();
                return Ok(ListOr::NotList);
            }
        }
        let mut list = Vec::new();
        loop {
            let (text, last) = self.until(&[',', '}']);
            match last {
                None => return fail("a list value must end with `}`"),
                Some('}') => {
                    // A `,` after the list separates it from the next pair.
                    if let Some(c) = self.next()
                        && c != ','
                    {
                        self.unread();
                    }
                    list.push(self.typed(&text));
                    return Ok(ListOr::List(list));
                }
                Some(_) => list.push(self.typed(&text)),
            }
        }
    }

    fn typed(&self, text: &str) -> Value {
        if self.typing == Typing::Strings {
            return Value::String(text.to_string());
        }
        typed_value(text)
    }
}

/// The `until` calls above stop only at the characters each match lists.
fn unreachable_stop() -> Result<(), Stop> {
    fail("internal error: unexpected stop character")
}

/// A `--set` value's type: booleans and `null` in any case, integers without a leading zero.
pub fn typed_value(text: &str) -> Value {
    if text.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if text.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    if text.eq_ignore_ascii_case("null") {
        return Value::Null;
    }
    if text == "0" {
        return Value::from(0);
    }
    // `0123` stays a string: it is more often an id or a version than octal.
    if !text.is_empty()
        && !text.starts_with('0')
        && let Ok(i) = text.parse::<i64>()
    {
        return Value::from(i);
    }
    Value::String(text.to_string())
}

fn set(data: &mut Map<String, Value>, key: &str, value: Value) {
    // Helm ignores an empty key (`=x`, `.a=x`).
    if !key.is_empty() {
        data.insert(key.to_string(), value);
    }
}

fn set_index(list: &mut Vec<Value>, index: usize, value: Value) {
    if list.len() <= index {
        list.resize(index + 1, Value::Null);
    }
    list[index] = value;
}
