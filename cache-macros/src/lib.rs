//! The `#[cache_result]` attribute. Depend on `cache-runtime`, which
//! re-exports it and owns everything the generated code calls; this crate only
//! reads the attribute (`attr`), checks it against the function (`check`) and
//! writes the cached function (`expand`).
#![warn(missing_docs, unreachable_pub)]

mod attr;
mod check;
mod expand;

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
