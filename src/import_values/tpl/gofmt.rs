//! Go's `fmt` (`%v`, `Sprint`, `Sprintf`), `strconv.Quote`, `encoding/json` and the escapers
//! of text/template, for the values Helm templates hold.

use std::fmt::Write as _;

use super::value::{MAX_DEPTH, Numbers, Val, from_json};

/// `%v`.
pub fn sprint_v(v: &Val) -> String {
    let mut s = String::new();
    write_v(v, &mut s, 0);
    s
}

pub fn write_v(v: &Val, out: &mut String, depth: usize) {
    write_verb(v, 'v', &Flags::default(), out, depth);
}

/// Go's `%v` of a float64 (a shortest `%g`): exponent form below 1e-4 and from 1e+06 on, with
/// at least two exponent digits.
pub fn format_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let (neg, digits, exp) = shortest_digits(f);
    let body = if !(-4..6).contains(&exp) { exp_form(&digits, exp) } else { fixed_form(&digits, exp) };
    if neg { format!("-{body}") } else { body }
}

/// The shortest decimal digits of |f| and the exponent of the first digit.
fn shortest_digits(f: f64) -> (bool, String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (f.is_sign_negative(), digits, exp)
}

fn exp_form(digits: &str, exp: i32) -> String {
    let mut s = String::new();
    s.push_str(&digits[..1]);
    if digits.len() > 1 {
        s.push('.');
        s.push_str(&digits[1..]);
    }
    s.push('e');
    s.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(s, "{:02}", exp.abs());
    s
}

fn fixed_form(digits: &str, exp: i32) -> String {
    let dp = exp + 1;
    if dp <= 0 {
        format!("0.{}{}", "0".repeat((-dp) as usize), digits)
    } else if dp as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(dp as usize - digits.len()))
    } else {
        format!("{}.{}", &digits[..dp as usize], &digits[dp as usize..])
    }
}

/// `fmt.Sprint`: spaces between operands when neither is a string.
pub fn sprint(args: &[Val]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Val::Str(_)) && !matches!(args[i - 1], Val::Str(_)) {
            out.push(' ');
        }
        write_nil_v(a, &mut out);
    }
    out
}

/// `fmt.Sprintln`: always spaces, and a newline.
pub fn sprintln(args: &[Val]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_nil_v(a, &mut out);
    }
    out.push('\n');
    out
}

fn write_nil_v(v: &Val, out: &mut String) {
    match v {
        Val::Nil => out.push_str("<nil>"),
        v => write_v(v, out, 0),
    }
}

#[derive(Default, Clone)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// `fmt.Sprintf`.
pub fn sprintf(format: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let mut reordered = false;
    let b = format.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i] != b'%' {
            i += 1;
        }
        out.push_str(&format[start..i]);
        if i >= b.len() {
            break;
        }
        i += 1;
        let mut fl = Flags::default();
        while i < b.len() {
            match b[i] {
                b'+' => fl.plus = true,
                b'-' => fl.minus = true,
                b'#' => fl.sharp = true,
                b' ' => fl.space = true,
                b'0' => fl.zero = true,
                _ => break,
            }
            i += 1;
        }
        // [n] argument index.
        let arg_index = |i: &mut usize, argi: &mut usize, reordered: &mut bool| -> bool {
            if *i < b.len()
                && b[*i] == b'['
                && let Some(close) = format[*i..].find(']')
            {
                if let Ok(n) = format[*i + 1..*i + close].parse::<usize>()
                    && n >= 1
                {
                    *argi = n - 1;
                    *reordered = true;
                    *i += close + 1;
                    return true;
                }
                *i += close + 1;
                return false;
            }
            true
        };
        let mut good = arg_index(&mut i, &mut argi, &mut reordered);
        if i < b.len() && b[i] == b'*' {
            i += 1;
            match args.get(argi) {
                Some(Val::Int(n, _)) => {
                    if *n < 0 {
                        fl.minus = true;
                    }
                    fl.width = Some(n.unsigned_abs() as usize);
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            argi += 1;
        } else {
            let s = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i > s {
                fl.width = format[s..i].parse().ok();
            }
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            good = good && arg_index(&mut i, &mut argi, &mut reordered);
            if i < b.len() && b[i] == b'*' {
                i += 1;
                match args.get(argi) {
                    Some(Val::Int(n, _)) if *n >= 0 => fl.prec = Some(*n as usize),
                    _ => out.push_str("%!(BADPREC)"),
                }
                argi += 1;
            } else {
                let s = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                fl.prec = Some(format[s..i].parse().unwrap_or(0));
            }
        }
        if !reordered || good {
            good = arg_index(&mut i, &mut argi, &mut reordered) && good;
        }
        let Some(verb) = format[i..].chars().next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
            continue;
        }
        if !good {
            let _ = write!(out, "%!{verb}(BADINDEX)");
            continue;
        }
        let Some(arg) = args.get(argi) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        argi += 1;
        if verb == 'T' {
            pad(&mut out, &arg.type_name(), &fl);
            continue;
        }
        let mut s = String::new();
        write_verb(arg, verb, &fl, &mut s, 0);
        pad(&mut out, &s, &fl);
    }
    if !reordered && argi < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, a) in args[argi..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{}=", a.type_name());
            write_nil_v(a, &mut out);
        }
        out.push(')');
    }
    out
}

