//! Valid but unusual declarations: names that generated code must not capture or
//! collide with, const expressions in braces, and the argument forms the grammar allows.
#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case, dead_code)]

use network::prelude::*;

/// Names the generated code also uses for its generics.
const B: usize = 8;
const T: usize = 8;
const BIG: bool = true;
const P: f64 = 0.25;
const SLOPE: f32 = 0.2;

/// Run one training step and one inference, so that every generated function compiles
/// and works.
fn exercise<N: Network<f64, IN, OUT>, const IN: usize, const OUT: usize>() {
    let mut net = N::zeros();
    net.initialize(&mut Rng::seed_from_u64(1));
    let x = SMatrix::<f64, IN, 4>::from_fn(|i, j| (i + j) as f64 * 0.1);
    let y = SMatrix::<f64, OUT, 4>::from_fn(|i, j| ((i + j) % 2) as f64);
    let mut tape = N::new_tape::<4>();
    let mut grads = N::zeros();
    let loss = compute_gradients(&mut net, &x, &y, &Mse, &mut tape, &mut grads, &mut Rng::seed_from_u64(2)).unwrap();
    assert!(loss.is_finite());
    // The input gradient too (the generated `backward` names its own locals).
    let d_out = SMatrix::<f64, OUT, 4>::from_element(0.5);
    let mut d_x = SMatrix::<f64, IN, 4>::zeros();
    net.forward_train(&x, &mut tape, &mut Rng::seed_from_u64(3));
    net.backward_with_input_grad(&x, &tape, &d_out, &mut grads, &mut d_x);
    assert!(d_x.iter().all(|v| v.is_finite()));
    assert!(net.forward(&x).iter().all(|v| v.is_finite()));
}

network! {
    /// A layer named `x`, like the generated input; `B` and `T` as sizes.
    struct Shadows {
        x: Dense<4, B>, Relu,
        out: Dense<B, T>, Gelu,
        input: Dense<T, 3>,
    }
}

network! {
    /// A network named like the scalar parameter.
    struct T { a: Dense<2, 3>, Relu, b: Dense<3, 1> }
}

network! {
    /// Raw identifiers as layer names.
    struct Raw { r#type: Dense<3, 4>, Tanh, r#fn: BatchNorm, r#loop: Dense<4, 2> }
}

network! {
    /// Layer names that look like generated buffers.
    struct Lookalikes {
        a: Dense<3, 4>, Gelu,
        a__pre: Dense<4, 4>, Gelu,
        d: Dropout(0.1),
        d__mask: Dense<4, 4>,
        n: BatchNorm,
        n__xhat: LayerNorm,
        n__inv_std: Dense<4, 2>,
    }
}

network! {
    /// A const expression with braces and a branch as a size.
    struct Braces { a: Dense<4, { if BIG { 16 } else { 8 } }>, Relu, b: Dense<{ if BIG { 16 } else { 8 } }, 2> }
}

network! {
    /// Dropout of 0, with a suffix, and a named constant; a slope of negative zero.
    struct Arguments {
        a: Dense<3, 8>, LeakyRelu(-0.0),
        Dropout(0),
        b: Dense<8, 8>, LeakyRelu(SLOPE),
        Dropout(0.5f32),
        c: Dense<8, 8>,
        Dropout(P),
        d: Dense<8, 2>,
    }
}

fn main() {
    exercise::<Shadows<f64>, 4, 3>();
    exercise::<T<f64>, 2, 1>();
    exercise::<Raw<f64>, 3, 2>();
    exercise::<Lookalikes<f64>, 3, 2>();
    exercise::<Braces<f64>, 4, 2>();
    exercise::<Arguments<f64>, 3, 2>();
    let names: Vec<&str> = Raw::<f64>::PARAM_INFO.iter().map(|p| p.name).collect();
    assert_eq!(names[0], "type.weight");
    assert_eq!(Raw::<f64>::LAYERS[1].name, "fn");
}
