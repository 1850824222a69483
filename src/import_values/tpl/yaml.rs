//! Helm's `toYaml` and `fromYaml`. `toYaml` is sigs.k8s.io/yaml: the value is marshalled to
//! JSON, read back by go-yaml v2 and written by go-yaml v2's emitter (a port of libyaml's):
//! keys in go-yaml's "natural" order, strings quoted only when they must be, long lines folded
//! at 80 columns. The emitter below follows libyaml's (`unsafe-libyaml`'s `emitter.rs`) for the
//! events Helm's values produce.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::gofmt::{format_float_g, json_float};
use super::value::{self, IntErr, MAX_DEPTH, Val};

enum Node {
    Scalar(String, Style),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// `toYaml` (its trailing newline trimmed); an error where Helm's toYaml gives "".
pub fn to_yaml(v: &Val) -> Result<String, String> {
    render(v, false)
}

/// `toYamlPretty`: sequences indented under their keys.
pub fn to_yaml_pretty(v: &Val) -> Result<String, String> {
    render(v, true)
}

fn render(v: &Val, pretty: bool) -> Result<String, String> {
    let node = to_node(v, 0)?;
    let mut e = Emitter::new(pretty);
    e.emit_node(&node, true, false, false, false);
    // Document end: a final line break unless the output already ends with one.
    e.write_indent();
    let out = e.out;
    Ok(out.strip_suffix('\n').map(str::to_string).unwrap_or(out))
}

/// The value as go-yaml sees it after the JSON round trip.
fn to_node(v: &Val, depth: usize) -> Result<Node, String> {
    if depth > MAX_DEPTH {
        return Err("json: unsupported value: encountered a cycle".into());
    }
    Ok(match v {
        Val::Nil => Node::Scalar("null".into(), Style::Plain),
        Val::Bool(b) => Node::Scalar(b.to_string(), Style::Plain),
        Val::Int(i, _) => Node::Scalar(i.to_string(), Style::Plain),
        Val::Float(f) => Node::Scalar(yaml_number(&json_float(*f)?), Style::Plain),
        Val::Str(s) => string_node(&json_string_roundtrip(s)?),
        Val::List(l) if l.nil => Node::Scalar("null".into(), Style::Plain),
        Val::List(l) => Node::Seq(l.items.iter().map(|i| to_node(i, depth + 1)).collect::<Result<_, _>>()?),
        Val::Map(m, _) => {
            let entries: Vec<(String, Val)> = m.borrow().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            map_node(entries, depth)?
        }
        Val::Struct(s) => {
            if let Some(h) = &s.has {
                Node::Seq(h.iter().map(|x| string_node(x)).collect())
            } else {
                map_node(s.fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(), depth)?
            }
        }
    })
}

fn map_node(entries: Vec<(String, Val)>, depth: usize) -> Result<Node, String> {
    let mut out = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        // A raw NEL is a line break to go-yaml, and a key cannot span lines.
        if k.contains('\u{85}') {
            return Err("yaml: did not find expected ',' or '}'".into());
        }
        out.push((json_string_roundtrip(&k)?, to_node(&v, depth + 1)?));
    }
    out.sort_by(|a, b| natural_cmp(&a.0, &b.0));
    Ok(Node::Map(out))
}

/// A JSON number as go-yaml reads it back and writes it: integers as integers, the rest
/// through `strconv.FormatFloat(f, 'g', -1, 64)`.
fn yaml_number(json: &str) -> String {
    if let Some(i) = value::go_parse_int(json) {
        return i.to_string();
    }
    if let Some(u) = value::go_parse_uint(json) {
        return u.to_string();
    }
    json.parse::<f64>().map(format_float_g).unwrap_or_else(|_| json.to_string())
}

