//! Expansion: from a checked IR to Rust. Each generated item has its own file; this one
//! reads like their table of contents.

mod assertions;
mod backward;
mod forward;
mod network_impl;
mod params;
mod tape;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use crate::ast::{ActivationKind, Layer, Network, Size};
use crate::ctxt::Ctxt;
use crate::parse::Declaration;
use crate::{fallback, validate};

/// Everything the macro emits for one declaration: the network, or the errors plus a
/// fallback stub that keeps the user's later code from cascading into more errors.
pub fn network(decl: Declaration) -> TokenStream {
    let elements = match &decl.body {
        Ok(elements) => elements,
        Err(error) => {
            let mut tokens = error.to_compile_error();
            tokens.extend(fallback::stub(&decl, None));
            return tokens;
        }
    };
    let cx = Ctxt::new();
    let net = Network::from_syntax(&cx, &decl, elements);
    validate::check(&cx, &net);
    match cx.check() {
        Ok(()) => generate(&Wiring::new(&net)),
        Err(errors) => {
            let mut tokens = errors.to_compile_error();
            tokens.extend(fallback::stub(&decl, fallback::io_sizes(&net)));
            tokens
        }
    }
}

fn generate(w: &Wiring) -> TokenStream {
    let definition = params::struct_definition(w);
    let params = params::params_impl(w);
    let tape = tape::tape_definition(w);
    let network = network_impl::network_impl(w);
    let inherent = network_impl::inherent_impl(w);
    let assertions = assertions::const_assertions(w);
    quote! {
        #definition
        #tape
        #assertions
        #inherent
        #params
        #network
    }
}

/// The root every generated path starts from: users depend on `network` alone.
pub fn private() -> TokenStream {
    quote!(::network::__private)
}

/// A validated network with each layer's input and output sizes resolved: a layer's
/// input size is the previous layer's output size (the written one is only checked
/// against it), so the generated types always agree and a mismatch of named constants
/// surfaces as one spanned const assertion, not as a wall of type errors.
pub struct Wiring<'a> {
    pub net: &'a Network,
    pub tape_ident: Ident,
    pub layers: Vec<WiredLayer<'a>>,
    pub inputs: TokenStream,
    pub outputs: TokenStream,
}

pub struct WiredLayer<'a> {
    pub layer: &'a Layer,
    pub name: &'a Ident,
    pub inputs: TokenStream,
    pub outputs: TokenStream,
    /// The written or inherited input size (for summaries).
    pub inputs_size: &'a Size,
}

impl<'a> Wiring<'a> {
    fn new(net: &'a Network) -> Self {
        let mut layers: Vec<WiredLayer<'a>> = Vec::with_capacity(net.layers.len());
        for (k, layer) in net.layers.iter().enumerate() {
            let inputs_size = match k {
                0 => layer
                    .inputs
                    .as_ref()
                    .expect("validated: the first layer states its inputs"),
                _ => &net.layers[k - 1].outputs,
            };
            layers.push(WiredLayer {
                layer,
                name: &layer.name,
                inputs: inputs_size.expr(),
                outputs: layer.outputs.expr(),
                inputs_size,
            });
        }
        let inputs = layers.first().map(|l| l.inputs.clone()).unwrap_or_default();
        let outputs = layers.last().map(|l| l.outputs.clone()).unwrap_or_default();
        Wiring {
            net,
            tape_ident: format_ident!("{}Tape", net.ident),
            layers,
            inputs,
            outputs,
        }
    }
}

/// The value of an activation, or `None` for the identity (which generates no code).
pub fn activation_value(layer: &Layer) -> Option<TokenStream> {
    let p = private();
    Some(match layer.activation.as_ref()? {
        ActivationKind::Identity => return None,
        ActivationKind::Relu => quote!(#p::Relu),
        ActivationKind::LeakyRelu(Some(alpha)) => quote!(#p::LeakyRelu { alpha: #alpha }),
        ActivationKind::LeakyRelu(None) => quote!(#p::LeakyRelu { alpha: 0.01 }),
        ActivationKind::Sigmoid => quote!(#p::Sigmoid),
        ActivationKind::Tanh => quote!(#p::Tanh),
        ActivationKind::Softmax => quote!(#p::Softmax),
    })
}
