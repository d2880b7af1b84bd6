//! Checks that span the options and the function: is this a function we can
//! cache, with these options? The result is a [`Plan`] that `expand.rs` turns
//! into code without further decisions.

use proc_macro2::Span;
use quote::{format_ident, ToTokens};
use syn::{
    FnArg, GenericArgument, GenericParam, Ident, Pat, PatIdent, PathArguments, ReturnType, Type,
};

use syn::LitStr;

use crate::attr::{
    any_ident, any_token, Errors, Local, Options, Seconds, StaleIfError, DEFAULT_EXPIRE_SECS,
};
use crate::function::Function;
use crate::template::{Kind, Template};

/// What to generate for one cached function.
pub(crate) struct Plan {
    /// The arguments, in signature order; the receiver first when there is one.
    pub(crate) args: Vec<Arg>,
    /// Which runtime entry point matches the return type.
    pub(crate) shape: Shape,
    /// Where "not Serialize/Deserialize" errors on the stored type point.
    pub(crate) value_span: Option<TypeSpan>,
    pub(crate) expire: Seconds,
    /// How callers share work, and what happens near and after expiry.
    pub(crate) policy: Policy,
    pub(crate) store: Option<syn::Expr>,
    /// Whether the store expression names an argument other than `self`:
    /// then no `function!` companion (which has no arguments) is generated.
    pub(crate) store_uses_args: bool,
    pub(crate) key: KeyKind,
    /// `tags = [...]`, each checked against the arguments.
    pub(crate) tags: Vec<Template>,
    pub(crate) prefix: Option<LitStr>,
    pub(crate) unless: Option<syn::Expr>,
    pub(crate) is_async: bool,
}

/// The options about sharing work and about expiry: what the runtime's
/// `Policy` for the function says besides its TTL.
pub(crate) struct Policy {
    pub(crate) coalesce: bool,
    pub(crate) lock: bool,
    pub(crate) early_refresh: Option<f64>,
    pub(crate) jitter: Option<f64>,
    /// The stale window, and the option that gave it (for messages).
    pub(crate) stale: Option<(Seconds, &'static str)>,
    /// Stale values when the function fails (`stale_if_error`).
    pub(crate) stale_on_error: bool,
    pub(crate) soft_timeout: Option<Seconds>,
    /// Where the option that needs work in a task of its own is written
    /// (`early_refresh`, `soft_timeout`), when the arguments can move there.
    pub(crate) behind: Option<Span>,
    /// The in-process tier; `None`: as the cache says.
    pub(crate) local: Option<Local>,
}

/// How the key is made.
pub(crate) enum KeyKind {
    /// `<prefix>:<identity>[:v<version>]:<md5 of identity, type, args>`.
    Hashed { version: Option<u32> },
    /// `<prefix>:<rendered template>`.
    Template(Template),
}

pub(crate) struct Arg {
    /// The name the generated code uses: the user's own, or `__cache_argN`
    /// when the parameter is a pattern such as `(a, b): (u8, u8)`.
    pub(crate) binding: Ident,
    /// The user's pattern when it had to be renamed, re-bound in the body.
    pub(crate) pattern: Option<Pat>,
    /// Where a "not Serialize" error points: the argument's type, or `self`.
    pub(crate) span: TypeSpan,
    pub(crate) in_key: bool,
    pub(crate) kind: ArgKind,
}

/// What an argument is, for the note of a "not `Serialize`" error.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArgKind {
    /// `self`, `&self`, ...
    Receiver,
    /// `db: &Pool`: most often a handle the call uses, to skip.
    Borrowed,
    /// Any other: a value the call computes from.
    Owned,
}

/// The first and last token of a type. Stable proc macros cannot join spans;
/// generated tokens spanned from first to last make rustc underline it all.
#[derive(Clone, Copy)]
pub(crate) struct TypeSpan {
    pub(crate) first: Span,
    pub(crate) last: Span,
}

impl TypeSpan {
    fn of(ty: &Type) -> Self {
        let mut tokens = ty.to_token_stream().into_iter();
        let first = tokens
            .next()
            .map_or_else(Span::call_site, |token| token.span());
        let last = tokens.last().map_or(first, |token| token.span());
        TypeSpan { first, last }
    }
}

