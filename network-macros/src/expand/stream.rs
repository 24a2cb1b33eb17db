//! Streaming inference: a state type holding every stateful layer's state (`NetStream`:
//! recurrent layers' states, causal convolutions' past inputs) and `Net::step`, which
//! takes one time step and returns one output, allocation-free, through the same
//! arithmetic as the whole-sequence `forward` (so stepping through a sequence gives its
//! bits; causal convolutions: with the portable kernels).
//!
//! Generated when the input is two-dimensional, some layer keeps state, and every layer
//! can run one step at a time: on a sequence `Input<steps, features>`, recurrent layers,
//! per-step dense layers and, after a last-step output, dense layers and norms; on a
//! signal `Input<channels, length>` whose first layer is a convolution, causal 1-d
//! convolutions at stride 1 (their past inputs in ring buffers) and batch norm; and
//! anywhere dropout (the identity at inference), residual blocks and activations
//! (softmax only on a vector). A whole-sequence layer (a dense layer over a flattened
//! sequence, pooling, a non-causal convolution) means no streaming code.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::ext::IdentExt;

use super::{activation_value, private, scalar};
use crate::ast::{ActivationKind, Network, Node, NodeKind, Size};

/// The stream state's name: `IrisStream` for `Iris`.
pub fn stream_ident(net: &Network) -> syn::Ident {
    format_ident!("{}Stream", net.ident.unraw())
}

/// What a value is while streaming: one step of a sequence `[T, F]` (time-major), one
/// column of a signal `[C, L]` (channel-major, for causal convolutions), or a vector.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Sequence,
    Channels,
    Vector,
}

/// A convolution that can run one step at a time: 1-d, causal, stride 1.
fn causal(spec: &crate::shaped::ConvSpec) -> bool {
    spec.dims == 1
        && matches!(spec.padding, crate::shaped::Padding::Causal)
        && spec.stride.1.literal() == Some(1)
}

/// Whether `nodes` can run one step at a time from `mode`; returns the mode after them.
fn streamable(nodes: &[Node], mut mode: Mode) -> Option<Mode> {
    for node in nodes {
        if node.flatten && mode != Mode::Vector {
            return None;
        }
        match &node.kind {
            NodeKind::Recurrent(spec) => {
                if mode != Mode::Sequence {
                    return None;
                }
                if spec.last {
                    mode = Mode::Vector;
                }
            }
            NodeKind::Conv { spec, .. } => {
                if mode != Mode::Channels || !causal(spec) {
                    return None;
                }
            }
            NodeKind::Dense { .. } => match mode {
                Mode::Sequence if node.per_step.is_some() => {}
                Mode::Vector => {}
                _ => return None,
            },
            NodeKind::Dropout { .. } => {}
            // A column of channels at step t is that step's features, and back.
            NodeKind::Transpose => {
                mode = match mode {
                    Mode::Channels => Mode::Sequence,
                    Mode::Sequence => Mode::Channels,
                    Mode::Vector => return None,
                }
            }
            NodeKind::BatchNorm { .. } if mode != Mode::Sequence => {}
            NodeKind::LayerNorm { .. } if mode == Mode::Vector => {}
            NodeKind::Residual { body } => {
                if streamable(body, mode)? != mode {
                    return None;
                }
            }
            _ => return None,
        }
        if mode != Mode::Vector && matches!(node.activation, Some(ActivationKind::Softmax)) {
            return None;
        }
    }
    Some(mode)
}

/// The nodes that keep state while streaming (recurrent layers, causal convolutions),
/// depth first.
fn stateful(nodes: &[Node]) -> Vec<&Node> {
    super::walk(nodes)
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| matches!(n.kind, NodeKind::Recurrent(_) | NodeKind::Conv { .. }))
        .collect()
}

/// The per-step size of a value of `shape` in `mode`: the features of a sequence step
/// (its last dimension), the channels of a signal column (its first), or all of a
/// vector.
fn step_size(shape: &[Size], mode: Mode) -> TokenStream {
    match mode {
        Mode::Channels => shape.first(),
        _ => shape.last(),
    }
    .map(Size::expr)
    .unwrap_or_default()
}

