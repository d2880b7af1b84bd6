//! Key templates: `key = "user:{id}"`, `key = "order:{order.id}:{lang}"`.
//!
//! A template is literal text and `{name}` or `{name.field...}` holes; `{{`
//! and `}}` stand for braces. It becomes a `format_args!` over the holes'
//! expressions (formatted with `Display`, each through the runtime's
//! `hole`, which percent-encodes what could forge a separator) and, for
//! clearing, the literal parts between holes.
//!
//! Two rules keep distinct arguments on distinct keys: holes are separated
//! by literal text, and that text starts with a character that a hole's
//! encoded value never holds (not a letter, a digit or `%`: the encoding
//! writes `%` and hex digits). Each hole's value then ends where the first
//! character of the text after it appears.

use proc_macro2::{Span, TokenStream};
use quote::{quote_spanned, ToTokens};
use syn::{Ident, Index, LitStr};

use crate::expand::Private;

pub(crate) struct Template {
    /// The template as written: what logs show in place of a rendered key.
    pub(crate) source: String,
    /// The `format_args!` string: literal text with `{}` for each hole.
    pub(crate) format: String,
    pub(crate) holes: Vec<Hole>,
    /// The literal text between holes, unescaped: `user:{id}:x` -> `["user:", ":x"]`.
    pub(crate) literal_parts: Vec<String>,
    /// The first character of each literal part between two holes: a
    /// hole's value writes them percent-encoded.
    pub(crate) separators: String,
    pub(crate) span: Span,
}

/// `{name.field.0}`: a root name and the fields after it.
pub(crate) struct Hole {
    pub(crate) root: String,
    fields: Vec<String>,
}

/// What a template renders: an entry's key, or one of its tags.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Key,
    Tag,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Key => "key template",
            Kind::Tag => "tag",
        }
    }

    fn example(self) -> &'static str {
        match self {
            Kind::Key => "key = \"user:{user_id}\"",
            Kind::Tag => "tags = [\"user:{user_id}\"]",
        }
    }
}

impl Template {
    pub(crate) fn parse(lit: &LitStr, kind: Kind) -> syn::Result<Self> {
        let noun = kind.noun();
        let text = lit.value();
        let error = |message: String| syn::Error::new(lit.span(), message);
        let mut template = Template {
            source: text.clone(),
            format: String::new(),
            holes: Vec::new(),
            literal_parts: vec![String::new()],
            separators: String::new(),
            span: lit.span(),
        };
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, chars.peek()) {
                ('{', Some('{')) | ('}', Some('}')) => {
                    chars.next();
                    template.push_literal(c);
                }
                ('{', _) => {
                    let mut hole = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        hole.push(c);
                    }
                    if !closed {
                        return Err(error(format!("unclosed `{{{hole}` in the {noun}")));
                    }
                    template.holes.push(parse_hole(&hole).ok_or_else(|| {
                        error(format!(
                            "`{{{hole}}}` in the {noun}: expected `{{argument}}` or \
                             `{{argument.field}}`, e.g. `{}`",
                            kind.example()
                        ))
                    })?);
                    template.format.push_str("{}");
                    template.literal_parts.push(String::new());
                }
                ('}', _) => {
                    return Err(error(format!(
                        "unmatched `}}` in the {noun}; write `}}}}` for a brace"
                    )))
                }
                (c, _) => template.push_literal(c),
            }
        }
        if kind == Kind::Key && template.holes.is_empty() {
            return Err(error(
                "the key template has no `{argument}`: every call would share one key".into(),
            ));
        }
        // The text between holes (none for a tag without holes).
        let inner = match template.literal_parts.len() {
            parts if parts > 2 => &template.literal_parts[1..parts - 1],
            _ => &[][..],
        };
        for part in inner {
            match part.chars().next() {
                None => {
                    return Err(error(format!(
                        "two holes side by side in the {noun}: `{{a}}{{b}}` renders \
                         `1` and `23` as it renders `12` and `3`; put a separator between \
                         them, e.g. `{{a}}:{{b}}`"
                    )))
                }
                Some(c) if c.is_alphanumeric() || c == '%' => {
                    return Err(error(format!(
                        "`{part}` separates two holes in the {noun}, but a hole's \
                         value may end in `{c}`; start the text between holes with \
                         punctuation, e.g. `:`"
                    )))
                }
                Some(c) if !template.separators.contains(c) => template.separators.push(c),
                Some(_) => {}
            }
        }
        if kind == Kind::Key && template.format.starts_with("[tag]:") {
            return Err(error(
                "a key template may not start with `[tag]:`: tags' tokens live there \
                 (`tags = [...]`)"
                    .into(),
            ));
        }
        if kind == Kind::Key && template.format.ends_with(":lease") {
            return Err(error(
                "a key template may not end in `:lease`: that is the suffix of the \
                 stampede lock's keys (`lock = true`)"
                    .into(),
            ));
        }
        Ok(template)
    }

    fn push_literal(&mut self, c: char) {
        self.format.push(c);
        if c == '{' || c == '}' {
            self.format.push(c);
        }
        self.literal_parts
            .last_mut()
            .unwrap_or_else(|| unreachable!("starts with one"))
            .push(c);
    }

    /// The holes as expressions, reported at the template literal. Fields
    /// carry a macro span there, so that rustc names a missing field but does
    /// not offer to replace the whole literal with a field name.
    pub(crate) fn exprs(&self) -> impl Iterator<Item = TokenStream> + '_ {
        let field_span = Span::mixed_site().located_at(self.span);
        let separators = &self.separators;
        self.holes.iter().map(move |hole| {
            let root = Ident::new(&hole.root, self.span);
            let fields = hole
                .fields
                .iter()
                .map(move |field| match field.parse::<u32>() {
                    Ok(index) => Index {
                        index,
                        span: field_span,
                    }
                    .into_token_stream(),
                    Err(_) => Ident::new(field, field_span).into_token_stream(),
                });
            let private = Private::at(self.span);
            quote_spanned! {self.span=>
                #private::hole(&(#root #(.#fields)*), #separators)
            }
        })
    }
}

