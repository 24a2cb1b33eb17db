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
//! overwrites its gradient buffer (no clearing). The caller then adds the workers'
//! gradients into its own (one pass over the parameters per worker; the last pass also
//! scales the sum into `grads` and tests it for NaN and infinities, once for the whole
//! batch instead of once per part). A thread that waits spins for about a microsecond,
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
use crate::{Network, NumericError, Rng, Scalar, Zeroable};
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

/// `out = (a + b) * scale` (`a * scale` without `b`), and whether every result is
/// finite: eight sums of `v * 0` in the same pass, as in `kernels::all_finite`.
fn sum_scaled<T: Scalar>(out: &mut [T], a: &[T], b: Option<&[T]>, scale: T) -> bool {
    let mut sums = [T::zero(); 8];
    let mut finite = true;
    // Blocks of 8 (one sum each) and the remainder, for a value per index.
    macro_rules! pass {
        ($value:expr) => {{
            let n = out.len();
            let whole = n - n % 8;
            for (k, block) in out[..whole].chunks_exact_mut(8).enumerate() {
                for (j, (o, sum)) in block.iter_mut().zip(&mut sums).enumerate() {
                    *o = $value(k * 8 + j) * scale;
                    *sum += *o * T::zero();
                }
            }
            for (i, o) in out.iter_mut().enumerate().skip(whole) {
                *o = $value(i) * scale;
                finite &= o.is_finite();
            }
        }};
    }
    match b {
        Some(b) => {
            let (a, b) = (&a[..out.len()], &b[..out.len()]);
            pass!(|i: usize| a[i] + b[i]);
        }
        None => {
            let a = &a[..out.len()];
            pass!(|i: usize| a[i]);
        }
    }
    finite && sums.iter().all(|s| *s == T::zero())
}

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

/// Waits, when dropped, until every worker it names has stopped reading its job: the
/// guarantee `Job`'s borrows rely on, kept even if the caller unwinds.
struct Wait<'a, X>(&'a [Arc<Link<X>>]);

impl<X> Drop for Wait<'_, X> {
    fn drop(&mut self) {
        for link in self.0 {
            drop(link.wait_while(&[GO]));
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
        let mut parallel = Self {
            own: Box::new(Share::new(loss)),
            links: Vec::with_capacity(threads - 1),
            handles: Vec::with_capacity(threads - 1),
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
        // SAFETY: `x` and `y` hold `B / S` parts and stay borrowed during the call.
        unsafe { self.step(net, B / S, &source, grads, inspect) }
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
        // SAFETY: `fill` lives until the end of the call and writes any part asked for.
        unsafe { self.step(net, parts.max(1), &source, grads, inspect) }
    }

    /// One step over `parts` parts from `source`.
    ///
    /// # Safety
    ///
    /// What `source` points to must stay alive during the call and hold `parts` parts.
    unsafe fn step<F>(
        &mut self,
        net: &N,
        parts: usize,
        source: &Source<T, IN, OUT, S>,
        grads: &mut N,
        mut inspect: F,
    ) -> Result<T, NumericError>
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
            self.own.run_source(net, source)
        }));

        let inv_parts = T::one() / T::of(parts as f64);
        let mut result = self.own.result;
        let mut panic = own.err();
        let own_grads = &mut *self.own.grads;
        // The first tensor of the sum holding NaN or an infinity.
        let mut non_finite = None;
        for (k, link) in helpers.iter().enumerate() {
            let (share, state) = link.wait_while(&[GO]);
            link.set(IDLE);
            if state == PANICKED {
                panic.get_or_insert_with(|| Box::new("a DataParallel worker panicked"));
                continue;
            }
            match (&mut result, share.result) {
                (Ok(total), Ok(loss)) if k + 1 == helpers.len() => {
                    // The last sum also scales, writes the result and tests it: one pass.
                    *total += loss;
                    for i in 0..N::PARAM_INFO.len() {
                        let (mine, theirs) = (own_grads.tensor(i), share.grads.tensor(i));
                        if !sum_scaled(grads.tensor_mut(i), mine, Some(theirs), inv_parts) {
                            non_finite.get_or_insert(i);
                        }
                    }
                }
                (Ok(total), Ok(loss)) => {
                    *total += loss;
                    own_grads.zip_params_mut(&share.grads, |_, g, w| add(g, w));
                }
                (Ok(_), Err(error)) => result = Err(error),
                (Err(_), _) => {}
            }
        }
        drop(wait);
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
        let total = result?;
        if helpers.is_empty() {
            for i in 0..N::PARAM_INFO.len() {
                if !sum_scaled(grads.tensor_mut(i), own_grads.tensor(i), None, inv_parts) {
                    non_finite.get_or_insert(i);
                }
            }
        }
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
        Ok(total * inv_parts)
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
        link.set(if outcome.is_ok() { DONE } else { PANICKED });
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
        assert!(sum_scaled(&mut out, &a, Some(&b), 0.5));
        for i in 0..37 {
            assert_eq!(out[i], (a[i] + b[i]) * 0.5);
        }
        assert!(sum_scaled(&mut out, &a, None, 0.25));
        assert_eq!(out, a.iter().map(|v| v * 0.25).collect::<Vec<_>>());
        // NaN and infinities in the blocks of 8 and in the remainder, and a finite sum
        // that overflows.
        for at in [0, 7, 8, 20, 31, 32, 36] {
            for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let mut b = b.clone();
                b[at] = bad;
                assert!(!sum_scaled(&mut out, &a, Some(&b), 0.5), "{bad} at {at}");
                assert!(!sum_scaled(&mut out, &b, None, 0.5), "{bad} at {at}");
            }
            let (mut big_a, mut big_b) = (a.clone(), b.clone());
            (big_a[at], big_b[at]) = (f64::MAX, f64::MAX);
            assert!(
                !sum_scaled(&mut out, &big_a, Some(&big_b), 0.5),
                "overflow at {at}"
            );
        }
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
