//! `#[weights("digits.bin")]` on a declaration: a constant `WEIGHTS` of the network
//! holding the trained weights of a `network::raw` file, decoded at compile time, so that
//! `static NET: Net = Net::WEIGHTS;` keeps them in flash (`.rodata`) and inference
//! borrows them: nothing is copied into RAM.
//!
//! The macro reads the file when it expands and checks it against the declaration: the
//! header, the checksum, the tensor count, every tensor's shape (a mismatch is an error
//! that names the tensor and both shapes, underlining the attribute; for a size given
//! as a constant, a const assertion with the same message) and that every value is
//! finite. The values themselves are not pasted into the expansion as literals (slow to
//! compile): the generated code reads them from `include_bytes!` with `const fn`s.

use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};

use super::{private, walk};
use crate::ast::{Network, Node, NodeKind, Size};

const MAGIC: &[u8; 4] = b"NETW";
const HEADER: usize = 16;

/// One tensor the declaration expects, in the raw file's order.
struct Expected<'a> {
    name: String,
    rows: &'a Size,
    columns: Option<&'a Size>,
    /// The layer holding it, for the constant's struct literal.
    node: &'a Node,
    field: &'static str,
}

/// The tensors of the raw format, in its order: every parameter (weight then bias of
/// each layer, depth first), then every buffer (batch norm's running statistics).
fn expected<'a>(net: &'a Network) -> Vec<Expected<'a>> {
    let mut params = Vec::new();
    let mut buffers = Vec::new();
    for (node, _) in walk(&net.nodes) {
        let (Some(out), inp) = (node.output.as_ref(), node.input.as_ref()) else {
            continue;
        };
        let tensor = |field: &'static str, columns: Option<&'a Size>| Expected {
            name: format!("{}.{field}", node.label),
            rows: out,
            columns,
            node,
            field,
        };
        match node.kind {
            NodeKind::Dense { .. } => {
                params.push(tensor("weight", inp));
                params.push(tensor("bias", None));
            }
            NodeKind::BatchNorm { .. } => {
                params.push(tensor("weight", None));
                params.push(tensor("bias", None));
                buffers.push(tensor("running_mean", None));
                buffers.push(tensor("running_var", None));
            }
            NodeKind::LayerNorm { .. } => {
                params.push(tensor("weight", None));
                params.push(tensor("bias", None));
            }
            _ => {}
        }
    }
    params.extend(buffers);
    params
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for &b in bytes {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// The file named by the attribute: relative to the file holding the declaration (as
/// `include_bytes!` resolves), or to the crate's manifest directory when the compiler
/// cannot say which file that is.
fn resolve(path: &syn::LitStr) -> PathBuf {
    let written = PathBuf::from(path.value());
    if written.is_absolute() {
        return written;
    }
    let source = proc_macro::is_available()
        .then(|| path.span().unwrap().local_file())
        .flatten();
    let base = match source.as_ref().and_then(|f| f.parent()) {
        Some(dir) => dir.to_path_buf(),
        None => PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()),
    };
    let file = base.join(written);
    // Absolute, for `include_bytes!`, which would resolve a relative path against the
    // declaring file again.
    std::fs::canonicalize(&file).unwrap_or(file)
}

/// The scalar type a raw weights file holds, `f64` only when it says so (for the
/// fallback stub of an invalid declaration).
pub fn file_scalar(path: &syn::LitStr) -> TokenStream {
    match std::fs::read(resolve(path)) {
        Ok(bytes) if bytes.len() > 6 && bytes[6] == 2 => quote!(f64),
        _ => quote!(f32),
    }
}

