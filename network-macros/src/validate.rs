//! Checks across layers, and size resolution: every node learns its input and output
//! size. Every error is recorded; nothing stops at the first one. Sizes the macro cannot
//! read (named constants, const expressions) become spanned const assertions.

use std::collections::HashSet;

use crate::ast::{CheckKind, ConstCheck, Network, Node, NodeKind, Size, MAX_WEIGHTS};
use crate::ctxt::Ctxt;
use crate::shaped::{self, describe, describe_values, ConvGeometry, Padding, PoolGeometry, Shape};

pub fn check(cx: &Ctxt, net: &mut Network) {
    // `struct Iris {}`
    if !net.declared_elements {
        cx.error_spanned_by(
            &net.ident,
            format!(
                "network `{}` declares no layers; add one such as `hidden: Dense<4, 16>`",
                net.ident
            ),
        );
    }
    check_unique_names(cx, &net.nodes, &mut HashSet::new());
    let mut checks = Vec::new();
    check_named_sizes(&net.nodes, &mut HashSet::new(), &mut checks);
    if let (Some(shape), Some(first)) = (&net.input_shape, net.nodes.first()) {
        let n: usize = shape.iter().product();
        let size = Size::Literal {
            value: n,
            tokens: quote::ToTokens::to_token_stream(&first.name),
        };
        let shape = shape.clone();
        resolve(cx, &mut net.nodes, (size, None), Some(shape), &mut checks);
    } else if let Some(first) = net.nodes.first() {
        match first_input(&net.nodes) {
            Some(size) => {
                let size = size.clone();
                let shape = size.literal().map(|n| vec![n]);
                resolve(cx, &mut net.nodes, (size, None), shape, &mut checks);
            }
            // `hidden: Dense<16>` as the first layer: nothing to infer the input size from.
            None => {
                // An `Input<..>` that was refused is the one error about the input.
                if !first.follows_invalid && !net.input_declared {
                    cx.error_spanned_by(&first.name, first_input_message(first));
                }
                // The layers after it are still checked, from its output.
                if let NodeKind::Dense { outputs, .. } = &first.kind {
                    let start = (outputs.clone(), Some(first.label.clone()));
                    let shape = outputs.literal().map(|n| vec![n]);
                    net.nodes[0].output = Some(outputs.clone());
                    resolve(cx, &mut net.nodes[1..], start, shape, &mut checks);
                }
            }
        }
    }
    net.const_checks = checks;
    // `#[weights("cnn.bin")]`: the raw decoder knows dense and norm layers only.
    if let Some((_, attr)) = &net.weights {
        let shaped = super::expand::walk(&net.nodes)
            .iter()
            .any(|(n, _)| matches!(n.kind, NodeKind::Conv { .. }) || n.norm_features().is_some());
        if shaped {
            cx.error_spanned_by(
                attr,
                "`#[weights]` does not read convolution layers or batch norm over channels yet; load such a network at run time with `network::raw::load_bytes`",
            );
        }
    }
}

fn first_input_message(first: &Node) -> String {
    match &first.kind {
        NodeKind::Dense { outputs, .. } => format!(
            "the first layer `{}` must state its input size: `{}: Dense<inputs, {}>`",
            first.label,
            first.label,
            outputs.tokens()
        ),
        NodeKind::Conv { spec, .. } => format!(
            "the first layer `{}` needs the shape of its input: start the declaration with `{}`",
            first.label,
            if spec.dims == 1 { "Input<channels, length>" } else { "Input<channels, height, width>" }
        ),
        NodeKind::Pool { .. } | NodeKind::GlobalAvgPool => format!(
            "the first layer `{}` needs the shape of its input: start the declaration with `Input<channels, ...>`",
            first.label
        ),
        NodeKind::Residual { body } => match body.first() {
            Some(inner) => first_input_message(inner),
            None => format!(
                "the first layer `{}` must state its input size",
                first.label
            ),
        },
        _ => format!(
            "the first layer `{}` must state its input size: `{}: {}<inputs>`",
            first.label,
            first.label,
            first.kind_name()
        ),
    }
}

