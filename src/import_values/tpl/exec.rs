//! Executing a parsed template, as Go's `text/template/exec.go` does (Helm's options:
//! `missingkey=zero`, the sprig and Helm functions).

use std::collections::BTreeMap;
use std::rc::Rc;

use super::funcs::{self, Imp, P};
use super::parse::{Cmd, Control, Node, Operand, Pipe, Tree, TreeMap, line_col};
use super::value::{Elem, IntTy, MapTy, Val};
use super::{Context, TplError};

/// An evaluated value and whether Go would hold it in an `interface{}` (a map's or a list's
/// element): only such a nil is "a nil pointer" when a field is taken from it, and error
/// messages name its type `interface {}`.
#[derive(Clone, Debug)]
pub struct Ev {
    pub v: Val,
    pub iface: bool,
}

impl Ev {
    pub fn new(v: Val) -> Ev {
        Ev { v, iface: false }
    }

    fn elem(v: Val, iface: bool) -> Ev {
        Ev { v, iface }
    }

    /// The static type Go would name in "wrong type" messages.
    fn static_type(&self) -> String {
        if self.iface { "interface {}".into() } else { self.v.type_name() }
    }
}

/// How a function failed: its message, and (for `include`/`tpl`) the error inside.
pub struct FuncErr {
    pub msg: String,
    pub inner: Option<Box<TplError>>,
}

impl From<String> for FuncErr {
    fn from(msg: String) -> FuncErr {
        FuncErr { msg, inner: None }
    }
}

impl From<&str> for FuncErr {
    fn from(msg: &str) -> FuncErr {
        FuncErr { msg: msg.into(), inner: None }
    }
}

enum Flow {
    Normal,
    Break,
    Continue,
}

/// One template being executed: the tree and its variables.
struct Frame<'t> {
    tree: &'t Tree,
    vars: Vec<(String, Ev)>,
}

/// Nested `template`/`include`/`tpl` calls past this are refused (Go allows more, but each
/// level costs stack; the ModelService chart nests a handful).
pub const MAX_CALL_DEPTH: usize = 64;

pub struct Exec<'c> {
    pub ctx: &'c Context,
    pub trees: Rc<TreeMap>,
    pub depth: usize,
}

type R<T> = Result<T, TplError>;

/// A final value handed down a pipeline, or none.
#[derive(Clone)]
enum Final {
    Missing,
    Val(Ev),
}

impl<'c> Exec<'c> {
    /// Executes a named template with `dot` as its data.
    pub fn execute(&mut self, name: &str, dot: Ev) -> R<String> {
        let Some(tree) = self.trees.get(name).cloned() else {
            return Err(TplError::exec_plain(format!(
                "template: no template {name:?} associated with template \"gotpl\""
            )));
        };
        self.run_tree(&tree, dot)
    }

    pub fn run_tree(&mut self, tree: &Tree, dot: Ev) -> R<String> {
        if self.depth >= MAX_CALL_DEPTH {
            return Err(TplError::exec_plain(format!(
                "exceeded maximum template depth ({MAX_CALL_DEPTH}) executing {:?}",
                tree.name
            )));
        }
        self.depth += 1;
        let mut frame = Frame { tree, vars: vec![("$".into(), Ev::new(dot.v.clone()))] };
        let mut out = String::new();
        let r = self.walk_list(&mut frame, &dot, &tree.root, &mut out);
        self.depth -= 1;
        r.map(|_| out)
    }

    fn error(&self, frame: &Frame, pos: usize, context: &str, msg: String) -> TplError {
        let (line, col) = line_col(&frame.tree.src, pos);
        TplError::exec(&frame.tree.parse_name, &frame.tree.name, line, col, context, msg, None)
    }

    fn error_in(&self, frame: &Frame, pos: usize, context: &str, e: FuncErr, func: &str) -> TplError {
        let (line, col) = line_col(&frame.tree.src, pos);
        TplError::exec(
            &frame.tree.parse_name,
            &frame.tree.name,
            line,
            col,
            context,
            format!("error calling {func}: {}", e.msg),
            e.inner,
        )
    }

