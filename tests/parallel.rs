//! Data parallelism: a batch's gradient computed in parts on several threads equals the
//! one-thread gradient up to the order of the additions, is the same from run to run,
//! reports errors with the sample's place in the whole batch, trains with the optimizer's
//! update on the threads (`DataParallel::step`) to the bits of the update made after the
//! gradient, and trains through the `Trainer` like `fit` does.

use approx::assert_relative_eq;
use network::data::Dataset;
use network::parallel::DataParallel;
use network::prelude::*;
use network::NumericError;

network! {
    struct Mlp { hidden: Dense<64, 32>, Relu, logits: Dense<32, 10> }
}

fn batch<T: Scalar, const B: usize>() -> (SMatrix<T, 64, B>, SMatrix<T, 10, B>) {
    let mut rng = Rng::seed_from_u64(7);
    let x = SMatrix::from_fn(|_, _| T::of(rng.uniform(-1.0, 1.0)));
    let y = SMatrix::from_fn(|i, j| T::of(f64::from(u8::from(i == (j * 7) % 10))));
    (x, y)
}

fn params<T: Scalar, P: Params<T>>(p: &P) -> Vec<T> {
    let mut all = Vec::new();
    p.for_each_param(|_, v| all.extend_from_slice(v));
    all
}

#[test]
fn the_parts_sum_to_the_one_thread_gradient() {
    let (x, y) = batch::<f64, 96>();
    let mut net = Mlp::<f64>::random(&mut Rng::seed_from_u64(1));
    let mut tape = Mlp::<f64>::new_tape::<96>();
    let mut expected = Mlp::<f64>::zeros();
    let mut rng = Rng::seed_from_u64(0);
    let loss = network::compute_gradients(
        &mut net,
        &x,
        &y,
        &SoftmaxCrossEntropy,
        &mut tape,
        &mut expected,
        &mut rng,
    )
    .unwrap();
    let expected = params(&expected);
    assert!(expected.iter().any(|g| g.abs() > 1e-3));
    let weights = params(&net);
    for threads in [1, 2, 3, 4, 6, 8] {
        let mut parallel =
            DataParallel::<f64, Mlp<f64>, _, 64, 10, 16>::new(SoftmaxCrossEntropy, threads)
                .unwrap();
        assert_eq!(parallel.threads(), threads);
        let mut grads = Mlp::<f64>::zeros();
        let mut seen = Vec::new();
        let got = parallel
            .compute_gradients_inspect(&net, &x, &y, &mut grads, |first, out, _| {
                // Each part's outputs are the batch's columns from `first`.
                let whole = net_forward(&x).fixed_columns::<16>(first).into_owned();
                assert_relative_eq!(out, &whole, max_relative = 1e-12);
                seen.push(first);
            })
            .unwrap();
        assert_eq!(seen, [0, 16, 32, 48, 64, 80], "{threads} threads");
        assert_relative_eq!(got, loss, max_relative = 1e-13);
        for (g, e) in params(&grads).iter().zip(&expected) {
            assert_relative_eq!(g, e, epsilon = 1e-15, max_relative = 1e-11);
        }
        // The caller's network is read, not changed.
        assert_eq!(params(&net), weights);
    }

    fn net_forward(x: &SMatrix<f64, 64, 96>) -> SMatrix<f64, 10, 96> {
        Mlp::<f64>::random(&mut Rng::seed_from_u64(1)).forward(x)
    }
}

#[test]
fn a_thread_count_gives_the_same_bits_every_run() {
    let (x, y) = batch::<f32, 128>();
    let net = Mlp::<f32>::random(&mut Rng::seed_from_u64(3));
    let mut parallel =
        DataParallel::<f32, Mlp<f32>, _, 64, 10, 32>::new(SoftmaxCrossEntropy, 2).unwrap();
    let mut first = Mlp::<f32>::zeros();
    let loss = parallel
        .compute_gradients(&net, &x, &y, &mut first)
        .unwrap();
    for _ in 0..5 {
        let mut again = Mlp::<f32>::zeros();
        let repeat = parallel
            .compute_gradients(&net, &x, &y, &mut again)
            .unwrap();
        assert_eq!(repeat.to_bits(), loss.to_bits());
        let same = params(&first)
            .iter()
            .zip(params(&again))
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same);
    }
}

