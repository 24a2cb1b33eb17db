//! The checked IR: what each element means, with the tokens it came from.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{Attribute, Expr, GenericArgument, Ident, Lit, Type, Visibility};

use crate::ctxt::Ctxt;
use crate::parse::{Declaration, Element};

/// Layer kinds the macro knows, for messages.
pub const LAYER_KINDS: &[&str] = &["Dense"];

/// Activation names the macro knows, for messages.
pub const ACTIVATIONS: &[&str] = &[
    "Identity",
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "Softmax",
];

pub struct Network {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    pub layers: Vec<Layer>,
    /// Whether the braces held anything at all (to tell "empty" from "all invalid").
    pub declared_elements: bool,
}

pub struct Layer {
    /// Doc comments written on the layer.
    pub docs: Vec<Attribute>,
    pub name: Ident,
    /// Input size as written; `None` for the inferred form `Dense<outputs>`.
    pub inputs: Option<Size>,
    pub outputs: Size,
    pub init: Option<InitKind>,
    pub activation: Option<ActivationKind>,
    /// The element before this layer was a layer the IR had to drop, so checks against
    /// the previous layer are skipped (they would only repeat that error).
    pub follows_invalid: bool,
}

#[derive(Clone)]
pub enum Size {
    /// An integer literal, checked by the macro itself.
    Literal { value: usize, tokens: TokenStream },
    /// A `const` item or `{ const expression }`, checked by a spanned const assertion.
    Named { tokens: TokenStream },
}

impl Size {
    /// The tokens as written, to underline them.
    pub fn tokens(&self) -> &TokenStream {
        match self {
            Size::Literal { tokens, .. } | Size::Named { tokens } => tokens,
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
            Size::Named { tokens } => quote!({ #tokens }),
        }
    }

    /// How a message names the size: `16` or `` `HIDDEN` ``.
    pub fn describe(&self) -> String {
        match self {
            Size::Literal { value, .. } => value.to_string(),
            Size::Named { tokens } => format!("`{tokens}`"),
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
    LeakyRelu(Option<Expr>),
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
            ActivationKind::Sigmoid => "Sigmoid",
            ActivationKind::Tanh => "Tanh",
            ActivationKind::Softmax => "Softmax",
        }
    }

    pub fn relu_family(&self) -> bool {
        matches!(self, ActivationKind::Relu | ActivationKind::LeakyRelu(_))
    }
}

impl Layer {
    /// The initialization `random` uses: the declared one, else He before a ReLU-family
    /// activation and Xavier otherwise.
    pub fn effective_init(&self) -> InitKind {
        self.init.unwrap_or(match &self.activation {
            Some(a) if a.relu_family() => InitKind::He,
            _ => InitKind::Xavier,
        })
    }

    pub fn activation_name(&self) -> &'static str {
        self.activation
            .as_ref()
            .map_or("Identity", ActivationKind::name)
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
        let mut layers: Vec<Layer> = Vec::new();
        // The activation directly before, if any (two in a row are rejected).
        let mut previous_activation: Option<String> = None;
        // `None` before the first layer, else whether the last layer was valid.
        let mut last_layer_valid: Option<bool> = None;
        for element in elements {
            let kind = element.kind.to_string();
            if kind == "Dense" {
                previous_activation = None;
                let follows_invalid = last_layer_valid == Some(false);
                match dense(cx, element) {
                    Some(mut layer) => {
                        layer.follows_invalid = follows_invalid;
                        layers.push(layer);
                        last_layer_valid = Some(true);
                    }
                    None => last_layer_valid = Some(false),
                }
            } else if ACTIVATIONS.contains(&kind.as_str()) {
                let activation = activation(cx, element);
                match (last_layer_valid, &previous_activation) {
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
                        if let (Some(layer), Some(activation)) = (layers.last_mut(), activation) {
                            layer.activation = Some(activation);
                        }
                    }
                    (Some(false), None) => {}
                }
                previous_activation = Some(kind);
            } else {
                previous_activation = None;
                last_layer_valid = Some(false);
                cx.error_spanned_by(&element.kind, unknown_kind_message(&kind));
            }
        }
        Network {
            attrs: decl.attrs.clone(),
            vis: decl.vis.clone(),
            ident: decl.ident.clone(),
            layers,
            declared_elements: !elements.is_empty(),
        }
    }
}

