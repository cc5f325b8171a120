//! Weight storage: every matrix the engine multiplies by, in a layout made for its kernels.
//!
//! GGUF files arrive in a dozen block formats. Instead of one kernel per format, the loader
//! converts each weight matrix into one of a few *tiled* layouts, all of them holding 16 output
//! rows side by side so that one SIMD register computes 16 outputs at once:
//!
//! - `U4`, `U5`, `U8`: 4-, 5- and 8-bit unsigned codes, value = d·q + m per 32-value block,
//!   f16 d. The offset m is either stored (f16) or, where the format fixes it as a power-of-two
//!   multiple of d, derived and not stored (`Offsets`), so each GGUF format keeps its own size:
//!   Q4_0 (U4, m = −8d) and Q4_1 (U4, stored m), Q5_0 (U5, m = −16d) and Q5_1 (U5, stored m),
//!   Q8_0 (U8, q + 128, m = −128d), all exactly.
//! - `Q2K`, `Q3K`, `Q4K`, `Q5K`, `Q6K`: the K-quants at their own bit width, converted
//!   exactly, with their 256-value super-blocks and integer sub-block scales (`kquant.rs`).
//! - `F32`, `F16`, `BF16`: dense values, for float checkpoints and the f32 reference mode.
//!
//! A matrix stacked from parts of different quantized formats (Q4_K_M's q and k in Q4_K with v
//! in Q6_K) keeps each part in its own layout (`MatrixData::Stacked`); parts are tile-aligned,
//! so each tile is one part's.
//!
//! Quantized matrices multiply 8-bit quantized activations (`QuantizedRows`) with exact integer
//! dot products per block, then combine blocks in f32 in block order. Dense matrices accumulate
//! in f32 in index order. In both cases each output's arithmetic depends only on its own row
//! and column, never on how many rows are multiplied together, which instruction set runs, or
//! how the work is split among threads: the engine's results are bit-identical whether a prompt
//! is computed in one pass, token by token, from the prefix cache, or batched with other
//! sequences. Tests rely on this.

use super::kquant::{KBLOCK, KData, KFormat, plane_bit, put_bit};
use half::{bf16, f16};

/// Output rows stored side by side in one tile.
pub const TILE: usize = 16;
/// Values per quantization block along the input dimension.
pub const QBLOCK: usize = 32;
const _: () = assert!(TILE == super::kquant::TILE && QBLOCK == super::kquant::QBLOCK);

/// One 32-value block of 16 rows with 4-bit codes. `qs[c*64 + row*4 + j]` holds, in its low
/// nibble, the code of input `4c + j` and, in its high nibble, that of input `16 + 4c + j`.
/// Aligned to 32 bytes, not 64: 288 bytes keep Q4_0 at its file's size (the kernels load
/// unaligned).
#[derive(Clone, Copy)]
#[repr(C, align(32))]
pub struct U4Block {
    pub qs: [u8; 256],
    pub d: [f16; TILE],
}

/// One 32-value block of 16 rows with 5-bit codes: `U4Block`'s nibbles and a plane of fifth
/// bits in the order of `kquant::Q5KBlock`'s: `qh[row*4 + j]` bit c is input `4c + j`'s fifth
/// bit and bit `4 + c` input `16 + 4c + j`'s.
#[derive(Clone, Copy)]
#[repr(C, align(32))]
pub struct U5Block {
    pub qs: [u8; 256],
    pub qh: [u8; 64],
    pub d: [f16; TILE],
}

/// One 32-value block of 16 rows with 8-bit codes: `qs[g*64 + row*4 + j]` is input `4g + j`.
#[derive(Clone, Copy)]
#[repr(C, align(32))]
pub struct U8Block {
    pub qs: [u8; 512],
    pub d: [f16; TILE],
}

/// Receives one block while a matrix is built: (index in `[tile][block]`, lane, codes, d).
type BlockSink<'a> = dyn FnMut(usize, usize, &[u8; QBLOCK], f16) + 'a;

/// Where a block's offsets `m` (value = d·q + m) come from.
#[derive(Clone, Debug)]
pub enum Offsets {
    /// One f16 per block and row, `[tile][block]` like the blocks (Q4_1, Q5_1, re-quantized
    /// weights).
    Stored(Vec<[f16; TILE]>),
    /// `m = k·d` in every block, nothing stored (Q4_0: k = −8, Q5_0: −16, Q8_0: −128). `k` is
    /// a power of two, so `k·d` is exact in f32 and equals what a stored f16 would hold.
    Scaled(f32),
}

