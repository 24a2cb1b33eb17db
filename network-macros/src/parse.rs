//! Syntax of a declaration. Parsing is loose (any `name: Kind<...>(...)` element) and
//! fails fast only on malformed Rust; meaning is checked in [`crate::ast`].
//!
//! ```text
//! Declaration := Attribute* Visibility "struct" Ident "{" (Element ("," Element)* ","?)? "}"
//! Element     := Attribute* (Ident ":")? Ident ("<" GenericArgument,* ">")? ("(" Expr,* ")")?
//!                ("{" Element,* "}")?
//! ```

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{
    braced, parenthesized, token, AngleBracketedGenericArguments, Attribute, Expr, Generics, Ident,
    Token, Visibility,
};

/// `pub struct Name { ... }` with its attributes.
pub struct Declaration {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    pub generics: Generics,
    /// The elements, or the syntax error inside the braces (the header still allows a
    /// fallback stub to be emitted).
    pub body: syn::Result<Vec<Element>>,
    /// Syntax errors parsing recovered from (a missing comma between elements), to
    /// report with the rest.
    pub recovered: Vec<syn::Error>,
}

/// One comma-separated element: a layer (`hidden: Dense<4, 16>`) or an activation
/// (`Relu`, `LeakyRelu(0.1)`), with its attributes.
pub struct Element {
    pub attrs: Vec<Attribute>,
    pub name: Option<(Ident, Token![:])>,
    pub kind: Ident,
    pub generics: Option<AngleBracketedGenericArguments>,
    pub args: Option<(token::Paren, Punctuated<Expr, Token![,]>)>,
    /// The elements of a block (`res: Residual { ... }`).
    pub body: Option<(token::Brace, Vec<Element>)>,
}

impl Element {
    /// The element's tokens without attributes, to underline it whole.
    pub fn tokens(&self) -> TokenStream {
        let mut tokens = TokenStream::new();
        if let Some((name, colon)) = &self.name {
            name.to_tokens(&mut tokens);
            colon.to_tokens(&mut tokens);
        }
        self.kind.to_tokens(&mut tokens);
        self.generics.to_tokens(&mut tokens);
        if let Some((paren, args)) = &self.args {
            paren.surround(&mut tokens, |t| args.to_tokens(t));
        }
        if let Some((brace, _)) = &self.body {
            brace.surround(&mut tokens, |_| {});
        }
        tokens
    }
}

impl Parse for Declaration {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        input.parse::<Token![struct]>()?;
        let ident = input.parse()?;
        let generics = input.parse()?;
        let content;
        braced!(content in input);
        let mut recovered = Vec::new();
        let body = parse_elements(&content, 0, &mut recovered);
        if body.is_err() {
            // Consume the rest so that syn reports our error, not "unexpected token".
            content.parse::<TokenStream>()?;
        }
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the network declaration; declare one network per `network!`"));
        }
        Ok(Declaration {
            attrs,
            vis,
            ident,
            generics,
            body,
            recovered,
        })
    }
}

/// How deep residual blocks may nest. Deeper declarations are refused with a spanned
/// error instead of recursing until the compiler's stack runs out.
pub const MAX_NESTING: usize = 32;

/// Comma-separated elements with an optional trailing comma, `depth` blocks deep.
fn parse_elements(
    content: ParseStream,
    depth: usize,
    recovered: &mut Vec<syn::Error>,
) -> syn::Result<Vec<Element>> {
    let mut elements = Vec::new();
    while !content.is_empty() {
        elements.push(Element::parse_at(content, depth, recovered)?);
        if content.is_empty() {
            break;
        }
        if !content.peek(Token![,]) {
            // `hidden: Dense<4, 16> Relu`: reported, and read as if the comma were there
            // when an element follows, so that the rest is still checked.
            let error = content.error("expected `,` between layers and activations");
            if content.peek(Ident::peek_any) || content.peek(Token![#]) {
                recovered.push(error);
                continue;
            }
            return Err(error);
        }
        content.parse::<Token![,]>()?;
    }
    Ok(elements)
}

impl Element {
    fn parse_at(
        input: ParseStream,
        depth: usize,
        recovered: &mut Vec<syn::Error>,
    ) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let name =
            if input.peek(Ident::peek_any) && input.peek2(Token![:]) && !input.peek2(Token![::]) {
                Some((input.call(Ident::parse_any)?, input.parse()?))
            } else {
                None
            };
        if !input.peek(Ident) {
            return Err(input.error(
                "expected a layer such as `hidden: Dense<4, 16>` or an activation such as `Relu`",
            ));
        }
        let kind = input.parse()?;
        let generics = if input.peek(Token![<]) {
            Some(input.parse()?)
        } else {
            None
        };
        let args = if input.peek(token::Paren) {
            let content;
            let paren = parenthesized!(content in input);
            Some((paren, Punctuated::parse_terminated(&content)?))
        } else {
            None
        };
        let body = if input.peek(token::Brace) {
            let content;
            let brace = braced!(content in input);
            // `a: Residual { b: Residual { ... } }`, nested beyond reason.
            let inner = if depth + 1 > MAX_NESTING {
                Err(syn::Error::new(
                    brace.span.join(),
                    format!("residual blocks nest at most {MAX_NESTING} deep"),
                ))
            } else {
                parse_elements(&content, depth + 1, recovered)
            };
            if inner.is_err() {
                // Consume the rest so that syn reports our error, not "unexpected token".
                content.parse::<TokenStream>()?;
            }
            Some((brace, inner?))
        } else {
            None
        };
        Ok(Element {
            attrs,
            name,
            kind,
            generics,
            body,
            args,
        })
    }
}
