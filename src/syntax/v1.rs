//! KDL v1 → KDL v2, token by token, so that every comment, every blank line and every value's
//! spelling stays where it was (the `kdl` crate's own conversion re-lays the document out and loses
//! the newline after a trailing comment). Only what changed between the versions is rewritten:
//! `true`/`false`/`null` become `#true`/`#false`/`#null`; raw strings `r#"…"#` become `#"…"#`;
//! a string holding a literal newline (allowed in v1, not in a v2 single-line string) is written
//! with escapes; the v1-only escape `\/` becomes `/`.
//!
//! The caller checks the result: it must parse as v2 to the same nodes and values as the input did
//! as v1.

/// Converts KDL v1 text to KDL v2 text; `None` if the text is not lexable as KDL v1.
pub fn to_v2(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len() + 16);
    let mut i = 0;
    let at = |i: usize| s[i..].chars().next().unwrap_or('\0');
    while i < s.len() {
        let rest = &s[i..];
        let c = at(i);
        if rest.starts_with("//") {
            let end = rest.find('\n').map(|e| i + e).unwrap_or(s.len());
            out.push_str(&s[i..end]);
            i = end;
        } else if rest.starts_with("/*") {
            let mut depth = 0;
            let mut j = i;
            while j < s.len() {
                if s[j..].starts_with("/*") {
                    depth += 1;
                    j += 2;
                } else if s[j..].starts_with("*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += at(j).len_utf8();
                }
            }
            out.push_str(&s[i..j]);
            i = j;
        } else if c == '"' {
            let (value, end) = v1_string(s, i)?;
            let original = &s[i..end];
            if original.contains(['\n', '\r']) || original.contains("\\/") {
                out.push_str(&quote(&value));
            } else {
                out.push_str(original);
            }
            i = end;
        } else if c == 'r' && rest[1..].trim_start_matches('#').starts_with('"') {
            let hashes = rest[1..].chars().take_while(|&c| c == '#').count();
            let open = 1 + hashes + 1;
            let close = format!("\"{}", "#".repeat(hashes));
            let body_start = i + open;
            let body_len = s[body_start..].find(&close)?;
            let value = &s[body_start..body_start + body_len];
            if value.contains(['\n', '\r']) {
                out.push_str(&quote(value));
            } else {
                let h = "#".repeat(hashes.max(1));
                out.push_str(&format!("{h}\"{value}\"{h}"));
            }
            i = body_start + body_len + close.len();
        } else if c.is_whitespace() || "{};=()\\".contains(c) {
            out.push(c);
            i += c.len_utf8();
        } else {
            // A bare word: an identifier, a number, or one of the v1 keywords.
            let mut j = i;
            while j < s.len() {
                let d = at(j);
                if d.is_whitespace() || "{};=()\\\"".contains(d) || s[j..].starts_with("//") || s[j..].starts_with("/*")
                {
                    break;
                }
                j += d.len_utf8();
            }
            if j == i {
                return None;
            }
            match &s[i..j] {
                w @ ("true" | "false" | "null") => {
                    out.push('#');
                    out.push_str(w);
                }
                // Words v2 reserves for numbers must be quoted to stay strings.
                w @ ("inf" | "-inf" | "nan") => out.push_str(&quote(w)),
                w => out.push_str(w),
            }
            i = j;
        }
    }
    Some(out)
}

/// Reads a v1 quoted string at `i`: its value and the index after its closing quote.
fn v1_string(s: &str, i: usize) -> Option<(String, usize)> {
    let mut value = String::new();
    let mut chars = s[i + 1..].char_indices();
    while let Some((k, c)) = chars.next() {
        match c {
            '"' => return Some((value, i + 1 + k + 1)),
            '\\' => {
                let (_, e) = chars.next()?;
                match e {
                    'n' => value.push('\n'),
                    'r' => value.push('\r'),
                    't' => value.push('\t'),
                    '\\' => value.push('\\'),
                    '/' => value.push('/'),
                    '"' => value.push('"'),
                    'b' => value.push('\u{8}'),
                    'f' => value.push('\u{c}'),
                    'u' => {
                        let rest = &s[i + 1 + k + 2..];
                        let inner = rest.strip_prefix('{')?;
                        let close = inner.find('}')?;
                        let code = u32::from_str_radix(&inner[..close], 16).ok()?;
                        value.push(char::from_u32(code)?);
                        // Skip `{hex}`.
                        for _ in 0..close + 2 {
                            chars.next();
                        }
                    }
                    _ => return None,
                }
            }
            c => value.push(c),
        }
    }
    None
}

/// A KDL v2 single-line quoted string holding `value`.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}') => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_only_what_changed() {
        assert_eq!(to_v2("a \"x\" // c\nz true null false\n").unwrap(), "a \"x\" // c\nz #true #null #false\n");
        assert_eq!(to_v2("a r\"raw\" r#\"q\"x\"#\n").unwrap(), "a #\"raw\"# #\"q\"x\"#\n");
        assert_eq!(to_v2("a \"x\r\ny\" \"a\\/b\"\n").unwrap(), "a \"x\\r\\ny\" \"a/b\"\n");
        assert_eq!(to_v2("n {\n    // keep\n\n    m 1; o 2\n}\n").unwrap(), "n {\n    // keep\n\n    m 1; o 2\n}\n");
    }
}