/// Quantized blocks `[tile][block]` and their offsets.
pub struct Blocks<B> {
    pub blocks: Vec<B>,
    pub offsets: Offsets,
}

impl<B: Copy> Blocks<B> {
    /// Tile `t`'s blocks (`nb` per tile) and offsets.
    pub fn tile(&self, t: usize, nb: usize) -> (&[B], TileOffsets<'_>) {
        let offsets = match &self.offsets {
            Offsets::Stored(m) => TileOffsets::Stored(&m[t * nb..(t + 1) * nb]),
            Offsets::Scaled(k) => TileOffsets::Scaled(*k),
        };
        (&self.blocks[t * nb..(t + 1) * nb], offsets)
    }

    fn size_bytes(&self) -> usize {
        let offsets = match &self.offsets {
            Offsets::Stored(m) => m.len() * size_of::<[f16; TILE]>(),
            Offsets::Scaled(_) => 0,
        };
        self.blocks.len() * size_of::<B>() + offsets
    }

    /// Appends `other`'s blocks; offsets of different kinds become stored ones.
    fn extend(&mut self, other: Blocks<B>, d_of: impl Fn(&B) -> [f16; TILE]) {
        let mut other = other;
        let same_scale = matches!(
            (&self.offsets, &other.offsets),
            (Offsets::Scaled(a), Offsets::Scaled(b)) if a == b
        );
        if !same_scale {
            self.store_offsets(&d_of);
            other.store_offsets(&d_of);
        }
        self.blocks.extend(other.blocks);
        if let (Offsets::Stored(m), Offsets::Stored(more)) = (&mut self.offsets, other.offsets) {
            m.extend(more);
        }
    }

    /// Turns scaled offsets into stored ones (exact unless k·d overflows f16).
    fn store_offsets(&mut self, d_of: &impl Fn(&B) -> [f16; TILE]) {
        if let Offsets::Scaled(k) = self.offsets {
            let m = self
                .blocks
                .iter()
                .map(|b| d_of(b).map(|d| f16::from_f32(k * d.to_f32())))
                .collect();
            self.offsets = Offsets::Stored(m);
        }
    }

    /// Block `i`'s offset for `lane`, as f32.
    fn offset(&self, i: usize, lane: usize, d: f16) -> f32 {
        match &self.offsets {
            Offsets::Stored(m) => m[i][lane].to_f32(),
            Offsets::Scaled(k) => k * d.to_f32(),
        }
    }
}

/// One tile's offsets, as the kernels see them.
#[derive(Clone, Copy)]
pub enum TileOffsets<'a> {
    Stored(&'a [[f16; TILE]]),
    Scaled(f32),
}

/// Tiled storage. Quantized: `[tile][block]`. Dense: `[tile][input][16 rows]`.
pub enum MatrixData {
    U4(Blocks<U4Block>),
    U5(Blocks<U5Block>),
    U8(Blocks<U8Block>),
    F32(Vec<f32>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    /// K-quants, `[tile][super-block]`.
    K(KData),
    /// Quantized parts of different formats, stacked vertically, each a multiple of 16 rows.
    Stacked(Vec<Matrix>),
}

/// A weight matrix of `rows` outputs by `cols` inputs (rows padded to a multiple of 16 inside).
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: MatrixData,
}

/// The format a matrix is stored in, for reports and for choosing conversions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFormat {
    U4,
    U5,
    U8,
    F32,
    F16,
    BF16,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
    /// Stacked parts of different quantized formats.
    Mixed,
}

impl std::fmt::Display for StorageFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            StorageFormat::U4 => "u4",
            StorageFormat::U5 => "u5",
            StorageFormat::U8 => "u8",
            StorageFormat::F32 => "f32",
            StorageFormat::F16 => "f16",
            StorageFormat::BF16 => "bf16",
            StorageFormat::Q2K => "q2_k",
            StorageFormat::Q3K => "q3_k",
            StorageFormat::Q4K => "q4_k",
            StorageFormat::Q5K => "q5_k",
            StorageFormat::Q6K => "q6_k",
            StorageFormat::Mixed => "mixed",
        };
        f.write_str(name)
    }
}

