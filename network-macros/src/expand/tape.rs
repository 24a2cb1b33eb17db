//! The tape: each layer's output after its activation, for one batch size.

use proc_macro2::TokenStream;
use quote::quote;

use super::{private, Wiring};

pub fn tape_definition(w: &Wiring) -> TokenStream {
    let p = private();
    let (vis, ident, tape) = (&w.net.vis, &w.net.ident, &w.tape_ident);
    let doc = format!(
        " The activations a training forward pass of [`{ident}`] records for a batch of `B` \
         samples: each layer's output after its activation. Created by `Network::new_tape`."
    );
    let fields = w.layers.iter().map(|l| {
        let (name, outputs) = (l.name, &l.outputs);
        let doc = format!(" Output of layer `{name}` after its activation, one column per sample.");
        quote! {
            #[doc = #doc]
            #vis #name: #p::SMatrix<T, #outputs, B>
        }
    });
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug, PartialEq)]
        #vis struct #tape<T: #p::Scalar, const B: usize> {
            #(#fields,)*
        }
    }
}