/// How the return value maps to what is stored.
#[derive(Clone, Copy)]
pub(crate) enum Shape {
    /// Any `T`: stored as is.
    Plain,
    /// `Option<T>`: `Some` stored, `None` not.
    Some,
    /// `Result<T, E>`: `Ok` stored, `Err` not; `E` needs no serde.
    Ok,
    /// `Result<Option<T>, E>`: `Ok(Some)` stored.
    OkSome,
}

pub(crate) fn plan(mut options: Options, item: &Function) -> syn::Result<Plan> {
    let mut errors = std::mem::take(&mut options.errors);
    errors.push(check_signature(item));
    let args = match collect_args(item, options.skip.as_deref().unwrap_or_default()) {
        Ok(args) => args,
        Err(error) => {
            errors.push(Err(error));
            Vec::new()
        }
    };
    let key = match key_kind(&options, &args) {
        Ok(key) => key,
        Err(error) => {
            errors.push(Err(error));
            KeyKind::Hashed { version: None }
        }
    };
    let tags = match tag_templates(&options, &args) {
        Ok(tags) => tags,
        Err(error) => {
            errors.push(Err(error));
            Vec::new()
        }
    };
    if let ReturnType::Type(_, ty) = &item.sig.output {
        errors.push(check_owned(ty));
    }
    let cache_none = options.cache_none.as_ref().is_some_and(|lit| lit.value);
    let (shape, value_ty) = shape_of(&item.sig.output, cache_none);
    let value_span = value_ty.as_ref().map(TypeSpan::of);
    if let Some(lit) = options.cache_none.as_ref().filter(|lit| lit.value) {
        if !returns_option(&item.sig.output) {
            errors.push(Err(syn::Error::new(
                lit.span(),
                "`cache_none` applies only to functions that return `Option<T>` or \
                 `Result<Option<T>, E>`; remove it",
            )));
        }
    }
    let stale_on_error = on_error_flag(&options);
    let on_error = options.stale_if_error.as_ref().filter(|_| stale_on_error);
    if let Some(stale) = on_error {
        if !matches!(shape, Shape::Ok | Shape::OkSome) {
            errors.push(Err(syn::Error::new(
                stale.span(),
                "`stale_if_error` applies only to functions that return `Result<T, E>`: it \
                 serves the last value when the function returns `Err`; remove it",
            )));
        }
    }
    let stale = stale_window(&mut options, stale_on_error, &mut errors);
    let movable = movable(&item.sig, item.sig.asyncness.is_some());
    if let (Some(soft), false) = (&options.soft_timeout, movable) {
        errors.push(Err(syn::Error::new(
            soft.span(),
            "`soft_timeout` lets a slow call finish in a task of its own: it needs an `async fn` \
             whose arguments are owned (`Clone + Send + 'static`: no `&self`, reference, \
             lifetime or `impl Trait`) and no type parameters",
        )));
    }
    errors.finish()?;
    let others: Vec<&Arg> = args.iter().filter(|arg| arg.binding != "self").collect();
    let store_uses_args = options.store.as_ref().is_some_and(|store| {
        any_ident(store.to_token_stream(), &|ident| {
            others.iter().any(|arg| arg.binding == *ident)
        })
    });
    Ok(Plan {
        shape,
        value_span,
        expire: options
            .expire
            .unwrap_or(Seconds::Literal(DEFAULT_EXPIRE_SECS, Span::call_site())),
        policy: Policy {
            coalesce: options.coalesce.is_none_or(|lit| lit.value),
            lock: options.lock.is_some_and(|lit| lit.value),
            early_refresh: options
                .early_refresh
                .as_ref()
                .map(|beta| beta.beta)
                .filter(|beta| *beta > 0.0),
            jitter: options.jitter.map(|(fraction, _)| fraction),
            stale_on_error,
            stale,
            behind: movable
                .then(|| {
                    let early = options
                        .early_refresh
                        .as_ref()
                        .filter(|beta| beta.beta > 0.0);
                    let early = early.map(|beta| beta.span);
                    early.or(options.soft_timeout.as_ref().map(Seconds::span))
                })
                .flatten(),
            soft_timeout: options.soft_timeout,
            local: options.local,
        },
        store: options.store,
        store_uses_args,
        key,
        tags,
        prefix: options.prefix,
        unless: options.unless,
        is_async: item.sig.asyncness.is_some(),
        args,
    })
}

