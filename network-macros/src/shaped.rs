//! Shaped values and the layers that need them: `Input<C, L>` / `Input<C, H, W>`,
//! `Conv1d`, `Conv2d`, max and average pooling, global average pooling and `Flatten`
//! (`../shared/DESIGN.md` section 6). Sizes are integer literals, `const` items or
//! `{ const expressions }`, like every other size. With literals the macro computes every
//! shape itself and reports a shape that cannot work with one spanned error naming the
//! layers and shapes; a shape that depends on a named size is an expression the compiler
//! evaluates, checked by a spanned const assertion with the same rules.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{Expr, GenericArgument, Ident, Lit, Type};

use crate::ast::{Size, MAX_SIZE};
use crate::ctxt::Ctxt;
use crate::parse::Element;

/// A per-sample shape: `[F]`, `[C, L]` or `[C, H, W]`.
pub type Shape = Vec<Size>;

/// `[8, 13]`, `[`C`, 13]`.
pub fn describe(shape: &[Size]) -> String {
    let dims: Vec<String> = shape.iter().map(Size::describe).collect();
    format!("[{}]", dims.join(", "))
}

/// `[8, 13] = 104 values`, or `64 values` for a vector (literal shapes), else the shape.
pub fn describe_values(shape: &[Size]) -> String {
    let literal: Option<Vec<usize>> = shape.iter().map(Size::literal).collect();
    match literal {
        Some(dims) => {
            let n: usize = dims.iter().product();
            if shape.len() > 1 {
                format!("{} = {n} values", describe(shape))
            } else {
                format!("{n} values")
            }
        }
        None => format!("{} values", describe(shape)),
    }
}

/// The literal values of `sizes`, when all are literals.
pub fn literals(sizes: &[&Size]) -> Option<Vec<usize>> {
    sizes.iter().map(|s| s.literal()).collect()
}

/// How a convolution pads its input.
#[derive(Clone)]
#[allow(clippy::large_enum_variant)] // one per convolution layer, during expansion
pub enum Padding {
    /// Zeros on both sides: `(vertical, horizontal)`.
    Fixed(Size, Size),
    /// PyTorch's `"same"` (stride 1): `dilation * (kernel - 1)` in all, the extra one on
    /// the right or bottom.
    Same,
    /// All of `dilation * (kernel - 1)` on the left: the output never sees the future.
    Causal,
}

/// A convolution as declared.
pub struct ConvSpec {
    /// 1 or 2.
    pub dims: usize,
    pub out_channels: Size,
    pub kernel: (Size, Size),
    pub stride: (Size, Size),
    pub padding: Padding,
    pub dilation: (Size, Size),
    pub groups: Size,
    pub bias: bool,
    /// The element, to underline.
    pub tokens: TokenStream,
}

impl ConvSpec {
    /// Every size written on the layer.
    pub fn sizes(&self) -> Vec<&Size> {
        let mut v = vec![
            &self.out_channels,
            &self.kernel.0,
            &self.kernel.1,
            &self.stride.0,
            &self.stride.1,
            &self.dilation.0,
            &self.dilation.1,
            &self.groups,
        ];
        if let Padding::Fixed(h, w) = &self.padding {
            v.extend([h, w]);
        }
        v
    }

    /// The sizes that must be at least 1 (all but the padding), mutably.
    pub fn positive_sizes_mut(&mut self) -> Vec<&mut Size> {
        vec![
            &mut self.out_channels,
            &mut self.kernel.0,
            &mut self.kernel.1,
            &mut self.stride.0,
            &mut self.stride.1,
            &mut self.dilation.0,
            &mut self.dilation.1,
            &mut self.groups,
        ]
    }

    /// The sizes that must be at least 1 (all but the padding).
    pub fn positive_sizes(&self) -> Vec<&Size> {
        let mut v = self.sizes();
        v.truncate(8);
        v
    }
}

/// A convolution with its input shape known: `network_core::ConvGeometry`'s fields.
#[derive(Clone)]
pub struct ConvGeometry {
    pub in_channels: Size,
    pub height: Size,
    pub width: Size,
    pub out_channels: Size,
    pub kernel: (Size, Size),
    pub stride: (Size, Size),
    pub pad_h: (Size, Size),
    pub pad_w: (Size, Size),
    pub dilation: (Size, Size),
    pub groups: Size,
}

