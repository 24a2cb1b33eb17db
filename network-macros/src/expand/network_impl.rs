//! The inherent constants and the `Network` trait implementation.

use proc_macro2::TokenStream;
use quote::quote;

use super::backward::{self, Mode};
use super::{forward, has_dropout, input, io, output, private, tape, tape_ident, walk};
use crate::ast::{InitKind, Network, NodeKind};

/// Whether training uses the batch's statistics (batch normalization).
fn batch_dependent(net: &Network) -> bool {
    walk(&net.nodes)
        .iter()
        .any(|(n, _)| matches!(n.kind, NodeKind::BatchNorm { .. }))
}

pub fn inherent_impl(net: &Network) -> TokenStream {
    let scalar = super::scalar();

    let batch = super::batch();
    let p = private();
    let (vis, ident) = (&net.vis, &net.ident);
    let (inputs, outputs) = io(net);
    let tape_bytes = tape::tape_bytes(net);
    let backward = backward::backward_body(net, Mode::Accumulate);
    let backward_sgd = backward::backward_body(net, Mode::Sgd);
    // Without batch normalization, training changes nothing in the network: its pass
    // takes `&self` (threads can share the weights, `Network::forward_train_shared`).
    let receiver = if batch_dependent(net) {
        quote!(&mut self)
    } else {
        quote!(&self)
    };
    // Without dropout nothing in training is random: a training forward pass that needs
    // no `Rng` (40 bytes a microcontroller does not have to spend).
    let deterministic = (!has_dropout(&net.nodes)).then(|| {
        let training = forward::training_body(net);
        quote! {
            /// The training forward pass (`Network::forward_train`) of a network without
            /// dropout: nothing in it is random, so it takes no `Rng`. Generated only for
            /// networks without dropout; it takes `&self` when the network has no batch
            /// normalization (nothing in it changes).
            #[inline]
            #[allow(non_snake_case)] // locals named after layers
            #vis fn forward_train_deterministic<'__t, const #batch: usize>(
                #receiver,
                __x: &#p::SMatrix<#scalar, #inputs, #batch>,
                __tape: &'__t mut <Self as #p::Network<#scalar, #inputs, #outputs>>::Tape<#batch>,
            ) -> &'__t #p::SMatrix<#scalar, #outputs, #batch> {
                let __rng = ();
                #training
            }
        }
    });
    let shared_random = (has_dropout(&net.nodes) && !batch_dependent(net)).then(|| {
        let training = forward::training_body(net);
        quote! {
            /// `Network::forward_train` and `forward_train_shared`: one body for both.
            #[doc(hidden)]
            #[inline]
            #[allow(non_snake_case)] // locals named after layers
            #vis fn __forward_train_shared<'__t, const #batch: usize>(
                &self,
                __x: &#p::SMatrix<#scalar, #inputs, #batch>,
                __tape: &'__t mut <Self as #p::Network<#scalar, #inputs, #outputs>>::Tape<#batch>,
                __rng: &mut #p::Rng,
            ) -> &'__t #p::SMatrix<#scalar, #outputs, #batch> {
                #training
            }
        }
    });
    quote! {
        #[automatically_derived]
        impl<#scalar: #p::Scalar> #ident<#scalar> {
            /// Inputs per sample.
            #vis const INPUTS: usize = #inputs;
            /// Outputs per sample.
            #vis const OUTPUTS: usize = #outputs;
            /// Trainable scalars.
            #vis const PARAMS: usize = <Self as #p::Params<#scalar>>::PARAMS;
            /// Buffer scalars (batch norm's running statistics), saved with the weights.
            #vis const BUFFERS: usize = <Self as #p::Params<#scalar>>::BUFFERS;
            /// Bytes of parameters: the size of a gradient.
            #vis const PARAM_BYTES: usize = Self::PARAMS * ::core::mem::size_of::<#scalar>();

            /// Bytes of the training tape for a batch of `batch` samples:
            /// `size_of` of the tape type.
            #vis const fn tape_bytes(batch: usize) -> usize {
                let __batch = batch;
                #tape_bytes
            }

            /// A Keras-style table of the layers and the memory training takes with
            /// batches of `batch` and `optimizer_bytes` of optimizer state; print it
            /// with `{}`.
            #vis fn summary(batch: usize, optimizer_bytes: usize) -> #p::Summary<#scalar, Self, #inputs, #outputs> {
                #p::Summary::new(batch, optimizer_bytes)
            }

            /// The source of an equivalent PyTorch module (same layer names, so state
            /// dicts load both ways with `strict=True`); print it with `{}`, and its
            /// training script with `.training_script("model")`.
            #vis fn pytorch() -> #p::PyTorchModule {
                #p::PyTorchModule::of::<#scalar, Self, #inputs, #outputs>()
            }

            #[doc(hidden)]
            #[inline]
            #[allow(unused_mut, unused_variables, non_snake_case)] // straight-line code for every layout; locals named after layers (`__d_Hidden`)
            fn __backward<const #batch: usize>(
                &self,
                __x: &#p::SMatrix<#scalar, #inputs, #batch>,
                __tape: &<Self as #p::Network<#scalar, #inputs, #outputs>>::Tape<#batch>,
                __dout: &#p::SMatrix<#scalar, #outputs, #batch>,
                __grads: &mut Self,
                __dx: ::core::option::Option<&mut #p::SMatrix<#scalar, #inputs, #batch>>,
                __overwrite: bool,
            ) {
                #backward
            }

            #deterministic
            #shared_random

            #[doc(hidden)]
            #[inline]
            #[allow(unused_mut, unused_variables, non_snake_case)] // straight-line code for every layout; locals named after layers (`__d_Hidden`)
            fn __backward_sgd<const #batch: usize>(
                &mut self,
                __x: &#p::SMatrix<#scalar, #inputs, #batch>,
                __tape: &<Self as #p::Network<#scalar, #inputs, #outputs>>::Tape<#batch>,
                __dout: &#p::SMatrix<#scalar, #outputs, #batch>,
                __lr: #scalar,
            ) {
                #backward_sgd
            }
        }
    }
}

