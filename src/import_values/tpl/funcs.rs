//! The functions a Helm template can call: Go's builtins, Helm's own, and sprig's, each with
//! its Go signature (the parameter types decide which arguments Go accepts) and, where msws
//! implements it, its behaviour. The names are exactly Helm's: a template naming any other
//! function fails to parse, as in Helm.

use std::collections::BTreeMap;
use std::rc::Rc;

use base64::Engine as _;
use sha2::Digest as _;

use super::exec::{Ev, Exec, FuncErr};
use super::gofmt::{self, go_quote, sprint, sprint_v, sprintf};
use super::value::{self, Elem, GoList, IntTy, MAX_DEPTH, MapTy, Val, deep_copy, deep_equal};
use super::yaml;

/// A parameter's Go type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum P {
    /// `interface {}`
    Any,
    /// `reflect.Value` (the builtins): anything, unconverted.
    Rv,
    Str,
    Int,
    F64,
    Bool,
    /// `map[string]interface {}`
    Map,
    /// `common.Values` (tpl's context)
    Values,
}

impl P {
    pub fn go_name(self) -> &'static str {
        match self {
            P::Any => "interface {}",
            P::Rv => "reflect.Value",
            P::Str => "string",
            P::Int => "int",
            P::F64 => "float64",
            P::Bool => "bool",
            P::Map => "map[string]interface {}",
            P::Values => "common.Values",
        }
    }
}

type Plain = fn(&[Ev]) -> Result<Val, String>;
type WithExec = fn(&mut Exec, &[Ev]) -> Result<Val, FuncErr>;