/// The network's input size: what its first node states.
fn first_input(nodes: &[Node]) -> Option<&Size> {
    let first = nodes.first()?;
    match &first.kind {
        NodeKind::Residual { body } => first_input(body),
        _ => first.written_input(),
    }
}

// `a: Dense<4, 8>, Relu, a: Dense<8, 2>`, also across nested blocks.
fn check_unique_names(cx: &Ctxt, nodes: &[Node], seen: &mut HashSet<String>) {
    for node in nodes {
        let name = node.label.clone();
        if !seen.insert(name.clone()) {
            cx.error_spanned_by(
                &node.name,
                format!("duplicate layer name `{name}`; every layer needs its own name"),
            );
        }
        if let NodeKind::Residual { body } = &node.kind {
            check_unique_names(cx, body, seen);
        }
    }
}

/// Walks `nodes` from an input of `size` produced by `producer` (`None`: the network's
/// input), recording each node's sizes; returns the output size and its producer.
fn resolve(
    cx: &Ctxt,
    nodes: &mut [Node],
    (mut size, mut producer): (Size, Option<String>),
    mut shape: Option<Shape>,
    checks: &mut Vec<ConstCheck>,
) -> (Size, Option<String>, Option<Shape>) {
    for node in nodes.iter_mut() {
        let name = node.label.clone();
        node.input = Some(size.clone());
        node.in_shape = shape.clone();
        let shaped = shape.as_ref().is_some_and(|s| s.len() > 1);
        // `hidden: Dense<4, 16>, deeper: Dense<8, 16>`: the written input size against
        // what the previous layer produces.
        let is_norm = matches!(node.kind, NodeKind::BatchNorm { .. });
        if let (Some(written), Some(producer), false) =
            (node.written_input(), &producer, node.follows_invalid)
        {
            let what = if matches!(node.kind, NodeKind::Dense { .. }) {
                "inputs"
            } else {
                "features"
            };
            match (written.literal(), shape.as_deref()) {
                // `bn: BatchNorm<8>` after a convolution: its size is the channels.
                (Some(w), Some(s @ [channels, _, ..])) if is_norm => {
                    if w != *channels && w != 0 {
                        cx.error_spanned_by(
                            written.tokens(),
                            format!("layer `{name}` normalizes {w} channels but `{producer}` produces {} ({channels} channels)", describe(s)),
                        );
                    }
                }
                // `fc: Dense<100, 10>` after `[8, 13]`: the flattened count.
                (Some(w), Some(s)) if s.len() > 1 => {
                    let n: usize = s.iter().product();
                    if w != n && w != 0 {
                        cx.error_spanned_by(
                            written.tokens(),
                            format!(
                                "layer `{name}` takes {w} {what} but `{producer}` produces {}",
                                describe_values(s)
                            ),
                        );
                    }
                }
                _ => compare(
                    cx,
                    checks,
                    written,
                    &size,
                    format!("layer `{name}` takes {{}} {what} but `{producer}` produces {{}}"),
                ),
            }
        }
        let producer_text = producer
            .as_ref()
            .map_or("`Input`".to_string(), |p| format!("`{p}`"));
        let mut out_shape: Option<Shape>;
        let output = match &mut node.kind {
            NodeKind::Dense { outputs, .. } => {
                out_shape = outputs.literal().map(|n| vec![n]);
                outputs.clone()
            }
            NodeKind::LayerNorm { .. } | NodeKind::Dropout { .. } | NodeKind::BatchNorm { .. } => {
                out_shape = shape.clone();
                size.clone()
            }
            NodeKind::Conv { spec, geometry } => {
                let Some((g, out)) =
                    conv_geometry(cx, &name, spec, shape.as_deref(), &producer_text)
                else {
                    // Reported; the layers after it are checked from nothing.
                    return (size, None, None);
                };
                *geometry = Some(g);
                out_shape = Some(out.clone());
                literal_size(&out, node.name.span())
            }
            NodeKind::Pool { spec, geometry } => {
                let Some((g, out)) =
                    pool_geometry(cx, &name, spec, shape.as_deref(), &producer_text)
                else {
                    return (size, None, None);
                };
                *geometry = Some(g);
                out_shape = Some(out.clone());
                literal_size(&out, node.name.span())
            }
            NodeKind::GlobalAvgPool => match shape.as_deref() {
                Some([channels, _, ..]) => {
                    out_shape = Some(vec![*channels]);
                    literal_size(&[*channels], node.name.span())
                }
                other => {
                    cx.error_spanned_by(
                        &node.name,
                        format!(
                            "layer `{name}` averages each channel of a [channels, ...] input but {producer_text} produces {}",
                            other.map_or("a size the macro cannot read".to_string(), describe)
                        ),
                    );
                    return (size, None, None);
                }
            },
            NodeKind::Residual { body } => {
                let (out, last, body_shape) = resolve(
                    cx,
                    body,
                    (size.clone(), producer.clone()),
                    shape.clone(),
                    checks,
                );
                // `block: Residual { c: Conv1d<8, 3> }` on [8, 10]: [8, 8] back.
                if let (Some(a), Some(b), true) = (&body_shape, &shape, shaped) {
                    if a != b {
                        cx.error_spanned_by(
                            &node.name,
                            format!(
                                "residual block `{name}` must produce its input shape: its last layer `{}` produces {} but the block takes {}",
                                last.clone().unwrap_or_default(),
                                describe(a),
                                describe(b)
                            ),
                        );
                        return (size, None, None);
                    }
                }
                // `block: Residual { a: Dense<16, 8> }`: the sum needs equal sizes.
                let last = last.unwrap_or_default();
                compare(
                    cx,
                    checks,
                    &out,
                    &size,
                    format!("residual block `{name}` must produce its input size: its last layer `{last}` produces {{}} but the block takes {{}}"),
                );
                // The block produces its input size (a mismatch is reported above, once).
                out_shape = shape.clone();
                size.clone()
            }
        };
        if node.flatten {
            out_shape = out_shape.map(|s| vec![s.iter().product()]);
        }
        node.output = Some(output.clone());
        node.out_shape = out_shape.clone();
        check_weights(cx, node, checks);
        size = output;
        shape = out_shape;
        producer = Some(name);
    }
    (size, producer, shape)
}

