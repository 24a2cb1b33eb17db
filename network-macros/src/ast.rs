//! The checked IR: a tree of named nodes, each keeping the tokens it came from.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use std::collections::HashSet;

use syn::ext::IdentExt;
use syn::{Attribute, Expr, GenericArgument, Ident, Lit, Type, Visibility};

use crate::ctxt::Ctxt;
use crate::parse::{Declaration, Element};
use crate::shaped::{self, ConvGeometry, ConvSpec, PoolGeometry, PoolSpec, Shape};

/// Layer kinds the macro knows, for messages.
pub const LAYER_KINDS: &[&str] = &[
    "Dense",
    "Gru",
    "Lstm",
    "BatchNorm",
    "LayerNorm",
    "Dropout",
    "Residual",
    "Conv1d",
    "Conv2d",
    "MaxPool1d",
    "MaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "GlobalAvgPool",
    "Transpose",
];

/// Activation names the macro knows, for messages.
pub const ACTIVATIONS: &[&str] = &[
    "Identity",
    "Relu",
    "LeakyRelu",
    "Elu",
    "Gelu",
    "Softplus",
    "Sigmoid",
    "Tanh",
    "Softmax",
];

pub struct Network {
    /// The declaration's attributes for the struct (`#[weights]` taken out).
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    pub nodes: Vec<Node>,
    /// `#[weights("digits.bin")]`: raw weights to embed as a constant, and the attribute
    /// (to underline).
    pub weights: Option<(syn::LitStr, Attribute)>,
    /// Whether the braces held anything at all (to tell "empty" from "all invalid").
    pub declared_elements: bool,
    /// Whether the last layer was kept: if it was dropped for an error, the last node's
    /// output is not the network's.
    pub ends_valid: bool,
    /// Size checks involving named constants, emitted as spanned const assertions.
    pub const_checks: Vec<ConstCheck>,
    /// `Input<C, L>` / `Input<C, H, W>` as the first element: the per-sample shape.
    pub input_shape: Option<Shape>,
    /// Whether an `Input<..>` was written first (valid or not).
    pub input_declared: bool,
}

/// A check of a named size, emitted as a const assertion spanned on `left`.
pub struct ConstCheck {
    pub left: Size,
    pub kind: CheckKind,
    pub message: String,
}

pub enum CheckKind {
    /// `left == right`.
    Equal(Size),
    /// `left > 0`.
    Positive,
    /// `left <= MAX_SIZE`.
    AtMost,
    /// `left * right <= MAX_WEIGHTS` (when both are at most `MAX_SIZE`).
    Weights(Size),
    /// A condition over named sizes (a shape rule); `left` only carries the span.
    Holds(TokenStream),
}

/// One named layer or block, and the activation that follows it.
pub struct Node {
    /// Doc comments written on the node.
    pub docs: Vec<Attribute>,
    /// The name as written (`r#type` stays raw, to be a field name).
    pub name: Ident,
    /// The name as text, without `r#`: in messages, tensor names and generated names.
    pub label: String,
    pub kind: NodeKind,
    pub activation: Option<ActivationKind>,
    /// `#[checkpoint]`: keep only the node's output on the tape, recompute the inside.
    pub checkpoint: bool,
    /// The element before this node was dropped by the IR, so checks against the
    /// previous node are skipped (they would only repeat that error).
    pub follows_invalid: bool,
    /// Size of the input, resolved by validation (the previous node's output).
    pub input: Option<Size>,
    /// Size of the output, resolved by validation.
    pub output: Option<Size>,
    /// The per-sample shape of the input and of the output, when known (literal sizes;
    /// a vector is `[F]`). Resolved by validation.
    pub in_shape: Option<Shape>,
    pub out_shape: Option<Shape>,
    /// A `Flatten` follows: the output is a vector of all its values.
    pub flatten: bool,
    /// `#[init(..)]` on a convolution.
    pub conv_init: Option<InitKind>,
    /// A `Dense` after a recurrent layer's sequence output: applied to every step, with
    /// this many features per step (resolved by validation).
    pub per_step: Option<Size>,
}

pub enum NodeKind {
    /// `Dense<inputs, outputs>` or `Dense<outputs>`.
    Dense {
        inputs: Option<Size>,
        outputs: Size,
        init: Option<InitKind>,
    },
    /// `BatchNorm` or `BatchNorm<size>`.
    BatchNorm { size: Option<Size> },
    /// `LayerNorm` or `LayerNorm<size>`.
    LayerNorm { size: Option<Size> },
    /// `Dropout(p)` or `Dropout<size>(p)` (the size is checked against the layer before).
    Dropout { p: Number, size: Option<Size> },
    /// `Residual { ... }`: the body's output is added to the block's input.
    Residual { body: Vec<Node> },
    /// `Conv1d<OUT, K>(..)`, `Conv2d<OUT, K>(..)`; the geometry once the input shape is
    /// known.
    Conv {
        spec: Box<ConvSpec>,
        geometry: Option<Box<ConvGeometry>>,
    },
    /// `MaxPool1d<K>`, `AvgPool2d<K>`, ...
    Pool {
        spec: Box<PoolSpec>,
        geometry: Option<Box<PoolGeometry>>,
    },
    /// `GlobalAvgPool`: `[C, ...]` to `[C]`.
    GlobalAvgPool,
    /// `Transpose`: `[a, b]` to `[b, a]`.
    Transpose,
    /// `Gru<H>` / `Lstm<H>` on a sequence `[T, F]`: `[T, H]`, or `[H]` with
    /// `output = "last"`.
    Recurrent(Box<shaped::RecurrentSpec>),
}

/// The largest size of a layer: a network with more features per layer than this is
/// not one this library is for, and the limit keeps every product of sizes far from
/// overflowing `usize`.
pub const MAX_SIZE: usize = 1 << 24;

/// The most weights one `Dense` layer may have (1 GiB of `f32`).
pub const MAX_WEIGHTS: usize = 1 << 28;

