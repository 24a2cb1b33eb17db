//! Data parallelism on the CPU's cores: a batch of `B` samples is cut into parts of `S`
//! (a compile-time size, `B` a multiple of it), the parts are shared out among threads
//! started once, each thread computes the gradient of its parts with its own tape,
//! reading the one copy of the weights and the batch where they are, and the gradients
//! are summed.
//!
//! ```
//! use network::parallel::DataParallel;
//! use network::prelude::*;
//!
//! network! {
//!     struct Mlp { hidden: Dense<8, 16>, Relu, logits: Dense<16, 3> }
//! }
//!
//! let mut net = Mlp::<f32>::random(&mut Rng::seed_from_u64(1));
//! let mut grads = Mlp::<f32>::zeros();
//! // Parts of 32 samples, on 2 threads (the calling thread and one worker).
//! let mut parallel = DataParallel::<f32, Mlp<f32>, _, 8, 3, 32>::new(SoftmaxCrossEntropy, 2)?;
//! let x = SMatrix::<f32, 8, 64>::from_fn(|i, j| ((i * 7 + j * 3) % 11) as f32 / 11.0);
//! let y = SMatrix::<f32, 3, 64>::from_fn(|i, j| f32::from(u8::from(i == j % 3)));
//! let loss = parallel.compute_gradients(&net, &x, &y, &mut grads)?;
//! Sgd::new(0.1).step(&mut net, &grads);
//! # assert!(loss > 0.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **What comes out.** The mean loss over the `B` samples and its gradient, as
//! [`compute_gradients`](crate::compute_gradients) gives them for the whole batch:
//! each part's gradient is the mean over its `S` samples, and the batch's is the mean of
//! the parts'. Only the order of the additions differs, so results match the
//! single-threaded run to rounding (tested to 1e-11 relative in `f64`), and are
//! identical from run to run for a given thread count (each thread takes a fixed range
//! of parts and the sums are made in thread order).
//!
//! **Which networks.** Those whose training pass changes nothing in them
//! ([`Network::SHARED_TRAINING`]: every network `network!` generates without batch
//! normalization) and draws nothing at random (no dropout): batch normalization would
//! see statistics over `S` samples instead of `B`, and dropout would draw other masks
//! than on one thread. Other networks do not compile here (a `const` assertion names
//! the reason); train them on one thread.
//!
//! **Costs.** The threads start in [`DataParallel::new`] and stay parked between steps;
//! a step allocates nothing and copies neither the weights nor the batch: each thread
//! reads its parts of the caller's batch and the caller's weights in place, and
//! overwrites its gradient buffer (no clearing). Then every thread sums a range of the
//! values (the tensors laid end to end, cut into one range per thread) from all the
//! threads' gradients into `grads`, scaled, testing it for NaN and infinities in the
//! same pass (once for the whole batch instead of once per part); the additions are made
//! in thread order for every value, as one thread would make them. With
//! [`DataParallel::step`] each thread then also makes the optimizer's update of the
//! values it summed, once all the sums are known to be finite, so that its share of the
//! gradient, the weights and the optimizer's state stays in its core's cache
//! ([`Elementwise`] optimizers: every optimizer of the crate). The ranges are written
//! through pointers into `grads`, the network and the optimizer's buffers: each is
//! checked, every step, to hold its tensors where the first step found them, inside it
//! and apart from each other (true of every `network!` type); otherwise the calling
//! thread makes the sum, and the update, alone. A thread that waits spins for about a microsecond,
//! then yields its core (in case the scheduler put both threads on one) until half a
//! millisecond has passed, and only then parks, so that back-to-back steps do not pay
//! the operating system's wake-up; for small networks or batches the hand-over still
//! costs more than it saves (below 64 samples per step one thread is usually faster).
//! `benches/parallel.rs` measures it.
//!
//! Workers are `std` threads named `network-worker-<k>` with 16 MiB stacks (reserved,
//! not touched: a training step needs far less, but convolutions keep bounded scratch
//! buffers on the stack and the main thread's 8 MiB is what users have tested with).
//! Dropping the `DataParallel` stops and joins them.

use std::boxed::Box;
use std::io;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use std::vec::Vec;

use crate::loss::Loss;
use crate::nalgebra::SMatrix;
use crate::optim::Elementwise;
use crate::{Network, NumericError, Params, Rng, Scalar, Zeroable};
use network_core::compute_part_gradients;

/// Stack of each worker thread.
const WORKER_STACK: usize = 16 << 20;

/// How long a thread that waits spins before it parks: the next step of a training
/// loop usually comes sooner, and waking a parked thread costs tens of microseconds
/// (more in a virtual machine).
const SPIN: Duration = Duration::from_micros(500);

/// Checks of the state before the spinning thread starts yielding its core (about a
/// microsecond of `spin_loop` hints).
const SPIN_HARD: u32 = 256;

// What a worker is asked to do, or has done (`Link::state`).
/// Nothing to do.
const IDLE: u8 = 0;
/// Its job is loaded: compute.
const GO: u8 = 1;
/// Its gradient and loss are ready.
const DONE: u8 = 2;
/// Its computation panicked.
const PANICKED: u8 = 3;
/// Stop the thread.
const EXIT: u8 = 4;
/// Its gradient and loss are ready; it waits for the caller's word: `SUM`, or `IDLE`
/// (nothing more to do).
const READY: u8 = 5;
/// Sum its range of every thread's gradient into the caller's (`Share::reduce`).
const SUM: u8 = 6;
/// Its share of the sum is made; it waits for the caller's word: `UPDATE`, or `IDLE`.
const SUMMED: u8 = 7;
/// Make the optimizer's update of its range (`Share::update`).
const UPDATE: u8 = 8;

/// What the caller and one worker share. `state` is only changed with `share` locked,
/// so that a thread that checks it under the lock and then waits on `wake` cannot miss
/// the change; it is atomic so that a waiting thread can spin on it without the lock.
struct Link<X> {
    share: Mutex<X>,
    wake: Condvar,
    state: AtomicU8,
}