fn unknown_kind_message(kind: &str) -> String {
    let known = LAYER_KINDS.iter().chain(ACTIVATIONS);
    if let Some(close) = known.clone().find(|k| k.eq_ignore_ascii_case(kind)) {
        return format!("unknown layer or activation `{kind}`; did you mean `{close}`?");
    }
    let list: Vec<String> = known.map(|k| format!("`{k}`")).collect();
    format!(
        "unknown layer or activation `{kind}`; expected one of {}",
        list.join(", ")
    )
}

/// `name: Dense<inputs, outputs>` or `name: Dense<outputs>`.
fn dense(cx: &Ctxt, element: &Element) -> Option<Layer> {
    let Some((name, _)) = &element.name else {
        cx.error_spanned_by(
            element.tokens(),
            "a `Dense` layer needs a name: `hidden: Dense<4, 16>`",
        );
        return None;
    };
    if let Some((paren, _)) = &element.args {
        // `hidden: Dense(4, 16)`
        cx.syn_error(syn::Error::new(
            paren.span.join(),
            format!("layer `{name}` takes its sizes in angle brackets: `Dense<inputs, outputs>`"),
        ));
        return None;
    }
    let (docs, init) = layer_attributes(cx, &element.attrs);
    let arguments: Vec<&GenericArgument> = element
        .generics
        .iter()
        .flat_map(|g| g.args.iter())
        .collect();
    let sizes: Vec<Option<Size>> = arguments.iter().map(|arg| size(cx, name, arg)).collect();
    if arguments.is_empty() || arguments.len() > 2 {
        cx.error_spanned_by(
            element.tokens(),
            format!("layer `{name}`: `Dense` takes `<inputs, outputs>` or `<outputs>`, found {} size(s)", arguments.len()),
        );
        return None;
    }
    if sizes.iter().any(Option::is_none) {
        return None;
    }
    let mut sizes = sizes.into_iter().flatten();
    let (inputs, outputs) = if arguments.len() == 2 {
        (sizes.next(), sizes.next()?)
    } else {
        (None, sizes.next()?)
    };
    Some(Layer {
        docs,
        name: name.clone(),
        inputs,
        outputs,
        init,
        activation: None,
        follows_invalid: false,
    })
}

/// Splits a layer's attributes into doc comments and the `#[init(..)]` override,
/// recording an error for anything else.
fn layer_attributes(cx: &Ctxt, attrs: &[Attribute]) -> (Vec<Attribute>, Option<InitKind>) {
    let mut docs = Vec::new();
    let mut init = None;
    for attr in attrs {
        if attr.path().is_ident("doc") {
            docs.push(attr.clone());
        } else if attr.path().is_ident("init") {
            match attr.parse_args::<Ident>() {
                Ok(scheme) if scheme == "he" => init = Some(InitKind::He),
                Ok(scheme) if scheme == "xavier" => init = Some(InitKind::Xavier),
                _ => cx.error_spanned_by(
                    attr,
                    "unknown initialization; expected `#[init(he)]` or `#[init(xavier)]`",
                ),
            }
        } else {
            cx.error_spanned_by(
                attr,
                "unknown attribute on a layer; expected a doc comment, `#[init(he)]` or `#[init(xavier)]`",
            );
        }
    }
    (docs, init)
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
                    Ok(value) => Some(Size::Literal {
                        value,
                        tokens: int.to_token_stream(),
                    }),
                    Err(error) => {
                        cx.syn_error(error);
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
    let args: Vec<&Expr> = element.args.iter().flat_map(|(_, a)| a.iter()).collect();
    let kind = match name.as_str() {
        "LeakyRelu" => {
            if args.len() > 1 {
                cx.error_spanned_by(
                    element.tokens(),
                    "`LeakyRelu` takes one argument, its negative slope: `LeakyRelu(0.01)`",
                );
                ok = false;
            }
            // `LeakyRelu(-0.1)`: the derivative is read from the output's sign.
            if let Some(Expr::Unary(unary)) = args.first() {
                if matches!(unary.op, syn::UnOp::Neg(_)) {
                    cx.error_spanned_by(unary, "`LeakyRelu`'s negative slope must not be negative");
                    ok = false;
                }
            }
            ActivationKind::LeakyRelu(args.first().map(|e| (*e).clone()))
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
                "Sigmoid" => ActivationKind::Sigmoid,
                "Tanh" => ActivationKind::Tanh,
                _ => ActivationKind::Softmax,
            }
        }
    };
    ok.then_some(kind)
}