#[derive(Clone)]
pub enum Size {
    /// An integer literal, checked by the macro itself.
    Literal { value: usize, tokens: TokenStream },
    /// A `const` item or `{ const expression }`, checked by a spanned const assertion.
    /// The expression is evaluated once, into a hidden constant (`hoisted`), so that a
    /// size that fails to evaluate is one error, not one per use.
    Named {
        /// What a message shows (the inside of braces).
        tokens: TokenStream,
        /// The expression as written, braces included.
        written: TokenStream,
        /// The hidden constants holding the value as written and the value the generated
        /// code uses (the same when valid, 1 when out of range, so that an invalid size
        /// is reported by its assertion alone).
        hoisted: Option<(Ident, Ident)>,
    },
    /// A size the macro computed from named ones (a convolution's output length over a
    /// named input, a product of named dimensions): an expression the compiler evaluates,
    /// always at least 1 (a shape that cannot work has its own assertion).
    Derived {
        /// A `usize` const expression.
        expr: TokenStream,
        /// How a message names it.
        text: String,
        /// The layer's tokens, to underline.
        span: TokenStream,
    },
}

impl Size {
    /// A literal size computed by the macro, underlining `span` in messages.
    pub fn computed(value: usize, span: &TokenStream) -> Size {
        Size::Literal {
            value,
            tokens: span.clone(),
        }
    }

    /// `f` of `parts`: computed here when every part is a literal (`None` from `literal`
    /// means the combination cannot work, which the caller reports), else an expression
    /// for the compiler (`expr` of the parts' expressions; the caller checks it).
    pub fn combine(
        parts: &[&Size],
        literal: impl Fn(&[usize]) -> Option<usize>,
        expr: impl Fn(&[TokenStream]) -> TokenStream,
        text: String,
        span: &TokenStream,
    ) -> Option<Size> {
        let values: Option<Vec<usize>> = parts.iter().map(|p| p.literal()).collect();
        match values {
            Some(values) => literal(&values).map(|v| Size::computed(v, span)),
            None => {
                let exprs: Vec<TokenStream> = parts.iter().map(|p| p.value()).collect();
                Some(Size::Derived {
                    expr: expr(&exprs),
                    text,
                    span: span.clone(),
                })
            }
        }
    }

