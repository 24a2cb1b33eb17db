//! Const assertions for sizes the macro cannot read (named constants and const
//! expressions), collected by validation. Each is spanned on the user's tokens, so the
//! compiler underlines the size in the declaration with a message naming the layers.

use proc_macro2::TokenStream;
use proc_macro2::{Delimiter, Group, Span};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

use super::walk;
use crate::ast::{
    hoisted_sizes, ActivationKind, CheckKind, Network, NodeKind, Number, MAX_SIZE, MAX_WEIGHTS,
};

pub fn const_assertions(net: &Network) -> TokenStream {
    let mut assertions = Vec::new();
    for check in &net.const_checks {
        let (left, message) = (check.left.raw_expr(), escape(&check.message));
        let condition = match &check.kind {
            // Vacuous when either size is out of range: that has its own error.
            CheckKind::Equal(right) => {
                let right = right.raw_expr();
                quote! {
                    #left == 0 || #left > #MAX_SIZE || #right == 0 || #right > #MAX_SIZE
                        || #left == #right
                }
            }
            CheckKind::Holds(condition) => condition.clone(),
            CheckKind::Positive => quote!(#left > 0),
            CheckKind::AtMost => quote!(#left <= #MAX_SIZE),
            // Vacuous when a size is already out of range (that has its own error).
            CheckKind::Weights(inputs) => {
                let inputs = inputs.raw_expr();
                quote! {
                    #left > #MAX_SIZE || #inputs > #MAX_SIZE || #left * #inputs <= #MAX_WEIGHTS
                }
            }
        };
        assertions.push(assertion(check.left.tokens(), condition, &message));
    }
    // `LeakyRelu(SLOPE)`, `Elu(ALPHA)`: finite and not negative; `Dropout(P)`: in [0, 1)
    // (literals are checked by the macro).
    for (node, _) in walk(&net.nodes) {
        let mut named = Vec::new();
        match &node.activation {
            Some(ActivationKind::LeakyRelu(Some(Number::Named(alpha)))) => named.push((
                alpha,
                "`LeakyRelu`'s negative slope must be finite and not negative",
                false,
            )),
            Some(ActivationKind::Elu(Some(Number::Named(alpha)))) => named.push((
                alpha,
                "`Elu`'s alpha must be finite and not negative",
                false,
            )),
            _ => {}
        }
        if let NodeKind::Dropout {
            p: Number::Named(p),
            ..
        } = &node.kind
        {
            named.push((
                p,
                "`Dropout` takes the probability of dropping, in [0, 1)",
                true,
            ));
        }
        for (expr, what, probability) in named {
            let message = escape(&format!("layer `{}`: {what}", node.label));
            let condition = if probability {
                quote!((#expr) as f64 >= 0.0 && ((#expr) as f64) < 1.0)
            } else {
                quote!((#expr) as f64 >= 0.0 && ((#expr) as f64).is_finite())
            };
            assertions.push(assertion(&expr.to_token_stream(), condition, &message));
        }
    }
    quote!(#(#assertions)*)
}

/// `const _: () = assert!(condition, message);` underlining all of `tokens` when it
/// fails: the `assert!` path carries the first token's span and its parentheses the
/// last token's, and the compiler joins them (the way `syn::Error::new_spanned` covers a
/// range on stable).
pub(super) fn assertion(
    tokens: &TokenStream,
    condition: TokenStream,
    message: &str,
) -> TokenStream {
    let mut spans = tokens.clone().into_iter().map(|t| t.span());
    let first = spans.next().unwrap_or_else(Span::call_site);
    let last = spans.last().unwrap_or(first);
    let mut arguments = Group::new(Delimiter::Parenthesis, quote!(#condition, #message));
    arguments.set_span(last);
    let call = quote_spanned!(first=> ::core::assert!);
    quote! {
        #[allow(clippy::assertions_on_constants)] // evaluated at compile time: the point
        const _: () = #call #arguments;
    }
}

/// A message as an `assert!` format string: sizes such as `{ if BIG { 16 } else { 8 } }`
/// keep their braces.
pub(super) fn escape(message: &str) -> String {
    message.replace('{', "{{").replace('}', "}}")
}

/// The hidden constants of the named sizes: each expression evaluated once as written
/// (so that an invalid one is one error, spanned on it), and the value the generated
/// code uses, which is 1 when the written value is out of range (its assertion reports
/// that, and the generated types stay small).
pub fn hoisted(net: &Network) -> TokenStream {
    let constants = hoisted_sizes(net.input_shape.as_deref().unwrap_or_default(), &net.nodes)
        .into_iter()
        .map(|(raw, used, written)| {
            let value = quote_spanned!(written.span()=> #written);
            quote! {
                #[doc(hidden)]
                #[allow(non_upper_case_globals, unused_braces)]
                const #raw: usize = #value;
                #[doc(hidden)]
                #[allow(non_upper_case_globals)]
                const #used: usize = if #raw >= 1 && #raw <= #MAX_SIZE { #raw } else { 1 };
            }
        });
    quote!(#(#constants)*)
}
