//! The backward pass: the chain rule applied node by node in reverse, as straight-line
//! code. A checkpointed node first recomputes its inside from its input; the first
//! layer's input gradient is only computed when asked for.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use super::forward::{train_node, Mode as Forward};
use super::{
    activation_value, buffers, geometry, has_dropout, input, place_of, private, stored, Place,
};
use crate::ast::{ActivationKind, Network, Node, NodeKind};

/// What backward does with each parameter gradient.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Add it to `__grads`, or write it there when `__overwrite` (in scope: `__x`,
    /// `__tape`, `__dout`, `__grads`, `__dx: Option<&mut SMatrix<T, IN, B>>` and
    /// `__overwrite: bool`, a constant at each call).
    Accumulate,
    /// Apply plain SGD with `__lr` at once, with no gradient buffer (in scope: `__x`,
    /// `__tape`, `__dout`, `__lr`). Each node's input gradient is computed before its
    /// parameters change.
    Sgd,
}

/// For a layer whose backward only adds to its gradient: clears the gradient first when
/// `__overwrite` (each layer's backward runs once, so this writes every gradient). The
/// slice's `fill`, a `memset`: nalgebra's `Matrix::fill` goes element by element.
fn clear_when_overwriting(node: &Node) -> TokenStream {
    let (name, scalar) = (&node.name, super::scalar());
    let fields = super::params::tensor_fields(node);
    quote! {
        if __overwrite {
            #(__grads.#name.#fields.as_mut_slice().fill(<#scalar as ::core::default::Default>::default());)*
        }
    }
}

/// The output size of a block's body: its last node's.
fn node_body_output(body: &[Node]) -> TokenStream {
    body.last().map(super::output).unwrap_or_default()
}

