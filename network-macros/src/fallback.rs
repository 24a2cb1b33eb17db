//! What is emitted beside the errors of an invalid declaration: a stub with the same
//! name, constants and (when the input and output sizes are known) trait
//! implementations, so that the user's code further down type-checks and the only errors
//! shown are the declaration's own (after thiserror's `impl/src/fallback.rs`).

use proc_macro2::TokenStream;
use quote::quote;

use crate::ast::Network;
use crate::expand::private;
use crate::parse::Declaration;

/// The input and output sizes, when the IR knows them (the first layer's written input
/// and the last layer's output, even if layers in between were dropped).
pub fn io_sizes(net: &Network) -> Option<(TokenStream, TokenStream)> {
    let first = net.nodes.first()?;
    let last = net.nodes.last()?;
    // A neighbour of a dropped first or last layer does not know the network's sizes:
    // guessing from it would turn correct user code into "mismatched types".
    if first.follows_invalid || !net.ends_valid {
        return None;
    }
    let (input, output) = (first.input.as_ref()?, last.output.as_ref()?);
    // `Dense<4, 0>` as the last layer: 0 is reported, and is not the size the user's
    // code expects either.
    if input.literal() == Some(0) || output.literal() == Some(0) {
        return None;
    }
    Some((input.expr(), output.expr()))
}

pub fn stub(decl: &Declaration, io: Option<(TokenStream, TokenStream)>) -> TokenStream {
    let scalar = crate::expand::scalar();
    let batch = crate::expand::batch();
    let p = private();
    let (vis, ident) = (&decl.vis, &decl.ident);
    let name = ident.to_string();
    let name = name.trim_start_matches("r#");
    let attrs = decl.attrs.iter().filter(|a| !a.path().is_ident("weights"));
    // `#[weights]`: the constant exists, for the file's scalar type, so the user's
    // `static NET: Net = Net::WEIGHTS;` adds no error.
    let weights = decl
        .attrs
        .iter()
        .find(|a| a.path().is_ident("weights"))
        .and_then(|a| a.parse_args::<syn::LitStr>().ok())
        .map(|path| {
            let ty = crate::expand::weights::file_scalar(&path);
            quote! {
                impl #ident<#ty> {
                    #vis const WEIGHTS: Self = Self(::core::marker::PhantomData);
                }
            }
        });
    let known = io.is_some();
    // With the sizes unknown (the first layer's input, the last layer's output), the
    // network trait is implemented for every size, so that the user's code infers them
    // from its own arguments instead of failing on a missing implementation; the
    // functions without arguments to infer from are inherent.
    let (generics, inputs, outputs) = match io {
        Some((inputs, outputs)) => (quote!(<#scalar: #p::Scalar>), inputs, outputs),
        None => (
            quote!(<#scalar: #p::Scalar, const __IN: usize, const __OUT: usize>),
            quote!(__IN),
            quote!(__OUT),
        ),
    };
    let (constant_inputs, constant_outputs) = if known {
        (inputs.clone(), outputs.clone())
    } else {
        (quote!(0usize), quote!(0usize))
    };
    let inherent = if known {
        quote! {
            #vis fn summary(batch: usize, optimizer_bytes: usize) -> #p::Summary<#scalar, Self, #inputs, #outputs> {
                #p::Summary::new(batch, optimizer_bytes)
            }
        }
    } else {
        quote! {
            #vis fn random(_: &mut #p::Rng) -> Self {
                Self(::core::marker::PhantomData)
            }
            #vis fn new_tape<const #batch: usize>() {}
        }
    };
    quote! {
        #(#attrs)*
        #vis struct #ident<#scalar: #p::Scalar = f32>(::core::marker::PhantomData<#scalar>);

        impl<#scalar: #p::Scalar> #ident<#scalar> {
            #vis const INPUTS: usize = #constant_inputs;
            #vis const OUTPUTS: usize = #constant_outputs;
            #vis const PARAMS: usize = 0;
            #vis const BUFFERS: usize = 0;
            #vis const PARAM_BYTES: usize = 0;
            #vis const fn tape_bytes(_batch: usize) -> usize {
                0
            }
            #vis fn pytorch() -> #p::PyTorchModule {
                #p::PyTorchModule { name: #name, input: &[], ops: &[], layers: &[] }
            }
            #inherent
        }

        #weights

        unsafe impl<#scalar: #p::Scalar + #p::Zeroable> #p::Zeroable for #ident<#scalar> {}

        impl<#scalar: #p::Scalar> #p::Params<#scalar> for #ident<#scalar> {
            const PARAMS: usize = 0;
            const PARAM_INFO: &'static [#p::ParamInfo] = &[];
            fn zeros() -> Self {
                Self(::core::marker::PhantomData)
            }
            fn tensor(&self, _: usize) -> &[#scalar] {
                &[]
            }
            fn tensor_mut(&mut self, _: usize) -> &mut [#scalar] {
                &mut []
            }
            fn for_each_param<__F: FnMut(&#p::ParamInfo, &[#scalar])>(&self, _: __F) {}
            fn for_each_param_mut<__F: FnMut(&#p::ParamInfo, &mut [#scalar])>(&mut self, _: __F) {}
            fn zip_params_mut<__F: FnMut(&#p::ParamInfo, &mut [#scalar], &[#scalar])>(&mut self, _: &Self, _: __F) {}
        }

        impl #generics #p::Network<#scalar, #inputs, #outputs> for #ident<#scalar> {
            type Tape<const #batch: usize> = ();
            const LAYERS: &'static [#p::LayerInfo] = &[];
            fn tape_bytes(_: usize) -> usize {
                0
            }
            fn initialize(&mut self, _: &mut #p::Rng) {}
            fn new_tape<const #batch: usize>() {}
            fn for_each_output<const #batch: usize, __F: FnMut(&#p::LayerInfo, &[#scalar])>(_: &(), _: __F) {}
            fn forward<const #batch: usize>(&self, _: &#p::SMatrix<#scalar, #inputs, #batch>) -> #p::SMatrix<#scalar, #outputs, #batch> {
                ::core::unreachable!()
            }
            fn forward_train<'__t, const #batch: usize>(
                &mut self,
                _: &#p::SMatrix<#scalar, #inputs, #batch>,
                _: &'__t mut (),
                _: &mut #p::Rng,
            ) -> &'__t #p::SMatrix<#scalar, #outputs, #batch> {
                ::core::unreachable!()
            }
            fn backward<const #batch: usize>(
                &self,
                _: &#p::SMatrix<#scalar, #inputs, #batch>,
                _: &(),
                _: &#p::SMatrix<#scalar, #outputs, #batch>,
                _: &mut Self,
            ) {
            }
            fn backward_with_input_grad<const #batch: usize>(
                &self,
                _: &#p::SMatrix<#scalar, #inputs, #batch>,
                _: &(),
                _: &#p::SMatrix<#scalar, #outputs, #batch>,
                _: &mut Self,
                _: &mut #p::SMatrix<#scalar, #inputs, #batch>,
            ) {
            }
            fn backward_sgd<const #batch: usize>(
                &mut self,
                _: &#p::SMatrix<#scalar, #inputs, #batch>,
                _: &(),
                _: &#p::SMatrix<#scalar, #outputs, #batch>,
                _: #scalar,
            ) {
            }
        }
    }
}
