//! The values a template works with, typed as Go types: Helm's templates tell `int` from
//! `int64` from `float64` (printing, `typeOf`, what a function accepts), and maps are shared by
//! reference (`set` on a dict changes it for every holder).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// A map shared by reference, as Go maps are. Keys are sorted, as Go prints and ranges them.
pub type MapRef = Rc<RefCell<BTreeMap<String, Val>>>;

/// Which Go integer type a value has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntTy {
    /// `int`: literals, `len`, `int`, `atoi`, range indexes.
    Int,
    /// `int64`: sprig's arithmetic, `int64`, `--set` numbers.
    Int64,
    /// `uint8`: a byte, from indexing a string.
    Uint8,
}

/// The element type of a Go slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    /// `[]interface {}`
    Any,
    /// `[]string`
    Str,
    /// `[]int`
    Int,
}

/// The Go type of a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapTy {
    /// `map[string]interface {}`
    Any,
    /// `common.Values`: the root context, `.Values` and `.Template` in Helm 4.
    Values,
    /// `map[string]string` (`split`, `splitn`).
    StrStr,
}

/// A Go slice. `nil` tells a nil slice (JSON `null`) from an empty one (`[]`).
#[derive(Clone, Debug, PartialEq)]
pub struct GoList {
    pub items: Vec<Val>,
    pub elem: Elem,
    pub nil: bool,
}

/// A Go struct (or pointer to one) that templates can reach: `.Capabilities` and its parts.
#[derive(Debug, PartialEq)]
pub struct GoStruct {
    /// `%T` of the value, e.g. `*common.Capabilities`.
    pub type_name: &'static str,
    pub fields: Vec<(&'static str, Val)>,
    /// What `%v` prints, when the type has a `String` method.
    pub display: Option<String>,
    /// A `VersionSet`: the method `Has` looks a version up in these.
    pub has: Option<Vec<String>>,
}

#[derive(Clone, Debug)]
pub enum Val {
    /// Go's invalid value (untyped nil, a missing value).
    Nil,
    Bool(bool),
    Int(i64, IntTy),
    Float(f64),
    Str(Rc<str>),
    List(Rc<GoList>),
    Map(MapRef, MapTy),
    Struct(Rc<GoStruct>),
}

impl PartialEq for Val {
    fn eq(&self, other: &Val) -> bool {
        deep_equal(self, other, 0)
    }
}

impl Val {
    pub fn str(s: impl Into<Rc<str>>) -> Val {
        Val::Str(s.into())
    }

    pub fn int(i: i64) -> Val {
        Val::Int(i, IntTy::Int)
    }

    pub fn int64(i: i64) -> Val {
        Val::Int(i, IntTy::Int64)
    }

    pub fn list(items: Vec<Val>) -> Val {
        Val::List(Rc::new(GoList { items, elem: Elem::Any, nil: false }))
    }

    pub fn typed_list(items: Vec<Val>, elem: Elem) -> Val {
        Val::List(Rc::new(GoList { items, elem, nil: false }))
    }

    pub fn nil_list(elem: Elem) -> Val {
        Val::List(Rc::new(GoList { items: Vec::new(), elem, nil: true }))
    }

    pub fn str_list(items: Vec<String>) -> Val {
        Val::typed_list(items.into_iter().map(Val::str).collect(), Elem::Str)
    }

    pub fn map(m: BTreeMap<String, Val>) -> Val {
        Val::Map(Rc::new(RefCell::new(m)), MapTy::Any)
    }

    pub fn typed_map(m: BTreeMap<String, Val>, ty: MapTy) -> Val {
        Val::Map(Rc::new(RefCell::new(m)), ty)
    }

    pub fn empty_map() -> Val {
        Val::map(BTreeMap::new())
    }

    /// A map's entry (`None` for a missing key or a value that is not a map).
    pub fn get(&self, key: &str) -> Option<Val> {
        match self {
            Val::Map(m, _) => m.borrow().get(key).cloned(),
            _ => None,
        }
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Val::Nil)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    /// `%T`: the Go type's name.
    pub fn type_name(&self) -> String {
        match self {
            Val::Nil => "<nil>".into(),
            Val::Bool(_) => "bool".into(),
            Val::Int(_, IntTy::Int) => "int".into(),
            Val::Int(_, IntTy::Int64) => "int64".into(),
            Val::Int(_, IntTy::Uint8) => "uint8".into(),
            Val::Float(_) => "float64".into(),
            Val::Str(_) => "string".into(),
            Val::List(l) => match l.elem {
                Elem::Any => "[]interface {}".into(),
                Elem::Str => "[]string".into(),
                Elem::Int => "[]int".into(),
            },
            Val::Map(_, MapTy::Any) => "map[string]interface {}".into(),
            Val::Map(_, MapTy::Values) => "common.Values".into(),
            Val::Map(_, MapTy::StrStr) => "map[string]string".into(),
            Val::Struct(s) => s.type_name.into(),
        }
    }

