//! `entry!` and `function!`: a call (or a path) of a cached function,
//! rewritten to call the companion `#[cache_result]` generated beside it.
//!
//! The companion's name is the function's with a prefix, and keeps the span
//! of the name the user wrote: a function that is not cached has no
//! companion, and the compiler says so at that name.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Expr, ExprCall, ExprField, ExprMethodCall, ExprPath, Ident, Member};

pub(crate) const ENTRY_PREFIX: &str = "__cache_result_entry_of_";
pub(crate) const FUNCTION_PREFIX: &str = "__cache_result_function_of_";
/// The companion that checks the arguments in the key (never called).
pub(crate) const KEYS_PREFIX: &str = "__cache_result_keys_of_";

// Input:  `get_user(&db, 42)` | `users::get_user(&db, 42)` | `repo.find(42)`
// Output: `__cache_result_entry_of_get_user(&db, 42)` | `users::__cache_result_entry_of_get_user(&db, 42)` |
//         `repo.__cache_result_entry_of_find(42)`
pub(crate) fn entry(input: Expr) -> syn::Result<TokenStream> {
    match input {
        Expr::Call(ExprCall { func, args, .. }) => match *func {
            Expr::Path(path) => {
                let path = companion_path(path, ENTRY_PREFIX);
                Ok(quote!(#path(#args)))
            }
            other => Err(not_a_call(&other)),
        },
        Expr::MethodCall(ExprMethodCall {
            receiver,
            method,
            turbofish,
            args,
            ..
        }) => {
            let method = companion_name(&method, ENTRY_PREFIX);
            Ok(quote!(#receiver.#method #turbofish (#args)))
        }
        other => Err(not_a_call(&other)),
    }
}

// Input:  `get_user` | `users::get_user` | `Repo::count` | `repo.find`
// Output: `__cache_result_function_of_get_user()` | `users::__cache_result_function_of_get_user()` |
//         `Repo::__cache_result_function_of_count()` | `repo.__cache_result_function_of_find()`
pub(crate) fn function(input: Expr) -> syn::Result<TokenStream> {
    match input {
        Expr::Path(path) => {
            let path = companion_path(path, FUNCTION_PREFIX);
            Ok(quote!(#path()))
        }
        Expr::Field(ExprField {
            base,
            member: Member::Named(name),
            ..
        }) => {
            let method = companion_name(&name, FUNCTION_PREFIX);
            Ok(quote!(#base.#method()))
        }
        other => Err(syn::Error::new_spanned(
            other,
            "expected a cached function, e.g. `function!(get_user)`, or a method through \
             an instance, e.g. `function!(repo.find)`",
        )),
    }
}

/// The path with its last segment (the function's name; a parsed path always
/// has one) replaced by the companion's.
fn companion_path(mut path: ExprPath, prefix: &str) -> ExprPath {
    if let Some(last) = path.path.segments.last_mut() {
        last.ident = companion_name(&last.ident, prefix);
    }
    path
}

fn companion_name(name: &Ident, prefix: &str) -> Ident {
    format_ident!("{}{}", prefix, name, span = name.span())
}

fn not_a_call(expr: &Expr) -> syn::Error {
    syn::Error::new_spanned(
        expr,
        "expected a call of a cached function, e.g. `entry!(get_user(42))` or \
         `entry!(repo.find(42))`",
    )
}
