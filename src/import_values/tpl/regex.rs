//! sprig's regular-expression functions on the `regex` crate, with Go's RE2 dialect where the
//! two differ: Go's `\d`, `\w`, `\s` and `\b` are ASCII-only, `\Q…\E` quotes, and `\<`/`\>`
//! are plain characters.

use std::cell::RefCell;
use std::collections::HashMap;

use regex::{NoExpand, Regex};

use super::value::{Elem, Val};

thread_local! {
    static CACHE: RefCell<HashMap<String, Result<Regex, String>>> = RefCell::new(HashMap::new());
}

/// Compiles a Go regular expression; the error is Go's message.
pub fn compile(expr: &str) -> Result<Regex, String> {
    CACHE.with(|c| {
        if let Some(r) = c.borrow().get(expr) {
            return r.clone();
        }
        let r = regex::RegexBuilder::new(&translate(expr)).size_limit(1 << 22).build().map_err(|e| go_error(expr, &e));
        let mut c = c.borrow_mut();
        if c.len() > 256 {
            c.clear();
        }
        c.insert(expr.to_string(), r.clone());
        r
    })
}

/// `regexp.MustCompile`'s panic message.
fn must(expr: &str) -> Result<Regex, String> {
    compile(expr).map_err(|e| format!("regexp: Compile({}): {e}", go_backquote(expr)))
}

fn go_backquote(s: &str) -> String {
    if s.contains('`') { format!("{s:?}") } else { format!("`{s}`") }
}

fn go_error(expr: &str, e: &regex::Error) -> String {
    let m = e.to_string();
    let code = if m.contains("unclosed group") {
        "missing closing )"
    } else if m.contains("unopened group") {
        "unexpected )"
    } else if m.contains("unclosed character class") {
        "missing closing ]"
    } else if m.contains("repetition operator missing expression") {
        "missing argument to repetition operator"
    } else if m.contains("unrecognized escape sequence") || m.contains("incomplete escape") {
        "invalid escape sequence"
    } else if m.contains("invalid character class range") {
        "invalid character class range"
    } else {
        return format!(
            "error parsing regexp: {}",
            m.lines().last().unwrap_or(&m).trim().trim_start_matches("error: ")
        );
    };
    format!("error parsing regexp: {code}: {}", go_backquote(expr))
}

/// Go's RE2 syntax → the regex crate's.
fn translate(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len() + 8);
    let mut chars = expr.chars().peekable();
    let mut in_class = false;
    let mut class_start = false;
    while let Some(c) = chars.next() {
        if c == '\\' {
            let Some(e) = chars.next() else {
                out.push('\\');
                break;
            };
            let rep: Option<&str> = match (e, in_class) {
                ('d', false) => Some("[0-9]"),
                ('D', false) => Some("[^0-9]"),
                ('w', false) => Some("[0-9A-Za-z_]"),
                ('W', false) => Some("[^0-9A-Za-z_]"),
                ('s', false) => Some("[\\t\\n\\x0C\\r ]"),
                ('S', false) => Some("[^\\t\\n\\x0C\\r ]"),
                ('b', false) => Some("(?-u:\\b)"),
                ('B', false) => Some("(?-u:\\B)"),
                ('d', true) => Some("0-9"),
                ('D', true) => Some("[:^digit:]"),
                ('w', true) => Some("0-9A-Za-z_"),
                ('W', true) => Some("[:^word:]"),
                ('s', true) => Some("\\t\\n\\x0C\\r "),
                ('S', true) => Some("[:^space:]"),
                ('<', _) => Some("<"),
                ('>', _) => Some(">"),
                _ => None,
            };
            if let Some(r) = rep {
                out.push_str(r);
            } else if e == 'Q' && !in_class {
                let mut lit = String::new();
                while let Some(q) = chars.next() {
                    if q == '\\' && chars.peek() == Some(&'E') {
                        chars.next();
                        break;
                    }
                    lit.push(q);
                }
                out.push_str(&regex::escape(&lit));
            } else {
                out.push('\\');
                out.push(e);
            }
            class_start = false;
            continue;
        }
        if in_class {
            if c == ']' && !class_start {
                in_class = false;
            } else if c == '[' && chars.peek() == Some(&':') {
                // [:alpha:] inside a class: copy through to the closing ":]".
                out.push(c);
                for q in chars.by_ref() {
                    out.push(q);
                    if q == ']' {
                        break;
                    }
                }
                class_start = false;
                continue;
            }
            class_start = class_start && c == '^';
            out.push(c);
            continue;
        }
        if c == '[' {
            in_class = true;
            class_start = true;
            out.push(c);
            if chars.peek() == Some(&'^') {
                out.push('^');
                chars.next();
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Go's FindAllStringIndex: at most `n` matches (n < 0: all); an empty match right after a
/// match is skipped.
fn find_all_ranges(re: &Regex, s: &str, n: i64) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut prev_end: Option<usize> = None;
    for m in re.find_iter(s) {
        if n >= 0 && out.len() as i64 >= n {
            break;
        }
        if m.start() == m.end() && prev_end == Some(m.start()) {
            continue;
        }
        out.push((m.start(), m.end()));
        prev_end = Some(m.end());
    }
    out
}

pub fn find_all(expr: &str, s: &str, n: i64, panics: bool) -> Result<Val, String> {
    let re = if panics { must(expr)? } else { compile(expr)? };
    if n == 0 {
        return Ok(Val::nil_list(Elem::Str));
    }
    let found: Vec<String> = find_all_ranges(&re, s, n).into_iter().map(|(a, b)| s[a..b].to_string()).collect();
    Ok(if found.is_empty() { Val::nil_list(Elem::Str) } else { Val::str_list(found) })
}

pub fn find(expr: &str, s: &str, panics: bool) -> Result<Val, String> {
    let re = if panics { must(expr)? } else { compile(expr)? };
    Ok(Val::str(re.find(s).map_or("", |m| m.as_str())))
}

pub fn replace(expr: &str, s: &str, repl: &str, expand: bool, panics: bool) -> Result<Val, String> {
    let re = if panics { must(expr)? } else { compile(expr)? };
    let ranges = find_all_ranges(&re, s, -1);
    let mut out = String::new();
    let mut last = 0;
    for (a, b) in ranges {
        out.push_str(&s[last..a]);
        if expand {
            // The regex crate's `$name`/`${name}` expansion is Go's.
            if let Some(caps) =
                re.captures_at(s, a).filter(|c| c.get(0).is_some_and(|m| m.start() == a && m.end() == b))
            {
                caps.expand(repl, &mut out);
            }
        } else {
            let _ = NoExpand(repl);
            out.push_str(repl);
        }
        last = b;
    }
    out.push_str(&s[last..]);
    Ok(Val::str(out))
}

/// Go's Regexp.Split.
pub fn split(expr: &str, s: &str, n: i64, panics: bool) -> Result<Val, String> {
    let re = if panics { must(expr)? } else { compile(expr)? };
    if n == 0 {
        return Ok(Val::nil_list(Elem::Str));
    }
    if !expr.is_empty() && s.is_empty() {
        return Ok(Val::str_list(vec![String::new()]));
    }
    let matches = find_all_ranges(&re, s, n);
    let mut out: Vec<String> = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for (a, b) in matches {
        if n > 0 && out.len() as i64 == n - 1 {
            break;
        }
        end = a;
        if b != 0 {
            out.push(s[beg..end].to_string());
        }
        beg = b;
    }
    if end != s.len() {
        out.push(s[beg..].to_string());
    }
    Ok(Val::str_list(out))
}

/// Go's regexp.QuoteMeta.
pub fn quote_meta(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