impl Matrix {
    pub fn tiles(&self) -> usize {
        self.rows.div_ceil(TILE)
    }

    pub fn format(&self) -> StorageFormat {
        match &self.data {
            MatrixData::U4(_) => StorageFormat::U4,
            MatrixData::U5(_) => StorageFormat::U5,
            MatrixData::U8(_) => StorageFormat::U8,
            MatrixData::F32(_) => StorageFormat::F32,
            MatrixData::F16(_) => StorageFormat::F16,
            MatrixData::BF16(_) => StorageFormat::BF16,
            MatrixData::K(k) => match k.format() {
                KFormat::Q2K => StorageFormat::Q2K,
                KFormat::Q3K => StorageFormat::Q3K,
                KFormat::Q4K => StorageFormat::Q4K,
                KFormat::Q5K => StorageFormat::Q5K,
                KFormat::Q6K => StorageFormat::Q6K,
            },
            MatrixData::Stacked(_) => StorageFormat::Mixed,
        }
    }

    pub fn is_quantized(&self) -> bool {
        match &self.data {
            MatrixData::U4(_) | MatrixData::U5(_) | MatrixData::U8(_) | MatrixData::K(_) => true,
            MatrixData::Stacked(parts) => parts.iter().all(Matrix::is_quantized),
            MatrixData::F32(_) | MatrixData::F16(_) | MatrixData::BF16(_) => false,
        }
    }

    /// Blocks per row of one tile in the `[tile][block]` layouts: 32-value blocks for U4/U5/U8,
    /// 256-value super-blocks for the K-quants.
    pub fn tile_blocks(&self) -> usize {
        match &self.data {
            MatrixData::K(_) => self.cols / KBLOCK,
            _ => self.cols / QBLOCK,
        }
    }

    /// A K-quant matrix from a GGUF tensor's bytes (`cols` a multiple of 256).
    pub fn from_k_quant(format: KFormat, rows: usize, cols: usize, bytes: &[u8]) -> Matrix {
        Matrix {
            rows,
            cols,
            data: MatrixData::K(KData::from_file(format, rows, cols, bytes)),
        }
    }

    /// The part of a stacked matrix that holds tile `t`, and `t`'s index inside it.
    pub fn part_of_tile(parts: &[Matrix], mut t: usize) -> (&Matrix, usize) {
        for p in parts {
            if t < p.tiles() {
                return (p, t);
            }
            t -= p.tiles();
        }
        panic!("tile past the stacked matrix's end")
    }

    pub fn size_bytes(&self) -> usize {
        match &self.data {
            MatrixData::U4(b) => b.size_bytes(),
            MatrixData::U5(b) => b.size_bytes(),
            MatrixData::U8(b) => b.size_bytes(),
            MatrixData::F32(v) => v.len() * 4,
            MatrixData::F16(v) => v.len() * 2,
            MatrixData::BF16(v) => v.len() * 2,
            MatrixData::K(k) => k.size_bytes(),
            MatrixData::Stacked(parts) => parts.iter().map(Matrix::size_bytes).sum(),
        }
    }

    /// Dense matrix from row-major f32 values.
    pub fn dense(rows: usize, cols: usize, values: &[f32], format: StorageFormat) -> Matrix {
        assert_eq!(values.len(), rows * cols);
        let tiles = rows.div_ceil(TILE);
        let mut tiled = vec![0f32; tiles * cols * TILE];
        for r in 0..rows {
            let (t, lane) = (r / TILE, r % TILE);
            for c in 0..cols {
                tiled[(t * cols + c) * TILE + lane] = values[r * cols + c];
            }
        }
        let data = match format {
            StorageFormat::F32 => MatrixData::F32(tiled),
            StorageFormat::F16 => {
                MatrixData::F16(tiled.iter().map(|&v| f16::from_f32(v)).collect())
            }
            StorageFormat::BF16 => {
                MatrixData::BF16(tiled.iter().map(|&v| bf16::from_f32(v)).collect())
            }
            StorageFormat::U4
            | StorageFormat::U5
            | StorageFormat::U8
            | StorageFormat::Q2K
            | StorageFormat::Q3K
            | StorageFormat::Q4K
            | StorageFormat::Q5K
            | StorageFormat::Q6K
            | StorageFormat::Mixed => {
                return Matrix::quantize_u8(rows, cols, values);
            }
        };
        Matrix { rows, cols, data }
    }

