//! The inherent constants and the `Network` trait implementation.

use proc_macro2::TokenStream;
use quote::quote;

use super::backward::{self, Mode};
use super::{forward, private, Wiring};
use crate::ast::InitKind;

pub fn inherent_impl(w: &Wiring) -> TokenStream {
    let p = private();
    let (vis, ident) = (&w.net.vis, &w.net.ident);
    let (inputs, outputs) = (&w.inputs, &w.outputs);
    let tape_scalars = tape_scalars(w);
    let backward = backward::backward_body(w, Mode::Accumulate);
    let backward_sgd = backward::backward_body(w, Mode::Sgd);
    quote! {
        #[automatically_derived]
        impl<T: #p::Scalar> #ident<T> {
            /// Inputs per sample.
            #vis const INPUTS: usize = #inputs;
            /// Outputs per sample.
            #vis const OUTPUTS: usize = #outputs;
            /// Trainable scalars.
            #vis const PARAMS: usize = <Self as #p::Params<T>>::PARAMS;
            /// Bytes of parameters: `size_of::<Self>()`, and the size of a gradient.
            #vis const PARAM_BYTES: usize = Self::PARAMS * ::core::mem::size_of::<T>();
            /// Scalars the training tape holds per sample.
            #vis const TAPE_SCALARS_PER_SAMPLE: usize = #tape_scalars;

            /// Bytes of the training tape for a batch of `batch` samples.
            #vis const fn tape_bytes(batch: usize) -> usize {
                Self::TAPE_SCALARS_PER_SAMPLE * batch * ::core::mem::size_of::<T>()
            }

            /// A Keras-style table of the layers and the memory training takes with
            /// batches of `batch` and `optimizer_bytes` of optimizer state; print it
            /// with `{}`.
            #vis fn summary(batch: usize, optimizer_bytes: usize) -> #p::Summary<T, Self, #inputs, #outputs> {
                #p::Summary::new(batch, optimizer_bytes)
            }

            #[doc(hidden)]
            #[inline]
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

fn tape_scalars(w: &Wiring) -> TokenStream {
    let outputs = w.layers.iter().map(|l| &l.outputs);
    quote!(0usize #(+ #outputs)*)
}

pub fn network_impl(w: &Wiring) -> TokenStream {
    let p = private();
    let (ident, tape) = (&w.net.ident, &w.tape_ident);
    let (inputs, outputs) = (&w.inputs, &w.outputs);
    let tape_scalars = tape_scalars(w);
    let layer_infos = w.layers.iter().map(|l| {
        let name = l.name.to_string();
        let (layer_inputs, layer_outputs) = (&l.inputs, &l.outputs);
        let activation = l.layer.activation_name();
        let init = match l.layer.effective_init() {
            InitKind::He => quote!(#p::Init::He),
            InitKind::Xavier => quote!(#p::Init::Xavier),
        };
        quote! {
            #p::LayerInfo {
                name: #name,
                kind: "Dense",
                inputs: #layer_inputs,
                outputs: #layer_outputs,
                params: #layer_inputs * #layer_outputs + #layer_outputs,
                activation: #activation,
                init: #init,
            }
        }
    });
    let initializers = w.layers.iter().map(|l| {
        let name = l.name;
        let init = match l.layer.effective_init() {
            InitKind::He => quote!(#p::Init::He),
            InitKind::Xavier => quote!(#p::Init::Xavier),
        };
        quote!(self.#name.initialize(#init, __rng);)
    });
    let names = w.layers.iter().map(|l| l.name);
    let outputs_visits = w.layers.iter().enumerate().map(|(k, l)| {
        let name = l.name;
        quote!(__f(&Self::LAYERS[#k], __tape.#name.as_slice());)
    });
    let inference = forward::inference_body(w);
    let training = forward::training_body(w);
    quote! {
        #[automatically_derived]
        impl<T: #p::Scalar> #p::Network<T, #inputs, #outputs> for #ident<T> {
            type Tape<const B: usize> = #tape<T, B>;
            const TAPE_SCALARS_PER_SAMPLE: usize = #tape_scalars;
            const LAYERS: &'static [#p::LayerInfo] = &[#(#layer_infos),*];

            fn initialize(&mut self, __rng: &mut #p::Rng) {
                #(#initializers)*
            }

            fn new_tape<const B: usize>() -> Self::Tape<B> {
                #tape { #(#names: #p::SMatrix::zeros(),)* }
            }

            fn for_each_output<const B: usize, __F: FnMut(&#p::LayerInfo, &[T])>(__tape: &Self::Tape<B>, mut __f: __F) {
                #(#outputs_visits)*
            }

            fn forward<const B: usize>(&self, __x: &#p::SMatrix<T, #inputs, B>) -> #p::SMatrix<T, #outputs, B> {
                #inference
            }

            fn forward_train<'__t, const B: usize>(
                &self,
                __x: &#p::SMatrix<T, #inputs, B>,
                __tape: &'__t mut Self::Tape<B>,
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