impl<X> Link<X> {
    /// Waits until `state` is none of `from` (spinning for up to [`SPIN`], then
    /// parked); returns the lock and the new state.
    fn wait_while(&self, from: &[u8]) -> (MutexGuard<'_, X>, u8) {
        let start = Instant::now();
        let mut spins = 0u32;
        while from.contains(&self.state.load(Ordering::Acquire)) {
            spins = spins.saturating_add(1);
            if spins < SPIN_HARD {
                std::hint::spin_loop();
            } else if start.elapsed() > SPIN {
                break;
            } else {
                // If the other thread waits for this core (the scheduler put both on
                // one), spinning would keep it off until the time slice ends.
                thread::yield_now();
            }
        }
        let mut guard = lock(&self.share);
        loop {
            let state = self.state.load(Ordering::Acquire);
            if !from.contains(&state) {
                return (guard, state);
            }
            guard = self
                .wake
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Sets `state` (the caller holds the lock) and wakes the other side.
    fn set(&self, state: u8) {
        self.state.store(state, Ordering::Release);
        self.wake.notify_all();
    }
}

fn lock<X>(mutex: &Mutex<X>) -> MutexGuard<'_, X> {
    // A panic inside a computation is caught and reported as `PANICKED`, so a poisoned
    // lock still holds consistent buffers.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Part `index` of the batch whose storage starts at `base`.
///
/// # Safety
///
/// `base` must point at the start of the storage of a matrix with `R` rows and at least
/// `(index + 1) * S` columns (with the provenance of all of it); the result may be read
/// as long as that matrix is borrowed.
unsafe fn part_ptr<T: Scalar, const R: usize, const S: usize>(
    base: *const T,
    index: usize,
) -> *const SMatrix<T, R, S> {
    // `SMatrix<T, R, S>` is a `#[repr(C)]` `Matrix` whose only non-zero-sized field is a
    // `#[repr(transparent)]` `ArrayStorage([[T; R]; S])`: `R * S` values of `T` in
    // column-major order, aligned as `T`. Columns `index * S ..` of a matrix of `R` rows
    // are such values.
    const {
        assert!(
            core::mem::size_of::<SMatrix<T, R, S>>() == R * S * core::mem::size_of::<T>()
                && core::mem::align_of::<SMatrix<T, R, S>>() == core::mem::align_of::<T>()
        )
    };
    // SAFETY: in bounds of the matrix, by the caller's promise.
    unsafe { base.add(index * S * R).cast() }
}

/// What a worker reads during one step: the caller's network, and where its parts of
/// the batch (those `Share::reserve` counted) come from.
struct Job<N, T, const IN: usize, const OUT: usize, const S: usize> {
    net: *const N,
    source: Source<T, IN, OUT, S>,
}

/// Where a step's parts come from.
#[derive(Clone, Copy)]
enum Source<T, const IN: usize, const OUT: usize, const S: usize> {
    /// The storage of the caller's batch of inputs and targets: read in place.
    Batch { x: *const T, y: *const T },
    /// The caller's `fill` closure (`data`, called through `call`), which writes part
    /// `index` into a thread's buffers.
    Fill {
        data: *const (),
        call: FillFn<T, IN, OUT, S>,
    },
}

/// Calls the `fill` closure behind `data` with a part's index and buffers.
type FillFn<T, const IN: usize, const OUT: usize, const S: usize> =
    unsafe fn(*const (), usize, &mut SMatrix<T, IN, S>, &mut SMatrix<T, OUT, S>);

/// [`FillFn`] for a closure of type `F`.
///
/// # Safety
///
/// `data` must point to a live `F`.
unsafe fn call_fill<F, T, const IN: usize, const OUT: usize, const S: usize>(
    data: *const (),
    index: usize,
    x: &mut SMatrix<T, IN, S>,
    y: &mut SMatrix<T, OUT, S>,
) where
    F: Fn(usize, &mut SMatrix<T, IN, S>, &mut SMatrix<T, OUT, S>),
{
    // SAFETY: by the caller's promise.
    let fill = unsafe { &*data.cast::<F>() };
    fill(index, x, y);
}

// SAFETY: a `Job` carries shared borrows to another thread: sound when what they point
// to may be shared (`Sync`; `compute_gradients_filled` requires it of its closure). The
// caller that makes one does not return, not even by unwinding, before the worker has
// reported that it stopped reading (see `DataParallel::step` and `Wait`).
unsafe impl<N: Sync, T: Sync, const IN: usize, const OUT: usize, const S: usize> Send
    for Job<N, T, IN, OUT, S>
{
}

/// The work of one thread: its tape, gradients and outputs.
struct Share<
    T: Scalar,
    N: Network<T, IN, OUT>,
    L,
    const IN: usize,
    const OUT: usize,
    const S: usize,
> {
    loss_fn: L,
    job: Option<Job<N, T, IN, OUT, S>>,
    /// Parts written by a `fill` closure.
    xs: Vec<SMatrix<T, IN, S>>,
    ys: Vec<SMatrix<T, OUT, S>>,
    grads: Box<N>,
    partial: Box<N>,
    tape: Box<N::Tape<S>>,
    outputs: Vec<SMatrix<T, OUT, S>>,
    /// Index of its first part in the batch, and how many it computed.
    first: usize,
    parts: usize,
    /// Sum of its parts' mean losses, or the first error.
    result: Result<T, NumericError>,
    /// Its share of the batch's sum, given with `SUM` (and read again with `UPDATE`).
    reduce: Option<Reduce<T>>,
    /// The first tensor whose sum in that share holds NaN or an infinity.
    non_finite: Option<usize>,
    /// The optimizer's update of that share (of `reduce`'s range), given with `UPDATE`.
    update: Option<Update<T>>,
}

impl<T, N, L, const IN: usize, const OUT: usize, const S: usize> Share<T, N, L, IN, OUT, S>
where
    T: Scalar,
    N: Network<T, IN, OUT> + Zeroable,
    L: Loss,
{
    fn new(loss_fn: L) -> Self {
        Self {
            loss_fn,
            job: None,
            xs: Vec::new(),
            ys: Vec::new(),
            grads: crate::boxed::zeroed(),
            partial: crate::boxed::zeroed(),
            tape: Box::new(N::new_tape::<S>()),
            outputs: Vec::new(),
            first: 0,
            parts: 0,
            result: Ok(T::zero()),
            reduce: None,
            non_finite: None,
            update: None,
        }
    }

    /// Makes room for `parts` outputs, and for their inputs and targets when they are
    /// filled (allocating only the first time a batch this large is seen).
    fn reserve(&mut self, first: usize, parts: usize, filled: bool) {
        while self.outputs.len() < parts {
            self.outputs.push(SMatrix::zeros());
        }
        while filled && self.xs.len() < parts {
            self.xs.push(SMatrix::zeros());
            self.ys.push(SMatrix::zeros());
        }
        self.first = first;
        self.parts = parts;
    }

    /// Computes its parts from `source` (see `run_parts`).
    ///
    /// # Safety
    ///
    /// What `source` points to must be alive and hold the parts counted by `reserve`.
    unsafe fn run_source(&mut self, net: &N, source: &Source<T, IN, OUT, S>) {
        let first = self.first;
        match *source {
            // SAFETY: by the caller's promise, the batch holds these parts.
            Source::Batch { x, y } => self.run_parts(net, &|k| unsafe {
                (
                    &*part_ptr::<T, IN, S>(x, first + k),
                    &*part_ptr::<T, OUT, S>(y, first + k),
                )
            }),
            Source::Fill { data, call } => {
                let (mut xs, mut ys) =
                    (core::mem::take(&mut self.xs), core::mem::take(&mut self.ys));
                for (k, (x, y)) in xs.iter_mut().zip(&mut ys).take(self.parts).enumerate() {
                    // SAFETY: `data` is alive, by the caller's promise.
                    unsafe { call(data, first + k, x, y) };
                }
                self.run_parts(net, &|k| (&xs[k], &ys[k]));
                (self.xs, self.ys) = (xs, ys);
            }
        }
    }

    /// Sums the gradients of its parts (`parts(k)` is its part `k`, counted from 0)
    /// into `grads` (each the mean over its part), their losses into `result`.
    fn run_parts<'a>(
        &mut self,
        net: &N,
        parts: &dyn Fn(usize) -> (&'a SMatrix<T, IN, S>, &'a SMatrix<T, OUT, S>),
    ) where
        T: 'a,
    {
        // Dropout does not reach here, so the generator is never drawn from.
        let mut rng = Rng::seed_from_u64(0);
        let mut total = T::zero();
        for k in 0..self.parts {
            let grads = if k == 0 {
                &mut *self.grads
            } else {
                &mut *self.partial
            };
            let output = &mut self.outputs[k];
            let (x, y) = parts(k);
            // The sum's finiteness is tested as `step` makes it: one pass, not one per part.
            let loss = compute_part_gradients(
                net,
                x,
                y,
                &self.loss_fn,
                &mut self.tape,
                grads,
                &mut rng,
                |out| output.copy_from(out),
            );
            match loss {
                Ok(loss) => total += loss,
                Err(error) => {
                    self.result = Err(in_batch(error, (self.first + k) * S));
                    return;
                }
            }
            if k > 0 {
                self.grads
                    .zip_params_mut(&self.partial, |_, g, p| add(g, p));
            }
        }
        self.result = Ok(total);
    }
}

/// `g += p`.
fn add<T: Scalar>(g: &mut [T], p: &[T]) {
    crate::kernels::axpy(T::one(), p, g);
}

/// `out = (a + b) * scale`, where a missing `a` is `out` itself and a missing `b` is 0,
/// and whether every result is finite: eight sums of `v * 0` in the same pass, as in
/// `kernels::all_finite`.
fn sum_scaled<T: Scalar>(out: &mut [T], a: Option<&[T]>, b: Option<&[T]>, scale: T) -> bool {
    let n = out.len();
    let mut sums = [T::zero(); 8];
    let mut finite = true;
    // Blocks of 8 (one sum each) and the remainder; `$value(i, old)` is the sum at `i`.
    macro_rules! pass {
        ($value:expr) => {{
            let whole = n - n % 8;
            for (k, block) in out[..whole].chunks_exact_mut(8).enumerate() {
                for (j, (o, sum)) in block.iter_mut().zip(&mut sums).enumerate() {
                    *o = $value(k * 8 + j, *o) * scale;
                    *sum += *o * T::zero();
                }
            }
            for (i, o) in out.iter_mut().enumerate().skip(whole) {
                *o = $value(i, *o) * scale;
                finite &= o.is_finite();
            }
        }};
    }
    match (a, b) {
        (Some(a), Some(b)) => {
            let (a, b) = (&a[..n], &b[..n]);
            pass!(|i: usize, _: T| a[i] + b[i]);
        }
        (Some(a), None) => {
            let a = &a[..n];
            pass!(|i: usize, _: T| a[i]);
        }
        (None, Some(b)) => {
            let b = &b[..n];
            pass!(|i: usize, old: T| old + b[i]);
        }
        (None, None) => pass!(|_: usize, old: T| old),
    }
    finite && sums.iter().all(|s| *s == T::zero())
}

/// Where a network's tensors lie in it: for each (in `PARAM_INFO` order), its offset in
/// bytes from the network's first byte and its length.
type Layout = Vec<(usize, usize)>;

/// The layout of `net`, if every tensor lies inside it and no two overlap: what a
/// network of fixed-size matrices has. A hand-written [`Params`] whose tensors live
/// elsewhere gets `None`, and its sums are made on the calling thread.
fn layout_of<T: Scalar, P: Params<T>>(net: &P) -> Option<Layout> {
    let base = core::ptr::from_ref(net).addr();
    let tensors = (0..P::PARAM_INFO.len())
        .map(|i| {
            let t = net.tensor(i);
            (t.as_ptr().addr().wrapping_sub(base), t.len())
        })
        .collect();
    checked_layout(
        tensors,
        core::mem::size_of::<P>(),
        core::mem::size_of::<T>(),
    )
}

/// `tensors` (offset in bytes, length in values of `scalar` bytes) if every non-empty one
/// lies within `size` bytes and no two overlap.
fn checked_layout(tensors: Layout, size: usize, scalar: usize) -> Option<Layout> {
    let mut spans = tensors
        .iter()
        .filter(|t| t.1 > 0)
        .map(|&(offset, len)| Some((offset, offset.checked_add(len.checked_mul(scalar)?)?)))
        .collect::<Option<Vec<_>>>()?;
    spans.sort_unstable();
    let inside = spans.iter().all(|&(_, end)| end <= size);
    let apart = spans.windows(2).all(|w| w[0].1 <= w[1].0);
    (inside && apart).then_some(tensors)
}

/// Whether `net`'s tensors lie where `layout` says.
fn laid_out<T: Scalar, P: Params<T>>(net: &P, layout: &Layout) -> bool {
    let base = core::ptr::from_ref(net).addr();
    layout.iter().enumerate().all(|(i, &(offset, len))| {
        let t = net.tensor(i);
        t.len() == len && (len == 0 || t.as_ptr().addr().wrapping_sub(base) == offset)
    })
}

/// A pointer handed to other threads during a step.
#[derive(Clone, Copy)]
struct Ptr<T>(*const T);

// SAFETY: only read through during a step, under its hand-over (`DataParallel::step`).
unsafe impl<T: Sync> Send for Ptr<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Sync> Sync for Ptr<T> {}

/// One thread's share of the batch's sum: the values `start..end` of the tensors laid
/// end to end, `out = (bufs[0] + bufs[1] + ..) * scale`, every network placed by
/// `layout` (`tensors` entries).
#[derive(Clone, Copy)]
struct Reduce<T> {
    out: *mut T,
    bufs: *const Ptr<T>,
    threads: usize,
    layout: *const (usize, usize),
    tensors: usize,
    start: usize,
    end: usize,
    scale: T,
}

// SAFETY: as for `Ptr`: what it points to is only touched during a step, as
// `DataParallel::step` hands it over.
unsafe impl<T: Sync> Send for Reduce<T> {}

/// Makes `r`'s share of the sum; returns the first tensor whose values in it are not all
/// finite.
///
/// # Safety
///
/// `out` and each of `bufs` must point to a network laid out as `layout` says (with the
/// provenance of all of it), `bufs` and `layout` to their `threads` and `tensors`
/// entries; during the call no other thread may access `out`'s values in `start..end`
/// or write any of the networks' values in that range.
unsafe fn reduce_range<T: Scalar>(r: &Reduce<T>) -> Option<usize> {
    // SAFETY: by the caller's promise.
    let (layout, bufs) = unsafe {
        (
            core::slice::from_raw_parts(r.layout, r.tensors),
            core::slice::from_raw_parts(r.bufs, r.threads),
        )
    };
    let mut non_finite = None;
    for_spans(layout, r.start, r.end, |i, offset, at, n| {
        // SAFETY: values `at..at + n` of tensor `i` lie inside every network (`layout`),
        // and only this thread accesses them in `out`.
        let part = |p: &Ptr<T>| unsafe { span(p.0, offset, at, n) };
        // SAFETY: as above.
        let out = unsafe { span_mut(r.out, offset, at, n) };
        // The additions in thread order, as the sums on one thread make them.
        let finite = match bufs {
            [] => true,
            [a] => sum_scaled(out, Some(part(a)), None, r.scale),
            [a, b] => sum_scaled(out, Some(part(a)), Some(part(b)), r.scale),
            [a, b, middle @ .., last] => {
                for ((o, x), y) in out.iter_mut().zip(part(a)).zip(part(b)) {
                    *o = *x + *y;
                }
                for m in middle {
                    add(out, part(m));
                }
                sum_scaled(out, None, Some(part(last)), r.scale)
            }
        };
        if !finite && non_finite.is_none() {
            non_finite = Some(i);
        }
    });
    non_finite
}

/// Calls `f(tensor, offset, at, n)` for each tensor that holds some of the values
/// `start..end` of the tensors laid end to end: its `n` values from its value `at`,
/// the tensor starting `offset` bytes into its network (`layout`).
fn for_spans(
    layout: &[(usize, usize)],
    start: usize,
    end: usize,
    mut f: impl FnMut(usize, usize, usize, usize),
) {
    let mut first = 0;
    for (i, &(offset, len)) in layout.iter().enumerate() {
        let (lo, hi) = (start.max(first), end.min(first + len));
        if lo < hi {
            f(i, offset, lo - first, hi - lo);
        }
        first += len;
    }
}

/// The `n` values from value `at` of the tensor `offset` bytes into the network at `base`.
///
/// # Safety
///
/// They must lie inside that network, which `base` points to with the provenance of all
/// of it, and no other thread may write them while the slice is used.
unsafe fn span<'a, T>(base: *const T, offset: usize, at: usize, n: usize) -> &'a [T] {
    // SAFETY: by the caller's promise.
    unsafe { core::slice::from_raw_parts(base.byte_add(offset).add(at), n) }
}

/// As [`span`], mutably; an empty slice for a null `base`.
///
/// # Safety
///
/// As for [`span`], and no other thread may access the values while the slice is used.
unsafe fn span_mut<'a, T>(base: *mut T, offset: usize, at: usize, n: usize) -> &'a mut [T] {
    if base.is_null() {
        return &mut [];
    }
    // SAFETY: by the caller's promise.
    unsafe { core::slice::from_raw_parts_mut(base.byte_add(offset).add(at), n) }
}

/// An optimizer's step as each thread makes it on its range of values
/// (`DataParallel::step`): read by every thread through a pointer.
struct UpdateJob<T, V> {
    values: V,
    params: *mut T,
    /// The optimizer's state buffers; null past the last.
    states: [*mut T; 3],
    layout: *const (usize, usize),
    tensors: usize,
}

/// Calls `O::update` behind an `UpdateJob` (`data`) with the gradient at `grads`, over
/// the values `start..end`.
type UpdateFn<T> = unsafe fn(*const (), *const T, usize, usize);

/// [`UpdateFn`] for the optimizer `O`.
///
/// # Safety
///
/// `data` must point to a live `UpdateJob<T, O::Values>`; its `params`, non-null
/// `states` and `grads` to networks laid out as its layout says (each with the
/// provenance of all of it); during the call no other thread may access their values in
/// `start..end`, except to read `grads`'.
unsafe fn call_update<T, P, O>(data: *const (), grads: *const T, start: usize, end: usize)
where
    T: Scalar,
    P: Params<T>,
    O: Elementwise<T, P>,
{
    // SAFETY: by the caller's promise.
    let job = unsafe { &*data.cast::<UpdateJob<T, O::Values>>() };
    // SAFETY: as above.
    let layout = unsafe { core::slice::from_raw_parts(job.layout, job.tensors) };
    for_spans(layout, start, end, |i, offset, at, n| {
        // SAFETY: values `at..at + n` of tensor `i` lie inside every network, and only
        // this thread accesses them.
        let (params, grads, states) = unsafe {
            (
                span_mut(job.params, offset, at, n),
                span(grads, offset, at, n),
                job.states.map(|s| span_mut(s, offset, at, n)),
            )
        };
        O::update(&job.values, i, params, grads, states);
    });
}

/// An optimizer's step, made on a range with `call(data, grads, start, end)`.
#[derive(Clone, Copy)]
struct Update<T> {
    data: *const (),
    call: UpdateFn<T>,
}

// SAFETY: as for `Ptr`.
unsafe impl<T: Sync> Send for Update<T> {}

/// A part's error with its sample numbered within the whole batch.
fn in_batch(error: NumericError, offset: usize) -> NumericError {
    match error {
        NumericError::NonFiniteInput { sample } => NumericError::NonFiniteInput {
            sample: sample + offset,
        },
        NumericError::NonFiniteTarget { sample } => NumericError::NonFiniteTarget {
            sample: sample + offset,
        },
        other => other,
    }
}

type Shared<T, N, L, const IN: usize, const OUT: usize, const S: usize> =
    Arc<Link<Share<T, N, L, IN, OUT, S>>>;

/// Waits, when dropped, until every worker it names has stopped reading its job and
/// making its share of the sum (releasing those still waiting for the word): the
/// guarantee the borrows of `Job` and `Reduce` rely on, kept even if the caller unwinds.
struct Wait<'a, X>(&'a [Arc<Link<X>>]);

