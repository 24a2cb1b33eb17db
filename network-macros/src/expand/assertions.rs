//! Const assertions for sizes the macro cannot read (named constants and const
//! expressions). Each is spanned on the user's tokens, so the compiler underlines the
//! size in the declaration with a message naming both layers.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::Wiring;
use crate::ast::{ActivationKind, Size};

pub fn const_assertions(w: &Wiring) -> TokenStream {
    let mut assertions = Vec::new();
    for (k, l) in w.layers.iter().enumerate() {
        let name = l.name;
        let written = l.layer.inputs.iter().chain(Some(&l.layer.outputs));
        // `hidden: Dense<N, 16>` with `const N: usize = 0;`
        for size in written {
            if let Size::Named { tokens } = size {
                let message = format!(
                    "layer `{name}` has a size of 0 ({}); a layer needs at least one input and one output",
                    size.describe()
                );
                let expr = size.expr();
                assertions.push(quote_spanned! {tokens.span()=>
                    #[allow(clippy::assertions_on_constants)] // evaluated at compile time: the point
                    const _: () = ::core::assert!(#expr > 0, #message);
                });
            }
        }
        // `hidden: Dense<4, H>, deeper: Dense<N, 3>` with `H != N`
        if let (Some(written), true) = (&l.layer.inputs, k > 0) {
            let previous = &w.layers[k - 1];
            let produces = &previous.layer.outputs;
            if matches!(written, Size::Named { .. }) || matches!(produces, Size::Named { .. }) {
                let message = format!(
                    "layer `{name}` takes {} inputs but `{}` produces {}",
                    written.describe(),
                    previous.name,
                    produces.describe()
                );
                let (written_expr, produced_expr) = (written.expr(), produces.expr());
                assertions.push(quote_spanned! {written.tokens().span()=>
                    #[allow(clippy::assertions_on_constants)] // evaluated at compile time: the point
                    const _: () = ::core::assert!(#written_expr == #produced_expr, #message);
                });
            }
        }
        // `LeakyRelu(SLOPE)`: the slope must not be negative (literals are checked by
        // the macro).
        if let Some(ActivationKind::LeakyRelu(Some(alpha))) = &l.layer.activation {
            if matches!(alpha, syn::Expr::Lit(_)) {
                continue;
            }
            let message =
                format!("layer `{name}`: `LeakyRelu`'s negative slope must not be negative");
            assertions.push(quote_spanned! {alpha.span()=>
                #[allow(clippy::assertions_on_constants)] // evaluated at compile time: the point
                    const _: () = ::core::assert!(#alpha >= 0.0, #message);
            });
        }
    }
    quote!(#(#assertions)*)
}
