//! Parsing of `#[cache_result(...)]` options.
//!
//! This module only reads tokens into [`Options`]; whether the options fit the
//! function they are put on is decided in `check.rs`.

use proc_macro2::Span;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ExprUnary, Ident, Lit, LitBool, LitFloat, LitInt, LitStr, Token, UnOp};

/// The seed decorator's default: `cache_result(expire: int = 300)`.
pub(crate) const DEFAULT_EXPIRE_SECS: u64 = 300;

/// Declares the options once: each line gives the field of [`Options`], the
/// type its value is read into, its parser, and the example hints show. The
/// list of names ("expected one of ..."), the dispatch on a name and the
/// examples all come from this table: a new option is a line here, and its
/// use in `check.rs` and `expand.rs`.
macro_rules! options {
    ($($(#[$doc:meta])* $name:ident: $ty:ty = $parse:expr, $example:literal;)*) => {
        /// The parsed attribute arguments.
        #[derive(Default)]
        pub(crate) struct Options {
            $($(#[$doc])* pub(crate) $name: Option<$ty>,)*
            /// Mistakes in option values, kept so that they are reported
            /// together with the mistakes `check` finds in the function.
            pub(crate) errors: Errors,
        }

        /// Every option the attribute accepts, in the order the docs list them.
        const OPTION_NAMES: &[&str] = &[$(stringify!($name)),*];

        impl Options {
            /// Reads the value of option `name` (the name itself already
            /// read); `None` when no option has that name.
            fn parse_option(
                &mut self,
                input: ParseStream<'_>,
                name: &Ident,
            ) -> Option<syn::Result<()>> {
                Some(match name.to_string().as_str() {
                    $(stringify!($name) => {
                        ($parse)(input, name).and_then(|value| set_once(&mut self.$name, value, name))
                    })*
                    _ => return None,
                })
            }
        }

        /// The example shown in hints about option `name`.
        fn example(name: &str) -> &'static str {
            match name {
                $(stringify!($name) => $example,)*
                _ => "",
            }
        }
    };
}

options! {
    expire: Seconds = value(parse_seconds), "e.g. `expire = 60`";
    /// The arguments left out of the key.
    skip: Vec<Ident> = parse_skip, "e.g. `skip(db)`";
    store: Expr = value(parse_expr), "e.g. `store = &SESSION_CACHE`";
    cache_none: LitBool = value(parse_bool), "e.g. `cache_none = true`";
    unless: Expr = value(parse_expr), "e.g. `unless = Vec::is_empty`";
    key: LitStr = value(parse_str), "e.g. `key = \"user:{id}\"`";
    prefix: LitStr = value(parse_str), "e.g. `prefix = \"users\"`";
    version: (u32, LitInt) = value(parse_version), "e.g. `version = 2`";
    coalesce: LitBool = value(parse_bool), "e.g. `coalesce = false`";
    lock: LitBool = value(parse_bool), "e.g. `lock = true`";
    early_refresh: Beta = value(parse_beta), "e.g. `early_refresh = true`";
    jitter: (f64, LitFloat) = value(parse_jitter), "e.g. `jitter = 0.1`";
    stale_if_error: StaleIfError = value(parse_stale_if_error),
        "e.g. `stale_if_error = \"10m\"`, or `stale_if_error = true` with `stale = \"10m\"`";
    stale: Seconds = value(parse_seconds), "e.g. `stale = \"10m\"`";
    soft_timeout: Seconds = value(parse_seconds), "e.g. `soft_timeout = \"150ms\"`";
    local: Local = value(parse_local),
        "e.g. `local = true`, or `local = 5` to keep copies at most 5 seconds";
    /// Tag templates, each rendered from the arguments.
    tags: Vec<LitStr> = value(parse_tags), "e.g. `tags = [\"user:{id}\", \"users\"]`";
}

/// `expire = ...`, `stale_if_error = ...`, `local = ...`: whole seconds as
/// a literal, checked here; a duration written with units (`"90s"`,
/// `"1h30m"`, `"250ms"`), read here; or a constant expression of seconds
/// checked by the compiler (`expire = 5 * 60`, `expire = USER_TTL`).
pub(crate) enum Seconds {
    Literal(u64, Span),
    Millis(u64, Span),
    Const(Expr),
}

impl Seconds {
    pub(crate) fn span(&self) -> Span {
        match self {
            Seconds::Literal(_, span) | Seconds::Millis(_, span) => *span,
            Seconds::Const(expr) => expr.span(),
        }
    }
}

/// `stale_if_error = <window>` (the stale window, and stale values on
/// failure), or `= true | false` (with the window `stale` gives).
pub(crate) enum StaleIfError {
    Window(Seconds),
    Flag(LitBool),
}

impl StaleIfError {
    pub(crate) fn span(&self) -> Span {
        match self {
            StaleIfError::Window(window) => window.span(),
            StaleIfError::Flag(flag) => flag.span(),
        }
    }
}

/// `local = true | false` (the in-process tier on or off), or `local =
/// <seconds>` (on, each copy kept in the process at most that long).
pub(crate) enum Local {
    Flag(LitBool),
    For(Seconds),
}

/// `early_refresh = true` (beta 1) or `early_refresh = <beta>`.
pub(crate) struct Beta {
    /// 0 for `false`.
    pub(crate) beta: f64,
    /// The literal's.
    pub(crate) span: Span,
}

impl Parse for Options {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut options = Options::default();
        let mut errors = Errors::default();
        while !input.is_empty() {
            let name = input.call(Ident::parse_any)?;
            let result = options.parse_option(input, &name).unwrap_or_else(|| {
                skip_unknown_value(input)?;
                Err(unknown_option(&name))
            });
            if result.is_err() {
                // What is left of a refused value (`early_refresh = BETA`
                // leaves `BETA`): skipped, so that the error is the one
                // above, with its hint, and not "expected `,`".
                skip_to_next_option(input)?;
            }
            errors.push(result);
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        options.errors = errors;
        Ok(options)
    }
}

/// The parser of an option written `name = <value>`: the `=`, then the value
/// read by `parse`.
fn value<T>(
    parse: fn(ParseStream<'_>, &Ident) -> syn::Result<T>,
) -> impl Fn(ParseStream<'_>, &Ident) -> syn::Result<T> {
    move |input, name| {
        if !input.peek(Token![=]) {
            return Err(syn::Error::new(
                name.span(),
                format!(
                    "expected `{name} = <value>`, {}",
                    example(&name.to_string())
                ),
            ));
        }
        input.parse::<Token![=]>()?;
        parse(input, name)
    }
}

fn parse_expr(input: ParseStream<'_>, _: &Ident) -> syn::Result<Expr> {
    input.parse()
}

fn parse_str(input: ParseStream<'_>, _: &Ident) -> syn::Result<LitStr> {
    input.parse()
}

/// `tags = ["user:{id}", "users"]`: one or more string literals.
fn parse_tags(input: ParseStream<'_>, name: &Ident) -> syn::Result<Vec<LitStr>> {
    let hint = || {
        syn::Error::new(
            name.span(),
            format!("expected a list of tags, {}", example("tags")),
        )
    };
    if !input.peek(syn::token::Bracket) {
        return Err(hint());
    }
    let content;
    syn::bracketed!(content in input);
    let tags: Vec<LitStr> = content
        .parse_terminated(|input| input.parse::<LitStr>(), Token![,])?
        .into_iter()
        .collect();
    if tags.is_empty() {
        return Err(hint());
    }
    Ok(tags)
}

fn parse_skip(input: ParseStream<'_>, name: &Ident) -> syn::Result<Vec<Ident>> {
    if !input.peek(syn::token::Paren) {
        return Err(syn::Error::new(
            name.span(),
            "expected `skip(<argument>, ...)`, e.g. `skip(db)`",
        ));
    }
    let content;
    syn::parenthesized!(content in input);
    let names = content.parse_terminated(Ident::parse_any, Token![,])?;
    let mut seen: Vec<Ident> = Vec::new();
    let mut errors = Errors::default();
    for ident in names {
        if seen.contains(&ident) {
            errors.push(Err(syn::Error::new(
                ident.span(),
                format!("`{ident}` is skipped twice"),
            )));
        } else {
            seen.push(ident);
        }
    }
    errors.finish()?;
    Ok(seen)
}

fn set_once<T>(slot: &mut Option<T>, value: T, name: &Ident) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            name.span(),
            format!("duplicate option `{name}`: give it once"),
        ));
    }
    *slot = Some(value);
    Ok(())
}