#[derive(Clone, Copy)]
pub enum Imp {
    Plain(Plain),
    Exec(WithExec),
    And,
    Or,
    /// Defined by Helm, not by msws: calling it is an error naming the function.
    Unsupported(&'static str),
}

#[derive(Clone, Copy)]
pub struct Func {
    pub params: &'static [P],
    pub variadic: Option<P>,
    pub imp: Imp,
}

const fn f(params: &'static [P], variadic: Option<P>, imp: Plain) -> Option<Func> {
    Some(Func { params, variadic, imp: Imp::Plain(imp) })
}

const fn unsupported(params: &'static [P], variadic: Option<P>, why: &'static str) -> Option<Func> {
    Some(Func { params, variadic, imp: Imp::Unsupported(why) })
}

use P::*;

const NONDET: &str = "not deterministic";
const NOT_IMPL: &str = "not implemented";

/// The function of that name, if Helm defines one.
pub fn lookup(name: &str) -> Option<Func> {
    match name {
        // Go's builtins (sprig's `slice` replaces Go's).
        "and" => Some(Func { params: &[Rv], variadic: Some(Rv), imp: Imp::And }),
        "or" => Some(Func { params: &[Rv], variadic: Some(Rv), imp: Imp::Or }),
        "not" => f(&[Rv], None, |a| Ok(Val::Bool(!a[0].v.truthy()))),
        "len" => f(&[Rv], None, builtin_len),
        "index" => f(&[Rv], Some(Rv), builtin_index),
        "print" => f(&[], Some(Any), |a| Ok(Val::str(sprint(&vals(a))))),
        "println" => f(&[], Some(Any), |a| Ok(Val::str(gofmt::sprintln(&vals(a))))),
        "printf" => f(&[Str], Some(Any), |a| Ok(Val::str(sprintf(s(&a[0]), &vals(&a[1..]))))),
        "eq" => f(&[Rv], Some(Rv), builtin_eq),
        "ne" => f(&[Rv, Rv], None, |a| cmp_eq(&a[0].v, &a[1].v).map(|b| Val::Bool(!b))),
        "lt" => f(&[Rv, Rv], None, |a| cmp_lt(&a[0].v, &a[1].v).map(Val::Bool)),
        "le" => f(&[Rv, Rv], None, |a| Ok(Val::Bool(cmp_lt(&a[0].v, &a[1].v)? || cmp_eq(&a[0].v, &a[1].v)?))),
        "gt" => f(&[Rv, Rv], None, |a| Ok(Val::Bool(!(cmp_lt(&a[0].v, &a[1].v)? || cmp_eq(&a[0].v, &a[1].v)?)))),
        "ge" => f(&[Rv, Rv], None, |a| cmp_lt(&a[0].v, &a[1].v).map(|b| Val::Bool(!b))),
        "html" => f(&[], Some(Any), |a| Ok(Val::str(gofmt::html_escape(&eval_args(a))))),
        "js" => f(&[], Some(Any), |a| Ok(Val::str(gofmt::js_escape(&eval_args(a))))),
        "urlquery" => f(&[], Some(Any), |a| Ok(Val::str(gofmt::query_escape(&eval_args(a))))),
        "call" => f(&[Rv], Some(Rv), |a| {
            Err(format!(
                "non-function {} of type {}",
                sprint_v(&a[0].v),
                if a[0].iface { "interface {}".into() } else { a[0].v.type_name() }
            ))
        }),

        // Helm's.
        "include" => Some(Func { params: &[Str, Any], variadic: None, imp: Imp::Exec(super::helm_include) }),
        "tpl" => Some(Func { params: &[Str, Values], variadic: None, imp: Imp::Exec(super::helm_tpl) }),
        "required" => f(&[Str, Any], None, |a| match &a[1].v {
            Val::Nil => Err(s(&a[0]).to_string()),
            Val::Str(x) if x.is_empty() => Err(s(&a[0]).to_string()),
            v => Ok(v.clone()),
        }),
        "lookup" => f(&[Str, Str, Str, Str], None, |_| Ok(Val::empty_map())),
        "toYaml" => f(&[Any], None, |a| Ok(Val::str(yaml::to_yaml(&a[0].v).unwrap_or_default()))),
        "mustToYaml" => f(&[Any], None, |a| yaml::to_yaml(&a[0].v).map(Val::str)),
        "toYamlPretty" => f(&[Any], None, |a| Ok(Val::str(yaml::to_yaml_pretty(&a[0].v).unwrap_or_default()))),
        "fromYaml" => f(&[Str], None, |a| Ok(yaml::from_yaml(s(&a[0])))),
        "fromYamlArray" => f(&[Str], None, |a| Ok(yaml::from_yaml_array(s(&a[0])))),
        "toJson" => f(&[Any], None, |a| Ok(Val::str(gofmt::to_json(&a[0].v, true, false).unwrap_or_default()))),
        "mustToJson" => f(&[Any], None, |a| gofmt::to_json(&a[0].v, true, false).map(Val::str)),
        "toPrettyJson" => f(&[Any], None, |a| Ok(Val::str(gofmt::to_json(&a[0].v, true, true).unwrap_or_default()))),
        "mustToPrettyJson" => f(&[Any], None, |a| gofmt::to_json(&a[0].v, true, true).map(Val::str)),
        "toRawJson" => f(&[Any], None, |a| Ok(Val::str(gofmt::to_json(&a[0].v, false, false).unwrap_or_default()))),
        "mustToRawJson" => f(&[Any], None, |a| gofmt::to_json(&a[0].v, false, false).map(Val::str)),
        "fromJson" => f(&[Str], None, |a| Ok(gofmt::from_json_map(s(&a[0])))),
        "mustFromJson" => f(&[Str], None, |a| gofmt::from_json_any(s(&a[0]))),
        "fromJsonArray" => f(&[Str], None, |a| Ok(gofmt::from_json_array(s(&a[0])))),
        "toToml" => unsupported(&[Any], None, NOT_IMPL),
        "fromToml" => unsupported(&[Str], None, NOT_IMPL),

        // sprig: strings.
        "hello" => f(&[], None, |_| Ok(Val::str("Hello!"))),
        "abbrev" => f(&[Int, Str], None, |a| Ok(Val::str(abbrev(i(&a[0]), s(&a[1]))))),
        "abbrevboth" => f(&[Int, Int, Str], None, |a| Ok(Val::str(abbrevboth(i(&a[0]), i(&a[1]), s(&a[2]))))),
        "trunc" => f(&[Int, Str], None, |a| Ok(Val::str(trunc(i(&a[0]), s(&a[1]))))),
        "trim" => f(&[Str], None, |a| Ok(Val::str(s(&a[0]).trim()))),
        "upper" => f(&[Str], None, |a| Ok(Val::str(s(&a[0]).to_uppercase()))),
        "lower" => f(&[Str], None, |a| Ok(Val::str(s(&a[0]).to_lowercase()))),
        "title" => f(&[Str], None, |a| Ok(Val::str(title(s(&a[0]))))),
        "untitle" => f(&[Str], None, |a| Ok(Val::str(untitle(s(&a[0]))))),
        "substr" => f(&[Int, Int, Str], None, |a| substr(i(&a[0]), i(&a[1]), s(&a[2])).map(Val::str)),
        "repeat" => f(&[Int, Str], None, |a| repeat(s(&a[1]), i(&a[0])).map(Val::str)),
        "trimall" | "trimAll" => {
            f(&[Str, Str], None, |a| Ok(Val::str(s(&a[1]).trim_matches(|c| s(&a[0]).contains(c)))))
        }
        "trimSuffix" => f(&[Str, Str], None, |a| Ok(Val::str(s(&a[1]).strip_suffix(s(&a[0])).unwrap_or(s(&a[1]))))),
        "trimPrefix" => f(&[Str, Str], None, |a| Ok(Val::str(s(&a[1]).strip_prefix(s(&a[0])).unwrap_or(s(&a[1]))))),
        "nospace" => {
            f(&[Str], None, |a| Ok(Val::str(s(&a[0]).chars().filter(|c| !c.is_whitespace()).collect::<String>())))
        }
        "initials" => f(&[Str], None, |a| {
            Ok(Val::str(s(&a[0]).split_whitespace().filter_map(|w| w.chars().next()).collect::<String>()))
        }),
        "swapcase" => f(&[Str], None, |a| Ok(Val::str(swapcase(s(&a[0]))))),
        "plural" => f(&[Str, Str, Int], None, |a| Ok(Val::str(if i(&a[2]) == 1 { s(&a[0]) } else { s(&a[1]) }))),
        "contains" => f(&[Str, Str], None, |a| Ok(Val::Bool(s(&a[1]).contains(s(&a[0]))))),
        "hasPrefix" => f(&[Str, Str], None, |a| Ok(Val::Bool(s(&a[1]).starts_with(s(&a[0]))))),
        "hasSuffix" => f(&[Str, Str], None, |a| Ok(Val::Bool(s(&a[1]).ends_with(s(&a[0]))))),
        "quote" => f(&[], Some(Any), |a| {
            Ok(Val::str(
                a.iter().filter(|x| !x.v.is_nil()).map(|x| go_quote(&strval(&x.v))).collect::<Vec<_>>().join(" "),
            ))
        }),
        "squote" => f(&[], Some(Any), |a| {
            Ok(Val::str(
                a.iter()
                    .filter(|x| !x.v.is_nil())
                    .map(|x| format!("'{}'", sprint_v(&x.v)))
                    .collect::<Vec<_>>()
                    .join(" "),
            ))
        }),
        "cat" => f(&[], Some(Any), |a| {
            Ok(Val::str(a.iter().filter(|x| !x.v.is_nil()).map(|x| sprint_v(&x.v)).collect::<Vec<_>>().join(" ")))
        }),
        "indent" => f(&[Int, Str], None, |a| indent(i(&a[0]), s(&a[1])).map(Val::str)),
        "nindent" => f(&[Int, Str], None, |a| indent(i(&a[0]), s(&a[1])).map(|x| Val::str(format!("\n{x}")))),
        "replace" => f(&[Str, Str, Str], None, |a| Ok(Val::str(s(&a[2]).replace(s(&a[0]), s(&a[1]))))),
        "sha1sum" => f(&[Str], None, |a| Ok(Val::str(hex::encode(sha1(s(&a[0]).as_bytes()))))),
        "sha256sum" => f(&[Str], None, |a| Ok(Val::str(hex::encode(sha2::Sha256::digest(s(&a[0]).as_bytes()))))),
        "sha512sum" => f(&[Str], None, |a| Ok(Val::str(hex::encode(sha2::Sha512::digest(s(&a[0]).as_bytes()))))),
        "adler32sum" => f(&[Str], None, |a| Ok(Val::str(adler32(s(&a[0]).as_bytes()).to_string()))),
        "toString" => f(&[Any], None, |a| Ok(Val::str(strval(&a[0].v)))),
        "randAlphaNum" | "randAlpha" | "randAscii" | "randNumeric" => unsupported(&[Int], None, NONDET),
        "randBytes" => unsupported(&[Int], None, NONDET),
        "shuffle" => unsupported(&[Str], None, NONDET),
        "snakecase" | "camelcase" | "kebabcase" => unsupported(&[Str], None, NOT_IMPL),
        "wrap" => unsupported(&[Int, Str], None, NOT_IMPL),
        "wrapWith" => unsupported(&[Int, Str, Str], None, NOT_IMPL),

        // sprig: conversions.
        "atoi" => f(&[Str], None, |a| Ok(Val::int(atoi(s(&a[0]))))),
        "int64" => f(&[Any], None, |a| Ok(Val::int64(a[0].v.to_i64()))),
        "int" => f(&[Any], None, |a| Ok(Val::int(a[0].v.to_i64()))),
        "float64" => f(&[Any], None, |a| Ok(Val::Float(a[0].v.to_f64()))),
        "toDecimal" => f(&[Any], None, |a| Ok(Val::int64(i64::from_str_radix(&sprint_v(&a[0].v), 8).unwrap_or(0)))),
        "seq" => f(&[], Some(Int), |a| seq(&a.iter().map(i).collect::<Vec<_>>())),
        "split" => f(&[Str, Str], None, |a| Ok(split_map(go_split(s(&a[1]), s(&a[0]), -1)))),
        "splitn" => f(&[Str, Int, Str], None, |a| Ok(split_map(go_split(s(&a[2]), s(&a[0]), i(&a[1]))))),
        "splitList" => f(&[Str, Str], None, |a| Ok(Val::str_list(go_split(s(&a[1]), s(&a[0]), -1)))),
        "toStrings" => f(&[Any], None, |a| Ok(Val::str_list(strslice(&a[0].v)))),
        "until" => f(&[Int], None, |a| {
            let n = i(&a[0]);
            until_step(0, n, if n < 0 { -1 } else { 1 }).map(int_list)
        }),
        "untilStep" => f(&[Int, Int, Int], None, |a| until_step(i(&a[0]), i(&a[1]), i(&a[2])).map(int_list)),

        // sprig: arithmetic.
        "add1" => f(&[Any], None, |a| Ok(Val::int64(a[0].v.to_i64().wrapping_add(1)))),
        "add" => f(&[], Some(Any), |a| Ok(Val::int64(a.iter().fold(0i64, |acc, x| acc.wrapping_add(x.v.to_i64()))))),
        "sub" => f(&[Any, Any], None, |a| Ok(Val::int64(a[0].v.to_i64().wrapping_sub(a[1].v.to_i64())))),
        "mul" => f(&[Any], Some(Any), |a| {
            Ok(Val::int64(a[1..].iter().fold(a[0].v.to_i64(), |acc, x| acc.wrapping_mul(x.v.to_i64()))))
        }),
        "div" => f(&[Any, Any], None, |a| {
            let d = a[1].v.to_i64();
            if d == 0 {
                Err("runtime error: integer divide by zero".into())
            } else {
                Ok(Val::int64(a[0].v.to_i64().wrapping_div(d)))
            }
        }),
        "mod" => f(&[Any, Any], None, |a| {
            let d = a[1].v.to_i64();
            if d == 0 {
                Err("runtime error: integer divide by zero".into())
            } else {
                Ok(Val::int64(a[0].v.to_i64().wrapping_rem(d)))
            }
        }),
        "biggest" | "max" => {
            f(&[Any], Some(Any), |a| Ok(Val::int64(a[1..].iter().fold(a[0].v.to_i64(), |m, x| m.max(x.v.to_i64())))))
        }
        "min" => {
            f(&[Any], Some(Any), |a| Ok(Val::int64(a[1..].iter().fold(a[0].v.to_i64(), |m, x| m.min(x.v.to_i64())))))
        }
        "maxf" => f(&[Any], Some(Any), |a| {
            Ok(Val::Float(a[1..].iter().fold(a[0].v.to_f64(), |m, x| go_max(m, x.v.to_f64()))))
        }),
        "minf" => f(&[Any], Some(Any), |a| {
            Ok(Val::Float(a[1..].iter().fold(a[0].v.to_f64(), |m, x| go_min(m, x.v.to_f64()))))
        }),
        "ceil" => f(&[Any], None, |a| Ok(Val::Float(a[0].v.to_f64().ceil()))),
        "floor" => f(&[Any], None, |a| Ok(Val::Float(a[0].v.to_f64().floor()))),
        "round" => f(&[Any, Int], Some(F64), |a| {
            let on = a.get(2).map_or(0.5, |x| x.v.to_f64());
            Ok(Val::Float(round(a[0].v.to_f64(), i(&a[1]), on)))
        }),
        "randInt" => unsupported(&[Int, Int], None, NONDET),
        "add1f" => unsupported(&[Any], None, NOT_IMPL),
        "addf" => unsupported(&[], Some(Any), NOT_IMPL),
        "subf" | "divf" | "mulf" => unsupported(&[Any], Some(Any), NOT_IMPL),

        // sprig: lists of strings, defaults, flow.
        "join" => f(&[Str, Any], None, |a| Ok(Val::str(strslice(&a[1].v).join(s(&a[0]))))),
        "sortAlpha" => f(&[Any], None, |a| {
            Ok(match &a[0].v {
                Val::List(_) => {
                    let mut l = strslice(&a[0].v);
                    l.sort();
                    Val::str_list(l)
                }
                v => Val::str_list(vec![strval(v)]),
            })
        }),
        "default" => f(&[Any], Some(Any), |a| {
            Ok(match a.get(1) {
                Some(g) if !empty(&g.v) => g.v.clone(),
                _ => a[0].v.clone(),
            })
        }),
        "empty" => f(&[Any], None, |a| Ok(Val::Bool(empty(&a[0].v)))),
        "coalesce" => f(&[], Some(Any), |a| Ok(a.iter().find(|x| !empty(&x.v)).map_or(Val::Nil, |x| x.v.clone()))),
        "all" => f(&[], Some(Any), |a| Ok(Val::Bool(a.iter().all(|x| !empty(&x.v))))),
        "any" => f(&[], Some(Any), |a| Ok(Val::Bool(a.iter().any(|x| !empty(&x.v))))),
        "compact" | "mustCompact" => f(&[Any], None, |a| {
            list_items(&a[0].v, "compact").map(|l| Val::list(l.into_iter().filter(|x| !empty(x)).collect()))
        }),
        "ternary" => f(&[Any, Any, Bool], None, |a| {
            Ok(if matches!(a[2].v, Val::Bool(true)) { a[0].v.clone() } else { a[1].v.clone() })
        }),
        "deepCopy" | "mustDeepCopy" => f(&[Any], None, |a| {
            if a[0].v.is_nil() {
                return Err("reflect: call of reflect.Value.Type on zero Value".into());
            }
            deep_copy(&a[0].v, 0)
        }),
        "fail" => f(&[Str], None, |a| Err(s(&a[0]).to_string())),

        // sprig: reflection.
        "typeOf" => f(&[Any], None, |a| Ok(Val::str(a[0].v.type_name()))),
        "typeIs" => f(&[Str, Any], None, |a| Ok(Val::Bool(s(&a[0]) == a[1].v.type_name()))),
        "typeIsLike" => f(&[Str, Any], None, |a| {
            let t = a[1].v.type_name();
            Ok(Val::Bool(s(&a[0]) == t || format!("*{}", s(&a[0])) == t))
        }),
        "kindOf" => f(&[Any], None, |a| Ok(Val::str(a[0].v.kind_name()))),
        "kindIs" => f(&[Str, Any], None, |a| Ok(Val::Bool(s(&a[0]) == a[1].v.kind_name()))),
        "deepEqual" => f(&[Any, Any], None, |a| Ok(Val::Bool(deep_equal(&a[0].v, &a[1].v, 0)))),

        // sprig: paths.
        "base" | "osBase" => f(&[Str], None, |a| Ok(Val::str(path_base(s(&a[0]))))),
        "dir" | "osDir" => f(&[Str], None, |a| Ok(Val::str(path_dir(s(&a[0]))))),
        "clean" | "osClean" => f(&[Str], None, |a| Ok(Val::str(path_clean(s(&a[0]))))),
        "ext" | "osExt" => f(&[Str], None, |a| Ok(Val::str(path_ext(s(&a[0]))))),
        "isAbs" | "osIsAbs" => f(&[Str], None, |a| Ok(Val::Bool(s(&a[0]).starts_with('/')))),

        // sprig: encodings.
        "b64enc" => f(&[Str], None, |a| Ok(Val::str(base64::engine::general_purpose::STANDARD.encode(s(&a[0]))))),
        "b64dec" => f(&[Str], None, |a| Ok(Val::str(b64dec(s(&a[0]))))),
        "b32enc" => f(&[Str], None, |a| Ok(Val::str(b32enc(s(&a[0]).as_bytes())))),
        "b32dec" => f(&[Str], None, |a| Ok(Val::str(b32dec(s(&a[0]))))),

        // sprig: lists and dicts.
        "tuple" | "list" => f(&[], Some(Any), |a| Ok(Val::list(vals(a)))),
        "dict" => f(&[], Some(Any), |a| {
            let mut m = BTreeMap::new();
            for pair in a.chunks(2) {
                let k = strval(&pair[0].v);
                m.insert(k, pair.get(1).map_or(Val::str(""), |v| v.v.clone()));
            }
            Ok(Val::map(m))
        }),
        "get" => f(&[Map, Str], None, |a| Ok(map_get(&a[0].v, s(&a[1])).unwrap_or(Val::str("")))),
        "set" => f(&[Map, Str, Any], None, |a| {
            let Val::Map(m, _) = &a[0].v else { return Err("assignment to entry in nil map".into()) };
            m.borrow_mut().insert(s(&a[1]).to_string(), a[2].v.clone());
            Ok(a[0].v.clone())
        }),
        "unset" => f(&[Map, Str], None, |a| {
            if let Val::Map(m, _) = &a[0].v {
                m.borrow_mut().remove(s(&a[1]));
            }
            Ok(a[0].v.clone())
        }),
        "hasKey" => f(&[Map, Str], None, |a| Ok(Val::Bool(map_get(&a[0].v, s(&a[1])).is_some()))),
        "pluck" => {
            f(&[Str], Some(Map), |a| Ok(Val::list(a[1..].iter().filter_map(|d| map_get(&d.v, s(&a[0]))).collect())))
        }
        "keys" => f(&[], Some(Map), |a| {
            let mut out = Vec::new();
            for d in a {
                if let Val::Map(m, _) = &d.v {
                    out.extend(m.borrow().keys().cloned());
                }
            }
            Ok(Val::str_list(out))
        }),
        "values" => f(&[Map], None, |a| {
            Ok(Val::list(match &a[0].v {
                Val::Map(m, _) => m.borrow().values().cloned().collect(),
                _ => Vec::new(),
            }))
        }),
        "pick" => f(&[Map], Some(Str), |a| {
            let mut out = BTreeMap::new();
            for k in &a[1..] {
                if let Some(v) = map_get(&a[0].v, s(k)) {
                    out.insert(s(k).to_string(), v);
                }
            }
            Ok(Val::map(out))
        }),
        "omit" => f(&[Map], Some(Str), |a| {
            let omit: Vec<&str> = a[1..].iter().map(s).collect();
            let mut out = BTreeMap::new();
            if let Val::Map(m, _) = &a[0].v {
                for (k, v) in m.borrow().iter() {
                    if !omit.contains(&k.as_str()) {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
            Ok(Val::map(out))
        }),
        "merge" | "mustMerge" => f(&[Map], Some(Map), |a| merge_all(a, false)),
        "mergeOverwrite" | "mustMergeOverwrite" => f(&[Map], Some(Map), |a| merge_all(a, true)),
        "append" | "push" | "mustAppend" | "mustPush" => f(&[Any, Any], None, |a| {
            let mut l = list_items(&a[0].v, "push")?;
            l.push(a[1].v.clone());
            Ok(Val::list(l))
        }),
        "prepend" | "mustPrepend" => f(&[Any, Any], None, |a| {
            let mut l = list_items(&a[0].v, "prepend")?;
            l.insert(0, a[1].v.clone());
            Ok(Val::list(l))
        }),
        "first" | "mustFirst" => {
            f(&[Any], None, |a| Ok(list_items(&a[0].v, "first")?.into_iter().next().unwrap_or(Val::Nil)))
        }
        "last" | "mustLast" => f(&[Any], None, |a| Ok(list_items(&a[0].v, "last")?.pop().unwrap_or(Val::Nil))),
        "rest" | "mustRest" => {
            f(&[Any], None, |a| Ok(Val::list(list_items(&a[0].v, "rest")?.into_iter().skip(1).collect())))
        }
        "initial" | "mustInitial" => f(&[Any], None, |a| {
            let mut l = list_items(&a[0].v, "initial")?;
            l.pop();
            Ok(Val::list(l))
        }),
        "reverse" | "mustReverse" => f(&[Any], None, |a| {
            let mut l = list_items(&a[0].v, "reverse")?;
            l.reverse();
            Ok(Val::list(l))
        }),
        "uniq" | "mustUniq" => f(&[Any], None, |a| {
            let mut out: Vec<Val> = Vec::new();
            for x in list_items(&a[0].v, "uniq")? {
                if !out.iter().any(|o| deep_equal(o, &x, 0)) {
                    out.push(x);
                }
            }
            Ok(Val::list(out))
        }),
        "without" | "mustWithout" => f(&[Any], Some(Any), |a| {
            let omit = vals(&a[1..]);
            Ok(Val::list(
                list_items(&a[0].v, "without")?
                    .into_iter()
                    .filter(|x| !omit.iter().any(|o| deep_equal(o, x, 0)))
                    .collect(),
            ))
        }),
        "has" | "mustHas" => f(&[Any, Any], None, |a| {
            if a[1].v.is_nil() {
                return Ok(Val::Bool(false));
            }
            Ok(Val::Bool(list_items(&a[1].v, "has")?.iter().any(|x| deep_equal(x, &a[0].v, 0))))
        }),
        "slice" | "mustSlice" => f(&[Any], Some(Any), sprig_slice),
        "concat" => f(&[], Some(Any), |a| {
            let mut out = Vec::new();
            for l in a {
                match &l.v {
                    Val::List(l) => out.extend(l.items.iter().cloned()),
                    Val::Nil => return Err("runtime error: invalid memory address or nil pointer dereference".into()),
                    v => return Err(format!("Cannot concat type {} as list", v.kind_name())),
                }
            }
            Ok(if out.is_empty() { Val::nil_list(Elem::Any) } else { Val::list(out) })
        }),
        "dig" => f(&[], Some(Any), dig),
        "chunk" | "mustChunk" => f(&[Int, Any], None, |a| {
            let size = i(&a[0]);
            if size <= 0 {
                return Err("runtime error: integer divide by zero".into());
            }
            let l = list_items(&a[1].v, "chunk")?;
            Ok(Val::list(l.chunks(size as usize).map(|c| Val::list(c.to_vec())).collect()))
        }),

        // sprig: regular expressions.
        "regexMatch" => {
            f(&[Str, Str], None, |a| Ok(Val::Bool(super::regex::compile(s(&a[0])).is_ok_and(|r| r.is_match(s(&a[1]))))))
        }
        "mustRegexMatch" => {
            f(&[Str, Str], None, |a| Ok(Val::Bool(super::regex::compile(s(&a[0]))?.is_match(s(&a[1])))))
        }
        "regexFindAll" => f(&[Str, Str, Int], None, |a| super::regex::find_all(s(&a[0]), s(&a[1]), i(&a[2]), true)),
        "mustRegexFindAll" => {
            f(&[Str, Str, Int], None, |a| super::regex::find_all(s(&a[0]), s(&a[1]), i(&a[2]), false))
        }
        "regexFind" => f(&[Str, Str], None, |a| super::regex::find(s(&a[0]), s(&a[1]), true)),
        "mustRegexFind" => f(&[Str, Str], None, |a| super::regex::find(s(&a[0]), s(&a[1]), false)),
        "regexReplaceAll" => {
            f(&[Str, Str, Str], None, |a| super::regex::replace(s(&a[0]), s(&a[1]), s(&a[2]), true, true))
        }
        "mustRegexReplaceAll" => {
            f(&[Str, Str, Str], None, |a| super::regex::replace(s(&a[0]), s(&a[1]), s(&a[2]), true, false))
        }
        "regexReplaceAllLiteral" => {
            f(&[Str, Str, Str], None, |a| super::regex::replace(s(&a[0]), s(&a[1]), s(&a[2]), false, true))
        }
        "mustRegexReplaceAllLiteral" => {
            f(&[Str, Str, Str], None, |a| super::regex::replace(s(&a[0]), s(&a[1]), s(&a[2]), false, false))
        }
        "regexSplit" => f(&[Str, Str, Int], None, |a| super::regex::split(s(&a[0]), s(&a[1]), i(&a[2]), true)),
        "mustRegexSplit" => f(&[Str, Str, Int], None, |a| super::regex::split(s(&a[0]), s(&a[1]), i(&a[2]), false)),
        "regexQuoteMeta" => f(&[Str], None, |a| Ok(Val::str(super::regex::quote_meta(s(&a[0]))))),

        // Defined by Helm, deliberately not by msws.
        "now" | "uuidv4" => unsupported(&[], None, NONDET),
        "date" | "htmlDateInZone" | "dateInZone" | "date_in_zone" => unsupported(&[Str, Any], Some(Any), NONDET),
        "htmlDate" | "ago" | "toDate" | "mustToDate" | "unixEpoch" | "duration" | "durationRound" => {
            unsupported(&[Any], Some(Any), NOT_IMPL)
        }
        "dateModify" | "date_modify" | "mustDateModify" | "must_date_modify" => {
            unsupported(&[Str, Any], None, NOT_IMPL)
        }
        "getHostByName" => unsupported(&[Str], None, "not deterministic (it asks DNS)"),
        "bcrypt"
        | "htpasswd"
        | "genPrivateKey"
        | "derivePassword"
        | "buildCustomCert"
        | "genCA"
        | "genCAWithKey"
        | "genSelfSignedCert"
        | "genSelfSignedCertWithKey"
        | "genSignedCert"
        | "genSignedCertWithKey"
        | "encryptAES"
        | "decryptAES" => unsupported(&[], Some(Any), "not deterministic (it makes keys or salts)"),
        "semver" | "semverCompare" | "urlParse" | "urlJoin" => unsupported(&[], Some(Any), NOT_IMPL),
        _ => None,
    }
}

fn vals(a: &[Ev]) -> Vec<Val> {
    a.iter().map(|x| x.v.clone()).collect()
}

/// The string argument (validated by the caller's signature).
fn s(e: &Ev) -> &str {
    e.v.as_str().unwrap_or("")
}

/// The int argument (validated by the caller's signature).
fn i(e: &Ev) -> i64 {
    match e.v {
        Val::Int(i, _) => i,
        _ => 0,
    }
}

/// html/js/urlquery's argument handling: one string as is, else `fmt.Sprint`.
fn eval_args(a: &[Ev]) -> String {
    if let [one] = a
        && let Val::Str(s) = &one.v
    {
        return s.to_string();
    }
    sprint(&vals(a))
}

/// sprig's `strval`.
pub fn strval(v: &Val) -> String {
    match v {
        Val::Str(s) => s.to_string(),
        v => sprint_v(v),
    }
}

/// sprig's `strslice`: a list's elements as strings (nils dropped); a non-list as one string.
fn strslice(v: &Val) -> Vec<String> {
    match v {
        Val::List(l) => l.items.iter().filter(|x| !x.is_nil()).map(strval).collect(),
        Val::Nil => Vec::new(),
        v => vec![strval(v)],
    }
}

/// sprig's `empty`.
pub fn empty(v: &Val) -> bool {
    !v.truthy()
}

fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }
}

fn list_items(v: &Val, what: &str) -> Result<Vec<Val>, String> {
    match v {
        Val::List(l) => Ok(l.items.clone()),
        Val::Struct(s) if s.has.is_some() => Ok(s.has.iter().flatten().map(|x| Val::str(x.as_str())).collect()),
        Val::Nil => Err("runtime error: invalid memory address or nil pointer dereference".into()),
        other => Err(format!("Cannot find {what} on type {}", other.kind_name())
            .replace("Cannot find push", "Cannot push")
            .replace("Cannot find prepend", "Cannot prepend")),
    }
}

fn map_get(m: &Val, k: &str) -> Option<Val> {
    match m {
        Val::Map(m, _) => m.borrow().get(k).cloned(),
        _ => None,
    }
}

fn int_list(v: Vec<i64>) -> Val {
    Val::typed_list(v.into_iter().map(Val::int).collect(), Elem::Int)
}

fn builtin_len(a: &[Ev]) -> Result<Val, String> {
    match (&a[0].v, a[0].iface) {
        (Val::Nil, true) => Err("len of nil pointer".into()),
        (Val::Nil, false) => Err("reflect: call of reflect.Value.Type on zero Value".into()),
        (v, _) => match v.go_len() {
            Some(n) => Ok(Val::int(n as i64)),
            None => Err(format!("len of type {}", v.type_name())),
        },
    }
}

fn index_arg(i: &Val, cap: usize) -> Result<usize, String> {
    let x = match i {
        Val::Int(x, _) => *x,
        Val::Nil => return Err("cannot index slice/array with nil".into()),
        other => return Err(format!("cannot index slice/array with type {}", other.type_name())),
    };
    if x < 0 || x as u64 > cap as u64 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn builtin_index(a: &[Ev]) -> Result<Val, String> {
    let mut item = a[0].v.clone();
    let mut iface = a[0].iface;
    if item.is_nil() {
        return Err("index of untyped nil".into());
    }
    for idx in &a[1..] {
        if item.is_nil() {
            return Err(if iface { "index of nil pointer".into() } else { "index of untyped nil".into() });
        }
        item = match &item {
            Val::List(l) => {
                let x = index_arg(&idx.v, l.items.len())?;
                iface = l.elem == Elem::Any;
                l.items.get(x).cloned().ok_or("reflect: slice index out of range")?
            }
            Val::Str(s) => {
                let x = index_arg(&idx.v, s.len())?;
                iface = false;
                Val::Int(i64::from(*s.as_bytes().get(x).ok_or("reflect: string index out of range")?), IntTy::Uint8)
            }
            Val::Map(m, ty) => {
                let key = match &idx.v {
                    Val::Str(k) => k.to_string(),
                    Val::Nil => return Err("value is nil; should be of type string".into()),
                    other => return Err(format!("value has type {}; should be string", other.type_name())),
                };
                iface = *ty != MapTy::StrStr;
                match m.borrow().get(&key) {
                    Some(v) => v.clone(),
                    None if *ty == MapTy::StrStr => Val::str(""),
                    None => Val::Nil,
                }
            }
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

/// Go's basic kinds, for the comparison builtins.
#[derive(PartialEq, Eq, Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn basic_kind(v: &Val) -> Kind {
    match v {
        Val::Bool(_) => Kind::Bool,
        Val::Int(..) => Kind::Int,
        Val::Float(_) => Kind::Float,
        Val::Str(_) => Kind::Str,
        _ => Kind::Other,
    }
}

fn builtin_eq(a: &[Ev]) -> Result<Val, String> {
    if a.len() < 2 {
        return Err("missing argument for comparison".into());
    }
    for b in &a[1..] {
        if cmp_eq(&a[0].v, &b.v)? {
            return Ok(Val::Bool(true));
        }
    }
    Ok(Val::Bool(false))
}

fn cmp_eq(x: &Val, y: &Val) -> Result<bool, String> {
    let (k1, k2) = (basic_kind(x), basic_kind(y));
    if k1 != k2 {
        if !x.is_nil() && !y.is_nil() {
            return Err(format!("incompatible types for comparison: {} and {}", x.type_name(), y.type_name()));
        }
        return Ok(false);
    }
    Ok(match (x, y) {
        (Val::Bool(a), Val::Bool(b)) => a == b,
        (Val::Int(a, _), Val::Int(b, _)) => a == b,
        (Val::Float(a), Val::Float(b)) => a == b,
        (Val::Str(a), Val::Str(b)) => a == b,
        (Val::Nil, _) | (_, Val::Nil) => x.is_nil() && y.is_nil(),
        (Val::List(_) | Val::Map(..), _) | (_, Val::List(_) | Val::Map(..)) => {
            let v = if matches!(y, Val::List(_) | Val::Map(..)) { y } else { x };
            return Err(format!(
                "non-comparable type {}: {}",
                gofmt::sprintf("%s", std::slice::from_ref(v)),
                v.type_name()
            ));
        }
        (Val::Struct(a), Val::Struct(b)) => Rc::ptr_eq(a, b),
        _ => false,
    })
}

fn cmp_lt(x: &Val, y: &Val) -> Result<bool, String> {
    let (k1, k2) = (basic_kind(x), basic_kind(y));
    if k1 == Kind::Other || k2 == Kind::Other {
        return Err("invalid type for comparison".into());
    }
    if k1 != k2 {
        return Err(format!("incompatible types for comparison: {} and {}", x.type_name(), y.type_name()));
    }
    Ok(match (x, y) {
        (Val::Int(a, _), Val::Int(b, _)) => a < b,
        (Val::Float(a), Val::Float(b)) => a < b,
        (Val::Str(a), Val::Str(b)) => a < b,
        _ => return Err("invalid type for comparison".into()),
    })
}

fn sprig_slice(a: &[Ev]) -> Result<Val, String> {
    let l = match &a[0].v {
        Val::List(l) => l.clone(),
        Val::Nil => return Err("runtime error: invalid memory address or nil pointer dereference".into()),
        other => return Err(format!("list should be type of slice or array but {}", other.kind_name())),
    };
    let n = l.items.len() as i64;
    if n == 0 {
        return Ok(Val::Nil);
    }
    let start = a.get(1).map_or(0, |x| x.v.to_i64());
    let end = if a.len() < 3 { n } else { a[2].v.to_i64() };
    if start < 0 || end < start || end > n {
        return Err("reflect.Value.Slice: slice index out of bounds".into());
    }
    Ok(Val::List(Rc::new(GoList { items: l.items[start as usize..end as usize].to_vec(), elem: l.elem, nil: false })))
}

fn dig(a: &[Ev]) -> Result<Val, String> {
    if a.len() < 3 {
        return Err("dig needs at least three arguments".into());
    }
    let dict = &a[a.len() - 1].v;
    let def = &a[a.len() - 2].v;
    let mut cur = dict.clone();
    let keys = &a[..a.len() - 2];
    for (n, k) in keys.iter().enumerate() {
        let Val::Str(k) = &k.v else {
            return Err(format!("interface conversion: interface {{}} is {}, not string", k.v.type_name()));
        };
        let Val::Map(m, _) = &cur else {
            return Err(format!(
                "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                cur.type_name()
            ));
        };
        let step = m.borrow().get(&**k).cloned();
        match step {
            None => return Ok(def.clone()),
            Some(v) if n + 1 == keys.len() => return Ok(v),
            Some(v) => cur = v,
        }
    }
    Ok(def.clone())
}

/// sprig's merge and mergeOverwrite (mergo's rules): `dst` changes in place and is returned.
fn merge_all(a: &[Ev], overwrite: bool) -> Result<Val, String> {
    let dst = match &a[0].v {
        Val::Map(..) => a[0].v.clone(),
        _ => Val::empty_map(),
    };
    for src in &a[1..] {
        if let (Val::Map(d, _), Val::Map(s, _)) = (&dst, &src.v) {
            merge_maps(d, s, overwrite, 0)?;
        }
    }
    Ok(dst)
}

fn merge_maps(dst: &value::MapRef, src: &value::MapRef, overwrite: bool, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("maps nested too deeply to merge (does a map contain itself?)".into());
    }
    let entries: Vec<(String, Val)> = src.borrow().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let src_empty = entries.is_empty();
    for (k, sv) in entries {
        let dv = dst.borrow().get(&k).cloned();
        if sv.is_nil() {
            if overwrite {
                dst.borrow_mut().insert(k, Val::Nil);
            }
            continue;
        }
        match &sv {
            Val::Map(sm, _) => {
                if let Some(Val::Map(dm, _)) = &dv {
                    if !Rc::ptr_eq(dm, sm) {
                        merge_maps(dm, sm, overwrite, depth + 1)?;
                    }
                    if !empty(dv.as_ref().unwrap_or(&Val::Nil)) {
                        continue;
                    }
                }
            }
            Val::List(_) => {
                let dst_empty = dst.borrow().is_empty();
                let keep = match &dv {
                    Some(d) if !d.is_nil() => d.clone(),
                    _ => Val::list(Vec::new()),
                };
                let new = if (!src_empty) && (overwrite || dst_empty) { sv.clone() } else { keep };
                dst.borrow_mut().insert(k.clone(), new);
                if dv.as_ref().is_some_and(|d| !empty(d)) {
                    continue;
                }
            }
            _ => {}
        }
        let dv_now = dst.borrow().get(&k).cloned();
        let dst_missing_or_empty = dv.is_none() || dv_now.as_ref().is_none_or(empty);
        if overwrite || dst_missing_or_empty {
            dst.borrow_mut().insert(k, sv);
        }
    }
    Ok(())
}

fn abbrev(width: i64, s: &str) -> String {
    if width < 4 {
        return s.to_string();
    }
    abbreviate_full(s, 0, width)
}

fn abbrevboth(left: i64, right: i64, s: &str) -> String {
    if right < 4 || left > 0 && right < 7 {
        return s.to_string();
    }
    abbreviate_full(s, left, right)
}

/// goutils' AbbreviateFull (byte offsets, as Go's).
fn abbreviate_full(s: &str, mut offset: i64, max: i64) -> String {
    let len = s.len() as i64;
    if s.is_empty() || len <= max {
        return s.to_string();
    }
    if offset > len {
        offset = len;
    }
    if len - offset < max - 3 {
        offset = len - (max - 3);
    }
    if offset <= 4 {
        return format!("{}...", bytes_str(s, 0, (max - 3) as usize));
    }
    if max < 7 {
        return String::new();
    }
    if offset + max - 3 < len {
        return format!("...{}", abbrev(max - 3, &bytes_str(s, offset as usize, s.len())));
    }
    format!("...{}", bytes_str(s, (len - (max - 3)) as usize, s.len()))
}

/// `s[a:b]` by bytes; a cut inside a character becomes U+FFFD (Go would keep the bytes).
fn bytes_str(s: &str, a: usize, b: usize) -> String {
    let b = b.min(s.len());
    let a = a.min(b);
    String::from_utf8_lossy(&s.as_bytes()[a..b]).into_owned()
}

fn trunc(c: i64, s: &str) -> String {
    let n = s.len() as i64;
    if c < 0 && n + c > 0 {
        return bytes_str(s, (n + c) as usize, s.len());
    }
    if c >= 0 && n > c {
        return bytes_str(s, 0, c as usize);
    }
    s.to_string()
}

fn substr(start: i64, end: i64, s: &str) -> Result<String, String> {
    let n = s.len() as i64;
    let oob = |msg: String| Err(format!("runtime error: slice bounds out of range {msg}"));
    if start < 0 {
        if end < 0 {
            return oob(format!("[:{end}]"));
        }
        if end > n {
            return oob(format!("[:{end}] with length {n}"));
        }
        return Ok(bytes_str(s, 0, end as usize));
    }
    if end < 0 || end > n {
        if start > n {
            return oob(format!("[{start}:{n}]"));
        }
        return Ok(bytes_str(s, start as usize, s.len()));
    }
    if start > end {
        return oob(format!("[{start}:{end}]"));
    }
    Ok(bytes_str(s, start as usize, end as usize))
}

/// Longest string `repeat` and `indent` make; beyond it a template is refused rather than
/// exhausting memory.
const MAX_STRING: usize = 64 << 20;

fn repeat(s: &str, n: i64) -> Result<String, String> {
    if n < 0 {
        return Err("strings: negative Repeat count".into());
    }
    if (s.len() as u128) * (n as u128) > MAX_STRING as u128 {
        return Err(format!("repeat would make a string longer than {MAX_STRING} bytes"));
    }
    Ok(s.repeat(n as usize))
}

fn indent(n: i64, s: &str) -> Result<String, String> {
    let pad = repeat(" ", n)?;
    Ok(format!("{pad}{}", s.replace('\n', &format!("\n{pad}"))))
}

/// Go's strings.Title: the first letter of each word upper-cased (title case).
fn title(s: &str) -> String {
    let mut out = String::new();
    let mut prev = ' ';
    for c in s.chars() {
        let sep = if prev.is_ascii() { !(prev.is_ascii_alphanumeric() || prev == '_') } else { prev.is_whitespace() };
        if sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// goutils' Uncapitalize: the first letter of each whitespace-separated word lower-cased.
fn untitle(s: &str) -> String {
    let mut out = String::new();
    let mut at_start = true;
    for c in s.chars() {
        if c.is_whitespace() {
            at_start = true;
            out.push(c);
        } else if at_start {
            out.extend(c.to_lowercase());
            at_start = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn swapcase(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_uppercase() { c.to_lowercase().collect::<String>() } else { c.to_uppercase().collect() })
        .collect()
}

/// `strconv.Atoi`, errors as 0.
fn atoi(s: &str) -> i64 {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    s.parse::<i64>().unwrap_or(0)
}

/// Go's strings.SplitN (n < 0: all).
fn go_split(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let chars: Vec<String> = s.chars().map(String::from).collect();
        if n > 0 && (n as usize) < chars.len() {
            let mut out: Vec<String> = chars[..n as usize - 1].to_vec();
            out.push(chars[n as usize - 1..].concat());
            return out;
        }
        return chars;
    }
    if n < 0 { s.split(sep).map(String::from).collect() } else { s.splitn(n as usize, sep).map(String::from).collect() }
}

fn split_map(parts: Vec<String>) -> Val {
    Val::typed_map(parts.into_iter().enumerate().map(|(i, p)| (format!("_{i}"), Val::str(p))).collect(), MapTy::StrStr)
}

/// Longest list `until`, `untilStep` and `seq` make.
const MAX_LIST: i64 = 1 << 20;

fn until_step(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, String> {
    let mut v = Vec::new();
    let mut i = start;
    if stop < start {
        if step >= 0 {
            return Ok(v);
        }
        while i > stop {
            v.push(i);
            i = i.saturating_add(step);
            if v.len() as i64 > MAX_LIST {
                return Err(format!("untilStep would make a list longer than {MAX_LIST}"));
            }
        }
        return Ok(v);
    }
    if step <= 0 {
        return Ok(v);
    }
    while i < stop {
        v.push(i);
        i = i.saturating_add(step);
        if v.len() as i64 > MAX_LIST {
            return Err(format!("untilStep would make a list longer than {MAX_LIST}"));
        }
    }
    Ok(v)
}

fn seq(p: &[i64]) -> Result<Val, String> {
    let v = match *p {
        [end] => {
            let inc = if end < 1 { -1 } else { 1 };
            until_step(1, end + inc, inc)?
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            until_step(start, end + step, step)?
        }
        [start, step, end] => {
            let mut inc = 1;
            if end < start {
                inc = -1;
                if step > 0 {
                    return Ok(Val::str(""));
                }
            }
            until_step(start, end + inc, step)?
        }
        _ => Vec::new(),
    };
    Ok(Val::str(v.iter().map(i64::to_string).collect::<Vec<_>>().join(" ")))
}

fn round(a: f64, places: i64, on: f64) -> f64 {
    let pow = 10f64.powf(places as f64);
    let digit = pow * a;
    let div = digit.fract();
    let r = if div >= on { digit.ceil() } else { digit.floor() };
    r / pow
}

fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn path_dir(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    path_clean(dir)
}

fn path_ext(p: &str) -> String {
    let base = p.rsplit('/').next().unwrap_or(p);
    match base.rfind('.') {
        Some(i) => base[i..].to_string(),
        None => String::new(),
    }
}

/// Go's path.Clean.
fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

fn b64dec(s: &str) -> String {
    let clean: String = s.chars().filter(|&c| c != '\r' && c != '\n').collect();
    match base64::engine::general_purpose::STANDARD.decode(clean.as_bytes()) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(base64::DecodeError::InvalidByte(at, _)) => format!("illegal base64 data at input byte {at}"),
        Err(base64::DecodeError::InvalidLastSymbol(at, _)) => format!("illegal base64 data at input byte {at}"),
        Err(_) => format!("illegal base64 data at input byte {}", clean.len().saturating_sub(1) / 4 * 4),
    }
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn b32enc(b: &[u8]) -> String {
    let mut out = String::new();
    for chunk in b.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = [8, 2, 4, 5, 7, 8][chunk.len().min(5)];
        let chars = if chunk.len() == 5 { 8 } else { chars };
        for k in 0..8 {
            if k < chars {
                out.push(B32[((n >> (35 - 5 * k)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b32dec(s: &str) -> String {
    let body = s.trim_end_matches('=');
    let mut bits: u64 = 0;
    let mut nbits = 0;
    let mut out = Vec::new();
    for (at, c) in body.bytes().enumerate() {
        let Some(v) = B32.iter().position(|&b| b == c) else {
            return format!("illegal base32 data at input byte {at}");
        };
        bits = (bits << 5) | v as u64;
        nbits += 5;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn adler32(b: &[u8]) -> u32 {
    let (mut a, mut s) = (1u32, 0u32);
    for &x in b {
        a = (a + u32::from(x)) % 65521;
        s = (s + a) % 65521;
    }
    (s << 16) | a
}

/// SHA-1 (sprig's `sha1sum`), which no dependency of msws provides.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for t in 0..16 {
            w[t] = u32::from_be_bytes([block[4 * t], block[4 * t + 1], block[4 * t + 2], block[4 * t + 3]]);
        }
        for t in 16..80 {
            w[t] = (w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (t, wt) in w.iter().enumerate() {
            let (f, k) = match t {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let tmp = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wt);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = tmp;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}
