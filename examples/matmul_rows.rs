//! Throughput of the quantized matrix kernels for 1–8 activation rows: multiply-adds per
//! second with the weights hot in cache (the arithmetic ceiling) and streamed from memory
//! (what decoding sees: 30 layers' gate/up matrices one after another, and the vocabulary
//! projection). Rows beyond the first cost only arithmetic, so the hot figure says how much
//! each extra row (a drafted token, a riding-along probe) costs, and the gap between hot and
//! streamed says how much of the wait for weights the arithmetic fails to hide.
//!
//! `cargo run --release --example matmul_rows [-- THREADS]`
use drift_script::model::local::kernels::{detected_isa, matmul};
use drift_script::model::local::pool::ThreadPool;
use drift_script::model::local::quant::{Matrix, QuantizedRows};
use half::f16;

fn matrix(rows: usize, cols: usize, wide: bool, seed: usize) -> Matrix {
    let (width, top) = if wide { (8, 256u32) } else { (4, 16) };
    Matrix::from_blocks(rows, cols, width, None, |r, b| {
        let mut q = [0u8; 32];
        for (i, c) in q.iter_mut().enumerate() {
            *c = ((r * 31 + b * 7 + i * 13 + seed) as u32 % top) as u8;
        }
        (q, f16::from_f32(0.01), f16::from_f32(-0.05))
    })
}

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .map(|t| t.parse().expect("THREADS"))
        .unwrap_or(1);
    let pool = ThreadPool::new(threads);
    let isa = detected_isa();
    println!("{isa}, {threads} thread(s)");
    // Half of gate/up and the down projection of one layer (hot: 0.6 MB fits in L2), gate/up of
    // 30 layers (streamed: 33 MB), and the vocabulary projection (cold: 28 MB of 8-bit codes).
    // Each case is a list of matrices multiplied in turn; figures are per matrix.
    let cases = [
        ("u4 1536x576 (hot)", vec![matrix(1536, 576, false, 0)], 200),
        ("u4 576x1536 (hot)", vec![matrix(576, 1536, false, 0)], 200),
        (
            "u4 3072x576 x30 (streamed)",
            (0..30).map(|s| matrix(3072, 576, false, s)).collect(),
            2,
        ),
        ("u8 49152x576 (cold)", vec![matrix(49152, 576, true, 0)], 4),
    ];
    for (name, matrices, reps) in &cases {
        let w = &matrices[0];
        for m in [1usize, 2, 4, 6, 8] {
            let x: Vec<f32> = (0..m * w.cols)
                .map(|i| ((i % 17) as f32 - 8.0) * 0.1)
                .collect();
            let mut out = vec![0f32; m * w.rows];
            let mut xq = QuantizedRows::default();
            for w in matrices {
                matmul(&pool, isa, w, &x, m, &mut out, &mut xq);
            }
            // The fastest of several batches: this VM's speed drifts from second to second.
            let mut secs = f64::INFINITY;
            for _ in 0..10 {
                let started = std::time::Instant::now();
                for _ in 0..*reps {
                    for w in matrices {
                        matmul(&pool, isa, w, &x, m, &mut out, &mut xq);
                    }
                }
                secs = secs.min(started.elapsed().as_secs_f64() / (*reps * matrices.len()) as f64);
            }
            let gmacs = (m * w.rows * w.cols) as f64 / secs / 1e9;
            println!(
                "{name:<28} rows={m}  {:>8.1} us  {:>6.1} GMAC/s  {:>6.1} GB/s of weights",
                secs * 1e6,
                gmacs,
                w.size_bytes() as f64 / secs / 1e9
            );
        }
    }
}