/// `floor((n + pad - dilation (k - 1) - 1) / stride) + 1`, or `None` when the kernel
/// does not fit.
pub fn out_len(n: usize, pad: usize, k: usize, stride: usize, dilation: usize) -> Option<usize> {
    let span = dilation.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
    let padded = n.checked_add(pad)?;
    if stride == 0 || padded < span {
        None
    } else {
        Some((padded - span) / stride + 1)
    }
}

impl ConvGeometry {
    /// Weights per output channel: `in_channels / groups * kh * kw`.
    pub fn filter_len(&self) -> TokenStream {
        let parts = [
            &self.in_channels,
            &self.groups,
            &self.kernel.0,
            &self.kernel.1,
        ];
        match literals(&parts) {
            Some(v) => {
                let n = v[0] / v[1].max(1) * v[2] * v[3];
                quote!(#n)
            }
            None => {
                let [c, g, kh, kw] = parts.map(Size::value);
                quote!((#c / #g * #kh * #kw))
            }
        }
    }

    /// Input channels per group.
    pub fn group_channels(&self) -> TokenStream {
        match literals(&[&self.in_channels, &self.groups]) {
            Some(v) => {
                let n = v[0] / v[1].max(1);
                quote!(#n)
            }
            None => {
                let (c, g) = (self.in_channels.value(), self.groups.value());
                quote!((#c / #g))
            }
        }
    }

    /// `network_core::ConvGeometry { .. }` as an expression (a reference).
    pub fn expr(&self, p: &TokenStream) -> TokenStream {
        let e = |s: &Size| s.expr();
        let (c, h, w, o) = (
            e(&self.in_channels),
            e(&self.height),
            e(&self.width),
            e(&self.out_channels),
        );
        let (kh, kw) = (e(&self.kernel.0), e(&self.kernel.1));
        let (sh, sw) = (e(&self.stride.0), e(&self.stride.1));
        let (pt, pb) = (e(&self.pad_h.0), e(&self.pad_h.1));
        let (pl, pr) = (e(&self.pad_w.0), e(&self.pad_w.1));
        let (dh, dw) = (e(&self.dilation.0), e(&self.dilation.1));
        let groups = e(&self.groups);
        quote!(&#p::ConvGeometry {
            in_channels: #c,
            height: #h,
            width: #w,
            out_channels: #o,
            kernel: (#kh, #kw),
            stride: (#sh, #sw),
            pad_h: (#pt, #pb),
            pad_w: (#pl, #pr),
            dilation: (#dh, #dw),
            groups: #groups,
        })
    }
}

/// A pooling as declared.
pub struct PoolSpec {
    pub max: bool,
    pub dims: usize,
    pub kernel: (Size, Size),
    pub stride: (Size, Size),
    pub padding: (Size, Size),
    pub tokens: TokenStream,
}

impl PoolSpec {
    /// Window and stride (at least 1), then padding.
    pub fn sizes(&self) -> Vec<&Size> {
        vec![
            &self.kernel.0,
            &self.kernel.1,
            &self.stride.0,
            &self.stride.1,
            &self.padding.0,
            &self.padding.1,
        ]
    }

    /// The sizes that must be at least 1, mutably.
    pub fn positive_sizes_mut(&mut self) -> Vec<&mut Size> {
        vec![
            &mut self.kernel.0,
            &mut self.kernel.1,
            &mut self.stride.0,
            &mut self.stride.1,
        ]
    }

    /// The sizes that must be at least 1.
    pub fn positive_sizes(&self) -> Vec<&Size> {
        let mut v = self.sizes();
        v.truncate(4);
        v
    }
}

/// A pooling with its input shape known: `network_core::PoolGeometry`'s fields.
#[derive(Clone)]
pub struct PoolGeometry {
    pub channels: Size,
    pub height: Size,
    pub width: Size,
    pub kernel: (Size, Size),
    pub stride: (Size, Size),
    pub padding: (Size, Size),
}

impl PoolGeometry {
    pub fn expr(&self, p: &TokenStream) -> TokenStream {
        let e = |s: &Size| s.expr();
        let (c, h, w) = (e(&self.channels), e(&self.height), e(&self.width));
        let (kh, kw) = (e(&self.kernel.0), e(&self.kernel.1));
        let (sh, sw) = (e(&self.stride.0), e(&self.stride.1));
        let (ph, pw) = (e(&self.padding.0), e(&self.padding.1));
        quote!(&#p::PoolGeometry {
            channels: #c,
            height: #h,
            width: #w,
            kernel: (#kh, #kw),
            stride: (#sh, #sw),
            padding: (#ph, #pw),
        })
    }
}

/// A size of a shaped layer: an integer literal (at most `MAX_SIZE`), a `const` item or
/// a `{ const expression }`.
fn dim(cx: &Ctxt, layer: &str, what: &str, expr: &Expr) -> Option<Size> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(int), ..
        }) if int.suffix().is_empty() || int.suffix() == "usize" => {
            match int.base10_parse::<usize>() {
                Ok(v) if v <= MAX_SIZE => Some(Size::Literal {
                    value: v,
                    tokens: int.to_token_stream(),
                }),
                _ => {
                    cx.error_spanned_by(
                        int,
                        format!("layer `{layer}`: {what} is at most {MAX_SIZE}"),
                    );
                    None
                }
            }
        }
        Expr::Paren(inner) => dim(cx, layer, what, &inner.expr),
        Expr::Path(path)
            if path.qself.is_none() && path.path.segments.iter().all(|s| s.arguments.is_none()) =>
        {
            Some(named(path.to_token_stream(), path.to_token_stream()))
        }
        Expr::Block(block) => {
            let stmts = &block.block.stmts;
            Some(named(quote!(#(#stmts)*), block.to_token_stream()))
        }
        other => {
            cx.error_spanned_by(
                other,
                format!("layer `{layer}`: {what} must be an integer literal, a `const` item or a `{{ const expression }}`"),
            );
            None
        }
    }
}

fn named(tokens: TokenStream, written: TokenStream) -> Size {
    Size::Named {
        tokens,
        written,
        hoisted: None,
    }
}

/// A size or a pair `(a, b)` (one value for both dimensions of a 2-d layer).
fn pair(cx: &Ctxt, layer: &str, what: &str, expr: &Expr, dims: usize) -> Option<(Size, Size)> {
    match expr {
        Expr::Tuple(t) if dims == 2 && t.elems.len() == 2 => Some((
            dim(cx, layer, what, &t.elems[0])?,
            dim(cx, layer, what, &t.elems[1])?,
        )),
        Expr::Tuple(t) => {
            cx.error_spanned_by(
                t,
                format!(
                    "layer `{layer}`: {what} is one size{}",
                    if dims == 2 { " or a pair `(h, w)`" } else { "" }
                ),
            );
            None
        }
        other => {
            let v = dim(cx, layer, what, other)?;
            Some(if dims == 2 {
                (v.clone(), v)
            } else {
                (one(&v), v)
            })
        }
    }
}

/// A literal 1 (the height of a 1-d layer), underlining `like`.
pub fn one(like: &Size) -> Size {
    Size::computed(1, like.tokens())
}

/// A literal 0, underlining `like`.
fn zero(like: &TokenStream) -> Size {
    Size::computed(0, like)
}

fn generic_sizes(cx: &Ctxt, layer: &str, element: &Element) -> Option<Vec<Size>> {
    let mut values = Vec::new();
    for arg in element.generics.iter().flat_map(|g| g.args.iter()) {
        match arg {
            GenericArgument::Const(expr) => values.push(dim(cx, layer, "a size", expr)?),
            // `Conv1d<OUT, K>`: a bare name parses as a type.
            GenericArgument::Type(Type::Path(path))
                if path.qself.is_none()
                    && path.path.segments.iter().all(|s| s.arguments.is_none()) =>
            {
                values.push(named(path.to_token_stream(), path.to_token_stream()));
            }
            other => {
                cx.error_spanned_by(
                    other,
                    format!("layer `{layer}`: expected a size: an integer literal, a `const` item or a `{{ const expression }}`"),
                );
                return None;
            }
        }
    }
    Some(values)
}

/// `name = value` options in parentheses, each known and given once.
fn options<'a>(
    cx: &Ctxt,
    layer: &str,
    element: &'a Element,
    known: &[&str],
) -> Option<Vec<(String, &'a Expr)>> {
    let mut found: Vec<(String, &Expr)> = Vec::new();
    let mut ok = true;
    for arg in element.args.iter().flat_map(|(_, a)| a.iter()) {
        let Expr::Assign(assign) = arg else {
            cx.error_spanned_by(
                arg,
                format!(
                    "layer `{layer}` takes options as `name = value`: {}",
                    known.join(", ")
                ),
            );
            ok = false;
            continue;
        };
        let name = match &*assign.left {
            Expr::Path(p) if p.path.get_ident().is_some() => {
                p.path.get_ident().map(Ident::to_string).unwrap_or_default()
            }
            other => {
                cx.error_spanned_by(other, format!("layer `{layer}`: expected an option name"));
                ok = false;
                continue;
            }
        };
        if !known.contains(&name.as_str()) {
            cx.error_spanned_by(
                &assign.left,
                format!(
                    "layer `{layer}` has no option `{name}`; it takes {}",
                    known.join(", ")
                ),
            );
            ok = false;
        } else if found.iter().any(|(n, _)| *n == name) {
            cx.error_spanned_by(
                &assign.left,
                format!("layer `{layer}`: option `{name}` is given twice"),
            );
            ok = false;
        } else {
            found.push((name, &assign.right));
        }
    }
    ok.then_some(found)
}

/// `c1: Conv1d<OUT, K>(stride = 1, padding = 0 | "same" | "causal", dilation = 1,
/// groups = 1, bias = true)`, `c2: Conv2d<OUT, K>` or `Conv2d<OUT, KH, KW>` with pairs
/// for stride, padding and dilation.
pub fn conv(cx: &Ctxt, layer: &str, element: &Element, dims: usize) -> Option<ConvSpec> {
    let kind = element.kind.to_string();
    let tokens = element.tokens();
    let sizes = generic_sizes(cx, layer, element)?;
    let usage = if dims == 1 {
        "`Conv1d<out_channels, kernel>`"
    } else {
        "`Conv2d<out_channels, kernel>` or `Conv2d<out_channels, kernel_h, kernel_w>`"
    };
    let (out_channels, kernel) = match (dims, sizes.as_slice()) {
        (1, [o, k]) => (o.clone(), (one(k), k.clone())),
        (2, [o, k]) => (o.clone(), (k.clone(), k.clone())),
        (2, [o, kh, kw]) => (o.clone(), (kh.clone(), kw.clone())),
        _ => {
            cx.error_spanned_by(
                &tokens,
                format!(
                    "layer `{layer}`: `{kind}` takes {usage}, found {} size(s)",
                    sizes.len()
                ),
            );
            return None;
        }
    };
    let known = ["stride", "padding", "dilation", "groups", "bias"];
    let opts = options(cx, layer, element, &known)?;
    let get = |name: &str| opts.iter().find(|(n, _)| n == name).map(|(_, e)| *e);
    let ones = || (Size::computed(1, &tokens), Size::computed(1, &tokens));
    let stride = match get("stride") {
        Some(e) => pair(cx, layer, "the stride", e, dims)?,
        None => ones(),
    };
    let dilation = match get("dilation") {
        Some(e) => pair(cx, layer, "the dilation", e, dims)?,
        None => ones(),
    };
    let groups = match get("groups") {
        Some(e) => dim(cx, layer, "the number of groups", e)?,
        None => Size::computed(1, &tokens),
    };
    let bias = match get("bias") {
        None => true,
        Some(Expr::Lit(syn::ExprLit {
            lit: Lit::Bool(b), ..
        })) => b.value,
        Some(other) => {
            cx.error_spanned_by(
                other,
                format!("layer `{layer}`: `bias` is `true` or `false`"),
            );
            return None;
        }
    };
    let padding = match get("padding") {
        None => Padding::Fixed(zero(&tokens), zero(&tokens)),
        Some(Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        })) => match s.value().as_str() {
            "same" => Padding::Same,
            "valid" => Padding::Fixed(zero(&tokens), zero(&tokens)),
            "causal" if dims == 1 => Padding::Causal,
            _ => {
                let causal = if dims == 1 { ", \"causal\"" } else { "" };
                cx.error_spanned_by(
                    s,
                    format!("layer `{layer}`: padding is a number, \"same\", \"valid\"{causal}"),
                );
                return None;
            }
        },
        Some(e) => {
            let (h, w) = pair(cx, layer, "the padding", e, dims)?;
            let h = if dims == 1 { zero(h.tokens()) } else { h };
            Padding::Fixed(h, w)
        }
    };
    Some(ConvSpec {
        dims,
        out_channels,
        kernel,
        stride,
        padding,
        dilation,
        groups,
        bias,
        tokens,
    })
}

/// `MaxPool1d<K>(stride = K, padding = 0)`, `AvgPool2d<K>` or `<KH, KW>`.
pub fn pool(cx: &Ctxt, layer: &str, element: &Element, dims: usize, max: bool) -> Option<PoolSpec> {
    let kind = element.kind.to_string();
    let tokens = element.tokens();
    let sizes = generic_sizes(cx, layer, element)?;
    let kernel = match (dims, sizes.as_slice()) {
        (1, [k]) => (one(k), k.clone()),
        (2, [k]) => (k.clone(), k.clone()),
        (2, [kh, kw]) => (kh.clone(), kw.clone()),
        _ => {
            let usage = if dims == 1 {
                "`<kernel>`"
            } else {
                "`<kernel>` or `<kernel_h, kernel_w>`"
            };
            cx.error_spanned_by(
                &tokens,
                format!(
                    "layer `{layer}`: `{kind}` takes its window as {usage}, found {} size(s)",
                    sizes.len()
                ),
            );
            return None;
        }
    };
    let opts = options(cx, layer, element, &["stride", "padding"])?;
    let get = |name: &str| opts.iter().find(|(n, _)| n == name).map(|(_, e)| *e);
    let stride = match get("stride") {
        Some(e) => pair(cx, layer, "the stride", e, dims)?,
        None => kernel.clone(),
    };
    let padding = match get("padding") {
        Some(e) => {
            let (h, w) = pair(cx, layer, "the padding", e, dims)?;
            (if dims == 1 { zero(h.tokens()) } else { h }, w)
        }
        None => (zero(&tokens), zero(&tokens)),
    };
    Some(PoolSpec {
        max,
        dims,
        kernel,
        stride,
        padding,
        tokens,
    })
}

/// `Input<F>`, `Input<C, L>` or `Input<C, H, W>`: every literal dimension at least 1 and
/// at most `MAX_SIZE` values in all (named dimensions are checked by const assertions).
pub fn input_shape(cx: &Ctxt, element: &Element) -> Option<Shape> {
    if element.name.is_some() || element.args.is_some() || element.body.is_some() {
        cx.error_spanned_by(
            element.tokens(),
            "`Input` states the input shape and nothing else: `Input<C, L>` or `Input<C, H, W>`",
        );
        return None;
    }
    let shape = generic_sizes(cx, "Input", element)?;
    if shape.is_empty() || shape.len() > 3 {
        cx.error_spanned_by(
            element.tokens(),
            "`Input` takes one to three sizes: `Input<features>`, `Input<channels, length>` or `Input<channels, height, width>`",
        );
        return None;
    }
    if shape.iter().any(|d| d.literal() == Some(0)) {
        cx.error_spanned_by(element.tokens(), "`Input` has a dimension of 0");
        return None;
    }
    let literal: Option<Vec<usize>> = shape.iter().map(Size::literal).collect();
    if let Some(dims) = literal {
        if dims
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .is_none_or(|n| n > MAX_SIZE)
        {
            cx.error_spanned_by(
                element.tokens(),
                format!("`Input` has more than {MAX_SIZE} values per sample"),
            );
            return None;
        }
    }
    Some(shape)
}

/// A recurrent layer as declared.
pub struct RecurrentSpec {
    /// `Lstm` rather than `Gru`.
    pub lstm: bool,
    /// Hidden units.
    pub hidden: Size,
    /// `output = "last"`: the last step's state `[H]` instead of every step's `[T, H]`.
    pub last: bool,
    /// The element, to underline.
    pub tokens: TokenStream,
}

impl RecurrentSpec {
    /// Gate rows: `3H` (GRU) or `4H` (LSTM).
    pub fn gates(&self) -> TokenStream {
        let h = self.hidden.value();
        let n: usize = if self.lstm { 4 } else { 3 };
        match self.hidden.literal() {
            Some(v) => {
                let g = n * v;
                quote!(#g)
            }
            None => quote!({ #n * #h }),
        }
    }
}

/// `rnn: Gru<HIDDEN>` or `Lstm<HIDDEN>`, optionally `(output = "last")` (default
/// `"sequence"`: every step's output).
pub fn recurrent(cx: &Ctxt, layer: &str, element: &Element, lstm: bool) -> Option<RecurrentSpec> {
    let kind = element.kind.to_string();
    let tokens = element.tokens();
    let sizes = generic_sizes(cx, layer, element)?;
    let [hidden] = sizes.as_slice() else {
        cx.error_spanned_by(
            &tokens,
            format!("layer `{layer}`: `{kind}` takes its hidden size: `{kind}<hidden>`, found {} size(s)", sizes.len()),
        );
        return None;
    };
    let opts = options(cx, layer, element, &["output"])?;
    let last = match opts.first().map(|(_, e)| *e) {
        None => false,
        Some(Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        })) if s.value() == "last" || s.value() == "sequence" => s.value() == "last",
        Some(other) => {
            cx.error_spanned_by(
                other,
                format!("layer `{layer}`: `output` is \"sequence\" (every step, the default) or \"last\" (the last step)"),
            );
            return None;
        }
    };
    Some(RecurrentSpec {
        lstm,
        hidden: hidden.clone(),
        last,
        tokens,
    })
}