/// The state type and `step`, or nothing when the network cannot stream.
pub fn stream(net: &Network) -> TokenStream {
    let Some(input @ [_, _]) = net.input_shape.as_deref() else {
        return TokenStream::new();
    };
    let layers = stateful(&net.nodes);
    if layers.is_empty() || !net.ends_valid {
        return TokenStream::new();
    }
    // A signal for causal convolutions when the first layer is one, else a sequence.
    let start = match super::walk(&net.nodes).first().map(|(n, _)| &n.kind) {
        Some(NodeKind::Conv { .. }) => Mode::Channels,
        _ => Mode::Sequence,
    };
    let Some(end) = streamable(&net.nodes, start) else {
        return TokenStream::new();
    };
    let Some(out_shape) = net.nodes.last().and_then(|n| n.out_shape.clone()) else {
        return TokenStream::new();
    };
    let (p, scalar) = (private(), scalar());
    let (ident, vis, state) = (&net.ident, &net.vis, stream_ident(net));
    let fields = layers.iter().map(|n| {
        let name = &n.name;
        let ty = match &n.kind {
            NodeKind::Recurrent(spec) => {
                let hidden = spec.hidden.expr();
                if spec.lstm {
                    quote!(#p::LstmState<#scalar, #hidden>)
                } else {
                    quote!(#p::SMatrix<#scalar, #hidden, 1>)
                }
            }
            NodeKind::Conv { spec, .. } => {
                // The last `(kernel - 1) * dilation + 1` input columns.
                let channels = n
                    .in_shape
                    .as_deref()
                    .and_then(|s| s.first())
                    .map(Size::value)
                    .unwrap_or_default();
                let (k, d) = (spec.kernel.1.value(), spec.dilation.1.value());
                quote!(#p::ConvHistory<#scalar, { #channels * ((#k - 1) * #d + 1) }>)
            }
            _ => TokenStream::new(),
        };
        let doc = format!(" The state of `{}`.", n.label);
        quote!(#[doc = #doc] #vis #name: #ty)
    });
    let zeros = layers.iter().map(|n| {
        let name = &n.name;
        match &n.kind {
            NodeKind::Recurrent(spec) if spec.lstm => quote!(#name: #p::LstmState::zeros()),
            NodeKind::Recurrent(_) => quote!(#name: #p::SMatrix::zeros()),
            _ => quote!(#name: #p::ConvHistory::new()),
        }
    });
    let (code, out) = steps(&net.nodes, quote!(__v0), start, &mut 0);
    let (f, o) = (step_size(input, start), step_size(&out_shape, end));
    let doc = format!(
        " The streaming state of [`{}`]: every stateful layer's state, empty at the start of a sequence.",
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
            /// The state a sequence starts from.
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
            /// Streaming inference: one time step in (a sequence step's features, or a
            /// signal's column of channels), one output out (that step's output, or the
            /// output for the sequence so far after a last-step layer), advancing
            /// `state`. Allocation-free; stepping through a sequence from a new state
            /// gives the bits `forward` gives for the whole sequence.
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

/// The step code of `nodes` from the local `input` in `mode`; returns the code and the
/// local that holds the result. `k` numbers the locals.
fn steps(
    nodes: &[Node],
    input: TokenStream,
    mut mode: Mode,
    k: &mut usize,
) -> (TokenStream, TokenStream) {
    let p = private();
    let scalar = scalar();
    let mut code = TokenStream::new();
    let mut v = input;
    for node in nodes {
        let name = &node.name;
        *k += 1;
        let next = format_ident!("__v{}", *k);
        match &node.kind {
            NodeKind::Recurrent(spec) if spec.last => mode = Mode::Vector,
            NodeKind::Transpose => {
                mode = if mode == Mode::Channels {
                    Mode::Sequence
                } else {
                    Mode::Channels
                }
            }
            _ => {}
        }
        let size = node
            .out_shape
            .as_deref()
            .map(|s| step_size(s, mode))
            .unwrap_or_default();
        let compute = match &node.kind {
            NodeKind::Recurrent(_) => {
                quote!(let mut #next = self.#name.step(&#v, &mut state.#name);)
            }
            NodeKind::Conv { .. } => {
                let g = super::geometry(node);
                quote!(let mut #next = self.#name.step_causal(#g, &#v, &mut state.#name);)
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
                let (body_code, body_out) = steps(body, v.clone(), mode, k);
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
