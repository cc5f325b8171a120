//! Matrix multiplication kernels and their dispatch: `out[m × rows] = x[m × cols] · Wᵀ`.
//!
//! Three implementations compute the *same bits* (see `quant.rs` for why that matters):
//! AVX-512 VNNI (`vpdpbusd`: 64 byte products per instruction), AVX2 (`vpmaddubsw` +
//! `vpmaddwd`), and portable Rust. Integer block sums are exact in all three, and the f32
//! steps are the same operations in the same order: per block, `acc = fma(isum, d·dₓ, acc)`
//! then `acc = fma(m, sₓ, acc)`. Dense kernels are plain Rust written lane by lane (16 lanes,
//! `mul_add`), compiled once per instruction set with `#[target_feature]` so LLVM vectorizes
//! them without changing the arithmetic. `DRIFT_SCRIPT_ISA=portable|avx2|avx512` forces one
//! (tests compare them).

use super::kernels_k::{KTile, k_tile};
use super::kquant::KData;
use super::pool::ThreadPool;
use super::quant::{
    Matrix, MatrixData, QBLOCK, QuantizedRows, TILE, TileOffsets, U4Block, U5Block, U8Block,
};
use half::{bf16, f16};
use std::ops::Range;

pub use super::isa::{Isa, detected_isa};

/// A raw output pointer shared by tasks that write disjoint parts of one buffer.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// Where one tile's results go: rows `rows` of an output with `stride` floats per row, columns
/// `col..col + lanes`.
#[derive(Clone, Copy)]
struct TileOut {
    ptr: OutPtr,
    stride: usize,
    col: usize,
    lanes: usize,
}

impl TileOut {
    /// Stores 16 lane values for output row `r`.
    #[inline(always)]
    unsafe fn store(&self, r: usize, values: &[f32; TILE]) {
        unsafe {
            let dst = self.ptr.0.add(r * self.stride + self.col);
            std::ptr::copy_nonoverlapping(values.as_ptr(), dst, self.lanes);
        }
    }
}

/// `out[i * w.rows + j] = Σ_c x[i * w.cols + c] · W[j, c]` for `i < m`.
/// `xq` is scratch for the quantized activations (reused between calls to avoid allocation).
pub fn matmul(
    pool: &ThreadPool,
    isa: Isa,
    w: &Matrix,
    x: &[f32],
    m: usize,
    out: &mut [f32],
    xq: &mut QuantizedRows,
) {
    if w.is_quantized() && m > 0 {
        quantize_rows(pool, isa, x, m, w.cols, xq);
    }
    matmul_quantized(pool, isa, w, x, m, out, xq);
}

/// [`matmul`] with the activations' 8-bit codes already in `xq` (for a quantized `w`), as
/// `quantize_rows` would make them: for callers that quantize while they compute `x`.
pub fn matmul_quantized(
    pool: &ThreadPool,
    isa: Isa,
    w: &Matrix,
    x: &[f32],
    m: usize,
    out: &mut [f32],
    xq: &QuantizedRows,
) {
    assert_eq!(x.len(), m * w.cols, "matmul input size");
    assert_eq!(out.len(), m * w.rows, "matmul output size");
    if m == 0 {
        return;
    }
    debug_assert!(!w.is_quantized() || (xq.rows == m && xq.cols == w.cols));
    let tiles = w.tiles();
    // About four tasks per thread balance the load, but a task should hold several tiles so
    // that its bookkeeping stays small next to the arithmetic.
    let chunk = tiles.div_ceil(pool.threads() * 4).max(1);
    let n_tasks = tiles.div_ceil(chunk);
    let ptr = OutPtr(out.as_mut_ptr());
    pool.run(n_tasks, &|task| {
        for t in task * chunk..((task + 1) * chunk).min(tiles) {
            let tile_out = TileOut {
                ptr,
                stride: w.rows,
                col: t * TILE,
                lanes: TILE.min(w.rows - t * TILE),
            };
            // SAFETY: tiles write disjoint columns of `out`, which outlives `pool.run`.
            unsafe { one_tile(isa, w, t, x, m, xq, tile_out) };
        }
    });
}

