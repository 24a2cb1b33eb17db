use network::prelude::*;

network! {
    /// Four mistakes (a mismatch, a zero size, an unknown activation, a duplicate name):
    /// each is reported, and the code in `main` adds no error.
    #[derive(Clone)]
    pub struct Net {
        hidden: Dense<4, 16>, Relu,
        deeper: Dense<8, 0>, Swish,
        deeper: Dense<16, 3>,
    }
}

fn main() {
    let mut rng = Rng::seed_from_u64(0);
    let net = Net::<f32>::random(&mut rng);
    let y: SVector<f32, 3> = net.forward(&SVector::<f32, 4>::zeros());
    let _ = (y, net.clone(), Net::<f32>::PARAMS);
}