/// What a string is after JSON encoding and go-yaml's reading of the double-quoted scalar:
/// unchanged, but for raw NEL characters (a line break to YAML, folded) and the characters
/// go-yaml's reader refuses (then toYaml fails, and Helm prints "").
fn json_string_roundtrip(s: &str) -> Result<String, String> {
    for c in s.chars() {
        let u = c as u32;
        if (0x7F..=0x84).contains(&u) || (0x86..=0x9F).contains(&u) || u == 0xFFFE || u == 0xFFFF {
            return Err("yaml: control characters are not allowed".into());
        }
    }
    if !s.contains('\u{85}') {
        return Ok(s.to_string());
    }
    // Folding: one break becomes a space, n breaks become n-1 newlines; blanks around go.
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('\u{85}') {
        out.push_str(rest[..i].trim_end_matches([' ', '\t']));
        let mut n = 0;
        let mut tail = &rest[i..];
        while let Some(t) = tail.trim_start_matches([' ', '\t']).strip_prefix('\u{85}') {
            n += 1;
            tail = t;
        }
        tail = tail.trim_start_matches([' ', '\t']);
        if n == 1 {
            out.push(' ')
        } else {
            out.push_str(&"\n".repeat(n - 1))
        }
        rest = tail;
    }
    out.push_str(rest);
    Ok(out)
}

/// go-yaml's stringv: literal for multi-line, plain when the plain text would read back as
/// the same string, double-quoted otherwise (the emitter may still pick another style).
fn string_node(s: &str) -> Node {
    let style = if s.contains('\n') {
        Style::Literal
    } else if !resolves_non_str(s) && !is_base60_float(s) {
        Style::Plain
    } else {
        Style::Double
    };
    Node::Scalar(s.to_string(), style)
}

/// Whether go-yaml v2 reads the plain scalar as something other than a string.
fn resolves_non_str(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "n", "N", "no", "No", "NO", "false",
        "False", "FALSE", "off", "Off", "OFF", "", "~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf",
        ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
    ];
    if SPECIAL.contains(&s) {
        return true;
    }
    let Some(&first) = s.as_bytes().first() else { return true };
    match first {
        b'.' => float_syntax(s) && s[1..].parse::<f64>().is_ok_and(f64::is_finite),
        b'+' | b'-' | b'0'..=b'9' => {
            if is_timestamp(s) {
                return true;
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            match parse_int_checked(&plain) {
                Ok(_) => return true,
                Err(IntErr::Range) => return true,
                Err(IntErr::Syntax) => {}
            }
            if yaml_float_syntax(&plain) && plain.parse::<f64>().is_ok_and(f64::is_finite) {
                return true;
            }
            if let Some(b) = plain.strip_prefix("0b").or_else(|| plain.strip_prefix("-0b")) {
                return !b.is_empty() && b.bytes().all(|c| c == b'0' || c == b'1');
            }
            false
        }
        _ => false,
    }
}

fn float_syntax(s: &str) -> bool {
    // `.5`, `.5e3` (hint '.': Go's ParseFloat on the whole text).
    let b = s.as_bytes();
    let mut i = 1;
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == start {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let s2 = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == s2 {
            return false;
        }
    }
    i == b.len()
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn yaml_float_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let s2 = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == s2 {
            return false;
        }
    } else {
        let s2 = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == s2 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let s2 = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == s2 {
            return false;
        }
    }
    i == b.len()
}

/// `strconv.ParseInt(s, 0, 64)` then `ParseUint`, telling a range error from a syntax error
/// (go-yaml then tries a big integer, which still makes the scalar a number).
fn parse_int_checked(s: &str) -> Result<(), IntErr> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let v = value::go_parse_uint_checked(body)?;
    let limit = if neg { (i64::MAX as u128) + 1 } else { u64::MAX as u128 };
    if v > limit { Err(IntErr::Range) } else { Ok(()) }
}

