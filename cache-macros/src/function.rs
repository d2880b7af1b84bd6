//! The item `#[cache_result]` is put on, read as tokio-macros reads its own:
//! attributes, visibility and signature parsed, the body kept as tokens.
//! The body is compiled by rustc as the user wrote it, so its own syntax
//! errors are rustc's, reported once, and a large body costs no parsing here.

use proc_macro2::{Delimiter, Group, TokenStream};
use quote::{ToTokens, TokenStreamExt};
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Signature, Token, Visibility};

pub(crate) struct Function {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    /// `{ ... }`, as written.
    pub(crate) body: Group,
}

impl Parse for Function {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig: Signature = input.parse()?;
        if let Some(semi) = input.parse::<Option<Token![;]>>()? {
            return Err(syn::Error::new(
                semi.span,
                "#[cache_result] needs the function's body: it runs the body on a miss; \
                 put it on the implementation, not on the declaration",
            ));
        }
        let body: Group = input.parse()?;
        if body.delimiter() != Delimiter::Brace {
            return Err(syn::Error::new(
                body.span(),
                "expected the function's body `{ ... }`",
            ));
        }
        Ok(Function {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

impl ToTokens for Function {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.append_all(&self.attrs);
        self.vis.to_tokens(tokens);
        self.sig.to_tokens(tokens);
        self.body.to_tokens(tokens);
    }
}

/// The error for an item that is not a function: syn's own when the item is
/// meant as one (`fn` with a mistake in it), the attribute's rule otherwise.
pub(crate) fn not_a_function(error: syn::Error, item: &TokenStream) -> syn::Error {
    match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(_) | syn::Item::Verbatim(_)) | Err(_) => error,
        Ok(other) => syn::Error::new_spanned(
            other,
            "#[cache_result] goes on a function with a body (`fn` or `async fn`)",
        ),
    }
}
