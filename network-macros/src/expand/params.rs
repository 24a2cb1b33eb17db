//! The network struct (parameters and buffers only) and its [`Params`] visitor.

use proc_macro2::TokenStream;
use quote::quote;

use super::{input, norm_features, output, private, walk};
use crate::ast::{InitKind, Network, Node, NodeKind};

/// The struct field type of a node with parameters.
fn field_type(node: &Node) -> Option<TokenStream> {
    let scalar = super::scalar();
    let p = private();
    let (inputs, outputs) = (input(node), output(node));
    Some(match node.kind {
        NodeKind::Dense {
            outputs: ref per_out,
            ..
        } => match &node.per_step {
            Some(features) => {
                let (f, o) = (features.expr(), per_out.expr());
                quote!(#p::DenseSteps<#scalar, #f, #o>)
            }
            None => quote!(#p::Dense<#scalar, #inputs, #outputs>),
        },
        NodeKind::BatchNorm { .. } => {
            let features = norm_features(node);
            quote!(#p::BatchNorm<#scalar, #features>)
        }
        NodeKind::Conv {
            ref spec,
            geometry: Some(ref g),
        } => {
            let (o, k) = (spec.out_channels.expr(), g.filter_len());
            let nb = if spec.bias { o.clone() } else { quote!(0) };
            quote!(#p::Conv<#scalar, #o, { #k }, #nb>)
        }
        NodeKind::LayerNorm { .. } => quote!(#p::LayerNorm<#scalar, #outputs>),
        NodeKind::Recurrent(_) => super::recurrent_type(node),
        _ => return None,
    })
}

/// `(field, kind, shape, len)` of each trainable tensor of a node.
fn tensors(node: &Node) -> Vec<(&'static str, TokenStream, TokenStream, TokenStream)> {
    let (inputs, outputs) = (input(node), output(node));
    if let NodeKind::Conv {
        ref spec,
        geometry: Some(ref g),
    } = node.kind
    {
        // PyTorch's `[out, in/groups, k]` or `[out, in/groups, kh, kw]`, row-major.
        let (o, cg) = (spec.out_channels.expr(), g.group_channels());
        let (kh, kw) = (g.kernel.0.expr(), g.kernel.1.expr());
        let shape = if spec.dims == 1 {
            quote!(&[#o, #cg, #kw])
        } else {
            quote!(&[#o, #cg, #kh, #kw])
        };
        let filter = g.filter_len();
        let ov = spec.out_channels.value();
        let len = quote!(#ov * #filter);
        let mut list = vec![("weight", quote!(Weight), shape, quote!(#len))];
        if spec.bias {
            list.push(("bias", quote!(Bias), quote!(&[#o]), quote!(#o)));
        }
        return list;
    }
    if let (NodeKind::Dense { outputs, .. }, Some(features)) = (&node.kind, &node.per_step) {
        // One `[O, I]` weight shared by every step.
        let (f, o) = (features.value(), outputs.value());
        return vec![
            ("weight", quote!(Weight), quote!(&[#o, #f]), quote!(#o * #f)),
            ("bias", quote!(Bias), quote!(&[#o]), quote!(#o)),
        ];
    }
    if let NodeKind::Recurrent(spec) = &node.kind {
        // PyTorch's `weight_ih_l0 [G, F]`, `weight_hh_l0 [G, H]`, `bias_*_l0 [G]`.
        let features = match node.in_shape.as_deref() {
            Some([_, f]) => f.value(),
            _ => quote!(1),
        };
        let (g, h) = (spec.gates(), spec.hidden.value());
        let g = quote!({ #g });
        return vec![
            (
                "weight_ih_l0",
                quote!(Weight),
                quote!(&[#g, #features]),
                quote!(#g * #features),
            ),
            (
                "weight_hh_l0",
                quote!(Weight),
                quote!(&[#g, #h]),
                quote!(#g * #h),
            ),
            ("bias_ih_l0", quote!(Bias), quote!(&[#g]), quote!(#g)),
            ("bias_hh_l0", quote!(Bias), quote!(&[#g]), quote!(#g)),
        ];
    }
    let outputs = match node.kind {
        NodeKind::BatchNorm { .. } => norm_features(node),
        _ => outputs,
    };
    match node.kind {
        NodeKind::Dense { .. } => vec![
            (
                "weight",
                quote!(Weight),
                quote!(&[#outputs, #inputs]),
                quote!(#outputs * #inputs),
            ),
            ("bias", quote!(Bias), quote!(&[#outputs]), quote!(#outputs)),
        ],
        NodeKind::BatchNorm { .. } | NodeKind::LayerNorm { .. } => vec![
            (
                "weight",
                quote!(Norm),
                quote!(&[#outputs]),
                quote!(#outputs),
            ),
            ("bias", quote!(Norm), quote!(&[#outputs]), quote!(#outputs)),
        ],
        _ => Vec::new(),
    }
}

/// The struct fields of a node's trainable tensors.
pub fn tensor_fields(node: &Node) -> Vec<syn::Ident> {
    tensors(node)
        .into_iter()
        .map(|(field, ..)| syn::Ident::new(field, proc_macro2::Span::call_site()))
        .collect()
}

/// `(field, shape, len)` of each buffer of a node.
fn node_buffers(node: &Node) -> Vec<(&'static str, TokenStream, TokenStream)> {
    let outputs = norm_features(node);
    match node.kind {
        NodeKind::BatchNorm { .. } => vec![
            ("running_mean", quote!(&[#outputs]), quote!(#outputs)),
            ("running_var", quote!(&[#outputs]), quote!(#outputs)),
        ],
        _ => Vec::new(),
    }
}

pub fn struct_definition(net: &Network) -> TokenStream {
    let scalar = super::scalar();
    let (attrs, vis, ident) = (&net.attrs, &net.vis, &net.ident);
    let p = private();
    let fields = walk(&net.nodes).into_iter().filter_map(|(node, _)| {
        let ty = field_type(node)?;
        let (name, docs) = (&node.name, &node.docs);
        let summary = match node.kind {
            NodeKind::Dense { .. } => {
                let init = match node.effective_init() {
                    InitKind::He => "He",
                    InitKind::Xavier => "Xavier",
                };
                format!(
                    " `Dense<{}, {}>`, then `{}`; `random` draws its weights with {init} initialization.",
                    describe(node.input.as_ref()),
                    describe(node.output.as_ref()),
                    node.activation_name(),
                )
            }
            _ => format!(
                " `{}<{}>`, then `{}`.",
                node.kind_name(),
                describe(node.output.as_ref()),
                node.activation_name()
            ),
        };
        let separator = (!docs.is_empty()).then(|| quote!(#[doc = ""]));
        Some(quote! {
            #(#docs)*
            #separator
            #[doc = #summary]
            #vis #name: #ty
        })
    });
    let table = layer_table(net);
    quote! {
        #(#attrs)*
        #[doc = ""]
        #[doc = #table]
        #[repr(C)]
        #vis struct #ident<#scalar: #p::Scalar = f32> {
            #(#fields,)*
        }
    }
}

fn describe(size: Option<&crate::ast::Size>) -> String {
    size.map(|s| s.describe().replace('`', ""))
        .unwrap_or_default()
}

/// A markdown table of the layers for the struct's rustdoc.
fn layer_table(net: &Network) -> String {
    let mut table = String::from(
        "# Layers\n\nGenerated by `network!`.\n\n| layer | kind | inputs | outputs | activation |\n|---|---|---|---|---|\n",
    );
    for (node, inside) in walk(&net.nodes) {
        let indent = if inside { "↳ " } else { "" };
        table.push_str(&format!(
            "| {indent}`{}` | {}{} | {} | {} | {} |\n",
            node.label,
            node.kind_name(),
            if node.checkpoint {
                " (checkpointed)"
            } else {
                ""
            },
            node.input
                .as_ref()
                .map(|s| s.describe())
                .unwrap_or_default(),
            node.output
                .as_ref()
                .map(|s| s.describe())
                .unwrap_or_default(),
            node.activation_name()
        ));
    }
    table
}

/// Info entries and visitor calls for the tensors `list` yields per node.
struct Visits {
    infos: Vec<TokenStream>,
    total: TokenStream,
    /// The hidden constant of offsets the infos read, defined at module level: each
    /// offset is the previous one plus a length, so the expansion grows linearly with
    /// depth (a sum of every earlier length per tensor grew with its square).
    offsets: TokenStream,
    visits: Vec<TokenStream>,
    visits_mut: Vec<TokenStream>,
    zips: Vec<TokenStream>,
    tensors: Vec<TokenStream>,
    tensors_mut: Vec<TokenStream>,
}

fn visits(
    net: &Network,
    list: impl Fn(&Node) -> Vec<(&'static str, TokenStream, TokenStream, TokenStream)>,
    info_const: TokenStream,
) -> Visits {
    let p = private();
    let offsets = quote::format_ident!(
        "__NETWORK_{}_{}_OFFSETS",
        syn::ext::IdentExt::unraw(&net.ident),
        info_const.to_string()
    );
    let mut lens = Vec::new();
    let mut v = Visits {
        infos: Vec::new(),
        total: quote!(0usize),
        offsets: TokenStream::new(),
        visits: Vec::new(),
        visits_mut: Vec::new(),
        zips: Vec::new(),
        tensors: Vec::new(),
        tensors_mut: Vec::new(),
    };
    for (node, prefix) in super::walk_paths(&net.nodes) {
        let name = &node.name;
        for (tensor, kind, shape, len) in list(node) {
            let full = format!("{}.{tensor}", node.label);
            let nested = format!("{prefix}{full}");
            let layer = node.label.clone();
            let index = v.infos.len();
            v.infos.push(quote! {
                #p::ParamInfo {
                    name: #full,
                    nested: #nested,
                    kind: #p::ParamKind::#kind,
                    layer: #layer,
                    shape: #shape,
                    offset: #offsets[#index],
                    len: #len,
                }
            });
            lens.push(len);
            let field = syn::Ident::new(tensor, proc_macro2::Span::call_site());
            v.visits
                .push(quote!(__f(&Self::#info_const[#index], self.#name.#field.as_slice());));
            v.visits_mut
                .push(quote!(__f(&Self::#info_const[#index], self.#name.#field.as_mut_slice());));
            v.zips.push(quote!(__f(&Self::#info_const[#index], self.#name.#field.as_mut_slice(), __other.#name.#field.as_slice());));
            v.tensors
                .push(quote!(#index => self.#name.#field.as_slice(),));
            v.tensors_mut
                .push(quote!(#index => self.#name.#field.as_mut_slice(),));
        }
    }
    // `offsets[k]` for each tensor, and the total after the last.
    let n = lens.len();
    v.offsets = quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        const #offsets: [usize; #n + 1] = {
            let lens: [usize; #n] = [#((#lens)),*];
            let mut offsets = [0usize; #n + 1];
            let mut k = 0;
            while k < #n {
                offsets[k + 1] = offsets[k] + lens[k];
                k += 1;
            }
            offsets
        };
    };
    v.total = quote!(#offsets[#n]);
    v
}

pub fn params_impl(net: &Network) -> TokenStream {
    let scalar = super::scalar();
    let p = private();
    let ident = &net.ident;
    let params = visits(net, tensors, quote!(PARAM_INFO));
    let buffers = visits(
        net,
        |node| {
            node_buffers(node)
                .into_iter()
                .map(|(f, s, l)| (f, quote!(Buffer), s, l))
                .collect()
        },
        quote!(BUFFER_INFO),
    );
    let Visits {
        infos,
        total,
        visits,
        visits_mut,
        zips,
        tensors,
        tensors_mut,
        offsets,
    } = params;
    let (buffer_infos, buffer_total, buffer_visits, buffer_visits_mut, buffer_offsets) = (
        buffers.infos,
        buffers.total,
        buffers.visits,
        buffers.visits_mut,
        buffers.offsets,
    );
    let zeros = walk(&net.nodes).into_iter().filter_map(|(node, _)| {
        let name = &node.name;
        let ty = match node.kind {
            NodeKind::Dense { .. } if node.per_step.is_some() => quote!(#p::DenseSteps),
            NodeKind::Dense { .. } => quote!(#p::Dense),
            NodeKind::BatchNorm { .. } => quote!(#p::BatchNorm),
            NodeKind::LayerNorm { .. } => quote!(#p::LayerNorm),
            NodeKind::Conv { .. } => quote!(#p::Conv),
            NodeKind::Recurrent(ref spec) => {
                if spec.lstm {
                    quote!(#p::Lstm)
                } else {
                    quote!(#p::Gru)
                }
            }
            _ => return None,
        };
        Some(quote!(#name: #ty::zeros(),))
    });
    let fields: Vec<_> = walk(&net.nodes)
        .into_iter()
        .filter(|(node, _)| field_type(node).is_some())
        .map(|(node, _)| &node.name)
        .collect();
    // Batch norm's `num_batches_tracked`, one per layer.
    let counted: Vec<_> = walk(&net.nodes)
        .into_iter()
        .filter(|(node, _)| matches!(node.kind, NodeKind::BatchNorm { .. }))
        .map(|(node, _)| (&node.name, &node.label))
        .collect();
    let counter_layers = counted.iter().map(|(_, label)| label);
    let counter_visits = counted
        .iter()
        .map(|(name, label)| quote!(__f(#label, self.#name.num_batches_tracked);));
    let counter_visits_mut = counted
        .iter()
        .map(|(name, label)| quote!(__f(#label, &mut self.#name.num_batches_tracked);));
    quote! {
        #offsets
        #buffer_offsets

        // All-zero bytes are a valid network: every field is a layer of the scalar. The
        // function below proves it at compile time: its pattern names every field (it is
        // exhaustive) and each field must be `Zeroable`.
        #[automatically_derived]
        unsafe impl<#scalar: #p::Scalar + #p::Zeroable> #p::Zeroable for #ident<#scalar> {}

        const _: () = {
            #[allow(dead_code)]
            fn __every_field_is_zeroable<#scalar: #p::Scalar + #p::Zeroable>(__value: &#ident<#scalar>) {
                let #ident { #(#fields: _),* } = __value;
                #(#p::assert_zeroable(&__value.#fields);)*
            }
        };

        #[automatically_derived]
        impl<#scalar: #p::Scalar> #p::Params<#scalar> for #ident<#scalar> {
            const PARAMS: usize = #total;
            const PARAM_INFO: &'static [#p::ParamInfo] = &[#(#infos),*];
            const BUFFERS: usize = #buffer_total;
            const BUFFER_INFO: &'static [#p::ParamInfo] = &[#(#buffer_infos),*];

            fn zeros() -> Self {
                Self { #(#zeros)* }
            }

            fn tensor(&self, __index: usize) -> &[#scalar] {
                match __index {
                    #(#tensors)*
                    _ => &[],
                }
            }

            fn tensor_mut(&mut self, __index: usize) -> &mut [#scalar] {
                match __index {
                    #(#tensors_mut)*
                    _ => &mut [],
                }
            }

            fn for_each_param<__F: FnMut(&#p::ParamInfo, &[#scalar])>(&self, mut __f: __F) {
                #(#visits)*
            }

            fn for_each_param_mut<__F: FnMut(&#p::ParamInfo, &mut [#scalar])>(&mut self, mut __f: __F) {
                #(#visits_mut)*
            }

            fn zip_params_mut<__F: FnMut(&#p::ParamInfo, &mut [#scalar], &[#scalar])>(&mut self, __other: &Self, mut __f: __F) {
                #(#zips)*
            }

            fn for_each_buffer<__F: FnMut(&#p::ParamInfo, &[#scalar])>(&self, mut __f: __F) {
                let _ = &mut __f;
                #(#buffer_visits)*
            }

            fn for_each_buffer_mut<__F: FnMut(&#p::ParamInfo, &mut [#scalar])>(&mut self, mut __f: __F) {
                let _ = &mut __f;
                #(#buffer_visits_mut)*
            }

            const COUNTERS: &'static [&'static str] = &[#(#counter_layers),*];

            fn for_each_counter<__F: FnMut(&'static str, u64)>(&self, mut __f: __F) {
                let _ = &mut __f;
                #(#counter_visits)*
            }

            fn for_each_counter_mut<__F: FnMut(&'static str, &mut u64)>(&mut self, mut __f: __F) {
                let _ = &mut __f;
                #(#counter_visits_mut)*
            }
        }
    }
}