// Input:  `expire = 60` | `expire = 0` | `expire = -5` | `expire = 1.5` | `expire = "60"` | `expire = 5 * 60`
// Output: Literal(60) | error on the literal | ... | Const(`5 * 60`), checked by the compiler.
fn parse_stale_if_error(input: ParseStream<'_>, name: &Ident) -> syn::Result<StaleIfError> {
    if input.peek(LitBool) {
        return input.parse().map(StaleIfError::Flag);
    }
    parse_seconds(input, name).map(StaleIfError::Window)
}

fn parse_seconds(input: ParseStream<'_>, name: &Ident) -> syn::Result<Seconds> {
    let expr: Expr = input.parse()?;
    let hint = match name.to_string().as_str() {
        "local" => "expected `local = true`, `local = false`, or `local = <seconds>` \
                    (the longest a copy is kept), e.g. `local = 5`"
            .to_owned(),
        other => format!("expected `{name} = <seconds>`, {}", example(other)),
    };
    match &expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) => {
            let secs: u64 = lit.base10_parse().map_err(|_| {
                syn::Error::new(
                    lit.span(),
                    format!("`{lit}` is not a number of seconds; {hint}"),
                )
            })?;
            if secs == 0 {
                let why = match name.to_string().as_str() {
                    "expire" => "(Redis rejects a TTL of 0)",
                    "local" => "(write `local = false` for none)",
                    _ => "(leave the option out for none)",
                };
                return Err(syn::Error::new(
                    lit.span(),
                    format!("`{name}` must be at least 1 second {why}; {hint}"),
                ));
            }
            Ok(Seconds::Literal(secs, lit.span()))
        }
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_), ..
        }) => Err(syn::Error::new_spanned(
            &expr,
            format!("`{name}` cannot be negative; {hint}"),
        )),
        Expr::Lit(ExprLit {
            lit: Lit::Float(lit),
            ..
        }) => Err(syn::Error::new(
            lit.span(),
            format!("`{name}` takes whole seconds, not `{lit}`; {hint}"),
        )),
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => match parse_duration(&lit.value()) {
            Ok(0) => Err(syn::Error::new(
                lit.span(),
                format!("`{name}` must be at least 1 millisecond; {hint}"),
            )),
            Ok(millis) => Ok(Seconds::Millis(millis, lit.span())),
            Err(_) if lit.value().bytes().all(|b| b.is_ascii_digit()) => Err(syn::Error::new(
                lit.span(),
                format!(
                    "`\"{0}\"` has no unit: write `{name} = {0}` for seconds, or give a unit, \
                     e.g. `{name} = \"{0}s\"` (`ms`, `s`, `m`, `h`, `d`)",
                    lit.value()
                ),
            )),
            Err(why) => Err(syn::Error::new(
                lit.span(),
                format!(
                    "`{}` is not a duration: {why}; write whole seconds (`{name} = 90`) or \
                     a number with a unit: `ms`, `s`, `m`, `h`, `d` (`{name} = \"90s\"`, \
                     `\"1h30m\"`, `\"250ms\"`)",
                    lit.value()
                ),
            )),
        },
        Expr::Lit(other) => Err(syn::Error::new(other.span(), hint)),
        // `Duration::from_secs(60)`, `std::time::Duration::from_mins(5)`;
        // `TTL.as_secs()` is a constant of seconds.
        _ if any_ident(expr.to_token_stream(), &|ident| ident == "Duration") => {
            let secs = from_secs_literal(&expr).unwrap_or_else(|| "60".to_owned());
            Err(syn::Error::new_spanned(
                &expr,
                format!(
                    "`{name}` takes a number of seconds, not a `Duration`: write \
                     `{name} = {secs}` (a `u64` constant works too)"
                ),
            ))
        }
        _ => Ok(Seconds::Const(expr)),
    }
}

