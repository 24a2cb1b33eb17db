//! Streaming inference for networks over sequences: a state type holding every
//! recurrent layer's state (`NetStream`) and `Net::step`, which takes one time step's
//! features and returns one output, allocation-free, through the same arithmetic as the
//! whole-sequence `forward` (so stepping through a sequence gives its bits).
//!
//! Generated when the input is a sequence `Input<steps, features>`, some layer is
//! recurrent, and every layer can run one step at a time: recurrent layers, dense layers
//! (per step on a sequence, whole after a last-step output), dropout (the identity at
//! inference), residual blocks, activations (softmax only on a vector), and norms on a
//! vector. A whole-sequence layer (a dense layer over a flattened sequence, a
//! convolution, a norm over a sequence) means no streaming code.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::ext::IdentExt;

use super::{activation_value, private, scalar};
use crate::ast::{ActivationKind, Network, Node, NodeKind, Size};

/// The stream state's name: `IrisStream` for `Iris`.
pub fn stream_ident(net: &Network) -> syn::Ident {
    format_ident!("{}Stream", net.ident.unraw())
}

/// Whether `nodes` can run one step at a time, starting on a sequence (`true`) or a
/// vector; returns whether the output is still a sequence.
fn streamable(nodes: &[Node], mut sequence: bool) -> Option<bool> {
    for node in nodes {
        if node.flatten && sequence {
            return None;
        }
        match &node.kind {
            NodeKind::Recurrent(spec) => {
                if !sequence {
                    return None;
                }
                sequence = !spec.last;
            }
            NodeKind::Dense { .. } => {
                if sequence && node.per_step.is_none() {
                    return None;
                }
            }
            NodeKind::Dropout { .. } => {}
            NodeKind::BatchNorm { .. } | NodeKind::LayerNorm { .. } if !sequence => {}
            NodeKind::Residual { body } => {
                if streamable(body, sequence)? != sequence {
                    return None;
                }
            }
            _ => return None,
        }
        if sequence && matches!(node.activation, Some(ActivationKind::Softmax)) {
            return None;
        }
    }
    Some(sequence)
}

/// Every recurrent node, depth first.
fn recurrent(nodes: &[Node]) -> Vec<&Node> {
    super::walk(nodes)
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| matches!(n.kind, NodeKind::Recurrent(_)))
        .collect()
}

/// The per-step size of a node's output: its last dimension on a sequence, else all.
fn step_size(shape: &[Size]) -> TokenStream {
    shape.last().map(Size::expr).unwrap_or_default()
}