impl<X> Drop for Wait<'_, X> {
    fn drop(&mut self) {
        for link in self.0 {
            let (_share, state) = link.wait_while(&[GO, SUM, UPDATE]);
            if state == READY || state == SUMMED {
                link.set(IDLE);
            }
        }
    }
}

/// A pool of threads that computes a batch's gradient in parts of `S` samples (see the
/// [module documentation](self)). `threads` counts the calling thread: 2 threads on a
/// 2-core machine is one worker beside the caller.
pub struct DataParallel<T, N, L, const IN: usize, const OUT: usize, const S: usize>
where
    T: Scalar,
    N: Network<T, IN, OUT>,
{
    own: Box<Share<T, N, L, IN, OUT, S>>,
    links: Vec<Shared<T, N, L, IN, OUT, S>>,
    handles: Vec<JoinHandle<()>>,
    /// Where `N`'s tensors lie, if the threads can share the final sum out.
    layout: Option<Layout>,
    /// Each thread's gradient during a step, in thread order.
    bases: Vec<Ptr<T>>,
}

impl<T, N, L, const IN: usize, const OUT: usize, const S: usize> DataParallel<T, N, L, IN, OUT, S>
where
    T: Scalar + Send + Sync + 'static,
    N: Network<T, IN, OUT> + Zeroable + Send + Sync + 'static,
    N::Tape<S>: Send,
    L: Loss + Send + 'static,
{
    /// Starts `threads - 1` worker threads (`threads` counts the caller; 0 means one per
    /// core, from [`std::thread::available_parallelism`]). Fails only if the operating
    /// system refuses a thread.
    pub fn new(loss: L, threads: usize) -> io::Result<Self> {
        const {
            // Batch normalization (`SHARED_TRAINING` false) is refused by
            // `compute_gradients_shared`, once.
            assert!(
                !N::STOCHASTIC,
                "DataParallel: dropout would draw other masks than on one thread; train this network on one thread"
            );
            assert!(S > 0, "DataParallel: parts of at least one sample");
        };
        let threads = match threads {
            0 => thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let own = Box::new(Share::new(loss));
        let layout = layout_of(&*own.grads);
        let mut parallel = Self {
            own,
            links: Vec::with_capacity(threads - 1),
            handles: Vec::with_capacity(threads - 1),
            layout,
            bases: Vec::with_capacity(threads),
        };
        for k in 1..threads {
            let link: Shared<T, N, L, IN, OUT, S> = Arc::new(Link {
                share: Mutex::new(Share::new(loss)),
                wake: Condvar::new(),
                state: AtomicU8::new(IDLE),
            });
            let theirs = Arc::clone(&link);
            // On failure, the workers already started are stopped by `drop`.
            let handle = thread::Builder::new()
                .name(std::format!("network-worker-{k}"))
                .stack_size(WORKER_STACK)
                .spawn(move || work(&theirs))?;
            parallel.links.push(link);
            parallel.handles.push(handle);
        }
        Ok(parallel)
    }

    /// Threads, the caller included.
    pub fn threads(&self) -> usize {
        self.links.len() + 1
    }

    /// The calling thread's tape of its last part (the first `S` samples of the last
    /// batch): what diagnostics read activations from.
    pub fn tape(&self) -> &N::Tape<S> {
        &self.own.tape
    }

    /// The mean loss over the batch, and its gradient written into `grads` (see the
    /// [module documentation](self)). Errors are those of
    /// [`compute_gradients`](crate::compute_gradients), with samples numbered in the
    /// whole batch; `grads` is then unspecified.
    pub fn compute_gradients<const B: usize>(
        &mut self,
        net: &N,
        x: &SMatrix<T, IN, B>,
        y: &SMatrix<T, OUT, B>,
        grads: &mut N,
    ) -> Result<T, NumericError> {
        self.compute_gradients_inspect(net, x, y, grads, |_, _, _| {})
    }

    /// As [`compute_gradients`](Self::compute_gradients), and calls `inspect` with each
    /// part's first sample in the batch, its outputs and its targets, in batch order (to
    /// count correct predictions without a second forward pass).
    pub fn compute_gradients_inspect<const B: usize, F>(
        &mut self,
        net: &N,
        x: &SMatrix<T, IN, B>,
        y: &SMatrix<T, OUT, B>,
        grads: &mut N,
        inspect: F,
    ) -> Result<T, NumericError>
    where
        F: FnMut(usize, &SMatrix<T, OUT, S>, &SMatrix<T, OUT, S>),
    {
        const {
            assert!(
                B.is_multiple_of(S) && B >= S,
                "DataParallel::compute_gradients: the batch must be a whole number of parts"
            )
        };
        let source = Source::Batch {
            x: x.as_ptr(),
            y: y.as_ptr(),
        };
        // SAFETY: `x` and `y` hold `B / S` parts and stay borrowed during the call, as
        // `net` does.
        unsafe { self.run(net, B / S, &source, grads, None, inspect) }.map(|(loss, _)| loss)
    }

    /// As [`compute_gradients_inspect`](Self::compute_gradients_inspect) for a batch of
    /// `parts * S` samples that is not in memory as one matrix: each thread calls
    /// `fill(index, x, y)` to write part `index` (its samples `index * S ..`) into its
    /// own buffers, so that gathering the batch (from a data set, with conversions) is
    /// shared out too. `Trainer::fit_parallel` feeds its batches this way.
    ///
    /// ```
    /// use network::parallel::DataParallel;
    /// use network::prelude::*;
    ///
    /// network! {
    ///     struct Mlp { hidden: Dense<4, 8>, Relu, logits: Dense<8, 2> }
    /// }
    ///
    /// let net = Mlp::<f64>::random(&mut Rng::seed_from_u64(1));
    /// let mut grads = Mlp::<f64>::zeros();
    /// let mut parallel = DataParallel::<f64, Mlp<f64>, _, 4, 2, 16>::new(SoftmaxCrossEntropy, 2)?;
    /// let sample = |i: usize| ([i as f64 / 64.0, 0.5, -0.25, 1.0], i % 2);
    /// let loss = parallel.compute_gradients_filled(&net, 4, |part, x, y| {
    ///     for j in 0..16 {
    ///         let (features, class) = sample(part * 16 + j);
    ///         x.column_mut(j).copy_from_slice(&features);
    ///         y.column_mut(j).fill(0.0);
    ///         y[(class, j)] = 1.0;
    ///     }
    /// }, &mut grads, |_, _, _| {})?;
    /// # assert!(loss > 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compute_gradients_filled<P, F>(
        &mut self,
        net: &N,
        parts: usize,
        fill: P,
        grads: &mut N,
        inspect: F,
    ) -> Result<T, NumericError>
    where
        P: Fn(usize, &mut SMatrix<T, IN, S>, &mut SMatrix<T, OUT, S>) + Sync,
        F: FnMut(usize, &SMatrix<T, OUT, S>, &SMatrix<T, OUT, S>),
    {
        let source = Source::Fill {
            data: (&raw const fill).cast(),
            call: call_fill::<P, T, IN, OUT, S>,
        };
        // SAFETY: `fill` lives until the end of the call and writes any part asked for;
        // `net` stays borrowed.
        unsafe { self.run(net, parts.max(1), &source, grads, None, inspect) }.map(|(loss, _)| loss)
    }

    /// One training step (see [`compute_gradients`](Self::compute_gradients)): the
    /// batch's mean loss and gradient, written into `grads`, then `optimizer`'s update of
    /// `net`. Each thread updates the values whose sum it made, right after all the sums
    /// are known to be finite, so that its share of the gradient, the weights and the
    /// optimizer's state stays in its core's cache instead of one thread going through
    /// all of them. The results are the bits of `compute_gradients` followed by
    /// `optimizer.step(net, grads)`; on an error neither `net` nor `optimizer` changes.
    ///
    /// ```
    /// use network::parallel::DataParallel;
    /// use network::prelude::*;
    ///
    /// network! {
    ///     struct Mlp { hidden: Dense<8, 16>, Relu, logits: Dense<16, 3> }
    /// }
    ///
    /// let mut net = Mlp::<f32>::random(&mut Rng::seed_from_u64(1));
    /// let mut grads = Mlp::<f32>::zeros();
    /// let mut adam = Adam::new(AdamConfig::adam(1e-3));
    /// let mut parallel = DataParallel::<f32, Mlp<f32>, _, 8, 3, 32>::new(SoftmaxCrossEntropy, 2)?;
    /// let x = SMatrix::<f32, 8, 64>::from_fn(|i, j| ((i * 7 + j * 3) % 11) as f32 / 11.0);
    /// let y = SMatrix::<f32, 3, 64>::from_fn(|i, j| f32::from(u8::from(i == j % 3)));
    /// let loss = parallel.step(&mut net, &x, &y, &mut grads, &mut adam)?;
    /// # assert!(loss > 0.0);
    /// # assert_eq!(Optimizer::<f32, Mlp<f32>>::steps(&adam), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn step<const B: usize, O>(
        &mut self,
        net: &mut N,
        x: &SMatrix<T, IN, B>,
        y: &SMatrix<T, OUT, B>,
        grads: &mut N,
        optimizer: &mut O,
    ) -> Result<T, NumericError>
    where
        O: Elementwise<T, N>,
    {
        const {
            assert!(
                B.is_multiple_of(S) && B >= S,
                "DataParallel::step: the batch must be a whole number of parts"
            )
        };
        let source = Source::Batch {
            x: x.as_ptr(),
            y: y.as_ptr(),
        };
        // SAFETY: `x` and `y` hold `B / S` parts and stay borrowed during the call.
        unsafe { self.run_step(net, B / S, &source, grads, optimizer, |_, _, _| {}) }
    }

    /// As [`step`](Self::step) for a batch filled part by part, with `inspect`, as
    /// [`compute_gradients_filled`](Self::compute_gradients_filled) takes them.
    pub fn step_filled<P, F, O>(
        &mut self,
        net: &mut N,
        parts: usize,
        fill: P,
        grads: &mut N,
        optimizer: &mut O,
        inspect: F,
    ) -> Result<T, NumericError>
    where
        P: Fn(usize, &mut SMatrix<T, IN, S>, &mut SMatrix<T, OUT, S>) + Sync,
        F: FnMut(usize, &SMatrix<T, OUT, S>, &SMatrix<T, OUT, S>),
        O: Elementwise<T, N>,
    {
        let source = Source::Fill {
            data: (&raw const fill).cast(),
            call: call_fill::<P, T, IN, OUT, S>,
        };
        // SAFETY: `fill` lives until the end of the call and writes any part asked for.
        unsafe { self.run_step(net, parts.max(1), &source, grads, optimizer, inspect) }
    }

    /// [`run`](Self::run) with `optimizer`'s update, made by the threads when they can
    /// (every buffer laid out as `layout`), else afterwards on this thread.
    ///
    /// # Safety
    ///
    /// As for `run`.
    unsafe fn run_step<O, F>(
        &mut self,
        net: &mut N,
        parts: usize,
        source: &Source<T, IN, OUT, S>,
        grads: &mut N,
        optimizer: &mut O,
        inspect: F,
    ) -> Result<T, NumericError>
    where
        O: Elementwise<T, N>,
        F: FnMut(usize, &SMatrix<T, OUT, S>, &SMatrix<T, OUT, S>),
    {
        let values = optimizer.step_values();
        let states = optimizer.states_mut();
        let layout = self.layout.as_ref().filter(|layout| {
            laid_out(&*net, layout) && states.iter().flatten().all(|s| laid_out(&**s, layout))
        });
        let states =
            states.map(|s| s.map_or(core::ptr::null_mut(), |s| core::ptr::from_mut(s).cast()));
        // Every read of `net` during the step and every write of the update go through
        // this one pointer.
        let params: *mut N = net;
        let job = layout.map(|layout| UpdateJob::<T, O::Values> {
            values,
            params: params.cast(),
            states,
            layout: layout.as_ptr(),
            tensors: layout.len(),
        });
        let update = job.as_ref().map(|job| Update {
            data: core::ptr::from_ref(job).cast(),
            call: call_update::<T, N, O>,
        });
        // SAFETY: by this function's contract; `params` and `states` point to `net` and
        // the optimizer's buffers, borrowed and untouched but through them until `run`
        // returns, laid out as `layout` says (checked above).
        let (loss, updated) = unsafe { self.run(params, parts, source, grads, update, inspect) }?;
        if updated {
            let steps = optimizer.steps().saturating_add(1);
            optimizer.set_steps(steps);
        } else {
            optimizer.step(net, grads);
        }
        Ok(loss)
    }

    /// One step over `parts` parts from `source`; with `update`, the optimizer's update
    /// made by the threads (`true` then) if the sum could be shared out.
    ///
    /// # Safety
    ///
    /// What `source` points to must stay alive during the call and hold `parts` parts;
    /// `net` must be valid for reads during the call and, with `update`, for the
    /// update's writes, which go through it, as does every other access to the
    /// network and to the optimizer's buffers until `run` returns.
    unsafe fn run<F>(
        &mut self,
        net: *const N,
        parts: usize,
        source: &Source<T, IN, OUT, S>,
        grads: &mut N,
        update: Option<Update<T>>,
        mut inspect: F,
    ) -> Result<(T, bool), NumericError>
    where
        F: FnMut(usize, &SMatrix<T, OUT, S>, &SMatrix<T, OUT, S>),
    {
        let filled = matches!(source, Source::Fill { .. });
        let threads = self.threads().min(parts);
        let helpers = &self.links[..threads - 1];
        let range = |t: usize| (t * parts / threads, (t + 1) * parts / threads);

        // From here until every helper has reported, they read `net` and `source`:
        // `wait` makes sure of it on every way out of this function.
        let wait = Wait(helpers);
        for (t, link) in helpers.iter().enumerate() {
            let (first, end) = range(t + 1);
            let mut share = lock(&link.share);
            share.reserve(first, end - first, filled);
            share.job = Some(Job {
                net,
                source: *source,
            });
            link.set(GO);
        }
        let (first, end) = range(0);
        self.own.reserve(first, end - first, filled);
        // SAFETY: by this function's contract.
        let own = catch_unwind(AssertUnwindSafe(|| unsafe {
            self.own.run_source(&*net, source)
        }));

        let inv_parts = T::one() / T::of(parts as f64);
        let mut result = self.own.result;
        let mut panic = own.err();
        // The threads share the final sum out when every tensor of every gradient lies
        // where `layout` says (inside its network, apart from the others).
        let layout = self.layout.as_ref().filter(|layout| {
            !helpers.is_empty() && laid_out(&*self.own.grads, layout) && laid_out(grads, layout)
        });
        let mut shared = layout.is_some();
        self.bases.clear();
        self.bases.push(Ptr((&raw const *self.own.grads).cast()));
        for link in helpers {
            // The worker is now `READY` (or `PANICKED`) and waits for the word: its
            // gradient stays as it is until `Wait` or the next `GO`.
            let (share, state) = link.wait_while(&[GO]);
            if state == PANICKED {
                panic.get_or_insert_with(|| Box::new("a DataParallel worker panicked"));
                continue;
            }
            match (&mut result, share.result) {
                (Ok(total), Ok(loss)) => *total += loss,
                (Ok(_), Err(error)) => result = Err(error),
                (Err(_), _) => {}
            }
            shared &= layout.is_some_and(|layout| laid_out(&*share.grads, layout));
            self.bases.push(Ptr((&raw const *share.grads).cast()));
        }
        // The first tensor of the sum holding NaN or an infinity.
        let mut non_finite = None;
        let mut updated = false;
        match layout {
            _ if panic.is_some() || result.is_err() => {}
            Some(layout) if shared => {
                // Each thread sums its range of the values (cut at multiples of 16, a
                // cache line of `f32`) from every thread's gradient into `grads`.
                let threads = helpers.len() + 1;
                let values: usize = layout.iter().map(|t| t.1).sum();
                let cut = |t: usize| match t {
                    _ if t >= threads => values,
                    _ => (t * values / threads) & !15,
                };
                let out = core::ptr::from_mut(grads).cast::<T>();
                let reduce = |t: usize| Reduce {
                    out,
                    bufs: self.bases.as_ptr(),
                    threads,
                    layout: layout.as_ptr(),
                    tensors: layout.len(),
                    start: cut(t),
                    end: cut(t + 1),
                    scale: inv_parts,
                };
                for (t, link) in helpers.iter().enumerate() {
                    let mut share = lock(&link.share);
                    share.reduce = Some(reduce(t + 1));
                    link.set(SUM);
                }
                // SAFETY: `grads` and every gradient in `bases` are laid out as `layout`
                // says (checked above) and stay borrowed until the workers have
                // reported (`Wait`); the ranges are disjoint, and nothing writes the
                // gradients before the next step.
                non_finite = unsafe { reduce_range(&reduce(0)) };
                for link in helpers {
                    let (share, state) = link.wait_while(&[SUM]);
                    if state == PANICKED {
                        panic.get_or_insert_with(|| Box::new("a DataParallel worker panicked"));
                    }
                    non_finite = match (non_finite, share.non_finite) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                // The update once every sum is finite: each thread the values it summed.
                // Each on the range it summed (`Share::reduce`, kept).
                if let Some(update) = update.filter(|_| non_finite.is_none() && panic.is_none()) {
                    for link in helpers {
                        let mut share = lock(&link.share);
                        share.update = Some(update);
                        link.set(UPDATE);
                    }
                    let own = reduce(0);
                    // SAFETY: the update's buffers are laid out as `layout` (checked by
                    // `run_step`), as `grads` is; the ranges are disjoint.
                    unsafe { (update.call)(update.data, out, own.start, own.end) };
                    for link in helpers {
                        let (_share, state) = link.wait_while(&[UPDATE]);
                        if state == PANICKED {
                            panic.get_or_insert_with(|| Box::new("a DataParallel worker panicked"));
                        }
                    }
                    updated = true;
                }
            }
            _ => {
                // On this thread: the workers' gradients added into its own in thread
                // order, the last addition also scaling into `grads` and testing it.
                let own_grads = &mut *self.own.grads;
                for (k, link) in helpers.iter().enumerate() {
                    let share = lock(&link.share);
                    if k + 1 < helpers.len() {
                        own_grads.zip_params_mut(&share.grads, |_, g, w| add(g, w));
                        continue;
                    }
                    for i in 0..N::PARAM_INFO.len() {
                        let (mine, theirs) = (own_grads.tensor(i), share.grads.tensor(i));
                        if !sum_scaled(grads.tensor_mut(i), Some(mine), Some(theirs), inv_parts) {
                            non_finite.get_or_insert(i);
                        }
                    }
                }
                if helpers.is_empty() {
                    for i in 0..N::PARAM_INFO.len() {
                        if !sum_scaled(
                            grads.tensor_mut(i),
                            Some(own_grads.tensor(i)),
                            None,
                            inv_parts,
                        ) {
                            non_finite.get_or_insert(i);
                        }
                    }
                }
            }
        }
        drop(wait);
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
        let total = result?;
        if let Some(i) = non_finite {
            let param = N::PARAM_INFO[i].name;
            return Err(NumericError::NonFiniteGradient { param });
        }
        let mut report = |share: &Share<T, N, L, IN, OUT, S>| {
            for k in 0..share.parts {
                let index = share.first + k;
                let targets = match *source {
                    // SAFETY: by this function's contract.
                    Source::Batch { y, .. } => unsafe { &*part_ptr::<T, OUT, S>(y, index) },
                    Source::Fill { .. } => &share.ys[k],
                };
                inspect(index * S, &share.outputs[k], targets);
            }
        };
        report(&self.own);
        for link in helpers {
            report(&lock(&link.share));
        }
        Ok((total * inv_parts, updated))
    }
}

