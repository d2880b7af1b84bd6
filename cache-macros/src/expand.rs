//! Code generation: turns a checked [`Plan`] and the user's function into the
//! cached function and its two companions. Everything it emits calls
//! `::cache_runtime::__private`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, Pat, PatIdent, ReturnType, Signature};

use crate::attr::{any_ident, Local, Seconds};
use crate::check::{self, Arg, ArgKind, KeyKind, Plan, Shape, TypeSpan};
use crate::companion::{ENTRY_PREFIX, FUNCTION_PREFIX, KEYS_PREFIX};
use crate::function::Function;

/// The cached function and its companions. What this writes for
/// representative functions is pinned in `tests/expand/*.expanded.rs`.
pub(crate) fn cached_fn(plan: Plan, mut item: Function) -> TokenStream {
    rename_patterns(&mut item, &plan);
    let gen = Generator::new(&plan, &item.sig);
    let entry = gen.entry_companion(&item);
    let function = gen.function_companion(&item);
    let keys = gen.keys_companion(&item);
    let cached = gen.cached(item);
    quote!(#cached #entry #function #keys)
}

/// After a mistake (reported beside it): the function as written, and
/// companions of the same signatures whose bodies never run, so that the
/// `entry!`/`function!` calls elsewhere in the crate still compile and the
/// mistake is reported once, where it is.
pub(crate) fn unchecked(function: Function, cache_none: bool) -> TokenStream {
    let ret = return_type(&function.sig);
    let shape = shape_path(check::shape_of(&function.sig.output, cache_none).0);
    let entry = companion_sig(&function.sig, ENTRY_PREFIX, true);
    let all = function_sig(&function.sig);
    let vis = &function.vis;
    quote! {
        #function
        #[doc(hidden)]
        #[allow(unused_variables, clippy::too_many_arguments, clippy::needless_pass_by_value)]
        #vis #entry -> #PRIVATE::Entry<#ret, #shape> {
            ::core::unreachable!()
        }
        #[doc(hidden)]
        #vis #all -> #PRIVATE::CachedFunction {
            ::core::unreachable!()
        }
    }
}

/// The pieces the cached function and its companions share, so that all
/// three derive one key from one set of tokens.
struct Generator<'a> {
    plan: &'a Plan,
    ret: TokenStream,
    shape: TokenStream,
    store_var: Ident,
    key_var: Ident,
}

impl<'a> Generator<'a> {
    fn new(plan: &'a Plan, sig: &Signature) -> Self {
        Generator {
            plan,
            ret: return_type(sig),
            shape: shape_path(plan.shape),
            store_var: generated("__cache_store"),
            key_var: generated("__cache_key"),
        }
    }

