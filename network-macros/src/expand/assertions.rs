//! Const assertions for sizes the macro cannot read (named constants and const
//! expressions), collected by validation. Each is spanned on the user's tokens, so the
//! compiler underlines the size in the declaration with a message naming the layers.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::walk;
use crate::ast::{ActivationKind, Network};

pub fn const_assertions(net: &Network) -> TokenStream {
    let mut assertions = Vec::new();
    for check in &net.const_checks {
        let (left, message) = (check.left.expr(), &check.message);
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
    // `LeakyRelu(SLOPE)`, `Elu(ALPHA)`: not negative (literals are checked by the macro).
    for (node, _) in walk(&net.nodes) {
        let (alpha, what, activation) = match &node.activation {
            Some(ActivationKind::LeakyRelu(Some(alpha))) => (alpha, "negative slope", "LeakyRelu"),
            Some(ActivationKind::Elu(Some(alpha))) => (alpha, "alpha", "Elu"),
            _ => continue,
        };
        if matches!(alpha, syn::Expr::Lit(_)) {
            continue;
        }
        let message = format!(
            "layer `{}`: `{activation}`'s {what} must not be negative",
            node.name
        );
        assertions.push(quote_spanned! {alpha.span()=>
            #[allow(clippy::assertions_on_constants)] // evaluated at compile time: the point
            const _: () = ::core::assert!(#alpha >= 0.0, #message);
        });
    }
    quote!(#(#assertions)*)
}