/// A worker's loop: wait for a job, compute, report, until told to exit.
fn work<T, N, L, const IN: usize, const OUT: usize, const S: usize>(
    link: &Link<Share<T, N, L, IN, OUT, S>>,
) where
    T: Scalar,
    N: Network<T, IN, OUT> + Zeroable,
    L: Loss,
{
    loop {
        let (mut share, state) = link.wait_while(&[IDLE, DONE, PANICKED]);
        if state == EXIT {
            return;
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if let Some(job) = share.job.take() {
                // SAFETY: the caller that loaded the job keeps the network and the
                // source borrowed, and does not return before this worker reports
                // (`Wait`); the source holds the parts `reserve` counted.
                unsafe { share.run_source(&*job.net, &job.source) };
            }
        }));
        if outcome.is_err() {
            link.set(PANICKED);
            continue;
        }
        // The caller reads the loss and the gradient, then says whether to make a
        // share of the sum.
        link.set(READY);
        drop(share);
        let (mut share, state) = link.wait_while(&[READY]);
        match state {
            SUM => {
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    if let Some(reduce) = share.reduce {
                        // SAFETY: the caller made `reduce` for this thread's range
                        // alone, from networks it keeps borrowed and unchanged until
                        // this worker reports (`Wait`).
                        share.non_finite = unsafe { reduce_range(&reduce) };
                    }
                }));
                if outcome.is_err() {
                    link.set(PANICKED);
                    continue;
                }
            }
            EXIT => return,
            _ => continue,
        }
        // The caller reads where the sums are not finite, then says whether to update.
        link.set(SUMMED);
        drop(share);
        let (mut share, state) = link.wait_while(&[SUMMED]);
        match state {
            UPDATE => {
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    if let (Some(update), Some(r)) = (share.update.take(), share.reduce) {
                        // SAFETY: the caller gave `update` for the range this thread
                        // summed, alone, from buffers it keeps borrowed and untouched
                        // until this worker reports (`Wait`).
                        unsafe { (update.call)(update.data, r.out, r.start, r.end) };
                    }
                }));
                link.set(if outcome.is_ok() { DONE } else { PANICKED });
            }
            EXIT => return,
            _ => {}
        }
    }
}

