//! A small fork-join pool for the engine's parallel loops (matmul tiles, attention heads).
//!
//! Why not rayon or candle's pool: decode runs a few hundred parallel regions per token, each a
//! few microseconds long, so the pool must hand out work with one atomic increment and must not
//! *depend* on every worker showing up. On a loaded 2-core machine a worker may be descheduled
//! for milliseconds; a pool that waits for all workers at every region then runs at the speed of
//! the scheduler (candle's spinning barrier pool collapses this way). Here the calling thread
//! takes tasks too, a worker joins a region only if it wakes up while tasks are left, and the
//! caller waits only for workers that actually joined. Idle workers spin briefly (regions come
//! microseconds apart during decode) and then park, so an idle engine costs no CPU.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker spins before parking.
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(200);

type Task<'a> = dyn Fn(usize) + Sync + 'a;

/// State word: generation in the high 32 bits, `closed` flag in bit 31, joined-worker count in
/// the low bits. One word so that "join if still open" is a single compare-and-swap.
const CLOSED: u64 = 1 << 31;
const JOINED_MASK: u64 = CLOSED - 1;

struct Shared {
    state: AtomicU64,
    /// Workers that joined the current region and finished their share.
    left: AtomicUsize,
    next_task: AtomicUsize,
    n_tasks: AtomicUsize,
    /// The current region's task, valid while the region is open or joined workers remain.
    task: std::sync::Mutex<Option<&'static Task<'static>>>,
    stop: AtomicBool,
    sleeping: Vec<AtomicBool>,
}

pub struct ThreadPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl ThreadPool {
    /// A pool running regions on `threads` threads in all: the caller plus `threads - 1` workers.
    pub fn new(threads: usize) -> Self {
        let n_workers = threads.max(1) - 1;
        let shared = Arc::new(Shared {
            state: AtomicU64::new(0),
            left: AtomicUsize::new(0),
            next_task: AtomicUsize::new(0),
            n_tasks: AtomicUsize::new(0),
            task: std::sync::Mutex::new(None),
            stop: AtomicBool::new(false),
            sleeping: (0..n_workers).map(|_| AtomicBool::new(false)).collect(),
        });
        let workers = (0..n_workers)
            .map(|index| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("drift-worker-{index}"))
                    .spawn(move || worker_loop(&shared, index))
                    .expect("spawning a worker thread")
            })
            .collect();
        ThreadPool { shared, workers }
    }

    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `task(i)` for every `i` in `0..n_tasks`, in parallel, and returns when all are done.
    pub fn run(&self, n_tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        if n_tasks == 0 {
            return;
        }
        if n_tasks == 1 || self.workers.is_empty() {
            (0..n_tasks).for_each(task);
            return;
        }
        let shared = &*self.shared;
        // SAFETY: the reference is only dereferenced by workers that joined this region, and we
        // do not return before every joined worker has left (see the wait below).
        let task_static: &'static Task<'static> = unsafe { std::mem::transmute(task) };
        *shared.task.lock().unwrap() = Some(task_static);
        shared.next_task.store(0, Ordering::Relaxed);
        shared.n_tasks.store(n_tasks, Ordering::Relaxed);
        shared.left.store(0, Ordering::Relaxed);
        // Open the region: new generation, not closed, nobody joined.
        let generation = (shared.state.load(Ordering::Relaxed) >> 32) + 1;
        shared.state.store(generation << 32, Ordering::Release);
        for (index, sleeping) in shared.sleeping.iter().enumerate() {
            if sleeping.swap(false, Ordering::AcqRel) {
                self.workers[index].thread().unpark();
            }
        }
        run_tasks(shared, task);
        // Close the region so no late worker joins, then wait for those that did.
        let joined = shared.state.fetch_or(CLOSED, Ordering::AcqRel) & JOINED_MASK;
        let mut spins = 0u32;
        while shared.left.load(Ordering::Acquire) < joined as usize {
            spins += 1;
            if spins < 1 << 12 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        *shared.task.lock().unwrap() = None;
    }
}