// Input:  "90s" | "1h30m" | "250ms" | "2d" | "90" | "1.5h" | "5 s" | "3x"
// Output: 90_000 | 5_400_000 | 250 | 172_800_000 | Err(no unit) | Err(..)
fn parse_duration(text: &str) -> Result<u64, String> {
    let mut total: u64 = 0;
    let mut rest = text;
    if rest.is_empty() {
        return Err("it is empty".to_owned());
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(format!("expected a number at `{rest}`"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| "the number is too large".to_owned())?;
        rest = &rest[digits..];
        let unit_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let millis_per = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" if rest.starts_with('.') => return Err("fractions are not taken".to_owned()),
            "" => return Err(format!("`{number}` has no unit")),
            other => return Err(format!("`{other}` is not a unit")),
        };
        rest = &rest[unit_len..];
        total = number
            .checked_mul(millis_per)
            .and_then(|millis| total.checked_add(millis))
            .ok_or_else(|| "it is too long".to_owned())?;
    }
    Ok(total)
}

/// True when an identifier anywhere in `tokens`, groups included, is one
/// `found` accepts: whether an expression names `Duration`, a store names
/// an argument, a type names a would-be type parameter.
pub(crate) fn any_ident(tokens: proc_macro2::TokenStream, found: &impl Fn(&Ident) -> bool) -> bool {
    any_token(tokens, &|token| match token {
        proc_macro2::TokenTree::Ident(ident) => found(ident),
        _ => false,
    })
}