    /// Builds a quantized matrix from per-block codes: `block(row, block_index)` returns the 32
    /// codes and the block's (d, m), codes below 2^`width` (4, 5 or 8 bits). With
    /// `offsets_scale: Some(k)` every m must be k·d and none is stored.
    pub fn from_blocks(
        rows: usize,
        cols: usize,
        width: u32,
        offsets_scale: Option<f32>,
        mut block: impl FnMut(usize, usize) -> ([u8; QBLOCK], f16, f16),
    ) -> Matrix {
        assert_eq!(
            cols % QBLOCK,
            0,
            "input dimension must be a multiple of {QBLOCK}"
        );
        let nb = cols / QBLOCK;
        let tiles = rows.div_ceil(TILE);
        let mut stored = vec![
            [f16::ZERO; TILE];
            if offsets_scale.is_some() {
                0
            } else {
                tiles * nb
            }
        ];
        let offsets = |stored: Vec<[f16; TILE]>| match offsets_scale {
            Some(k) => Offsets::Scaled(k),
            None => Offsets::Stored(stored),
        };
        // Visits every block once: `put(tile block index, lane, codes, d)`.
        let mut each_block = |put: &mut BlockSink| {
            for r in 0..rows {
                let (t, lane) = (r / TILE, r % TILE);
                for b in 0..nb {
                    let (q, d, m) = block(r, b);
                    debug_assert!(q.iter().all(|&c| u32::from(c) < 1 << width));
                    match offsets_scale {
                        Some(k) => debug_assert_eq!(m.to_f32(), k * d.to_f32()),
                        None => stored[t * nb + b][lane] = m,
                    }
                    put(t * nb + b, lane, &q, d);
                }
            }
        };
        let data = match width {
            4 => {
                let empty = U4Block {
                    qs: [0; 256],
                    d: [f16::ZERO; TILE],
                };
                let mut blocks = vec![empty; tiles * nb];
                each_block(&mut |i, lane, q, d| {
                    put_nibbles(&mut blocks[i].qs, lane, q);
                    blocks[i].d[lane] = d;
                });
                MatrixData::U4(Blocks {
                    blocks,
                    offsets: offsets(stored),
                })
            }
            5 => {
                let empty = U5Block {
                    qs: [0; 256],
                    qh: [0; 64],
                    d: [f16::ZERO; TILE],
                };
                let mut blocks = vec![empty; tiles * nb];
                each_block(&mut |i, lane, q, d| {
                    let blk = &mut blocks[i];
                    put_nibbles(&mut blk.qs, lane, q);
                    for (i, &code) in q.iter().enumerate() {
                        put_bit(&mut blk.qh, lane, i, code >> 4);
                    }
                    blk.d[lane] = d;
                });
                MatrixData::U5(Blocks {
                    blocks,
                    offsets: offsets(stored),
                })
            }
            8 => {
                let empty = U8Block {
                    qs: [0; 512],
                    d: [f16::ZERO; TILE],
                };
                let mut blocks = vec![empty; tiles * nb];
                each_block(&mut |i, lane, q, d| {
                    for (k, &code) in q.iter().enumerate() {
                        blocks[i].qs[(k / 4) * 64 + lane * 4 + k % 4] = code;
                    }
                    blocks[i].d[lane] = d;
                });
                MatrixData::U8(Blocks {
                    blocks,
                    offsets: offsets(stored),
                })
            }
            _ => panic!("code width {width} is not a stored layout"),
        };
        Matrix { rows, cols, data }
    }

    /// Asymmetric 8-bit quantization of row-major f32 values: per 32-value block,
    /// m = min, d = (max − min)/255, q = round((x − m)/d).
    pub fn quantize_u8(rows: usize, cols: usize, values: &[f32]) -> Matrix {
        Matrix::from_blocks(rows, cols, 8, None, |r, b| {
            let x = &values[r * cols + b * QBLOCK..r * cols + (b + 1) * QBLOCK];
            let lo = x.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let m = f16::from_f32(lo);
            let d = f16::from_f32((hi - lo) / 255.0);
            let (mf, df) = (m.to_f32(), d.to_f32());
            let mut q = [0u8; QBLOCK];
            if df > 0.0 {
                for (code, &v) in q.iter_mut().zip(x) {
                    *code = super::math::round_small(((v - mf) / df).clamp(0.0, 255.0)) as u8;
                }
            }
            (q, d, m)
        })
    }

