//! The backward pass: the chain rule applied layer by layer in reverse, as straight-line
//! code. The first layer's input gradient is only computed when asked for.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{activation_value, private, Wiring};

/// What backward does with each layer's parameter gradient.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Add it to `__grads` (in scope: `__x`, `__tape`, `__d_out`, `__grads` and
    /// `__d_x: Option<&mut SMatrix<T, IN, B>>`).
    Accumulate,
    /// Apply plain SGD with `__lr` at once, with no gradient buffer (in scope: `__x`,
    /// `__tape`, `__d_out`, `__lr`). Each layer's input gradient is computed before its
    /// weights change.
    Sgd,
}

pub fn backward_body(w: &Wiring, mode: Mode) -> TokenStream {
    let p = private();
    let last = w.layers.len() - 1;
    let mut steps = vec![{
        let d = format_ident!("__d{}", last);
        // Only an activation's backward changes the output gradient in place.
        let mutability = activation_value(w.layers[last].layer)
            .is_some()
            .then(|| quote!(mut));
        quote!(let #mutability #d = *__d_out;)
    }];
    for (k, l) in w.layers.iter().enumerate().rev() {
        let name = l.name;
        let d = format_ident!("__d{}", k);
        if let Some(activation) = activation_value(l.layer) {
            steps.push(quote!(#p::Activation::backward(&#activation, &__tape.#name, &mut #d);));
        }
        let input = match k {
            0 => quote!(__x),
            _ => {
                let previous = w.layers[k - 1].name;
                quote!(&__tape.#previous)
            }
        };
        let update = match mode {
            Mode::Accumulate => {
                quote!(self.#name.backward_params(#input, &#d, &mut __grads.#name);)
            }
            Mode::Sgd => quote!(self.#name.sgd_update(#input, &#d, __lr);),
        };
        let input_gradient = if k == 0 {
            match mode {
                Mode::Accumulate => quote! {
                    if let ::core::option::Option::Some(__d_x) = __d_x {
                        self.#name.backward_input(&#d, __d_x);
                    }
                },
                Mode::Sgd => quote!(),
            }
        } else {
            let d_previous = format_ident!("__d{}", k - 1);
            let inputs = &l.inputs;
            quote! {
                let mut #d_previous = #p::SMatrix::<T, #inputs, B>::zeros();
                self.#name.backward_input(&#d, &mut #d_previous);
            }
        };
        // The input gradient reads the weights, so it comes before an in-place update.
        match mode {
            Mode::Accumulate => steps.push(quote!(#update #input_gradient)),
            Mode::Sgd => steps.push(quote!(#input_gradient #update)),
        }
    }
    quote!(#(#steps)*)
}
