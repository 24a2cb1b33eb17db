//! Expansion: from a checked IR to Rust. Each generated item has its own file; this one
//! reads like their table of contents and holds what they share: where each buffer
//! lives.

mod arch;
mod assertions;
mod backward;
mod forward;
mod network_impl;
mod params;
mod quant;
mod stream;
mod tape;
pub mod weights;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use crate::ast::{ActivationKind, Network, Node, NodeKind};
use crate::ctxt::Ctxt;
use crate::parse::Declaration;
use crate::{fallback, validate};

/// Everything the macro emits for one declaration: the network, or the errors plus a
/// fallback stub that keeps the user's later code from cascading into more errors.
pub fn network(decl: Declaration) -> TokenStream {
    let tokens = items(&decl);
    decorate(&decl, tokens)
}

/// Applies the declaration's `#[cfg(..)]` to every generated item (so a network that is
/// configured out leaves no impls behind), and, when the declaration is
/// `#[deprecated]`, allows its use inside the generated items (the user's own uses still
/// warn).
fn decorate(decl: &Declaration, tokens: TokenStream) -> TokenStream {
    let cfgs: Vec<&syn::Attribute> = decl
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .collect();
    let deprecated = decl.attrs.iter().any(|a| a.path().is_ident("deprecated"));
    if cfgs.is_empty() && !deprecated {
        return tokens;
    }
    let Ok(mut file) = syn::parse2::<syn::File>(tokens.clone()) else {
        return tokens;
    };
    for item in &mut file.items {
        let (attrs, is_struct) = match item {
            syn::Item::Const(i) => (&mut i.attrs, false),
            syn::Item::Impl(i) => (&mut i.attrs, false),
            syn::Item::Macro(i) => (&mut i.attrs, false),
            syn::Item::Struct(i) => {
                let own = i.ident == decl.ident;
                (&mut i.attrs, own)
            }
            _ => continue,
        };
        if !is_struct {
            attrs.extend(cfgs.iter().map(|a| (*a).clone()));
            if deprecated {
                attrs.push(syn::parse_quote!(#[allow(deprecated)]));
            }
        }
    }
    quote!(#file)
}

fn items(decl: &Declaration) -> TokenStream {
    let elements = match &decl.body {
        Ok(elements) => elements,
        Err(error) => {
            let mut tokens = error.to_compile_error();
            tokens.extend(fallback::stub(decl, None));
            return tokens;
        }
    };
    let cx = Ctxt::new();
    for error in &decl.recovered {
        cx.syn_error(error.clone());
    }
    let mut net = Network::from_syntax(&cx, decl, elements);
    validate::check(&cx, &mut net);
    match cx.check() {
        Ok(()) => generate(&net),
        Err(errors) => {
            let mut tokens = errors.to_compile_error();
            // The stub's sizes may name the hidden constants.
            tokens.extend(assertions::hoisted(&net));
            tokens.extend(fallback::stub(decl, fallback::io_sizes(&net)));
            tokens
        }
    }
}

fn generate(net: &Network) -> TokenStream {
    let definition = params::struct_definition(net);
    let params = params::params_impl(net);
    let tape = tape::tape_definition(net);
    let network = network_impl::network_impl(net);
    let inherent = network_impl::inherent_impl(net);
    let assertions = assertions::const_assertions(net);
    let hoisted = assertions::hoisted(net);
    let weights = weights::weights(net);
    let stream = stream::stream(net);
    let quantized = quant::quant(net);
    quote! {
        #quantized
        #hoisted
        #weights
        #definition
        #stream
        #tape
        #assertions
        #inherent
        #params
        #network
    }
}

thread_local! {
    /// The names of the scalar and batch generic parameters of this expansion.
    static GENERICS: std::cell::RefCell<(String, String)> =
        std::cell::RefCell::new(("T".into(), "B".into()));
}

/// Chooses the names of the generated generic parameters so that they cannot capture a
/// name the declaration uses: `T` and `B`, unless the declaration mentions them (a
/// network named `T`, a `const B: usize` used as a size), then `__T` and `__B` (names
/// starting with `__` are reserved for generated code).
pub fn choose_generics(input: &TokenStream) {
    fn mentions(tokens: &TokenStream, name: &str) -> bool {
        tokens.clone().into_iter().any(|t| match t {
            proc_macro2::TokenTree::Ident(i) => i == name,
            proc_macro2::TokenTree::Group(g) => mentions(&g.stream(), name),
            _ => false,
        })
    }
    let pick = |name: &str| {
        if mentions(input, name) {
            format!("__{name}")
        } else {
            name.to_string()
        }
    };
    GENERICS.with(|g| *g.borrow_mut() = (pick("T"), pick("B")));
}

/// The scalar type parameter of the generated items (`T`).
pub fn scalar() -> Ident {
    GENERICS.with(|g| Ident::new(&g.borrow().0, proc_macro2::Span::call_site()))
}

/// The batch-size const parameter of the generated items (`B`).
pub fn batch() -> Ident {
    GENERICS.with(|g| Ident::new(&g.borrow().1, proc_macro2::Span::call_site()))
}

/// The root every generated path starts from: users depend on `network` alone.
pub fn private() -> TokenStream {
    quote!(::network::__private)
}

/// The tape type's name: `IrisTape` for `Iris`.
pub fn tape_ident(net: &Network) -> Ident {
    format_ident!("{}Tape", net.ident)
}

/// The network's input and output sizes.
pub fn io(net: &Network) -> (TokenStream, TokenStream) {
    let first = net
        .nodes
        .first()
        .and_then(|n| n.input.as_ref())
        .map(|s| s.expr());
    let last = net
        .nodes
        .last()
        .and_then(|n| n.output.as_ref())
        .map(|s| s.expr());
    (first.unwrap_or_default(), last.unwrap_or_default())
}

pub fn input(node: &Node) -> TokenStream {
    node.input.as_ref().map(|s| s.expr()).unwrap_or_default()
}

pub fn output(node: &Node) -> TokenStream {
    node.output.as_ref().map(|s| s.expr()).unwrap_or_default()
}

/// A batch norm's parameter count: the channels of a shaped input, else its size.
pub fn norm_features(node: &Node) -> TokenStream {
    match node.norm_features() {
        Some(channels) => channels.expr(),
        None => output(node),
    }
}

/// The geometry expression of a convolution or pooling (`&ConvGeometry { .. }`).
pub fn geometry(node: &Node) -> TokenStream {
    let p = private();
    match &node.kind {
        NodeKind::Conv {
            geometry: Some(g), ..
        } => g.expr(&p),
        NodeKind::Pool {
            geometry: Some(g), ..
        } => g.expr(&p),
        _ => TokenStream::new(),
    }
}

/// The rows of a transposition's input (`a` of `[a, b]`).
pub fn transpose_rows(node: &Node) -> TokenStream {
    node.in_shape
        .as_deref()
        .and_then(|s| s.first())
        .map(crate::ast::Size::expr)
        .unwrap_or_default()
}

/// `B * positions`: the values per channel a batch norm's statistics are over.
pub fn norm_count(node: &Node) -> TokenStream {
    let batch = batch();
    match node.in_shape.as_deref() {
        Some(shape @ [_, rest @ ..]) if shape.len() > 1 => {
            let positions = crate::ast::Size::product(rest, &quote!(#batch)).value();
            quote!(#batch * #positions)
        }
        _ => quote!(#batch),
    }
}

/// Every node, depth first, with whether it lies inside a checkpointed block (whose
/// buffers are recomputed rather than kept).
pub fn walk(nodes: &[Node]) -> Vec<(&Node, bool)> {
    fn go<'a>(nodes: &'a [Node], inside: bool, out: &mut Vec<(&'a Node, bool)>) {
        for node in nodes {
            out.push((node, inside));
            if let NodeKind::Residual { body } = &node.kind {
                go(body, inside || node.checkpoint, out);
            }
        }
    }
    let mut out = Vec::new();
    go(nodes, false, &mut out);
    out
}

/// Every node with the PyTorch module path of the blocks around it (`"block."`, or `""`
/// at the top level), in [`walk`] order.
pub fn walk_paths(nodes: &[Node]) -> Vec<(&Node, String)> {
    fn go<'a>(nodes: &'a [Node], prefix: &str, out: &mut Vec<(&'a Node, String)>) {
        for node in nodes {
            out.push((node, prefix.to_string()));
            if let NodeKind::Residual { body } = &node.kind {
                go(body, &format!("{prefix}{}.", node.label), out);
            }
        }
    }
    let mut out = Vec::new();
    go(nodes, "", &mut out);
    out
}

/// Whether dropout occurs among `nodes`, nested blocks included.
pub fn has_dropout(nodes: &[Node]) -> bool {
    walk(nodes)
        .iter()
        .any(|(n, _)| matches!(n.kind, NodeKind::Dropout { .. }))
}

/// One buffer of a node: its field suffix and its type.
pub struct Buffer {
    pub suffix: &'static str,
    pub ty: TokenStream,
    /// An output or internal buffer: internal ones are recomputed when the node is
    /// checkpointed.
    pub internal: bool,
    /// Bytes, as an expression of `__batch` (for `tape_bytes`).
    pub bytes: TokenStream,
}

/// The buffers a node's training forward pass fills, for backward.
pub fn buffers(node: &Node) -> Vec<Buffer> {
    let scalar = scalar();
    let batch = batch();
    let p = private();
    let out = output(node);
    let bytes = quote!(::core::mem::size_of::<#scalar>());
    let matrix = |suffix, internal| Buffer {
        suffix,
        ty: quote!(#p::SMatrix<#scalar, #out, #batch>),
        internal,
        bytes: quote!(#out * __batch * #bytes),
    };
    let mut list = vec![matrix("", false)];
    if node
        .activation
        .as_ref()
        .is_some_and(ActivationKind::uses_input)
    {
        list.push(matrix("pre", true));
    }
    match &node.kind {
        NodeKind::BatchNorm { .. } => {
            let features = norm_features(node);
            list.push(matrix("xhat", true));
            list.push(Buffer {
                suffix: "invstd",
                ty: quote!(#p::SMatrix<#scalar, #features, 1>),
                internal: true,
                bytes: quote!(#features * #bytes),
            });
        }
        // Which value of each window won: one byte per output.
        NodeKind::Pool { spec, .. } if spec.max => list.push(Buffer {
            suffix: "winners",
            ty: quote!(#p::SMatrix<u8, #out, #batch>),
            internal: true,
            bytes: quote!(#out * __batch),
        }),
        NodeKind::LayerNorm { .. } => {
            list.push(matrix("xhat", true));
            list.push(Buffer {
                suffix: "invstd",
                ty: quote!(#p::SMatrix<#scalar, 1, #batch>),
                internal: true,
                bytes: quote!(__batch * #bytes),
            });
        }
        NodeKind::Dropout { .. } => list.push(Buffer {
            suffix: "mask",
            ty: quote!(#p::SMatrix<u32, { #p::mask_words(#out) }, #batch>),
            internal: true,
            bytes: quote!(#p::mask_words(#out) * __batch * 4),
        }),
        // Every step's cell values and outputs, for backpropagation through time.
        NodeKind::Recurrent(_) => {
            let cache = recurrent_cache(node);
            list.push(Buffer {
                suffix: "cache",
                ty: quote!(#p::SMatrix<#scalar, { #cache }, #batch>),
                internal: true,
                bytes: quote!(#cache * __batch * #bytes),
            });
        }
        NodeKind::Residual { body } if node.checkpoint && has_dropout(body) => list.push(Buffer {
            suffix: "rng",
            ty: quote!(#p::Rng),
            internal: false,
            bytes: quote!(::core::mem::size_of::<#p::Rng>()),
        }),
        _ => {}
    }
    list
}

/// The layer type of a recurrent node: `Gru<T, F, H, G>` or `Lstm<..>`.
pub fn recurrent_type(node: &Node) -> TokenStream {
    let (scalar, p) = (scalar(), private());
    let NodeKind::Recurrent(spec) = &node.kind else {
        return TokenStream::new();
    };
    let features = match node.in_shape.as_deref() {
        Some([_, f]) => f.expr(),
        _ => quote!(1),
    };
    let (hidden, gates) = (spec.hidden.expr(), spec.gates());
    let layer = if spec.lstm { quote!(Lstm) } else { quote!(Gru) };
    quote!(#p::#layer<#scalar, #features, #hidden, #gates>)
}

/// Tape values per sample of a recurrent node: `steps * (cache + 1) * hidden`.
pub fn recurrent_cache(node: &Node) -> TokenStream {
    let steps = match node.in_shape.as_deref() {
        Some([t, _]) => t.value(),
        _ => quote!(1),
    };
    let p = private();
    let NodeKind::Recurrent(spec) = &node.kind else {
        return TokenStream::new();
    };
    let (hidden, cache) = (
        spec.hidden.value(),
        if spec.lstm {
            quote!(#p::LSTM_CACHE)
        } else {
            quote!(#p::GRU_CACHE)
        },
    );
    quote!(#steps * (#cache + 1) * #hidden)
}

/// Whether a buffer is kept on the tape: not inside a checkpointed block, and not an
/// internal buffer of a checkpointed node.
pub fn stored(node: &Node, inside: bool, buffer: &Buffer) -> bool {
    let recomputed = inside || (node.checkpoint && buffer.internal);
    !recomputed
}

/// How generated code refers to a buffer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A field of the tape, `__tape.name`.
    Tape,
    /// A local variable, `__l_name`.
    Local,
}

pub fn place_of(node: &Node, suffix: &str, place: Place) -> TokenStream {
    match place {
        Place::Tape => {
            let field = tape_field(node, suffix);
            quote!(__tape.#field)
        }
        Place::Local => {
            let local = format_ident!("__l{}_{}", suffix, node.label);
            quote!(#local)
        }
    }
}

/// The tape field of a node's buffer: the node's own name for its output, `__xhat_name`
/// for the others.
///
/// Generated names never collide with each other or with the user's: layer names cannot
/// start with `__`, and every generated name derived from a layer's is
/// `__<family>_<layer>` with a family of letters only (`d`, `i`, `l`, `lxhat`, `xhat`,
/// ...), so the family ends at the first `_` after `__` and the rest is the layer name.
/// Fixed names (`__x`, `__dout`, `__tape`, ...) have no `_` after the family.
pub fn tape_field(node: &Node, suffix: &str) -> Ident {
    if suffix.is_empty() {
        node.name.clone()
    } else {
        format_ident!("__{}_{}", suffix, node.label)
    }
}

/// The value of an activation, or `None` for the identity (which generates no code).
pub fn activation_value(node: &Node) -> Option<TokenStream> {
    let p = private();
    Some(match node.activation.as_ref()? {
        ActivationKind::Identity => return None,
        ActivationKind::Relu => quote!(#p::Relu),
        ActivationKind::LeakyRelu(Some(alpha)) => {
            let alpha = alpha.expr();
            quote!(#p::LeakyRelu { alpha: #alpha })
        }
        ActivationKind::LeakyRelu(None) => quote!(#p::LeakyRelu { alpha: 0.01 }),
        ActivationKind::Elu(Some(alpha)) => {
            let alpha = alpha.expr();
            quote!(#p::Elu { alpha: #alpha })
        }
        ActivationKind::Elu(None) => quote!(#p::Elu { alpha: 1.0 }),
        ActivationKind::Gelu => quote!(#p::Gelu),
        ActivationKind::Softplus => quote!(#p::Softplus),
        ActivationKind::Sigmoid => quote!(#p::Sigmoid),
        ActivationKind::Tanh => quote!(#p::Tanh),
        ActivationKind::Softmax => quote!(#p::Softmax),
    })
}
