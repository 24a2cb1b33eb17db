use network::prelude::*;

const WIDTH: usize = 12;

network! {
    /// Every layer kind, nested blocks and checkpoints.
    #[derive(Clone, Debug, PartialEq)]
    pub struct Deep {
        input: Dense<6, WIDTH>, Gelu,
        norm: BatchNorm<WIDTH>,
        #[checkpoint]
        block: Residual {
            a: Dense<WIDTH>, Elu,
            Dropout(0.25),
            inner: Residual {
                b: Dense<WIDTH>, Softplus,
                ln: LayerNorm,
            },
        },
        logits: Dense<3>,
    }
}

fn main() {
    let mut net = Deep::<f32>::random(&mut Rng::seed_from_u64(1));
    let x = SMatrix::<f32, 6, 4>::from_element(0.5);
    let y = SMatrix::<f32, 3, 4>::from_element(1.0 / 3.0);
    let mut tape = Deep::<f32>::new_tape::<4>();
    let mut grads = Deep::<f32>::zeros();
    let mut rng = Rng::seed_from_u64(2);
    compute_gradients(&mut net, &x, &y, &SoftmaxCrossEntropy, &mut tape, &mut grads, &mut rng).unwrap();
    let _ = net.forward(&x);
}