/// A size the macro computed.
fn literal_size(shape: &[usize], span: proc_macro2::Span) -> Size {
    let value: usize = shape.iter().product();
    Size::Literal {
        value,
        tokens: quote::quote_spanned!(span=> #value),
    }
}

/// What a shaped layer needs from its input, as a message when it is missing.
fn needs(
    cx: &Ctxt,
    name: &str,
    kind: &str,
    dims: usize,
    shape: Option<&[usize]>,
    producer: &str,
    tokens: &proc_macro2::TokenStream,
) -> Option<(usize, usize, usize)> {
    let wanted = if dims == 1 {
        "[channels, length]"
    } else {
        "[channels, height, width]"
    };
    match (dims, shape) {
        (1, Some(&[c, l])) => Some((c, 1, l)),
        (2, Some(&[c, h, w])) => Some((c, h, w)),
        (_, Some(s)) => {
            cx.error_spanned_by(
                tokens,
                format!(
                    "layer `{name}` (`{kind}`) takes a {wanted} input but {producer} produces {}",
                    describe(s)
                ),
            );
            None
        }
        (_, None) => {
            cx.error_spanned_by(
                tokens,
                format!("layer `{name}` (`{kind}`) takes a {wanted} input but the shape {producer} produces is not known to the macro (state it with `Input<..>` first; named constants are not read in shapes)"),
            );
            None
        }
    }
}

fn conv_geometry(
    cx: &Ctxt,
    name: &str,
    spec: &shaped::ConvSpec,
    shape: Option<&[usize]>,
    producer: &str,
) -> Option<(ConvGeometry, Shape)> {
    let kind = if spec.dims == 1 { "Conv1d" } else { "Conv2d" };
    let (c, h, w) = needs(cx, name, kind, spec.dims, shape, producer, &spec.tokens)?;
    let fail = |message: String| {
        cx.error_spanned_by(&spec.tokens, format!("layer `{name}`: {message}"));
        None
    };
    let (k, s, d) = (spec.kernel, spec.stride, spec.dilation);
    if spec.out_channels == 0 || k.0 == 0 || k.1 == 0 {
        return fail("the output channels and the kernel size must be at least 1".into());
    }
    if s.0 == 0 || s.1 == 0 {
        return fail("the stride must be at least 1".into());
    }
    if d.0 == 0 || d.1 == 0 {
        return fail("the dilation must be at least 1".into());
    }
    if spec.groups == 0
        || !c.is_multiple_of(spec.groups)
        || !spec.out_channels.is_multiple_of(spec.groups)
    {
        return fail(format!(
            "{c} input and {} output channels must both be divisible by the {} groups",
            spec.out_channels, spec.groups
        ));
    }
    let total = |k: usize, d: usize| d * (k - 1);
    let (pad_h, pad_w) = match spec.padding {
        Padding::Fixed(h, w) => (h, w),
        Padding::Same => {
            if s != (1, 1) {
                return fail("padding \"same\" needs a stride of 1 (as in PyTorch)".into());
            }
            let (th, tw) = (total(k.0, d.0), total(k.1, d.1));
            ((th / 2, th - th / 2), (tw / 2, tw - tw / 2))
        }
        Padding::Causal => ((0, 0), (total(k.1, d.1), 0)),
    };
    let g = ConvGeometry {
        in_channels: c,
        height: h,
        width: w,
        out_channels: spec.out_channels,
        kernel: k,
        stride: s,
        pad_h,
        pad_w,
        dilation: d,
        groups: spec.groups,
    };
    let (Some(ho), Some(wo)) = (g.out_height(), g.out_width()) else {
        let input = shape.map(describe).unwrap_or_default();
        let kernel = if spec.dims == 1 {
            format!("{} (dilation {})", k.1, d.1)
        } else {
            format!("{}x{} (dilation {}x{})", k.0, k.1, d.0, d.1)
        };
        return fail(format!(
            "its kernel {kernel} is larger than its padded input: {producer} produces {input}"
        ));
    };
    if g.filter_len().saturating_mul(spec.out_channels) > MAX_WEIGHTS {
        return fail(format!(
            "it has more than the {MAX_WEIGHTS} weights one layer may have"
        ));
    }
    let out = if spec.dims == 1 {
        vec![spec.out_channels, wo]
    } else {
        vec![spec.out_channels, ho, wo]
    };
    if out.iter().product::<usize>() > crate::ast::MAX_SIZE {
        return fail(format!(
            "its output {} has more than {} values",
            describe(&out),
            crate::ast::MAX_SIZE
        ));
    }
    Some((g, out))
}

fn pool_geometry(
    cx: &Ctxt,
    name: &str,
    spec: &shaped::PoolSpec,
    shape: Option<&[usize]>,
    producer: &str,
) -> Option<(PoolGeometry, Shape)> {
    let kind = match (spec.max, spec.dims) {
        (true, 1) => "MaxPool1d",
        (true, _) => "MaxPool2d",
        (false, 1) => "AvgPool1d",
        (false, _) => "AvgPool2d",
    };
    let (c, h, w) = needs(cx, name, kind, spec.dims, shape, producer, &spec.tokens)?;
    let fail = |message: String| {
        cx.error_spanned_by(&spec.tokens, format!("layer `{name}`: {message}"));
        None
    };
    let (k, s, p) = (spec.kernel, spec.stride, spec.padding);
    if k.0 == 0 || k.1 == 0 {
        return fail("the window must be at least 1".into());
    }
    if s.0 == 0 || s.1 == 0 {
        return fail("the stride must be at least 1".into());
    }
    if 2 * p.0 > k.0 || 2 * p.1 > k.1 {
        return fail("the padding must be at most half the window (as in PyTorch)".into());
    }
    if spec.max && k.0 * k.1 > 256 {
        return fail("a max-pooling window holds at most 256 values".into());
    }
    let g = PoolGeometry {
        channels: c,
        height: h,
        width: w,
        kernel: k,
        stride: s,
        padding: p,
    };
    let (Some(ho), Some(wo)) = (g.out_height(), g.out_width()) else {
        let input = shape.map(describe).unwrap_or_default();
        return fail(format!(
            "its window is larger than its padded input: {producer} produces {input}"
        ));
    };
    let out = if spec.dims == 1 {
        vec![c, wo]
    } else {
        vec![c, ho, wo]
    };
    Some((g, out))
}

/// Range checks of every size once: a named size gets const assertions (at least 1, at
/// most `MAX_SIZE`) at its first use; a dense layer's weight count must stay within
/// `MAX_WEIGHTS`, checked here for literals.
fn check_named_sizes(nodes: &[Node], seen: &mut HashSet<String>, checks: &mut Vec<ConstCheck>) {
    for node in nodes {
        let name = &node.label;
        if let NodeKind::Residual { body } = &node.kind {
            check_named_sizes(body, seen, checks);
        }
        for size in node.written_sizes() {
            // `hidden: Dense<4, N>` with `const N: usize = 0;` (once per constant)
            if matches!(size, Size::Named { .. }) && seen.insert(size.tokens().to_string()) {
                checks.push(ConstCheck {
                    left: size.clone(),
                    kind: CheckKind::Positive,
                    message: format!(
                        "layer `{name}` has a size of 0 ({}); a layer needs at least one input and one output",
                        size.describe()
                    ),
                });
                checks.push(ConstCheck {
                    left: size.clone(),
                    kind: CheckKind::AtMost,
                    message: format!(
                        "layer `{name}` has a size ({}) above {}, the largest a layer may have",
                        size.describe(),
                        crate::ast::MAX_SIZE
                    ),
                });
            }
        }
    }
}

/// `hidden: Dense<65536, 65536>`: more weights than one layer may have.
fn check_weights(cx: &Ctxt, node: &Node, checks: &mut Vec<ConstCheck>) {
    let NodeKind::Dense { outputs, .. } = &node.kind else {
        return;
    };
    let Some(inputs) = &node.input else {
        return;
    };
    let message = format!(
        "layer `{}` has {} x {} weights, more than the {MAX_WEIGHTS} one layer may have",
        node.label,
        outputs.describe(),
        inputs.describe()
    );
    match (inputs.literal(), outputs.literal()) {
        (Some(i), Some(o)) => {
            if i.saturating_mul(o) > MAX_WEIGHTS {
                cx.error_spanned_by(outputs.tokens(), message);
            }
        }
        _ => checks.push(ConstCheck {
            left: outputs.clone(),
            kind: CheckKind::Weights(inputs.clone()),
            message,
        }),
    }
}

/// Records an error for two different literals, or a const check when either is named.
/// `template` has two `{}`: the `left` then the `right` description.
fn compare(cx: &Ctxt, checks: &mut Vec<ConstCheck>, left: &Size, right: &Size, template: String) {
    let message = template
        .replacen("{}", &left.describe(), 1)
        .replacen("{}", &right.describe(), 1);
    match (left.literal(), right.literal()) {
        // A size of 0 is reported where it is written, not again by its neighbour.
        (Some(0), _) | (_, Some(0)) => {}
        (Some(a), Some(b)) if a != b => cx.error_spanned_by(left.tokens(), message),
        (Some(_), Some(_)) => {}
        _ => checks.push(ConstCheck {
            left: left.clone(),
            kind: CheckKind::Equal(right.clone()),
            message,
        }),
    }
}
