// Shaped layers with named sizes everywhere: `const` items and `{ const expressions }`
// in `Input`, convolutions (channels, kernels, every option), pooling, batch norm,
// dense layers and residual blocks. The network equals its literal twin.
use network::prelude::*;

const C: usize = 2;
const L: usize = 16;
const OUT: usize = 4;
const K: usize = 3;
const PAD: usize = 1;
const DIL: usize = 2;
const G: usize = 2;
const WIN: usize = 2;
const H: usize = 6;

network! {
    struct Named {
        Input<C, L>,
        a: Conv1d<OUT, K>(padding = PAD), Relu,
        bn: BatchNorm<OUT>,
        causal: Conv1d<OUT, K>(padding = "causal", dilation = DIL, groups = G),
        block: Residual {
            inner: Conv1d<OUT, K>(padding = "same", dilation = { DIL * 2 }),
        },
        MaxPool1d<WIN>(stride = { WIN }),
        AvgPool1d<WIN>,
        Flatten,
        fc: Dense<{ OUT * L / (WIN * WIN) }, 3>,
    }
}

network! {
    struct Literal {
        Input<2, 16>,
        a: Conv1d<4, 3>(padding = 1), Relu,
        bn: BatchNorm<4>,
        causal: Conv1d<4, 3>(padding = "causal", dilation = 2, groups = 2),
        block: Residual {
            inner: Conv1d<4, 3>(padding = "same", dilation = 4),
        },
        MaxPool1d<2>(stride = 2),
        AvgPool1d<2>,
        Flatten,
        fc: Dense<16, 3>,
    }
}

network! {
    struct Image {
        Input<1, H, H>,
        c: Conv2d<OUT, K, { K - 1 }>(stride = (1, WIN), padding = (PAD, 0)),
        MaxPool2d<WIN, 1>,
        GlobalAvgPool,
        fc: Dense<3>,
    }
}

fn main() {
    assert_eq!(Named::<f32>::PARAMS, Literal::<f32>::PARAMS);
    assert_eq!(Named::<f32>::INPUTS, 32);
    // The same draws in the same order: equal weights, equal outputs.
    let named = Named::<f64>::random(&mut Rng::seed_from_u64(1));
    let literal = Literal::<f64>::random(&mut Rng::seed_from_u64(1));
    let mut rng = Rng::seed_from_u64(2);
    let x = SMatrix::<f64, 32, 2>::from_fn(|r, c| (r as f64 * 0.37 + c as f64).sin());
    assert_eq!(named.forward(&x), literal.forward(&x));
    // Training: the same gradients.
    let y = SMatrix::<f64, 3, 2>::from_fn(|r, c| f64::from(u8::from(r == c)));
    let (mut named, mut literal) = (named, literal);
    let (mut tn, mut tl) = (Named::<f64>::new_tape::<2>(), Literal::<f64>::new_tape::<2>());
    let (mut gn, mut gl) = (Named::<f64>::zeros(), Literal::<f64>::zeros());
    let ln = compute_gradients(&mut named, &x, &y, &Mse, &mut tn, &mut gn, &mut Rng::seed_from_u64(3)).unwrap();
    let ll = compute_gradients(&mut literal, &x, &y, &Mse, &mut tl, &mut gl, &mut Rng::seed_from_u64(3)).unwrap();
    assert_eq!(ln, ll);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    gn.for_each_param(|_, t| a.extend_from_slice(t));
    gl.for_each_param(|_, t| b.extend_from_slice(t));
    assert_eq!(a, b);
    assert!(a.iter().any(|g| *g != 0.0));
    // [1, 6, 6] -> conv (3x2, stride (1, 2), padding (1, 0)) -> [4, 6, 3] -> pool (2, 1) -> [4, 3, 3].
    assert_eq!(Image::<f32>::INPUTS, 36);
    let image = Image::<f32>::random(&mut rng);
    let _: SVector<f32, 3> = image.forward(&SVector::<f32, 36>::zeros());
    let shapes: Vec<&[usize]> = <Image<f32> as Params<f32>>::PARAM_INFO.iter().map(|p| p.shape).collect();
    assert_eq!(shapes[0], &[4, 1, 3, 2]);
}