pub fn backward_body(net: &Network, mode: Mode) -> TokenStream {
    let last = net.nodes.last().expect("validated: at least one layer");
    let d = format_ident!("__d_{}", last.label);
    let nodes = backward_nodes(&net.nodes, false, &quote!(__x), &d, None, mode, true);
    // A last Dense layer without activation only reads its output gradient: borrow it
    // instead of copying `OUT x B` values onto the stack. Anything else changes it in
    // place (an activation's or a norm's backward, dropout's mask), so gets a copy.
    let read_only = matches!(last.kind, NodeKind::Dense { .. }) && activation_value(last).is_none();
    let bind = if read_only {
        quote!(let #d = __dout;)
    } else {
        quote!(let mut #d = *__dout;)
    };
    quote! {
        #bind
        #nodes
    }
}

/// Where backward reads a node's buffer: the tape if it was kept, else the local a
/// recomputation filled.
fn read(node: &Node, inside: bool, suffix: &str) -> TokenStream {
    let kept = buffers(node)
        .iter()
        .find(|b| b.suffix == suffix)
        .is_some_and(|b| stored(node, inside, b));
    place_of(node, suffix, if kept { Place::Tape } else { Place::Local })
}

/// Backward through `nodes` (whose input is `input`), starting from `d_last`, the
/// gradient with respect to the last node's output. The gradient with respect to the
/// first node's input is bound to `d_first` (when given).
fn backward_nodes(
    nodes: &[Node],
    inside: bool,
    input: &TokenStream,
    d_last: &Ident,
    d_first: Option<&Ident>,
    mode: Mode,
    network_start: bool,
) -> TokenStream {
    let mut code = TokenStream::new();
    for k in (0..nodes.len()).rev() {
        let node = &nodes[k];
        let node_input = match k {
            0 => input.clone(),
            _ => {
                let previous = read(&nodes[k - 1], inside, "");
                quote!(&#previous)
            }
        };
        let d = if k + 1 == nodes.len() {
            d_last.clone()
        } else {
            format_ident!("__d_{}", node.label)
        };
        let d_input = match k {
            0 => d_first.cloned(),
            _ => Some(format_ident!("__d_{}", nodes[k - 1].label)),
        };
        code.extend(backward_node(
            node,
            inside,
            &node_input,
            &d,
            d_input.as_ref(),
            mode,
            network_start && k == 0,
        ));
    }
    code
}

#[allow(clippy::too_many_arguments)]
fn backward_node(
    node: &Node,
    inside: bool,
    node_input: &TokenStream,
    d: &Ident,
    d_input: Option<&Ident>,
    mode: Mode,
    first_of_network: bool,
) -> TokenStream {
    let scalar = super::scalar();
    let batch = super::batch();
    let p = private();
    let name = &node.name;
    let mut code = TokenStream::new();
    // A checkpointed node recomputes its inside from its input, replaying its dropout
    // masks from the RNG state it saved.
    if node.checkpoint && !inside {
        let rng = format_ident!("__rng_{}", node.label);
        if let NodeKind::Residual { body } = &node.kind {
            if has_dropout(body) {
                let field = super::tape_field(node, "rng");
                code.extend(quote!(let mut #rng = __tape.#field.clone();));
            }
        }
        let (recompute, _) = train_node(
            node,
            false,
            node_input,
            Forward::Recompute,
            &quote!(&mut #rng),
        );
        code.extend(recompute);
    }
    if let Some(activation) = activation_value(node) {
        let uses_input = node
            .activation
            .as_ref()
            .is_some_and(ActivationKind::uses_input);
        let at = read(node, inside, if uses_input { "pre" } else { "" });
        code.extend(quote!(#p::Activation::backward(&#activation, &#at, &mut #d);));
    }
    // Where the input gradient goes: the previous node's output gradient, or for the
    // network's first node a local copied to `__dx` when asked for.
    let local_input = format_ident!("__dinput");
    let target = d_input.unwrap_or(&local_input);
    let rows = input(node);
    let fresh = quote!(let mut #target = #p::SMatrix::<#scalar, #rows, #batch>::zeros(););
    let hand_out = (first_of_network && mode == Mode::Accumulate).then(|| {
        quote! {
            if let ::core::option::Option::Some(__dx) = __dx {
                __dx.copy_from(&#target);
            }
        }
    });
    let wanted = d_input.is_some() || hand_out.is_some();
    match &node.kind {
        NodeKind::Dense { .. } => {
            let update = match mode {
                Mode::Accumulate => quote! {
                    if __overwrite {
                        self.#name.backward_params_overwrite(#node_input, &#d, &mut __grads.#name);
                    } else {
                        self.#name.backward_params(#node_input, &#d, &mut __grads.#name);
                    }
                },
                Mode::Sgd => quote!(self.#name.sgd_update(#node_input, &#d, __lr);),
            };
            let input_gradient = match (d_input, first_of_network, mode) {
                (Some(target), _, _) => Some(quote! {
                    let mut #target = #p::SMatrix::<#scalar, #rows, #batch>::zeros();
                    self.#name.backward_input(&#d, &mut #target);
                }),
                (None, true, Mode::Accumulate) => Some(quote! {
                    if let ::core::option::Option::Some(__dx) = __dx {
                        self.#name.backward_input(&#d, __dx);
                    }
                }),
                _ => None,
            };
            // The input gradient reads the weights, so it comes before an in-place update.
            code.extend(match mode {
                Mode::Accumulate => quote!(#update #input_gradient),
                Mode::Sgd => quote!(#input_gradient #update),
            });
            return code;
        }
        NodeKind::Conv { .. } | NodeKind::Recurrent(_) => {
            // The input gradient: into the previous node's gradient, into `__dx` for the
            // network's first layer when asked, else not computed.
            let (prepare, dx) = match (d_input, first_of_network, mode) {
                (Some(target), _, _) => (
                    quote!(let mut #target = #p::SMatrix::<#scalar, #rows, #batch>::zeros();),
                    quote!(::core::option::Option::Some(&mut #target)),
                ),
                (None, true, Mode::Accumulate) => (TokenStream::new(), quote!(__dx)),
                _ => (TokenStream::new(), quote!(::core::option::Option::None)),
            };
            // What the layer's `backward` reads besides the gradients, and a zero gradient.
            let (inputs, zeros) = if let NodeKind::Conv { .. } = &node.kind {
                let g = geometry(node);
                (quote!(#g, #node_input), quote!(#p::Conv::zeros()))
            } else {
                let cache = read(node, inside, "cache");
                let ty = super::recurrent_type(node);
                (quote!(#node_input, &#cache), quote!(<#ty>::zeros()))
            };
            let call = match mode {
                Mode::Accumulate => {
                    let clear = clear_when_overwriting(node);
                    quote!(#clear self.#name.backward(#inputs, &#d, &mut __grads.#name, #dx);)
                }
                Mode::Sgd => {
                    let grad = format_ident!("__g_{}", node.label);
                    quote! {
                        let mut #grad = #zeros;
                        self.#name.backward(#inputs, &#d, &mut #grad, #dx);
                        self.#name.sgd_apply(&#grad, __lr);
                    }
                }
            };
            code.extend(quote!(#prepare #call));
            return code;
        }
        NodeKind::Pool { spec, .. } => {
            let g = geometry(node);
            let call = if spec.max {
                let winners = read(node, inside, "winners");
                quote!(#p::max_pool_backward(#g, &#d, &#winners, &mut #target);)
            } else {
                quote!(#p::avg_pool_backward(#g, &#d, &mut #target);)
            };
            if wanted {
                code.extend(quote!(#fresh #call));
            }
        }
        NodeKind::Transpose => {
            if wanted {
                // The inverse permutation: transpose back from the output's rows.
                let rows = node
                    .out_shape
                    .as_deref()
                    .and_then(|s| s.first())
                    .map(crate::ast::Size::expr)
                    .unwrap_or_default();
                code.extend(quote!(#fresh #p::transpose(#rows, &#d, &mut #target);));
            }
        }
        NodeKind::GlobalAvgPool => {
            if wanted {
                code.extend(quote!(#fresh #p::global_avg_backward(&#d, &mut #target);));
            }
        }
        NodeKind::BatchNorm { .. } => {
            let (xhat, inv) = (read(node, inside, "xhat"), read(node, inside, "invstd"));
            let call = match mode {
                Mode::Accumulate => {
                    let clear = clear_when_overwriting(node);
                    quote!(#clear self.#name.backward_channels(&#xhat, &#inv, &#d, &mut __grads.#name, &mut #target);)
                }
                Mode::Sgd => {
                    let g = format_ident!("__g_{}", node.label);
                    quote! {
                        let mut #g = #p::BatchNorm::zeros();
                        self.#name.backward_channels(&#xhat, &#inv, &#d, &mut #g, &mut #target);
                        self.#name.sgd_apply(&#g, __lr);
                    }
                }
            };
            code.extend(quote!(#fresh #call));
        }
        NodeKind::LayerNorm { .. } => {
            let (xhat, inv) = (read(node, inside, "xhat"), read(node, inside, "invstd"));
            let call = match mode {
                Mode::Accumulate => {
                    let clear = clear_when_overwriting(node);
                    quote!(#clear self.#name.backward(&#xhat, &#inv, &#d, &mut __grads.#name, &mut #target);)
                }
                Mode::Sgd => {
                    let g = format_ident!("__g_{}", node.label);
                    let layer = if matches!(node.kind, NodeKind::BatchNorm { .. }) {
                        quote!(#p::BatchNorm)
                    } else {
                        quote!(#p::LayerNorm)
                    };
                    quote! {
                        let mut #g = #layer::zeros();
                        self.#name.backward(&#xhat, &#inv, &#d, &mut #g, &mut #target);
                        self.#name.sgd_apply(&#g, __lr);
                    }
                }
            };
            code.extend(quote!(#fresh #call));
        }
        NodeKind::Dropout { p: probability, .. } => {
            let probability = probability.expr();
            let mask = read(node, inside, "mask");
            code.extend(quote!(#p::Dropout { p: #probability }.backward(&#mask, &mut #d);));
            if wanted {
                code.extend(quote!(let mut #target = #d;));
            }
        }
        NodeKind::Residual { body } => {
            let (d_body, d_body_input) = (
                format_ident!("__db_{}", node.label),
                format_ident!("__dbi_{}", node.label),
            );
            let body_code = backward_nodes(
                body,
                inside || node.checkpoint,
                node_input,
                &d_body,
                Some(&d_body_input),
                mode,
                false,
            );
            let body_rows = node_body_output(body);
            code.extend(quote! {
                let mut #d_body = #p::SMatrix::<#scalar, #body_rows, #batch>::zeros();
                #p::residual_copy(&#d, &mut #d_body);
                #body_code
                let mut #target = #d_body_input;
                #p::residual_add(&#d, &mut #target);
            });
        }
    }
    code.extend(hand_out);
    code
}