/// Multiplies tile `t` of `w` (`t` counted inside `w`), writing to `tile_out`.
unsafe fn one_tile(
    isa: Isa,
    w: &Matrix,
    t: usize,
    x: &[f32],
    m: usize,
    xq: &QuantizedRows,
    tile_out: TileOut,
) {
    let nb = w.tile_blocks();
    unsafe {
        match &w.data {
            MatrixData::U4(q) => {
                let (blocks, offsets) = q.tile(t, nb);
                with_offsets!(offsets, |o| nibble_tile(isa, blocks, o, xq, tile_out))
            }
            MatrixData::U5(q) => {
                let (blocks, offsets) = q.tile(t, nb);
                with_offsets!(offsets, |o| nibble_tile(isa, blocks, o, xq, tile_out))
            }
            MatrixData::U8(q) => {
                let (blocks, offsets) = q.tile(t, nb);
                with_offsets!(offsets, |o| u8_tile(isa, blocks, o, xq, tile_out))
            }
            MatrixData::K(k) => {
                let tile = match k {
                    KData::Q2K(b) => KTile::Q2K(&b[t * nb..(t + 1) * nb]),
                    KData::Q3K(b) => KTile::Q3K(&b[t * nb..(t + 1) * nb]),
                    KData::Q4K(b) => KTile::Q4K(&b[t * nb..(t + 1) * nb]),
                    KData::Q5K(b) => KTile::Q5K(&b[t * nb..(t + 1) * nb]),
                    KData::Q6K(b) => KTile::Q6K(&b[t * nb..(t + 1) * nb]),
                };
                k_tile(isa, tile, xq, &mut |r, lanes| tile_out.store(r, lanes));
            }
            MatrixData::Stacked(parts) => {
                let (part, local) = Matrix::part_of_tile(parts, t);
                one_tile(isa, part, local, x, m, xq, tile_out);
            }
            MatrixData::F32(v) => dense_tile(
                isa,
                DenseTile::F32(tile_slice(v, t, w.cols)),
                x,
                m,
                tile_out,
            ),
            MatrixData::F16(v) => dense_tile(
                isa,
                DenseTile::F16(tile_slice(v, t, w.cols)),
                x,
                m,
                tile_out,
            ),
            MatrixData::BF16(v) => dense_tile(
                isa,
                DenseTile::BF16(tile_slice(v, t, w.cols)),
                x,
                m,
                tile_out,
            ),
        }
    }
}

fn tile_slice<E>(v: &[E], tile: usize, cols: usize) -> &[E] {
    &v[tile * cols * TILE..(tile + 1) * cols * TILE]
}

/// Activation blocks from which `quantize_rows_of` splits the work between threads.
const PARALLEL_QUANTIZATION_BLOCKS: usize = 128;

fn quantize_rows(
    pool: &ThreadPool,
    isa: Isa,
    x: &[f32],
    m: usize,
    cols: usize,
    xq: &mut QuantizedRows,
) {
    let values = |r: usize, span: Range<usize>| &x[r * cols + span.start..r * cols + span.end];
    quantize_rows_of(pool, isa, m, cols, xq, &values);
}

