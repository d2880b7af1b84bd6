//! Code generation: turns a checked [`Plan`] and the user's function into the
//! cached function. Everything it emits calls `::cache_runtime::__private`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, Pat, PatIdent, ReturnType};

use crate::attr::Expire;
use crate::check::{Plan, Shape};

// Input:
//     #[cache_result(expire = 60, skip(db))]
//     pub async fn get_user(db: &Db, id: u64) -> Result<User, DbError> { body }
//
// Output:
//     pub async fn get_user(db: &Db, id: u64) -> Result<User, DbError> {
//         fn __cache_site() {}
//         let __cache_store: &Cache = __private::global();
//         let __cache_key = __private::KeyHasher::new(__private::site(type_name_of_val(&__cache_site)))
//             .arg(&id)
//             .finish();
//         __private::ok(__cache_store, __cache_key, Duration::from_secs(60), async move {
//             let __cache_ret: Result<User, DbError> = { body };
//             __cache_ret
//         })
//         .await
//     }
pub(crate) fn cached_fn(plan: Plan, mut item: ItemFn) -> TokenStream {
    rename_patterns(&mut item, &plan);
    let ItemFn { attrs, vis, sig, block } = item;
    let ret = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    let store = match &plan.store {
        Some(expr) => quote_spanned!(expr.span()=> #expr),
        None => quote!(::cache_runtime::__private::global()),
    };
    let key_args = plan.args.iter().filter(|arg| arg.in_key).map(|arg| {
        // Spanned on the argument's type, so "not Serialize" points at it.
        let binding = Ident::new(&arg.binding.to_string(), arg.span);
        quote_spanned!(arg.span=> .arg(&#binding))
    });
    let rebinds = plan.args.iter().filter_map(|arg| {
        let pattern = arg.pattern.as_ref()?;
        let binding = &arg.binding;
        Some(quote!(let #pattern = #binding;))
    });
    let expire = expire(&plan.expire);
    let entry = entry_point(&plan);

    quote! {
        #(#attrs)*
        #vis #sig {
            fn __cache_site() {}
            let __cache_store: &::cache_runtime::Cache = #store;
            let __cache_key = ::cache_runtime::__private::KeyHasher::new(
                ::cache_runtime::__private::site(::core::any::type_name_of_val(&__cache_site)),
            )
            #(#key_args)*
            .finish();
            #entry(__cache_store, __cache_key, #expire, async move {
                #(#rebinds)*
                let __cache_ret: #ret = #block;
                #[allow(unreachable_code)]
                __cache_ret
            })
            .await
        }
    }
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

fn expire(expire: &Expire) -> TokenStream {
    match expire {
        Expire::Literal(secs, span) => {
            quote_spanned!(*span=> ::core::time::Duration::from_secs(#secs))
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

/// The runtime function for the return type, spanned on the stored type so
/// that "not Serialize/Deserialize" errors point at it.
fn entry_point(plan: &Plan) -> TokenStream {
    let span = plan.value_ty.as_ref().map_or_else(Span::call_site, Spanned::span);
    let name = match plan.shape {
        Shape::Plain => "plain",
        Shape::Some => "some",
        Shape::Ok => "ok",
        Shape::OkSome => "ok_some",
    };
    let name = Ident::new(name, span);
    quote_spanned!(span=> ::cache_runtime::__private::#name)
}
