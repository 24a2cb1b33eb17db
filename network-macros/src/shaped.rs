//! Shaped values and the layers that need them: `Input<C, L>` / `Input<C, H, W>`,
//! `Conv1d`, `Conv2d`, max and average pooling, global average pooling and `Flatten`
//! (`../shared/DESIGN.md` section 6). Sizes of these layers are integer literals: the
//! macro computes every shape itself and reports a shape that cannot work with one
//! spanned error naming the layers and shapes.

use proc_macro2::TokenStream;
use syn::{Expr, GenericArgument, Ident, Lit};

use crate::ast::MAX_SIZE;
use crate::ctxt::Ctxt;
use crate::parse::Element;

/// A per-sample shape: `[F]`, `[C, L]` or `[C, H, W]`.
pub type Shape = Vec<usize>;

/// `[8, 13]`.
pub fn describe(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// `[8, 13] = 104 values`, or `64 values` for a vector.
pub fn describe_values(shape: &[usize]) -> String {
    let n: usize = shape.iter().product();
    if shape.len() > 1 {
        format!("{} = {n} values", describe(shape))
    } else {
        format!("{n} values")
    }
}

/// How a convolution pads its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// Zeros `(top, bottom)` and `(left, right)`.
    Fixed((usize, usize), (usize, usize)),
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
    pub out_channels: usize,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub padding: Padding,
    pub dilation: (usize, usize),
    pub groups: usize,
    pub bias: bool,
    /// The element, to underline.
    pub tokens: TokenStream,
}

/// A convolution with its input shape known: `network_core::ConvGeometry`'s fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub in_channels: usize,
    pub height: usize,
    pub width: usize,
    pub out_channels: usize,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub pad_h: (usize, usize),
    pub pad_w: (usize, usize),
    pub dilation: (usize, usize),
    pub groups: usize,
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
    pub fn out_height(&self) -> Option<usize> {
        out_len(
            self.height,
            self.pad_h.0 + self.pad_h.1,
            self.kernel.0,
            self.stride.0,
            self.dilation.0,
        )
    }

    pub fn out_width(&self) -> Option<usize> {
        out_len(
            self.width,
            self.pad_w.0 + self.pad_w.1,
            self.kernel.1,
            self.stride.1,
            self.dilation.1,
        )
    }

    /// Weights per output channel.
    pub fn filter_len(&self) -> usize {
        self.in_channels / self.groups.max(1) * self.kernel.0 * self.kernel.1
    }

    /// `network_core::ConvGeometry { .. }` as an expression.
    pub fn expr(&self, p: &TokenStream) -> TokenStream {
        let ConvGeometry {
            in_channels,
            height,
            width,
            out_channels,
            kernel: (kh, kw),
            stride: (sh, sw),
            pad_h: (pt, pb),
            pad_w: (pl, pr),
            dilation: (dh, dw),
            groups,
        } = *self;
        quote::quote!(&#p::ConvGeometry {
            in_channels: #in_channels,
            height: #height,
            width: #width,
            out_channels: #out_channels,
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
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub tokens: TokenStream,
}

/// A pooling with its input shape known: `network_core::PoolGeometry`'s fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub padding: (usize, usize),
}

impl PoolGeometry {
    pub fn out_height(&self) -> Option<usize> {
        out_len(
            self.height,
            2 * self.padding.0,
            self.kernel.0,
            self.stride.0,
            1,
        )
    }

    pub fn out_width(&self) -> Option<usize> {
        out_len(
            self.width,
            2 * self.padding.1,
            self.kernel.1,
            self.stride.1,
            1,
        )
    }

    pub fn expr(&self, p: &TokenStream) -> TokenStream {
        let PoolGeometry {
            channels,
            height,
            width,
            kernel: (kh, kw),
            stride: (sh, sw),
            padding: (ph, pw),
        } = *self;
        quote::quote!(&#p::PoolGeometry {
            channels: #channels,
            height: #height,
            width: #width,
            kernel: (#kh, #kw),
            stride: (#sh, #sw),
            padding: (#ph, #pw),
        })
    }
}

/// An integer literal in a shaped layer (named constants are not read there yet).
fn literal(cx: &Ctxt, layer: &str, what: &str, expr: &Expr) -> Option<usize> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(int), ..
        }) if int.suffix().is_empty() || int.suffix() == "usize" => {
            match int.base10_parse::<usize>() {
                Ok(v) if v <= MAX_SIZE => Some(v),
                _ => {
                    cx.error_spanned_by(
                        int,
                        format!("layer `{layer}`: {what} is at most {MAX_SIZE}"),
                    );
                    None
                }
            }
        }
        Expr::Paren(inner) => literal(cx, layer, what, &inner.expr),
        other => {
            cx.error_spanned_by(
                other,
                format!("layer `{layer}`: {what} must be an integer literal (shaped layers compute their shapes in the macro)"),
            );
            None
        }
    }
}