pub fn network_impl(net: &Network) -> TokenStream {
    let scalar = super::scalar();

    let batch = super::batch();
    let p = private();
    let (ident, tape) = (&net.ident, tape_ident(net));
    let (inputs, outputs) = io(net);
    let nodes = walk(&net.nodes);
    let layer_infos = nodes.iter().map(|(node, _)| {
        let name = node.label.clone();
        let kind = node.kind_name();
        let (layer_inputs, layer_outputs) = (input(node), output(node));
        let params = match node.kind {
            NodeKind::Dense { ref outputs, .. } if node.per_step.is_some() => {
                let f = node
                    .per_step
                    .as_ref()
                    .map(|f| f.value())
                    .unwrap_or_default();
                let o = outputs.value();
                quote!(#f * #o + #o)
            }
            NodeKind::Dense { .. } => quote!(#layer_inputs * #layer_outputs + #layer_outputs),
            NodeKind::BatchNorm { .. } => {
                let features = super::norm_features(node);
                quote!(2 * #features)
            }
            NodeKind::LayerNorm { .. } => quote!(2 * #layer_outputs),
            NodeKind::Conv {
                ref spec,
                geometry: Some(ref g),
            } => {
                let (o, k) = (spec.out_channels.value(), g.filter_len());
                if spec.bias {
                    quote!(#o * #k + #o)
                } else {
                    quote!(#o * #k)
                }
            }
            NodeKind::Recurrent(ref spec) => {
                let features = match node.in_shape.as_deref() {
                    Some([_, f]) => f.value(),
                    _ => quote!(1),
                };
                let (g, h) = (spec.gates(), spec.hidden.value());
                quote!({ #g } * (#features + #h + 2))
            }
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
            // PyTorch's rule for recurrent layers: U(-1/sqrt(H), 1/sqrt(H)).
            NodeKind::Recurrent(_) => Some(quote!(self.#name.initialize(__rng);)),
            NodeKind::Conv {
                ref spec,
                geometry: Some(ref g),
            } => {
                let init = match node.effective_init() {
                    InitKind::He => quote!(#p::Init::He),
                    InitKind::Xavier => quote!(#p::Init::Xavier),
                };
                // PyTorch's fan-out of a convolution: out_channels * kernel positions.
                let (o, kh, kw) = (
                    spec.out_channels.value(),
                    g.kernel.0.value(),
                    g.kernel.1.value(),
                );
                let fan_out = quote!(#o * #kh * #kw);
                Some(quote!(self.#name.initialize(#init, #fan_out, __rng);))
            }
            _ => None,
        }
    });
    let name = net.ident.to_string();
    let name = name.trim_start_matches("r#");
    let input_shape = super::arch::input_shape(net, &inputs);
    let ops = super::arch::ops(&net.nodes);
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
    let batch_dependent = batch_dependent(net);
    let stochastic = has_dropout(&net.nodes);
    let inference = forward::inference_body(net);
    // Without dropout the pass is the inherent `forward_train_deterministic`, without
    // batch normalization the inherent `__forward_train_shared`: generated once, not
    // twice.
    let delegate = if has_dropout(&net.nodes) {
        quote!(self.__forward_train_shared(__x, __tape, __rng))
    } else {
        quote! {
            let _ = __rng;
            self.forward_train_deterministic(__x, __tape)
        }
    };
    let training = if has_dropout(&net.nodes) && batch_dependent {
        forward::training_body(net)
    } else {
        delegate.clone()
    };
    let shared = (!batch_dependent).then(|| {
        quote! {
            const SHARED_TRAINING: bool = true;

            fn forward_train_shared<'__t, const #batch: usize>(
                &self,
                __x: &#p::SMatrix<#scalar, #inputs, #batch>,
                __tape: &'__t mut Self::Tape<#batch>,
                __rng: &mut #p::Rng,
            ) -> ::core::option::Option<&'__t #p::SMatrix<#scalar, #outputs, #batch>> {
                ::core::option::Option::Some({ #delegate })
            }
        }
    });
    quote! {
        #[automatically_derived]
        impl<#scalar: #p::Scalar> #p::Network<#scalar, #inputs, #outputs> for #ident<#scalar> {
            type Tape<const #batch: usize> = #tape<#scalar, #batch>;
            const BATCH_DEPENDENT: bool = #batch_dependent;
            const STOCHASTIC: bool = #stochastic;
            const LAYERS: &'static [#p::LayerInfo] = &[#(#layer_infos),*];
            const NAME: &'static str = #name;
            const INPUT_SHAPE: &'static [usize] = #input_shape;
            const ARCHITECTURE: &'static [#p::Op] = &[#(#ops),*];

            fn tape_bytes(__batch: usize) -> usize {
                // The inherent `const fn` of the same name.
                Self::tape_bytes(__batch)
            }

            fn initialize(&mut self, __rng: &mut #p::Rng) {
                let _ = &__rng;
                #(#initializers)*
            }

            fn new_tape<const #batch: usize>() -> Self::Tape<#batch> {
                // Every training path needs a tape: one check here refuses a batch of 0
                // once, wherever it comes from (`Trainer::fit::<0>` included).
                const { ::core::assert!(#batch > 0, "a batch holds at least one sample; the batch size is 0") };
                #tape { #(#new_fields)* }
            }

            fn for_each_output<const #batch: usize, __F: FnMut(&#p::LayerInfo, &[#scalar])>(__tape: &Self::Tape<#batch>, mut __f: __F) {
                #(#output_visits)*
            }

            fn forward<const #batch: usize>(&self, __x: &#p::SMatrix<#scalar, #inputs, #batch>) -> #p::SMatrix<#scalar, #outputs, #batch> {
                #inference
            }

            #[allow(non_snake_case)] // locals named after layers (`__lxhat_Norm`)
            fn forward_train<'__t, const #batch: usize>(
                &mut self,
                __x: &#p::SMatrix<#scalar, #inputs, #batch>,
                __tape: &'__t mut Self::Tape<#batch>,
                __rng: &mut #p::Rng,
            ) -> &'__t #p::SMatrix<#scalar, #outputs, #batch> {
                #training
            }

            #shared

            fn backward<const #batch: usize>(
                &self,
                __x: &#p::SMatrix<#scalar, #inputs, #batch>,
                __tape: &Self::Tape<#batch>,
                __dout: &#p::SMatrix<#scalar, #outputs, #batch>,
                __grads: &mut Self,
            ) {
                self.__backward(__x, __tape, __dout, __grads, ::core::option::Option::None, false);
            }

            fn backward_overwrite<const #batch: usize>(
                &self,
                __x: &#p::SMatrix<#scalar, #inputs, #batch>,
                __tape: &Self::Tape<#batch>,
                __dout: &#p::SMatrix<#scalar, #outputs, #batch>,
                __grads: &mut Self,
            ) {
                self.__backward(__x, __tape, __dout, __grads, ::core::option::Option::None, true);
            }

            fn backward_with_input_grad<const #batch: usize>(
                &self,
                __x: &#p::SMatrix<#scalar, #inputs, #batch>,
                __tape: &Self::Tape<#batch>,
                __dout: &#p::SMatrix<#scalar, #outputs, #batch>,
                __grads: &mut Self,
                __dx: &mut #p::SMatrix<#scalar, #inputs, #batch>,
            ) {
                self.__backward(__x, __tape, __dout, __grads, ::core::option::Option::Some(__dx), false);
            }

            fn backward_sgd<const #batch: usize>(
                &mut self,
                __x: &#p::SMatrix<#scalar, #inputs, #batch>,
                __tape: &Self::Tape<#batch>,
                __dout: &#p::SMatrix<#scalar, #outputs, #batch>,
                __lr: #scalar,
            ) {
                self.__backward_sgd(__x, __tape, __dout, __lr);
            }
        }
    }
}