/// Whether any token of `tokens`, inside groups too, is one `found` looks for.
pub(crate) fn any_token(
    tokens: proc_macro2::TokenStream,
    found: &impl Fn(&proc_macro2::TokenTree) -> bool,
) -> bool {
    tokens.into_iter().any(|token| match &token {
        proc_macro2::TokenTree::Group(group) => any_token(group.stream(), found),
        token => found(token),
    })
}

// Input:  `Duration::from_secs(90)` | `Duration::from_millis(500)`
// Output: Some("90") | None
fn from_secs_literal(expr: &Expr) -> Option<String> {
    let Expr::Call(call) = expr else { return None };
    let Expr::Path(path) = &*call.func else {
        return None;
    };
    let last = path.path.segments.last()?;
    match (last.ident == "from_secs", call.args.first()) {
        (
            true,
            Some(Expr::Lit(ExprLit {
                lit: Lit::Int(lit), ..
            })),
        ) => Some(lit.to_string()),
        _ => None,
    }
}

// Input:  `local = true` | `local = false` | `local = 5` | `local = TTL` | `local = "x"`
// Output: Flag(true) | Flag(false) | For(5) | For(`TTL`) | error, as for `expire`
fn parse_local(input: ParseStream<'_>, name: &Ident) -> syn::Result<Local> {
    if input.peek(LitBool) {
        return input.parse().map(Local::Flag);
    }
    parse_seconds(input, name).map(Local::For)
}

// Input:  `early_refresh = true` | `= false` | `= 2.0` | `= 2` | `= 0.0` | `= "x"`
// Output: Some(beta 1) | None | Some(beta 2) | Some(beta 2) | error | error
fn parse_beta(input: ParseStream<'_>, _: &Ident) -> syn::Result<Beta> {
    let hint = "expected `early_refresh = true`, or a positive factor for how early \
                (XFetch's beta, default 1.0), e.g. `early_refresh = 2.0`";
    let lit: Lit = input
        .parse()
        .map_err(|error| syn::Error::new(error.span(), hint))?;
    let beta = match &lit {
        Lit::Bool(lit) if lit.value => 1.0,
        Lit::Bool(_) => 0.0,
        Lit::Float(float) => float.base10_parse().unwrap_or(-1.0),
        Lit::Int(int) => int.base10_parse::<u32>().map_or(-1.0, f64::from),
        _ => return Err(syn::Error::new(lit.span(), hint)),
    };
    if !(beta >= 0.0 && beta.is_finite()) || (beta == 0.0 && !matches!(lit, Lit::Bool(_))) {
        return Err(syn::Error::new(lit.span(), hint));
    }
    Ok(Beta {
        beta,
        span: lit.span(),
    })
}

