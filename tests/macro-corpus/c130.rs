//! expect: valid
//! 128 dense layers
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
        l63: Dense<16>, Relu,
        l64: Dense<16>, Relu,
        l65: Dense<16>, Relu,
        l66: Dense<16>, Relu,
        l67: Dense<16>, Relu,
        l68: Dense<16>, Relu,
        l69: Dense<16>, Relu,
        l70: Dense<16>, Relu,
        l71: Dense<16>, Relu,
        l72: Dense<16>, Relu,
        l73: Dense<16>, Relu,
        l74: Dense<16>, Relu,
        l75: Dense<16>, Relu,
        l76: Dense<16>, Relu,
        l77: Dense<16>, Relu,
        l78: Dense<16>, Relu,
        l79: Dense<16>, Relu,
        l80: Dense<16>, Relu,
        l81: Dense<16>, Relu,
        l82: Dense<16>, Relu,
        l83: Dense<16>, Relu,
        l84: Dense<16>, Relu,
        l85: Dense<16>, Relu,
        l86: Dense<16>, Relu,
        l87: Dense<16>, Relu,
        l88: Dense<16>, Relu,
        l89: Dense<16>, Relu,
        l90: Dense<16>, Relu,
        l91: Dense<16>, Relu,
        l92: Dense<16>, Relu,
        l93: Dense<16>, Relu,
        l94: Dense<16>, Relu,
        l95: Dense<16>, Relu,
        l96: Dense<16>, Relu,
        l97: Dense<16>, Relu,
        l98: Dense<16>, Relu,
        l99: Dense<16>, Relu,
        l100: Dense<16>, Relu,
        l101: Dense<16>, Relu,
        l102: Dense<16>, Relu,
        l103: Dense<16>, Relu,
        l104: Dense<16>, Relu,
        l105: Dense<16>, Relu,
        l106: Dense<16>, Relu,
        l107: Dense<16>, Relu,
        l108: Dense<16>, Relu,
        l109: Dense<16>, Relu,
        l110: Dense<16>, Relu,
        l111: Dense<16>, Relu,
        l112: Dense<16>, Relu,
        l113: Dense<16>, Relu,
        l114: Dense<16>, Relu,
        l115: Dense<16>, Relu,
        l116: Dense<16>, Relu,
        l117: Dense<16>, Relu,
        l118: Dense<16>, Relu,
        l119: Dense<16>, Relu,
        l120: Dense<16>, Relu,
        l121: Dense<16>, Relu,
        l122: Dense<16>, Relu,
        l123: Dense<16>, Relu,
        l124: Dense<16>, Relu,
        l125: Dense<16>, Relu,
        l126: Dense<16>, Relu,
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
