//! Forward passes: one call per layer operation, written out in order. Inference keeps
//! every buffer local; training records on the tape what backward needs, or, inside a
//! checkpointed node, keeps it local so that backward recomputes it.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{
    activation_value, buffers, geometry, has_dropout, norm_count, output, place_of, private,
    stored, Place,
};
use crate::ast::{ActivationKind, Network, Node, NodeKind};

/// Body of `forward`: inference (running statistics, no dropout).
pub fn inference_body(net: &Network) -> TokenStream {
    let (code, out) = infer_nodes(&net.nodes, quote!(__x));
    let result = match out {
        Out::Local(ident) => quote!(#ident),
        Out::Borrowed(reference) => quote!(*#reference),
    };
    quote! {
        #code
        #result
    }
}

/// Where a node's inference output is.
enum Out {
    /// A local the node owns.
    Local(syn::Ident),
    /// A reference to its input (dropout without an activation).
    Borrowed(TokenStream),
}

impl Out {
    fn reference(&self) -> TokenStream {
        match self {
            Out::Local(ident) => quote!(&#ident),
            Out::Borrowed(reference) => reference.clone(),
        }
    }
}

/// Inference code for `nodes` from the reference `input` that leaves every node's
/// output in a local `__i_{label}` (a dropout without activation has none), a final
/// softmax not applied: the logits, which int8 calibration observes.
pub fn logits_code(nodes: &[Node], input: TokenStream) -> TokenStream {
    let mut code = TokenStream::new();
    let mut input = input;
    for (k, node) in nodes.iter().enumerate() {
        let last_softmax =
            k + 1 == nodes.len() && matches!(node.activation, Some(ActivationKind::Softmax));
        let (c, o) = infer_node_with(node, &input, !last_softmax);
        code.extend(c);
        input = o.reference();
    }
    code
}

fn infer_nodes(nodes: &[Node], mut input: TokenStream) -> (TokenStream, Out) {
    let mut code = TokenStream::new();
    let mut out = Out::Borrowed(input.clone());
    for node in nodes {
        let (c, o) = infer_node(node, &input);
        code.extend(c);
        input = o.reference();
        out = o;
    }
    (code, out)
}

fn infer_node(node: &Node, input: &TokenStream) -> (TokenStream, Out) {
    infer_node_with(node, input, true)
}

/// [`infer_node`], the activation left out unless `activation`.
fn infer_node_with(node: &Node, input: &TokenStream, activation: bool) -> (TokenStream, Out) {
    let scalar = super::scalar();

    let batch = super::batch();
    let p = private();
    let (name, rows) = (&node.name, output(node));
    let local = format_ident!("__i_{}", node.label);
    let fresh = quote!(let mut #local = #p::SMatrix::<#scalar, #rows, #batch>::zeros(););
    let compute = match &node.kind {
        NodeKind::Dense { .. } => quote!(#fresh self.#name.forward(#input, &mut #local);),
        NodeKind::BatchNorm { .. } => {
            quote!(#fresh self.#name.forward_inference_channels(#input, &mut #local);)
        }
        NodeKind::LayerNorm { .. } => {
            quote!(#fresh self.#name.forward_inference(#input, &mut #local);)
        }
        NodeKind::Conv { .. } => {
            let g = geometry(node);
            quote!(#fresh self.#name.forward(#g, #input, &mut #local);)
        }
        NodeKind::Pool { spec, .. } => {
            let g = geometry(node);
            if spec.max {
                quote!(#fresh #p::max_pool_forward(#g, #input, &mut #local, ::core::option::Option::None);)
            } else {
                quote!(#fresh #p::avg_pool_forward(#g, #input, &mut #local);)
            }
        }
        NodeKind::GlobalAvgPool => quote!(#fresh #p::global_avg_forward(#input, &mut #local);),
        NodeKind::Recurrent(_) => quote!(#fresh self.#name.forward(#input, &mut #local);),
        NodeKind::Transpose => {
            let r = super::transpose_rows(node);
            quote!(#fresh #p::transpose(#r, #input, &mut #local);)
        }
        NodeKind::Dropout { .. } => match activation_value(node) {
            // Inference is the identity: no code, no copy.
            None => return (TokenStream::new(), Out::Borrowed(input.clone())),
            Some(_) => quote!(let mut #local = *#input;),
        },
        NodeKind::Residual { body } => {
            let (body_code, body_out) = infer_nodes(body, input.clone());
            let body_out = body_out.reference();
            quote! {
                #body_code
                #fresh
                #p::residual_sum(#input, #body_out, &mut #local);
            }
        }
    };
    let activation = activation_value(node)
        .filter(|_| activation)
        .map(|a| quote!(#p::Activation::forward(&#a, &mut #local);));
    (quote!(#compute #activation), Out::Local(local))
}

/// Recording on the tape (`forward_train`), or recomputing into locals (inside backward,
/// for a checkpointed node).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Record,
    Recompute,
}

/// Training forward code for `nodes`, from the reference `input`; returns the code and a
/// reference to the last node's output. `rng` is a `&mut Rng` expression for dropout.
pub fn train_nodes(
    nodes: &[Node],
    inside: bool,
    mut input: TokenStream,
    mode: Mode,
    rng: &TokenStream,
) -> (TokenStream, TokenStream) {
    let mut code = TokenStream::new();
    for node in nodes {
        let (c, out) = train_node(node, inside, &input, mode, rng);
        code.extend(c);
        input = out;
    }
    (code, input)
}

/// Where a node's buffer goes in this mode.
fn place(node: &Node, inside: bool, suffix: &str, mode: Mode) -> Place {
    let buffer = buffers(node).into_iter().find(|b| b.suffix == suffix);
    match (mode, buffer) {
        (Mode::Record, Some(b)) if stored(node, inside, &b) => Place::Tape,
        _ => Place::Local,
    }
}

pub fn train_node(
    node: &Node,
    inside: bool,
    input: &TokenStream,
    mode: Mode,
    rng: &TokenStream,
) -> (TokenStream, TokenStream) {
    let p = private();
    let name = &node.name;
    let at = |suffix: &str| place_of(node, suffix, place(node, inside, suffix, mode));
    // Locals for the buffers not kept on the tape.
    let declarations = buffers(node)
        .into_iter()
        .filter(|b| b.suffix != "rng")
        .filter_map(|b| {
            (place(node, inside, b.suffix, mode) == Place::Local).then(|| {
                let (local, ty) = (place_of(node, b.suffix, Place::Local), b.ty);
                quote!(let mut #local: #ty = #p::SMatrix::zeros();)
            })
        });
    let declarations: Vec<TokenStream> = declarations.collect();
    let uses_input = node
        .activation
        .as_ref()
        .is_some_and(ActivationKind::uses_input);
    let out = at("");
    let target = if uses_input { at("pre") } else { out.clone() };
    let compute = match &node.kind {
        NodeKind::Dense { .. } => quote!(self.#name.forward_inlined(#input, &mut #target);),
        NodeKind::Conv { .. } => {
            let g = geometry(node);
            quote!(self.#name.forward(#g, #input, &mut #target);)
        }
        NodeKind::Pool { spec, .. } => {
            let g = geometry(node);
            if spec.max {
                let winners = at("winners");
                quote!(#p::max_pool_forward(#g, #input, &mut #target, ::core::option::Option::Some(&mut #winners));)
            } else {
                quote!(#p::avg_pool_forward(#g, #input, &mut #target);)
            }
        }
        NodeKind::GlobalAvgPool => quote!(#p::global_avg_forward(#input, &mut #target);),
        NodeKind::Transpose => {
            let r = super::transpose_rows(node);
            quote!(#p::transpose(#r, #input, &mut #target);)
        }
        NodeKind::Recurrent(_) => {
            let cache = at("cache");
            quote!(self.#name.forward_train(#input, &mut #target, &mut #cache);)
        }
        NodeKind::BatchNorm { .. } => {
            let (xhat, inv) = (at("xhat"), at("invstd"));
            let stats = format_ident!("__stats_{}", node.label);
            let count = norm_count(node);
            let update = match mode {
                Mode::Record => {
                    quote!(self.#name.update_running_over(#count, &#stats.0, &#stats.1);)
                }
                Mode::Recompute => quote!(let _ = #stats;),
            };
            quote! {
                let #stats = self.#name.normalize_channels(#input, &mut #target, &mut #xhat, &mut #inv);
                #update
            }
        }
        NodeKind::LayerNorm { .. } => {
            let (xhat, inv) = (at("xhat"), at("invstd"));
            quote!(self.#name.forward(#input, &mut #target, &mut #xhat, &mut #inv);)
        }
        NodeKind::Dropout { p: probability, .. } => {
            let probability = probability.expr();
            let mask = at("mask");
            quote! {
                #target.copy_from(#input);
                #p::Dropout { p: #probability }.forward(&mut #target, &mut #mask, #rng);
            }
        }
        NodeKind::Residual { body } => {
            let capture = (mode == Mode::Record && node.checkpoint && !inside && has_dropout(body))
                .then(|| {
                    let field = super::tape_field(node, "rng");
                    quote!(__tape.#field = (#rng).clone();)
                });
            let (body_code, body_out) =
                train_nodes(body, inside || node.checkpoint, input.clone(), mode, rng);
            quote! {
                #capture
                #body_code
                #p::residual_sum(#input, #body_out, &mut #target);
            }
        }
    };
    let copy = uses_input.then(|| {
        let pre = at("pre");
        quote!(#out.copy_from(&#pre);)
    });
    let activation =
        activation_value(node).map(|a| quote!(#p::Activation::forward(&#a, &mut #out);));
    (
        quote! {
            #(#declarations)*
            #compute
            #copy
            #activation
        },
        quote!(&#out),
    )
}

/// Body of `forward_train`.
pub fn training_body(net: &Network) -> TokenStream {
    let (code, out) = train_nodes(
        &net.nodes,
        false,
        quote!(__x),
        Mode::Record,
        &quote!(&mut *__rng),
    );
    let unused = (!has_dropout(&net.nodes)).then(|| quote!(let _ = __rng;));
    quote! {
        #unused
        #code
        #out
    }
}
