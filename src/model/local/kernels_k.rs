//! Kernels for the K-quant tiles of `kquant.rs`: one 16-row tile times 8-bit activations.
//!
//! Every path (AVX-512 VNNI, AVX2, portable) computes the same bits. Per 32-value sub-block j
//! of activation row r (activation block b, scale dₓ, sum sₓ = dₓ·Σq, half sums h₀, h₁):
//!
//! - Q4_K / Q5_K: `isum = Σ q·a` exactly in integers, then in f32, per lane,
//!   `acc = fma(isum, (d·sc)·dₓ, acc)` and `acc = fma(dmin·m, −sₓ, acc)`.
//! - Q6_K: `t₀ = Σ_{first 16} q·a − 32·h₀` and `t₁` likewise for the second 16, exactly, then
//!   `acc = fma(t₀, (d·sc₀)·dₓ, acc)` and `acc = fma(t₁, (d·sc₁)·dₓ, acc)`.
//! - Q3_K: the same with 3-bit codes, `t = Σ q·a − 4·h` per half.
//! - Q2_K: `t₀ = Σ_{first 16} q·a`, `t₁` likewise, and `μ = m₀·h₀ + m₁·h₁`, exactly, then
//!   `acc = fma(t₀, (d·sc₀)·dₓ, acc)`, `acc = fma(t₁, (d·sc₁)·dₓ, acc)` and
//!   `acc = fma(μ, dmin·(−dₓ), acc)`.
//!
//! `d·sc` and `dmin·m` are exact in f32 (an 11-bit mantissa times a 6- or 8-bit integer), so
//! computing them once per super-block (SIMD) or per use (portable) gives the same values;
//! the integer sums are exact whatever their order (Q2_K's μ, below 2²⁴, is exact in f32 too,
//! which the SIMD paths compute it in); and the f32 steps are the same operations in the same
//! order on every path. Sub-blocks are combined in input order, so an output's
//! arithmetic depends only on its row and column, as for the other layouts (`quant.rs`).

use super::isa::Isa;
use super::kquant::{KSUB, Q2KBlock, Q3KBlock, Q4KBlock, Q5KBlock, Q6KBlock};
use super::quant::{QBLOCK, QuantizedRows, TILE};

/// A K-quant tile: the super-blocks of 16 rows, in input order.
#[derive(Clone, Copy)]
pub enum KTile<'a> {
    Q2K(&'a [Q2KBlock]),
    Q3K(&'a [Q3KBlock]),
    Q4K(&'a [Q4KBlock]),
    Q5K(&'a [Q5KBlock]),
    Q6K(&'a [Q6KBlock]),
}

/// Q4_K and Q5_K tiles: the 4-bit part and, for Q5_K, the fifth-bit plane.
pub trait Q45Block {
    fn low(&self) -> &Q4KBlock;
    fn fifth(&self) -> Option<&[[u8; 64]; KSUB]>;
}

impl Q45Block for Q4KBlock {
    #[inline(always)]
    fn low(&self) -> &Q4KBlock {
        self
    }
    #[inline(always)]
    fn fifth(&self) -> Option<&[[u8; 64]; KSUB]> {
        None
    }
}

impl Q45Block for Q5KBlock {
    #[inline(always)]
    fn low(&self) -> &Q4KBlock {
        &self.low
    }
    #[inline(always)]
    fn fifth(&self) -> Option<&[[u8; 64]; KSUB]> {
        Some(&self.qh)
    }
}

/// Multiplies all of `xq`'s rows by one tile; `store(r, lanes)` receives row r's 16 outputs.
///
/// # Safety
/// `isa` must be available on this CPU (as `detected_isa` guarantees).
pub unsafe fn k_tile(
    isa: Isa,
    tile: KTile<'_>,
    xq: &QuantizedRows,
    store: &mut dyn FnMut(usize, &[f32; TILE]),
) {
    match (isa, tile) {
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512Vnni, KTile::Q2K(b)) => unsafe { x86::q2_tile_avx512(b, xq, store) },
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512Vnni, KTile::Q3K(b)) => unsafe { x86::q3_tile_avx512(b, xq, store) },
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512Vnni, KTile::Q4K(b)) => unsafe { x86::q45_tile_avx512(b, xq, store) },
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512Vnni, KTile::Q5K(b)) => unsafe { x86::q45_tile_avx512(b, xq, store) },
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512Vnni, KTile::Q6K(b)) => unsafe { x86::q6_tile_avx512(b, xq, store) },
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx2, KTile::Q2K(b)) => unsafe { x86::q2_tile_avx2(b, xq, store) },
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx2, KTile::Q3K(b)) => unsafe { x86::q3_tile_avx2(b, xq, store) },
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx2, KTile::Q4K(b)) => unsafe { x86::q45_tile_avx2(b, xq, store) },
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx2, KTile::Q5K(b)) => unsafe { x86::q45_tile_avx2(b, xq, store) },
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx2, KTile::Q6K(b)) => unsafe { x86::q6_tile_avx2(b, xq, store) },
        (_, KTile::Q2K(b)) => q2_tile_portable(b, xq, store),
        (_, KTile::Q3K(b)) => q3_tile_portable(b, xq, store),
        (_, KTile::Q4K(b)) => q45_tile_portable(b, xq, store),
        (_, KTile::Q5K(b)) => q45_tile_portable(b, xq, store),
        (_, KTile::Q6K(b)) => q6_tile_portable(b, xq, store),
    }
}

/// The code of input `i` (0..32) of lane `lane` in a sub-block's nibble bytes.
#[inline(always)]
fn nibble(qs: &[u8; 256], lane: usize, i: usize) -> u8 {
    let byte = qs[((i % 16) / 4) * 64 + lane * 4 + i % 4];
    if i < 16 { byte & 15 } else { byte >> 4 }
}

/// The 2-bit code of input `i` (0..32) of lane `lane` in a Q2_K/Q3_K sub-block's code bytes.
#[inline(always)]
fn crumb(qs: &[u8; 128], lane: usize, i: usize) -> u8 {
    let (h, c, k) = (i / 16, (i % 16) / 4, i % 4);
    (qs[h * 64 + lane * 4 + k] >> (2 * c)) & 3
}

