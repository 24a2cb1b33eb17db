//! Checks across layers, and size resolution: every node learns its input and output
//! size. Every error is recorded; nothing stops at the first one. Sizes the macro cannot
//! read (named constants, const expressions) become spanned const assertions.

use std::collections::HashSet;

use crate::ast::{CheckKind, ConstCheck, Network, Node, NodeKind, Size, MAX_SIZE, MAX_WEIGHTS};
use crate::ctxt::Ctxt;
use crate::shaped::{self, describe, describe_values, literals, ConvGeometry, PoolGeometry, Shape};
use quote::ToTokens;

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
    let mut seen = HashSet::new();
    if let Some(shape) = &net.input_shape {
        input_dims(shape, &mut seen, &mut checks);
    }
    check_named_sizes(&net.nodes, &mut seen, &mut checks);
    if let (Some(shape), Some(first)) = (&net.input_shape, net.nodes.first()) {
        let span = quote::ToTokens::to_token_stream(&first.name);
        input_total(shape, &span, &mut checks);
        let size = Size::product(shape, &span);
        let shape = shape.clone();
        resolve(cx, &mut net.nodes, (size, None), Some(shape), &mut checks);
    } else if let Some(first) = net.nodes.first() {
        match first_input(&net.nodes) {
            Some(size) => {
                let size = size.clone();
                let shape = Some(vec![size.clone()]);
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
                    let shape = Some(vec![outputs.clone()]);
                    net.nodes[0].output = Some(outputs.clone());
                    resolve(cx, &mut net.nodes[1..], start, shape, &mut checks);
                }
            }
        }
    }
    net.const_checks = checks;
    // `#[weights("cnn.bin")]`: the raw decoder knows dense and norm layers only.
    if let Some((_, attr)) = &net.weights {
        let shaped = super::expand::walk(&net.nodes).iter().any(|(n, _)| {
            matches!(n.kind, NodeKind::Conv { .. } | NodeKind::Recurrent(_))
                || n.norm_features().is_some()
        });
        if shaped {
            cx.error_spanned_by(
                attr,
                "`#[weights]` does not read convolution or recurrent layers or batch norm over channels yet; load such a network at run time with `network::raw::load_bytes`",
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
    (size, producer): (Size, Option<String>),
    shape: Option<Shape>,
    checks: &mut Vec<ConstCheck>,
) -> (Size, Option<String>, Option<Shape>) {
    resolve_from(cx, nodes, (size, producer), shape, None, checks)
}

/// [`resolve`] from a value that may be a recurrent layer's sequence output (`sequence`:
/// its steps), on which a `Dense` applies to every step.
fn resolve_from(
    cx: &Ctxt,
    nodes: &mut [Node],
    (mut size, mut producer): (Size, Option<String>),
    mut shape: Option<Shape>,
    mut sequence: Option<Size>,
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
        if let (NodeKind::Dense { .. }, Some(_), Some([_, features])) =
            (&node.kind, &sequence, shape.as_deref())
        {
            node.per_step = Some(features.clone());
        }
        if let (Some(written), Some(features), Some(producer), false) = (
            node.written_input(),
            node.per_step.clone(),
            &producer,
            node.follows_invalid,
        ) {
            // `out: Dense<8, 1>` after `gru: Gru<8>`: the features of each step.
            compare(
                cx,
                checks,
                written,
                &features,
                format!("layer `{name}` takes {{}} inputs per step but `{producer}` produces {{}} per step"),
            );
        } else if let (Some(written), Some(producer), false) =
            (node.written_input(), &producer, node.follows_invalid)
        {
            let what = if matches!(node.kind, NodeKind::Dense { .. }) {
                "inputs"
            } else {
                "features"
            };
            match shape.as_deref() {
                // `bn: BatchNorm<8>` after a convolution: its size is the channels.
                Some(s @ [channels, _, ..]) if is_norm => match (written.literal(), channels.literal()) {
                    (Some(w), Some(c)) => {
                        if w != c && w != 0 {
                            cx.error_spanned_by(
                                written.tokens(),
                                format!("layer `{name}` normalizes {w} channels but `{producer}` produces {} ({c} channels)", describe(s)),
                            );
                        }
                    }
                    _ => compare(
                        cx,
                        checks,
                        written,
                        channels,
                        format!("layer `{name}` normalizes {{}} channels but `{producer}` produces {} ({{}} channels)", describe(s)),
                    ),
                },
                // `fc: Dense<100, 10>` after `[8, 13]`: the flattened count.
                Some(s) if s.len() > 1 => {
                    let n = Size::product(s, written.tokens());
                    match (written.literal(), n.literal()) {
                        (Some(w), Some(n)) => {
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
                            &n,
                            format!("layer `{name}` takes {{}} {what} but `{producer}` produces {} ({{}} values)", describe(s)),
                        ),
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
        let per_step = node.per_step.is_some();
        let output = match &mut node.kind {
            NodeKind::Dense { outputs, .. } if per_step => {
                let steps = sequence
                    .clone()
                    .unwrap_or_else(|| Size::computed(1, &node.name.to_token_stream()));
                let out = vec![steps, outputs.clone()];
                out_shape = Some(out.clone());
                Size::product(&out, &node.name.to_token_stream())
            }
            NodeKind::Dense { outputs, .. } => {
                out_shape = Some(vec![outputs.clone()]);
                outputs.clone()
            }
            NodeKind::LayerNorm { .. } | NodeKind::Dropout { .. } | NodeKind::BatchNorm { .. } => {
                out_shape = shape.clone();
                size.clone()
            }
            NodeKind::Conv { spec, geometry } => {
                let Some((g, out)) =
                    conv_geometry(cx, &name, spec, shape.as_deref(), &producer_text, checks)
                else {
                    // Reported; the layers after it are checked from nothing.
                    return (size, None, None);
                };
                *geometry = Some(Box::new(g));
                out_shape = Some(out.clone());
                Size::product(&out, &node.name.to_token_stream())
            }
            NodeKind::Pool { spec, geometry } => {
                let Some((g, out)) =
                    pool_geometry(cx, &name, spec, shape.as_deref(), &producer_text, checks)
                else {
                    return (size, None, None);
                };
                *geometry = Some(Box::new(g));
                out_shape = Some(out.clone());
                Size::product(&out, &node.name.to_token_stream())
            }
            NodeKind::Recurrent(spec) => {
                let kind = if spec.lstm { "Lstm" } else { "Gru" };
                match shape.as_deref() {
                    Some([steps, _features]) => {
                        let hidden = spec.hidden.clone();
                        out_shape = Some(if spec.last {
                            vec![hidden.clone()]
                        } else {
                            vec![steps.clone(), hidden.clone()]
                        });
                        let out = out_shape.clone().unwrap_or_default();
                        if output_size(cx, checks, &name, &out, &spec.tokens).is_none() {
                            return (size, None, None);
                        }
                        Size::product(&out, &node.name.to_token_stream())
                    }
                    other => {
                        cx.error_spanned_by(
                            &spec.tokens,
                            format!(
                                "layer `{name}` (`{kind}`) takes a sequence [steps, features] but {producer_text} produces {}",
                                other.map_or("a shape that is not known (state it with `Input<steps, features>` first)".to_string(), describe)
                            ),
                        );
                        return (size, None, None);
                    }
                }
            }
            NodeKind::Transpose => match shape.as_deref() {
                Some([a, b]) => {
                    out_shape = Some(vec![b.clone(), a.clone()]);
                    size.clone()
                }
                other => {
                    cx.error_spanned_by(
                        &node.name,
                        format!(
                            "layer `{name}` (`Transpose`) swaps the two dimensions of a [channels, length] or [steps, features] value but {producer_text} produces {}",
                            other.map_or("a shape that is not known (state it with `Input<..>` first)".to_string(), describe)
                        ),
                    );
                    return (size, None, None);
                }
            },
            NodeKind::GlobalAvgPool => match shape.as_deref() {
                Some([channels, _, ..]) => {
                    out_shape = Some(vec![channels.clone()]);
                    channels.clone()
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
                let (out, last, body_shape) = resolve_from(
                    cx,
                    body,
                    (size.clone(), producer.clone()),
                    shape.clone(),
                    sequence.clone(),
                    checks,
                );
                // `block: Residual { c: Conv1d<8, 3> }` on [8, 10]: [8, 8] back.
                if let (Some(a), Some(b), true) = (&body_shape, &shape, shaped) {
                    let message = || {
                        format!(
                            "residual block `{name}` must produce its input shape: its last layer `{}` produces {} but the block takes {}",
                            last.clone().unwrap_or_default(),
                            describe(a),
                            describe(b)
                        )
                    };
                    let (la, lb) = (
                        literals(&a.iter().collect::<Vec<_>>()),
                        literals(&b.iter().collect::<Vec<_>>()),
                    );
                    if a.len() == b.len() && (la.is_none() || lb.is_none()) {
                        // Named sizes: the compiler compares each dimension.
                        for (x, y) in a.iter().zip(b) {
                            checks.push(ConstCheck {
                                left: Size::computed(0, &node.name.to_token_stream()),
                                kind: CheckKind::Holds({
                                    let (x, y) = (x.value(), y.value());
                                    quote::quote!(#x == #y)
                                }),
                                message: message(),
                            });
                        }
                    } else if a.len() != b.len() || la != lb {
                        cx.error_spanned_by(&node.name, message());
                        return (size, None, None);
                    }
                }
                // `block: Residual { a: Dense<16, 8> }`: the sum needs equal sizes (shaped
                // values were compared dimension by dimension above).
                let last = last.unwrap_or_default();
                let compared = body_shape.is_some() && shape.is_some() && shaped;
                if !compared {
                    compare(
                    cx,
                    checks,
                    &out,
                    &size,
                    format!("residual block `{name}` must produce its input size: its last layer `{last}` produces {{}} but the block takes {{}}"),
                );
                }
                // The block produces its input size (a mismatch is reported above, once).
                out_shape = shape.clone();
                size.clone()
            }
        };
        if node.flatten {
            let span = node.name.to_token_stream();
            out_shape = out_shape.map(|s| vec![Size::product(&s, &span)]);
        }
        sequence = match &node.kind {
            NodeKind::Recurrent(spec) if !spec.last => {
                shape.as_ref().and_then(|s| s.first().cloned())
            }
            NodeKind::Dense { .. } if per_step => sequence.take(),
            NodeKind::Dropout { .. } | NodeKind::Residual { .. } => sequence.take(),
            _ => None,
        };
        if node.flatten {
            sequence = None;
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

/// What a shaped layer needs from its input, as a message when it is missing.
fn needs(
    cx: &Ctxt,
    name: &str,
    kind: &str,
    dims: usize,
    shape: Option<&[Size]>,
    producer: &str,
    tokens: &proc_macro2::TokenStream,
) -> Option<(Size, Size, Size)> {
    let wanted = if dims == 1 {
        "[channels, length]"
    } else {
        "[channels, height, width]"
    };
    match (dims, shape) {
        (1, Some([c, l])) => Some((c.clone(), shaped::one(l), l.clone())),
        (2, Some([c, h, w])) => Some((c.clone(), h.clone(), w.clone())),
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
                format!("layer `{name}` (`{kind}`) takes a {wanted} input but the shape {producer} produces is not known (state it with `Input<..>` first)"),
            );
            None
        }
    }
}

/// A check the compiler makes, underlining `tokens` with `message` when `condition`
/// is false.
fn holds(
    checks: &mut Vec<ConstCheck>,
    tokens: &proc_macro2::TokenStream,
    condition: proc_macro2::TokenStream,
    message: String,
) {
    checks.push(ConstCheck {
        left: Size::computed(0, tokens),
        kind: CheckKind::Holds(condition),
        message,
    });
}

/// `out_len` of sizes: computed here when all are literals, else an expression (at
/// least 1; `fits` then gets the condition that the window fits, for the caller to
/// check).
fn out_dim(
    n: &Size,
    pad: (&Size, &Size),
    (k, stride, dilation): (&Size, &Size, &Size),
    text: String,
    tokens: &proc_macro2::TokenStream,
    fits: &mut Vec<proc_macro2::TokenStream>,
) -> Option<Size> {
    let p = crate::expand::private();
    let parts = [n, pad.0, pad.1, k, stride, dilation];
    if let Some(v) = literals(&parts) {
        return shaped::out_len(v[0], v[1] + v[2], v[3], v[4], v[5])
            .map(|o| Size::computed(o, tokens));
    }
    let [n, a, b, k, s, d] = parts.map(Size::value);
    let value = quote::quote!(#p::conv_out_len(#n, #a + #b, #k, #s, #d));
    fits.push(quote::quote!(#value > 0));
    Some(Size::Derived {
        expr: quote::quote!(if #value == 0 { 1 } else { #value }),
        text,
        span: tokens.clone(),
    })
}

/// The padding `"same"` and `"causal"` need: `dilation * (kernel - 1)` in all.
fn total_padding(k: &Size, d: &Size, tokens: &proc_macro2::TokenStream) -> Size {
    Size::combine(
        &[k, d],
        |v| Some(v[1] * v[0].saturating_sub(1)),
        |e| {
            let (k, d) = (&e[0], &e[1]);
            quote::quote!(#d * (#k - 1))
        },
        format!("{} * ({} - 1)", d.describe(), k.describe()),
        tokens,
    )
    .unwrap_or_else(|| Size::computed(0, tokens))
}

/// `(total / 2, total - total / 2)`: PyTorch's split of "same" padding.
fn split(total: &Size, tokens: &proc_macro2::TokenStream) -> (Size, Size) {
    let half = |first: bool| {
        Size::combine(
            &[total],
            |v| Some(if first { v[0] / 2 } else { v[0] - v[0] / 2 }),
            |e| {
                let t = &e[0];
                if first {
                    quote::quote!(#t / 2)
                } else {
                    quote::quote!(#t - #t / 2)
                }
            },
            total.describe(),
            tokens,
        )
        .unwrap_or_else(|| Size::computed(0, tokens))
    };
    (half(true), half(false))
}

fn conv_geometry(
    cx: &Ctxt,
    name: &str,
    spec: &shaped::ConvSpec,
    shape: Option<&[Size]>,
    producer: &str,
    checks: &mut Vec<ConstCheck>,
) -> Option<(ConvGeometry, Shape)> {
    let kind = if spec.dims == 1 { "Conv1d" } else { "Conv2d" };
    let tokens = &spec.tokens;
    let (c, h, w) = needs(cx, name, kind, spec.dims, shape, producer, tokens)?;
    let fail = |message: String| {
        cx.error_spanned_by(tokens, format!("layer `{name}`: {message}"));
        None
    };
    let (k, s, d) = (&spec.kernel, &spec.stride, &spec.dilation);
    let zero = |sizes: &[&Size]| sizes.iter().any(|x| x.literal() == Some(0));
    if zero(&[&spec.out_channels, &k.0, &k.1]) {
        return fail("the output channels and the kernel size must be at least 1".into());
    }
    if zero(&[&s.0, &s.1]) {
        return fail("the stride must be at least 1".into());
    }
    if zero(&[&d.0, &d.1]) {
        return fail("the dilation must be at least 1".into());
    }
    let groups_message = format!(
        "{} input and {} output channels must both be divisible by the {} groups",
        c.describe(),
        spec.out_channels.describe(),
        spec.groups.describe()
    );
    match literals(&[&c, &spec.out_channels, &spec.groups]) {
        Some(v) => {
            if v[2] == 0 || !v[0].is_multiple_of(v[2]) || !v[1].is_multiple_of(v[2]) {
                return fail(groups_message);
            }
        }
        None => {
            let (ce, oe, ge) = (c.value(), spec.out_channels.value(), spec.groups.value());
            holds(
                checks,
                tokens,
                quote::quote!(#ce % #ge == 0 && #oe % #ge == 0),
                format!("layer `{name}`: {groups_message}"),
            );
        }
    }
    let zero_pad = || Size::computed(0, tokens);
    let (pad_h, pad_w) = match &spec.padding {
        shaped::Padding::Fixed(ph, pw) => ((ph.clone(), ph.clone()), (pw.clone(), pw.clone())),
        shaped::Padding::Same => {
            match literals(&[&s.0, &s.1]) {
                Some(v) if v != [1, 1] => {
                    return fail("padding \"same\" needs a stride of 1 (as in PyTorch)".into())
                }
                Some(_) => {}
                None => {
                    let (a, b) = (s.0.value(), s.1.value());
                    holds(
                        checks,
                        tokens,
                        quote::quote!(#a == 1 && #b == 1),
                        format!(
                            "layer `{name}`: padding \"same\" needs a stride of 1 (as in PyTorch)"
                        ),
                    );
                }
            }
            let (th, tw) = (
                total_padding(&k.0, &d.0, tokens),
                total_padding(&k.1, &d.1, tokens),
            );
            (split(&th, tokens), split(&tw, tokens))
        }
        shaped::Padding::Causal => (
            (zero_pad(), zero_pad()),
            (total_padding(&k.1, &d.1, tokens), zero_pad()),
        ),
    };
    let mut fits = Vec::new();
    let ho = out_dim(
        &h,
        (&pad_h.0, &pad_h.1),
        (&k.0, &s.0, &d.0),
        format!("the output height of `{name}`"),
        tokens,
        &mut fits,
    );
    let wo = out_dim(
        &w,
        (&pad_w.0, &pad_w.1),
        (&k.1, &s.1, &d.1),
        format!("the output length of `{name}`"),
        tokens,
        &mut fits,
    );
    let (Some(ho), Some(wo)) = (ho, wo) else {
        let input = shape.map(describe).unwrap_or_default();
        let kernel = if spec.dims == 1 {
            format!("{} (dilation {})", k.1.describe(), d.1.describe())
        } else {
            format!(
                "{}x{} (dilation {}x{})",
                k.0.describe(),
                k.1.describe(),
                d.0.describe(),
                d.1.describe()
            )
        };
        return fail(format!(
            "its kernel {kernel} is larger than its padded input: {producer} produces {input}"
        ));
    };
    if !fits.is_empty() {
        let input = shape.map(describe).unwrap_or_default();
        holds(
            checks,
            tokens,
            quote::quote!(#(#fits)&&*),
            format!("layer `{name}`: its kernel is larger than its padded input: {producer} produces {input}"),
        );
    }
    let g = ConvGeometry {
        in_channels: c,
        height: h,
        width: w,
        out_channels: spec.out_channels.clone(),
        kernel: k.clone(),
        stride: s.clone(),
        pad_h,
        pad_w,
        dilation: d.clone(),
        groups: spec.groups.clone(),
    };
    let weights_message = format!("it has more than the {MAX_WEIGHTS} weights one layer may have");
    match literals(&[&g.in_channels, &g.groups, &k.0, &k.1, &spec.out_channels]) {
        Some(v) => {
            let filter = v[0] / v[1].max(1) * v[2] * v[3];
            if filter.saturating_mul(v[4]) > MAX_WEIGHTS {
                return fail(weights_message);
            }
        }
        None => {
            let (f, o) = (g.filter_len(), spec.out_channels.value());
            holds(
                checks,
                tokens,
                quote::quote!(#o > #MAX_WEIGHTS || #f <= #MAX_WEIGHTS / #o),
                format!("layer `{name}`: {weights_message}"),
            );
        }
    }
    let out = if spec.dims == 1 {
        vec![spec.out_channels.clone(), wo]
    } else {
        vec![spec.out_channels.clone(), ho, wo]
    };
    output_size(cx, checks, name, &out, tokens)?;
    Some((g, out))
}

/// A layer's output holds at most `MAX_SIZE` values.
fn output_size(
    cx: &Ctxt,
    checks: &mut Vec<ConstCheck>,
    name: &str,
    out: &[Size],
    tokens: &proc_macro2::TokenStream,
) -> Option<()> {
    let message = format!(
        "layer `{name}`: its output {} has more than {} values",
        describe(out),
        crate::ast::MAX_SIZE
    );
    let total = Size::product(out, tokens);
    match total.literal() {
        Some(n) if n > crate::ast::MAX_SIZE => {
            cx.error_spanned_by(tokens, message);
            None
        }
        Some(_) => Some(()),
        None => {
            let t = total.value();
            holds(checks, tokens, quote::quote!(#t <= #MAX_SIZE), message);
            Some(())
        }
    }
}

fn pool_geometry(
    cx: &Ctxt,
    name: &str,
    spec: &shaped::PoolSpec,
    shape: Option<&[Size]>,
    producer: &str,
    checks: &mut Vec<ConstCheck>,
) -> Option<(PoolGeometry, Shape)> {
    let kind = match (spec.max, spec.dims) {
        (true, 1) => "MaxPool1d",
        (true, _) => "MaxPool2d",
        (false, 1) => "AvgPool1d",
        (false, _) => "AvgPool2d",
    };
    let tokens = &spec.tokens;
    let (c, h, w) = needs(cx, name, kind, spec.dims, shape, producer, tokens)?;
    let fail = |message: String| {
        cx.error_spanned_by(tokens, format!("layer `{name}`: {message}"));
        None
    };
    let (k, s, p) = (&spec.kernel, &spec.stride, &spec.padding);
    let zero = |sizes: &[&Size]| sizes.iter().any(|x| x.literal() == Some(0));
    if zero(&[&k.0, &k.1]) {
        return fail("the window must be at least 1".into());
    }
    if zero(&[&s.0, &s.1]) {
        return fail("the stride must be at least 1".into());
    }
    let half = "the padding must be at most half the window (as in PyTorch)";
    match literals(&[&k.0, &k.1, &p.0, &p.1]) {
        Some(v) => {
            if 2 * v[2] > v[0] || 2 * v[3] > v[1] {
                return fail(half.into());
            }
            if spec.max && v[0] * v[1] > 256 {
                return fail("a max-pooling window holds at most 256 values".into());
            }
        }
        None => {
            let [kh, kw, ph, pw] = [&k.0, &k.1, &p.0, &p.1].map(Size::value);
            holds(
                checks,
                tokens,
                quote::quote!(#ph <= #kh / 2 && #pw <= #kw / 2),
                format!("layer `{name}`: {half}"),
            );
            if spec.max {
                holds(
                    checks,
                    tokens,
                    quote::quote!(#kh <= 256 && #kw <= 256 / #kh),
                    format!("layer `{name}`: a max-pooling window holds at most 256 values"),
                );
            }
        }
    }
    let one = Size::computed(1, tokens);
    let mut fits = Vec::new();
    let ho = out_dim(
        &h,
        (&p.0, &p.0),
        (&k.0, &s.0, &one),
        format!("the output height of `{name}`"),
        tokens,
        &mut fits,
    );
    let wo = out_dim(
        &w,
        (&p.1, &p.1),
        (&k.1, &s.1, &one),
        format!("the output length of `{name}`"),
        tokens,
        &mut fits,
    );
    let (Some(ho), Some(wo)) = (ho, wo) else {
        let input = shape.map(describe).unwrap_or_default();
        return fail(format!(
            "its window is larger than its padded input: {producer} produces {input}"
        ));
    };
    if !fits.is_empty() {
        let input = shape.map(describe).unwrap_or_default();
        holds(
            checks,
            tokens,
            quote::quote!(#(#fits)&&*),
            format!("layer `{name}`: its window is larger than its padded input: {producer} produces {input}"),
        );
    }
    let out = if spec.dims == 1 {
        vec![c.clone(), wo]
    } else {
        vec![c.clone(), ho, wo]
    };
    let g = PoolGeometry {
        channels: c,
        height: h,
        width: w,
        kernel: k.clone(),
        stride: s.clone(),
        padding: p.clone(),
    };
    Some((g, out))
}

/// The declared input shape's named dimensions: each at least 1 and at most `MAX_SIZE`
/// (once per constant, like layer sizes).
fn input_dims(shape: &[Size], seen: &mut HashSet<String>, checks: &mut Vec<ConstCheck>) {
    for d in shape {
        if matches!(d, Size::Named { .. }) && seen.insert(d.tokens().to_string()) {
            checks.push(ConstCheck {
                left: d.clone(),
                kind: CheckKind::Positive,
                message: format!("`Input` has a dimension of 0 ({})", d.describe()),
            });
            checks.push(ConstCheck {
                left: d.clone(),
                kind: CheckKind::AtMost,
                message: format!(
                    "`Input` has a dimension ({}) above {MAX_SIZE}, the largest a size may be",
                    d.describe()
                ),
            });
        }
    }
}

/// A declared input shape with named dimensions holds at most `MAX_SIZE` values.
fn input_total(shape: &[Size], span: &proc_macro2::TokenStream, checks: &mut Vec<ConstCheck>) {
    if shape.iter().all(|d| d.literal().is_some()) {
        return;
    }
    let total = Size::product(shape, span).value();
    holds(
        checks,
        span,
        quote::quote!(#total <= #MAX_SIZE),
        format!("`Input` has more than {MAX_SIZE} values per sample"),
    );
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
