//! The inherent constants and the `Network` trait implementation.

use proc_macro2::TokenStream;
use quote::quote;

use super::backward::{self, Mode};
use super::{forward, has_dropout, input, io, output, private, tape, tape_ident, walk};
use crate::ast::{InitKind, Network, NodeKind};

pub fn inherent_impl(net: &Network) -> TokenStream {
    let p = private();
    let (vis, ident) = (&net.vis, &net.ident);
    let (inputs, outputs) = io(net);
    let tape_bytes = tape::tape_bytes(net);
    let backward = backward::backward_body(net, Mode::Accumulate);
    let backward_sgd = backward::backward_body(net, Mode::Sgd);
    quote! {
        #[automatically_derived]
        impl<T: #p::Scalar> #ident<T> {
            /// Inputs per sample.
            #vis const INPUTS: usize = #inputs;
            /// Outputs per sample.
            #vis const OUTPUTS: usize = #outputs;
            /// Trainable scalars.
            #vis const PARAMS: usize = <Self as #p::Params<T>>::PARAMS;
            /// Buffer scalars (batch norm's running statistics), saved with the weights.
            #vis const BUFFERS: usize = <Self as #p::Params<T>>::BUFFERS;
            /// Bytes of parameters: the size of a gradient.
            #vis const PARAM_BYTES: usize = Self::PARAMS * ::core::mem::size_of::<T>();

            /// Bytes of the training tape for a batch of `batch` samples:
            /// `size_of` of the tape type.
            #vis const fn tape_bytes(batch: usize) -> usize {
                let __batch = batch;
                #tape_bytes
            }

            /// A Keras-style table of the layers and the memory training takes with
            /// batches of `batch` and `optimizer_bytes` of optimizer state; print it
            /// with `{}`.
            #vis fn summary(batch: usize, optimizer_bytes: usize) -> #p::Summary<T, Self, #inputs, #outputs> {
                #p::Summary::new(batch, optimizer_bytes)
            }

            #[doc(hidden)]
            #[inline]
            #[allow(unused_mut, unused_variables, non_snake_case)] // straight-line code for every layout; `layer__xhat` locals
            fn __backward<const B: usize>(
                &self,
                __x: &#p::SMatrix<T, #inputs, B>,
                __tape: &<Self as #p::Network<T, #inputs, #outputs>>::Tape<B>,
                __d_out: &#p::SMatrix<T, #outputs, B>,
                __grads: &mut Self,
                __d_x: ::core::option::Option<&mut #p::SMatrix<T, #inputs, B>>,
            ) {
                #backward
            }

            #[doc(hidden)]
            #[inline]
            #[allow(unused_mut, unused_variables, non_snake_case)] // straight-line code for every layout; `layer__xhat` locals
            fn __backward_sgd<const B: usize>(
                &mut self,
                __x: &#p::SMatrix<T, #inputs, B>,
                __tape: &<Self as #p::Network<T, #inputs, #outputs>>::Tape<B>,
                __d_out: &#p::SMatrix<T, #outputs, B>,
                __lr: T,
            ) {
                #backward_sgd
            }
        }
    }
}

