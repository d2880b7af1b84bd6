//! The expansion, pinned: each `tests/expand/<name>.rs` holds functions
//! under `#[cache_result]`, and `<name>.expanded.rs` beside it what the
//! attribute writes for them, printed by prettyplease. A change to the
//! generated code shows up here as a diff to read; refresh the files with
//! `SNAPSHOTS=overwrite cargo test -p cache-macros`.

use std::fs;
use std::path::Path;

use quote::ToTokens;
use syn::{Attribute, File, ImplItem, Item};

#[test]
fn expansions_match_the_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expand");
    let overwrite = std::env::var_os("SNAPSHOTS").is_some_and(|value| value == "overwrite");
    let mut inputs: Vec<_> = fs::read_dir(&dir)
        .expect("tests/expand")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| !path.to_string_lossy().ends_with(".expanded.rs"))
        .collect();
    inputs.sort();
    assert!(
        !inputs.is_empty(),
        "no snapshot inputs in {}",
        dir.display()
    );
    let mut stale = Vec::new();
    for input in inputs {
        let source = fs::read_to_string(&input).expect("a snapshot input");
        let expanded = expand_file(syn::parse_file(&source).expect("a snapshot input parses"));
        let printed = prettyplease::unparse(&expanded);
        let snapshot = input.with_extension("expanded.rs");
        if overwrite {
            fs::write(&snapshot, &printed).expect("writing a snapshot");
        } else if fs::read_to_string(&snapshot).ok().as_deref() != Some(printed.as_str()) {
            stale.push(format!(
                "{} differs from the expansion:\n{printed}",
                snapshot.display()
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "{}\nread the change, then `SNAPSHOTS=overwrite cargo test -p cache-macros`",
        stale.join("\n")
    );
}

/// The file with every `#[cache_result]` function (free, or a method in an
/// inherent impl) replaced by the attribute's expansion.
fn expand_file(file: File) -> File {
    let mut items = Vec::new();
    for item in file.items {
        match item {
            Item::Fn(mut function) => match take_attribute(&mut function.attrs) {
                Some(args) => {
                    let output = crate::expand_attribute(args, function.to_token_stream());
                    let output: File = syn::parse2(output).expect("the expansion parses");
                    items.extend(output.items);
                }
                None => items.push(Item::Fn(function)),
            },
            Item::Impl(mut block) => {
                let mut methods = Vec::new();
                for item in block.items {
                    match item {
                        ImplItem::Fn(mut method) => match take_attribute(&mut method.attrs) {
                            Some(args) => {
                                let output =
                                    crate::expand_attribute(args, method.to_token_stream());
                                let wrapped: syn::ItemImpl =
                                    syn::parse2(quote::quote!(impl X { #output }))
                                        .expect("the expansion parses");
                                methods.extend(wrapped.items);
                            }
                            None => methods.push(ImplItem::Fn(method)),
                        },
                        other => methods.push(other),
                    }
                }
                block.items = methods;
                items.push(Item::Impl(block));
            }
            other => items.push(other),
        }
    }
    File { items, ..file }
}

/// Removes `#[cache_result(..)]` from `attrs`, returning its arguments.
fn take_attribute(attrs: &mut Vec<Attribute>) -> Option<proc_macro2::TokenStream> {
    let index = attrs
        .iter()
        .position(|attr| attr.path().is_ident("cache_result"))?;
    let attr = attrs.remove(index);
    Some(match attr.meta {
        syn::Meta::List(list) => list.tokens,
        _ => proc_macro2::TokenStream::new(),
    })
}