    fn walk_list(&mut self, frame: &mut Frame, dot: &Ev, list: &[Node], out: &mut String) -> R<Flow> {
        for n in list {
            match self.walk(frame, dot, n, out)? {
                Flow::Normal => {}
                f => return Ok(f),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, frame: &mut Frame, dot: &Ev, node: &Node, out: &mut String) -> R<Flow> {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(pipe) => {
                let v = self.eval_pipeline(frame, dot, pipe)?;
                if pipe.decl.is_empty() {
                    print_value(&v.v, out);
                }
            }
            Node::If(c) | Node::With(c) => {
                let with = matches!(node, Node::With(_));
                let mark = frame.vars.len();
                let v = self.eval_pipeline(frame, dot, &c.pipe)?;
                let r = if v.v.truthy() {
                    let d = if with { v } else { dot.clone() };
                    self.walk_list(frame, &d, &c.list, out)
                } else if let Some(e) = &c.else_list {
                    self.walk_list(frame, dot, e, out)
                } else {
                    Ok(Flow::Normal)
                };
                frame.vars.truncate(mark);
                return r;
            }
            Node::Range(c) => {
                let mark = frame.vars.len();
                let r = self.walk_range(frame, dot, c, out);
                frame.vars.truncate(mark);
                return r;
            }
            Node::Template { pos, name, pipe } => {
                let Some(tree) = self.trees.get(name).cloned() else {
                    return Err(self.error(
                        frame,
                        *pos,
                        &format!("template {name:?}"),
                        format!("template {name:?} not defined"),
                    ));
                };
                let d = match pipe {
                    Some(p) => self.eval_pipeline(frame, dot, p)?,
                    None => Ev::new(Val::Nil),
                };
                let s = self.run_tree(&tree, d)?;
                out.push_str(&s);
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn walk_range(&mut self, frame: &mut Frame, dot: &Ev, c: &Control, out: &mut String) -> R<Flow> {
        let val = self.eval_pipeline(frame, dot, &c.pipe)?;
        let mark = frame.vars.len();
        let mut items: Vec<(Ev, Ev)> = Vec::new();
        match &val.v {
            Val::List(l) => {
                let iface = l.elem == Elem::Any;
                for (i, e) in l.items.iter().enumerate() {
                    items.push((Ev::new(Val::int(i as i64)), Ev::elem(e.clone(), iface)));
                }
            }
            Val::Struct(s) if s.has.is_some() => {
                for (i, e) in s.has.iter().flatten().enumerate() {
                    items.push((Ev::new(Val::int(i as i64)), Ev::new(Val::str(e.as_str()))));
                }
            }
            Val::Map(m, ty) => {
                let iface = *ty != MapTy::StrStr;
                for (k, v) in m.borrow().iter() {
                    items.push((Ev::new(Val::str(k.as_str())), Ev::elem(v.clone(), iface)));
                }
            }
            Val::Int(n, ty) => {
                if c.pipe.decl.len() > 1 {
                    return Err(self.error(
                        frame,
                        c.pos,
                        &c.pipe.to_string(),
                        format!("can't use {n} to iterate over more than one variable"),
                    ));
                }
                for i in 0..(*n).max(0) {
                    let v = Ev::new(Val::Int(i, *ty));
                    items.push((v.clone(), v));
                }
            }
            Val::Nil => {}
            other => {
                return Err(self.error(
                    frame,
                    c.pos,
                    &c.pipe.to_string(),
                    format!("range can't iterate over {}", super::gofmt::sprint_v(other)),
                ));
            }
        }
        if items.is_empty() {
            if let Some(e) = &c.else_list {
                return self.walk_list(frame, dot, e, out);
            }
            return Ok(Flow::Normal);
        }
        for (index, elem) in items {
            let decl = &c.pipe.decl;
            if !decl.is_empty() {
                let first = if decl.len() > 1 { index.clone() } else { elem.clone() };
                self.set_var(frame, c.pos, &decl[0], first, c.pipe.is_assign)?;
                if decl.len() > 1 {
                    self.set_var(frame, c.pos, &decl[1], elem.clone(), c.pipe.is_assign)?;
                }
            }
            let r = self.walk_list(frame, &elem, &c.list, out);
            frame.vars.truncate(mark);
            match r? {
                Flow::Break => break,
                Flow::Continue | Flow::Normal => {}
            }
        }
        Ok(Flow::Normal)
    }

    /// `:=` pushes a variable; `=` assigns the innermost one of that name.
    fn set_var(&mut self, frame: &mut Frame, pos: usize, name: &str, v: Ev, assign: bool) -> R<()> {
        if assign {
            match frame.vars.iter_mut().rev().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = v,
                None => return Err(self.error(frame, pos, name, format!("undefined variable: {name}"))),
            }
        } else {
            frame.vars.push((name.to_string(), v));
        }
        Ok(())
    }

    fn eval_pipeline(&mut self, frame: &mut Frame, dot: &Ev, pipe: &Pipe) -> R<Ev> {
        let mut value = Final::Missing;
        for cmd in &pipe.cmds {
            let v = self.eval_command(frame, dot, cmd, value)?;
            // Go digs a value out of its interface after every command.
            value = Final::Val(Ev::new(v.v));
        }
        let v = match value {
            Final::Val(v) => v,
            Final::Missing => Ev::new(Val::Nil),
        };
        for name in &pipe.decl {
            self.set_var(frame, pipe.pos, name, v.clone(), pipe.is_assign)?;
        }
        Ok(v)
    }

    fn not_a_function(&self, frame: &Frame, cmd: &Cmd, fin: &Final) -> R<()> {
        if cmd.args.len() > 1 || matches!(fin, Final::Val(_)) {
            let a = &cmd.args[0];
            return Err(self.error(frame, a.pos(), &a.to_string(), format!("can't give argument to non-function {a}")));
        }
        Ok(())
    }

    fn eval_command(&mut self, frame: &mut Frame, dot: &Ev, cmd: &Cmd, fin: Final) -> R<Ev> {
        let first = &cmd.args[0];
        match first {
            Operand::Field { pos, idents } => {
                return self.eval_field_chain(
                    frame,
                    dot,
                    dot.clone(),
                    *pos,
                    &first.to_string(),
                    idents,
                    Some(cmd),
                    fin,
                );
            }
            Operand::Chain { pos, node, fields } => {
                if matches!(**node, Operand::Nil(_)) {
                    return Err(self.error(
                        frame,
                        *pos,
                        &first.to_string(),
                        format!("indirection through explicit nil in {first}"),
                    ));
                }
                let recv = self.eval_arg(frame, dot, None, node)?;
                return self.eval_field_chain(frame, dot, recv, *pos, &first.to_string(), fields, Some(cmd), fin);
            }
            Operand::Ident(pos, name) => return self.eval_function(frame, dot, *pos, name, cmd, fin),
            Operand::Pipe(p) => {
                self.not_a_function(frame, cmd, &fin)?;
                return self.eval_pipeline(frame, dot, p);
            }
            Operand::Variable { pos, name, fields } => {
                let v = self.var_value(frame, *pos, name)?;
                if fields.is_empty() {
                    self.not_a_function(frame, cmd, &fin)?;
                    return Ok(v);
                }
                return self.eval_field_chain(frame, dot, v, *pos, &first.to_string(), fields, Some(cmd), fin);
            }
            _ => {}
        }
        self.not_a_function(frame, cmd, &fin)?;
        match first {
            Operand::Bool(_, b) => Ok(Ev::new(Val::Bool(*b))),
            Operand::Dot(_) => Ok(dot.clone()),
            Operand::Nil(pos) => Err(self.error(frame, *pos, "nil", "nil is not a command".into())),
            Operand::Number(pos, n) => self.ideal_constant(frame, *pos, n).map(Ev::new),
            Operand::Str { text, .. } => Ok(Ev::new(Val::str(text.as_str()))),
            other => Err(self.error(
                frame,
                other.pos(),
                &other.to_string(),
                format!("can't evaluate command {:?}", other.to_string()),
            )),
        }
    }

    fn var_value(&self, frame: &Frame, pos: usize, name: &str) -> R<Ev> {
        match frame.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.error(frame, pos, name, format!("undefined variable: {name}"))),
        }
    }

    fn ideal_constant(&self, frame: &Frame, pos: usize, n: &super::parse::Number) -> R<Val> {
        let t = &n.text;
        let hex_int = (t.starts_with("0x") || t.starts_with("0X") || t.starts_with("-0x") || t.starts_with("+0x"))
            && !t.contains(['p', 'P']);
        let rune = t.starts_with('\'');
        if n.is_float && !hex_int && !rune && t.contains(['.', 'e', 'E', 'p', 'P']) {
            return Ok(Val::Float(n.float));
        }
        if n.is_int {
            return Ok(Val::int(n.int));
        }
        Err(self.error(frame, pos, t, format!("{t} overflows int")))
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field_chain(
        &mut self,
        frame: &mut Frame,
        dot: &Ev,
        mut recv: Ev,
        pos: usize,
        ctx: &str,
        idents: &[String],
        cmd: Option<&Cmd>,
        fin: Final,
    ) -> R<Ev> {
        let n = idents.len();
        for ident in &idents[..n - 1] {
            recv = self.eval_field(frame, dot, ident, pos, ctx, None, Final::Missing, recv)?;
        }
        self.eval_field(frame, dot, &idents[n - 1], pos, ctx, cmd, fin, recv)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field(
        &mut self,
        frame: &mut Frame,
        dot: &Ev,
        name: &str,
        pos: usize,
        ctx: &str,
        cmd: Option<&Cmd>,
        fin: Final,
        recv: Ev,
    ) -> R<Ev> {
        if recv.v.is_nil() {
            if recv.iface {
                return Err(self.error(frame, pos, ctx, format!("nil pointer evaluating interface {{}}.{name}")));
            }
            return Ok(Ev::new(Val::Nil));
        }
        let has_args = cmd.is_some_and(|c| c.args.len() > 1) || matches!(fin, Final::Val(_));
        let typ = recv.static_type();
        match &recv.v {
            Val::Struct(s) => {
                if name == "Has" && s.has.is_some() {
                    // VersionSet.Has(string) bool, the one method templates call.
                    let mut args: Vec<Ev> = Vec::new();
                    if let Some(c) = cmd {
                        for a in &c.args[1..] {
                            args.push(self.eval_arg(frame, dot, Some(P::Str), a)?);
                        }
                    }
                    if let Final::Val(v) = fin {
                        args.push(self.validate(frame, pos, ctx, v, P::Str)?);
                    }
                    if args.len() != 1 {
                        return Err(self.error(
                            frame,
                            pos,
                            ctx,
                            format!("wrong number of args for Has: want 1 got {}", args.len()),
                        ));
                    }
                    let want = args[0].v.as_str().unwrap_or_default();
                    return Ok(Ev::new(Val::Bool(s.has.iter().flatten().any(|h| h == want))));
                }
                if let Some((_, v)) = s.fields.iter().find(|(f, _)| *f == name) {
                    if has_args {
                        return Err(self.error(
                            frame,
                            pos,
                            ctx,
                            format!("{name} has arguments but cannot be invoked as function"),
                        ));
                    }
                    return Ok(Ev::new(v.clone()));
                }
                if s.type_name.starts_with('*') && !recv.iface {
                    return Err(self.error(frame, pos, ctx, format!("can't evaluate field {name} in type {typ}")));
                }
            }
            Val::Map(m, ty) => {
                if has_args {
                    return Err(self.error(frame, pos, ctx, format!("{name} is not a method but has arguments")));
                }
                let got = m.borrow().get(name).cloned();
                return Ok(match (got, ty) {
                    (Some(v), MapTy::StrStr) => Ev::new(v),
                    (Some(v), _) => Ev::elem(v, true),
                    (None, MapTy::StrStr) => Ev::new(Val::str("")),
                    (None, _) => Ev::elem(Val::Nil, true),
                });
            }
            _ => {}
        }
        Err(self.error(frame, pos, ctx, format!("can't evaluate field {name} in type {typ}")))
    }

    fn eval_function(&mut self, frame: &mut Frame, dot: &Ev, pos: usize, name: &str, cmd: &Cmd, fin: Final) -> R<Ev> {
        let ctx = cmd.to_string();
        let Some(f) = funcs::lookup(name) else {
            return Err(self.error(frame, pos, &ctx, format!("{name:?} is not a defined function")));
        };
        let cpos = cmd.pos;
        let args = &cmd.args[1..];
        let nfixed = f.params.len();
        let nargs = args.len() + usize::from(matches!(fin, Final::Val(_)));
        match f.variadic {
            Some(_) if nargs < nfixed => {
                return Err(self.error(
                    frame,
                    cpos,
                    &ctx,
                    format!("wrong number of args for {name}: want at least {nfixed} got {nargs}"),
                ));
            }
            None if nargs != nfixed => {
                return Err(self.error(
                    frame,
                    cpos,
                    &ctx,
                    format!("wrong number of args for {name}: want {nfixed} got {nargs}"),
                ));
            }
            _ => {}
        }
        // Go hands `call` the callee's source text, for its message.
        if name == "call" {
            let Some(first) = args.first() else {
                return Err(self.error(
                    frame,
                    cpos,
                    &ctx,
                    format!("wrong number of args for call: want at least 1 got {nargs}"),
                ));
            };
            let v = self.eval_arg(frame, dot, Some(P::Rv), first)?;
            let msg = if v.v.is_nil() {
                "call of nil".to_string()
            } else {
                format!("non-function {first} of type {}", v.v.type_name())
            };
            return Err(self.error_in(frame, cpos, &ctx, FuncErr::from(msg), name));
        }
        // and/or evaluate their arguments lazily.
        if matches!(f.imp, Imp::And | Imp::Or) {
            let or = matches!(f.imp, Imp::Or);
            let mut v = Ev::new(Val::Nil);
            for a in args {
                v = self.eval_arg(frame, dot, Some(P::Rv), a)?;
                if v.v.truthy() == or {
                    return Ok(Ev::new(v.v));
                }
            }
            if let Final::Val(fv) = fin {
                v = fv;
            }
            return Ok(Ev::new(v.v));
        }
        let mut argv = Vec::with_capacity(nargs);
        for (i, a) in args.iter().enumerate() {
            let ty = if i < nfixed { f.params[i] } else { f.variadic.unwrap_or(P::Any) };
            argv.push(self.eval_arg(frame, dot, Some(ty), a)?);
        }
        if let Final::Val(fv) = fin {
            let ty = if argv.len() < nfixed { f.params[argv.len()] } else { f.variadic.unwrap_or(P::Any) };
            argv.push(self.validate(frame, cpos, &ctx, fv, ty)?);
        }
        let r = match f.imp {
            Imp::Plain(imp) => imp(&argv).map_err(FuncErr::from),
            Imp::Exec(imp) => imp(self, &argv),
            Imp::Unsupported(why) => Err(FuncErr::from(format!("{why} (msws renders templates without it)"))),
            Imp::And | Imp::Or => unreachable!("handled above"),
        };
        match r {
            Ok(v) => Ok(Ev::new(v)),
            Err(e) => Err(self.error_in(frame, cpos, &ctx, e, name)),
        }
    }

    /// Go's evalArg: evaluates an argument for a parameter of type `ty` (None: any type,
    /// unconverted).
    fn eval_arg(&mut self, frame: &mut Frame, dot: &Ev, ty: Option<P>, a: &Operand) -> R<Ev> {
        let ctx = a.to_string();
        let pos = a.pos();
        let v = match a {
            Operand::Dot(_) => dot.clone(),
            Operand::Nil(_) => {
                return match ty {
                    None | Some(P::Any | P::Rv | P::Map | P::Values) => Ok(Ev::new(Val::Nil)),
                    Some(t) => Err(self.error(frame, pos, &ctx, format!("cannot assign nil to {}", t.go_name()))),
                };
            }
            Operand::Field { idents, .. } => {
                self.eval_field_chain(frame, dot, dot.clone(), pos, &ctx, idents, None, Final::Missing)?
            }
            Operand::Variable { name, fields, .. } => {
                let v = self.var_value(frame, pos, name)?;
                if fields.is_empty() {
                    v
                } else {
                    self.eval_field_chain(frame, dot, v, pos, &ctx, fields, None, Final::Missing)?
                }
            }
            Operand::Pipe(p) => self.eval_pipeline(frame, dot, p)?,
            Operand::Ident(_, name) => {
                let cmd = Cmd { pos, args: vec![Operand::Ident(pos, name.clone())] };
                self.eval_function(frame, dot, pos, name, &cmd, Final::Missing)?
            }
            Operand::Chain { node, fields, .. } => {
                if matches!(**node, Operand::Nil(_)) {
                    return Err(self.error(frame, pos, &ctx, format!("indirection through explicit nil in {a}")));
                }
                let recv = self.eval_arg(frame, dot, None, node)?;
                self.eval_field_chain(frame, dot, recv, pos, &ctx, fields, None, Final::Missing)?
            }
            Operand::Bool(_, b) => {
                return match ty {
                    None | Some(P::Any | P::Rv | P::Bool) => Ok(Ev::new(Val::Bool(*b))),
                    Some(t) => Err(self.literal_mismatch(frame, pos, &ctx, t)),
                };
            }
            Operand::Str { text, .. } => {
                return match ty {
                    None | Some(P::Any | P::Rv | P::Str) => Ok(Ev::new(Val::str(text.as_str()))),
                    Some(t) => Err(self.literal_mismatch(frame, pos, &ctx, t)),
                };
            }
            Operand::Number(_, n) => {
                return match ty {
                    None | Some(P::Any | P::Rv) => self.ideal_constant(frame, pos, n).map(Ev::new),
                    Some(P::Int) if n.is_int => Ok(Ev::new(Val::int(n.int))),
                    Some(P::Int) => Err(self.error(frame, pos, &ctx, format!("expected integer; found {ctx}"))),
                    Some(P::F64) if n.is_float => Ok(Ev::new(Val::Float(n.float))),
                    Some(P::F64) => Err(self.error(frame, pos, &ctx, format!("expected float; found {ctx}"))),
                    Some(t) => Err(self.literal_mismatch(frame, pos, &ctx, t)),
                };
            }
        };
        match ty {
            None => Ok(v),
            Some(t) => self.validate(frame, pos, &ctx, v, t),
        }
    }

    fn literal_mismatch(&self, frame: &Frame, pos: usize, ctx: &str, t: P) -> TplError {
        let what = match t {
            P::Bool => "bool",
            P::Str => "string",
            P::Int => "integer",
            P::F64 => "float",
            _ => {
                return self.error(frame, pos, ctx, format!("can't handle {ctx} for arg of type {}", t.go_name()));
            }
        };
        self.error(frame, pos, ctx, format!("expected {what}; found {ctx}"))
    }

    /// Go's validateType: is the value assignable to the parameter?
    fn validate(&self, frame: &Frame, pos: usize, ctx: &str, v: Ev, t: P) -> R<Ev> {
        let ok = match (&v.v, t) {
            (_, P::Any | P::Rv) => true,
            (Val::Nil, P::Map | P::Values) if !v.iface => true,
            (Val::Nil, _) if !v.iface => {
                return Err(self.error(frame, pos, ctx, format!("invalid value; expected {}", t.go_name())));
            }
            (Val::Str(_), P::Str) => true,
            (Val::Int(_, IntTy::Int), P::Int) => true,
            (Val::Float(_), P::F64) => true,
            (Val::Bool(_), P::Bool) => true,
            (Val::Map(_, MapTy::Any | MapTy::Values), P::Map | P::Values) => true,
            _ => false,
        };
        if ok {
            return Ok(v);
        }
        let got = if v.v.is_nil() { "interface {}".to_string() } else { v.v.type_name() };
        Err(self.error(frame, pos, ctx, format!("wrong type for value; expected {}; got {got}", t.go_name())))
    }
}

/// Prints an action's value as text/template does (`<no value>` for nil; Helm removes those).
pub fn print_value(v: &Val, out: &mut String) {
    match v {
        Val::Nil => out.push_str("<no value>"),
        v => super::gofmt::write_v(v, out, 0),
    }
}

/// A map with string keys, for building the root context.
pub fn map_of(entries: Vec<(&str, Val)>, ty: MapTy) -> Val {
    Val::typed_map(entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<BTreeMap<_, _>>(), ty)
}