/// Quantizes `m` rows of `cols` values into `xq`, where `values(r, span)` gives columns
/// `span` (whole 32-value blocks) of row `r`, computing them if it likes: each span is asked
/// for once, by the task that quantizes it, so a caller can fuse the work that makes the
/// values with their quantization while they are in cache.
///
/// The work is split between threads by blocks of all rows, not by rows, so that a decoding
/// step's few rows (a conversation, its drafted token, riding probes) keep both threads busy:
/// quantizing them on one thread was 2% of an episode while the other waited. Below ~128
/// blocks the pool region costs about what it saves (`examples/matmul_rows.rs`: 4 and 6 rows
/// of the down projection's 1,536 inputs 3–10% faster, 2 rows of 576 a little slower), and it
/// all runs on the calling thread.
pub fn quantize_rows_of<'a>(
    pool: &ThreadPool,
    isa: Isa,
    m: usize,
    cols: usize,
    xq: &mut QuantizedRows,
    values: &(dyn Fn(usize, Range<usize>) -> &'a [f32] + Sync),
) {
    xq.resize(m, cols);
    let nb = cols / QBLOCK;
    let parts = if m * nb < PARALLEL_QUANTIZATION_BLOCKS {
        1
    } else if m >= 8 {
        pool.threads() * 2
    } else {
        pool.threads()
    };
    let xq_ptr = super::pool::TaskShared::new(xq as *mut QuantizedRows);
    pool.run(parts, &|p| {
        let blocks = super::pool::split_range(m * nb, parts, p);
        let mut b = blocks.start;
        while b < blocks.end {
            let (r, first) = (b / nb, b % nb);
            let last = nb.min(first + blocks.end - b);
            let x = values(r, first * QBLOCK..last * QBLOCK);
            // SAFETY: each task quantizes different blocks, which live in disjoint parts of
            // the buffers; `set_blocks` touches only those.
            unsafe { (*xq_ptr.get()).set_blocks(isa, r, first..last, x) };
            b += last - first;
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Quantized tiles
// ---------------------------------------------------------------------------------------------

/// Calls `$call` with the tile's offsets as a type of its own (`StoredLanes` or
/// `ScaledLanes`), so that the kernels are compiled for each and never branch on them.
macro_rules! with_offsets {
    ($offsets:expr, |$o:ident| $call:expr) => {
        match $offsets {
            TileOffsets::Stored(m) => {
                let $o = StoredLanes(m);
                $call
            }
            TileOffsets::Scaled(k) => {
                let $o = ScaledLanes(k);
                $call
            }
        }
    };
}
use with_offsets;

/// A tile's block offsets m (value = d·q + m), as f32 lanes.
trait OffsetLanes: Copy {
    /// Block `b`'s 16 offsets, given its scales `d`.
    fn lanes(&self, b: usize, d: &[f16; TILE]) -> [f32; TILE];
    /// The same from the scales as f32 lanes (`dw`): all 16, or lanes `8·half..` of 8.
    #[cfg(target_arch = "x86_64")]
    unsafe fn lanes512(&self, b: usize, dw: std::arch::x86_64::__m512)
    -> std::arch::x86_64::__m512;
    #[cfg(target_arch = "x86_64")]
    unsafe fn lanes256(
        &self,
        b: usize,
        half: usize,
        dw: std::arch::x86_64::__m256,
    ) -> std::arch::x86_64::__m256;
}

/// Offsets stored per block and lane.
#[derive(Clone, Copy)]
struct StoredLanes<'a>(&'a [[f16; TILE]]);

/// Offsets `k·d` (exact in f32: `k` is a power of two).
#[derive(Clone, Copy)]
struct ScaledLanes(f32);

impl OffsetLanes for StoredLanes<'_> {
    #[inline(always)]
    fn lanes(&self, b: usize, _: &[f16; TILE]) -> [f32; TILE] {
        self.0[b].map(f16::to_f32)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn lanes512(&self, b: usize, _: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512 {
        use std::arch::x86_64::*;
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(self.0[b].as_ptr() as *const __m256i)) }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn lanes256(
        &self,
        b: usize,
        half: usize,
        _: std::arch::x86_64::__m256,
    ) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        unsafe {
            _mm256_cvtph_ps(_mm_loadu_si128(
                self.0[b].as_ptr().add(8 * half) as *const __m128i
            ))
        }
    }
}

impl OffsetLanes for ScaledLanes {
    #[inline(always)]
    fn lanes(&self, _: usize, d: &[f16; TILE]) -> [f32; TILE] {
        d.map(|d| self.0 * d.to_f32())
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn lanes512(
        &self,
        _: usize,
        dw: std::arch::x86_64::__m512,
    ) -> std::arch::x86_64::__m512 {
        use std::arch::x86_64::*;
        unsafe { _mm512_mul_ps(dw, _mm512_set1_ps(self.0)) }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn lanes256(
        &self,
        _: usize,
        _: usize,
        dw: std::arch::x86_64::__m256,
    ) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        unsafe { _mm256_mul_ps(dw, _mm256_set1_ps(self.0)) }
    }
}

/// Blocks of 4-bit codes, with or without a plane of fifth bits (`U4Block`, `U5Block`).
trait NibbleBlock: Copy {
    fn qs(&self) -> &[u8; 256];
    fn fifth(&self) -> Option<&[u8; 64]>;
    fn d(&self) -> &[f16; TILE];
}

impl NibbleBlock for U4Block {
    #[inline(always)]
    fn qs(&self) -> &[u8; 256] {
        &self.qs
    }
    #[inline(always)]
    fn fifth(&self) -> Option<&[u8; 64]> {
        None
    }
    #[inline(always)]
    fn d(&self) -> &[f16; TILE] {
        &self.d
    }
}

impl NibbleBlock for U5Block {
    #[inline(always)]
    fn qs(&self) -> &[u8; 256] {
        &self.qs
    }
    #[inline(always)]
    fn fifth(&self) -> Option<&[u8; 64]> {
        Some(&self.qh)
    }
    #[inline(always)]
    fn d(&self) -> &[f16; TILE] {
        &self.d
    }
}

unsafe fn nibble_tile<B: NibbleBlock, O: OffsetLanes>(
    isa: Isa,
    blocks: &[B],
    offsets: O,
    xq: &QuantizedRows,
    out: TileOut,
) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => unsafe { x86::nibble_tile_avx512(blocks, offsets, xq, out) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { x86::nibble_tile_avx2(blocks, offsets, xq, out) },
        _ => unsafe { nibble_tile_portable(blocks, offsets, xq, out) },
    }
}

unsafe fn u8_tile<O: OffsetLanes>(
    isa: Isa,
    blocks: &[U8Block],
    offsets: O,
    xq: &QuantizedRows,
    out: TileOut,
) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => unsafe { x86::u8_tile_avx512(blocks, offsets, xq, out) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { x86::u8_tile_avx2(blocks, offsets, xq, out) },
        _ => unsafe { u8_tile_portable(blocks, offsets, xq, out) },
    }
}

/// The f32 steps shared by every quantized kernel, written once for the portable path.
#[inline(always)]
fn combine_block(
    acc: &mut [f32; TILE],
    isum: &[i32; TILE],
    d: &[f16; TILE],
    m: &[f32; TILE],
    dx: f32,
    sx: f32,
) {
    for l in 0..TILE {
        let scale = d[l].to_f32() * dx;
        acc[l] = (isum[l] as f32).mul_add(scale, acc[l]);
        acc[l] = m[l].mul_add(sx, acc[l]);
    }
}

unsafe fn nibble_tile_portable<B: NibbleBlock, O: OffsetLanes>(
    blocks: &[B],
    offsets: O,
    xq: &QuantizedRows,
    out: TileOut,
) {
    let nb = blocks.len();
    for r in 0..xq.rows {
        let mut acc = [0f32; TILE];
        for (b, blk) in blocks.iter().enumerate() {
            let a = &xq.qs[r * xq.cols + b * QBLOCK..][..QBLOCK];
            let mut isum = [0i32; TILE];
            for c in 0..4 {
                for (l, sum) in isum.iter_mut().enumerate() {
                    for j in 0..4 {
                        let byte = blk.qs()[c * 64 + l * 4 + j];
                        let (mut low, mut high) = (byte & 15, byte >> 4);
                        if let Some(qh) = blk.fifth() {
                            low |= ((qh[l * 4 + j] >> c) & 1) << 4;
                            high |= ((qh[l * 4 + j] >> (4 + c)) & 1) << 4;
                        }
                        *sum += i32::from(low) * i32::from(a[4 * c + j]);
                        *sum += i32::from(high) * i32::from(a[16 + 4 * c + j]);
                    }
                }
            }
            combine_block(
                &mut acc,
                &isum,
                blk.d(),
                &offsets.lanes(b, blk.d()),
                xq.d[r * nb + b],
                xq.s[r * nb + b],
            );
        }
        unsafe { out.store(r, &acc) };
    }
}

unsafe fn u8_tile_portable<O: OffsetLanes>(
    blocks: &[U8Block],
    offsets: O,
    xq: &QuantizedRows,
    out: TileOut,
) {
    let nb = blocks.len();
    for r in 0..xq.rows {
        let mut acc = [0f32; TILE];
        for (b, blk) in blocks.iter().enumerate() {
            let a = &xq.qs[r * xq.cols + b * QBLOCK..][..QBLOCK];
            let mut isum = [0i32; TILE];
            for g in 0..8 {
                for (l, sum) in isum.iter_mut().enumerate() {
                    for j in 0..4 {
                        *sum += i32::from(blk.qs[g * 64 + l * 4 + j]) * i32::from(a[4 * g + j]);
                    }
                }
            }
            combine_block(
                &mut acc,
                &isum,
                &blk.d,
                &offsets.lanes(b, &blk.d),
                xq.d[r * nb + b],
                xq.s[r * nb + b],
            );
        }
        unsafe { out.store(r, &acc) };
    }
}

// ---------------------------------------------------------------------------------------------
// Dense tiles
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum DenseTile<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
    BF16(&'a [bf16]),
}

/// Converts dense weights to f32 lane by lane; the f16 path uses integer arithmetic so that
/// the loop vectorizes on every instruction set.
trait DenseElem: Copy {
    fn to_f32(self) -> f32;
}
impl DenseElem for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}
impl DenseElem for f16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        super::quant::f16_bits_to_f32(self.to_bits())
    }
}
impl DenseElem for bf16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from_bits(u32::from(self.to_bits()) << 16)
    }
}