/// The bit of input `i` (0..32) of lane `lane` in a Q5_K/Q3_K bit plane.
#[inline(always)]
fn plane_bit(qh: &[u8; 64], lane: usize, i: usize) -> u8 {
    let (c, k) = ((i % 16) / 4, i % 4);
    let shift = if i < 16 { c } else { 4 + c };
    (qh[lane * 4 + k] >> shift) & 1
}

fn q2_tile_portable(
    blocks: &[Q2KBlock],
    xq: &QuantizedRows,
    store: &mut dyn FnMut(usize, &[f32; TILE]),
) {
    let nb = blocks.len() * KSUB;
    for r in 0..xq.rows {
        let mut acc = [0f32; TILE];
        for (s, blk) in blocks.iter().enumerate() {
            for j in 0..KSUB {
                let b = s * KSUB + j;
                let a = &xq.qs[r * xq.cols + b * QBLOCK..][..QBLOCK];
                let dx = xq.d[r * nb + b];
                let halves = [
                    xq.half_sums[2 * (r * nb + b)],
                    xq.half_sums[2 * (r * nb + b) + 1],
                ];
                for (l, acc) in acc.iter_mut().enumerate() {
                    let mut sums = [0i32; 2];
                    for (i, &x) in a.iter().enumerate() {
                        sums[i / 16] += i32::from(crumb(&blk.qs[j], l, i)) * i32::from(x);
                    }
                    let (d, dmin) = (blk.d[l].to_f32(), blk.dmin[l].to_f32());
                    let mut mins = 0i32;
                    for h in 0..2 {
                        let packed = blk.scales[j][h * TILE + l];
                        let scale = d * f32::from(packed & 15);
                        *acc = (sums[h] as f32).mul_add(scale * dx, *acc);
                        mins += i32::from(packed >> 4) * halves[h];
                    }
                    *acc = (mins as f32).mul_add(dmin * -dx, *acc);
                }
            }
        }
        store(r, &acc);
    }
}

fn q3_tile_portable(
    blocks: &[Q3KBlock],
    xq: &QuantizedRows,
    store: &mut dyn FnMut(usize, &[f32; TILE]),
) {
    let nb = blocks.len() * KSUB;
    for r in 0..xq.rows {
        let mut acc = [0f32; TILE];
        for (s, blk) in blocks.iter().enumerate() {
            for j in 0..KSUB {
                let b = s * KSUB + j;
                let a = &xq.qs[r * xq.cols + b * QBLOCK..][..QBLOCK];
                let dx = xq.d[r * nb + b];
                let halves = [
                    xq.half_sums[2 * (r * nb + b)],
                    xq.half_sums[2 * (r * nb + b) + 1],
                ];
                for (l, acc) in acc.iter_mut().enumerate() {
                    let mut sums = [0i32; 2];
                    for (i, &x) in a.iter().enumerate() {
                        let q = crumb(&blk.qs[j], l, i) | (plane_bit(&blk.qh[j], l, i) << 2);
                        sums[i / 16] += i32::from(q) * i32::from(x);
                    }
                    let d = blk.d[l].to_f32();
                    for h in 0..2 {
                        let t = sums[h] - 4 * halves[h];
                        let scale = d * f32::from(blk.scales[j][h * TILE + l]);
                        *acc = (t as f32).mul_add(scale * dx, *acc);
                    }
                }
            }
        }
        store(r, &acc);
    }
}

fn q45_tile_portable<B: Q45Block>(
    blocks: &[B],
    xq: &QuantizedRows,
    store: &mut dyn FnMut(usize, &[f32; TILE]),
) {
    let nb = blocks.len() * KSUB;
    for r in 0..xq.rows {
        let mut acc = [0f32; TILE];
        for (s, sb) in blocks.iter().enumerate() {
            let blk = sb.low();
            for j in 0..KSUB {
                let b = s * KSUB + j;
                let a = &xq.qs[r * xq.cols + b * QBLOCK..][..QBLOCK];
                let (dx, sx) = (xq.d[r * nb + b], xq.s[r * nb + b]);
                for (l, acc) in acc.iter_mut().enumerate() {
                    let mut isum = 0i32;
                    for (i, &x) in a.iter().enumerate() {
                        let mut q = nibble(&blk.qs[j], l, i);
                        if let Some(qh) = sb.fifth() {
                            q |= plane_bit(&qh[j], l, i) << 4;
                        }
                        isum += i32::from(q) * i32::from(x);
                    }
                    let scale = blk.d[l].to_f32() * f32::from(blk.scale(j, l));
                    let min = blk.dmin[l].to_f32() * f32::from(blk.min(j, l));
                    *acc = (isum as f32).mul_add(scale * dx, *acc);
                    *acc = min.mul_add(-sx, *acc);
                }
            }
        }
        store(r, &acc);
    }
}

fn q6_tile_portable(
    blocks: &[Q6KBlock],
    xq: &QuantizedRows,
    store: &mut dyn FnMut(usize, &[f32; TILE]),
) {
    let nb = blocks.len() * KSUB;
    for r in 0..xq.rows {
        let mut acc = [0f32; TILE];
        for (s, blk) in blocks.iter().enumerate() {
            for j in 0..KSUB {
                let b = s * KSUB + j;
                let a = &xq.qs[r * xq.cols + b * QBLOCK..][..QBLOCK];
                let dx = xq.d[r * nb + b];
                let halves = [
                    xq.half_sums[2 * (r * nb + b)],
                    xq.half_sums[2 * (r * nb + b) + 1],
                ];
                for (l, acc) in acc.iter_mut().enumerate() {
                    let mut sums = [0i32; 2];
                    for (i, &x) in a.iter().enumerate() {
                        let (c, k) = ((i % 16) / 4, i % 4);
                        let plane = if i < 16 { 0 } else { 64 };
                        let high = (blk.qh[j][plane + l * 4 + k] >> (2 * c)) & 3;
                        let q = nibble(&blk.ql[j], l, i) | (high << 4);
                        sums[i / 16] += i32::from(q) * i32::from(x);
                    }
                    let d = blk.d[l].to_f32();
                    for h in 0..2 {
                        let t = sums[h] - 32 * halves[h];
                        let scale = d * f32::from(blk.scales[j][h * TILE + l]);
                        *acc = (t as f32).mul_add(scale * dx, *acc);
                    }
                }
            }
        }
        store(r, &acc);
    }
}

