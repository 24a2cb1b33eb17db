::core::compile_error! {
    "layer `logits` takes 8 inputs but `hidden` produces 16"
}
struct Broken<T: ::network::__private::Scalar = f32>(::core::marker::PhantomData<T>);
impl<T: ::network::__private::Scalar> Broken<T> {
    const INPUTS: usize = 4;
    const OUTPUTS: usize = 3;
    const PARAMS: usize = 0;
    const BUFFERS: usize = 0;
    const PARAM_BYTES: usize = 0;
    const fn tape_bytes(_batch: usize) -> usize {
        0
    }
    fn pytorch() -> ::network::__private::PyTorchModule {
        ::network::__private::PyTorchModule {
            name: "Broken",
            input: &[],
            ops: &[],
            layers: &[],
        }
    }
    fn summary(
        batch: usize,
        optimizer_bytes: usize,
    ) -> ::network::__private::Summary<T, Self, 4, 3> {
        ::network::__private::Summary::new(batch, optimizer_bytes)
    }
}
unsafe impl<
    T: ::network::__private::Scalar + ::network::__private::Zeroable,
> ::network::__private::Zeroable for Broken<T> {}
impl<T: ::network::__private::Scalar> ::network::__private::Params<T> for Broken<T> {
    const PARAMS: usize = 0;
    const PARAM_INFO: &'static [::network::__private::ParamInfo] = &[];
    fn zeros() -> Self {
        Self(::core::marker::PhantomData)
    }
    fn tensor(&self, _: usize) -> &[T] {
        &[]
    }
    fn tensor_mut(&mut self, _: usize) -> &mut [T] {
        &mut []
    }
    fn for_each_param<__F: FnMut(&::network::__private::ParamInfo, &[T])>(
        &self,
        _: __F,
    ) {}
    fn for_each_param_mut<__F: FnMut(&::network::__private::ParamInfo, &mut [T])>(
        &mut self,
        _: __F,
    ) {}
    fn zip_params_mut<__F: FnMut(&::network::__private::ParamInfo, &mut [T], &[T])>(
        &mut self,
        _: &Self,
        _: __F,
    ) {}
}
impl<T: ::network::__private::Scalar> ::network::__private::Network<T, 4, 3>
for Broken<T> {
    type Tape<const B: usize> = ();
    const LAYERS: &'static [::network::__private::LayerInfo] = &[];
    fn tape_bytes(_: usize) -> usize {
        0
    }
    fn initialize(&mut self, _: &mut ::network::__private::Rng) {}
    fn new_tape<const B: usize>() {}
    fn for_each_output<
        const B: usize,
        __F: FnMut(&::network::__private::LayerInfo, &[T]),
    >(_: &(), _: __F) {}
    fn forward<const B: usize>(
        &self,
        _: &::network::__private::SMatrix<T, 4, B>,
    ) -> ::network::__private::SMatrix<T, 3, B> {
        ::core::unreachable!()
    }
    fn forward_train<'__t, const B: usize>(
        &mut self,
        _: &::network::__private::SMatrix<T, 4, B>,
        _: &'__t mut (),
        _: &mut ::network::__private::Rng,
    ) -> &'__t ::network::__private::SMatrix<T, 3, B> {
        ::core::unreachable!()
    }
    fn backward<const B: usize>(
        &self,
        _: &::network::__private::SMatrix<T, 4, B>,
        _: &(),
        _: &::network::__private::SMatrix<T, 3, B>,
        _: &mut Self,
    ) {}
    fn backward_with_input_grad<const B: usize>(
        &self,
        _: &::network::__private::SMatrix<T, 4, B>,
        _: &(),
        _: &::network::__private::SMatrix<T, 3, B>,
        _: &mut Self,
        _: &mut ::network::__private::SMatrix<T, 4, B>,
    ) {}
    fn backward_sgd<const B: usize>(
        &mut self,
        _: &::network::__private::SMatrix<T, 4, B>,
        _: &(),
        _: &::network::__private::SMatrix<T, 3, B>,
        _: T,
    ) {}
}
