//! The `#[cache_result]` attribute and the `entry!`/`function!` macros.
//! Depend on `cache-runtime`, which re-exports them and owns everything the
//! generated code calls; this crate only reads the attribute (`attr`,
//! `template`), checks it against the function (`check`), writes the cached
//! function and its companions (`expand`), and rewrites calls to reach those
//! companions (`companion`).
#![warn(missing_docs, unreachable_pub)]

mod attr;
mod check;
mod companion;
mod expand;
mod template;

use proc_macro::TokenStream;

/// Caches an `async fn`'s result in Redis (or the configured store).
///
/// The full documentation, with examples, is on `cache_runtime::cache_result`.
#[proc_macro_attribute]
pub fn cache_result(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let function: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let error =
                syn::Error::new_spanned(&item, "#[cache_result] goes on an `async fn` with a body");
            return with_original(error, item);
        }
    };
    // A syntax error in the options still lets the function be checked, so
    // that one compile reports both.
    let (options, syntax_error) = match syn::parse::<attr::Options>(args) {
        Ok(options) => (options, None),
        Err(error) => (attr::Options::default(), Some(error)),
    };
    match (check::plan(options, &function), syntax_error) {
        (Ok(plan), None) => expand::cached_fn(plan, function).into(),
        (Ok(_), Some(error)) | (Err(error), None) => with_original(error, item),
        (Err(check_error), Some(mut error)) => {
            error.combine(check_error);
            with_original(error, item)
        }
    }
}

/// On a mistake, the function is still emitted as written so that the rest of
/// the crate (and the IDE) keeps working; only the error is new.
fn with_original(error: syn::Error, item: proc_macro2::TokenStream) -> TokenStream {
    let error = error.to_compile_error();
    quote::quote!(#error #item).into()
}

/// The cache entry of one call of a cached function: `entry!(get_user(&db, 42))`.
///
/// The full documentation is on `cache_runtime::entry`.
#[proc_macro]
pub fn entry(input: TokenStream) -> TokenStream {
    syn::parse::<syn::Expr>(input)
        .and_then(companion::entry)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// All the cache entries of a cached function: `function!(get_user)`.
///
/// The full documentation is on `cache_runtime::function`.
#[proc_macro]
pub fn function(input: TokenStream) -> TokenStream {
    syn::parse::<syn::Expr>(input)
        .and_then(companion::function)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