    /// Writes row `r` as f32 values (embedding lookup, tests).
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        assert!(r < self.rows && out.len() == self.cols);
        let (t, lane) = (r / TILE, r % TILE);
        let nb = self.cols / QBLOCK;
        match &self.data {
            MatrixData::U4(blocks) => {
                for b in 0..nb {
                    let i = t * nb + b;
                    let blk = &blocks.blocks[i];
                    let (d, m) = (blk.d[lane].to_f32(), blocks.offset(i, lane, blk.d[lane]));
                    for c in 0..4 {
                        for j in 0..4 {
                            let byte = blk.qs[c * 64 + lane * 4 + j];
                            out[b * QBLOCK + 4 * c + j] = d * f32::from(byte & 15) + m;
                            out[b * QBLOCK + 16 + 4 * c + j] = d * f32::from(byte >> 4) + m;
                        }
                    }
                }
            }
            MatrixData::U5(blocks) => {
                for b in 0..nb {
                    let i = t * nb + b;
                    let blk = &blocks.blocks[i];
                    let (d, m) = (blk.d[lane].to_f32(), blocks.offset(i, lane, blk.d[lane]));
                    for c in 0..4 {
                        for j in 0..4 {
                            let (i_low, i_high) = (4 * c + j, 16 + 4 * c + j);
                            let byte = blk.qs[c * 64 + lane * 4 + j];
                            let low = (byte & 15) | (plane_bit(&blk.qh, lane, i_low) << 4);
                            let high = (byte >> 4) | (plane_bit(&blk.qh, lane, i_high) << 4);
                            out[b * QBLOCK + i_low] = d * f32::from(low) + m;
                            out[b * QBLOCK + i_high] = d * f32::from(high) + m;
                        }
                    }
                }
            }
            MatrixData::U8(blocks) => {
                for b in 0..nb {
                    let i = t * nb + b;
                    let blk = &blocks.blocks[i];
                    let (d, m) = (blk.d[lane].to_f32(), blocks.offset(i, lane, blk.d[lane]));
                    for k in 0..QBLOCK {
                        let code = blk.qs[(k / 4) * 64 + lane * 4 + k % 4];
                        out[b * QBLOCK + k] = d * f32::from(code) + m;
                    }
                }
            }
            MatrixData::F32(v) => dense_row(v, self.cols, t, lane, out, |x| x),
            MatrixData::F16(v) => dense_row(v, self.cols, t, lane, out, f16::to_f32),
            MatrixData::BF16(v) => dense_row(v, self.cols, t, lane, out, bf16::to_f32),
            MatrixData::K(k) => k.dequantize_row(r, self.cols, out),
            MatrixData::Stacked(parts) => {
                let (part, local) = Matrix::part_of_tile(parts, t);
                part.dequantize_row(local * TILE + lane, out);
            }
        }
    }

    /// All rows as row-major f32 (tests and conversions only).
    pub fn to_f32_rows(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.rows * self.cols];
        for r in 0..self.rows {
            self.dequantize_row(r, &mut out[r * self.cols..(r + 1) * self.cols]);
        }
        out
    }

    /// Stacks matrices with the same input dimension vertically (q, k, v into one matrix; gate
    /// and up into one), so that one multiplication serves them all. Each part's rows must be
    /// a multiple of 16 so the parts stay tile-aligned. Parts of one format are concatenated;
    /// quantized parts of different formats stay as they are, side by side.
    pub fn stack(parts: Vec<Matrix>) -> Matrix {
        let cols = parts[0].cols;
        let format = parts[0].format();
        assert!(parts.iter().all(|p| p.cols == cols));
        assert!(
            parts.iter().all(|p| p.rows % TILE == 0),
            "stacked parts must be tile-aligned"
        );
        let part_rows: Vec<usize> = parts.iter().map(|p| p.rows).collect();
        let rows = part_rows.iter().sum();
        if parts.iter().any(|p| p.format() != format) || format == StorageFormat::Mixed {
            assert!(
                parts.iter().all(Matrix::is_quantized),
                "only quantized parts may differ in format"
            );
            let mut flat = Vec::new();
            for p in parts {
                match p.data {
                    MatrixData::Stacked(inner) => flat.extend(inner),
                    _ => flat.push(p),
                }
            }
            return Matrix {
                rows,
                cols,
                data: MatrixData::Stacked(flat),
            };
        }
        macro_rules! concat_blocks {
            ($variant:ident) => {{
                let mut parts = parts.into_iter().map(|p| match p.data {
                    MatrixData::$variant(b) => b,
                    _ => unreachable!(),
                });
                let mut all = parts.next().expect("at least one part");
                // Exactly the stacked size: growing by doubling would leave unused capacity.
                all.blocks
                    .reserve_exact(rows / TILE * (cols / QBLOCK) - all.blocks.len());
                parts.for_each(|b| all.extend(b, |blk| blk.d));
                MatrixData::$variant(all)
            }};
        }
        macro_rules! concat {
            ($variant:ident) => {{
                let mut all = Vec::new();
                for p in parts {
                    match p.data {
                        MatrixData::$variant(v) => all.extend(v),
                        _ => unreachable!(),
                    }
                }
                MatrixData::$variant(all)
            }};
        }
        let data = match format {
            StorageFormat::U4 => concat_blocks!(U4),
            StorageFormat::U5 => concat_blocks!(U5),
            StorageFormat::U8 => concat_blocks!(U8),
            StorageFormat::F32 => concat!(F32),
            StorageFormat::F16 => concat!(F16),
            StorageFormat::BF16 => concat!(BF16),
            StorageFormat::Q2K
            | StorageFormat::Q3K
            | StorageFormat::Q4K
            | StorageFormat::Q5K
            | StorageFormat::Q6K => {
                // Super-blocks still to come after each part, so the stack is allocated once.
                let nb = cols / KBLOCK;
                let mut to_come = (rows - parts[0].rows) / TILE * nb;
                let mut parts = parts.into_iter().map(|p| match p.data {
                    MatrixData::K(k) => k,
                    _ => unreachable!(),
                });
                let mut all = parts.next().expect("at least one part");
                for (k, part_rows) in parts.zip(part_rows.into_iter().skip(1)) {
                    to_come -= part_rows / TILE * nb;
                    all.extend(k, to_come);
                }
                MatrixData::K(all)
            }
            StorageFormat::Mixed => unreachable!("handled above"),
        };
        Matrix { rows, cols, data }
    }
}

