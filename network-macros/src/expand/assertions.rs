//! Const assertions for sizes the macro cannot read (named constants and const
//! expressions), collected by validation. Each is spanned on the user's tokens, so the
//! compiler underlines the size in the declaration with a message naming the layers.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::walk;
use crate::ast::{ActivationKind, Network, NodeKind, Number};

pub fn const_assertions(net: &Network) -> TokenStream {
    let mut assertions = Vec::new();
    for check in &net.const_checks {
        let (left, message) = (check.left.expr(), escape(&check.message));
        let condition = match &check.right {
            Some(right) => {
                let right = right.expr();
                quote!(#left == #right)
            }
            None => quote!(#left > 0),
        };
        assertions.push(quote_spanned! {check.left.tokens().span()=>
            #[allow(clippy::assertions_on_constants)] // evaluated at compile time: the point
            const _: () = ::core::assert!(#condition, #message);
        });
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
            assertions.push(quote_spanned! {expr.span()=>
                #[allow(clippy::assertions_on_constants)] // evaluated at compile time: the point
                const _: () = ::core::assert!(#condition, #message);
            });
        }
    }
    quote!(#(#assertions)*)
}

/// A message as an `assert!` format string: sizes such as `{ if BIG { 16 } else { 8 } }`
/// keep their braces.
fn escape(message: &str) -> String {
    message.replace('{', "{{").replace('}', "}}")
}