/// The state type and `step`, or nothing when the network cannot stream.
pub fn stream(net: &Network) -> TokenStream {
    let Some([_, features]) = net.input_shape.as_deref() else {
        return TokenStream::new();
    };
    let layers = recurrent(&net.nodes);
    if layers.is_empty() || !net.ends_valid {
        return TokenStream::new();
    }
    let Some(_) = streamable(&net.nodes, true) else {
        return TokenStream::new();
    };
    let Some(out_shape) = net.nodes.last().and_then(|n| n.out_shape.clone()) else {
        return TokenStream::new();
    };
    let (p, scalar) = (private(), scalar());
    let (ident, vis, state) = (&net.ident, &net.vis, stream_ident(net));
    let fields = layers.iter().map(|n| {
        let name = &n.name;
        let NodeKind::Recurrent(spec) = &n.kind else {
            unreachable!()
        };
        let hidden = spec.hidden.expr();
        let ty = if spec.lstm {
            quote!(#p::LstmState<#scalar, #hidden>)
        } else {
            quote!(#p::SMatrix<#scalar, #hidden, 1>)
        };
        let doc = format!(" The state of `{}`.", n.label);
        quote!(#[doc = #doc] #vis #name: #ty)
    });
    let zeros = layers.iter().map(|n| {
        let name = &n.name;
        let NodeKind::Recurrent(spec) = &n.kind else {
            unreachable!()
        };
        if spec.lstm {
            quote!(#name: #p::LstmState::zeros())
        } else {
            quote!(#name: #p::SMatrix::zeros())
        }
    });
    let (code, out) = steps(&net.nodes, quote!(__v0), &mut 0);
    let (f, o) = (features.expr(), step_size(&out_shape));
    let doc = format!(
        " The streaming state of [`{}`]: every recurrent layer's state, zero at the start of a sequence.",
        net.ident.unraw()
    );
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug, PartialEq)]
        #vis struct #state<#scalar: #p::Scalar = f32> {
            #(#fields,)*
        }

        #[automatically_derived]
        impl<#scalar: #p::Scalar> #state<#scalar> {
            /// The state a sequence starts from: zeros.
            #vis fn new() -> Self {
                Self { #(#zeros,)* }
            }

            /// Back to the start of a sequence.
            #vis fn reset(&mut self) {
                *self = Self::new();
            }
        }

        #[automatically_derived]
        impl<#scalar: #p::Scalar> ::core::default::Default for #state<#scalar> {
            fn default() -> Self {
                Self::new()
            }
        }

        #[automatically_derived]
        impl<#scalar: #p::Scalar> #ident<#scalar> {
            /// Streaming inference: one time step's features in, one output out (the
            /// network's output for the sequence so far: that step's row of a sequence
            /// output, or the output after a last-step layer), advancing `state`.
            /// Allocation-free; stepping through a sequence from a new state gives the
            /// bits `forward` gives for the whole sequence.
            #[allow(non_snake_case, unused_mut)] // locals named after layers
            #vis fn step(
                &self,
                state: &mut #state<#scalar>,
                x: &#p::SMatrix<#scalar, #f, 1>,
            ) -> #p::SMatrix<#scalar, #o, 1> {
                let __v0 = *x;
                #code
                #out
            }
        }
    }
}

/// The step code of `nodes` from the local `input`; returns the code and the local that
/// holds the result. `k` numbers the locals.
fn steps(nodes: &[Node], input: TokenStream, k: &mut usize) -> (TokenStream, TokenStream) {
    let p = private();
    let scalar = scalar();
    let mut code = TokenStream::new();
    let mut v = input;
    for node in nodes {
        let name = &node.name;
        *k += 1;
        let next = format_ident!("__v{}", *k);
        let size = node.out_shape.as_deref().map(step_size).unwrap_or_default();
        let compute = match &node.kind {
            NodeKind::Recurrent(_) => {
                quote!(let mut #next = self.#name.step(&#v, &mut state.#name);)
            }
            NodeKind::Dense { .. } if node.per_step.is_some() => {
                quote!(let mut #next = self.#name.forward_step(&#v);)
            }
            NodeKind::Dense { .. } => quote! {
                let mut #next = #p::SMatrix::<#scalar, #size, 1>::zeros();
                self.#name.forward(&#v, &mut #next);
            },
            NodeKind::BatchNorm { .. } => quote! {
                let mut #next = #p::SMatrix::<#scalar, #size, 1>::zeros();
                self.#name.forward_inference_channels(&#v, &mut #next);
            },
            NodeKind::LayerNorm { .. } => quote! {
                let mut #next = #p::SMatrix::<#scalar, #size, 1>::zeros();
                self.#name.forward_inference(&#v, &mut #next);
            },
            NodeKind::Residual { body } => {
                let (body_code, body_out) = steps(body, v.clone(), k);
                quote! {
                    #body_code
                    let mut #next = #p::SMatrix::<#scalar, #size, 1>::zeros();
                    #p::residual_sum(&#v, &#body_out, &mut #next);
                }
            }
            // Dropout: the identity at inference.
            _ => quote!(let mut #next = #v;),
        };
        let activation =
            activation_value(node).map(|a| quote!(#p::Activation::forward(&#a, &mut #next);));
        code.extend(quote!(#compute #activation));
        v = quote!(#next);
    }
    (code, v)
}