/// A hashed key, or the template checked against the arguments; `key` with
/// `skip` or `version` is refused (the template alone says what the key is).
fn key_kind(options: &Options, args: &[Arg]) -> syn::Result<KeyKind> {
    let Some(lit) = &options.key else {
        let version = options.version.as_ref().map(|(version, _)| *version);
        return Ok(KeyKind::Hashed { version });
    };
    let mut errors = Errors::default();
    if let Some(skip) = options.skip.as_ref().and_then(|skip| skip.first()) {
        errors.push(Err(syn::Error::new(
            skip.span(),
            "`skip` conflicts with `key`: with a key template, only the arguments the \
             template names are in the key; remove `skip(...)`",
        )));
    }
    if let Some((_, lit)) = &options.version {
        errors.push(Err(syn::Error::new(
            lit.span(),
            "`version` conflicts with `key`: put the version in the template instead, \
             e.g. `key = \"user:v2:{id}\"`",
        )));
    }
    let template = Template::parse(lit, Kind::Key)?;
    let empty_prefix = options
        .prefix
        .as_ref()
        .filter(|prefix| prefix.value().is_empty());
    if let (Some(prefix), true) = (empty_prefix, template.literal_parts[0].is_empty()) {
        errors.push(Err(syn::Error::new(
            prefix.span(),
            "`prefix = \"\"` with a key template that starts with a hole: nothing would set \
             this function's keys apart from any other key in the database, and `function!(..)\
             .clear()` would delete them all; keep a prefix, or start the template with text, \
             e.g. `key = \"user:{id}\"`",
        )));
    }
    errors.push(check_holes(&template, lit, args, "key template"));
    errors.finish()?;
    Ok(KeyKind::Template(template))
}

/// `tags = [...]`: each a template whose holes name arguments (any, in the
/// key or not); a tag may have no hole (`"users"`).
fn tag_templates(options: &Options, args: &[Arg]) -> syn::Result<Vec<Template>> {
    let mut errors = Errors::default();
    let mut tags = Vec::new();
    for lit in options.tags.iter().flatten() {
        match Template::parse(lit, Kind::Tag) {
            Ok(tag) => {
                errors.push(check_holes(&tag, lit, args, "tag"));
                tags.push(tag);
            }
            Err(error) => errors.push(Err(error)),
        }
    }
    errors.finish()?;
    Ok(tags)
}

/// Every hole of `template` names an argument.
fn check_holes(template: &Template, lit: &LitStr, args: &[Arg], noun: &str) -> syn::Result<()> {
    let names: Vec<String> = args
        .iter()
        .filter(|arg| arg.pattern.is_none())
        .map(|arg| arg.binding.to_string())
        .collect();
    let mut errors = Errors::default();
    for hole in &template.holes {
        if !names.contains(&hole.root) {
            let known: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
            errors.push(Err(syn::Error::new(
                lit.span(),
                format!(
                    "unknown variable `{}` in the {noun}; the arguments are {}",
                    hole.root,
                    known.join(", ")
                ),
            )));
        }
    }
    errors.finish()
}

fn check_signature(item: &Function) -> syn::Result<()> {
    let sig = &item.sig;
    let mut errors = Errors::default();
    if let Some(constness) = &sig.constness {
        errors.push(Err(syn::Error::new(
            constness.span,
            "#[cache_result] cannot go on a `const fn`: caching reads Redis at run time; \
             remove `const`",
        )));
    }

    for param in &sig.generics.params {
        let what = match param {
            GenericParam::Lifetime(_) => continue,
            GenericParam::Type(_) => "type",
            GenericParam::Const(_) => "const",
        };
        errors.push(Err(syn::Error::new_spanned(
            param,
            format!(
                "#[cache_result] does not support generic {what} parameters: the key would not \
                 tell one instantiation from another; use a concrete type"
            ),
        )));
    }
    for input in &sig.inputs {
        if let FnArg::Typed(arg) = input {
            if let Some(impl_trait) = find_impl_trait(&arg.ty) {
                errors.push(Err(syn::Error::new_spanned(
                    impl_trait,
                    "#[cache_result] does not support `impl Trait` arguments: the key needs a \
                     concrete type; take one (e.g. `&str` instead of `impl AsRef<str>`)",
                )));
            }
        }
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(Err(syn::Error::new_spanned(
            variadic,
            "variadic functions cannot be cached",
        )));
    }
    errors.finish()
}