/// go-yaml's timestamp forms: `2006-1-2`, `2006-1-2T15:4:5.999999999Z07:00` (also `t`), and
/// `2006-1-2 15:4:5.999999999`.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let num = |t: &str, max_len: usize| -> Option<(u32, usize)> {
        let n = t.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > max_len {
            return None;
        }
        Some((t[..n].parse().ok()?, n))
    };
    let rest = &s[5..];
    let Some((month, n)) = num(rest, 2) else { return false };
    let rest = &rest[n..];
    let Some(rest) = rest.strip_prefix('-') else { return false };
    let Some((day, n)) = num(rest, 2) else { return false };
    let year: u32 = s[..4].parse().unwrap_or(0);
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&month) || day < 1 || day > days[(month - 1) as usize] {
        return false;
    }
    let rest = &rest[n..];
    if rest.is_empty() {
        return true;
    }
    let (zone_needed, rest) = match rest.as_bytes()[0] {
        b'T' | b't' => (true, &rest[1..]),
        b' ' => (false, &rest[1..]),
        _ => return false,
    };
    let Some((h, n)) = num(rest, 2) else { return false };
    let rest = &rest[n..];
    let Some(rest) = rest.strip_prefix(':') else { return false };
    let Some((m, n)) = num(rest, 2) else { return false };
    let rest = &rest[n..];
    let Some(rest) = rest.strip_prefix(':') else { return false };
    let Some((sec, n)) = num(rest, 2) else { return false };
    let mut rest = &rest[n..];
    if h > 23 || m > 59 || sec > 59 {
        return false;
    }
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return false;
        }
        rest = &frac[n..];
    }
    if !zone_needed {
        return rest.is_empty();
    }
    if rest == "Z" {
        return true;
    }
    let z = rest.as_bytes();
    z.len() == 6
        && (z[0] == b'+' || z[0] == b'-')
        && z[1..3].iter().all(u8::is_ascii_digit)
        && z[3] == b':'
        && z[4..].iter().all(u8::is_ascii_digit)
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        let s2 = i;
        while i < b.len() && b[i].is_ascii_digit() && i - s2 < 2 {
            i += 1;
        }
        let g = &s[s2..i];
        let ok = match g.len() {
            1 => true,
            2 => g.as_bytes()[0] <= b'5',
            _ => false,
        };
        if !ok {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// go-yaml v2's ordering of map keys (its `keyList.Less` for strings): runs of digits compare
/// as numbers, letters before other characters.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl { Ordering::Less } else { Ordering::Greater };
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

// ---- the emitter -------------------------------------------------------------------------

struct Analysis {
    multiline: bool,
    flow_plain: bool,
    block_plain: bool,
    single_ok: bool,
    block_ok: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// libyaml's IS_PRINTABLE.
fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis { multiline: false, flow_plain: false, block_plain: true, single_ok: true, block_ok: false };
    }
    let chars: Vec<char> = s.chars().collect();
    let (mut block_ind, mut flow_ind, mut line_breaks, mut special) = (false, false, false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) = (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    if s.starts_with("---") || s.starts_with("...") {
        block_ind = true;
        flow_ind = true;
    }
    let mut preceded_ws = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_ws = i + 1 >= chars.len() || is_blank(chars[i + 1]);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => {
                    flow_ind = true;
                    block_ind = true;
                }
                '?' | ':' => {
                    flow_ind = true;
                    if followed_ws {
                        block_ind = true;
                    }
                }
                '-' if followed_ws => {
                    flow_ind = true;
                    block_ind = true;
                }
                _ => {}
            }
        } else {
            match c {
                ',' | '?' | '[' | ']' | '{' | '}' => flow_ind = true,
                ':' => {
                    flow_ind = true;
                    if followed_ws {
                        block_ind = true;
                    }
                }
                '#' if preceded_ws => {
                    flow_ind = true;
                    block_ind = true;
                }
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == chars.len() {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == chars.len() {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_ws = is_blank(c) || is_break(c);
    }
    let mut a =
        Analysis { multiline: line_breaks, flow_plain: true, block_plain: true, single_ok: true, block_ok: true };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.flow_plain = false;
        a.block_plain = false;
    }
    if trailing_space {
        a.block_ok = false;
    }
    if break_space {
        a.flow_plain = false;
        a.block_plain = false;
        a.single_ok = false;
    }
    if space_break || special {
        a.flow_plain = false;
        a.block_plain = false;
        a.single_ok = false;
        a.block_ok = false;
    }
    if line_breaks {
        a.flow_plain = false;
        a.block_plain = false;
    }
    if flow_ind {
        a.flow_plain = false;
    }
    if block_ind {
        a.block_plain = false;
    }
    a
}

struct Emitter {
    out: String,
    column: usize,
    indent: i32,
    indents: Vec<i32>,
    flow_level: usize,
    whitespace: bool,
    indention: bool,
    mapping_context: bool,
    simple_key_context: bool,
    pretty: bool,
}

const BEST_INDENT: i32 = 2;
const BEST_WIDTH: usize = 80;

impl Emitter {
    fn new(pretty: bool) -> Emitter {
        Emitter {
            out: String::new(),
            column: 0,
            indent: -1,
            indents: Vec::new(),
            flow_level: 0,
            whitespace: true,
            indention: true,
            mapping_context: false,
            simple_key_context: false,
            pretty,
        }
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if !indentless {
            self.indent += BEST_INDENT;
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(&mut self, ind: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(' ');
        }
        for c in ind.chars() {
            self.put(c);
        }
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
    }

    fn emit_node(&mut self, node: &Node, _root: bool, _sequence: bool, mapping: bool, simple_key: bool) {
        self.mapping_context = mapping;
        self.simple_key_context = simple_key;
        match node {
            Node::Scalar(s, style) => self.emit_scalar(s, *style),
            Node::Seq(items) if items.is_empty() || self.flow_level > 0 => {
                self.write_indicator("[", true, true, false);
                self.increase_indent(true, false);
                self.pop_indent();
                self.write_indicator("]", false, false, false);
            }
            Node::Map(entries) if entries.is_empty() || self.flow_level > 0 => {
                self.write_indicator("{", true, true, false);
                self.increase_indent(true, false);
                self.pop_indent();
                self.write_indicator("}", false, false, false);
            }
            Node::Seq(items) => {
                let indentless = self.mapping_context && !self.indention && !self.pretty;
                self.increase_indent(false, indentless);
                for item in items {
                    self.write_indent();
                    self.write_indicator("-", true, false, true);
                    self.emit_node(item, false, true, false, false);
                }
                self.pop_indent();
            }
            Node::Map(entries) => {
                self.increase_indent(false, false);
                for (k, v) in entries {
                    self.write_indent();
                    let a = analyze(k);
                    let simple = !a.multiline && k.len() <= 128;
                    if simple {
                        self.emit_node(&string_node(k), false, false, true, true);
                        self.write_indicator(":", false, false, false);
                    } else {
                        self.write_indicator("?", true, false, true);
                        self.emit_node(&string_node(k), false, false, true, false);
                        self.write_indent();
                        self.write_indicator(":", true, false, true);
                    }
                    self.emit_node(v, false, false, true, false);
                }
                self.pop_indent();
            }
        }
    }

    fn emit_scalar(&mut self, s: &str, requested: Style) {
        let a = analyze(s);
        let mut style = requested;
        if self.simple_key_context && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain {
            if (self.flow_level > 0 && !a.flow_plain) || (self.flow_level == 0 && !a.block_plain) {
                style = Style::Single;
            }
            if s.is_empty() && (self.flow_level > 0 || self.simple_key_context) {
                style = Style::Single;
            }
        }
        if style == Style::Single && !a.single_ok {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block_ok || self.flow_level > 0 || self.simple_key_context) {
            style = Style::Double;
        }
        self.increase_indent(true, false);
        let allow_breaks = !self.simple_key_context;
        match style {
            Style::Plain => self.write_plain(s, allow_breaks),
            Style::Single => self.write_single(s, allow_breaks),
            Style::Double => self.write_double(s, allow_breaks),
            Style::Literal => self.write_literal(s),
        }
        self.pop_indent();
    }

    fn write_plain(&mut self, s: &str, allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        let chars: Vec<char> = s.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && chars.get(i + 1) != Some(&' ') {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single(&mut self, s: &str, allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        let chars: Vec<char> = s.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i != 0
                    && i + 1 != chars.len()
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        if breaks {
            self.write_indent();
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double(&mut self, s: &str, allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                let u = c as u32;
                let short = match u {
                    0x00 => Some('0'),
                    0x07 => Some('a'),
                    0x08 => Some('b'),
                    0x09 => Some('t'),
                    0x0A => Some('n'),
                    0x0B => Some('v'),
                    0x0C => Some('f'),
                    0x0D => Some('r'),
                    0x1B => Some('e'),
                    0x22 => Some('"'),
                    0x5C => Some('\\'),
                    0x85 => Some('N'),
                    0xA0 => Some('_'),
                    0x2028 => Some('L'),
                    0x2029 => Some('P'),
                    _ => None,
                };
                match short {
                    Some(e) => self.put(e),
                    None => {
                        let (p, w) = if u <= 0xFF {
                            ('x', 2)
                        } else if u <= 0xFFFF {
                            ('u', 4)
                        } else {
                            ('U', 8)
                        };
                        self.put(p);
                        for ch in format!("{u:0w$X}").chars() {
                            self.put(ch);
                        }
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i != 0 && i + 1 != chars.len() {
                    self.write_indent();
                    if chars.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, s: &str) {
        self.write_indicator("|", true, false, false);
        // Block scalar hints: an indentation digit when the text starts with a space or a
        // break; `-` without a final break, `+` with more than one.
        let chars: Vec<char> = s.chars().collect();
        if chars.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            self.write_indicator(&BEST_INDENT.to_string(), false, false, false);
        }
        let chomp = match chars.len() {
            0 => Some("-"),
            n if !is_break(chars[n - 1]) => Some("-"),
            1 => Some("+"),
            n if is_break(chars[n - 2]) => Some("+"),
            _ => None,
        };
        if let Some(h) = chomp {
            self.write_indicator(h, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for &c in &chars {
            if is_break(c) {
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

// ---- fromYaml ----------------------------------------------------------------------------

fn yaml_to_val(v: serde_yaml_ng::Value, depth: usize) -> Result<Val, String> {
    use serde_yaml_ng::Value as Y;
    if depth > MAX_DEPTH {
        return Err("yaml: exceeded max depth".into());
    }
    Ok(match v {
        Y::Null => Val::Nil,
        Y::Bool(b) => Val::Bool(b),
        Y::Number(n) => Val::Float(n.as_f64().unwrap_or(0.0)),
        Y::String(s) => Val::str(s),
        Y::Sequence(items) => {
            Val::list(items.into_iter().map(|i| yaml_to_val(i, depth + 1)).collect::<Result<_, _>>()?)
        }
        Y::Mapping(m) => {
            let mut out = BTreeMap::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.as_f64().map(format_float_g).unwrap_or_else(|| n.to_string()),
                    Y::Bool(b) => b.to_string(),
                    Y::Null => "null".into(),
                    _ => return Err("error converting YAML to JSON: yaml: invalid map key".into()),
                };
                out.insert(key, yaml_to_val(v, depth + 1)?);
            }
            Val::map(out)
        }
        Y::Tagged(t) => yaml_to_val(t.value, depth)?,
    })
}

/// The first YAML document of `s`, converted as sigs.k8s.io/yaml converts (every number a
/// float64).
fn parse_first(s: &str) -> Result<Val, String> {
    use serde::Deserialize as _;
    let Some(doc) = serde_yaml_ng::Deserializer::from_str(s).next() else {
        return Ok(Val::Nil);
    };
    let mut v = serde_yaml_ng::Value::deserialize(doc).map_err(|e| {
        let m = e.to_string();
        let m = m.split(" at line ").next().unwrap_or(&m);
        let m = m.split(", while ").next().unwrap_or(m).to_string();
        format!("error converting YAML to JSON: yaml: {m}")
    })?;
    v.apply_merge().map_err(|e| format!("error converting YAML to JSON: yaml: {e}"))?;
    yaml_to_val(v, 0)
}

fn yaml_kind(v: &Val) -> &'static str {
    match v {
        Val::List(_) => "array",
        Val::Map(..) => "object",
        Val::Str(_) => "string",
        Val::Bool(_) => "bool",
        _ => "number",
    }
}

/// Helm's `fromYaml`: a map, or a map holding the error under `Error`.
pub fn from_yaml(s: &str) -> Val {
    let err = |m: String| Val::map([("Error".to_string(), Val::str(m))].into_iter().collect());
    match parse_first(s) {
        Ok(m @ Val::Map(..)) => m,
        Ok(Val::Nil) => Val::empty_map(),
        Ok(v) => err(format!(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            yaml_kind(&v)
        )),
        Err(e) => err(e),
    }
}

/// Helm's `fromYamlArray`: a list, or a list holding the error.
pub fn from_yaml_array(s: &str) -> Val {
    match parse_first(s) {
        Ok(l @ Val::List(_)) => l,
        Ok(Val::Nil) => Val::list(Vec::new()),
        Ok(v) => Val::list(vec![Val::str(format!(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type []interface {{}}",
            yaml_kind(&v)
        ))]),
        Err(e) => Val::list(vec![Val::str(e)]),
    }
}
