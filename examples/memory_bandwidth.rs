//! How fast this machine streams memory with 1 and 2 threads, by the size of the data read over
//! and over: the ceiling for decoding, which reads every weight once per token (about 98 MB for
//! the default model) and, in an episode, its streams' keys and values besides.
//!
//! The small sizes show how much of the shared L3 this VM gets in practice: data read again
//! before other work evicts it comes back faster than from memory. An episode's step reads
//! ~100–170 MB (weights, then keys and values), past the knee.
//!
//! `cargo run --release --example memory_bandwidth`
fn main() {
    for megabytes in [24usize, 48, 96, 160, 256, 1024] {
        let bytes = megabytes << 20;
        let data: Vec<f32> = (0..bytes / 4).map(|i| (i % 7) as f32).collect();
        let rates: Vec<String> = [1, 2]
            .into_iter()
            .map(|threads| {
                // One pass to bring what fits into the caches, then about 4 GB read in all.
                read_all(&data, threads, 1);
                let repetitions = (4096 / megabytes).max(4);
                let started = std::time::Instant::now();
                read_all(&data, threads, repetitions);
                let rate = (bytes * repetitions) as f64 / started.elapsed().as_secs_f64() / 1e9;
                format!("{threads} thread(s) {rate:5.1} GB/s")
            })
            .collect();
        println!("{megabytes:>5} MB read repeatedly: {}", rates.join(", "));
    }
}

/// Reads `data` `repetitions` times, split between `threads` threads.
fn read_all(data: &[f32], threads: usize, repetitions: usize) {
    for _ in 0..repetitions {
        std::thread::scope(|s| {
            let chunk = data.len() / threads;
            let handles: Vec<_> = (0..threads)
                .map(|i| {
                    let part = &data[i * chunk..(i + 1) * chunk];
                    s.spawn(move || {
                        // 64 independent lanes so that the loop is bound by loads, not adds.
                        let mut lanes = [0f32; 64];
                        for c in part.chunks_exact(64) {
                            for l in 0..64 {
                                lanes[l] += c[l];
                            }
                        }
                        lanes.iter().sum::<f32>()
                    })
                })
                .collect();
            let total: f32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
            std::hint::black_box(total);
        });
    }
}
