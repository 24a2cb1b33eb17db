//! Post-training int8 quantization: `Net::quantize(calibration)` returns a generated
//! `NetInt8` (per-channel symmetric int8 weights, `i32` biases, fixed-point
//! requantization, ReLU fused into the clamp; see `network_core::quant`), which runs on
//! integers alone, `no_std` and allocation-free.
//!
//! Generated for networks made of dense layers and convolutions (each optionally
//! followed by a batch norm, folded into its weights) whose activations are ReLU or none,
//! max or average pooling, global average pooling, `Flatten` and dropout (the identity
//! at inference); the last layer is a dense layer or a convolution, optionally with a
//! softmax, which stays on the float side (it only rescales the logits, whose order the
//! integers keep). Anything else (layer norm, residual blocks, recurrent layers, other
//! activations) means no quantized type in this version.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::ext::IdentExt;

use super::{geometry, input, output, private, scalar};
use crate::ast::{ActivationKind, Network, Node, NodeKind};

/// The quantized type's name: `IrisInt8` for `Iris`.
fn quant_ident(net: &Network) -> syn::Ident {
    format_ident!("{}Int8", net.ident.unraw())
}

/// One operation of the integer network.
enum Step<'a> {
    /// A dense layer or a convolution, with the batch norm folded into it, if any, and
    /// whether a ReLU follows.
    Layer {
        node: &'a Node,
        norm: Option<&'a Node>,
        relu: bool,
    },
    /// Max or average pooling, global average pooling.
    Pool(&'a Node),
}

/// Whether an activation can be an integer clamp: `Some(relu)`, or `None`.
fn clamp(activation: &Option<ActivationKind>) -> Option<bool> {
    match activation {
        None | Some(ActivationKind::Identity) => Some(false),
        Some(ActivationKind::Relu) => Some(true),
        _ => None,
    }
}

/// The integer steps of `net`, and whether a softmax ends it, or `None` when the network
/// has a layer or activation without an integer form here.
fn steps(net: &Network) -> Option<(Vec<Step<'_>>, bool)> {
    let nodes = &net.nodes;
    let mut steps = Vec::new();
    let mut softmax = false;
    let mut k = 0;
    while k < nodes.len() {
        let node = &nodes[k];
        let last = k + 1 == nodes.len();
        match &node.kind {
            NodeKind::Dense { .. } | NodeKind::Conv { .. } => {
                if node.per_step.is_some() {
                    return None;
                }
                let next = nodes.get(k + 1);
                let norm = next.filter(|n| {
                    matches!(n.kind, NodeKind::BatchNorm { .. }) && node.activation.is_none()
                });
                let activation = &norm.unwrap_or(node).activation;
                let ends = k + 1 + usize::from(norm.is_some()) == nodes.len();
                let relu = match activation {
                    Some(ActivationKind::Softmax) if ends => {
                        softmax = true;
                        false
                    }
                    other => clamp(other)?,
                };
                steps.push(Step::Layer { node, norm, relu });
                k += 1 + usize::from(norm.is_some());
                continue;
            }
            NodeKind::Pool { .. } | NodeKind::GlobalAvgPool if !last => {
                if node.activation.is_some() {
                    return None;
                }
                steps.push(Step::Pool(node));
            }
            NodeKind::Dropout { .. } if !last && node.activation.is_none() => {}
            _ => return None,
        }
        k += 1;
    }
    matches!(steps.last(), Some(Step::Layer { .. })).then_some((steps, softmax))
}