    fn cached(&self, item: Function) -> TokenStream {
        let Function {
            attrs,
            vis,
            sig,
            body: block,
        } = item;
        let Generator {
            ret,
            store_var,
            key_var,
            ..
        } = self;
        let rebinds = self.plan.args.iter().filter_map(|arg| {
            let pattern = arg.pattern.as_ref()?;
            let binding = &arg.binding;
            Some(quote!(let #pattern = #binding;))
        });
        let ret_var = generated("__cache_ret");
        let body = quote! {
            #(#rebinds)*
            let #ret_var: #ret = #block;
            #[allow(unreachable_code)]
            #ret_var
        };
        // An early refresh runs in a task of its own when the arguments can
        // move there: the body is then made on demand, from clones of them.
        let behind = self.plan.policy.behind.is_some();
        let make = generated("__cache_make");
        let make_body = behind.then(|| {
            let clones = sig.inputs.iter().filter_map(|input| {
                let FnArg::Typed(typed) = input else {
                    return None;
                };
                let Pat::Ident(PatIdent {
                    ident, mutability, ..
                }) = &*typed.pat
                else {
                    return None;
                };
                let span = typed.ty.span();
                let private = Private::at(span);
                Some(quote_spanned! {span=>
                    let #mutability #ident = #private::refresh_arg(&#ident);
                })
            });
            let body = body.clone();
            quote! {
                let #make = || {
                    #(#clones)*
                    async move { #body }
                };
            }
        });
        // The clones are what the body mutates; a `mut` on the parameter
        // itself would only warn.
        let mut sig = sig;
        if behind {
            for input in &mut sig.inputs {
                if let FnArg::Typed(typed) = input {
                    if let Pat::Ident(ident) = &mut *typed.pat {
                        ident.mutability = None;
                    }
                }
            }
        }
        // Pinned where it is made, in the caller's own future, and handed
        // over as a `Body` made there too: the call's box holds a reference
        // to it, and stays the same size (within the allocator's fast path)
        // whatever the function awaits; the call's path sees the body by its
        // return type alone, so it is compiled once per return type.
        let body = if self.plan.is_async {
            quote!(&mut #PRIVATE::Body::new(::core::pin::pin!(async move { #body })))
        } else {
            quote!(move || { #body })
        };
        let unless = match &self.plan.unless {
            Some(unless) => {
                // The projection's tokens take the condition's span, so that a
                // mismatch is reported once, at the condition.
                let span = unless.span();
                let ret = respan(self.ret.clone(), span);
                let shape = respan(self.shape.clone(), span);
                let private = Private::at(span);
                quote_spanned! {span=>
                    #private::unless::<
                        <#shape as #private::Shape<#ret>>::Stored, _,
                    >(#unless)
                }
            }
            None => quote!(#PRIVATE::never),
        };
        let state = generated("__cache_state");
        let identity_var = generated("__cache_identity");
        let sharer = self.sharer();
        let call = match behind {
            true => {
                self.refreshing_call(quote!(#state, #store_var, #key_var, #unless, #sharer, &#make))
            }
            false => self.entry_call(quote!(#state, #store_var, #key_var, #unless, #sharer, #body)),
        };
        let policy = self.policy(true);
        let marker = marker();
        let prologue = self.prologue(quote!(#identity_var), Some(&state));
        // First, while only the arguments are alive: a loop of in-process
        // hits never waits on anything, so it yields here when its budget is
        // spent.
        let cooperate = self
            .plan
            .is_async
            .then(|| quote!(#PRIVATE::cooperate().await;));
        quote! {
            #(#attrs)*
            #vis #sig {
                #cooperate
                // The `static` is one for every instantiation of a generic
                // function; `instance` gives each its own site and identity.
                let (#state, #identity_var): (
                    &'static #PRIVATE::Site,
                    &'static ::core::primitive::str,
                ) = {
                    static __CACHE_SITE: #PRIVATE::Site =
                        #PRIVATE::Site::new(#policy);
                    __CACHE_SITE.instance(#marker)
                };
                // Method resolution picks one of them (see `sharer`).
                #[allow(unused_imports)]
                use #PRIVATE::{ShareClone as _, ShareJson as _};
                #prologue
                #make_body
                #call
            }
        }
    }

    /// `__private::refreshing::<Shape, ..>(args).await`, its errors (a
    /// future or a value that is not `Send`, an argument that is not
    /// `Clone`) reported at `early_refresh`.
    fn refreshing_call(&self, args: TokenStream) -> TokenStream {
        let span = self.plan.policy.behind.unwrap_or_else(Span::call_site);
        let private = Private::at(span);
        let shape = respan(self.shape.clone(), span);
        quote_spanned! {span=>
            #private::refreshing::<#shape, _, _, _, _>(#args).await
        }
    }

    /// `let __cache_store = ...; let __cache_key = ...;`, the function's
    /// identity given as an expression of type `&str`. With the function's
    /// `Site` (`state`), the call's keys: the hashing of identity and stored
    /// type is done once and resumed on each call, and with an in-process
    /// tier the arguments' JSON is its key. The companions, which have no
    /// site, hash it all each time: the same bytes, the same Redis key,
    /// through the same `.arg` calls (so a bad argument is reported once).
    fn prologue(&self, identity: TokenStream, state: Option<&Ident>) -> TokenStream {
        let Generator {
            store_var, key_var, ..
        } = self;
        let store = match &self.plan.store {
            Some(expr) => quote_spanned!(expr.span()=> #expr),
            None => quote!(#PRIVATE::global()),
        };
        let prefix = self.prefix();
        let key = match &self.plan.key {
            KeyKind::Hashed { version } => {
                let version = option(version.map(|version| quote!(#version)));
                let Generator { ret, shape, .. } = self;
                let keys = generated("__cache_keys");
                let args = self.key_args(&keys);
                let stored = quote! {
                    ::core::any::type_name::<
                        <#shape as #PRIVATE::Shape<#ret>>::Stored,
                    >()
                };
                match state {
                    // The call's keys: hashed for Redis, or kept for the
                    // in-process tier (`cache_runtime::call::keys`).
                    Some(state) => quote! {{
                        #[allow(unused_imports)]
                        use #PRIVATE::{PushJson as _, PushUnchecked as _};
                        let mut #keys = #PRIVATE::KeysBuilder::new(
                            #state, #store_var, #identity, #stored, #prefix, #version,
                        );
                        #(#args)*
                        #keys.finish()
                    }},
                    None => quote! {{
                        #[allow(unused_imports)]
                        use #PRIVATE::{PushJson as _, PushUnchecked as _};
                        let mut #keys = #PRIVATE::KeysBuilder::hashed(
                            #store_var, #identity, #stored, #prefix, #version,
                        );
                        #(#args)*
                        #keys.key()
                    }},
                }
            }
            KeyKind::Template(template) => {
                let format = &template.format;
                let exprs = template.exprs();
                let rendered = quote!(::core::format_args!(#format, #(#exprs),*));
                match state {
                    Some(state) => quote! {
                        #PRIVATE::CallKeys::template(#state, #store_var, #prefix,
                            #rendered)
                    },
                    None => quote! {
                        #PRIVATE::rendered_key(#store_var, #prefix, #rendered)
                    },
                }
            }
        };
        // The call's tags go with its keys; the entry's, on the entry.
        let tagged = match (state, self.tags()) {
            (Some(_), Some(tags)) => quote! {
                let #key_var = #PRIVATE::tagged(#key_var, #store_var, &[#tags]);
            },
            _ => TokenStream::new(),
        };
        quote! {
            let #store_var: &::cache_runtime::Cache = #store;
            let #key_var = #key;
            #tagged
        }
    }

    /// `format_args!(..)` of each tag, comma-separated; `None` without tags.
    fn tags(&self) -> Option<TokenStream> {
        if self.plan.tags.is_empty() {
            return None;
        }
        let tags = self.plan.tags.iter().map(|tag| {
            let format = &tag.format;
            let exprs = tag.exprs();
            quote!(::core::format_args!(#format, #(#exprs),*))
        });
        Some(quote!(#(#tags),*))
    }

    /// `(&KeyProbe(&name)).push_to(&mut builder);` for each argument in
    /// the key: no bound here, the `keys_of` companion checks them.
    fn key_args<'k>(&'k self, builder: &'k Ident) -> impl Iterator<Item = TokenStream> + 'k {
        self.plan
            .args
            .iter()
            .filter(|arg| arg.in_key)
            .map(move |arg| {
                let binding = &arg.binding;
                quote!((&#PRIVATE::KeyProbe(&#binding)).push_to(&mut #builder);)
            })
    }

    /// `__cache_result_keys_of_<name>`, never called: where the compiler
    /// checks that each argument in the key is `Serialize`, once for the
    /// function and its `entry!` companion. Each argument's type parameter
    /// is named after it, so that the error's note says `skip(db)`; each
    /// check is spanned over the argument's type (`&` at its first token,
    /// the parameter at its last: rustc spans the expression over both), so
    /// that the error underlines it; a reference argument's note leads with
    /// `skip`. The parameters are taken by value, as the function does: the
    /// companion only has to type-check.
    fn keys_companion(&self, item: &Function) -> TokenStream {
        if !matches!(self.plan.key, KeyKind::Hashed { .. }) {
            return TokenStream::new();
        }
        let mut sig = companion_sig(&item.sig, KEYS_PREFIX, true);
        let keys = generated("__cache_keys");
        let in_key: Vec<(&Arg, &FnArg)> = self
            .plan
            .args
            .iter()
            .zip(&item.sig.inputs)
            .filter(|(arg, _)| arg.in_key)
            .collect();
        let types: Vec<TokenStream> = in_key
            .iter()
            .map(|(_, input)| match input {
                FnArg::Receiver(receiver) => receiver.ty.to_token_stream(),
                FnArg::Typed(typed) => typed.ty.to_token_stream(),
            })
            .collect();
        let mut params = Vec::new();
        let mut checks = Vec::new();
        for ((arg, _), ty) in in_key.iter().zip(&types) {
            let TypeSpan { first, last } = arg.span;
            let mut binding = arg.binding.clone();
            binding.set_span(arg.binding.span().located_at(last));
            let param = match arg.kind {
                ArgKind::Receiver => Ident::new("__cache_receiver", last),
                _ => binding.clone(),
            };
            params.push(quote!(#param: #ty));
            let named = arg.pattern.is_none()
                && arg.kind != ArgKind::Receiver
                && nameable(&arg.binding, &types);
            let call = match arg.kind {
                ArgKind::Receiver => quote_spanned!(first=> .receiver(&#param)),
                _ if !named => quote_spanned!(first=> .value(&#param)),
                kind => {
                    let marker = marker_type(&arg.binding);
                    sig.generics.params.push(syn::parse_quote!(#marker));
                    let method = match kind {
                        ArgKind::Borrowed => Ident::new("borrowed", first),
                        _ => Ident::new("arg", first),
                    };
                    quote_spanned!(first=> .#method::<#marker, _>(&#param))
                }
            };
            checks.push(quote!(#keys #call;));
        }
        let syn::Generics {
            params: generics,
            where_clause,
            ..
        } = &sig.generics;
        let name = &sig.ident;
        quote! {
            #[doc(hidden)]
            #[allow(dead_code, non_camel_case_types, clippy::too_many_arguments)]
            fn #name<#generics>(#keys: &mut #PRIVATE::KeysBuilder<'_>, #(#params),*) #where_clause {
                #(#checks)*
            }
        }
    }

    fn prefix(&self) -> TokenStream {
        option(self.plan.prefix.as_ref().map(ToTokens::to_token_stream))
    }

    /// `(&&Sharing::<R>::NEW).sharer()`: `Some` when `R` is `Clone + Send +
    /// Sync`, by autoref specialization (see `cache_runtime::call`). Its
    /// first and last tokens take the stored type's span: this argument is
    /// the one that names the stored type, so its serde errors point there.
    fn sharer(&self) -> TokenStream {
        let call_site = Span::call_site();
        let TypeSpan { first, last } = self.plan.value_span.unwrap_or(TypeSpan {
            first: call_site,
            last: call_site,
        });
        let ret = &self.ret;
        let probe = respan(quote!((&&#PRIVATE::Sharing::<#ret>::NEW)), first);
        quote_spanned!(last=> #probe.sharer())
    }

    /// The function's `Policy`, as a constant expression. `assert`: check
    /// constant `expire`/`stale_if_error` expressions here (the cached
    /// function does; its companions need not again).
    fn policy(&self, assert: bool) -> TokenStream {
        let expire = seconds(&self.plan.expire, "expire", assert);
        let mut policy = quote!(#PRIVATE::Policy::new(#expire));
        if let KeyKind::Template(template) = &self.plan.key {
            let source = &template.source;
            policy.extend(quote!(.template(#source)));
        }
        let sharing = &self.plan.policy;
        if let Some(fraction) = sharing.jitter {
            policy.extend(quote!(.jitter(#fraction)));
        }
        if !sharing.coalesce {
            policy.extend(quote!(.coalesce(false)));
        }
        if sharing.lock {
            policy.extend(quote!(.lock(true)));
        }
        if let Some(beta) = sharing.early_refresh {
            policy.extend(quote!(.early_refresh(#beta)));
        }
        if let Some((window, name)) = &sharing.stale {
            let window = seconds(window, name, assert);
            policy.extend(quote!(.stale(#window)));
        }
        if sharing.stale_on_error {
            policy.extend(quote!(.stale_on_error()));
        }
        if let Some(wait) = &sharing.soft_timeout {
            let wait = seconds(wait, "soft_timeout", assert);
            policy.extend(quote!(.soft_timeout(#wait)));
        }
        match &sharing.local {
            Some(Local::Flag(on)) => policy.extend(quote!(.local(#on))),
            Some(Local::For(most)) => {
                let most = seconds(most, "local", assert);
                policy.extend(quote!(.local_for(#most)));
            }
            None => {}
        }
        policy
    }

    /// `__private::<shape>(args)`, `.await`ed for async functions: the runtime
    /// function for the return type, spanned over the stored type so that
    /// "not Serialize/Deserialize" errors underline it.
    fn entry_call(&self, args: TokenStream) -> TokenStream {
        let call_site = Span::call_site();
        let TypeSpan { first, last } = self.plan.value_span.unwrap_or(TypeSpan {
            first: call_site,
            last: call_site,
        });
        let name = match self.plan.shape {
            Shape::Plain => "plain",
            Shape::Some => "some",
            Shape::Ok => "ok",
            Shape::OkSome => "ok_some",
        };
        let name = match self.plan.is_async {
            true => Ident::new(name, first),
            false => format_ident!("{}_blocking", name, span = first),
        };
        let private = Private::at(first);
        let path = quote_spanned!(first=> #private::#name);
        match self.plan.is_async {
            true => quote_spanned!(last=> #path(#args).await),
            false => quote_spanned!(last=> #path(#args)),
        }
    }

    /// `__cache_result_entry_of_<name>`: the function's arguments in, its [`Entry`] out.
    /// Sync, `&self` for any receiver, the same generics and parameters.
    fn entry_companion(&self, item: &Function) -> TokenStream {
        let sig = companion_sig(&item.sig, ENTRY_PREFIX, true);
        let Generator {
            ret,
            shape,
            store_var,
            key_var,
            ..
        } = self;
        let identity = identity();
        let identity_var = generated("__cache_identity");
        let prologue = self.prologue(quote!(&#identity_var), None);
        // The cached function asserts constant durations; once is enough.
        let policy = self.policy(false);
        let tagged = self.tags().map(|tags| quote!(.tagged(&[#tags])));
        let vis = &item.vis;
        quote! {
            // Inline: compiled where `entry!` names it, not with every
            // cached function (most never are).
            #[doc(hidden)]
            #[inline]
            #[allow(unused_variables, clippy::too_many_arguments, clippy::needless_pass_by_value)]
            #vis #sig -> #PRIVATE::Entry<#ret, #shape> {
                let #identity_var = #identity;
                #prologue
                #PRIVATE::Entry::new(#store_var, #key_var, #policy) #tagged
            }
        }
    }

    /// `__cache_result_function_of_<name>`: every key of the function, for `function!`.
    /// Takes `&self` when the function has a receiver, and nothing else; a
    /// function whose store comes from another argument gets a handle
    /// without a cache.
    fn function_companion(&self, item: &Function) -> TokenStream {
        let sig = function_sig(&item.sig);
        let Generator { store_var, .. } = self;
        // Bound as in the cached function, so that a store of the wrong type
        // is one error (rustc merges identical ones), not two.
        let store = match &self.plan.store {
            Some(_) if self.plan.store_uses_args => quote!(::core::option::Option::None),
            Some(expr) => {
                let expr = quote_spanned!(expr.span()=> #expr);
                quote!({
                    let #store_var: &::cache_runtime::Cache = #expr;
                    ::core::option::Option::Some(#store_var)
                })
            }
            None => quote!(::core::option::Option::Some(
                #PRIVATE::global()
            )),
        };
        let prefix = self.prefix();
        let identity = identity();
        let handle = match &self.plan.key {
            KeyKind::Hashed { .. } => {
                quote!(#PRIVATE::CachedFunction::hashed(#store_var, #prefix, #identity))
            }
            KeyKind::Template(template) => {
                let parts = &template.literal_parts;
                quote! {
                    #PRIVATE::CachedFunction::template(
                        #store_var, #prefix, #identity, &[#(#parts),*])
                }
            }
        };
        let vis = &item.vis;
        quote! {
            // Inline, as the entry's companion above.
            #[doc(hidden)]
            #[inline]
            #vis #sig -> #PRIVATE::CachedFunction {
                let #store_var: ::core::option::Option<&::cache_runtime::Cache> = #store;
                #handle
            }
        }
    }
}

fn return_type(sig: &Signature) -> TokenStream {
    match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    }
}

/// The runtime's type for how the return value maps to what is stored.
fn shape_path(shape: Shape) -> TokenStream {
    match shape {
        Shape::Plain => quote!(#PRIVATE::Whole),
        Shape::Some => quote!(#PRIVATE::SomeOnly),
        Shape::Ok => quote!(#PRIVATE::OkOnly),
        Shape::OkSome => quote!(#PRIVATE::OkSome),
    }
}

/// The `function!` companion's signature: the receiver, if any, and no
/// other parameter or generic.
fn function_sig(sig: &Signature) -> Signature {
    let mut sig = companion_sig(sig, FUNCTION_PREFIX, false);
    sig.inputs = sig
        .inputs
        .into_iter()
        .filter(|input| matches!(input, FnArg::Receiver(_)))
        .collect();
    sig
}

/// The companion's signature: `<prefix><name>`, not async, `&self` for any
/// receiver, parameters without `mut`, no return type yet.
fn companion_sig(sig: &Signature, prefix: &str, keep_args: bool) -> Signature {
    let mut sig = sig.clone();
    sig.ident = format_ident!("{}{}", prefix, sig.ident, span = sig.ident.span());
    sig.asyncness = None;
    sig.constness = None;
    sig.output = ReturnType::Default;
    for input in &mut sig.inputs {
        match input {
            FnArg::Receiver(receiver) => {
                *receiver = syn::parse_quote_spanned!(receiver.self_token.span=> &self);
            }
            FnArg::Typed(typed) => {
                if let Pat::Ident(pat) = &mut *typed.pat {
                    pat.mutability = None;
                    pat.by_ref = None;
                }
            }
        }
    }
    if !keep_args {
        sig.generics.params = sig.generics.params.into_iter().filter(|_| false).collect();
        sig.generics.where_clause = None;
    }
    sig
}

/// The `type_name` of a closure made in the calling function:
/// `my_crate::f::{{closure}}` (an `async fn`'s body adds one more
/// `::{{closure}}`), from which the runtime takes the function's identity.
/// A closure, not a nested `fn`: a closure's type carries the generic
/// parameters of the function around it, so each instantiation of a method
/// of `impl<T> Table<T>` is named apart (`my_crate::Table<my_crate::A>::name`),
/// where a nested item prints them as `_`.
fn marker() -> TokenStream {
    let site = generated("__cache_site");
    quote!({
        let #site = || ();
        ::core::any::type_name_of_val(&#site)
    })
}

/// The calling function's identity (a `Cow<str>`), for the companions.
fn identity() -> TokenStream {
    let marker = marker();
    quote!(#PRIVATE::site(#marker))
}

// Input:  `expire = 60` | `expire = TTL` (assert) | `expire = TTL` (no assert)
// Output: `Duration::from_secs(60)` | the same, after a const block that
//         fails to compile when TTL is 0 | `Duration::from_secs(TTL)`
fn seconds(seconds: &Seconds, name: &str, assert: bool) -> TokenStream {
    match seconds {
        Seconds::Literal(secs, span) => {
            quote_spanned!(*span=> ::core::time::Duration::from_secs(#secs))
        }
        Seconds::Millis(millis, span) => {
            quote_spanned!(*span=> ::core::time::Duration::from_millis(#millis))
        }
        Seconds::Const(expr) if !assert => {
            quote_spanned!(expr.span()=> ::core::time::Duration::from_secs(#expr))
        }
        Seconds::Const(expr) => {
            let message = format!("`{name}` must be at least 1 second");
            let constant = format_ident!("__CACHE_{}", name.to_uppercase(), span = expr.span());
            quote_spanned! {expr.span()=>
                {
                    const #constant: u64 = {
                        let __cache_secs: u64 = #expr;
                        ::core::assert!(__cache_secs > 0, #message);
                        __cache_secs
                    };
                    ::core::time::Duration::from_secs(#constant)
                }
            }
        }
    }
}

fn option(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}

fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let proc_macro2::TokenTree::Group(group) = &token {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                token = proc_macro2::TokenTree::Group(inner);
            }
            token.set_span(span);
            token
        })
        .collect()
}

/// `::cache_runtime::__private`, the one path all generated code goes
/// through, spanned at the call site; `Private::at` puts it where an error
/// about the item it reaches should point.
#[derive(Clone, Copy)]
pub(crate) struct Private(Option<Span>);

pub(crate) const PRIVATE: Private = Private(None);

impl Private {
    pub(crate) fn at(span: Span) -> Self {
        Private(Some(span))
    }
}

impl ToTokens for Private {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let span = self.0.unwrap_or_else(Span::call_site);
        tokens.extend(quote_spanned!(span=> ::cache_runtime::__private));
    }
}

/// Whether a type parameter named as the argument would leave the types of
/// the signature as they are: not when they use the name (`db: &db::Pool`),
/// nor when it could be a type parameter of the impl around (`T`).
fn nameable(binding: &Ident, types: &[TokenStream]) -> bool {
    let lowercase = binding
        .to_string()
        .trim_start_matches("r#")
        .starts_with(|c: char| c.is_lowercase() || c == '_');
    lowercase
        && !types
            .iter()
            .any(|ty| any_ident(ty.clone(), &|ident| ident == binding))
}

/// A type named as the argument `binding` (`r#type` stays raw).
fn marker_type(binding: &Ident) -> Ident {
    let name = binding.to_string();
    match name.strip_prefix("r#") {
        Some(raw) => Ident::new_raw(raw, Span::mixed_site()),
        None => Ident::new(&name, Span::mixed_site()),
    }
}

/// Mixed-site spans: generated names cannot see, or be seen by, the user's.
fn generated(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// Parameters written as patterns (`(a, b): (u8, u8)`, `_: Ctx`) get a name
/// the key can refer to; the pattern is bound again inside the body.
fn rename_patterns(item: &mut Function, plan: &Plan) {
    for (input, arg) in item.sig.inputs.iter_mut().zip(&plan.args) {
        if let (FnArg::Typed(typed), Some(_)) = (input, &arg.pattern) {
            *typed.pat = Pat::Ident(PatIdent {
                attrs: Vec::new(),
                by_ref: None,
                mutability: None,
                ident: arg.binding.clone(),
                subpat: None,
            });
        }
    }
}
