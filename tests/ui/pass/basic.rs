use network::prelude::*;

network! {
    /// Docs, derives and visibility pass through.
    #[derive(Clone, Debug, PartialEq)]
    pub struct Iris {
        /// The first hidden layer.
        hidden: Dense<4, 16>, Relu,
        deeper: Dense<16, 16>, LeakyRelu(0.05),
        logits: Dense<16, 3>,
    }
}

fn main() {
    let net = Iris::<f32>::random(&mut Rng::seed_from_u64(1));
    let p = softmax(&net.forward(&SVector::<f32, 4>::zeros()));
    assert!((p.sum() - 1.0).abs() < 1e-6);
    let copy = net.clone();
    assert_eq!(copy, net);
    let _ = format!("{net:?}");
}
