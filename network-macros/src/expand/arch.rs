//! `Network::ARCHITECTURE`: the forward pass as data (`network_core::arch::Op`), every
//! size an expression the compiler evaluates, so named constants resolve too.

use proc_macro2::TokenStream;
use quote::quote;

use super::{geometry, input, norm_features, output, private};
use crate::ast::{ActivationKind, Network, Node, NodeKind};

/// The ops of `nodes`, in forward order.
pub fn ops(nodes: &[Node]) -> Vec<TokenStream> {
    let p = private();
    let mut out = Vec::new();
    for node in nodes {
        let name = &node.label;
        match &node.kind {
            NodeKind::Dense { outputs, .. } => {
                let (i, o, per_step) = match &node.per_step {
                    Some(features) => (features.expr(), outputs.expr(), true),
                    None => (input(node), output(node), false),
                };
                out.push(quote!(#p::Op::Dense { name: #name, inputs: #i, outputs: #o, per_step: #per_step }));
            }
            NodeKind::BatchNorm { .. } => {
                let channels = norm_features(node);
                let spatial = node.in_shape.as_ref().map_or(0, |s| s.len().max(1) - 1);
                out.push(quote!(#p::Op::BatchNorm { name: #name, channels: #channels, spatial: #spatial }));
            }
            NodeKind::LayerNorm { .. } => {
                let features = output(node);
                out.push(quote!(#p::Op::LayerNorm { name: #name, features: #features }));
            }
            NodeKind::Dropout { p: prob, .. } => {
                let prob = prob.expr();
                out.push(quote!(#p::Op::Dropout { name: #name, p: #prob }));
            }
            NodeKind::Residual { body } => {
                out.push(quote!(#p::Op::ResidualBegin { name: #name }));
                out.extend(ops(body));
                out.push(quote!(#p::Op::ResidualEnd { name: #name }));
            }
            NodeKind::Conv { spec, .. } => {
                let g = geometry(node);
                let (one_d, bias) = (spec.dims == 1, spec.bias);
                out.push(
                    quote!(#p::Op::Conv { name: #name, geometry: *#g, one_d: #one_d, bias: #bias }),
                );
            }
            NodeKind::Pool { spec, .. } => {
                let g = geometry(node);
                let one_d = spec.dims == 1;
                let variant = if spec.max {
                    quote!(MaxPool)
                } else {
                    quote!(AvgPool)
                };
                out.push(quote!(#p::Op::#variant { name: #name, geometry: *#g, one_d: #one_d }));
            }
            NodeKind::Recurrent(spec) => {
                let (steps, features) = match node.in_shape.as_deref() {
                    Some([t, f]) => (t.expr(), f.expr()),
                    _ => (quote!(0), quote!(0)),
                };
                let (lstm, last, hidden) = (spec.lstm, spec.last, spec.hidden.expr());
                out.push(quote!(#p::Op::Recurrent {
                    name: #name, lstm: #lstm, steps: #steps, features: #features, hidden: #hidden, last: #last
                }));
            }
            NodeKind::Transpose => out.push(quote!(#p::Op::Transpose)),
            NodeKind::GlobalAvgPool => {
                let channels = output(node);
                out.push(quote!(#p::Op::GlobalAvgPool { name: #name, channels: #channels }));
            }
        }
        let activation = match &node.activation {
            None | Some(ActivationKind::Identity) => None,
            Some(ActivationKind::Relu) => Some(quote!(Relu)),
            Some(ActivationKind::LeakyRelu(a)) => {
                let a = a.as_ref().map_or(quote!(0.01), |a| a.expr());
                Some(quote!(LeakyRelu(#a)))
            }
            Some(ActivationKind::Elu(a)) => {
                let a = a.as_ref().map_or(quote!(1.0), |a| a.expr());
                Some(quote!(Elu(#a)))
            }
            Some(ActivationKind::Gelu) => Some(quote!(Gelu)),
            Some(ActivationKind::Softplus) => Some(quote!(Softplus)),
            Some(ActivationKind::Sigmoid) => Some(quote!(Sigmoid)),
            Some(ActivationKind::Tanh) => Some(quote!(Tanh)),
            Some(ActivationKind::Softmax) => Some(quote!(Softmax)),
        };
        if let Some(a) = activation {
            out.push(quote!(#p::Op::Activation(#p::ActivationOp::#a)));
        }
        if node.flatten {
            out.push(quote!(#p::Op::Flatten));
        }
    }
    out
}

/// The per-sample input shape: the declared `Input<..>`, else `[IN]`.
pub fn input_shape(net: &Network, inputs: &TokenStream) -> TokenStream {
    match &net.input_shape {
        Some(shape) => {
            let dims = shape.iter().map(|d| d.expr());
            quote!(&[#(#dims),*])
        }
        None => quote!(&[#inputs]),
    }
}