fn parse_hole(hole: &str) -> Option<Hole> {
    let mut parts = hole.split('.').map(str::trim);
    let root = parts.next().filter(|root| is_identifier(root))?.to_owned();
    let fields: Vec<String> = parts.map(str::to_owned).collect();
    let valid = fields
        .iter()
        .all(|f| is_identifier(f) || f.parse::<u32>().is_ok());
    valid.then_some(Hole { root, fields })
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
        && text != "_"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> syn::Result<Template> {
        Template::parse(&LitStr::new(text, Span::call_site()), Kind::Key)
    }

    #[test]
    fn holes_become_format_arguments() {
        let template = parse("user:{id}:{order.item.0}").unwrap();
        assert_eq!(template.format, "user:{}:{}");
        assert_eq!(template.literal_parts, ["user:", ":", ""]);
        let exprs: Vec<String> = template.exprs().map(|e| e.to_string()).collect();
        let hole = ":: cache_runtime :: __private :: hole";
        assert_eq!(
            exprs,
            [
                format!("{hole} (& (id) , \":\")"),
                format!("{hole} (& (order . item . 0) , \":\")")
            ]
        );
        assert_eq!(template.separators, ":");
    }

    #[test]
    fn holes_need_a_separator_a_value_cannot_hold() {
        assert_eq!(parse("d:{y}-{m}/{d}").unwrap().separators, "-/");
        assert_eq!(parse("{a}|{b}|{c}x").unwrap().separators, "|");
        for bad in ["{a}{b}", "{a}x{b}", "{a}1{b}", "{a}%{b}", "user:{id}:lease"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn doubled_braces_are_literal() {
        let template = parse("{{raw}}:{id}").unwrap();
        assert_eq!(template.format, "{{raw}}:{}");
        assert_eq!(template.literal_parts, ["{raw}:", ""]);
    }

    #[test]
    fn malformed_templates_are_refused() {
        for bad in [
            "user:{}",
            "user:{id",
            "user:}",
            "user:{a-b}",
            "user:{id:?}",
            "plain",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
