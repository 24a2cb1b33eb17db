//! Checks across layers. Every error is recorded; nothing stops at the first one.
//! Sizes given as named constants are checked later, by spanned const assertions that
//! [`crate::expand::assertions`] emits.

use std::collections::HashMap;

use crate::ast::{Network, Size};
use crate::ctxt::Ctxt;

pub fn check(cx: &Ctxt, net: &Network) {
    check_not_empty(cx, net);
    check_unique_names(cx, net);
    check_first_input(cx, net);
    check_adjacent_sizes(cx, net);
}

// `struct Iris {}`
fn check_not_empty(cx: &Ctxt, net: &Network) {
    if !net.declared_elements {
        cx.error_spanned_by(
            &net.ident,
            format!(
                "network `{}` declares no layers; add one such as `hidden: Dense<4, 16>`",
                net.ident
            ),
        );
    }
}

// `a: Dense<4, 8>, Relu, a: Dense<8, 2>`
fn check_unique_names(cx: &Ctxt, net: &Network) {
    let mut seen = HashMap::new();
    for layer in &net.layers {
        let name = layer.name.to_string();
        if seen.insert(name.clone(), ()).is_some() {
            cx.error_spanned_by(
                &layer.name,
                format!("duplicate layer name `{name}`; every layer needs its own name"),
            );
        }
    }
}

// `hidden: Dense<16>` as the first layer: nothing to infer the input size from.
fn check_first_input(cx: &Ctxt, net: &Network) {
    if let Some(first) = net.layers.first() {
        if first.inputs.is_none() && !first.follows_invalid {
            cx.error_spanned_by(
                &first.name,
                format!(
                    "the first layer `{}` must state its input size: `{}: Dense<inputs, {}>`",
                    first.name,
                    first.name,
                    first.outputs.tokens()
                ),
            );
        }
    }
}

// `hidden: Dense<4, 16>, deeper: Dense<8, 16>`: literal sizes are compared here.
fn check_adjacent_sizes(cx: &Ctxt, net: &Network) {
    for pair in net.layers.windows(2) {
        let (previous, layer) = (&pair[0], &pair[1]);
        if layer.follows_invalid {
            continue;
        }
        if let (
            Some(Size::Literal {
                value: takes,
                tokens,
            }),
            Size::Literal {
                value: produces, ..
            },
        ) = (&layer.inputs, &previous.outputs)
        {
            if takes != produces {
                cx.error_spanned_by(
                    tokens,
                    format!(
                        "layer `{}` takes {takes} inputs but `{}` produces {produces}",
                        layer.name, previous.name
                    ),
                );
            }
        }
    }
}