/// Q5_K and the U5 tile (`quant::U5Block`): the fifth bits of nibble group `c` moved to bit 4
/// of each byte (low nibbles: bit c of the plane byte; high nibbles: bit 4 + c). Shifts of
/// 16-bit lanes by at most 4 carry no neighbour's bit into bit 4; callers mask it.
macro_rules! fifth_bits {
    ($sll:ident, $srl:ident, $h:expr, $c:expr, $high:expr) => {{
        let h = $h;
        if $high {
            match $c {
                0 => h,
                1 => $srl::<1>(h),
                2 => $srl::<2>(h),
                _ => $srl::<3>(h),
            }
        } else {
            match $c {
                0 => $sll::<4>(h),
                1 => $sll::<3>(h),
                2 => $sll::<2>(h),
                _ => $sll::<1>(h),
            }
        }
    }};
}
#[cfg(target_arch = "x86_64")]
pub(super) use fifth_bits;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use std::arch::x86_64::*;

    /// Super-blocks ahead of the one being multiplied whose lines are requested now (each is
    /// 2.3–3.4 KB; see `kernels.rs` for why prefetching helps).
    const PREFETCH_SUPERBLOCKS: usize = 2;

    /// Requests part `j` (of `KSUB`) of the lines of the super-block `PREFETCH_SUPERBLOCKS`
    /// after `blk`: spread over the sub-blocks, because 37–53 requests at once overflow the
    /// core's line-fill buffers and most of them are dropped (measured: the loads then stall
    /// as if nothing had been prefetched).
    #[inline(always)]
    fn prefetch_ahead<B>(blk: &B, j: usize) {
        let ahead = (blk as *const B).wrapping_add(PREFETCH_SUPERBLOCKS) as *const i8;
        let lines = std::mem::size_of::<B>().div_ceil(64);
        let part = lines.div_ceil(KSUB);
        for line in (j * part..((j + 1) * part).min(lines)).map(|l| l * 64) {
            // SAFETY: prefetching is a hint; it never faults, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(line)) };
        }
    }

    /// Sub-block `j`'s 6-bit scales and minimums of the tile's 16 rows, one byte each, unpacked
    /// from [`Q4KBlock`]'s 12 bits a row (SSE2, so every x86-64 path can use it).
    #[inline(always)]
    unsafe fn q4k_scales_mins(blk: &Q4KBlock, j: usize) -> (__m128i, __m128i) {
        unsafe {
            let low = _mm_loadu_si128(blk.scale_min_low[j].as_ptr() as *const __m128i);
            let high = _mm_loadu_si128(blk.scale_min_high[j / 2].as_ptr() as *const __m128i);
            // An odd sub-block's top bits sit in the high nibbles (bits shifted in from the
            // neighbouring byte are masked off below).
            let high = _mm_srl_epi16(high, _mm_cvtsi32_si128(4 * (j % 2) as i32));
            let nibble = _mm_set1_epi8(0x0f);
            let scales = _mm_or_si128(
                _mm_and_si128(low, nibble),
                _mm_slli_epi16::<4>(_mm_and_si128(high, _mm_set1_epi8(0x03))),
            );
            let mins = _mm_or_si128(
                _mm_and_si128(_mm_srli_epi16::<4>(low), nibble),
                _mm_slli_epi16::<2>(_mm_and_si128(high, _mm_set1_epi8(0x0c))),
            );
            (scales, mins)
        }
    }

    #[inline(always)]
    unsafe fn bcast4(a: *const i8, group: usize) -> i32 {
        unsafe { (a as *const i32).add(group).read_unaligned() }
    }

    /// Q6_K: the two high bits of nibble group `c` (bits 2c, 2c + 1) moved to bits 4 and 5.
    macro_rules! high_pair {
        ($sll:ident, $srl:ident, $h:expr, $c:expr) => {{
            let h = $h;
            match $c {
                0 => $sll::<4>(h),
                1 => $sll::<2>(h),
                2 => h,
                _ => $srl::<2>(h),
            }
        }};
    }

    macro_rules! rows_by_four {
        ($f:ident, $blocks:expr, $xq:expr, $store:expr) => {{
            let mut r = 0;
            while r < $xq.rows {
                let left = $xq.rows - r;
                unsafe {
                    match left {
                        1 => $f::<_, 1>($blocks, $xq, r, $store),
                        2 => $f::<_, 2>($blocks, $xq, r, $store),
                        3 => $f::<_, 3>($blocks, $xq, r, $store),
                        _ => $f::<_, 4>($blocks, $xq, r, $store),
                    }
                }
                r += left.min(4);
            }
        }};
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,fma,f16c")]
    pub(super) unsafe fn q45_tile_avx512<B: Q45Block>(
        blocks: &[B],
        xq: &QuantizedRows,
        store: &mut dyn FnMut(usize, &[f32; TILE]),
    ) {
        rows_by_four!(q45_rows_avx512, blocks, xq, store)
    }

    /// Scales of 16 lanes from 16 bytes (unsigned or signed) times the lanes' f32 `d`.
    #[inline(always)]
    unsafe fn scale512(d: __m512, bytes: *const u8, signed: bool) -> __m512 {
        unsafe { scale512_of(d, _mm_loadu_si128(bytes as *const __m128i), signed) }
    }

    /// [`scale512`] of 16 bytes already in a register.
    #[inline(always)]
    unsafe fn scale512_of(d: __m512, raw: __m128i, signed: bool) -> __m512 {
        unsafe {
            let wide = if signed {
                _mm512_cvtepi8_epi32(raw)
            } else {
                _mm512_cvtepu8_epi32(raw)
            };
            _mm512_mul_ps(d, _mm512_cvtepi32_ps(wide))
        }
    }

    #[inline(always)]
    unsafe fn rows_store<const MR: usize>(
        acc: &[__m512; MR],
        r0: usize,
        store: &mut dyn FnMut(usize, &[f32; TILE]),
    ) {
        for (i, acc) in acc.iter().enumerate() {
            let mut lanes = [0f32; TILE];
            unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), *acc) };
            store(r0 + i, &lanes);
        }
    }

    #[inline(always)]
    unsafe fn q45_rows_avx512<B: Q45Block, const MR: usize>(
        blocks: &[B],
        xq: &QuantizedRows,
        r0: usize,
        store: &mut dyn FnMut(usize, &[f32; TILE]),
    ) {
        unsafe {
            let nb = blocks.len() * KSUB;
            let mask = _mm512_set1_epi8(0x0f);
            let high_mask = _mm512_set1_epi8(0xf0u8 as i8);
            let bit4 = _mm512_set1_epi8(0x10);
            let mut acc = [_mm512_setzero_ps(); MR];
            for (s, sb) in blocks.iter().enumerate() {
                let blk = sb.low();
                let d = _mm512_cvtph_ps(_mm256_loadu_si256(blk.d.as_ptr() as *const __m256i));
                let dmin = _mm512_cvtph_ps(_mm256_loadu_si256(blk.dmin.as_ptr() as *const __m256i));
                for j in 0..KSUB {
                    if r0 == 0 {
                        prefetch_ahead(sb, j);
                    }
                    let (scales, mins) = q4k_scales_mins(blk, j);
                    let scale = scale512_of(d, scales, false);
                    let min = scale512_of(dmin, mins, false);
                    let p = blk.qs[j].as_ptr() as *const __m512i;
                    let h = sb
                        .fifth()
                        .map(|qh| _mm512_load_si512(qh[j].as_ptr() as *const __m512i));
                    // Written out element by element: built with `map`/`from_fn` and then
                    // changed, the arrays went through memory (memcpy calls in the loop).
                    // Q4_K's high nibbles stay in place (16·q, at most 240 as a u8 factor),
                    // saving a shift per 64 bytes; their sum is divided by 16 below, exactly.
                    let codes = |c: usize, high: bool| {
                        let raw = _mm512_load_si512(p.add(c));
                        let nib = match (high, h.is_some()) {
                            (true, true) => _mm512_and_si512(_mm512_srli_epi16::<4>(raw), mask),
                            (true, false) => _mm512_and_si512(raw, high_mask),
                            (false, _) => _mm512_and_si512(raw, mask),
                        };
                        match h {
                            Some(h) => {
                                let bit = if high {
                                    fifth_bits!(_mm512_slli_epi16, _mm512_srli_epi16, h, c, true)
                                } else {
                                    fifth_bits!(_mm512_slli_epi16, _mm512_srli_epi16, h, c, false)
                                };
                                _mm512_or_si512(nib, _mm512_and_si512(bit, bit4))
                            }
                            None => nib,
                        }
                    };
                    let lo = [
                        codes(0, false),
                        codes(1, false),
                        codes(2, false),
                        codes(3, false),
                    ];
                    let hi = [
                        codes(0, true),
                        codes(1, true),
                        codes(2, true),
                        codes(3, true),
                    ];
                    let b = s * KSUB + j;
                    for (i, acc) in acc.iter_mut().enumerate() {
                        let r = r0 + i;
                        let a = xq.qs.as_ptr().add(r * xq.cols + b * QBLOCK);
                        let mut s0 = _mm512_setzero_si512();
                        let mut s1 = _mm512_setzero_si512();
                        for c in 0..4 {
                            s0 = _mm512_dpbusd_epi32(s0, lo[c], _mm512_set1_epi32(bcast4(a, c)));
                            s1 =
                                _mm512_dpbusd_epi32(s1, hi[c], _mm512_set1_epi32(bcast4(a, 4 + c)));
                        }
                        if h.is_none() {
                            s1 = _mm512_srai_epi32::<4>(s1);
                        }
                        let isum = _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1));
                        let dx = _mm512_set1_ps(xq.d[r * nb + b]);
                        *acc = _mm512_fmadd_ps(isum, _mm512_mul_ps(scale, dx), *acc);
                        *acc = _mm512_fmadd_ps(min, _mm512_set1_ps(-xq.s[r * nb + b]), *acc);
                    }
                }
            }
            rows_store(&acc, r0, store);
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,fma,f16c")]
    pub(super) unsafe fn q6_tile_avx512(
        blocks: &[Q6KBlock],
        xq: &QuantizedRows,
        store: &mut dyn FnMut(usize, &[f32; TILE]),
    ) {
        rows_by_four!(q6_rows_avx512, blocks, xq, store)
    }

    #[inline(always)]
    unsafe fn q6_rows_avx512<B: Is<Q6KBlock>, const MR: usize>(
        blocks: &[B],
        xq: &QuantizedRows,
        r0: usize,
        store: &mut dyn FnMut(usize, &[f32; TILE]),
    ) {
        unsafe {
            let nb = blocks.len() * KSUB;
            let mask = _mm512_set1_epi8(0x0f);
            let bits45 = _mm512_set1_epi8(0x30);
            let mut acc = [_mm512_setzero_ps(); MR];
            for (s, blk) in blocks.iter().enumerate() {
                let blk = blk.get();
                let d = _mm512_cvtph_ps(_mm256_loadu_si256(blk.d.as_ptr() as *const __m256i));
                for j in 0..KSUB {
                    if r0 == 0 {
                        prefetch_ahead(blk, j);
                    }
                    let scale_lo = scale512(d, blk.scales[j].as_ptr() as *const u8, true);
                    let scale_hi = scale512(d, blk.scales[j][TILE..].as_ptr() as *const u8, true);
                    let p = blk.ql[j].as_ptr() as *const __m512i;
                    let ph = blk.qh[j].as_ptr() as *const __m512i;
                    let (h0, h1) = (_mm512_load_si512(ph), _mm512_load_si512(ph.add(1)));
                    let codes = |c: usize, high: bool| {
                        let raw = _mm512_load_si512(p.add(c));
                        let (nib, pair) = if high {
                            (
                                _mm512_srli_epi16::<4>(raw),
                                high_pair!(_mm512_slli_epi16, _mm512_srli_epi16, h1, c),
                            )
                        } else {
                            (raw, high_pair!(_mm512_slli_epi16, _mm512_srli_epi16, h0, c))
                        };
                        _mm512_or_si512(_mm512_and_si512(nib, mask), _mm512_and_si512(pair, bits45))
                    };
                    let lo = [
                        codes(0, false),
                        codes(1, false),
                        codes(2, false),
                        codes(3, false),
                    ];
                    let hi = [
                        codes(0, true),
                        codes(1, true),
                        codes(2, true),
                        codes(3, true),
                    ];
                    let b = s * KSUB + j;
                    for (i, acc) in acc.iter_mut().enumerate() {
                        let r = r0 + i;
                        let a = xq.qs.as_ptr().add(r * xq.cols + b * QBLOCK);
                        let mut s0 = _mm512_set1_epi32(-32 * xq.half_sums[2 * (r * nb + b)]);
                        let mut s1 = _mm512_set1_epi32(-32 * xq.half_sums[2 * (r * nb + b) + 1]);
                        for c in 0..4 {
                            s0 = _mm512_dpbusd_epi32(s0, lo[c], _mm512_set1_epi32(bcast4(a, c)));
                            s1 =
                                _mm512_dpbusd_epi32(s1, hi[c], _mm512_set1_epi32(bcast4(a, 4 + c)));
                        }
                        let dx = _mm512_set1_ps(xq.d[r * nb + b]);
                        let t0 = _mm512_cvtepi32_ps(s0);
                        let t1 = _mm512_cvtepi32_ps(s1);
                        *acc = _mm512_fmadd_ps(t0, _mm512_mul_ps(scale_lo, dx), *acc);
                        *acc = _mm512_fmadd_ps(t1, _mm512_mul_ps(scale_hi, dx), *acc);
                    }
                }
            }
            rows_store(&acc, r0, store);
        }
    }

    /// Lets `rows_by_four!` name the Q2_K, Q3_K and Q6_K row functions with the same generic
    /// shape as Q4_K's (`B` is always `T` itself).
    pub(super) trait Is<T> {
        fn get(&self) -> &T;
    }
    impl<T> Is<T> for T {
        #[inline(always)]
        fn get(&self) -> &T {
            self
        }
    }

    /// Q2_K/Q3_K: the 2-bit codes of input group `c` (bits 2c, 2c + 1) moved to bits 0 and 1.
    macro_rules! crumbs {
        ($srl:ident, $v:expr, $c:expr) => {{
            let v = $v;
            match $c {
                0 => v,
                1 => $srl::<2>(v),
                2 => $srl::<4>(v),
                _ => $srl::<6>(v),
            }
        }};
    }

    /// Q3_K: the third bit of input group `c` (low half: bit c; high half: bit 4 + c) moved to
    /// bit 2.
    macro_rules! third_bit {
        ($sll:ident, $srl:ident, $h:expr, $c:expr, $high:expr) => {{
            let h = $h;
            if $high {
                match $c {
                    0 => $srl::<2>(h),
                    1 => $srl::<3>(h),
                    2 => $srl::<4>(h),
                    _ => $srl::<5>(h),
                }
            } else {
                match $c {
                    0 => $sll::<2>(h),
                    1 => $sll::<1>(h),
                    2 => h,
                    _ => $srl::<1>(h),
                }
            }
        }};
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,fma,f16c")]
    pub(super) unsafe fn q2_tile_avx512(
        blocks: &[Q2KBlock],
        xq: &QuantizedRows,
        store: &mut dyn FnMut(usize, &[f32; TILE]),
    ) {
        rows_by_four!(q2_rows_avx512, blocks, xq, store)
    }

    #[inline(always)]
    unsafe fn q2_rows_avx512<B: Is<Q2KBlock>, const MR: usize>(
        blocks: &[B],
        xq: &QuantizedRows,
        r0: usize,
        store: &mut dyn FnMut(usize, &[f32; TILE]),
    ) {
        unsafe {
            let nb = blocks.len() * KSUB;
            let mask = _mm512_set1_epi8(3);
            let low4 = _mm512_set1_epi32(15);
            let mut acc = [_mm512_setzero_ps(); MR];
            for (s, blk) in blocks.iter().enumerate() {
                let blk = blk.get();
                let d = _mm512_cvtph_ps(_mm256_loadu_si256(blk.d.as_ptr() as *const __m256i));
                let dmin = _mm512_cvtph_ps(_mm256_loadu_si256(blk.dmin.as_ptr() as *const __m256i));
                for j in 0..KSUB {
                    if r0 == 0 {
                        prefetch_ahead(blk, j);
                    }
                    // sc | m << 4 per lane, for each half.
                    let packed = |h: usize| {
                        let raw =
                            _mm_loadu_si128(blk.scales[j][h * TILE..].as_ptr() as *const __m128i);
                        _mm512_cvtepu8_epi32(raw)
                    };
                    let (p0, p1) = (packed(0), packed(1));
                    let scale_lo = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_and_si512(p0, low4)));
                    let scale_hi = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_and_si512(p1, low4)));
                    let m_lo = _mm512_cvtepi32_ps(_mm512_srli_epi32::<4>(p0));
                    let m_hi = _mm512_cvtepi32_ps(_mm512_srli_epi32::<4>(p1));
                    let p = blk.qs[j].as_ptr() as *const __m512i;
                    let (v0, v1) = (_mm512_load_si512(p), _mm512_load_si512(p.add(1)));
                    let codes = |v: __m512i, c: usize| {
                        _mm512_and_si512(crumbs!(_mm512_srli_epi16, v, c), mask)
                    };
                    let lo = [codes(v0, 0), codes(v0, 1), codes(v0, 2), codes(v0, 3)];
                    let hi = [codes(v1, 0), codes(v1, 1), codes(v1, 2), codes(v1, 3)];
                    let b = s * KSUB + j;
                    for (i, acc) in acc.iter_mut().enumerate() {
                        let r = r0 + i;
                        let a = xq.qs.as_ptr().add(r * xq.cols + b * QBLOCK);
                        let mut s0 = _mm512_setzero_si512();
                        let mut s1 = _mm512_setzero_si512();
                        for c in 0..4 {
                            s0 = _mm512_dpbusd_epi32(s0, lo[c], _mm512_set1_epi32(bcast4(a, c)));
                            s1 =
                                _mm512_dpbusd_epi32(s1, hi[c], _mm512_set1_epi32(bcast4(a, 4 + c)));
                        }
                        let h0 = xq.half_sums[2 * (r * nb + b)] as f32;
                        let h1 = xq.half_sums[2 * (r * nb + b) + 1] as f32;
                        // m₀·h₀ + m₁·h₁: integers below 2²⁴, so exact in f32.
                        let mins = _mm512_fmadd_ps(
                            m_hi,
                            _mm512_set1_ps(h1),
                            _mm512_mul_ps(m_lo, _mm512_set1_ps(h0)),
                        );
                        let dx = xq.d[r * nb + b];
                        let dxv = _mm512_set1_ps(dx);
                        let t0 = _mm512_cvtepi32_ps(s0);
                        let t1 = _mm512_cvtepi32_ps(s1);
                        *acc = _mm512_fmadd_ps(t0, _mm512_mul_ps(scale_lo, dxv), *acc);
                        *acc = _mm512_fmadd_ps(t1, _mm512_mul_ps(scale_hi, dxv), *acc);
                        *acc =
                            _mm512_fmadd_ps(mins, _mm512_mul_ps(dmin, _mm512_set1_ps(-dx)), *acc);
                    }
                }
            }
            rows_store(&acc, r0, store);
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,fma,f16c")]
    pub(super) unsafe fn q3_tile_avx512(
        blocks: &[Q3KBlock],
        xq: &QuantizedRows,
        store: &mut dyn FnMut(usize, &[f32; TILE]),
    ) {
        rows_by_four!(q3_rows_avx512, blocks, xq, store)
    }

    #[inline(always)]
    unsafe fn q3_rows_avx512<B: Is<Q3KBlock>, const MR: usize>(
        blocks: &[B],
        xq: &QuantizedRows,
        r0: usize,
        store: &mut dyn FnMut(usize, &[f32; TILE]),
    ) {
        unsafe {
            let nb = blocks.len() * KSUB;
            let mask = _mm512_set1_epi8(3);
            let bit2 = _mm512_set1_epi8(4);
            let mut acc = [_mm512_setzero_ps(); MR];
            for (s, blk) in blocks.iter().enumerate() {
                let blk = blk.get();
                let d = _mm512_cvtph_ps(_mm256_loadu_si256(blk.d.as_ptr() as *const __m256i));
                for j in 0..KSUB {
                    if r0 == 0 {
                        prefetch_ahead(blk, j);
                    }
                    let scale_lo = scale512(d, blk.scales[j].as_ptr() as *const u8, true);
                    let scale_hi = scale512(d, blk.scales[j][TILE..].as_ptr() as *const u8, true);
                    let p = blk.qs[j].as_ptr() as *const __m512i;
                    // Unaligned: Q3KBlock is aligned to 32 bytes only.
                    let (v0, v1) = (_mm512_loadu_si512(p), _mm512_loadu_si512(p.add(1)));
                    let h = _mm512_loadu_si512(blk.qh[j].as_ptr() as *const __m512i);
                    let codes = |c: usize, high: bool| {
                        let (v, bit) = if high {
                            (
                                v1,
                                third_bit!(_mm512_slli_epi16, _mm512_srli_epi16, h, c, true),
                            )
                        } else {
                            (
                                v0,
                                third_bit!(_mm512_slli_epi16, _mm512_srli_epi16, h, c, false),
                            )
                        };
                        _mm512_or_si512(
                            _mm512_and_si512(crumbs!(_mm512_srli_epi16, v, c), mask),
                            _mm512_and_si512(bit, bit2),
                        )
                    };
                    let lo = [
                        codes(0, false),
                        codes(1, false),
                        codes(2, false),
                        codes(3, false),
                    ];
                    let hi = [
                        codes(0, true),
                        codes(1, true),
                        codes(2, true),
                        codes(3, true),
                    ];
                    let b = s * KSUB + j;
                    for (i, acc) in acc.iter_mut().enumerate() {
                        let r = r0 + i;
                        let a = xq.qs.as_ptr().add(r * xq.cols + b * QBLOCK);
                        let mut s0 = _mm512_set1_epi32(-4 * xq.half_sums[2 * (r * nb + b)]);
                        let mut s1 = _mm512_set1_epi32(-4 * xq.half_sums[2 * (r * nb + b) + 1]);
                        for c in 0..4 {
                            s0 = _mm512_dpbusd_epi32(s0, lo[c], _mm512_set1_epi32(bcast4(a, c)));
                            s1 =
                                _mm512_dpbusd_epi32(s1, hi[c], _mm512_set1_epi32(bcast4(a, 4 + c)));
                        }
                        let dx = _mm512_set1_ps(xq.d[r * nb + b]);
                        let t0 = _mm512_cvtepi32_ps(s0);
                        let t1 = _mm512_cvtepi32_ps(s1);
                        *acc = _mm512_fmadd_ps(t0, _mm512_mul_ps(scale_lo, dx), *acc);
                        *acc = _mm512_fmadd_ps(t1, _mm512_mul_ps(scale_hi, dx), *acc);
                    }
                }
            }
            rows_store(&acc, r0, store);
        }
    }

    /// Sum of 4 byte products per 32-bit lane, u8 codes (≤ 63) times i8 activations, exact:
    /// pairs fit in i16 because 2·63·127 < 32768.
    #[inline(always)]
    unsafe fn dot4_avx2(w: __m256i, a: __m256i) -> __m256i {
        unsafe { _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), _mm256_set1_epi16(1)) }
    }

    /// Scales of 8 lanes from 8 bytes (unsigned or signed) times the lanes' f32 `d`.
    #[inline(always)]
    unsafe fn scale256(d: __m256, bytes: *const u8, signed: bool) -> __m256 {
        unsafe { scale256_of(d, _mm_loadl_epi64(bytes as *const __m128i), signed) }
    }

    /// [`scale256`] of the low 8 bytes of a register.
    #[inline(always)]
    unsafe fn scale256_of(d: __m256, raw: __m128i, signed: bool) -> __m256 {
        unsafe {
            let wide = if signed {
                _mm256_cvtepi8_epi32(raw)
            } else {
                _mm256_cvtepu8_epi32(raw)
            };
            _mm256_mul_ps(d, _mm256_cvtepi32_ps(wide))
        }
    }

    #[inline(always)]
    unsafe fn half_f16(v: &[half::f16; TILE], half: usize) -> __m256 {
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(v.as_ptr().add(8 * half) as *const __m128i)) }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn q45_tile_avx2<B: Q45Block>(
        blocks: &[B],
        xq: &QuantizedRows,
        store: &mut dyn FnMut(usize, &[f32; TILE]),
    ) {
        unsafe {
            let nb = blocks.len() * KSUB;
            let mask = _mm256_set1_epi8(0x0f);
            let bit4 = _mm256_set1_epi8(0x10);
            for r in 0..xq.rows {
                let mut acc = [_mm256_setzero_ps(); 2];
                for (s, sb) in blocks.iter().enumerate() {
                    let blk = sb.low();
                    for (half, acc) in acc.iter_mut().enumerate() {
                        let d = half_f16(&blk.d, half);
                        let dmin = half_f16(&blk.dmin, half);
                        for j in 0..KSUB {
                            let (scales, mins) = q4k_scales_mins(blk, j);
                            let (scales, mins) = if half == 0 {
                                (scales, mins)
                            } else {
                                (_mm_srli_si128::<8>(scales), _mm_srli_si128::<8>(mins))
                            };
                            let scale = scale256_of(d, scales, false);
                            let min = scale256_of(dmin, mins, false);
                            let b = s * KSUB + j;
                            let a = xq.qs.as_ptr().add(r * xq.cols + b * QBLOCK);
                            let h = sb.fifth().map(|qh| {
                                _mm256_loadu_si256(qh[j].as_ptr().add(32 * half) as *const __m256i)
                            });
                            let mut isum = _mm256_setzero_si256();
                            for c in 0..4 {
                                let raw =
                                    _mm256_loadu_si256(blk.qs[j].as_ptr().add(c * 64 + half * 32)
                                        as *const __m256i);
                                let mut lo = _mm256_and_si256(raw, mask);
                                let mut hi = _mm256_and_si256(_mm256_srli_epi16::<4>(raw), mask);
                                if let Some(h) = h {
                                    let l = fifth_bits!(
                                        _mm256_slli_epi16,
                                        _mm256_srli_epi16,
                                        h,
                                        c,
                                        false
                                    );
                                    let u = fifth_bits!(
                                        _mm256_slli_epi16,
                                        _mm256_srli_epi16,
                                        h,
                                        c,
                                        true
                                    );
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
                            let dx = _mm256_set1_ps(xq.d[r * nb + b]);
                            *acc = _mm256_fmadd_ps(
                                _mm256_cvtepi32_ps(isum),
                                _mm256_mul_ps(scale, dx),
                                *acc,
                            );
                            *acc = _mm256_fmadd_ps(min, _mm256_set1_ps(-xq.s[r * nb + b]), *acc);
                        }
                    }
                }
                let mut lanes = [0f32; TILE];
                _mm256_storeu_ps(lanes.as_mut_ptr(), acc[0]);
                _mm256_storeu_ps(lanes.as_mut_ptr().add(8), acc[1]);
                store(r, &lanes);
            }
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn q6_tile_avx2(
        blocks: &[Q6KBlock],
        xq: &QuantizedRows,
        store: &mut dyn FnMut(usize, &[f32; TILE]),
    ) {
        unsafe {
            let nb = blocks.len() * KSUB;
            let mask = _mm256_set1_epi8(0x0f);
            let bits45 = _mm256_set1_epi8(0x30);
            for r in 0..xq.rows {
                let mut acc = [_mm256_setzero_ps(); 2];
                for (s, blk) in blocks.iter().enumerate() {
                    for (half, acc) in acc.iter_mut().enumerate() {
                        let d = half_f16(&blk.d, half);
                        for j in 0..KSUB {
                            let sc = blk.scales[j].as_ptr() as *const u8;
                            let scale_lo = scale256(d, sc.add(8 * half), true);
                            let scale_hi = scale256(d, sc.add(TILE + 8 * half), true);
                            let b = s * KSUB + j;
                            let a = xq.qs.as_ptr().add(r * xq.cols + b * QBLOCK);
                            let ph = blk.qh[j].as_ptr().add(32 * half);
                            let h0 = _mm256_loadu_si256(ph as *const __m256i);
                            let h1 = _mm256_loadu_si256(ph.add(64) as *const __m256i);
                            let mut s0 = _mm256_set1_epi32(-32 * xq.half_sums[2 * (r * nb + b)]);
                            let mut s1 =
                                _mm256_set1_epi32(-32 * xq.half_sums[2 * (r * nb + b) + 1]);
                            for c in 0..4 {
                                let raw =
                                    _mm256_loadu_si256(blk.ql[j].as_ptr().add(c * 64 + half * 32)
                                        as *const __m256i);
                                let lo = _mm256_or_si256(
                                    _mm256_and_si256(raw, mask),
                                    _mm256_and_si256(
                                        high_pair!(_mm256_slli_epi16, _mm256_srli_epi16, h0, c),
                                        bits45,
                                    ),
                                );
                                let hi = _mm256_or_si256(
                                    _mm256_and_si256(_mm256_srli_epi16::<4>(raw), mask),
                                    _mm256_and_si256(
                                        high_pair!(_mm256_slli_epi16, _mm256_srli_epi16, h1, c),
                                        bits45,
                                    ),
                                );
                                s0 = _mm256_add_epi32(
                                    s0,
                                    dot4_avx2(lo, _mm256_set1_epi32(bcast4(a, c))),
                                );
                                s1 = _mm256_add_epi32(
                                    s1,
                                    dot4_avx2(hi, _mm256_set1_epi32(bcast4(a, 4 + c))),
                                );
                            }
                            let dx = _mm256_set1_ps(xq.d[r * nb + b]);
                            *acc = _mm256_fmadd_ps(
                                _mm256_cvtepi32_ps(s0),
                                _mm256_mul_ps(scale_lo, dx),
                                *acc,
                            );
                            *acc = _mm256_fmadd_ps(
                                _mm256_cvtepi32_ps(s1),
                                _mm256_mul_ps(scale_hi, dx),
                                *acc,
                            );
                        }
                    }
                }
                let mut lanes = [0f32; TILE];
                _mm256_storeu_ps(lanes.as_mut_ptr(), acc[0]);
                _mm256_storeu_ps(lanes.as_mut_ptr().add(8), acc[1]);
                store(r, &lanes);
            }
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn q2_tile_avx2(
        blocks: &[Q2KBlock],
        xq: &QuantizedRows,
        store: &mut dyn FnMut(usize, &[f32; TILE]),
    ) {
        unsafe {
            let nb = blocks.len() * KSUB;
            let mask = _mm256_set1_epi8(3);
            let low4 = _mm256_set1_epi32(15);
            for r in 0..xq.rows {
                let mut acc = [_mm256_setzero_ps(); 2];
                for (s, blk) in blocks.iter().enumerate() {
                    for (half, acc) in acc.iter_mut().enumerate() {
                        let d = half_f16(&blk.d, half);
                        let dmin = half_f16(&blk.dmin, half);
                        for j in 0..KSUB {
                            let sc = blk.scales[j].as_ptr();
                            let packed = |h: usize| {
                                let raw =
                                    _mm_loadl_epi64(sc.add(h * TILE + 8 * half) as *const __m128i);
                                _mm256_cvtepu8_epi32(raw)
                            };
                            let (p0, p1) = (packed(0), packed(1));
                            let scale_lo =
                                _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_and_si256(p0, low4)));
                            let scale_hi =
                                _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_and_si256(p1, low4)));
                            let m_lo = _mm256_cvtepi32_ps(_mm256_srli_epi32::<4>(p0));
                            let m_hi = _mm256_cvtepi32_ps(_mm256_srli_epi32::<4>(p1));
                            let b = s * KSUB + j;
                            let a = xq.qs.as_ptr().add(r * xq.cols + b * QBLOCK);
                            let p = blk.qs[j].as_ptr().add(32 * half);
                            let v0 = _mm256_loadu_si256(p as *const __m256i);
                            let v1 = _mm256_loadu_si256(p.add(64) as *const __m256i);
                            let mut s0 = _mm256_setzero_si256();
                            let mut s1 = _mm256_setzero_si256();
                            for c in 0..4 {
                                let lo = _mm256_and_si256(crumbs!(_mm256_srli_epi16, v0, c), mask);
                                let hi = _mm256_and_si256(crumbs!(_mm256_srli_epi16, v1, c), mask);
                                s0 = _mm256_add_epi32(
                                    s0,
                                    dot4_avx2(lo, _mm256_set1_epi32(bcast4(a, c))),
                                );
                                s1 = _mm256_add_epi32(
                                    s1,
                                    dot4_avx2(hi, _mm256_set1_epi32(bcast4(a, 4 + c))),
                                );
                            }
                            let h0 = xq.half_sums[2 * (r * nb + b)] as f32;
                            let h1 = xq.half_sums[2 * (r * nb + b) + 1] as f32;
                            let mins = _mm256_fmadd_ps(
                                m_hi,
                                _mm256_set1_ps(h1),
                                _mm256_mul_ps(m_lo, _mm256_set1_ps(h0)),
                            );
                            let dx = xq.d[r * nb + b];
                            let dxv = _mm256_set1_ps(dx);
                            *acc = _mm256_fmadd_ps(
                                _mm256_cvtepi32_ps(s0),
                                _mm256_mul_ps(scale_lo, dxv),
                                *acc,
                            );
                            *acc = _mm256_fmadd_ps(
                                _mm256_cvtepi32_ps(s1),
                                _mm256_mul_ps(scale_hi, dxv),
                                *acc,
                            );
                            *acc = _mm256_fmadd_ps(
                                mins,
                                _mm256_mul_ps(dmin, _mm256_set1_ps(-dx)),
                                *acc,
                            );
                        }
                    }
                }
                let mut lanes = [0f32; TILE];
                _mm256_storeu_ps(lanes.as_mut_ptr(), acc[0]);
                _mm256_storeu_ps(lanes.as_mut_ptr().add(8), acc[1]);
                store(r, &lanes);
            }
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn q3_tile_avx2(
        blocks: &[Q3KBlock],
        xq: &QuantizedRows,
        store: &mut dyn FnMut(usize, &[f32; TILE]),
    ) {
        unsafe {
            let nb = blocks.len() * KSUB;
            let mask = _mm256_set1_epi8(3);
            let bit2 = _mm256_set1_epi8(4);
            for r in 0..xq.rows {
                let mut acc = [_mm256_setzero_ps(); 2];
                for (s, blk) in blocks.iter().enumerate() {
                    for (half, acc) in acc.iter_mut().enumerate() {
                        let d = half_f16(&blk.d, half);
                        for j in 0..KSUB {
                            let sc = blk.scales[j].as_ptr() as *const u8;
                            let scale_lo = scale256(d, sc.add(8 * half), true);
                            let scale_hi = scale256(d, sc.add(TILE + 8 * half), true);
                            let b = s * KSUB + j;
                            let a = xq.qs.as_ptr().add(r * xq.cols + b * QBLOCK);
                            let p = blk.qs[j].as_ptr().add(32 * half);
                            let v0 = _mm256_loadu_si256(p as *const __m256i);
                            let v1 = _mm256_loadu_si256(p.add(64) as *const __m256i);
                            let h = _mm256_loadu_si256(
                                blk.qh[j].as_ptr().add(32 * half) as *const __m256i
                            );
                            let mut s0 = _mm256_set1_epi32(-4 * xq.half_sums[2 * (r * nb + b)]);
                            let mut s1 = _mm256_set1_epi32(-4 * xq.half_sums[2 * (r * nb + b) + 1]);
                            for c in 0..4 {
                                let lo = _mm256_or_si256(
                                    _mm256_and_si256(crumbs!(_mm256_srli_epi16, v0, c), mask),
                                    _mm256_and_si256(
                                        third_bit!(
                                            _mm256_slli_epi16,
                                            _mm256_srli_epi16,
                                            h,
                                            c,
                                            false
                                        ),
                                        bit2,
                                    ),
                                );
                                let hi = _mm256_or_si256(
                                    _mm256_and_si256(crumbs!(_mm256_srli_epi16, v1, c), mask),
                                    _mm256_and_si256(
                                        third_bit!(
                                            _mm256_slli_epi16,
                                            _mm256_srli_epi16,
                                            h,
                                            c,
                                            true
                                        ),
                                        bit2,
                                    ),
                                );
                                s0 = _mm256_add_epi32(
                                    s0,
                                    dot4_avx2(lo, _mm256_set1_epi32(bcast4(a, c))),
                                );
                                s1 = _mm256_add_epi32(
                                    s1,
                                    dot4_avx2(hi, _mm256_set1_epi32(bcast4(a, 4 + c))),
                                );
                            }
                            let dx = _mm256_set1_ps(xq.d[r * nb + b]);
                            *acc = _mm256_fmadd_ps(
                                _mm256_cvtepi32_ps(s0),
                                _mm256_mul_ps(scale_lo, dx),
                                *acc,
                            );
                            *acc = _mm256_fmadd_ps(
                                _mm256_cvtepi32_ps(s1),
                                _mm256_mul_ps(scale_hi, dx),
                                *acc,
                            );
                        }
                    }
                }
                let mut lanes = [0f32; TILE];
                _mm256_storeu_ps(lanes.as_mut_ptr(), acc[0]);
                _mm256_storeu_ps(lanes.as_mut_ptr().add(8), acc[1]);
                store(r, &lanes);
            }
        }
    }
}