pub fn network_impl(net: &Network) -> TokenStream {
    let p = private();
    let (ident, tape) = (&net.ident, tape_ident(net));
    let (inputs, outputs) = io(net);
    let nodes = walk(&net.nodes);
    let layer_infos = nodes.iter().map(|(node, _)| {
        let name = node.name.to_string();
        let kind = node.kind_name();
        let (layer_inputs, layer_outputs) = (input(node), output(node));
        let params = match node.kind {
            NodeKind::Dense { .. } => quote!(#layer_inputs * #layer_outputs + #layer_outputs),
            NodeKind::BatchNorm { .. } | NodeKind::LayerNorm { .. } => quote!(2 * #layer_outputs),
            _ => quote!(0),
        };
        let activation = node.activation_name();
        let init = match node.effective_init() {
            InitKind::He => quote!(#p::Init::He),
            InitKind::Xavier => quote!(#p::Init::Xavier),
        };
        quote! {
            #p::LayerInfo {
                name: #name,
                kind: #kind,
                inputs: #layer_inputs,
                outputs: #layer_outputs,
                params: #params,
                activation: #activation,
                init: #init,
            }
        }
    });
    let initializers = nodes.iter().filter_map(|(node, _)| {
        let name = &node.name;
        match node.kind {
            NodeKind::Dense { .. } => {
                let init = match node.effective_init() {
                    InitKind::He => quote!(#p::Init::He),
                    InitKind::Xavier => quote!(#p::Init::Xavier),
                };
                Some(quote!(self.#name.initialize(#init, __rng);))
            }
            NodeKind::BatchNorm { .. } | NodeKind::LayerNorm { .. } => {
                Some(quote!(self.#name.initialize();))
            }
            _ => None,
        }
    });
    let tape_fields = tape::fields(net);
    let new_fields = tape_fields.iter().map(|(field, _, _, rng)| {
        if *rng {
            quote!(#field: #p::Rng::seed_from_u64(0),)
        } else {
            quote!(#field: #p::SMatrix::zeros(),)
        }
    });
    let output_visits = nodes.iter().enumerate().filter_map(|(k, (node, _))| {
        let field = &node.name;
        tape_fields
            .iter()
            .any(|(f, ..)| f == field)
            .then(|| quote!(__f(&Self::LAYERS[#k], __tape.#field.as_slice());))
    });
    let batch_dependent = nodes
        .iter()
        .any(|(n, _)| matches!(n.kind, NodeKind::BatchNorm { .. }));
    let stochastic = has_dropout(&net.nodes);
    let inference = forward::inference_body(net);
    let training = forward::training_body(net);
    quote! {
        #[automatically_derived]
        impl<T: #p::Scalar> #p::Network<T, #inputs, #outputs> for #ident<T> {
            type Tape<const B: usize> = #tape<T, B>;
            const BATCH_DEPENDENT: bool = #batch_dependent;
            const STOCHASTIC: bool = #stochastic;
            const LAYERS: &'static [#p::LayerInfo] = &[#(#layer_infos),*];

            fn tape_bytes(__batch: usize) -> usize {
                // The inherent `const fn` of the same name.
                Self::tape_bytes(__batch)
            }

            fn initialize(&mut self, __rng: &mut #p::Rng) {
                let _ = &__rng;
                #(#initializers)*
            }

            fn new_tape<const B: usize>() -> Self::Tape<B> {
                #tape { #(#new_fields)* }
            }

            fn for_each_output<const B: usize, __F: FnMut(&#p::LayerInfo, &[T])>(__tape: &Self::Tape<B>, mut __f: __F) {
                #(#output_visits)*
            }

            fn forward<const B: usize>(&self, __x: &#p::SMatrix<T, #inputs, B>) -> #p::SMatrix<T, #outputs, B> {
                #inference
            }

            #[allow(non_snake_case)] // `layer__xhat` locals of checkpointed layers
            fn forward_train<'__t, const B: usize>(
                &mut self,
                __x: &#p::SMatrix<T, #inputs, B>,
                __tape: &'__t mut Self::Tape<B>,
                __rng: &mut #p::Rng,
            ) -> &'__t #p::SMatrix<T, #outputs, B> {
                #training
            }

            fn backward<const B: usize>(
                &self,
                __x: &#p::SMatrix<T, #inputs, B>,
                __tape: &Self::Tape<B>,
                __d_out: &#p::SMatrix<T, #outputs, B>,
                __grads: &mut Self,
            ) {
                self.__backward(__x, __tape, __d_out, __grads, ::core::option::Option::None);
            }

            fn backward_with_input_grad<const B: usize>(
                &self,
                __x: &#p::SMatrix<T, #inputs, B>,
                __tape: &Self::Tape<B>,
                __d_out: &#p::SMatrix<T, #outputs, B>,
                __grads: &mut Self,
                __d_x: &mut #p::SMatrix<T, #inputs, B>,
            ) {
                self.__backward(__x, __tape, __d_out, __grads, ::core::option::Option::Some(__d_x));
            }

            fn backward_sgd<const B: usize>(
                &mut self,
                __x: &#p::SMatrix<T, #inputs, B>,
                __tape: &Self::Tape<B>,
                __d_out: &#p::SMatrix<T, #outputs, B>,
                __lr: T,
            ) {
                self.__backward_sgd(__x, __tape, __d_out, __lr);
            }
        }
    }
}