    /// The product of `parts` (checked against `MAX_SIZE` by the caller; an expression
    /// saturates instead of overflowing).
    pub fn product(parts: &[Size], span: &TokenStream) -> Size {
        let refs: Vec<&Size> = parts.iter().collect();
        let text = parts
            .iter()
            .map(Size::describe)
            .collect::<Vec<_>>()
            .join(" * ");
        Size::combine(
            &refs,
            |v| v.iter().try_fold(1usize, |a, &b| a.checked_mul(b)),
            |e| {
                let rest = &e[1..];
                let first = &e[0];
                quote!({ let __v: usize = #first; #(let __v = __v.saturating_mul(#rest);)* __v })
            },
            text,
            span,
        )
        .unwrap_or_else(|| Size::computed(usize::MAX, span))
    }

    /// The tokens as written, to underline them.
    pub fn tokens(&self) -> &TokenStream {
        match self {
            Size::Literal { tokens, .. } | Size::Named { tokens, .. } => tokens,
            Size::Derived { span, .. } => span,
        }
    }

    /// The size as a `usize` expression, usable both as a value and as a const generic
    /// argument.
    pub fn expr(&self) -> TokenStream {
        match self {
            Size::Literal { value, .. } => {
                let value = proc_macro2::Literal::usize_unsuffixed(*value);
                quote!(#value)
            }
            Size::Named {
                hoisted: Some((_, used)),
                ..
            } => quote!({ #used }),
            Size::Named { written, .. } => written.clone(),
            Size::Derived { expr, .. } => quote!({ #expr }),
        }
    }

    /// The size as an operand of arithmetic: [`expr`](Self::expr) in parentheses (a
    /// block at the start of an expression would end it).
    pub fn value(&self) -> TokenStream {
        let e = self.expr();
        quote!((#e))
    }

    /// The size as written, for the assertions that check it.
    pub fn raw_expr(&self) -> TokenStream {
        match self {
            Size::Named {
                hoisted: Some((raw, _)),
                ..
            } => quote!(#raw),
            _ => self.expr(),
        }
    }

    /// How a message names the size: `16` or `` `HIDDEN` ``.
    pub fn describe(&self) -> String {
        match self {
            Size::Literal { value, .. } => value.to_string(),
            Size::Named { tokens, .. } => {
                format!("`{}`", tokens.to_string().replace(" :: ", "::"))
            }
            Size::Derived { text, .. } => text.clone(),
        }
    }

    pub fn literal(&self) -> Option<usize> {
        match self {
            Size::Literal { value, .. } => Some(*value),
            Size::Named { .. } | Size::Derived { .. } => None,
        }
    }
}

/// A real argument: `Dropout(0.5)`, `LeakyRelu(SLOPE)`.
pub enum Number {
    /// A literal, perhaps negated or suffixed (`0`, `0.5f32`, `-0.0`), checked by the
    /// macro itself.
    Literal(f64),
    /// Any other expression (a `const`), checked by a spanned const assertion.
    Named(Expr),
}

impl Number {
    /// The value as an `f64` expression.
    pub fn expr(&self) -> TokenStream {
        match self {
            Number::Literal(value) => {
                let value = proc_macro2::Literal::f64_unsuffixed(*value);
                quote!(#value)
            }
            Number::Named(expr) => quote!(((#expr) as f64)),
        }
    }

    /// Reads `0.5`, `1`, `0.5f32`, `-0.0` as a literal, anything else as named.
    fn from_expr(expr: &Expr) -> Number {
        fn literal(expr: &Expr) -> Option<f64> {
            match expr {
                Expr::Lit(lit) => match &lit.lit {
                    Lit::Float(f) => f.base10_digits().parse().ok(),
                    Lit::Int(i) => i.base10_digits().parse().ok(),
                    _ => None,
                },
                Expr::Unary(unary) if matches!(unary.op, syn::UnOp::Neg(_)) => {
                    literal(&unary.expr).map(|v: f64| -v)
                }
                Expr::Paren(paren) => literal(&paren.expr),
                _ => None,
            }
        }
        match literal(expr) {
            Some(value) => Number::Literal(value),
            None => Number::Named(expr.clone()),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum InitKind {
    He,
    Xavier,
}

pub enum ActivationKind {
    Identity,
    Relu,
    LeakyRelu(Option<Number>),
    Elu(Option<Number>),
    Gelu,
    Softplus,
    Sigmoid,
    Tanh,
    Softmax,
}

impl ActivationKind {
    pub fn name(&self) -> &'static str {
        match self {
            ActivationKind::Identity => "Identity",
            ActivationKind::Relu => "Relu",
            ActivationKind::LeakyRelu(_) => "LeakyRelu",
            ActivationKind::Elu(_) => "Elu",
            ActivationKind::Gelu => "Gelu",
            ActivationKind::Softplus => "Softplus",
            ActivationKind::Sigmoid => "Sigmoid",
            ActivationKind::Tanh => "Tanh",
            ActivationKind::Softmax => "Softmax",
        }
    }

    pub fn relu_family(&self) -> bool {
        matches!(
            self,
            ActivationKind::Relu
                | ActivationKind::LeakyRelu(_)
                | ActivationKind::Elu(_)
                | ActivationKind::Gelu
        )
    }

    /// Whether the derivative needs the activation's input (kept on the tape).
    pub fn uses_input(&self) -> bool {
        matches!(self, ActivationKind::Gelu)
    }
}

impl Node {
    /// A node as parsed: sizes, shapes and the activation are filled in later.
    fn declared(
        docs: Vec<Attribute>,
        ident: Ident,
        kind: NodeKind,
        checkpoint: bool,
        conv_init: Option<InitKind>,
    ) -> Node {
        Node {
            docs,
            label: ident.unraw().to_string(),
            name: ident,
            kind,
            activation: None,
            checkpoint,
            follows_invalid: false,
            input: None,
            output: None,
            in_shape: None,
            out_shape: None,
            flatten: false,
            conv_init,
            per_step: None,
        }
    }

    /// The sizes written on the node itself (`Dense<4, 16>`: 4 and 16; a block's are its
    /// layers').
    pub fn written_sizes(&self) -> Vec<&Size> {
        match &self.kind {
            NodeKind::Dense {
                inputs, outputs, ..
            } => inputs.iter().chain([outputs]).collect(),
            NodeKind::BatchNorm { size }
            | NodeKind::LayerNorm { size }
            | NodeKind::Dropout { size, .. } => size.iter().collect(),
            // Channels, kernels, strides, dilations, groups: each at least 1 (a padding
            // may be 0 and is checked with its layer's shape).
            NodeKind::Conv { spec, .. } => spec.positive_sizes(),
            NodeKind::Pool { spec, .. } => spec.positive_sizes(),
            NodeKind::Recurrent(spec) => vec![&spec.hidden],
            NodeKind::Residual { .. } | NodeKind::GlobalAvgPool | NodeKind::Transpose => Vec::new(),
        }
    }

    /// The input size written on the node, if any (`Dense<4, 16>`: 4; `BatchNorm<16>`:
    /// 16; `Dense<16>`: none).
    pub fn written_input(&self) -> Option<&Size> {
        match &self.kind {
            NodeKind::Dense { inputs, .. } => inputs.as_ref(),
            NodeKind::BatchNorm { size }
            | NodeKind::LayerNorm { size }
            | NodeKind::Dropout { size, .. } => size.as_ref(),
            NodeKind::Residual { .. }
            | NodeKind::Conv { .. }
            | NodeKind::Pool { .. }
            | NodeKind::Recurrent(_)
            | NodeKind::Transpose
            | NodeKind::GlobalAvgPool => None,
        }
    }

    /// [`written_sizes`](Self::written_sizes), mutably.
    fn written_sizes_mut(&mut self) -> Vec<&mut Size> {
        match &mut self.kind {
            NodeKind::Dense {
                inputs, outputs, ..
            } => inputs.iter_mut().chain([outputs]).collect(),
            NodeKind::BatchNorm { size }
            | NodeKind::LayerNorm { size }
            | NodeKind::Dropout { size, .. } => size.iter_mut().collect(),
            NodeKind::Conv { spec, .. } => spec.positive_sizes_mut(),
            NodeKind::Pool { spec, .. } => spec.positive_sizes_mut(),
            NodeKind::Recurrent(spec) => vec![&mut spec.hidden],
            NodeKind::Residual { .. } | NodeKind::GlobalAvgPool | NodeKind::Transpose => Vec::new(),
        }
    }

    /// The initialization `random` uses for a dense layer: the declared one, else He
    /// before a ReLU-family activation and Xavier otherwise.
    pub fn effective_init(&self) -> InitKind {
        let declared = match &self.kind {
            NodeKind::Dense { init, .. } => *init,
            NodeKind::Conv { .. } => self.conv_init,
            _ => None,
        };
        declared.unwrap_or(match &self.activation {
            Some(a) if a.relu_family() => InitKind::He,
            _ => InitKind::Xavier,
        })
    }

    pub fn activation_name(&self) -> &'static str {
        self.activation
            .as_ref()
            .map_or("Identity", ActivationKind::name)
    }

    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Dense { .. } => "Dense",
            NodeKind::BatchNorm { .. } => "BatchNorm",
            NodeKind::LayerNorm { .. } => "LayerNorm",
            NodeKind::Dropout { .. } => "Dropout",
            NodeKind::Residual { .. } => "Residual",
            NodeKind::Conv { ref spec, .. } => {
                if spec.dims == 1 {
                    "Conv1d"
                } else {
                    "Conv2d"
                }
            }
            NodeKind::Pool { ref spec, .. } => match (spec.max, spec.dims) {
                (true, 1) => "MaxPool1d",
                (true, _) => "MaxPool2d",
                (false, 1) => "AvgPool1d",
                (false, _) => "AvgPool2d",
            },
            NodeKind::GlobalAvgPool => "GlobalAvgPool",
            NodeKind::Transpose => "Transpose",
            NodeKind::Recurrent(spec) => {
                if spec.lstm {
                    "Lstm"
                } else {
                    "Gru"
                }
            }
        }
    }

    /// A batch norm's features: the channels of a shaped input, else its size.
    pub fn norm_features(&self) -> Option<&Size> {
        match self.in_shape.as_deref() {
            Some([channels, _, ..]) => Some(channels),
            _ => None,
        }
    }
}

/// Names unnamed dropouts `dropout1`, `dropout2`, ..., skipping names the declaration
/// gives to its own layers.
struct Namer {
    dropouts: usize,
    pools: usize,
    transposes: usize,
    taken: HashSet<String>,
}

impl Namer {
    fn new(elements: &[Element]) -> Self {
        fn collect(elements: &[Element], taken: &mut HashSet<String>) {
            for element in elements {
                if let Some((name, _)) = &element.name {
                    taken.insert(name.unraw().to_string());
                }
                if let Some((_, body)) = &element.body {
                    collect(body, taken);
                }
            }
        }
        let mut taken = HashSet::new();
        collect(elements, &mut taken);
        Namer {
            dropouts: 0,
            pools: 0,
            transposes: 0,
            taken,
        }
    }

    /// `pool1`, `pool2`, ... for unnamed pooling layers.
    fn pool(&mut self) -> String {
        loop {
            self.pools += 1;
            let name = format!("pool{}", self.pools);
            if !self.taken.contains(&name) {
                return name;
            }
        }
    }

    /// `transpose1`, `transpose2`, ... for unnamed transpositions.
    fn transpose(&mut self) -> String {
        loop {
            self.transposes += 1;
            let name = format!("transpose{}", self.transposes);
            if !self.taken.contains(&name) {
                return name;
            }
        }
    }

    fn dropout(&mut self) -> String {
        loop {
            self.dropouts += 1;
            let name = format!("dropout{}", self.dropouts);
            if !self.taken.contains(&name) {
                return name;
            }
        }
    }
}

impl Network {
    /// Builds the IR, recording every element-level error in `cx` and skipping the
    /// element it concerns.
    pub fn from_syntax(cx: &Ctxt, decl: &Declaration, elements: &[Element]) -> Network {
        // `struct Iris<T>`: the macro adds the scalar parameter itself.
        if !decl.generics.params.is_empty() || decl.generics.where_clause.is_some() {
            cx.error_spanned_by(
                &decl.generics,
                format!(
                    "`network!` adds the scalar type parameter itself; declare `struct {}` without generics",
                    decl.ident
                ),
            );
        }
        let mut namer = Namer::new(elements);
        // `Input<1, 8, 8>` first: the input's shape.
        let input_declared = elements.first().is_some_and(|e| e.kind == "Input");
        let (input_shape, elements) = match elements.first() {
            Some(first) if input_declared => (shaped::input_shape(cx, first), &elements[1..]),
            _ => (None, elements),
        };
        let (mut nodes, ends_valid) = nodes(cx, elements, &mut namer);
        let mut seen = Vec::new();
        let mut input_shape = input_shape;
        if let Some(shape) = &mut input_shape {
            hoist_sizes(&decl.ident, shape.iter_mut().collect(), &mut seen);
        }
        hoist(&decl.ident, &mut nodes, &mut seen);
        Network {
            attrs: decl
                .attrs
                .iter()
                .filter(|a| !a.path().is_ident("weights"))
                .cloned()
                .collect(),
            weights: weights_attribute(cx, &decl.attrs),
            vis: decl.vis.clone(),
            ident: decl.ident.clone(),
            nodes,
            ends_valid,
            declared_elements: !elements.is_empty(),
            const_checks: Vec::new(),
            input_shape,
            input_declared,
        }
    }
}

/// `#[weights("file.bin")]` on the declaration, at most once.
fn weights_attribute(cx: &Ctxt, attrs: &[Attribute]) -> Option<(syn::LitStr, Attribute)> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("weights")) {
        if found.is_some() {
            cx.error_spanned_by(attr, "`#[weights]` is given twice; keep one");
            continue;
        }
        match attr.parse_args::<syn::LitStr>() {
            Ok(path) => found = Some((path, attr.clone())),
            Err(_) => cx.error_spanned_by(
                attr,
                "expected the path of a raw weights file: `#[weights(\"digits.bin\")]`",
            ),
        }
    }
    found
}

/// Gives every named size its hidden constants, one pair per distinct expression:
/// `__NETWORK_Iris_RAW_0` holds it as written, `__NETWORK_Iris_SIZE_0` what the generated
/// code uses. `seen` collects the distinct expressions in order.
fn hoist(net: &Ident, nodes: &mut [Node], seen: &mut Vec<String>) {
    for node in nodes {
        if let NodeKind::Residual { body } = &mut node.kind {
            hoist(net, body, seen);
        }
        hoist_sizes(net, node.written_sizes_mut(), seen);
    }
}

fn hoist_sizes(net: &Ident, sizes: Vec<&mut Size>, seen: &mut Vec<String>) {
    {
        for size in sizes {
            if let Size::Named {
                written, hoisted, ..
            } = size
            {
                let text = written.to_string();
                let k = seen.iter().position(|s| *s == text).unwrap_or_else(|| {
                    seen.push(text);
                    seen.len() - 1
                });
                *hoisted = Some((
                    quote::format_ident!("__NETWORK_{}_RAW_{}", net.unraw(), k),
                    quote::format_ident!("__NETWORK_{}_SIZE_{}", net.unraw(), k),
                ));
            }
        }
    }
}

/// Every distinct named size of `nodes` once, as its hoisted constants' definitions.
pub fn hoisted_sizes(input: &[Size], nodes: &[Node]) -> Vec<(Ident, Ident, TokenStream)> {
    fn add(sizes: Vec<&Size>, out: &mut Vec<(Ident, Ident, TokenStream)>) {
        for size in sizes {
            if let Size::Named {
                written,
                hoisted: Some((raw, used)),
                ..
            } = size
            {
                if !out.iter().any(|(r, ..)| r == raw) {
                    out.push((raw.clone(), used.clone(), written.clone()));
                }
            }
        }
    }
    fn go(nodes: &[Node], out: &mut Vec<(Ident, Ident, TokenStream)>) {
        for node in nodes {
            if let NodeKind::Residual { body } = &node.kind {
                go(body, out);
            }
            for size in node.written_sizes() {
                if let Size::Named {
                    written,
                    hoisted: Some((raw, used)),
                    ..
                } = size
                {
                    if !out.iter().any(|(r, ..)| r == raw) {
                        out.push((raw.clone(), used.clone(), written.clone()));
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    add(input.iter().collect(), &mut out);
    go(nodes, &mut out);
    out
}

/// A sequence of elements: layers, each optionally followed by one activation.
/// Also says whether the last layer was kept (not dropped for an error).
fn nodes(cx: &Ctxt, elements: &[Element], namer: &mut Namer) -> (Vec<Node>, bool) {
    let mut nodes: Vec<Node> = Vec::new();
    // The activation directly before, if any (two in a row are rejected).
    let mut previous_activation: Option<String> = None;
    // `None` before the first node, else whether the last node was valid.
    let mut last_valid: Option<bool> = None;
    for element in elements {
        let kind = element.kind.to_string();
        if kind == "Input" {
            cx.error_spanned_by(
                element.tokens(),
                "`Input<..>` states the network's input shape: it comes first, once, outside blocks",
            );
            last_valid = Some(false);
            continue;
        }
        if kind == "Flatten" {
            if element.name.is_some()
                || element.generics.is_some()
                || element.args.is_some()
                || element.body.is_some()
            {
                cx.error_spanned_by(
                    element.tokens(),
                    "`Flatten` takes no name, sizes or arguments",
                );
            } else if let (Some(true), Some(node)) = (last_valid, nodes.last_mut()) {
                node.flatten = true;
            } else if last_valid.is_none() {
                cx.error_spanned_by(
                    element.tokens(),
                    "`Flatten` follows a layer; a network (or block) does not start with it",
                );
            }
            continue;
        }
        if LAYER_KINDS.contains(&kind.as_str()) {
            previous_activation = None;
            let follows_invalid = last_valid == Some(false);
            match node(cx, element, namer) {
                Some(mut node) => {
                    node.follows_invalid = follows_invalid;
                    nodes.push(node);
                    last_valid = Some(true);
                }
                None => last_valid = Some(false),
            }
        } else if ACTIVATIONS.contains(&kind.as_str()) {
            let activation = activation(cx, element);
            match (last_valid, &previous_activation) {
                // `Relu, Tanh`
                (_, Some(previous)) => cx.error_spanned_by(
                    element.tokens(),
                    format!("activation `{kind}` follows activation `{previous}` with no layer between them"),
                ),
                // `{ Relu, hidden: Dense<4, 8> }`
                (None, None) => cx.error_spanned_by(
                    element.tokens(),
                    format!("activation `{kind}` has no layer before it; a network starts with a layer such as `hidden: Dense<4, 16>`"),
                ),
                (Some(true), None) => {
                    if let (Some(node), Some(activation)) = (nodes.last_mut(), activation) {
                        node.activation = Some(activation);
                    }
                }
                (Some(false), None) => {}
            }
            previous_activation = Some(kind);
        } else {
            previous_activation = None;
            cx.error_spanned_by(&element.kind, unknown_kind_message(&kind));
            // `a: Desne<4, 16>`: read as the layer it most likely is, so that its sizes
            // still tell the network's input and output and its neighbours' checks run
            // (the error above is the only one; anything else about it is dropped).
            let meant = closest(&kind).filter(|k| LAYER_KINDS.contains(k));
            let quiet = Ctxt::new();
            let guess = meant.and_then(|k| node_as(&quiet, element, k, namer));
            match (guess, quiet.check()) {
                (Some(mut node), Ok(())) => {
                    node.follows_invalid = last_valid == Some(false);
                    nodes.push(node);
                    last_valid = Some(true);
                }
                _ => last_valid = Some(false),
            }
        }
    }
    (nodes, last_valid != Some(false))
}

/// `ReLU`, `Sigmiod`, `Tahn`, `Desne`: the closest known name, case aside, within a
/// third of its length in edits (a swap of neighbours is one edit).
fn closest(kind: &str) -> Option<&'static str> {
    LAYER_KINDS
        .iter()
        .chain(ACTIVATIONS)
        .map(|k| (edit_distance(&k.to_lowercase(), &kind.to_lowercase()), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn unknown_kind_message(kind: &str) -> String {
    let known = LAYER_KINDS.iter().chain(ACTIVATIONS);
    if let Some(close) = closest(kind) {
        return format!("unknown layer or activation `{kind}`; did you mean `{close}`?");
    }
    let list: Vec<String> = known.map(|k| format!("`{k}`")).collect();
    format!(
        "unknown layer or activation `{kind}`; expected one of {}",
        list.join(", ")
    )
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of
/// adjacent characters, one edit each.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// A layer or block.
fn node(cx: &Ctxt, element: &Element, namer: &mut Namer) -> Option<Node> {
    node_as(cx, element, &element.kind.to_string(), namer)
}

/// A layer or block read as a layer of `kind` (its own, or the one a misspelling most
/// likely meant).
fn node_as(cx: &Ctxt, element: &Element, kind: &str, namer: &mut Namer) -> Option<Node> {
    let kind = kind.to_string();
    let ident = match (&element.name, kind.as_str()) {
        (Some((name, _)), _) => name.clone(),
        (None, "Dropout") => Ident::new(&namer.dropout(), element.kind.span()),
        (None, "MaxPool1d" | "MaxPool2d" | "AvgPool1d" | "AvgPool2d" | "GlobalAvgPool") => {
            Ident::new(&namer.pool(), element.kind.span())
        }
        (None, "Transpose") => Ident::new(&namer.transpose(), element.kind.span()),
        (None, _) => {
            let example = match kind.as_str() {
                "Dense" => "hidden: Dense<4, 16>".to_string(),
                "Residual" => "block: Residual { a: Dense<16>, Relu }".to_string(),
                "Conv1d" => "conv: Conv1d<8, 3>".to_string(),
                "Conv2d" => "conv: Conv2d<8, 3>".to_string(),
                _ => format!("norm: {kind}"),
            };
            cx.error_spanned_by(
                element.tokens(),
                format!("a `{kind}` layer needs a name: `{example}`"),
            );
            return None;
        }
    };
    // Messages say `type`, not `r#type`.
    let name = ident.unraw();
    // `__a: Dense<4, 8>`: generated code names its own items `__...`.
    if name.to_string().starts_with("__") {
        cx.error_spanned_by(
            &ident,
            format!(
                "layer names starting with `__` are reserved for generated code; rename `{name}`"
            ),
        );
        return None;
    }
    let (docs, init, checkpoint) = node_attributes(cx, &element.attrs, &kind);
    if kind != "Residual" {
        if let Some((brace, _)) = &element.body {
            cx.syn_error(syn::Error::new(
                brace.span.join(),
                format!("layer `{name}` takes no block; only `Residual` does"),
            ));
            return None;
        }
    }
    let takes_options = matches!(
        kind.as_str(),
        "Conv1d"
            | "Conv2d"
            | "MaxPool1d"
            | "MaxPool2d"
            | "AvgPool1d"
            | "AvgPool2d"
            | "Gru"
            | "Lstm"
    );
    if kind != "Dropout" && !takes_options {
        if let Some((paren, _)) = &element.args {
            let message = match (kind.as_str(), &element.generics) {
                // `hidden: Dense<4, 16>(0.5)`
                (_, Some(_)) => format!(
                    "layer `{name}` takes no arguments after its sizes; for dropout, add `Dropout(p)` after the layer"
                ),
                // `hidden: Dense(4, 16)`
                ("Dense", None) => format!(
                    "layer `{name}` takes its sizes in angle brackets: `Dense<inputs, outputs>`"
                ),
                _ => format!("layer `{name}` takes no arguments"),
            };
            cx.syn_error(syn::Error::new(paren.span.join(), message));
            return None;
        }
    }
    let label = name.to_string();
    let shaped_kind = match kind.as_str() {
        "Conv1d" | "Conv2d" => {
            let dims = if kind == "Conv1d" { 1 } else { 2 };
            let spec = shaped::conv(cx, &label, element, dims)?;
            Some(NodeKind::Conv {
                spec: Box::new(spec),
                geometry: None,
            })
        }
        "MaxPool1d" | "MaxPool2d" | "AvgPool1d" | "AvgPool2d" => {
            let dims = if kind.ends_with("1d") { 1 } else { 2 };
            let spec = shaped::pool(cx, &label, element, dims, kind.starts_with("Max"))?;
            Some(NodeKind::Pool {
                spec: Box::new(spec),
                geometry: None,
            })
        }
        "Gru" | "Lstm" => {
            let spec = shaped::recurrent(cx, &label, element, kind == "Lstm")?;
            Some(NodeKind::Recurrent(Box::new(spec)))
        }
        "Transpose" => {
            if element.generics.is_some() || element.args.is_some() {
                cx.error_spanned_by(
                    element.tokens(),
                    format!("layer `{label}`: `Transpose` takes nothing; it swaps the two dimensions of its input"),
                );
                return None;
            }
            Some(NodeKind::Transpose)
        }
        "GlobalAvgPool" => {
            if element.generics.is_some() {
                cx.error_spanned_by(
                    &element.generics,
                    format!(
                        "layer `{label}`: `GlobalAvgPool` takes no sizes; it averages each channel"
                    ),
                );
                return None;
            }
            Some(NodeKind::GlobalAvgPool)
        }
        _ => None,
    };
    if let Some(kind) = shaped_kind {
        let conv_init = match (&kind, init) {
            (NodeKind::Conv { .. }, Some((k, _))) => Some(k),
            (_, Some((_, attr))) => {
                cx.error_spanned_by(
                    attr,
                    format!("`#[init]` applies to `Dense` and convolution layers, not to `{name}`"),
                );
                None
            }
            _ => None,
        };
        return Some(Node::declared(docs, ident, kind, checkpoint, conv_init));
    }
    let arguments: Vec<&GenericArgument> = element
        .generics
        .iter()
        .flat_map(|g| g.args.iter())
        .collect();
    // `norm: LayerNorm<>`
    if let (Some(generics), true) = (&element.generics, arguments.is_empty()) {
        cx.error_spanned_by(
            generics,
            format!("layer `{name}` has empty angle brackets; write its size, `<16>`, or leave them out"),
        );
        return None;
    }
    // `Dropout<0.5>`: a probability where a size goes.
    if kind == "Dropout" {
        let float = arguments.iter().find(|a| {
            matches!(
                a,
                GenericArgument::Const(Expr::Lit(syn::ExprLit {
                    lit: Lit::Float(_),
                    ..
                }))
            )
        });
        if let Some(float) = float {
            cx.error_spanned_by(
                element.tokens(),
                format!("`Dropout` takes its probability in parentheses, `Dropout({})`; angle brackets give its number of features", float.to_token_stream()),
            );
            return None;
        }
    }
    let sizes: Vec<Option<Size>> = arguments.iter().map(|arg| size(cx, &name, arg)).collect();
    if sizes.iter().any(Option::is_none) {
        return None;
    }
    let mut sizes: Vec<Size> = sizes.into_iter().flatten().collect();
    let kind = match kind.as_str() {
        "Dense" => {
            if sizes.is_empty() || sizes.len() > 2 {
                cx.error_spanned_by(
                    element.tokens(),
                    format!("layer `{name}`: `Dense` takes `<inputs, outputs>` or `<outputs>`, found {} size(s)", sizes.len()),
                );
                return None;
            }
            let outputs = sizes.pop()?;
            NodeKind::Dense {
                inputs: sizes.pop(),
                outputs,
                init: init.map(|(kind, _)| kind),
            }
        }
        "BatchNorm" | "LayerNorm" => {
            if sizes.len() > 1 {
                cx.error_spanned_by(
                    element.tokens(),
                    format!(
                        "layer `{name}`: `{kind}` takes at most one size, its number of features"
                    ),
                );
                return None;
            }
            let size = sizes.pop();
            if kind == "BatchNorm" {
                NodeKind::BatchNorm { size }
            } else {
                NodeKind::LayerNorm { size }
            }
        }
        "Dropout" => {
            if sizes.len() > 1 {
                cx.error_spanned_by(
                    &element.generics,
                    format!(
                        "layer `{name}`: `Dropout` takes at most one size, its number of features"
                    ),
                );
                return None;
            }
            NodeKind::Dropout {
                p: dropout_probability(cx, &name, element)?,
                size: sizes.pop(),
            }
        }
        _ => {
            // `Residual { ... }`
            let Some((_, body)) = &element.body else {
                cx.error_spanned_by(
                    element.tokens(),
                    format!("residual block `{name}` needs its layers in braces: `{name}: Residual {{ a: Dense<16>, Relu }}`"),
                );
                return None;
            };
            if !sizes.is_empty() {
                cx.error_spanned_by(
                    &element.generics,
                    format!("residual block `{name}` takes no sizes; it keeps its input size"),
                );
                return None;
            }
            let declared = !body.is_empty();
            let (body, _) = nodes(cx, body, namer);
            // Its layers were all dropped for their own errors: nothing more to say.
            if body.is_empty() && declared {
                return None;
            }
            if body.is_empty() {
                cx.error_spanned_by(
                    element.tokens(),
                    format!("residual block `{name}` has no layers"),
                );
                return None;
            }
            NodeKind::Residual { body }
        }
    };
    // `#[init(he)] norm: BatchNorm`: underline the attribute.
    if let (Some((_, attr)), false) = (init, matches!(kind, NodeKind::Dense { .. })) {
        cx.error_spanned_by(
            attr,
            format!("`#[init]` applies to `Dense` layers, not to `{name}`"),
        );
    }
    Some(Node::declared(docs, ident, kind, checkpoint, None))
}

/// `Dropout(p)` with `p` in `[0, 1)`: a literal (checked here) or a constant (checked
/// by a const assertion).
fn dropout_probability(cx: &Ctxt, name: &Ident, element: &Element) -> Option<Number> {
    let args: Vec<&Expr> = element.args.iter().flat_map(|(_, a)| a.iter()).collect();
    let message = format!(
        "layer `{name}`: `Dropout` takes the probability of dropping, in [0, 1): `Dropout(0.5)`"
    );
    match args.as_slice() {
        [expr] => match Number::from_expr(expr) {
            Number::Literal(p) if !(0.0..1.0).contains(&p) => {
                cx.error_spanned_by(expr, message);
                None
            }
            number => Some(number),
        },
        // `Dropout`, `Dropout()`, `Dropout(0.1, 0.2)`
        _ => {
            cx.error_spanned_by(element.tokens(), message);
            None
        }
    }
}

/// Splits a node's attributes into doc comments, the `#[init(..)]` override and
/// `#[checkpoint]`, recording an error for anything else.
fn node_attributes<'a>(
    cx: &Ctxt,
    attrs: &'a [Attribute],
    kind: &str,
) -> (Vec<Attribute>, Option<(InitKind, &'a Attribute)>, bool) {
    let mut docs = Vec::new();
    let mut init = None;
    let mut checkpoint = false;
    for attr in attrs {
        if attr.path().is_ident("doc") {
            docs.push(attr.clone());
        } else if attr.path().is_ident("init") {
            // `#[init(he)] #[init(xavier)]`
            if init.is_some() {
                cx.error_spanned_by(attr, "`#[init]` is given twice; keep one");
                continue;
            }
            match attr.parse_args::<Ident>() {
                Ok(scheme) if scheme == "he" => init = Some((InitKind::He, attr)),
                Ok(scheme) if scheme == "xavier" => init = Some((InitKind::Xavier, attr)),
                _ => cx.error_spanned_by(
                    attr,
                    "unknown initialization; expected `#[init(he)]` or `#[init(xavier)]`",
                ),
            }
        } else if attr.path().is_ident("checkpoint") && attr.meta.require_path_only().is_ok() {
            if checkpoint {
                cx.error_spanned_by(attr, "`#[checkpoint]` is given twice; keep one");
                continue;
            }
            if kind == "Dropout" {
                cx.error_spanned_by(attr, "`#[checkpoint]` applies to layers with something to recompute, not to `Dropout`");
            }
            checkpoint = true;
        } else {
            cx.error_spanned_by(
                attr,
                "unknown attribute on a layer; expected a doc comment, `#[init(he)]`, `#[init(xavier)]` or `#[checkpoint]`",
            );
        }
    }
    (docs, init, checkpoint)
}

/// One size argument: an integer literal, a `const` item, or a `{ const expression }`.
fn size(cx: &Ctxt, layer: &Ident, arg: &GenericArgument) -> Option<Size> {
    let expected =
        "expected a size: an integer literal, a `const` item or a `{ const expression }`";
    match arg {
        GenericArgument::Const(Expr::Lit(lit)) => match &lit.lit {
            Lit::Int(int) if int.suffix().is_empty() || int.suffix() == "usize" => {
                match int.base10_parse::<usize>() {
                    // `Dense<4, 0>`: reported, but the layer is kept so that checks of its
                    // neighbours and its name still run.
                    Ok(0) => {
                        cx.error_spanned_by(int, format!("layer `{layer}` has a size of 0; a layer needs at least one input and one output"));
                        Some(Size::Literal {
                            value: 0,
                            tokens: int.to_token_stream(),
                        })
                    }
                    // `Dense<4, 1099511627776>`
                    Ok(value) if value > MAX_SIZE => {
                        cx.error_spanned_by(int, format!("layer `{layer}` has a size of {value}; sizes are at most {MAX_SIZE}"));
                        None
                    }
                    Ok(value) => Some(Size::Literal {
                        value,
                        tokens: int.to_token_stream(),
                    }),
                    Err(_) => {
                        cx.error_spanned_by(int, format!("layer `{layer}` has a size of {}, which does not fit `usize`; sizes are at most {MAX_SIZE}", int.base10_digits()));
                        None
                    }
                }
            }
            Lit::Int(int) => {
                cx.error_spanned_by(
                    int,
                    format!(
                        "layer `{layer}`: sizes are `usize`; write `{}`",
                        int.base10_digits()
                    ),
                );
                None
            }
            other => {
                cx.error_spanned_by(other, format!("layer `{layer}`: {expected}"));
                None
            }
        },
        GenericArgument::Const(block @ Expr::Block(_)) => Some(Size::Named {
            tokens: block_inner(block),
            written: block.to_token_stream(),
            hoisted: None,
        }),
        GenericArgument::Const(Expr::Path(path)) if path.qself.is_none() => {
            named_size(cx, layer, &path.path)
        }
        GenericArgument::Type(Type::Path(path)) if path.qself.is_none() => {
            named_size(cx, layer, &path.path)
        }
        other => {
            cx.error_spanned_by(other, format!("layer `{layer}`: {expected}"));
            None
        }
    }
}

/// The tokens inside `{ ... }`.
fn block_inner(block: &Expr) -> TokenStream {
    match block {
        Expr::Block(b) => {
            let stmts = &b.block.stmts;
            quote!(#(#stmts)*)
        }
        other => other.to_token_stream(),
    }
}

fn named_size(cx: &Ctxt, layer: &Ident, path: &syn::Path) -> Option<Size> {
    if let Some(ident) = path.get_ident() {
        let word = ident.to_string();
        // `Dense<4, Relu>`: a forgotten size or a missing comma.
        if ACTIVATIONS.contains(&word.as_str()) || LAYER_KINDS.contains(&word.as_str()) {
            let what = if ACTIVATIONS.contains(&word.as_str()) {
                "activation"
            } else {
                "layer"
            };
            cx.error_spanned_by(
                ident,
                format!("layer `{layer}` expects a size here, found the {what} `{word}`"),
            );
            return None;
        }
    }
    if path.segments.iter().any(|s| !s.arguments.is_none()) {
        cx.error_spanned_by(path, format!("layer `{layer}`: expected a size: an integer literal, a `const` item or a `{{ const expression }}`"));
        return None;
    }
    Some(Size::Named {
        tokens: path.to_token_stream(),
        written: path.to_token_stream(),
        hoisted: None,
    })
}

/// `Relu`, `LeakyRelu(0.1)`, ...
fn activation(cx: &Ctxt, element: &Element) -> Option<ActivationKind> {
    let name = element.kind.to_string();
    let mut ok = true;
    if let Some((ident, _)) = &element.name {
        // `act: Relu`
        cx.error_spanned_by(
            element.tokens(),
            format!("activations take no name; write `{name}` alone after the layer it applies to (found name `{ident}`)"),
        );
        ok = false;
    }
    for attr in &element.attrs {
        cx.error_spanned_by(
            attr,
            format!("activation `{name}` takes no attributes; put them on the layer before it"),
        );
        ok = false;
    }
    if let Some(generics) = &element.generics {
        // `Relu<16>`
        cx.error_spanned_by(
            generics,
            format!("activation `{name}` takes no sizes; it keeps the size of the layer before it"),
        );
        ok = false;
    }
    if let Some((brace, _)) = &element.body {
        cx.syn_error(syn::Error::new(
            brace.span.join(),
            format!("activation `{name}` takes no block"),
        ));
        ok = false;
    }
    let args: Vec<&Expr> = element.args.iter().flat_map(|(_, a)| a.iter()).collect();
    let kind = match name.as_str() {
        "LeakyRelu" | "Elu" => {
            let what = if name == "Elu" {
                "alpha"
            } else {
                "negative slope"
            };
            // `LeakyRelu()`, `LeakyRelu(0.1, 0.2)`
            if element.args.is_some() && args.len() != 1 {
                cx.error_spanned_by(
                    element.tokens(),
                    format!(
                        "`{name}` takes one argument, its {what}: `{name}(0.1)`, or none: `{name}`"
                    ),
                );
                ok = false;
            }
            let argument = args.first().map(|e| Number::from_expr(e));
            // `LeakyRelu(-0.1)`: the derivative is read from the output's sign. `-0.0` is
            // zero, not negative.
            if let (Some(Number::Literal(value)), Some(expr)) = (&argument, args.first()) {
                if !(value.is_finite() && *value >= 0.0) {
                    cx.error_spanned_by(
                        expr,
                        format!("`{name}`'s {what} must be finite and not negative"),
                    );
                    ok = false;
                }
            }
            if name == "Elu" {
                ActivationKind::Elu(argument)
            } else {
                ActivationKind::LeakyRelu(argument)
            }
        }
        _ => {
            if let Some((paren, _)) = &element.args {
                cx.syn_error(syn::Error::new(
                    paren.span.join(),
                    format!("activation `{name}` takes no arguments"),
                ));
                ok = false;
            }
            match name.as_str() {
                "Identity" => ActivationKind::Identity,
                "Relu" => ActivationKind::Relu,
                "Gelu" => ActivationKind::Gelu,
                "Softplus" => ActivationKind::Softplus,
                "Sigmoid" => ActivationKind::Sigmoid,
                "Tanh" => ActivationKind::Tanh,
                _ => ActivationKind::Softmax,
            }
        }
    };
    ok.then_some(kind)
}
