//! expect: valid
//! attribute `#[checkpoint]` on a dense layer (middle)
#![allow(unused_imports)]
use network::prelude::*;

#[allow(dead_code)]
const HIDDEN: usize = 16;
#[allow(dead_code)]
const ZERO: usize = 0;
#[allow(dead_code)]
const SMALL: u32 = 16;
#[allow(dead_code)]
const B: usize = 8;
#[allow(dead_code)]
const T: usize = 8;
#[allow(dead_code)]
const BIG: bool = true;
#[allow(dead_code)]
const P: f64 = 0.25;
#[allow(dead_code)]
const BAD_P: f64 = 1.5;
#[allow(dead_code)]
const SLOPE: f32 = 0.2;
#[allow(dead_code)]
const NEG: f64 = -0.2;
#[allow(dead_code)]
const H: usize = 4;

network! {
    struct Net {
        inp: Dense<4, 16>, Relu,
        #[checkpoint] a: Dense<16, 16>, Relu,
        out0: Dense<16, 3>,
    }
}

#[allow(deprecated)] // the `#[deprecated]` case: only the generated code must not warn
fn main() {
    let net = Net::<f32>::random(&mut Rng::seed_from_u64(1));
    let x = SVector::<f32, 4>::zeros();
    let y: SVector<f32, 3> = net.forward(&x);
    let mut tape = Net::<f32>::new_tape::<2>();
    let mut grads = Net::<f32>::zeros();
    let xs = SMatrix::<f32, 4, 2>::zeros();
    let ys = SMatrix::<f32, 3, 2>::zeros();
    let mut net = net;
    let _ = compute_gradients(&mut net, &xs, &ys, &Mse, &mut tape, &mut grads, &mut Rng::seed_from_u64(2));
    let _ = y;
}
