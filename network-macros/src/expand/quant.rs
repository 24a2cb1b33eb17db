//! Post-training int8 quantization of dense networks: `Net::quantize(calibration)`
//! returns a generated `NetInt8` (per-channel symmetric int8 weights, `i32` biases,
//! fixed-point requantization, ReLU fused into the clamp; see `network_core::quant`),
//! which runs on integers alone, `no_std` and allocation-free.
//!
//! Generated for networks of dense layers whose activations are ReLU or none, the last
//! one optionally softmax (which stays on the float side: it only rescales the logits,
//! whose order the integers keep). Anything else (norms, dropout, residual blocks,
//! convolutions, other activations) means no quantized type in this version.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::ext::IdentExt;

use super::{input, output, private, scalar};
use crate::ast::{ActivationKind, Network, NodeKind};

/// The quantized type's name: `IrisInt8` for `Iris`.
fn quant_ident(net: &Network) -> syn::Ident {
    format_ident!("{}Int8", net.ident.unraw())
}

pub fn quant(net: &Network) -> TokenStream {
    let nodes = &net.nodes;
    let Some(last) = nodes.last() else {
        return TokenStream::new();
    };
    let quantizable = net.ends_valid
        && nodes.iter().enumerate().all(|(k, n)| {
            matches!(n.kind, NodeKind::Dense { .. })
                && n.per_step.is_none()
                && match &n.activation {
                    None | Some(ActivationKind::Relu | ActivationKind::Identity) => true,
                    Some(ActivationKind::Softmax) => k + 1 == nodes.len(),
                    _ => false,
                }
        });
    if !quantizable {
        return TokenStream::new();
    }
    let (p, scalar) = (private(), scalar());
    let (ident, vis, q) = (&net.ident, &net.vis, quant_ident(net));
    let (inputs, outputs) = (input(&nodes[0]), output(last));
    let names: Vec<_> = nodes.iter().map(|n| &n.name).collect();
    let fields = nodes.iter().map(|n| {
        let (name, i, o) = (&n.name, input(n), output(n));
        let doc = format!(" `{}`, in integers.", n.label);
        quote!(#[doc = #doc] #vis #name: #p::DenseInt8<#i, #o>)
    });
    let count = nodes.len();
    // Integer inference: one layer after another.
    let integer_steps = names.iter().enumerate().map(|(k, name)| {
        let (from, to) = (format_ident!("__q{}", k), format_ident!("__q{}", k + 1));
        quote!(let #to = self.#name.forward(&#from);)
    });
    let q_out = format_ident!("__q{}", count);
    // Calibration: the float layers one sample at a time, each output's range observed
    // after its activation (before a final softmax).
    let float_steps = nodes.iter().enumerate().map(|(k, n)| {
        let (name, o) = (&n.name, output(n));
        let (from, to) = (format_ident!("__v{}", k), format_ident!("__v{}", k + 1));
        let relu = matches!(n.activation, Some(ActivationKind::Relu))
            .then(|| quote!(#p::Activation::forward(&#p::Relu, &mut #to);));
        quote! {
            let mut #to = #p::SMatrix::<#scalar, #o, 1>::zeros();
            self.#name.forward(&#from, &mut #to);
            #relu
            __ranges[#k].observe(#to.as_slice());
        }
    });
    let layers = nodes.iter().enumerate().map(|(k, n)| {
        let name = &n.name;
        let relu = matches!(n.activation, Some(ActivationKind::Relu));
        let input_quant = if k == 0 {
            quote!(__input.quant())
        } else {
            let previous = k - 1;
            quote!(__ranges[#previous].quant())
        };
        quote! {
            #name: #p::DenseInt8::from_float(
                &self.#name.weight,
                &self.#name.bias,
                #input_quant,
                __ranges[#k].quant(),
                #relu,
            )
        }
    });
    let last_name = &last.name;
    let softmax = matches!(last.activation, Some(ActivationKind::Softmax))
        .then(|| quote!(#p::Activation::forward(&#p::Softmax, &mut __out);));
    let doc = format!(
        " [`{}`] in int8, from [`{}::quantize`]: per-channel symmetric int8 weights, `i32` biases, per-tensor int8 activations, fixed-point requantization (the TFLite Micro scheme: exact integers, the same on every target).",
        net.ident.unraw(),
        net.ident.unraw()
    );
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug, PartialEq)]
        #vis struct #q {
            /// The input's quantization.
            #vis input: #p::ActivationQuant,
            #(#fields,)*
        }

        #[automatically_derived]
        impl #q {
            /// Integer inference on a quantized sample.
            #vis fn forward_q(&self, __q0: &#p::SMatrix<i8, #inputs, 1>) -> #p::SMatrix<i8, #outputs, 1> {
                let __q0 = *__q0;
                #(#integer_steps)*
                #q_out
            }

            /// Quantizes `x` with the input's parameters, runs the integer layers and
            /// dequantizes the output (a final softmax runs in float).
            #vis fn forward(&self, x: &#p::SMatrix<f32, #inputs, 1>) -> #p::SMatrix<f32, #outputs, 1> {
                let __x = #p::SMatrix::<i8, #inputs, 1>::from_fn(|r, _| self.input.quantize(x[r] as f64));
                let __y = self.forward_q(&__x);
                let __scale = self.#last_name.output;
                let mut __out = #p::SMatrix::<f32, #outputs, 1>::from_fn(|r, _| __scale.dequantize(__y[r]) as f32);
                #softmax
                __out
            }

            /// The index of the largest output (integers keep the order of the logits).
            #vis fn predict(&self, x: &#p::SMatrix<f32, #inputs, 1>) -> usize {
                let __x = #p::SMatrix::<i8, #inputs, 1>::from_fn(|r, _| self.input.quantize(x[r] as f64));
                let __y = self.forward_q(&__x);
                let (mut __best, mut __max) = (0, i8::MIN);
                for (__k, &__v) in __y.iter().enumerate() {
                    if __v > __max {
                        (__best, __max) = (__k, __v);
                    }
                }
                __best
            }
        }

        #[automatically_derived]
        impl<#scalar: #p::Scalar> #ident<#scalar> {
            /// Post-training int8 quantization: runs the `calibration` samples through
            /// the float layers, takes each activation's range (every layer's output,
            /// after a ReLU; the input), and quantizes every layer to those ranges.
            #vis fn quantize(&self, calibration: &[#p::SMatrix<#scalar, #inputs, 1>]) -> #q {
                let mut __input = #p::QuantRange::default();
                let mut __ranges = [#p::QuantRange::default(); #count];
                for __v0 in calibration {
                    __input.observe(__v0.as_slice());
                    #(#float_steps)*
                }
                #q {
                    input: __input.quant(),
                    #(#layers,)*
                }
            }
        }
    }
}