fn run_tasks(shared: &Shared, task: &Task<'_>) {
    let n_tasks = shared.n_tasks.load(Ordering::Relaxed);
    loop {
        let i = shared.next_task.fetch_add(1, Ordering::Relaxed);
        if i >= n_tasks {
            break;
        }
        task(i);
    }
}

fn worker_loop(shared: &Shared, index: usize) {
    let mut seen_generation = 0u64;
    loop {
        // Wait for a region newer than the last one seen: spin, then park.
        let started = Instant::now();
        let mut spins = 0u32;
        let state = loop {
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            let state = shared.state.load(Ordering::Acquire);
            if state >> 32 != seen_generation {
                break state;
            }
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(64) || started.elapsed() < SPIN_BEFORE_PARK {
                std::hint::spin_loop();
                continue;
            }
            shared.sleeping[index].store(true, Ordering::Release);
            // Re-check after announcing sleep: `run` may have opened a region in between.
            if shared.state.load(Ordering::Acquire) >> 32 == seen_generation
                && !shared.stop.load(Ordering::Relaxed)
            {
                std::thread::park();
            }
            shared.sleeping[index].store(false, Ordering::Release);
        };
        seen_generation = state >> 32;
        // Join only if the region is still open; a closed region is already finished.
        let mut current = state;
        let joined = loop {
            if current & CLOSED != 0 || current >> 32 != seen_generation {
                break false;
            }
            match shared.state.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break true,
                Err(actual) => current = actual,
            }
        };
        if !joined {
            continue;
        }
        let task = shared
            .task
            .lock()
            .unwrap()
            .expect("an open region has a task");
        run_tasks(shared, task);
        shared.left.fetch_add(1, Ordering::Release);
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for worker in &self.workers {
            worker.thread().unpark();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// A pointer the tasks of one pool region share, each dereferencing a different part of what
/// it points to (the caller's SAFETY argument says which). `T: Send` is required because each
/// task takes its part to another thread.
pub struct TaskShared<T>(*mut T);
impl<T> Clone for TaskShared<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for TaskShared<T> {}
// SAFETY: the pointer itself is plain data; what tasks do through it is the caller's argument.
unsafe impl<T: Send> Send for TaskShared<T> {}
unsafe impl<T: Send> Sync for TaskShared<T> {}
impl<T> TaskShared<T> {
    pub fn new(ptr: *mut T) -> Self {
        TaskShared(ptr)
    }
    pub fn get(self) -> *mut T {
        self.0
    }
}

/// Splits `0..len` into `parts` nearly equal contiguous ranges and returns the `index`-th.
pub fn split_range(len: usize, parts: usize, index: usize) -> std::ops::Range<usize> {
    let base = len / parts;
    let extra = len % parts;
    let start = index * base + index.min(extra);
    let end = start + base + usize::from(index < extra);
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_task_runs_exactly_once() {
        let pool = ThreadPool::new(3);
        for n in [0usize, 1, 2, 7, 100, 1000] {
            let counts: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            pool.run(n, &|i| {
                counts[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(
                counts.iter().all(|c| c.load(Ordering::Relaxed) == 1),
                "n = {n}"
            );
        }
    }

    #[test]
    fn many_short_regions_in_a_row() {
        let pool = ThreadPool::new(2);
        let total = AtomicUsize::new(0);
        for _ in 0..20_000 {
            pool.run(4, &|i| {
                total.fetch_add(i, Ordering::Relaxed);
            });
        }
        assert_eq!(total.load(Ordering::Relaxed), 20_000 * 6);
    }

    #[test]
    fn split_range_covers_everything() {
        for len in [0usize, 1, 5, 16, 17] {
            for parts in 1..5 {
                let ranges: Vec<_> = (0..parts).map(|i| split_range(len, parts, i)).collect();
                assert_eq!(ranges.first().unwrap().start, 0);
                assert_eq!(ranges.last().unwrap().end, len);
                assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
            }
        }
    }
}
