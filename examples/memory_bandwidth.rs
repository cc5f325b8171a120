//! How fast this machine streams memory with 1 and 2 threads: the ceiling for decoding, which
//! reads every weight once per token (about 98 MB for the default model).
//!
//! `cargo run --release --example memory_bandwidth`
fn main() {
    let bytes = 256usize << 20;
    let data: Vec<f32> = (0..bytes / 4).map(|i| (i % 7) as f32).collect();
    for threads in [1, 2] {
        let repetitions = 6;
        let started = std::time::Instant::now();
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
        let rate = (bytes * repetitions) as f64 / started.elapsed().as_secs_f64() / 1e9;
        println!("{threads} thread(s): {rate:.1} GB/s");
    }
}