fn collect_args(item: &Function, skip: &[Ident]) -> syn::Result<Vec<Arg>> {
    let mut args = Vec::new();
    for (index, input) in item.sig.inputs.iter().enumerate() {
        let arg = match input {
            FnArg::Receiver(receiver) => Arg {
                binding: Ident::new("self", receiver.self_token.span),
                pattern: None,
                span: TypeSpan {
                    first: receiver.self_token.span,
                    last: receiver.self_token.span,
                },
                in_key: true,
                kind: ArgKind::Receiver,
            },
            FnArg::Typed(typed) => {
                let kind = match &*typed.ty {
                    Type::Reference(_) => ArgKind::Borrowed,
                    _ => ArgKind::Owned,
                };
                match &*typed.pat {
                    Pat::Ident(PatIdent {
                        ident,
                        subpat: None,
                        ..
                    }) => Arg {
                        binding: ident.clone(),
                        pattern: None,
                        span: TypeSpan::of(&typed.ty),
                        in_key: true,
                        kind,
                    },
                    pattern => Arg {
                        binding: format_ident!("__cache_arg{}", index, span = Span::mixed_site()),
                        pattern: Some(pattern.clone()),
                        span: TypeSpan::of(&typed.ty),
                        in_key: true,
                        kind,
                    },
                }
            }
        };
        args.push(arg);
    }
    let mut errors = Errors::default();
    for name in skip {
        match args
            .iter_mut()
            .find(|arg| arg.pattern.is_none() && arg.binding == *name)
        {
            Some(arg) => arg.in_key = false,
            None => errors.push(Err(syn::Error::new(
                name.span(),
                format!("`skip({name})`: this function has no argument named `{name}`"),
            ))),
        }
    }
    errors.finish()?;
    Ok(args)
}

/// A cached value is decoded from JSON into an owned value: nothing in the
/// return type may borrow.
fn check_owned(ty: &Type) -> syn::Result<()> {
    let message = "a cached function must return an owned type: its value is decoded from the \
                   cache, with nothing to borrow from; return e.g. `String` instead of `&str`";
    match ty {
        Type::Reference(reference) => Err(syn::Error::new(reference.and_token.span, message)),
        Type::Path(path) => {
            let mut errors = Errors::default();
            for segment in &path.path.segments {
                if let PathArguments::AngleBracketed(generics) = &segment.arguments {
                    for arg in &generics.args {
                        match arg {
                            GenericArgument::Type(inner) => errors.push(check_owned(inner)),
                            GenericArgument::Lifetime(lifetime) if lifetime.ident != "static" => {
                                errors.push(Err(syn::Error::new_spanned(lifetime, message)));
                            }
                            _ => {}
                        }
                    }
                }
            }
            errors.finish()
        }
        Type::Tuple(tuple) => {
            let mut errors = Errors::default();
            tuple
                .elems
                .iter()
                .for_each(|elem| errors.push(check_owned(elem)));
            errors.finish()
        }
        Type::Array(array) => check_owned(&array.elem),
        Type::Slice(slice) => check_owned(&slice.elem),
        Type::Paren(paren) => check_owned(&paren.elem),
        Type::Group(group) => check_owned(&group.elem),
        _ => Ok(()),
    }
}

fn find_impl_trait(ty: &Type) -> Option<&Type> {
    match ty {
        Type::ImplTrait(_) => Some(ty),
        Type::Reference(reference) => find_impl_trait(&reference.elem),
        Type::Paren(paren) => find_impl_trait(&paren.elem),
        Type::Group(group) => find_impl_trait(&group.elem),
        _ => None,
    }
}

// Input:  `-> Result<Option<User>, DbError>`, cache_none = false
// Output: (Shape::OkSome, Some(`User`))
//
// The return type is recognised by the last segment of its path, as written:
// `Result`/`io::Result`/`anyhow::Result` all count as `Result`. The runtime
// entry point then checks the real type, so an alias under another name is
// cached as a plain value (and its error type then needs serde).
pub(crate) fn shape_of(output: &ReturnType, cache_none: bool) -> (Shape, Option<Type>) {
    let ty = match output {
        ReturnType::Default => return (Shape::Plain, None),
        ReturnType::Type(_, ty) => &**ty,
    };
    match last_segment(ty) {
        Some(("Option", Some(inner))) if !cache_none => (Shape::Some, Some(inner.clone())),
        Some(("Result", ok)) => match ok.and_then(|ok| last_segment(ok).map(|seg| (ok, seg))) {
            Some((_, ("Option", Some(inner)))) if !cache_none => {
                (Shape::OkSome, Some(inner.clone()))
            }
            _ => (Shape::Ok, ok.cloned()),
        },
        _ => (Shape::Plain, Some(ty.clone())),
    }
}