    /// `reflect.Kind` as a string (sprig's `kindOf`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Val::Nil => "invalid",
            Val::Bool(_) => "bool",
            Val::Int(_, IntTy::Int) => "int",
            Val::Int(_, IntTy::Int64) => "int64",
            Val::Int(_, IntTy::Uint8) => "uint8",
            Val::Float(_) => "float64",
            Val::Str(_) => "string",
            Val::List(_) => "slice",
            Val::Map(..) => "map",
            Val::Struct(s) if s.type_name.starts_with('*') => "ptr",
            Val::Struct(s) if s.has.is_some() => "slice",
            Val::Struct(_) => "struct",
        }
    }

    /// Go's `reflect.Value.Len` for the kinds that have one.
    pub fn go_len(&self) -> Option<usize> {
        match self {
            Val::Str(s) => Some(s.len()),
            Val::List(l) => Some(l.items.len()),
            Val::Map(m, _) => Some(m.borrow().len()),
            Val::Struct(s) => s.has.as_ref().map(Vec::len),
            _ => None,
        }
    }

    /// text/template's truth: false, 0, nil and empty strings, lists and maps are false.
    pub fn truthy(&self) -> bool {
        match self {
            Val::Nil => false,
            Val::Bool(b) => *b,
            Val::Int(i, _) => *i != 0,
            Val::Float(f) => *f != 0.0,
            Val::Str(s) => !s.is_empty(),
            Val::List(l) => !l.items.is_empty(),
            Val::Map(m, _) => !m.borrow().is_empty(),
            Val::Struct(s) => s.has.as_ref().is_none_or(|h| !h.is_empty()),
        }
    }

    /// Numbers as sprig's `cast.ToInt64` sees them (floats truncate, strings parse with Go's
    /// base prefixes, anything else is 0).
    pub fn to_i64(&self) -> i64 {
        match self {
            Val::Int(i, _) => *i,
            Val::Float(f) => go_f64_to_i64(*f),
            Val::Bool(b) => i64::from(*b),
            Val::Str(s) => {
                let t = trim_zero_decimal(s);
                go_parse_int(t).unwrap_or(0)
            }
            _ => 0,
        }
    }

    /// `cast.ToFloat64`.
    pub fn to_f64(&self) -> f64 {
        match self {
            Val::Int(i, _) => *i as f64,
            Val::Float(f) => *f,
            Val::Bool(b) => f64::from(u8::from(*b)),
            Val::Str(s) => go_parse_float(s).unwrap_or(0.0),
            _ => 0.0,
        }
    }
}

/// Go's float → int64 conversion (out of range and NaN give the minimum, as on amd64).
pub fn go_f64_to_i64(f: f64) -> i64 {
    if f.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) { i64::MIN } else { f as i64 }
}

/// `cast`'s trimZeroDecimal: "12.000" → "12".
fn trim_zero_decimal(s: &str) -> &str {
    if let Some(dot) = s.find('.') {
        let (int, frac) = (&s[..dot], &s[dot + 1..]);
        if !frac.is_empty() && frac.bytes().all(|b| b == b'0') {
            return int;
        }
    }
    s
}

/// `strconv.ParseInt(s, 0, 64)`: optional sign, `0x`/`0o`/`0b`/leading-`0` prefixes,
/// underscores only after a prefix.
pub fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let v = go_parse_uint_body(body)?;
    if neg {
        if v > (i64::MAX as u128) + 1 {
            return None;
        }
        Some((v as i128).wrapping_neg() as i64)
    } else {
        i64::try_from(v).ok()
    }
}

/// `strconv.ParseUint(s, 0, 64)` without sign.
pub fn go_parse_uint(s: &str) -> Option<u64> {
    u64::try_from(go_parse_uint_body(s)?).ok()
}

/// Why a Go integer parse failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntErr {
    Syntax,
    Range,
}

/// The magnitude of a Go integer literal in base 0 (`strconv.ParseUint(s, 0, …)` without the
/// 64-bit range check; a value past u128 is a range error).
pub fn go_parse_uint_body(s: &str) -> Option<u128> {
    go_parse_uint_checked(s).ok()
}

pub fn go_parse_uint_checked(s0: &str) -> Result<u128, IntErr> {
    let b = s0.as_bytes();
    if b.is_empty() {
        return Err(IntErr::Syntax);
    }
    let (base, digits): (u32, &[u8]) = if b[0] == b'0' {
        match b.get(1).map(u8::to_ascii_lowercase) {
            Some(b'b') if b.len() >= 3 => (2, &b[2..]),
            Some(b'o') if b.len() >= 3 => (8, &b[2..]),
            Some(b'x') if b.len() >= 3 => (16, &b[2..]),
            _ => (8, &b[1..]),
        }
    } else {
        (10, b)
    };
    let mut out: u128 = 0;
    let mut underscores = false;
    let mut range = false;
    for &c in digits {
        let d = match c {
            b'_' => {
                underscores = true;
                continue;
            }
            b'0'..=b'9' => u32::from(c - b'0'),
            _ if c.is_ascii_alphabetic() => u32::from(c.to_ascii_lowercase() - b'a') + 10,
            _ => return Err(IntErr::Syntax),
        };
        if d >= base {
            return Err(IntErr::Syntax);
        }
        match out.checked_mul(u128::from(base)).and_then(|o| o.checked_add(u128::from(d))) {
            Some(o) => out = o,
            None => range = true,
        }
    }
    if underscores && !underscore_ok(s0) {
        return Err(IntErr::Syntax);
    }
    if range { Err(IntErr::Range) } else { Ok(out) }
}