fn parse_jitter(input: ParseStream<'_>, _: &Ident) -> syn::Result<(f64, LitFloat)> {
    let hint = "expected `jitter = <fraction>` between 0 and 1, e.g. `jitter = 0.1` \
                (each TTL is shortened by up to 10%, at random)";
    let lit: LitFloat = input
        .parse()
        .map_err(|error| syn::Error::new(error.span(), hint))?;
    match lit.base10_parse::<f64>() {
        Ok(fraction) if fraction > 0.0 && fraction < 1.0 => Ok((fraction, lit)),
        _ => Err(syn::Error::new(lit.span(), hint)),
    }
}

fn parse_bool(input: ParseStream<'_>, name: &Ident) -> syn::Result<LitBool> {
    input.parse().map_err(|error| {
        syn::Error::new(
            error.span(),
            format!("expected `{name} = true` or `{name} = false`"),
        )
    })
}

fn parse_version(input: ParseStream<'_>, _: &Ident) -> syn::Result<(u32, LitInt)> {
    let lit: LitInt = input.parse().map_err(|error| {
        syn::Error::new(
            error.span(),
            "expected `version = <number>`, e.g. `version = 2`",
        )
    })?;
    let version = lit.base10_parse().map_err(|_| {
        syn::Error::new(
            lit.span(),
            "`version` takes a whole number from 0 to 4294967295",
        )
    })?;
    Ok((version, lit))
}

/// After an unknown name, consume `= value` or `(...)` so that the options
/// after it are still read and their own mistakes reported too.
fn skip_unknown_value(input: ParseStream<'_>) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        input.parse::<Expr>()?;
    } else if input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in input);
    }
    Ok(())
}

/// Skips token trees up to the next `,` (or the end).
fn skip_to_next_option(input: ParseStream<'_>) -> syn::Result<()> {
    input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tree, next)) = rest.token_tree() {
            match tree {
                proc_macro2::TokenTree::Punct(punct) if punct.as_char() == ',' => break,
                _ => rest = next,
            }
        }
        Ok(((), rest))
    })
}

fn unknown_option(name: &Ident) -> syn::Error {
    let given = name.to_string();
    let expected = OPTION_NAMES
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut message = format!("unknown option `{given}`; expected one of {expected}");
    if let Some(close) = OPTION_NAMES.iter().find(|n| edit_distance(n, &given) <= 2) {
        message.push_str(&format!(" (did you mean `{close}`?)"));
    }
    syn::Error::new(name.span(), message)
}

/// Levenshtein distance, for "did you mean" hints on short option names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Collects independent mistakes so that one compile reports them all.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, result: syn::Result<()>) {
        if let Err(error) = result {
            match &mut self.0 {
                Some(first) => first.combine(error),
                None => self.0 = Some(error),
            }
        }
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::{edit_distance, parse_duration};

    #[test]
    fn durations_read_with_their_units() {
        assert_eq!(parse_duration("90s"), Ok(90_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert_eq!(parse_duration("2d"), Ok(172_800_000));
        assert_eq!(parse_duration("1m1s1ms"), Ok(61_001));
        for bad in ["", "90", "1.5h", "5 s", "3x", "h", "99999999999999999999s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("expire", "expire"), 0);
        assert_eq!(edit_distance("expire", "expir"), 1);
        assert_eq!(edit_distance("expire", "exipre"), 2);
        assert_eq!(edit_distance("skip", "store"), 4);
    }
}