fn returns_option(output: &ReturnType) -> bool {
    let ReturnType::Type(_, ty) = output else {
        return false;
    };
    match last_segment(ty) {
        Some(("Option", _)) => true,
        Some(("Result", Some(ok))) => matches!(last_segment(ok), Some(("Option", _))),
        _ => false,
    }
}

/// `a::b::Name<T, ..>` -> ("Name", Some(T)) for the names this module cares about.
fn last_segment(ty: &Type) -> Option<(&'static str, Option<&Type>)> {
    let Type::Path(path) = ty else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    let segment = path.path.segments.last()?;
    let name = match segment.ident.to_string().as_str() {
        "Option" => "Option",
        "Result" => "Result",
        _ => return None,
    };
    let first = match &segment.arguments {
        PathArguments::AngleBracketed(generics) => generics.args.iter().find_map(|arg| match arg {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        }),
        _ => None,
    };
    Some((name, first))
}

/// Whether `stale_if_error` asks for stale values on failure.
fn on_error_flag(options: &Options) -> bool {
    match &options.stale_if_error {
        Some(StaleIfError::Window(_)) => true,
        Some(StaleIfError::Flag(flag)) => flag.value,
        None => false,
    }
}

/// The stale window, from `stale_if_error = <window>` or `stale = <window>`
/// (taken out of `options`); each without its use, or both, is a mistake.
fn stale_window(
    options: &mut Options,
    on_error: bool,
    errors: &mut Errors,
) -> Option<(Seconds, &'static str)> {
    let stale = options.stale.take();
    let (window, flag) = match options.stale_if_error.take() {
        Some(StaleIfError::Window(window)) => (Some(window), None),
        Some(StaleIfError::Flag(flag)) => (None, Some(flag)),
        None => (None, None),
    };
    match (window, stale) {
        (Some(_), Some(stale)) => {
            errors.push(Err(syn::Error::new(
                stale.span(),
                "the stale window is given twice: keep `stale = ...` and write \
                 `stale_if_error = true`",
            )));
            None
        }
        (Some(window), None) => Some((window, "stale_if_error")),
        (None, Some(stale)) => {
            if !on_error && options.soft_timeout.is_none() {
                errors.push(Err(syn::Error::new(
                    stale.span(),
                    "`stale` keeps values past expiry for `stale_if_error = true` or \
                     `soft_timeout`; add one of them, or remove it",
                )));
            }
            Some((stale, "stale"))
        }
        (None, None) => {
            if let Some(flag) = flag.filter(|_| on_error) {
                errors.push(Err(syn::Error::new(
                    flag.span(),
                    "`stale_if_error = true` needs a stale window: add `stale = \"10m\"`, or \
                     write `stale_if_error = \"10m\"`",
                )));
            }
            if let Some(soft) = &options.soft_timeout {
                errors.push(Err(syn::Error::new(
                    soft.span(),
                    "`soft_timeout` returns a stale value when the function is slow: it needs a \
                     stale window, e.g. `stale = \"10m\"`",
                )));
            }
            None
        }
    }
}

/// Whether the arguments of a function can move into a task of its own:
/// an `async fn` with owned arguments (no receiver, no `&`, no lifetime,
/// no `impl Trait`, no pattern) and no type parameters, so that clones of
/// them can.
fn movable(sig: &syn::Signature, is_async: bool) -> bool {
    let owned = |ty: &syn::Type| {
        !any_token(ty.to_token_stream(), &|token| match token {
            proc_macro2::TokenTree::Punct(punct) => matches!(punct.as_char(), '&' | '\''),
            proc_macro2::TokenTree::Ident(ident) => ident == "impl",
            _ => false,
        })
    };
    is_async
        && sig.generics.type_params().next().is_none()
        && sig.inputs.iter().all(|input| match input {
            syn::FnArg::Receiver(_) => false,
            syn::FnArg::Typed(typed) => matches!(&*typed.pat, Pat::Ident(_)) && owned(&typed.ty),
        })
}
