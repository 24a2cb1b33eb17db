//! Checks across layers, and size resolution: every node learns its input and output
//! size. Every error is recorded; nothing stops at the first one. Sizes the macro cannot
//! read (named constants, const expressions) become spanned const assertions.

use std::collections::HashSet;

use crate::ast::{CheckKind, ConstCheck, Network, Node, NodeKind, Size, MAX_WEIGHTS};
use crate::ctxt::Ctxt;

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
    if let Some(first) = net.nodes.first() {
        match first_input(&net.nodes) {
            Some(size) => {
                let size = size.clone();
                resolve(cx, &mut net.nodes, (size, None), &mut checks);
            }
            // `hidden: Dense<16>` as the first layer: nothing to infer the input size from.
            None => {
                if !first.follows_invalid {
                    cx.error_spanned_by(&first.name, first_input_message(first));
                }
                // The layers after it are still checked, from its output.
                if let NodeKind::Dense { outputs, .. } = &first.kind {
                    let start = (outputs.clone(), Some(first.label.clone()));
                    net.nodes[0].output = Some(outputs.clone());
                    resolve(cx, &mut net.nodes[1..], start, &mut checks);
                }
            }
        }
    }
    net.const_checks = checks;
}

fn first_input_message(first: &Node) -> String {
    match &first.kind {
        NodeKind::Dense { outputs, .. } => format!(
            "the first layer `{}` must state its input size: `{}: Dense<inputs, {}>`",
            first.label,
            first.label,
            outputs.tokens()
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
    checks: &mut Vec<ConstCheck>,
) -> (Size, Option<String>) {
    for node in nodes.iter_mut() {
        let name = node.label.clone();
        node.input = Some(size.clone());
        // `hidden: Dense<4, 16>, deeper: Dense<8, 16>`: the written input size against
        // what the previous layer produces.
        if let (Some(written), Some(producer), false) =
            (node.written_input(), &producer, node.follows_invalid)
        {
            let what = if matches!(node.kind, NodeKind::Dense { .. }) {
                "inputs"
            } else {
                "features"
            };
            compare(
                cx,
                checks,
                written,
                &size,
                format!("layer `{name}` takes {{}} {what} but `{producer}` produces {{}}"),
            );
        }
        let output = match &mut node.kind {
            NodeKind::Dense { outputs, .. } => outputs.clone(),
            NodeKind::BatchNorm { .. } | NodeKind::LayerNorm { .. } | NodeKind::Dropout { .. } => {
                size.clone()
            }
            NodeKind::Residual { body } => {
                let (out, last) = resolve(cx, body, (size.clone(), producer.clone()), checks);
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
                size.clone()
            }
        };
        node.output = Some(output.clone());
        check_weights(cx, node, checks);
        size = output;
        producer = Some(name);
    }
    (size, producer)
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