/// Puts one row's 32 codes (their low 4 bits) into a 4-bit tile's nibbles (`U4Block`'s order).
fn put_nibbles(qs: &mut [u8; 256], lane: usize, q: &[u8; QBLOCK]) {
    for c in 0..4 {
        for j in 0..4 {
            qs[c * 64 + lane * 4 + j] = (q[4 * c + j] & 15) | ((q[16 + 4 * c + j] & 15) << 4);
        }
    }
}

fn dense_row<E: Copy>(
    v: &[E],
    cols: usize,
    tile: usize,
    lane: usize,
    out: &mut [f32],
    to_f32: impl Fn(E) -> f32,
) {
    for c in 0..cols {
        out[c] = to_f32(v[(tile * cols + c) * TILE + lane]);
    }
}

/// Activation rows quantized to 8 bits per 32-value block: q = round(x/d) with d = max|x|/127,
/// and s = d·Σq, the block's sum, which the kernels need for the `m` term of the weights;
/// `half_sums` holds Σq over each block's first and second 16 codes (the 16-value sub-blocks
/// of Q2_K, Q3_K and Q6_K).
#[derive(Default)]
pub struct QuantizedRows {
    pub rows: usize,
    pub cols: usize,
    pub qs: Vec<i8>,
    pub d: Vec<f32>,
    pub s: Vec<f32>,
    pub half_sums: Vec<i32>,
}

impl QuantizedRows {
    pub fn resize(&mut self, rows: usize, cols: usize) {
        assert_eq!(cols % QBLOCK, 0);
        self.rows = rows;
        self.cols = cols;
        self.qs.resize(rows * cols, 0);
        self.d.resize(rows * cols / QBLOCK, 0.0);
        self.s.resize(rows * cols / QBLOCK, 0.0);
        self.half_sums.resize(2 * rows * cols / QBLOCK, 0);
    }