/// A literal or a pair `(a, b)` (one value for both dimensions of a 2-d layer).
fn pair(cx: &Ctxt, layer: &str, what: &str, expr: &Expr, dims: usize) -> Option<(usize, usize)> {
    match expr {
        Expr::Tuple(t) if dims == 2 && t.elems.len() == 2 => Some((
            literal(cx, layer, what, &t.elems[0])?,
            literal(cx, layer, what, &t.elems[1])?,
        )),
        Expr::Tuple(t) => {
            cx.error_spanned_by(
                t,
                format!(
                    "layer `{layer}`: {what} is one integer{}",
                    if dims == 2 { " or a pair `(h, w)`" } else { "" }
                ),
            );
            None
        }
        other => {
            let v = literal(cx, layer, what, other)?;
            Some(if dims == 2 { (v, v) } else { (1, v) })
        }
    }
}

fn generic_literals(cx: &Ctxt, layer: &str, element: &Element) -> Option<Vec<usize>> {
    let mut values = Vec::new();
    for arg in element.generics.iter().flat_map(|g| g.args.iter()) {
        match arg {
            GenericArgument::Const(expr) => values.push(literal(cx, layer, "a size", expr)?),
            other => {
                cx.error_spanned_by(
                    other,
                    format!("layer `{layer}`: sizes of shaped layers are integer literals"),
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
    let sizes = generic_literals(cx, layer, element)?;
    let usage = if dims == 1 {
        "`Conv1d<out_channels, kernel>`"
    } else {
        "`Conv2d<out_channels, kernel>` or `Conv2d<out_channels, kernel_h, kernel_w>`"
    };
    let (out_channels, kernel) = match (dims, sizes.as_slice()) {
        (1, [o, k]) => (*o, (1, *k)),
        (2, [o, k]) => (*o, (*k, *k)),
        (2, [o, kh, kw]) => (*o, (*kh, *kw)),
        _ => {
            cx.error_spanned_by(
                element.tokens(),
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
    let one = (1, 1);
    let stride = match get("stride") {
        Some(e) => pair(cx, layer, "the stride", e, dims)?,
        None => one,
    };
    let dilation = match get("dilation") {
        Some(e) => pair(cx, layer, "the dilation", e, dims)?,
        None => one,
    };
    let groups = match get("groups") {
        Some(e) => literal(cx, layer, "the number of groups", e)?,
        None => 1,
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
        None => Padding::Fixed((0, 0), (0, 0)),
        Some(Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        })) => match s.value().as_str() {
            "same" => Padding::Same,
            "valid" => Padding::Fixed((0, 0), (0, 0)),
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
            let h = if dims == 1 { 0 } else { h };
            Padding::Fixed((h, h), (w, w))
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
        tokens: element.tokens(),
    })
}

/// `MaxPool1d<K>(stride = K, padding = 0)`, `AvgPool2d<K>` or `<KH, KW>`.
pub fn pool(cx: &Ctxt, layer: &str, element: &Element, dims: usize, max: bool) -> Option<PoolSpec> {
    let kind = element.kind.to_string();
    let sizes = generic_literals(cx, layer, element)?;
    let kernel = match (dims, sizes.as_slice()) {
        (1, [k]) => (1, *k),
        (2, [k]) => (*k, *k),
        (2, [kh, kw]) => (*kh, *kw),
        _ => {
            let usage = if dims == 1 {
                "`<kernel>`"
            } else {
                "`<kernel>` or `<kernel_h, kernel_w>`"
            };
            cx.error_spanned_by(
                element.tokens(),
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
        None => kernel,
    };
    let padding = match get("padding") {
        Some(e) => {
            let (h, w) = pair(cx, layer, "the padding", e, dims)?;
            (if dims == 1 { 0 } else { h }, w)
        }
        None => (0, 0),
    };
    Some(PoolSpec {
        max,
        dims,
        kernel,
        stride,
        padding,
        tokens: element.tokens(),
    })
}

/// `Input<F>`, `Input<C, L>` or `Input<C, H, W>`: every dimension at least 1.
pub fn input_shape(cx: &Ctxt, element: &Element) -> Option<Shape> {
    if element.name.is_some() || element.args.is_some() || element.body.is_some() {
        cx.error_spanned_by(
            element.tokens(),
            "`Input` states the input shape and nothing else: `Input<C, L>` or `Input<C, H, W>`",
        );
        return None;
    }
    let shape = generic_literals(cx, "Input", element)?;
    if shape.is_empty() || shape.len() > 3 {
        cx.error_spanned_by(
            element.tokens(),
            "`Input` takes one to three sizes: `Input<features>`, `Input<channels, length>` or `Input<channels, height, width>`",
        );
        return None;
    }
    if shape.contains(&0) {
        cx.error_spanned_by(element.tokens(), "`Input` has a dimension of 0");
        return None;
    }
    if shape
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
    Some(shape)
}