/// `WEIGHTS`, or errors spanned on the attribute (with a `WEIGHTS` of zeros, so that the
/// code using it does not add errors of its own).
pub fn weights(net: &Network) -> TokenStream {
    let Some((path, attr)) = &net.weights else {
        return TokenStream::new();
    };
    let file = resolve(path);
    let shown = path.value();
    let tensors = expected(net);
    match check(&file, &shown, &tensors) {
        Ok((scalar, offsets, assertions)) => {
            let mut tokens = constant(net, &tensors, Some((&file, scalar, &offsets)));
            let mut seen = Vec::new();
            for (size, found, message) in assertions {
                // One assertion per constant, at its first tensor.
                let key = size.tokens().to_string();
                if seen.contains(&key) {
                    continue;
                }
                seen.push(key);
                let size = size.raw_expr();
                tokens.extend(super::assertions::assertion(
                    &attr.to_token_stream(),
                    quote!(#size == #found),
                    &super::assertions::escape(&message),
                ));
            }
            tokens
        }
        Err(message) => {
            let error = syn::Error::new_spanned(attr, message).to_compile_error();
            let zeros = constant(net, &tensors, None);
            quote!(#error #zeros)
        }
    }
}

/// What the file says against what the declaration expects: the scalar size in bytes
/// and the const assertions for sizes given as constants, or the first problem found.
#[allow(clippy::type_complexity)]
fn check<'a>(
    file: &Path,
    shown: &str,
    tensors: &[Expected<'a>],
) -> Result<(usize, Vec<usize>, Vec<(&'a Size, usize, String)>), String> {
    let bytes = std::fs::read(file)
        .map_err(|e| format!("cannot read the weights file `{}`: {e}", file.display()))?;
    let bad = |what: &str| format!("`{shown}` is not a raw weights file of this format: {what}");
    if bytes.len() < HEADER + 4 || &bytes[..4] != MAGIC {
        return Err(bad(
            "bad magic bytes (write it with `network::raw::to_bytes`)",
        ));
    }
    if u16::from_le_bytes([bytes[4], bytes[5]]) != 1 {
        return Err(bad("unknown version"));
    }
    let scalar = match bytes[6] {
        1 => 4,
        2 => 8,
        _ => return Err(bad("unknown scalar type")),
    };
    if bytes[7] != 0 {
        return Err(bad("the reserved byte is not 0"));
    }
    let (count, found_tensors) = (u32_at(&bytes, 8) as usize, u32_at(&bytes, 12) as usize);
    let needed = HEADER
        .checked_add(
            found_tensors
                .checked_mul(8)
                .ok_or_else(|| bad("tensor count"))?,
        )
        .and_then(|n| n.checked_add(count.checked_mul(scalar)?))
        .and_then(|n| n.checked_add(4))
        .ok_or_else(|| bad("value count"))?;
    if bytes.len() != needed {
        return Err(bad(&format!(
            "{} bytes where its header promises {needed}",
            bytes.len()
        )));
    }
    if u32_at(&bytes, needed - 4) != fnv1a32(&bytes[..needed - 4]) {
        return Err(format!("`{shown}` is corrupted (checksum mismatch)"));
    }
    if found_tensors != tensors.len() {
        return Err(format!(
            "`{shown}` holds {found_tensors} tensors but this network has {} ({})",
            tensors.len(),
            tensors
                .iter()
                .map(|t| format!("`{}`", t.name))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut assertions = Vec::new();
    let mut offsets = Vec::new();
    let mut offset = 0usize;
    let data = HEADER + 8 * found_tensors;
    for (k, tensor) in tensors.iter().enumerate() {
        let found = [
            u32_at(&bytes, HEADER + 8 * k) as usize,
            u32_at(&bytes, HEADER + 8 * k + 4) as usize,
        ];
        let one = Size::Literal {
            value: 1,
            tokens: quote!(1),
        };
        let want = [tensor.rows, tensor.columns.unwrap_or(&one)];
        let message = format!(
            "tensor `{}` has shape [{}, {}] in `{shown}` but [{}, {}] in this network",
            tensor.name,
            found[0],
            found[1],
            want[0].describe().replace('`', ""),
            want[1].describe().replace('`', "")
        );
        for (k, (size, &found)) in want.iter().zip(&found).enumerate() {
            match size.literal() {
                Some(value) if value != found => return Err(message),
                Some(_) => {}
                // Only the written sizes can be constants (a bias's 1 is a literal).
                None => {
                    let size = if k == 0 {
                        tensor.rows
                    } else {
                        tensor.columns.unwrap_or(tensor.rows)
                    };
                    assertions.push((size, found, message.clone()));
                }
            }
        }
        let len = found[0] * found[1];
        let start = data + scalar * offset;
        offsets.push(start);
        let values = bytes
            .get(start..start + scalar * len)
            .ok_or_else(|| bad("the values end early"))?;
        let finite = values.chunks_exact(scalar).all(|v| match scalar {
            4 => f32::from_le_bytes(v.try_into().expect("4 bytes")).is_finite(),
            _ => f64::from_le_bytes(v.try_into().expect("8 bytes")).is_finite(),
        });
        if !finite {
            return Err(format!(
                "tensor `{}` holds NaN or infinity in `{shown}`",
                tensor.name
            ));
        }
        offset += len;
    }
    if offset != count {
        return Err(bad("the value count does not match the shapes"));
    }
    Ok((scalar, offsets, assertions))
}

/// `impl Net<f32> { pub const WEIGHTS: Self = ...; }` reading `file`, or of zeros.
/// The byte offsets come from the file: when a constant size does not match it, its
/// assertion fails and the values are still read inside the file (from where they are),
/// so the failed assertion is the only error.
fn constant(
    net: &Network,
    tensors: &[Expected<'_>],
    file: Option<(&Path, usize, &[usize])>,
) -> TokenStream {
    let p = private();
    let (vis, ident) = (&net.vis, &net.ident);
    let scalar_bytes = file.map_or(4, |(_, s, _)| s);
    let (ty, read) = if scalar_bytes == 4 {
        (quote!(f32), quote!(#p::raw_matrix_f32))
    } else {
        (quote!(f64), quote!(#p::raw_matrix_f64))
    };
    let (bytes, doc) = match file {
        Some((path, _, _)) => (
            {
                let path = path.display().to_string();
                quote!(::core::include_bytes!(#path))
            },
            format!(
                " The weights of `{}`, decoded at compile time. `static NET: {ident}<{ty}> = {ident}::WEIGHTS;` keeps them in flash (`.rodata`): inference borrows them, nothing is copied into RAM.",
                net.weights.as_ref().map(|(p, _)| p.value()).unwrap_or_default(),
            ),
        ),
        None => (
            quote!(&[]),
            " Zeros: the weights file could not be used (see the error).".to_string(),
        ),
    };
    let shape = |t: &Expected<'_>| (t.rows.expr(), t.columns.map_or(quote!(1), |c| c.expr()));
    // The struct literal: each layer with its tensors, in declaration order.
    let mut layers: Vec<(&Node, Vec<TokenStream>)> = Vec::new();
    for (k, t) in tensors.iter().enumerate() {
        let field = syn::Ident::new(t.field, proc_macro2::Span::call_site());
        let (rows, columns) = shape(t);
        let value = match file {
            Some((_, _, offsets)) => {
                let at = offsets[k];
                quote!(#field: #read::<#rows, #columns>(__BYTES, #at))
            }
            None => quote! {
                #field: #p::SMatrix::<#ty, #rows, #columns>::from_array_storage(
                    #p::ArrayStorage([[0.0; #rows]; #columns])
                )
            },
        };
        match layers.iter_mut().find(|(n, _)| std::ptr::eq(*n, t.node)) {
            Some((_, values)) => values.push(value),
            None => layers.push((t.node, vec![value])),
        }
    }
    let fields = layers.into_iter().map(|(node, values)| {
        let name = &node.name;
        let (layer, counter) = match node.kind {
            NodeKind::Dense { .. } => (quote!(#p::Dense), None),
            // The raw format holds no batch counter (inference does not use it).
            NodeKind::BatchNorm { .. } => {
                (quote!(#p::BatchNorm), Some(quote!(num_batches_tracked: 0)))
            }
            _ => (quote!(#p::LayerNorm), None),
        };
        quote!(#name: #layer { #(#values,)* #counter })
    });
    quote! {
        #[automatically_derived]
        impl #ident<#ty> {
            #[doc = #doc]
            #vis const WEIGHTS: Self = {
                #[allow(unused)]
                const __BYTES: &[u8] = #bytes;
                Self { #(#fields),* }
            };
        }
    }
}
