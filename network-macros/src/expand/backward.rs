//! The backward pass: the chain rule applied layer by layer in reverse, as straight-line
//! code. The first layer's input gradient is only computed when asked for.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{activation_value, private, Wiring};

/// Body of the private `__backward`, which has `__x`, `__tape`, `__d_out`, `__grads`
/// and `__d_x: Option<&mut SMatrix<T, IN, B>>` in scope.
pub fn backward_body(w: &Wiring) -> TokenStream {
    let p = private();
    let last = w.layers.len() - 1;
    let mut steps = vec![{
        let d = format_ident!("__d{}", last);
        quote!(let mut #d = *__d_out;)
    }];
    for (k, l) in w.layers.iter().enumerate().rev() {
        let name = l.name;
        let d = format_ident!("__d{}", k);
        if let Some(activation) = activation_value(l.layer) {
            steps.push(quote!(#p::Activation::backward(&#activation, &__tape.#name, &mut #d);));
        }
        if k == 0 {
            steps.push(quote! {
                self.#name.backward_params(__x, &#d, &mut __grads.#name);
                if let ::core::option::Option::Some(__d_x) = __d_x {
                    self.#name.backward_input(&#d, __d_x);
                }
            });
        } else {
            let previous = w.layers[k - 1].name;
            let d_previous = format_ident!("__d{}", k - 1);
            let inputs = &l.inputs;
            steps.push(quote! {
                self.#name.backward_params(&__tape.#previous, &#d, &mut __grads.#name);
                let mut #d_previous = #p::SMatrix::<T, #inputs, B>::zeros();
                self.#name.backward_input(&#d, &mut #d_previous);
            });
        }
    }
    quote!(#(#steps)*)
}
