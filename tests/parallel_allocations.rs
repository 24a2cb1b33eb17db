//! A data-parallel training step allocates nothing once the pool is running: counted by
//! a global allocator over every thread (the workers' included). The only test of its
//! binary, so that nothing else allocates while it counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use network::parallel::DataParallel;
use network::prelude::*;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

network! {
    struct Mlp { hidden: Dense<16, 32>, Relu, logits: Dense<32, 4> }
}

#[test]
fn a_parallel_step_allocates_nothing_on_any_thread() {
    let mut net = Mlp::<f32>::random(&mut Rng::seed_from_u64(1));
    let mut grads = Mlp::<f32>::zeros();
    let mut sgd = Sgd::new(0.05);
    let x = SMatrix::<f32, 16, 64>::from_fn(|i, j| ((i * 5 + j * 3) % 13) as f32 / 13.0);
    let y = SMatrix::<f32, 4, 64>::from_fn(|i, j| f32::from(u8::from(i == j % 4)));
    let mut parallel =
        DataParallel::<f32, Mlp<f32>, _, 16, 4, 16>::new(SoftmaxCrossEntropy, 3).unwrap();
    let fill = |k: usize, px: &mut SMatrix<f32, 16, 16>, py: &mut SMatrix<f32, 4, 16>| {
        px.copy_from(&x.fixed_columns::<16>(16 * k));
        py.copy_from(&y.fixed_columns::<16>(16 * k));
    };
    // The first steps size the buffers.
    parallel
        .compute_gradients(&net, &x, &y, &mut grads)
        .unwrap();
    parallel
        .compute_gradients_filled(&net, 4, fill, &mut grads, |_, _, _| {})
        .unwrap();

    let before = ALLOCATIONS.load(Ordering::SeqCst);
    // Four kinds of step in turn: the gradient then the optimizer on this thread, read
    // in place or filled, and `step` (the update on the threads too), in place or filled.
    let mut losses = [0.0f32; 24];
    for (step, loss) in losses.iter_mut().enumerate() {
        *loss = match step % 4 {
            0 => parallel.compute_gradients(&net, &x, &y, &mut grads),
            1 => parallel.compute_gradients_filled(&net, 4, fill, &mut grads, |_, _, _| {}),
            2 => parallel.step(&mut net, &x, &y, &mut grads, &mut sgd),
            _ => parallel.step_filled(&mut net, 4, fill, &mut grads, &mut sgd, |_, _, _| {}),
        }
        .unwrap();
        if step % 4 < 2 {
            sgd.step(&mut net, &grads);
        }
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(after - before, 0, "allocations during 24 parallel steps");
    assert_eq!(Optimizer::<f32, Mlp<f32>>::steps(&sgd), 24);
    assert!(
        losses[23] < losses[0],
        "training lowers the loss: {losses:?}"
    );
}