/// Go's `underscoreOK`: underscores only between digits (a base prefix counts as a digit).
fn underscore_ok(s: &str) -> bool {
    let mut s = s.as_bytes();
    if let [b'-' | b'+', rest @ ..] = s {
        s = rest;
    }
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if s.len() >= 2 && s[0] == b'0' && matches!(s[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = s[1].eq_ignore_ascii_case(&b'x');
    }
    while i < s.len() {
        let c = s[i];
        i += 1;
        if c.is_ascii_digit() || hex && c.is_ascii_hexdigit() {
            saw = b'0';
            continue;
        }
        if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
            continue;
        }
        if saw == b'_' {
            return false;
        }
        saw = b'!';
    }
    saw != b'_'
}

/// `strconv.ParseFloat(s, 64)` for the decimal forms (and Go's `inf`/`nan` spellings); out of
/// range is an error, as in Go.
pub fn go_parse_float(s: &str) -> Option<f64> {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = t.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" || lower == "nan" {
        let f = if lower == "nan" { f64::NAN } else { f64::INFINITY };
        return Some(if s.starts_with('-') { -f } else { f });
    }
    if t.starts_with("0x") || t.starts_with("0X") || t.contains('_') {
        return None;
    }
    let ok = {
        let b = t.as_bytes();
        let mut i = 0;
        let mut digits = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
                digits += 1;
            }
        }
        if digits > 0 && i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            i += 1;
            if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                i += 1;
            }
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return None;
            }
        }
        digits > 0 && i == b.len()
    };
    if !ok {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    if f.is_infinite() { None } else { Some(f) }
}

/// Values nested deeper than this are refused (a map that contains itself would recurse
/// forever).
pub const MAX_DEPTH: usize = 500;

/// `reflect.DeepEqual`: same Go type, same contents.
pub fn deep_equal(a: &Val, b: &Val, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    match (a, b) {
        (Val::Nil, Val::Nil) => true,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Int(x, tx), Val::Int(y, ty)) => x == y && tx == ty,
        (Val::Float(x), Val::Float(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::List(x), Val::List(y)) => {
            x.elem == y.elem
                && x.nil == y.nil
                && x.items.len() == y.items.len()
                && x.items.iter().zip(&y.items).all(|(a, b)| deep_equal(a, b, depth + 1))
        }
        (Val::Map(x, tx), Val::Map(y, ty)) => {
            if tx != ty {
                return false;
            }
            if Rc::ptr_eq(x, y) {
                return true;
            }
            let (x, y) = (x.borrow(), y.borrow());
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w, depth + 1)))
        }
        (Val::Struct(x), Val::Struct(y)) => Rc::ptr_eq(x, y) || x == y,
        _ => false,
    }
}

/// Copies maps and lists all the way down (sprig's `deepCopy`).
pub fn deep_copy(v: &Val, depth: usize) -> Result<Val, String> {
    if depth > MAX_DEPTH {
        return Err("value nested too deeply (does a map contain itself?)".into());
    }
    Ok(match v {
        Val::List(l) => {
            let items = l.items.iter().map(|i| deep_copy(i, depth + 1)).collect::<Result<_, _>>()?;
            Val::List(Rc::new(GoList { items, elem: l.elem, nil: l.nil }))
        }
        Val::Map(m, ty) => {
            let entries: Vec<(String, Val)> = m.borrow().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let mut out = BTreeMap::new();
            for (k, v) in entries {
                out.insert(k, deep_copy(&v, depth + 1)?);
            }
            Val::typed_map(out, *ty)
        }
        other => other.clone(),
    })
}

/// How numbers in JSON values become Go numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Numbers {
    /// Every number is a `float64`: values read from YAML files (and `--set-json`, `fromYaml`,
    /// `fromJson`) go through JSON in Helm.
    Float64,
    /// Integers are `int64`, other numbers `float64`: values from `--set`.
    Int64,
}

/// A JSON value as Helm holds it.
pub fn from_json(v: &serde_json::Value, numbers: Numbers) -> Val {
    match v {
        serde_json::Value::Null => Val::Nil,
        serde_json::Value::Bool(b) => Val::Bool(*b),
        serde_json::Value::Number(n) => match (numbers, n.as_i64()) {
            (Numbers::Int64, Some(i)) => Val::int64(i),
            _ => Val::Float(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Val::str(s.as_str()),
        serde_json::Value::Array(items) => Val::list(items.iter().map(|i| from_json(i, numbers)).collect()),
        serde_json::Value::Object(m) => Val::map(m.iter().map(|(k, v)| (k.clone(), from_json(v, numbers))).collect()),
    }
}