fn pad(out: &mut String, s: &str, fl: &Flags) {
    let n = s.chars().count();
    let w = fl.width.unwrap_or(0);
    if n >= w {
        out.push_str(s);
    } else if fl.minus {
        out.push_str(s);
        out.push_str(&" ".repeat(w - n));
    } else if fl.zero && s.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '-' || c == '+') {
        let (sign, rest) = if s.starts_with(['-', '+']) { s.split_at(1) } else { ("", s) };
        out.push_str(sign);
        out.push_str(&"0".repeat(w - n));
        out.push_str(rest);
    } else {
        out.push_str(&" ".repeat(w - n));
        out.push_str(s);
    }
}

fn bad_verb(v: &Val, verb: char, out: &mut String) {
    match v {
        Val::Nil => {
            let _ = write!(out, "%!{verb}(<nil>)");
        }
        v => {
            let _ = write!(out, "%!{verb}({}=", v.type_name());
            write_v(v, out, 0);
            out.push(')');
        }
    }
}

fn write_verb(v: &Val, verb: char, fl: &Flags, out: &mut String, depth: usize) {
    if depth > MAX_DEPTH {
        out.push_str("<too deep>");
        return;
    }
    match v {
        Val::Nil => match verb {
            'v' => out.push_str("<nil>"),
            _ => bad_verb(v, verb, out),
        },
        Val::Bool(b) => match verb {
            'v' | 't' => {
                let _ = write!(out, "{b}");
            }
            _ => bad_verb(v, verb, out),
        },
        Val::Int(i, _) => write_int(*i, verb, fl, v, out),
        Val::Float(f) => write_float(*f, verb, fl, v, out),
        Val::Str(s) => match verb {
            'v' | 's' => out.push_str(&truncate_prec(s, fl.prec)),
            'q' => out.push_str(&go_quote(&truncate_prec(s, fl.prec))),
            'x' => out.push_str(&hex::encode(s.as_bytes())),
            'X' => out.push_str(&hex::encode_upper(s.as_bytes())),
            _ => bad_verb(v, verb, out),
        },
        Val::List(l) => {
            out.push('[');
            for (k, item) in l.items.iter().enumerate() {
                if k > 0 {
                    out.push(' ');
                }
                write_verb(item, verb, fl, out, depth + 1);
            }
            out.push(']');
        }
        Val::Map(m, _) => {
            out.push_str("map[");
            let entries: Vec<(String, Val)> = m.borrow().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            for (k, (key, item)) in entries.iter().enumerate() {
                if k > 0 {
                    out.push(' ');
                }
                write_verb(&Val::str(key.as_str()), verb, fl, out, depth + 1);
                out.push(':');
                write_verb(item, verb, fl, out, depth + 1);
            }
            out.push(']');
        }
        Val::Struct(s) => {
            if let Some(d) = &s.display {
                out.push_str(d);
            } else if let Some(h) = &s.has {
                out.push('[');
                out.push_str(&h.join(" "));
                out.push(']');
            } else {
                if s.type_name.starts_with('*') {
                    out.push('&');
                }
                out.push('{');
                for (k, (_, f)) in s.fields.iter().enumerate() {
                    if k > 0 {
                        out.push(' ');
                    }
                    write_verb(f, verb, fl, out, depth + 1);
                }
                out.push('}');
            }
        }
    }
}

fn truncate_prec(s: &str, prec: Option<usize>) -> String {
    match prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    }
}

fn write_int(i: i64, verb: char, fl: &Flags, v: &Val, out: &mut String) {
    let sign = if i < 0 {
        "-"
    } else if fl.plus {
        "+"
    } else if fl.space {
        " "
    } else {
        ""
    };
    let u = i.unsigned_abs();
    let body = match verb {
        'v' | 'd' => u.to_string(),
        'b' => format!("{u:b}"),
        'o' => {
            if fl.sharp {
                format!("0{u:o}")
            } else {
                format!("{u:o}")
            }
        }
        'O' => format!("0o{u:o}"),
        'x' => {
            if fl.sharp {
                format!("0x{u:x}")
            } else {
                format!("{u:x}")
            }
        }
        'X' => {
            if fl.sharp {
                format!("0X{u:X}")
            } else {
                format!("{u:X}")
            }
        }
        'c' => {
            out.push(char::from_u32(i as u32).unwrap_or('\u{FFFD}'));
            return;
        }
        'q' => {
            let c = char::from_u32(i as u32).unwrap_or('\u{FFFD}');
            out.push_str(&go_quote_rune(c));
            return;
        }
        'U' => {
            let _ = write!(out, "U+{u:04X}");
            return;
        }
        _ => return bad_verb(v, verb, out),
    };
    out.push_str(sign);
    out.push_str(&body);
}