/// Whether a dense layer or convolution is a convolution, and its `K` weights per
/// channel (a dense layer's inputs, a convolution's filter length) and `O` channels.
fn int8_shape(n: &Node) -> (bool, TokenStream, TokenStream) {
    match &n.kind {
        NodeKind::Conv {
            spec,
            geometry: Some(g),
        } => {
            let k = g.filter_len();
            (true, quote!(#k), spec.out_channels.expr())
        }
        _ => (false, input(n), output(n)),
    }
}

pub fn quant(net: &Network) -> TokenStream {
    if !net.ends_valid || net.nodes.is_empty() {
        return TokenStream::new();
    }
    let Some((steps, softmax)) = steps(net) else {
        return TokenStream::new();
    };
    let (p, scalar) = (private(), scalar());
    let (ident, vis, q) = (&net.ident, &net.vis, quant_ident(net));
    let (inputs, outputs) = (input(&net.nodes[0]), output(net.nodes.last().unwrap()));
    let layers: Vec<_> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Layer { node, norm, relu } => Some((*node, *norm, *relu)),
            Step::Pool(_) => None,
        })
        .collect();
    let names: Vec<_> = layers.iter().map(|(n, ..)| &n.name).collect();
    // A layer's int8 type and its reader: `O` channels of `K` weights each.
    let layer_type = |n: &Node| match int8_shape(n) {
        (true, k, o) => quote!(#p::ConvInt8<#o, { #k }>),
        (false, k, o) => quote!(#p::DenseInt8<#k, #o>),
    };
    let fields = layers.iter().map(|(n, norm, _)| {
        let (name, ty) = (&n.name, layer_type(n));
        let folded = norm.map_or(String::new(), |b| format!(" with `{}` folded in", b.label));
        let doc = format!(" `{}`{folded}, in integers.", n.label);
        quote!(#[doc = #doc] #vis #name: #ty)
    });

    // Integer inference: one step after another, tracking the current quantization.
    let mut integer_steps = Vec::new();
    let mut quant = quote!(self.input);
    for (k, step) in steps.iter().enumerate() {
        let (from, to) = (format_ident!("__q{}", k), format_ident!("__q{}", k + 1));
        let node = match step {
            Step::Layer { node, .. } | Step::Pool(node) => *node,
        };
        let (name, i, o, g) = (&node.name, input(node), output(node), geometry(node));
        integer_steps.push(match &node.kind {
            NodeKind::Dense { .. } => quote!(let #to = self.#name.forward(&#from);),
            NodeKind::Conv { .. } => {
                quote!(let #to = self.#name.forward::<#i, #o>(#g, &#from);)
            }
            NodeKind::Pool { spec, .. } => {
                let call = if spec.max {
                    quote!(#p::max_pool_i8(#g, #from.as_slice(), #to.as_mut_slice());)
                } else {
                    quote!(#p::avg_pool_i8(#g, #quant.zero_point, #from.as_slice(), #to.as_mut_slice());)
                };
                quote!(let mut #to = #p::SMatrix::<i8, #o, 1>::zeros(); #call)
            }
            _ => quote! {
                let mut #to = #p::SMatrix::<i8, #o, 1>::zeros();
                #p::global_avg_i8(#quant.zero_point, #from.as_slice(), #to.as_mut_slice());
            },
        });
        if let Step::Layer { .. } = step {
            quant = quote!(self.#name.output);
        }
    }
    let q_out = format_ident!("__q{}", steps.len());
    let output_quant = quant;

    // Calibration: the float inference one sample at a time; each layer's range is its
    // output's (after the batch norm and activation, before a final softmax).
    let float_code = super::forward::logits_code(&net.nodes, quote!(__v0));
    let observe = layers.iter().enumerate().map(|(k, (node, norm, _))| {
        let local = format_ident!("__i_{}", norm.unwrap_or(node).label);
        quote!(__ranges[#k].observe(#local.as_slice());)
    });
    let count = layers.len();
    let batch = super::batch();
    let construct = layers.iter().enumerate().map(|(k, (node, norm, relu))| {
        let name = &node.name;
        let input_quant = if k == 0 {
            quote!(__input.quant())
        } else {
            let previous = k - 1;
            quote!(__ranges[#previous].quant())
        };
        // One call per layer into the runtime (no closures here: they made the type
        // checking of a deep network's `quantize` grow faster than its layers).
        let norm = match norm {
            Some(b) => {
                let b = &b.name;
                quote!(::core::option::Option::Some(&self.#b))
            }
            None => quote!(::core::option::Option::None),
        };
        let ty = layer_type(node);
        let from = match node.kind {
            NodeKind::Conv { .. } => quote!(from_conv),
            _ => quote!(from_dense),
        };
        quote! {
            #name: <#ty>::#from(&self.#name, #norm, #input_quant, __ranges[#k].quant(), #relu)
        }
    });

    // The raw format (`network::quant::raw`): the header, every layer, the checksum.
    let raw_len = layers.iter().map(|(n, ..)| {
        let (_, k, o) = int8_shape(n);
        quote!(+ #p::quant_dense_bytes(#k, #o))
    });
    let count_u8 = u8::try_from(count).unwrap_or(u8::MAX);
    let read_layers = layers.iter().map(|(n, ..)| {
        let name = &n.name;
        let read = match int8_shape(n) {
            (true, k, o) => quote!(__reader.conv::<#o, { #k }>()),
            (false, k, o) => quote!(__reader.dense::<#k, #o>()),
        };
        quote! {
            let #name = match #read {
                Ok(__layer) => __layer,
                Err(__e) => return Err(__e),
            };
        }
    });
    let write_layers = layers.iter().map(|(n, ..)| {
        let name = &n.name;
        match n.kind {
            NodeKind::Conv { .. } => quote!(__writer.conv(&self.#name);),
            _ => quote!(__writer.dense(&self.#name);),
        }
    });
    let softmax_code = softmax.then(|| quote!(#p::Activation::forward(&#p::Softmax, &mut __out);));
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

            /// Quantizes `x` with the input's parameters (in `f32`, see
            /// `ActivationQuant::quantizer`), runs the integer layers and dequantizes the
            /// output (a final softmax runs in float).
            #vis fn forward(&self, x: &#p::SMatrix<f32, #inputs, 1>) -> #p::SMatrix<f32, #outputs, 1> {
                let __quantizer = self.input.quantizer();
                let __x = #p::SMatrix::<i8, #inputs, 1>::from_fn(|r, _| __quantizer.quantize(x[r]));
                let __y = self.forward_q(&__x);
                let __scale = #output_quant;
                let mut __out = #p::SMatrix::<f32, #outputs, 1>::from_fn(|r, _| __scale.dequantize(__y[r]) as f32);
                #softmax_code
                __out
            }

            /// The length of [`Self::to_raw`]'s output.
            #vis const RAW_LEN: usize =
                #p::QUANT_HEADER_BYTES #(#raw_len)* + #p::QUANT_CHECKSUM_BYTES;

            /// Writes the quantized network in the raw format of `network::quant::raw`
            /// (every integer and scale, with a checksum) into `out`; returns the
            /// bytes written ([`Self::RAW_LEN`]), or an error if `out` is too short.
            #vis fn to_raw(&self, out: &mut [u8]) -> Result<usize, #p::QuantRawError> {
                let mut __writer = #p::QuantWriter::new(out, Self::RAW_LEN, #count_u8, self.input)?;
                #(#write_layers)*
                Ok(__writer.finish())
            }

            /// Reads a network written by [`Self::to_raw`], checking everything (size,
            /// header, every layer's shape, every scale and multiplier, the checksum).
            /// A `const fn`: in a `static`'s initializer the network is decoded by the
            /// compiler and stays in flash, and bad data is a compile error.
            #vis const fn from_raw(bytes: &[u8]) -> Result<Self, #p::QuantRawError> {
                let mut __reader = match #p::QuantReader::new(bytes, Self::RAW_LEN, #count_u8) {
                    Ok(__reader) => __reader,
                    Err(__e) => return Err(__e),
                };
                let input = match __reader.input() {
                    Ok(__input) => __input,
                    Err(__e) => return Err(__e),
                };
                #(#read_layers)*
                Ok(Self { input, #(#names,)* })
            }

            /// The index of the largest output (integers keep the order of the logits).
            #vis fn predict(&self, x: &#p::SMatrix<f32, #inputs, 1>) -> usize {
                let __quantizer = self.input.quantizer();
                let __x = #p::SMatrix::<i8, #inputs, 1>::from_fn(|r, _| __quantizer.quantize(x[r]));
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
            /// the float layers (inference: running statistics, no dropout), takes the
            /// range of the input and of every dense layer's and convolution's output
            /// (after its batch norm and activation; before a final softmax), and
            /// quantizes every layer to those ranges, a batch norm folded into the layer
            /// before it.
            #vis fn quantize(&self, calibration: &[#p::SMatrix<#scalar, #inputs, 1>]) -> #q {
                #[allow(non_upper_case_globals)]
                const #batch: usize = 1;
                let mut __input = #p::QuantRange::default();
                let mut __ranges = [#p::QuantRange::default(); #count];
                for __v0 in calibration {
                    __input.observe(__v0.as_slice());
                    #float_code
                    #(#observe)*
                }
                #q {
                    input: __input.quant(),
                    #(#construct,)*
                }
            }
        }
    }
}
