//! Code generation: turns a checked [`Plan`] and the user's function into the
//! cached function and its two companions. Everything it emits calls
//! `::cache_runtime::__private`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, Pat, PatIdent, ReturnType, Signature};

use crate::attr::Expire;
use crate::check::{KeyKind, Plan, Shape, TypeSpan};
use crate::companion::{ENTRY_PREFIX, FUNCTION_PREFIX};

// Input:
//     #[cache_result(expire = 60, skip(db))]
//     pub async fn get_user(db: &Db, id: u64) -> Result<User, DbError> { body }
//
// Output:
//     pub async fn get_user(db: &Db, id: u64) -> Result<User, DbError> {
//         let __cache_store: &Cache = __private::global();
//         let __cache_key = __private::hashed_key(__cache_store, None, None,
//             __private::KeyHasher::new(&{
//                 fn __cache_site() {}
//                 __private::site(type_name_of_val(&__cache_site)) // "my_crate::get_user"
//             })
//             .arg(type_name::<User>())
//             .arg(&id)
//             .finish());
//         __private::ok(__cache_store, __cache_key, Duration::from_secs(60), __private::never,
//             async move {
//                 let __cache_ret: Result<User, DbError> = { body };
//                 __cache_ret
//             })
//         .await
//     }
//
//     // For `entry!(get_user(&db, 42))`: the same key, from the same arguments.
//     #[doc(hidden)]
//     pub fn __cache_entry_get_user(db: &Db, id: u64) -> __private::Entry<Result<User, DbError>, OkOnly> {
//         let __cache_store = ...; let __cache_key = ...; // as above
//         __private::Entry::new(__cache_store, __cache_key, Duration::from_secs(60))
//     }
//
//     // For `function!(get_user)`: every key of the function.
//     #[doc(hidden)]
//     pub fn __cache_fn_get_user() -> __private::CachedFunction { ... }
pub(crate) fn cached_fn(plan: Plan, mut item: ItemFn) -> TokenStream {
    rename_patterns(&mut item, &plan);
    let gen = Generator::new(&plan, &item.sig);
    let entry = gen.entry_companion(&item);
    let function = gen.function_companion(&item);
    let cached = gen.cached(item);
    quote!(#cached #entry #function)
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
        let ret = match &sig.output {
            ReturnType::Default => quote!(()),
            ReturnType::Type(_, ty) => ty.to_token_stream(),
        };
        let shape = match plan.shape {
            Shape::Plain => quote!(::cache_runtime::__private::Whole),
            Shape::Some => quote!(::cache_runtime::__private::SomeOnly),
            Shape::Ok => quote!(::cache_runtime::__private::OkOnly),
            Shape::OkSome => quote!(::cache_runtime::__private::OkSome),
        };
        Generator {
            plan,
            ret,
            shape,
            store_var: generated("__cache_store"),
            key_var: generated("__cache_key"),
        }
    }

    fn cached(&self, item: ItemFn) -> TokenStream {
        let ItemFn {
            attrs,
            vis,
            sig,
            block,
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
        let body = if self.plan.is_async {
            quote!(async move { #body })
        } else {
            quote!(move || { #body })
        };
        let expire = self.expire(true);
        let unless = match &self.plan.unless {
            Some(unless) => {
                // The projection's tokens take the condition's span, so that a
                // mismatch is reported once, at the condition.
                let span = unless.span();
                let ret = respan(self.ret.clone(), span);
                let shape = respan(self.shape.clone(), span);
                quote_spanned! {span=>
                    ::cache_runtime::__private::unless::<
                        <#shape as ::cache_runtime::__private::Shape<#ret>>::Stored, _,
                    >(#unless)
                }
            }
            None => quote!(::cache_runtime::__private::never),
        };
        let call = self.entry_call(quote!(#store_var, #key_var, #expire, #unless, #body));
        let prologue = self.prologue();
        quote! {
            #(#attrs)*
            #vis #sig {
                #prologue
                #call
            }
        }
    }

    /// `let __cache_store = ...; let __cache_key = ...;`
    fn prologue(&self) -> TokenStream {
        let Generator {
            store_var, key_var, ..
        } = self;
        let store = match &self.plan.store {
            Some(expr) => quote_spanned!(expr.span()=> #expr),
            None => quote!(::cache_runtime::__private::global()),
        };
        let prefix = self.prefix();
        let key = match &self.plan.key {
            KeyKind::Hashed { version } => {
                let version = option(version.map(|version| quote!(#version)));
                let identity = identity();
                let Generator { ret, shape, .. } = self;
                let args = self.key_args();
                quote! {
                    ::cache_runtime::__private::hashed_key(#store_var, #prefix, #version,
                        ::cache_runtime::__private::KeyHasher::new(&#identity)
                            .arg(::core::any::type_name::<
                                <#shape as ::cache_runtime::__private::Shape<#ret>>::Stored,
                            >())
                            #(#args)*
                            .finish())
                }
            }
            KeyKind::Template(template) => {
                let format = &template.format;
                let exprs = template.exprs();
                quote! {
                    ::cache_runtime::__private::template_key(#store_var, #prefix,
                        ::core::format_args!(#format, #(#exprs),*))
                }
            }
        };
        quote! {
            let #store_var: &::cache_runtime::Cache = #store;
            let #key_var = #key;
        }
    }

    /// `.arg(&name)` for each argument in the key, spanned over the argument's
    /// type from first to last token, so that "not Serialize" underlines it;
    /// the binding still resolves where the user (or `rename_patterns`) made it.
    fn key_args(&self) -> impl Iterator<Item = TokenStream> + '_ {
        self.plan.args.iter().filter(|arg| arg.in_key).map(|arg| {
            let TypeSpan { first, last } = arg.span;
            let mut binding = arg.binding.clone();
            binding.set_span(arg.binding.span().located_at(last));
            quote_spanned!(first=> .arg(& #binding))
        })
    }

    fn prefix(&self) -> TokenStream {
        option(self.plan.prefix.as_ref().map(ToTokens::to_token_stream))
    }

    fn expire(&self, assert: bool) -> TokenStream {
        match &self.plan.expire {
            Expire::Literal(secs, span) => {
                quote_spanned!(*span=> ::core::time::Duration::from_secs(#secs))
            }
            Expire::Const(expr) if !assert => {
                quote_spanned!(expr.span()=> ::core::time::Duration::from_secs(#expr))
            }
            Expire::Const(expr) => quote_spanned! {expr.span()=>
                {
                    const __CACHE_EXPIRE: u64 = {
                        let __cache_secs: u64 = #expr;
                        ::core::assert!(__cache_secs > 0, "`expire` must be at least 1 second");
                        __cache_secs
                    };
                    ::core::time::Duration::from_secs(__CACHE_EXPIRE)
                }
            },
        }
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
        let path = quote_spanned!(first=> ::cache_runtime::__private::#name);
        match self.plan.is_async {
            true => quote_spanned!(last=> #path(#args).await),
            false => quote_spanned!(last=> #path(#args)),
        }
    }

    /// `__cache_entry_<name>`: the function's arguments in, its [`Entry`] out.
    /// Sync, `&self` for any receiver, the same generics and parameters.
    fn entry_companion(&self, item: &ItemFn) -> TokenStream {
        let sig = companion_sig(&item.sig, ENTRY_PREFIX, true);
        let Generator {
            ret,
            shape,
            store_var,
            key_var,
            ..
        } = self;
        let prologue = self.prologue();
        // The cached function asserts a constant `expire`; once is enough.
        let expire = self.expire(false);
        let vis = &item.vis;
        quote! {
            #[doc(hidden)]
            #[allow(unused_variables, clippy::too_many_arguments, clippy::needless_pass_by_value)]
            #vis #sig -> ::cache_runtime::__private::Entry<#ret, #shape> {
                #prologue
                ::cache_runtime::__private::Entry::new(#store_var, #key_var, #expire)
            }
        }
    }

    /// `__cache_fn_<name>`: every key of the function, for `function!`. Takes
    /// `&self` when the function has a receiver, and nothing else, so it is
    /// left out when the store comes from another argument.
    fn function_companion(&self, item: &ItemFn) -> TokenStream {
        if self.plan.store_uses_args {
            return TokenStream::new();
        }
        let mut sig = companion_sig(&item.sig, FUNCTION_PREFIX, false);
        sig.inputs = sig
            .inputs
            .into_iter()
            .filter(|input| matches!(input, FnArg::Receiver(_)))
            .collect();
        let Generator { store_var, .. } = self;
        let store = match &self.plan.store {
            Some(expr) => quote_spanned!(expr.span()=> #expr),
            None => quote!(::cache_runtime::__private::global()),
        };
        let prefix = self.prefix();
        let identity = identity();
        let handle = match &self.plan.key {
            KeyKind::Hashed { .. } => {
                quote!(::cache_runtime::__private::CachedFunction::hashed(#store_var, #prefix, #identity))
            }
            KeyKind::Template(template) => {
                let parts = &template.literal_parts;
                quote! {
                    ::cache_runtime::__private::CachedFunction::template(
                        #store_var, #prefix, #identity, &[#(#parts),*])
                }
            }
        };
        let vis = &item.vis;
        quote! {
            #[doc(hidden)]
            #vis #sig -> ::cache_runtime::__private::CachedFunction {
                let #store_var: &::cache_runtime::Cache = #store;
                #handle
            }
        }
    }
}

/// The companion's signature: `<prefix><name>`, not async, `&self` for any
/// receiver, parameters without `mut`, no return type yet.
fn companion_sig(sig: &Signature, prefix: &str, keep_args: bool) -> Signature {
    let mut sig = sig.clone();
    sig.ident = format_ident!("{}{}", prefix, sig.ident, span = sig.ident.span());
    sig.asyncness = None;
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

/// The calling function's identity, from a marker function declared in it.
/// The marker is an item, and items ignore hygiene: its own block keeps it
/// from shadowing a user argument of the same name.
fn identity() -> TokenStream {
    let site = generated("__cache_site");
    quote!({
        fn #site() {}
        ::cache_runtime::__private::site(::core::any::type_name_of_val(&#site))
    })
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

/// Mixed-site spans: generated names cannot see, or be seen by, the user's.
fn generated(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// Parameters written as patterns (`(a, b): (u8, u8)`, `_: Ctx`) get a name
/// the key can refer to; the pattern is bound again inside the body.
fn rename_patterns(item: &mut ItemFn, plan: &Plan) {
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
