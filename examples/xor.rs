//! The smallest problem a linear model cannot solve: XOR, learned by a 2-8-1 network with
//! a fused sigmoid + binary cross-entropy loss on its logit.
//!
//! ```text
//! cargo run --release --example xor
//! ```

use network::prelude::*;

network! {
    /// Two inputs, one logit: `sigmoid(logit) > 0.5` means "exactly one input is on".
    struct Xor {
        hidden: Dense<2, 8>, Tanh,
        logit: Dense<8, 1>,
    }
}

fn main() -> Result<(), network::NumericError> {
    // The whole truth table is one batch of four columns.
    let x = SMatrix::<f32, 2, 4>::from_columns(&[
        SVector::<f32, 2>::new(0.0, 0.0),
        SVector::<f32, 2>::new(0.0, 1.0),
        SVector::<f32, 2>::new(1.0, 0.0),
        SVector::<f32, 2>::new(1.0, 1.0),
    ]);
    let y = SMatrix::<f32, 1, 4>::new(0.0, 1.0, 1.0, 0.0);

    let mut rng = Rng::seed_from_u64(1);
    let mut net = Xor::<f32>::random(&mut rng);
    let mut grads = Xor::<f32>::zeros();
    let mut tape = Xor::<f32>::new_tape::<4>();
    let mut sgd = Sgd::new(0.5);
    for step in 0..=1000 {
        let loss = compute_gradients(
            &mut net,
            &x,
            &y,
            &BceWithLogits,
            &mut tape,
            &mut grads,
            &mut rng,
        )?;
        sgd.step(&mut net, &grads);
        if step % 100 == 0 {
            println!("step {step:4}  loss {loss:.5}");
        }
    }

    let logits = net.forward(&x);
    let mut correct = 0;
    for (column, (&logit, &target)) in logits.iter().zip(y.iter()).enumerate() {
        let predicted = logit > 0.0;
        correct += usize::from(predicted == (target > 0.5));
        println!(
            "{} XOR {} -> {}",
            x[(0, column)],
            x[(1, column)],
            u8::from(predicted)
        );
    }
    println!("accuracy {:.0}%", 100.0 * correct as f64 / 4.0);
    if correct != 4 {
        std::process::exit(1);
    }
    Ok(())
}
