//! expect: valid
//! 64 dense layers
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
        l0: Dense<4, 16>, Relu,
        l1: Dense<16>, Relu,
        l2: Dense<16>, Relu,
        l3: Dense<16>, Relu,
        l4: Dense<16>, Relu,
        l5: Dense<16>, Relu,
        l6: Dense<16>, Relu,
        l7: Dense<16>, Relu,
        l8: Dense<16>, Relu,
        l9: Dense<16>, Relu,
        l10: Dense<16>, Relu,
        l11: Dense<16>, Relu,
        l12: Dense<16>, Relu,
        l13: Dense<16>, Relu,
        l14: Dense<16>, Relu,
        l15: Dense<16>, Relu,
        l16: Dense<16>, Relu,
        l17: Dense<16>, Relu,
        l18: Dense<16>, Relu,
        l19: Dense<16>, Relu,
        l20: Dense<16>, Relu,
        l21: Dense<16>, Relu,
        l22: Dense<16>, Relu,
        l23: Dense<16>, Relu,
        l24: Dense<16>, Relu,
        l25: Dense<16>, Relu,
        l26: Dense<16>, Relu,
        l27: Dense<16>, Relu,
        l28: Dense<16>, Relu,
        l29: Dense<16>, Relu,
        l30: Dense<16>, Relu,
        l31: Dense<16>, Relu,
        l32: Dense<16>, Relu,
        l33: Dense<16>, Relu,
        l34: Dense<16>, Relu,
        l35: Dense<16>, Relu,
        l36: Dense<16>, Relu,
        l37: Dense<16>, Relu,
        l38: Dense<16>, Relu,
        l39: Dense<16>, Relu,
        l40: Dense<16>, Relu,
        l41: Dense<16>, Relu,
        l42: Dense<16>, Relu,
        l43: Dense<16>, Relu,
        l44: Dense<16>, Relu,
        l45: Dense<16>, Relu,
        l46: Dense<16>, Relu,
        l47: Dense<16>, Relu,
        l48: Dense<16>, Relu,
        l49: Dense<16>, Relu,
        l50: Dense<16>, Relu,
        l51: Dense<16>, Relu,
        l52: Dense<16>, Relu,
        l53: Dense<16>, Relu,
        l54: Dense<16>, Relu,
        l55: Dense<16>, Relu,
        l56: Dense<16>, Relu,
        l57: Dense<16>, Relu,
        l58: Dense<16>, Relu,
        l59: Dense<16>, Relu,
        l60: Dense<16>, Relu,
        l61: Dense<16>, Relu,
        l62: Dense<16>, Relu,
        out: Dense<3>,
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