fn write_float(f: f64, verb: char, fl: &Flags, v: &Val, out: &mut String) {
    let s = match verb {
        'v' | 'g' | 'G' => match fl.prec {
            None => format_float_g(f),
            Some(p) => format_g_prec(f, p.max(1)),
        },
        'e' | 'E' => go_exp(f, fl.prec.unwrap_or(6)),
        'f' | 'F' => {
            if f.is_finite() {
                format!("{:.*}", fl.prec.unwrap_or(6), f)
            } else {
                format_float_g(f)
            }
        }
        _ => return bad_verb(v, verb, out),
    };
    let s = if verb == 'G' || verb == 'E' { s.to_uppercase() } else { s };
    if fl.plus && !s.starts_with(['-', '+']) {
        out.push('+');
    } else if fl.space && !s.starts_with(['-', '+']) {
        out.push(' ');
    }
    out.push_str(&s);
}

/// `%.Ne`.
fn go_exp(f: f64, prec: usize) -> String {
    if !f.is_finite() {
        return format_float_g(f);
    }
    let s = format!("{:.*e}", prec, f);
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

/// `%.Pg`.
fn format_g_prec(f: f64, p: usize) -> String {
    if !f.is_finite() {
        return format_float_g(f);
    }
    let s = format!("{:.*e}", p - 1, f.abs());
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = e.parse().unwrap_or(0);
    let mut digits: String = m.chars().filter(|c| c.is_ascii_digit()).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    let mut eprec = p as i32;
    if eprec > digits.len() as i32 && digits.len() as i32 > exp {
        eprec = digits.len() as i32;
    }
    let body = if exp < -4 || exp >= eprec { exp_form(&digits, exp) } else { fixed_form(&digits, exp) };
    if f.is_sign_negative() { format!("-{body}") } else { body }
}

/// Whether Go's `strconv.IsPrint` holds (letters, marks, numbers, punctuation, symbols and
/// the ASCII space); the categories Rust does not expose are approximated by their ranges.
pub fn go_is_print(c: char) -> bool {
    let u = c as u32;
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(u,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890..=0x891 | 0x8E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xD800..=0xDFFF | 0xE000..=0xF8FF | 0xFEFF | 0xFFF9..=0xFFFB | 0xFFFE..=0xFFFF
        | 0x110BD | 0x110CD | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F
        | 0xF0000..=0x10FFFF)
}

/// `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        quote_char(c, '"', &mut out);
    }
    out.push('"');
    out
}

fn go_quote_rune(c: char) -> String {
    let mut out = String::from("'");
    quote_char(c, '\'', &mut out);
    out.push('\'');
    out
}

fn quote_char(c: char, q: char, out: &mut String) {
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == q => {
            out.push('\\');
            out.push(c);
        }
        c if go_is_print(c) => out.push(c),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

/// text/template's `html`.
pub fn html_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// text/template's `js`.
pub fn js_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c if c.is_ascii() || go_is_print(c) => out.push(c),
            c => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
        }
    }
    out
}

/// `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

// ---- JSON --------------------------------------------------------------------------------

/// `json.Marshal` (with `escape_html`, as Helm's `toJson`; without, as `toRawJson`), or
/// `json.MarshalIndent(v, "", "  ")` when `pretty`.
pub fn to_json(v: &Val, escape_html: bool, pretty: bool) -> Result<String, String> {
    let mut out = String::new();
    write_json(v, escape_html, pretty.then_some(0), &mut out, 0)?;
    Ok(out)
}

fn newline(out: &mut String, indent: Option<usize>) {
    if let Some(n) = indent {
        out.push('\n');
        out.push_str(&"  ".repeat(n));
    }
}

