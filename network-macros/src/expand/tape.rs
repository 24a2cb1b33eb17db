//! The tape: what a training forward pass keeps for backward, for one batch size.

use proc_macro2::TokenStream;
use quote::quote;

use super::{buffers, private, stored, tape_ident, walk};
use crate::ast::Network;

/// The tape's fields: `(field name, type, bytes as an expression of __batch, is rng)`.
pub fn fields(net: &Network) -> Vec<(syn::Ident, TokenStream, TokenStream, bool)> {
    let mut fields = Vec::new();
    for (node, inside) in walk(&net.nodes) {
        for buffer in buffers(node) {
            if stored(node, inside, &buffer) {
                let field = super::tape_field(node, buffer.suffix);
                fields.push((field, buffer.ty, buffer.bytes, buffer.suffix == "rng"));
            }
        }
    }
    fields
}

pub fn tape_definition(net: &Network) -> TokenStream {
    let scalar = super::scalar();

    let batch = super::batch();
    let p = private();
    let (vis, ident, tape) = (&net.vis, &net.ident, tape_ident(net));
    let doc = format!(
        " What a training forward pass of [`{ident}`] keeps for backward, for a batch of `B` \
         samples: each layer's output after its activation, and what normalization, dropout \
         and GELU need. Checkpointed layers keep their output only. Created by `Network::new_tape`."
    );
    let fields = fields(net).into_iter().map(|(field, ty, _, _)| {
        let doc = format!(" Recorded by the training forward pass: `{field}`.");
        quote! {
            #[doc = #doc]
            #vis #field: #ty
        }
    });
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug, PartialEq)]
        // Fields named after layers (`Hidden`, `__xhat_Norm`); see `tape_field`.
        #[allow(non_snake_case)]
        #vis struct #tape<#scalar: #p::Scalar, const #batch: usize> {
            #(#fields,)*
        }
    }
}

/// An expression of `__batch`: the tape's bytes (its fields' sizes, rounded up to the
/// struct's alignment as the compiler lays it out).
pub fn tape_bytes(net: &Network) -> TokenStream {
    let scalar = super::scalar();
    let p = private();
    let fields = fields(net);
    let sizes = fields.iter().map(|(_, _, bytes, _)| bytes);
    let rng = fields.iter().any(|f| f.3);
    let align = if rng {
        quote!(max(::core::mem::align_of::<#scalar>(), ::core::mem::align_of::<#p::Rng>()))
    } else {
        quote!(::core::mem::align_of::<#scalar>())
    };
    quote! {{
        const fn max(a: usize, b: usize) -> usize {
            if a > b { a } else { b }
        }
        let __raw = 0usize #(+ #sizes)*;
        let __align = #align;
        let _ = max;
        __raw.div_ceil(__align) * __align
    }}
}
