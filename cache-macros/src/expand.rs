//! Code generation: turns a checked [`Plan`] and the user's function into the
//! cached function. Everything it emits calls `::cache_runtime::__private`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, Pat, PatIdent, ReturnType};

use crate::attr::Expire;
use crate::check::{Plan, Shape, TypeSpan};

// Input:
//     #[cache_result(expire = 60, skip(db))]
//     pub async fn get_user(db: &Db, id: u64) -> Result<User, DbError> { body }
//
// Output:
//     pub async fn get_user(db: &Db, id: u64) -> Result<User, DbError> {
//         let __cache_store: &Cache = __private::global();
//         let __cache_key = __private::KeyHasher::new({
//             fn __cache_site() {}
//             __private::site(type_name_of_val(&__cache_site)) // "my_crate::get_user"
//         })
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
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = item;
    let ret = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    let store = match &plan.store {
        Some(expr) => quote_spanned!(expr.span()=> #expr),
        None => quote!(::cache_runtime::__private::global()),
    };
    let key_args = plan.args.iter().filter(|arg| arg.in_key).map(|arg| {
        // `&binding` spans the argument's type from first to last token, so
        // "not Serialize" underlines it; the binding still resolves where the
        // user (or `rename_patterns`) made it.
        let TypeSpan { first, last } = arg.span;
        let mut binding = arg.binding.clone();
        binding.set_span(arg.binding.span().located_at(last));
        quote_spanned!(first=> .arg(& #binding))
    });
    let rebinds = plan.args.iter().filter_map(|arg| {
        let pattern = arg.pattern.as_ref()?;
        let binding = &arg.binding;
        Some(quote!(let #pattern = #binding;))
    });
    let expire = expire(&plan.expire);
    // Mixed-site spans: these names cannot see, or be seen by, the user's.
    let [site, store_var, key, ret_var] = [
        "__cache_site",
        "__cache_store",
        "__cache_key",
        "__cache_ret",
    ]
    .map(generated);
    let call = entry_call(
        &plan,
        quote! {
            #store_var, #key, #expire, async move {
                #(#rebinds)*
                let #ret_var: #ret = #block;
                #[allow(unreachable_code)]
                #ret_var
            }
        },
    );

    quote! {
        #(#attrs)*
        #vis #sig {
            let #store_var: &::cache_runtime::Cache = #store;
            // The marker is an item, and items ignore hygiene: its own block
            // keeps it from shadowing a user argument of the same name.
            let #key = ::cache_runtime::__private::KeyHasher::new({
                fn #site() {}
                ::cache_runtime::__private::site(::core::any::type_name_of_val(&#site))
            })
            #(#key_args)*
            .finish();
            #call
        }
    }
}

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

/// `__private::<shape>(args).await`, the runtime function for the return
/// type, spanned over the stored type so that "not Serialize/Deserialize"
/// errors underline it.
fn entry_call(plan: &Plan, args: TokenStream) -> TokenStream {
    let call_site = Span::call_site();
    let TypeSpan { first, last } = plan.value_span.unwrap_or(TypeSpan {
        first: call_site,
        last: call_site,
    });
    let name = match plan.shape {
        Shape::Plain => "plain",
        Shape::Some => "some",
        Shape::Ok => "ok",
        Shape::OkSome => "ok_some",
    };
    let name = Ident::new(name, first);
    let path = quote_spanned!(first=> ::cache_runtime::__private::#name);
    quote_spanned!(last=> #path(#args).await)
}