fn write_json(v: &Val, html: bool, indent: Option<usize>, out: &mut String, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("json: unsupported value: encountered a cycle".into());
    }
    match v {
        Val::Nil => out.push_str("null"),
        Val::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Val::Int(i, _) => {
            let _ = write!(out, "{i}");
        }
        Val::Float(f) => out.push_str(&json_float(*f)?),
        Val::Str(s) => json_string(s, html, out),
        Val::List(l) if l.nil => out.push_str("null"),
        Val::List(l) => {
            out.push('[');
            if !l.items.is_empty() {
                for (k, item) in l.items.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    newline(out, indent.map(|n| n + 1));
                    write_json(item, html, indent.map(|n| n + 1), out, depth + 1)?;
                }
                newline(out, indent);
            }
            out.push(']');
        }
        Val::Map(m, _) => {
            let entries: Vec<(String, Val)> = m.borrow().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            write_json_object(entries.iter().map(|(k, v)| (k.as_str(), v)), html, indent, out, depth)?;
        }
        Val::Struct(s) => {
            if let Some(h) = &s.has {
                write_json(&Val::str_list(h.clone()), html, indent, out, depth)?;
            } else {
                write_json_object(s.fields.iter().map(|(k, v)| (*k, v)), html, indent, out, depth)?;
            }
        }
    }
    Ok(())
}

fn write_json_object<'a>(
    entries: impl Iterator<Item = (&'a str, &'a Val)>,
    html: bool,
    indent: Option<usize>,
    out: &mut String,
    depth: usize,
) -> Result<(), String> {
    out.push('{');
    let mut any = false;
    for (k, (key, item)) in entries.enumerate() {
        any = true;
        if k > 0 {
            out.push(',');
        }
        newline(out, indent.map(|n| n + 1));
        json_string(key, html, out);
        out.push(':');
        if indent.is_some() {
            out.push(' ');
        }
        write_json(item, html, indent.map(|n| n + 1), out, depth + 1)?;
    }
    if any {
        newline(out, indent);
    }
    out.push('}');
    Ok(())
}

/// encoding/json's float64 form.
pub fn json_float(f: f64) -> Result<String, String> {
    if !f.is_finite() {
        return Err(format!("json: unsupported value: {}", format_float_g(f)));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let (neg, digits, exp) = shortest_digits(f);
        let mut s = exp_form(&digits, exp);
        // e-07 → e-7
        if let Some(p) = s.find("e-0") {
            s.remove(p + 2);
        }
        return Ok(if neg { format!("-{s}") } else { s });
    }
    let (neg, digits, exp) = shortest_digits(f);
    let body = if f == 0.0 { "0".to_string() } else { fixed_form(&digits, exp) };
    Ok(if neg { format!("-{body}") } else { body })
}

fn json_string(s: &str, html: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if html => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's JSON type names in "cannot unmarshal" messages.
fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Null => "null",
    }
}

fn parse_json(s: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(s).map_err(|e| {
        if e.is_eof() {
            return "unexpected end of JSON input".to_string();
        }
        // The character serde stopped at, named as Go's scanner names it.
        let line = s.lines().nth(e.line().saturating_sub(1)).unwrap_or("");
        let col = e.column().saturating_sub(1);
        let c = line.chars().nth(col).unwrap_or(' ');
        // Inside a literal (`nul`, `tr`, `fals`), Go names the literal and the letter it wanted.
        let before: String = line.chars().take(col).collect();
        let word: String =
            before.chars().rev().take_while(char::is_ascii_alphabetic).collect::<Vec<_>>().into_iter().rev().collect();
        for lit in ["null", "true", "false"] {
            if !word.is_empty() && lit.starts_with(&word) && word.len() < lit.len() {
                let want = lit.as_bytes()[word.len()] as char;
                return format!(
                    "invalid character {} in literal {lit} (expecting {})",
                    go_quote_rune(c),
                    go_quote_rune(want)
                );
            }
        }
        format!("invalid character {} looking for beginning of value", go_quote_rune(c))
    })
}

/// Helm's `fromJson`: a map, or a map holding the error under `Error`.
pub fn from_json_map(s: &str) -> Val {
    let err = |m: String| Val::map([("Error".to_string(), Val::str(m))].into_iter().collect());
    match parse_json(s) {
        Ok(serde_json::Value::Object(m)) => from_json(&serde_json::Value::Object(m), Numbers::Float64),
        Ok(serde_json::Value::Null) => Val::empty_map(),
        Ok(v) => {
            err(format!("json: cannot unmarshal {} into Go value of type map[string]interface {{}}", json_kind(&v)))
        }
        Err(e) => err(e),
    }
}

/// sprig's `mustFromJson`: any JSON value.
pub fn from_json_any(s: &str) -> Result<Val, String> {
    parse_json(s).map(|v| from_json(&v, Numbers::Float64))
}

/// Helm's `fromJsonArray`: a list, or a list holding the error.
pub fn from_json_array(s: &str) -> Val {
    match parse_json(s) {
        Ok(v @ serde_json::Value::Array(_)) => from_json(&v, Numbers::Float64),
        Ok(serde_json::Value::Null) => Val::list(Vec::new()),
        Ok(v) => Val::list(vec![Val::str(format!(
            "json: cannot unmarshal {} into Go value of type []interface {{}}",
            json_kind(&v)
        ))]),
        Err(e) => Val::list(vec![Val::str(e)]),
    }
}