    /// Quantizes blocks `blocks` of row `r` from `x` (which holds those blocks' values),
    /// compiled for `isa`.
    pub fn set_blocks(
        &mut self,
        isa: super::isa::Isa,
        r: usize,
        blocks: std::ops::Range<usize>,
        x: &[f32],
    ) {
        let nb = self.cols / QBLOCK;
        let (first, last) = (r * nb + blocks.start, r * nb + blocks.end);
        quantize_row_for(
            isa,
            &mut self.qs[first * QBLOCK..last * QBLOCK],
            &mut self.d[first..last],
            &mut self.s[first..last],
            &mut self.half_sums[2 * first..2 * last],
            x,
        );
    }
}

super::isa::compiled_for_isa! {
    fn quantize_row_for(qs: &mut [i8], d: &mut [f32], s: &mut [f32], hs: &mut [i32], x: &[f32]) = quantize_row;
}

/// Symmetric 8-bit codes of one activation row, per 32-value block: d = max|x|/127,
/// q = round(x/d), s = d·Σq (the term a weight block's offset multiplies), and the sums of
/// each half's codes.
#[inline(always)]
fn quantize_row(qs: &mut [i8], d: &mut [f32], s: &mut [f32], hs: &mut [i32], x: &[f32]) {
    for (b, xs) in x.chunks_exact(QBLOCK).enumerate() {
        // max |x| on the bit patterns, halves folded onto each other: for non-negative floats
        // the integer order is the numeric order, and NaN (above +inf) counts as 0, as the
        // fold `max(a, |x|)` ignores it. In floats the compiler left this as one chain of 32
        // scalar comparisons (2% of an episode on the engine's serial path); integers vectorize.
        let mut lanes = [0u32; QBLOCK];
        for (l, &v) in lanes.iter_mut().zip(xs) {
            let magnitude = v.to_bits() & 0x7fff_ffff;
            *l = if magnitude > f32::INFINITY.to_bits() {
                0
            } else {
                magnitude
            };
        }
        let mut width = QBLOCK / 2;
        while width > 0 {
            for i in 0..width {
                lanes[i] = lanes[i].max(lanes[i + width]);
            }
            width /= 2;
        }
        let amax = f32::from_bits(lanes[0]);
        let scale = amax / 127.0;
        let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        let mut halves = [0i32; 2];
        for (i, (q, &v)) in qs[b * QBLOCK..(b + 1) * QBLOCK]
            .iter_mut()
            .zip(xs)
            .enumerate()
        {
            let code = super::math::round_small_int((v * inv).clamp(-127.0, 127.0)) as i8;
            *q = code;
            halves[i / 16] += i32::from(code);
        }
        d[b] = scale;
        s[b] = scale * (halves[0] + halves[1]) as f32;
        hs[2 * b..2 * b + 2].copy_from_slice(&halves);
    }
}

