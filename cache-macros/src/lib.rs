//! The `#[cache_result]` attribute and the `entry!`/`function!` macros.
//! Depend on `cache-runtime`, which re-exports them and owns everything the
//! generated code calls; this crate only reads the attribute (`attr`,
//! `template`) and the function (`function`), checks one against the other
//! (`check`), writes the cached function and its companions (`expand`), and
//! rewrites calls to reach those companions (`companion`). What it writes
//! for a few representative functions is pinned in `tests/expand/`.
#![warn(missing_docs, unreachable_pub)]

mod attr;
mod check;
mod companion;
mod expand;
mod function;
#[cfg(test)]
mod snapshots;
mod template;

use proc_macro::TokenStream;

use crate::function::Function;

/// Caches an `async fn`'s result in Redis (or the configured store).
///
/// The full documentation, with examples, is on `cache_runtime::cache_result`.
#[proc_macro_attribute]
pub fn cache_result(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_attribute(args.into(), item.into()).into()
}

fn expand_attribute(
    args: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let function: Function = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(error) => {
            let error = function::not_a_function(error, &item).into_compile_error();
            return quote::quote!(#error #item);
        }
    };
    // A syntax error in the options still lets the function be checked, so
    // that one compile reports both.
    let (options, syntax_error) = match syn::parse2::<attr::Options>(args) {
        Ok(options) => (options, None),
        Err(error) => (attr::Options::default(), Some(error)),
    };
    let cache_none = options.cache_none.as_ref().is_some_and(|lit| lit.value);
    let error = match (check::plan(options, &function), syntax_error) {
        (Ok(plan), None) => return expand::cached_fn(plan, function),
        (Ok(_), Some(error)) | (Err(error), None) => error,
        (Err(check_error), Some(mut error)) => {
            error.combine(check_error);
            error
        }
    };
    // The function as written and its companions, so that the rest of the
    // crate (and the IDE) keeps working and every `entry!`/`function!` of
    // it compiles: one mistake, one error.
    let error = error.into_compile_error();
    let unchecked = expand::unchecked(function, cache_none);
    quote::quote!(#error #unchecked)
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
