//! Forward passes: one call per layer operation, written out in order.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{activation_value, private, Wiring};

/// Body of `forward`: inference, with each layer's output in a local buffer.
pub fn inference_body(w: &Wiring) -> TokenStream {
    let p = private();
    let mut steps = Vec::new();
    let mut input = quote!(__x);
    for (k, l) in w.layers.iter().enumerate() {
        let (name, outputs) = (l.name, &l.outputs);
        let buffer = format_ident!("__h{}", k);
        let activation =
            activation_value(l.layer).map(|a| quote!(#p::Activation::forward(&#a, &mut #buffer);));
        steps.push(quote! {
            let mut #buffer = #p::SMatrix::<T, #outputs, B>::zeros();
            self.#name.forward(#input, &mut #buffer);
            #activation
        });
        input = quote!(&#buffer);
    }
    let last = format_ident!("__h{}", w.layers.len() - 1);
    quote! {
        #(#steps)*
        #last
    }
}

/// Body of `forward_train`: the same steps, with outputs written into the tape.
pub fn training_body(w: &Wiring) -> TokenStream {
    let p = private();
    let mut steps = Vec::new();
    let mut input = quote!(__x);
    for l in &w.layers {
        let name = l.name;
        let activation = activation_value(l.layer)
            .map(|a| quote!(#p::Activation::forward(&#a, &mut __tape.#name);));
        steps.push(quote! {
            self.#name.forward(#input, &mut __tape.#name);
            #activation
        });
        input = quote!(&__tape.#name);
    }
    let last = w.layers.last().map(|l| l.name);
    quote! {
        #(#steps)*
        &__tape.#last
    }
}