unsafe fn dense_tile(isa: Isa, w: DenseTile<'_>, x: &[f32], m: usize, out: TileOut) {
    macro_rules! dispatch {
        ($w:expr) => {
            match isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512Vnni => unsafe { x86::dense_avx512($w, x, m, out) },
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => unsafe { x86::dense_avx2($w, x, m, out) },
                _ => unsafe { dense_rows($w, x, m, out) },
            }
        };
    }
    match w {
        DenseTile::F32(w) => dispatch!(w),
        DenseTile::F16(w) => dispatch!(w),
        DenseTile::BF16(w) => dispatch!(w),
    }
}

/// Four activation rows at a time share each loaded weight vector.
#[inline(always)]
unsafe fn dense_rows<E: DenseElem>(w: &[E], x: &[f32], m: usize, out: TileOut) {
    let mut r = 0;
    while r < m {
        match m - r {
            1 => unsafe { dense_group::<E, 1>(w, x, r, out) },
            2 => unsafe { dense_group::<E, 2>(w, x, r, out) },
            3 => unsafe { dense_group::<E, 3>(w, x, r, out) },
            _ => unsafe { dense_group::<E, 4>(w, x, r, out) },
        }
        r += (m - r).min(4);
    }
}

#[inline(always)]
unsafe fn dense_group<E: DenseElem, const MR: usize>(w: &[E], x: &[f32], r0: usize, out: TileOut) {
    let cols = w.len() / TILE;
    let mut acc = [[0f32; TILE]; MR];
    for c in 0..cols {
        let wv: [f32; TILE] = std::array::from_fn(|l| w[c * TILE + l].to_f32());
        for (i, acc) in acc.iter_mut().enumerate() {
            let xv = x[(r0 + i) * cols + c];
            for l in 0..TILE {
                acc[l] = xv.mul_add(wv[l], acc[l]);
            }
        }
    }
    for (i, acc) in acc.iter().enumerate() {
        unsafe { out.store(r0 + i, acc) };
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::kernels_k::fifth_bits;
    use super::*;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f,avx512bw,fma,f16c")]
    pub(super) unsafe fn dense_avx512<E: DenseElem>(w: &[E], x: &[f32], m: usize, out: TileOut) {
        unsafe { dense_rows(w, x, m, out) }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn dense_avx2<E: DenseElem>(w: &[E], x: &[f32], m: usize, out: TileOut) {
        unsafe { dense_rows(w, x, m, out) }
    }

    /// Blocks ahead of the one being multiplied whose lines are requested now. Weight blocks
    /// are read front to back, but each task starts at a new place and the hardware prefetcher
    /// ramps up slowly, so with several rows a step, the wait for weights added to the
    /// arithmetic instead of overlapping it (`examples/matmul_rows.rs`, streamed case).
    const PREFETCH_BLOCKS: usize = 16;

    /// Requests the cache lines of the block `PREFETCH_BLOCKS` after `blk` in memory (tiles
    /// are stored one after another, so this runs into the next tile; past the matrix's end it
    /// is a harmless hint).
    #[inline(always)]
    fn prefetch_ahead<B>(blk: &B) {
        let ahead = (blk as *const B).wrapping_add(PREFETCH_BLOCKS) as *const i8;
        for line in (0..std::mem::size_of::<B>()).step_by(64) {
            // SAFETY: prefetching is a hint; it never faults, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(line)) };
        }
    }

    #[inline(always)]
    unsafe fn bcast4(a: *const i8, group: usize) -> i32 {
        unsafe { (a as *const i32).add(group).read_unaligned() }
    }

    /// A block's 16 scales and offsets as f32 lanes.
    #[inline(always)]
    unsafe fn scales512<O: OffsetLanes>(d: &[f16; TILE], offsets: O, b: usize) -> (__m512, __m512) {
        unsafe {
            let dw = _mm512_cvtph_ps(_mm256_loadu_si256(d.as_ptr() as *const __m256i));
            (dw, offsets.lanes512(b, dw))
        }
    }

    /// The f32 steps of `combine_block` on 16 lanes.
    #[inline(always)]
    unsafe fn combine512(
        acc: __m512,
        isum: __m512i,
        (dw, mw): (__m512, __m512),
        dx: f32,
        sx: f32,
    ) -> __m512 {
        unsafe {
            let scale = _mm512_mul_ps(dw, _mm512_set1_ps(dx));
            let acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), scale, acc);
            _mm512_fmadd_ps(mw, _mm512_set1_ps(sx), acc)
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,fma,f16c")]
    pub(super) unsafe fn nibble_tile_avx512<B: NibbleBlock, O: OffsetLanes>(
        blocks: &[B],
        offsets: O,
        xq: &QuantizedRows,
        out: TileOut,
    ) {
        let mut r = 0;
        while r < xq.rows {
            let left = xq.rows - r;
            unsafe {
                match left {
                    1 => nibble_rows_avx512::<B, O, 1>(blocks, offsets, xq, r, out),
                    2 => nibble_rows_avx512::<B, O, 2>(blocks, offsets, xq, r, out),
                    3 => nibble_rows_avx512::<B, O, 3>(blocks, offsets, xq, r, out),
                    _ => nibble_rows_avx512::<B, O, 4>(blocks, offsets, xq, r, out),
                }
            }
            r += left.min(4);
        }
    }

    #[inline(always)]
    unsafe fn nibble_rows_avx512<B: NibbleBlock, O: OffsetLanes, const MR: usize>(
        blocks: &[B],
        offsets: O,
        xq: &QuantizedRows,
        r0: usize,
        out: TileOut,
    ) {
        unsafe {
            let nb = blocks.len();
            let mask = _mm512_set1_epi8(0x0f);
            let mut acc = [_mm512_setzero_ps(); MR];
            for (b, blk) in blocks.iter().enumerate() {
                if r0 == 0 {
                    prefetch_ahead(blk);
                }
                // Blocks are 32-byte aligned (288 bytes for U4): unaligned loads.
                let p = blk.qs().as_ptr() as *const __m512i;
                let raw = [
                    _mm512_loadu_si512(p),
                    _mm512_loadu_si512(p.add(1)),
                    _mm512_loadu_si512(p.add(2)),
                    _mm512_loadu_si512(p.add(3)),
                ];
                let mut lo = raw.map(|v| _mm512_and_si512(v, mask));
                let mut hi = raw.map(|v| _mm512_and_si512(_mm512_srli_epi16(v, 4), mask));
                if let Some(qh) = blk.fifth() {
                    let h = _mm512_loadu_si512(qh.as_ptr() as *const __m512i);
                    let bit4 = _mm512_set1_epi8(0x10);
                    for c in 0..4 {
                        let low = fifth_bits!(_mm512_slli_epi16, _mm512_srli_epi16, h, c, false);
                        let high = fifth_bits!(_mm512_slli_epi16, _mm512_srli_epi16, h, c, true);
                        lo[c] = _mm512_or_si512(lo[c], _mm512_and_si512(low, bit4));
                        hi[c] = _mm512_or_si512(hi[c], _mm512_and_si512(high, bit4));
                    }
                }
                let scales = scales512(blk.d(), offsets, b);
                for (i, acc) in acc.iter_mut().enumerate() {
                    let r = r0 + i;
                    let a = xq.qs.as_ptr().add(r * xq.cols + b * QBLOCK);
                    let mut s0 = _mm512_setzero_si512();
                    let mut s1 = _mm512_setzero_si512();
                    for c in 0..4 {
                        s0 = _mm512_dpbusd_epi32(s0, lo[c], _mm512_set1_epi32(bcast4(a, c)));
                        s1 = _mm512_dpbusd_epi32(s1, hi[c], _mm512_set1_epi32(bcast4(a, 4 + c)));
                    }
                    let isum = _mm512_add_epi32(s0, s1);
                    *acc = combine512(*acc, isum, scales, xq.d[r * nb + b], xq.s[r * nb + b]);
                }
            }
            for (i, acc) in acc.iter().enumerate() {
                let mut lanes = [0f32; TILE];
                _mm512_storeu_ps(lanes.as_mut_ptr(), *acc);
                out.store(r0 + i, &lanes);
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,fma,f16c")]
    pub(super) unsafe fn u8_tile_avx512<O: OffsetLanes>(
        blocks: &[U8Block],
        offsets: O,
        xq: &QuantizedRows,
        out: TileOut,
    ) {
        let mut r = 0;
        while r < xq.rows {
            let left = xq.rows - r;
            unsafe {
                match left {
                    1 => u8_rows_avx512::<O, 1>(blocks, offsets, xq, r, out),
                    2 => u8_rows_avx512::<O, 2>(blocks, offsets, xq, r, out),
                    3 => u8_rows_avx512::<O, 3>(blocks, offsets, xq, r, out),
                    _ => u8_rows_avx512::<O, 4>(blocks, offsets, xq, r, out),
                }
            }
            r += left.min(4);
        }
    }

    #[inline(always)]
    unsafe fn u8_rows_avx512<O: OffsetLanes, const MR: usize>(
        blocks: &[U8Block],
        offsets: O,
        xq: &QuantizedRows,
        r0: usize,
        out: TileOut,
    ) {
        unsafe {
            let nb = blocks.len();
            let mut acc = [_mm512_setzero_ps(); MR];
            for (b, blk) in blocks.iter().enumerate() {
                if r0 == 0 {
                    prefetch_ahead(blk);
                }
                let p = blk.qs.as_ptr() as *const __m512i;
                let w: [__m512i; 8] = std::array::from_fn(|g| _mm512_loadu_si512(p.add(g)));
                let scales = scales512(&blk.d, offsets, b);
                for (i, acc) in acc.iter_mut().enumerate() {
                    let r = r0 + i;
                    let a = xq.qs.as_ptr().add(r * xq.cols + b * QBLOCK);
                    let mut s0 = _mm512_setzero_si512();
                    let mut s1 = _mm512_setzero_si512();
                    for g in 0..4 {
                        s0 = _mm512_dpbusd_epi32(s0, w[g], _mm512_set1_epi32(bcast4(a, g)));
                        s1 = _mm512_dpbusd_epi32(s1, w[g + 4], _mm512_set1_epi32(bcast4(a, g + 4)));
                    }
                    let isum = _mm512_add_epi32(s0, s1);
                    *acc = combine512(*acc, isum, scales, xq.d[r * nb + b], xq.s[r * nb + b]);
                }
            }
            for (i, acc) in acc.iter().enumerate() {
                let mut lanes = [0f32; TILE];
                _mm512_storeu_ps(lanes.as_mut_ptr(), *acc);
                out.store(r0 + i, &lanes);
            }
        }
    }

    /// Sum of 4 byte products per 32-bit lane, u8 weights (≤ 15) times i8 activations, exact:
    /// pairs fit in i16 because 2·15·127 < 32768.
    #[inline(always)]
    unsafe fn dot4_avx2(w: __m256i, a: __m256i) -> __m256i {
        unsafe { _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), _mm256_set1_epi16(1)) }
    }

    /// The f32 steps of `combine_block` on 8 lanes (`half` selects lanes 0–7 or 8–15) of
    /// block `b`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn combine256<O: OffsetLanes>(
        acc: __m256,
        isum: __m256i,
        d: &[f16; TILE],
        offsets: O,
        b: usize,
        half: usize,
        dx: f32,
        sx: f32,
    ) -> __m256 {
        unsafe {
            let dw = _mm256_cvtph_ps(_mm_loadu_si128(d.as_ptr().add(8 * half) as *const __m128i));
            let mw = offsets.lanes256(b, half, dw);
            let scale = _mm256_mul_ps(dw, _mm256_set1_ps(dx));
            let acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), scale, acc);
            _mm256_fmadd_ps(mw, _mm256_set1_ps(sx), acc)
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn nibble_tile_avx2<B: NibbleBlock, O: OffsetLanes>(
        blocks: &[B],
        offsets: O,
        xq: &QuantizedRows,
        out: TileOut,
    ) {
        unsafe {
            let nb = blocks.len();
            let mask = _mm256_set1_epi8(0x0f);
            for r in 0..xq.rows {
                let mut acc = [_mm256_setzero_ps(); 2];
                for (b, blk) in blocks.iter().enumerate() {
                    let a = xq.qs.as_ptr().add(r * xq.cols + b * QBLOCK);
                    for (half, acc) in acc.iter_mut().enumerate() {
                        let h = blk.fifth().map(|qh| {
                            _mm256_loadu_si256(qh.as_ptr().add(32 * half) as *const __m256i)
                        });
                        let mut isum = _mm256_setzero_si256();
                        for c in 0..4 {
                            let raw = _mm256_loadu_si256(
                                blk.qs().as_ptr().add(c * 64 + half * 32) as *const __m256i
                            );
                            let mut lo = _mm256_and_si256(raw, mask);
                            let mut hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
                            if let Some(h) = h {
                                let bit4 = _mm256_set1_epi8(0x10);
                                let l =
                                    fifth_bits!(_mm256_slli_epi16, _mm256_srli_epi16, h, c, false);
                                let u =
                                    fifth_bits!(_mm256_slli_epi16, _mm256_srli_epi16, h, c, true);
                                lo = _mm256_or_si256(lo, _mm256_and_si256(l, bit4));
                                hi = _mm256_or_si256(hi, _mm256_and_si256(u, bit4));
                            }
                            isum = _mm256_add_epi32(
                                isum,
                                dot4_avx2(lo, _mm256_set1_epi32(bcast4(a, c))),
                            );
                            isum = _mm256_add_epi32(
                                isum,
                                dot4_avx2(hi, _mm256_set1_epi32(bcast4(a, 4 + c))),
                            );
                        }
                        *acc = combine256(
                            *acc,
                            isum,
                            blk.d(),
                            offsets,
                            b,
                            half,
                            xq.d[r * nb + b],
                            xq.s[r * nb + b],
                        );
                    }
                }
                let mut lanes = [0f32; TILE];
                _mm256_storeu_ps(lanes.as_mut_ptr(), acc[0]);
                _mm256_storeu_ps(lanes.as_mut_ptr().add(8), acc[1]);
                out.store(r, &lanes);
            }
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn u8_tile_avx2<O: OffsetLanes>(
        blocks: &[U8Block],
        offsets: O,
        xq: &QuantizedRows,
        out: TileOut,
    ) {
        unsafe {
            let nb = blocks.len();
            let mask = _mm256_set1_epi8(0x0f);
            for r in 0..xq.rows {
                let mut acc = [_mm256_setzero_ps(); 2];
                for (b, blk) in blocks.iter().enumerate() {
                    let a = xq.qs.as_ptr().add(r * xq.cols + b * QBLOCK);
                    for (half, acc) in acc.iter_mut().enumerate() {
                        // Codes up to 255 would overflow vpmaddubsw's i16 pairs: split each code
                        // into nibbles, q = 16·hi + lo, and combine the two exact sums.
                        let mut sum_lo = _mm256_setzero_si256();
                        let mut sum_hi = _mm256_setzero_si256();
                        for g in 0..8 {
                            let raw = _mm256_loadu_si256(
                                blk.qs.as_ptr().add(g * 64 + half * 32) as *const __m256i
                            );
                            let av = _mm256_set1_epi32(bcast4(a, g));
                            sum_lo = _mm256_add_epi32(
                                sum_lo,
                                dot4_avx2(_mm256_and_si256(raw, mask), av),
                            );
                            sum_hi = _mm256_add_epi32(
                                sum_hi,
                                dot4_avx2(_mm256_and_si256(_mm256_srli_epi16(raw, 4), mask), av),
                            );
                        }
                        let isum = _mm256_add_epi32(_mm256_slli_epi32(sum_hi, 4), sum_lo);
                        *acc = combine256(
                            *acc,
                            isum,
                            &blk.d,
                            offsets,
                            b,
                            half,
                            xq.d[r * nb + b],
                            xq.s[r * nb + b],
                        );
                    }
                }
                let mut lanes = [0f32; TILE];
                _mm256_storeu_ps(lanes.as_mut_ptr(), acc[0]);
                _mm256_storeu_ps(lanes.as_mut_ptr().add(8), acc[1]);
                out.store(r, &lanes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::kquant::KFormat;
    use super::super::quant::StorageFormat;
    use super::*;

    fn isas() -> Vec<Isa> {
        let mut all = vec![Isa::Portable];
        let best = super::super::isa::best_isa();
        if best != Isa::Portable {
            all.push(Isa::Avx2);
        }
        if best == Isa::Avx512Vnni {
            all.push(Isa::Avx512Vnni);
        }
        all
    }

    /// A K-quant matrix from random file bytes, with small positive f16 super-block scales
    /// (random bits there could be inf or NaN).
    fn k_matrix(format: KFormat, rows: usize, cols: usize, seed: u64) -> Matrix {
        let size = format.file_block_bytes();
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut bytes: Vec<u8> = (0..rows * cols / 256 * size)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        for (i, blk) in bytes.chunks_mut(size).enumerate() {
            let d = half::f16::from_f32(0.0005 + 0.0001 * (i % 5) as f32).to_le_bytes();
            let dmin = half::f16::from_f32(0.0004 + 0.0001 * (i % 3) as f32).to_le_bytes();
            match format {
                KFormat::Q6K => blk[208..210].copy_from_slice(&d),
                KFormat::Q3K => blk[108..110].copy_from_slice(&d),
                KFormat::Q2K => {
                    blk[80..82].copy_from_slice(&d);
                    blk[82..84].copy_from_slice(&dmin);
                }
                _ => {
                    blk[0..2].copy_from_slice(&d);
                    blk[2..4].copy_from_slice(&dmin);
                }
            }
        }
        Matrix::from_k_quant(format, rows, cols, &bytes)
    }

    /// A matrix of `width`-bit codes covering every code value, with varied scales.
    fn coded_matrix(rows: usize, cols: usize, width: u32, offsets_scale: Option<f32>) -> Matrix {
        Matrix::from_blocks(rows, cols, width, offsets_scale, |r, b| {
            let q = std::array::from_fn(|i| ((r * 5 + b * 3 + i * 7) % (1 << width)) as u8);
            let d = half::f16::from_f32(0.01 * (r % 7) as f32 + 0.02);
            let m = match offsets_scale {
                Some(k) => half::f16::from_f32(k * d.to_f32()),
                None => half::f16::from_f32(-0.05 - 0.01 * (b % 3) as f32),
            };
            (q, d, m)
        })
    }

    fn sample(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let h = (i as u32)
                    .wrapping_mul(2_654_435_761)
                    .wrapping_add(seed.wrapping_mul(40503));
                ((h >> 8) % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// Every instruction set and every split of the rows gives the same bits, and the result
    /// is close to the f32 product.
    #[test]
    fn all_paths_agree_bit_for_bit() {
        let (rows, cols) = (40, 96);
        let w_values = sample(rows * cols, 1);
        let matrices = [
            Matrix::quantize_u8(rows, cols, &w_values),
            // Every code width, with offsets stored and derived from d (Q4_1/Q4_0, Q5_1/Q5_0,
            // re-quantized/Q8_0).
            coded_matrix(rows, cols, 4, None),
            coded_matrix(rows, cols, 4, Some(-8.0)),
            coded_matrix(rows, cols, 5, None),
            coded_matrix(rows, cols, 5, Some(-16.0)),
            coded_matrix(rows, cols, 8, Some(-128.0)),
            // Stacked parts whose offsets differ in kind.
            Matrix::stack(vec![
                coded_matrix(32, cols, 4, Some(-8.0)),
                coded_matrix(16, cols, 4, None),
            ]),
            Matrix::dense(rows, cols, &w_values, StorageFormat::F32),
            Matrix::dense(rows, cols, &w_values, StorageFormat::F16),
            Matrix::dense(rows, cols, &w_values, StorageFormat::BF16),
            // K-quants: 2 super-blocks per row, every code and scale value occurring.
            k_matrix(KFormat::Q2K, rows, 512, 9),
            k_matrix(KFormat::Q3K, rows, 512, 10),
            k_matrix(KFormat::Q4K, rows, 512, 3),
            k_matrix(KFormat::Q5K, rows, 512, 4),
            k_matrix(KFormat::Q6K, rows, 512, 5),
            // Q4_K_M's mix: q and k in Q4_K with v in Q6_K, stacked.
            Matrix::stack(vec![
                k_matrix(KFormat::Q4K, 32, 512, 6),
                k_matrix(KFormat::Q6K, 16, 512, 7),
                k_matrix(KFormat::Q5K, 16, 512, 8),
            ]),
            // Q2_K's and Q3_K's mixes (Q2_K with Q4_K and Q3_K beside it; Q3_K with Q5_K).
            Matrix::stack(vec![
                k_matrix(KFormat::Q2K, 32, 512, 11),
                k_matrix(KFormat::Q4K, 16, 512, 12),
                k_matrix(KFormat::Q3K, 16, 512, 13),
                k_matrix(KFormat::Q5K, 16, 512, 14),
            ]),
        ];
        for pool_threads in [1, 3] {
            let pool = ThreadPool::new(pool_threads);
            // 7 rows quantize on one thread; 45 rows (135 blocks) are split between threads
            // in the middle of rows.
            for (w, m) in matrices.iter().flat_map(|w| [(w, 7), (w, 45)]) {
                let (rows, cols) = (w.rows, w.cols);
                let x = sample(m * cols, 2);
                let mut reference = vec![0f32; m * rows];
                let mut xq = QuantizedRows::default();
                matmul(&pool, Isa::Portable, w, &x, m, &mut reference, &mut xq);
                // Close to the f32 product of the stored weights and the activations the
                // kernel saw (for quantized weights, their 8-bit codes times the block scale:
                // only f32 rounding separates the two).
                let wf = w.to_f32_rows();
                let seen: Vec<f32> = if w.is_quantized() {
                    (0..m * cols)
                        .map(|i| f32::from(xq.qs[i]) * xq.d[i / QBLOCK])
                        .collect()
                } else {
                    x.clone()
                };
                for i in 0..m {
                    for j in 0..rows {
                        let exact: f32 = (0..cols)
                            .map(|c| seen[i * cols + c] * wf[j * cols + c])
                            .sum();
                        let got = reference[i * rows + j];
                        assert!(
                            (exact - got).abs() < 2e-3 + exact.abs() * 1e-3,
                            "{} {exact} vs {got}",
                            w.format()
                        );
                    }
                }
                for isa in isas() {
                    let mut all_rows = vec![0f32; m * rows];
                    matmul(&pool, isa, w, &x, m, &mut all_rows, &mut xq);
                    assert_eq!(all_rows, reference, "{isa} {} all rows", w.format());
                    // One row at a time gives the same bits as all rows together.
                    for i in 0..m {
                        let mut one = vec![0f32; rows];
                        matmul(
                            &pool,
                            isa,
                            w,
                            &x[i * cols..(i + 1) * cols],
                            1,
                            &mut one,
                            &mut xq,
                        );
                        assert_eq!(
                            one,
                            reference[i * rows..(i + 1) * rows],
                            "{isa} {} row {i}",
                            w.format()
                        );
                    }
                }
            }
        }
    }
}