#[test]
fn step_trains_as_the_gradient_then_the_optimizer_in_f32() {
    // The `simd` products of f32 layers, Adam's state, 2 and 4 threads (4 parts of 32: a
    // range per thread, cut inside tensors), twenty steps: the same bits either way.
    let (x, y) = batch::<f32, 128>();
    for threads in [2, 4] {
        let mut parallel =
            DataParallel::<f32, Mlp<f32>, _, 64, 10, 32>::new(SoftmaxCrossEntropy, threads)
                .unwrap();
        let mut a = Mlp::<f32>::random(&mut Rng::seed_from_u64(5));
        let mut b = Mlp::<f32>::random(&mut Rng::seed_from_u64(5));
        let (mut adam_a, mut adam_b) = (
            Adam::new(AdamConfig::adamw(1e-2)),
            Adam::new(AdamConfig::adamw(1e-2)),
        );
        let (mut grads_a, mut grads_b) = (Mlp::<f32>::zeros(), Mlp::<f32>::zeros());
        let mut losses = Vec::new();
        for _ in 0..20 {
            let loss = parallel
                .compute_gradients(&a, &x, &y, &mut grads_a)
                .unwrap();
            adam_a.step(&mut a, &grads_a);
            let fused = parallel
                .step(&mut b, &x, &y, &mut grads_b, &mut adam_b)
                .unwrap();
            assert_eq!(loss.to_bits(), fused.to_bits());
            losses.push(loss);
        }
        let bits = |p: &Mlp<f32>| params(p).iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b), "{threads} threads");
        let (mut state_a, mut state_b) = (Vec::new(), Vec::new());
        Optimizer::<f32, Mlp<f32>>::for_each_state(&adam_a, |s| state_a.extend_from_slice(s));
        Optimizer::<f32, Mlp<f32>>::for_each_state(&adam_b, |s| state_b.extend_from_slice(s));
        assert_eq!(state_a, state_b);
        assert!(
            losses[19] < 0.5 * losses[0],
            "training lowers the loss: {losses:?}"
        );
    }
}

#[test]
fn an_error_names_the_sample_in_the_whole_batch_and_the_pool_survives_it() {
    let (mut x, y) = batch::<f32, 64>();
    let net = Mlp::<f32>::random(&mut Rng::seed_from_u64(3));
    let mut grads = Mlp::<f32>::zeros();
    let mut parallel =
        DataParallel::<f32, Mlp<f32>, _, 64, 10, 16>::new(SoftmaxCrossEntropy, 3).unwrap();
    // Sample 37 is in the third part, computed by the second worker.
    x[(5, 37)] = f32::NAN;
    assert_eq!(
        parallel.compute_gradients(&net, &x, &y, &mut grads),
        Err(NumericError::NonFiniteInput { sample: 37 })
    );
    x[(5, 37)] = 0.5;
    let mut y_bad = y;
    y_bad[(0, 2)] = f32::INFINITY;
    assert_eq!(
        parallel.compute_gradients(&net, &x, &y_bad, &mut grads),
        Err(NumericError::NonFiniteTarget { sample: 2 })
    );
    let loss = parallel
        .compute_gradients(&net, &x, &y, &mut grads)
        .unwrap();
    assert!(loss.is_finite() && loss > 0.0);
}

#[test]
fn fit_parallel_trains_like_fit() {
    let data =
        Dataset::from_csv_path(concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv")).unwrap();
    let (train, test) = data.stratified_split(0.2, &mut Rng::seed_from_u64(0));
    let config = TrainConfig {
        epochs: 3,
        quiet: true,
        ..TrainConfig::default()
    };
    let run = |threads: Option<usize>| {
        let net = Mlp::<f64>::random(&mut Rng::seed_from_u64(1));
        let mut trainer = Trainer::with_optimizer_rate(
            net,
            Adam::new(AdamConfig::adam(1e-2)),
            SoftmaxCrossEntropy,
            config.clone(),
        );
        match threads {
            None => trainer.fit::<64>(&data, &train, Some(&test)).unwrap(),
            Some(n) => trainer
                .fit_parallel::<64, 16>(&data, &train, Some(&test), n)
                .unwrap(),
        };
        trainer.history().clone()
    };
    let one = run(None);
    let two = run(Some(2));
    // 1437 training samples: 22 full batches and a partial one per epoch.
    assert_eq!(one.step_losses.len(), 3 * 23);
    assert_eq!(two.step_losses.len(), one.step_losses.len());
    for (a, b) in one.step_losses.iter().zip(&two.step_losses) {
        assert_relative_eq!(a, b, max_relative = 1e-9);
    }
    for (a, b) in one.epochs.iter().zip(&two.epochs) {
        assert_eq!(a.train_accuracy, b.train_accuracy);
        assert_eq!(a.validation_accuracy, b.validation_accuracy);
        assert_relative_eq!(a.grad_norm, b.grad_norm, max_relative = 1e-9);
    }
    let accuracy = two.epochs.last().unwrap().validation_accuracy.unwrap();
    assert!(accuracy > 0.9, "validation accuracy {accuracy}");
}
