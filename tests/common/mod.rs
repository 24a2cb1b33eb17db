//! Finite-difference gradient checks shared by the integration tests.

#![allow(dead_code)]

use approx::assert_relative_eq;
use network::loss::Loss;
use network::nalgebra::SMatrix;
use network::{Network, Params, Rng};

/// Central-difference step: small enough for an O(h^2) error near 1e-12, large enough to
/// keep f64 round-off near 1e-10.
pub const H: f64 = 1e-6;

/// Perturbs parameter number `index` (in the visitor's flat order) by `delta`.
fn nudge<P: Params<f64>>(params: &mut P, index: usize, delta: f64) {
    params.for_each_param_mut(|info, values| {
        if (info.offset..info.offset + info.len).contains(&index) {
            values[index - info.offset] += delta;
        }
    });
}

/// Reads every parameter into a flat vector in visitor order.
pub fn flatten<P: Params<f64>>(params: &P) -> Vec<f64> {
    let mut flat = vec![0.0; P::PARAMS];
    params.for_each_param(|info, values| {
        flat[info.offset..info.offset + info.len].copy_from_slice(values)
    });
    flat
}

/// Seed of the dropout masks: every evaluation draws the same masks.
const MASKS: u64 = 99;

/// The training-mode loss of a copy of `net` (batch statistics, the same dropout masks).
fn training_loss<N, L, const IN: usize, const OUT: usize, const B: usize>(
    net: &N,
    x: &SMatrix<f64, IN, B>,
    target: &SMatrix<f64, OUT, B>,
    loss: &L,
) -> f64
where
    N: Network<f64, IN, OUT> + Clone,
    L: Loss,
{
    let mut copy = net.clone();
    let mut tape = N::new_tape::<B>();
    loss.loss(
        copy.forward_train(x, &mut tape, &mut Rng::seed_from_u64(MASKS)),
        target,
    )
}

/// Checks backward's parameter and input gradients against central finite differences
/// of the training-mode `loss(forward_train(x), target)`, for every parameter and every
/// input element, with a relative tolerance of 1e-6. Returns the number of values
/// compared.
pub fn check_network<N, L, const IN: usize, const OUT: usize, const B: usize>(
    net: &N,
    x: &SMatrix<f64, IN, B>,
    target: &SMatrix<f64, OUT, B>,
    loss: L,
) -> usize
where
    N: Network<f64, IN, OUT> + Clone,
    L: Loss,
{
    let mut tape = N::new_tape::<B>();
    let mut d_out = SMatrix::<f64, OUT, B>::zeros();
    let mut trained = net.clone();
    let output = *trained.forward_train(x, &mut tape, &mut Rng::seed_from_u64(MASKS));
    loss.loss_and_grad(&output, target, &mut d_out);
    let mut grads = N::zeros();
    let mut d_x = SMatrix::<f64, IN, B>::zeros();
    net.backward_with_input_grad(x, &tape, &d_out, &mut grads, &mut d_x);

    // backward without the input gradient gives the same parameter gradient.
    let mut grads_only = N::zeros();
    net.backward(x, &tape, &d_out, &mut grads_only);
    assert_eq!(flatten(&grads_only), flatten(&grads));

    let objective = |n: &N, x: &SMatrix<f64, IN, B>| training_loss(n, x, target, &loss);
    let analytic = flatten(&grads);
    for (index, &g) in analytic.iter().enumerate() {
        let (mut plus, mut minus) = (net.clone(), net.clone());
        nudge(&mut plus, index, H);
        nudge(&mut minus, index, -H);
        let numeric = (objective(&plus, x) - objective(&minus, x)) / (2.0 * H);
        assert_relative_eq!(g, numeric, epsilon = 1e-9, max_relative = 1e-6);
    }
    for k in 0..IN * B {
        let (mut plus, mut minus) = (*x, *x);
        plus[k] += H;
        minus[k] -= H;
        let numeric = (objective(net, &plus) - objective(net, &minus)) / (2.0 * H);
        assert_relative_eq!(d_x[k], numeric, epsilon = 1e-9, max_relative = 1e-6);
    }
    assert!(
        analytic.iter().any(|g| g.abs() > 1e-3),
        "gradient is all but zero: the check proves nothing"
    );
    analytic.len() + IN * B
}

/// A deterministic matrix with entries in [-scale, scale).
pub fn matrix<const R: usize, const C: usize>(
    rng: &mut network::Rng,
    scale: f64,
) -> SMatrix<f64, R, C> {
    SMatrix::from_fn(|_, _| rng.uniform(-scale, scale))
}

/// One-hot columns for the given classes.
pub fn one_hot_columns<const R: usize, const C: usize>(classes: [usize; C]) -> SMatrix<f64, R, C> {
    SMatrix::from_fn(|r, c| if classes[c] == r { 1.0 } else { 0.0 })
}