/// f16 bits to f32 in plain integer arithmetic, so that loops over it vectorize (F. Giesen's
/// branch-free conversion; exact for every f16 value, including subnormals, inf and NaN).
#[inline(always)]
pub fn f16_bits_to_f32(h: u16) -> f32 {
    let h = u32::from(h);
    let magic = f32::from_bits(113 << 23);
    let shifted = (h & 0x7fff) << 13;
    let exp = shifted & (0x7c00 << 13);
    let mut o = shifted + ((127 - 15) << 23);
    if exp == 0x7c00 << 13 {
        o += (128 - 16) << 23; // inf or NaN
    } else if exp == 0 {
        o = (f32::from_bits(o + (1 << 23)) - magic).to_bits(); // subnormal
    }
    f32::from_bits(o | ((h & 0x8000) << 16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_codes_match_the_definition() {
        // The definition, written plainly: max |x| over the block in turn.
        let reference = |x: &[f32]| -> (Vec<i8>, Vec<f32>, Vec<f32>, Vec<i32>) {
            let (mut qs, mut d, mut s, mut hs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for xs in x.chunks_exact(QBLOCK) {
                let amax = xs.iter().fold(0f32, |a, &v| a.max(v.abs()));
                let scale = amax / 127.0;
                let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
                let codes: Vec<i8> = xs
                    .iter()
                    .map(|&v| (v * inv).clamp(-127.0, 127.0).round_ties_even() as i8)
                    .collect();
                s.push(scale * codes.iter().map(|&c| i32::from(c)).sum::<i32>() as f32);
                for half in codes.chunks(16) {
                    hs.push(half.iter().map(|&c| i32::from(c)).sum());
                }
                d.push(scale);
                qs.extend(codes);
            }
            (qs, d, s, hs)
        };
        let mut x: Vec<f32> = (0..4 * QBLOCK)
            .map(|i| ((i * 7919 % 613) as f32 - 306.0) * 0.013)
            .collect();
        x[QBLOCK..2 * QBLOCK].fill(0.0);
        x[2 * QBLOCK + 31] = -9.0; // the largest magnitude last in its block
        x[3 * QBLOCK] = -0.0;
        x[3 * QBLOCK + 5] = f32::NAN; // ignored by the block's max, as by `f32::max`
        let (mut qs, mut d, mut s) = (vec![0i8; x.len()], vec![0f32; 4], vec![0f32; 4]);
        let mut hs = vec![0i32; 8];
        quantize_row(&mut qs, &mut d, &mut s, &mut hs, &x);
        assert_eq!((qs, d, s, hs), reference(&x));
    }

    #[test]
    fn f16_conversion_is_exact_for_every_value() {
        for bits in 0..=u16::MAX {
            let expected = f16::from_bits(bits).to_f32();
            let actual = f16_bits_to_f32(bits);
            assert!(
                expected.to_bits() == actual.to_bits() || (expected.is_nan() && actual.is_nan()),
                "bits {bits:#06x}: {expected} vs {actual}"
            );
        }
    }

    #[test]
    fn blocks_round_trip_through_tiles() {
        let rows = 20;
        let cols = 64;
        for width in [4, 5, 8] {
            for offsets_scale in [None, Some(-8.0)] {
                let code = |r: usize, c: usize| ((r * 7 + c * 3) % (1 << width)) as u8;
                let d = |r: usize| f16::from_f32(0.5 + r as f32);
                let m = |r: usize, b: usize| match offsets_scale {
                    Some(k) => k * d(r).to_f32(),
                    None => -(b as f32),
                };
                let matrix = Matrix::from_blocks(rows, cols, width, offsets_scale, |r, b| {
                    let q = std::array::from_fn(|i| code(r, b * QBLOCK + i));
                    (q, d(r), f16::from_f32(m(r, b)))
                });
                let mut row = vec![0f32; cols];
                for r in 0..rows {
                    matrix.dequantize_row(r, &mut row);
                    for (c, &v) in row.iter().enumerate() {
                        let expected = d(r).to_f32() * f32::from(code(r, c)) + m(r, c / QBLOCK);
                        assert_eq!(v, expected, "width {width} {offsets_scale:?} r={r} c={c}");
                    }
                }
            }
        }
    }

    #[test]
    fn u8_quantization_error_is_bounded_by_half_a_step() {
        let rows = 3;
        let cols = 64;
        let values: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 37) % 101) as f32 / 7.0 - 5.0)
            .collect();
        let m = Matrix::quantize_u8(rows, cols, &values);
        let back = m.to_f32_rows();
        for (r, chunk) in values.chunks(QBLOCK).enumerate() {
            let range = chunk.iter().copied().fold(f32::NEG_INFINITY, f32::max)
                - chunk.iter().copied().fold(f32::INFINITY, f32::min);
            for (i, &v) in chunk.iter().enumerate() {
                let err = (back[r * QBLOCK + i] - v).abs();
                assert!(
                    err <= range / 255.0 * 0.5 + 0.01,
                    "error {err} for range {range}"
                );
            }
        }
    }

    #[test]
    fn dense_tiles_round_trip() {
        let values: Vec<f32> = (0..17 * 5).map(|i| i as f32 * 0.25).collect();
        for format in [StorageFormat::F32, StorageFormat::F16, StorageFormat::BF16] {
            let m = Matrix::dense(17, 5, &values, format);
            assert_eq!(m.to_f32_rows(), values, "{format}");
        }
    }
}