impl<T, N, L, const IN: usize, const OUT: usize, const S: usize> Drop
    for DataParallel<T, N, L, IN, OUT, S>
where
    T: Scalar,
    N: Network<T, IN, OUT>,
{
    fn drop(&mut self) {
        for link in &self.links {
            let _share = lock(&link.share);
            link.set(EXIT);
        }
        for handle in self.handles.drain(..) {
            // A worker never panics outside `catch_unwind`: nothing to report.
            let _ = handle.join();
        }
    }
}

impl<T, N, L, const IN: usize, const OUT: usize, const S: usize> core::fmt::Debug
    for DataParallel<T, N, L, IN, OUT, S>
where
    T: Scalar,
    N: Network<T, IN, OUT>,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DataParallel")
            .field("threads", &(self.links.len() + 1))
            .field("part", &S)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    //! Small enough for Miri (`scripts/miri.sh`), which checks the borrows the workers
    //! read through: a batch read in place, parts filled by a closure, errors, and a
    //! pool dropped with its workers parked.
    use super::*;
    use crate::loss::SoftmaxCrossEntropy;
    use crate::optim::Optimizer;
    use crate::Params;

    crate::network! {
        struct Tiny { hidden: Dense<3, 4>, Relu, logits: Dense<4, 2> }
    }

    fn params(p: &Tiny<f64>) -> Vec<f64> {
        let mut all = Vec::new();
        p.for_each_param(|_, v| all.extend_from_slice(v));
        all
    }

    #[test]
    fn the_reduction_scales_sums_and_finds_every_non_finite_value() {
        let a: Vec<f64> = (0..37).map(|i| i as f64 - 18.0).collect();
        let b: Vec<f64> = (0..37).map(|i| (i as f64).sqrt()).collect();
        let mut out = std::vec![f64::NAN; 37];
        assert!(sum_scaled(&mut out, Some(&a), Some(&b), 0.5));
        for i in 0..37 {
            assert_eq!(out[i], (a[i] + b[i]) * 0.5);
        }
        assert!(sum_scaled(&mut out, Some(&a), None, 0.25));
        assert_eq!(out, a.iter().map(|v| v * 0.25).collect::<Vec<_>>());
        // NaN and infinities in the blocks of 8 and in the remainder, and a finite sum
        // that overflows.
        for at in [0, 7, 8, 20, 31, 32, 36] {
            for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let mut b = b.clone();
                b[at] = bad;
                assert!(
                    !sum_scaled(&mut out, Some(&a), Some(&b), 0.5),
                    "{bad} at {at}"
                );
                assert!(!sum_scaled(&mut out, Some(&b), None, 0.5), "{bad} at {at}");
            }
            let (mut big_a, mut big_b) = (a.clone(), b.clone());
            (big_a[at], big_b[at]) = (f64::MAX, f64::MAX);
            assert!(
                !sum_scaled(&mut out, Some(&big_a), Some(&big_b), 0.5),
                "overflow at {at}"
            );
        }
    }

    crate::network! {
        struct Wide { hidden: Dense<3, 16>, Relu, logits: Dense<16, 2> }
    }

    /// Weights without `random` (whose square root is inline assembly Miri cannot run).
    fn wide(seed: usize) -> Wide<f64> {
        let mut net = Wide::<f64>::zeros();
        net.for_each_param_mut(|info, values| {
            for (k, v) in values.iter_mut().enumerate() {
                *v = ((info.offset + k) * 7 + seed) as f64 % 11.0 / 10.0 - 0.5;
            }
        });
        net
    }

    fn states<O: Optimizer<f64, Wide<f64>>>(optimizer: &O) -> Vec<u64> {
        let mut all = Vec::new();
        optimizer.for_each_state(|v| all.extend(v.iter().map(|v| v.to_bits())));
        all.push(optimizer.steps());
        all
    }

    fn bits(p: &Wide<f64>) -> Vec<u64> {
        let mut all = Vec::new();
        p.for_each_param(|_, v| all.extend(v.iter().map(|v| v.to_bits())));
        all
    }

    /// Three steps of `DataParallel::step` against `compute_gradients` then
    /// `Optimizer::step`, on 2 and 3 threads (ranges that cut tensors, and a thread with
    /// no values on 3), then a batch whose sum overflows: an error, nothing updated.
    fn same_as_the_step_after_the_gradient<O: Elementwise<f64, Wide<f64>>>(make: impl Fn() -> O) {
        let x = SMatrix::<f64, 3, 8>::from_fn(|i, j| (i as f64 - 1.0) * 0.5 + j as f64 * 0.125);
        let y = SMatrix::<f64, 2, 8>::from_fn(|i, j| f64::from(u8::from(i == j % 2)));
        for threads in [2, 3] {
            let mut parallel =
                DataParallel::<f64, Wide<f64>, _, 3, 2, 2>::new(SoftmaxCrossEntropy, threads)
                    .unwrap();
            let (mut a, mut b) = (wide(threads), wide(threads));
            let (mut opt_a, mut opt_b) = (make(), make());
            let (mut grads_a, mut grads_b) = (Wide::<f64>::zeros(), Wide::<f64>::zeros());
            for _ in 0..3 {
                let loss_a = parallel
                    .compute_gradients(&a, &x, &y, &mut grads_a)
                    .unwrap();
                opt_a.step(&mut a, &grads_a);
                let loss_b = parallel
                    .step(&mut b, &x, &y, &mut grads_b, &mut opt_b)
                    .unwrap();
                assert_eq!(loss_a.to_bits(), loss_b.to_bits());
                assert_eq!(bits(&grads_a), bits(&grads_b));
                assert_eq!(bits(&a), bits(&b));
                assert_eq!(states(&opt_a), states(&opt_b));
            }
            // Hidden values of 1.5e308 and every sample of class 0: each part's gradient
            // of `logits.weight` is finite, their sum is not.
            let mut big = wide(0);
            big.hidden.weight.fill(1.0);
            big.hidden.bias.fill(0.0);
            big.logits.weight.fill(1e-10);
            let x = SMatrix::<f64, 3, 8>::repeat(5e307);
            let y = SMatrix::<f64, 2, 8>::from_fn(|i, _| f64::from(u8::from(i == 0)));
            let expected = Err(NumericError::NonFiniteGradient {
                param: "logits.weight",
            });
            assert_eq!(
                parallel.compute_gradients(&big, &x, &y, &mut grads_a),
                expected
            );
            let before = (bits(&big), states(&opt_b));
            assert_eq!(
                parallel.step(&mut big, &x, &y, &mut grads_b, &mut opt_b),
                expected
            );
            assert_eq!((bits(&big), states(&opt_b)), before);
        }
    }

    #[test]
    fn a_step_on_the_threads_is_the_step_after_the_gradient() {
        same_as_the_step_after_the_gradient(|| crate::optim::Sgd::new(0.1).weight_decay(0.01));
        same_as_the_step_after_the_gradient(|| crate::optim::Momentum::nesterov(0.1, 0.9));
        if cfg!(miri) {
            // The others take square roots, which `libm` computes with inline assembly.
            return;
        }
        same_as_the_step_after_the_gradient(|| {
            crate::optim::Adam::new(crate::optim::AdamConfig {
                amsgrad: true,
                ..crate::optim::AdamConfig::adamw(0.01)
            })
        });
        same_as_the_step_after_the_gradient(|| {
            crate::optim::RmsProp::new(crate::optim::RmsPropConfig {
                centered: true,
                momentum: 0.5,
                weight_decay: 0.01,
                ..Default::default()
            })
        });
        same_as_the_step_after_the_gradient(|| crate::optim::AdaGrad::new(0.1));
    }

    #[test]
    fn layouts_outside_the_network_or_overlapping_are_refused() {
        let net = Wide::<f64>::zeros();
        let layout = layout_of(&net).unwrap();
        assert_eq!(layout.iter().map(|t| t.1).sum::<usize>(), 98);
        assert!(laid_out(&net, &layout));
        let size = core::mem::size_of::<Wide<f64>>();
        // In bounds and apart; then past the end; then overlapping.
        assert!(checked_layout(std::vec![(0, 4), (32, 2)], size, 8).is_some());
        assert!(checked_layout(std::vec![(0, 4), (size - 8, 2)], size, 8).is_none());
        assert!(checked_layout(std::vec![(0, 4), (24, 2)], size, 8).is_none());
        assert!(checked_layout(std::vec![(usize::MAX - 4, 1)], size, 8).is_none());
        let mut moved = layout.clone();
        moved[1].0 += 8;
        assert!(!laid_out(&net, &moved));
    }

    #[test]
    fn parts_on_three_threads_give_the_batch_gradient() {
        // Weights without `random` (whose square root is inline assembly Miri cannot run).
        let mut net = Tiny::<f64>::zeros();
        net.for_each_param_mut(|info, values| {
            for (k, v) in values.iter_mut().enumerate() {
                *v = ((info.offset + k) * 7 % 11) as f64 / 10.0 - 0.5;
            }
        });
        let x = SMatrix::<f64, 3, 8>::from_fn(|i, j| (i as f64 - 1.0) * 0.5 + j as f64 * 0.125);
        let y = SMatrix::<f64, 2, 8>::from_fn(|i, j| f64::from(u8::from(i == j % 2)));
        let mut expected = Tiny::<f64>::zeros();
        let mut tape = Tiny::<f64>::new_tape::<8>();
        let loss = crate::compute_gradients(
            &mut net,
            &x,
            &y,
            &SoftmaxCrossEntropy,
            &mut tape,
            &mut expected,
            &mut Rng::seed_from_u64(0),
        )
        .unwrap();
        let mut parallel =
            DataParallel::<f64, Tiny<f64>, _, 3, 2, 2>::new(SoftmaxCrossEntropy, 3).unwrap();
        for filled in [false, true] {
            let mut grads = Tiny::<f64>::zeros();
            let mut firsts = Vec::new();
            let got = if filled {
                let fill = |k: usize, px: &mut SMatrix<f64, 3, 2>, py: &mut SMatrix<f64, 2, 2>| {
                    px.copy_from(&x.fixed_columns::<2>(2 * k));
                    py.copy_from(&y.fixed_columns::<2>(2 * k));
                };
                parallel.compute_gradients_filled(&net, 4, fill, &mut grads, |first, _, t| {
                    assert_eq!(t, &y.fixed_columns::<2>(first).into_owned());
                    firsts.push(first);
                })
            } else {
                parallel.compute_gradients_inspect(&net, &x, &y, &mut grads, |first, _, t| {
                    assert_eq!(t, &y.fixed_columns::<2>(first).into_owned());
                    firsts.push(first);
                })
            }
            .unwrap();
            assert_eq!(firsts, [0, 2, 4, 6]);
            assert!((got - loss).abs() <= 1e-14 * loss.abs());
            for (g, e) in params(&grads).iter().zip(params(&expected)) {
                assert!((g - e).abs() <= 1e-14 + 1e-12 * e.abs(), "{g} vs {e}");
            }
        }
        let mut bad = x;
        bad[(1, 5)] = f64::NAN;
        let mut grads = Tiny::<f64>::zeros();
        assert_eq!(
            parallel.compute_gradients(&net, &bad, &y, &mut grads),
            Err(NumericError::NonFiniteInput { sample: 5 })
        );
    }
}
