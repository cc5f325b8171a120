//! K-quant layouts: Q2_K, Q3_K, Q4_K, Q5_K and Q6_K kept at their own bit width.
//!
//! A K-quant row is cut into 256-value super-blocks with one f16 scale `d` (and for Q2_K, Q4_K
//! and Q5_K an f16 `dmin`), each split into sub-blocks with small integer scales. The tiles
//! here keep exactly that information, 16 rows side by side (as `U4Block` does), so that a
//! matrix takes the file's bytes (Q3_K 4% more, Q6_K 1% of padding):
//!
//! - `Q2KBlock` (Q2_K): value = d·sc·q − dmin·m, q in 0..4, (sc, m) 4-bit per 16 values, kept
//!   packed as in the file (`sc | m << 4`).
//! - `Q3KBlock` (Q3_K): value = d·sc·(q − 4), q in 0..8 (2 low bits + a 1-bit plane), sc a
//!   6-bit signed scale per 16 values, kept as an i8.
//! - `Q4KBlock` (Q4_K): value = d·sc·q − dmin·m, q in 0..16, (sc, m) 6-bit per 32 values,
//!   kept in 12 bits as the file does (a 4-bit plane and a 2-bit plane).
//! - `Q5KBlock` (Q5_K): the same with a fifth bit per value in a separate plane, q in 0..32.
//! - `Q6KBlock` (Q6_K): value = d·sc·(q − 32), q in 0..64 (4 low bits + a 2-bit plane), sc an
//!   i8 per 16 values.
//!
//! The 4-bit codes of each 32-value sub-block use `U4Block`'s byte order: `qs[j][c*64 + row*4
//! + k]` holds input `32j + 4c + k` in its low nibble and input `32j + 16 + 4c + k` in its high
//! nibble. The extra bits sit in bytes of the same lane order, so one shift and mask puts them
//! beside the nibble they belong to: Q5_K's `qh[j][row*4 + k]` bit c is input 4c+k's fifth
//! bit and bit 4+c is input 16+4c+k's; Q6_K's `qh[j][row*4 + k]` bits 2c..2c+2 are input
//! 4c+k's two high bits and `qh[j][64 + row*4 + k]` those of input 16+4c+k.
//!
//! The 2-bit codes of Q2_K and Q3_K use the same lanes with four codes to a byte:
//! `qs[j][h*64 + row*4 + k]` bits 2c..2c+2 hold input `16h + 4c + k`'s code, so each 64-byte
//! half is one 16-value sub-block (one scale) and one shift and mask gives the bytes of input
//! group c. Q3_K's third bit uses Q5_K's plane layout: `qh[j][row*4 + k]` bit c is input
//! 4c+k's and bit 4+c is input 16+4c+k's.
//!
//! The kernels (`kernels_k.rs`) multiply each 32-value sub-block exactly in integers against
//! the activations' 8-bit codes, which come in 32-value blocks too, then combine in f32 in
//! sub-block order.

use half::f16;

/// Rows side by side in a tile and values per activation block: `quant::TILE` and
/// `quant::QBLOCK` (restated here so that `quant` can use this module without a cycle; `quant`
/// asserts that they agree).
pub const TILE: usize = 16;
pub const QBLOCK: usize = 32;

/// Values per super-block.
pub const KBLOCK: usize = 256;
/// 32-value sub-blocks per super-block.
pub const KSUB: usize = KBLOCK / QBLOCK;

/// Bytes per 256-value super-block of one row in the GGUF file.
pub const Q2K_FILE_BYTES: usize = 84;
pub const Q3K_FILE_BYTES: usize = 110;
pub const Q4K_FILE_BYTES: usize = 144;
pub const Q5K_FILE_BYTES: usize = 176;
pub const Q6K_FILE_BYTES: usize = 210;

/// One 256-value super-block of 16 rows in Q2_K (exactly the file's 84 bytes a row).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct Q2KBlock {
    /// Per sub-block: `[h*64 + row*4 + k]` bits 2c..2c+2 are input 16h + 4c + k's code.
    pub qs: [[u8; 128]; KSUB],
    /// Per sub-block: `[h*16 + row]` is `sc | m << 4` of its inputs 16h..16h+16.
    pub scales: [[u8; 2 * TILE]; KSUB],
    pub d: [f16; TILE],
    pub dmin: [f16; TILE],
}

/// One 256-value super-block of 16 rows in Q3_K: 1824 bytes, 57 × 32, so aligned to 32 bytes
/// rather than a cache line (64 would pad it to 1856; the kernels load it unaligned).
#[derive(Clone, Copy)]
#[repr(C, align(32))]
pub struct Q3KBlock {
    /// The codes' low two bits, laid out as `Q2KBlock::qs`.
    pub qs: [[u8; 128]; KSUB],
    /// The codes' third bit: `[row*4 + k]` bit c is input 4c+k's, bit 4+c input 16+4c+k's.
    pub qh: [[u8; 64]; KSUB],
    /// Per sub-block: `[h*16 + row]` is the signed scale (file's 6 bits − 32) of inputs
    /// 16h..16h+16.
    pub scales: [[i8; 2 * TILE]; KSUB],
    pub d: [f16; TILE],
}

/// One 256-value super-block of 16 rows in Q4_K: exactly the file's 144 bytes a row.
///
/// The 6-bit scales and minimums are kept in 12 bits a sub-block as in the file, but split
/// so that a sub-block's 16 rows unpack with a few 16-byte operations
/// ([`Q4KBlock::scale`], [`Q4KBlock::min`]; `kernels_k` unpacks them in SIMD). Stored as
/// bytes they made Q4_K 3% larger than the file, and decode reads every byte once per token.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct Q4KBlock {
    pub qs: [[u8; 256]; KSUB],
    /// Per sub-block j, per row: the low four bits of the scale (bits 0–3) and of the
    /// minimum (bits 4–7).
    pub scale_min_low: [[u8; TILE]; KSUB],
    /// Per pair of sub-blocks (2p, 2p + 1), per row: the top two bits of sub-block 2p's scale
    /// (bits 0–1) and minimum (bits 2–3), and of sub-block 2p + 1's (bits 4–5, 6–7).
    pub scale_min_high: [[u8; TILE]; KSUB / 2],
    pub d: [f16; TILE],
    pub dmin: [f16; TILE],
}

impl Q4KBlock {
    /// The top bits of sub-block `j`'s scale (bits 0–1) and minimum (bits 2–3) in `lane`.
    #[inline(always)]
    fn high_bits(&self, j: usize, lane: usize) -> u8 {
        (self.scale_min_high[j / 2][lane] >> (4 * (j % 2))) & 15
    }

    /// Sub-block `j`'s 6-bit scale in `lane`.
    #[inline(always)]
    pub fn scale(&self, j: usize, lane: usize) -> u8 {
        (self.scale_min_low[j][lane] & 15) | ((self.high_bits(j, lane) & 3) << 4)
    }

    /// Sub-block `j`'s 6-bit minimum in `lane`.
    #[inline(always)]
    pub fn min(&self, j: usize, lane: usize) -> u8 {
        (self.scale_min_low[j][lane] >> 4) | ((self.high_bits(j, lane) >> 2) << 4)
    }

    /// Sets sub-block `j`'s scale and minimum (each below 64) in `lane`.
    fn set_scale_min(&mut self, j: usize, lane: usize, scale: u8, min: u8) {
        debug_assert!(scale < 64 && min < 64);
        self.scale_min_low[j][lane] = (scale & 15) | ((min & 15) << 4);
        let shift = 4 * (j % 2);
        let high = &mut self.scale_min_high[j / 2][lane];
        *high = (*high & !(15 << shift)) | (((scale >> 4) | ((min >> 4) << 2)) << shift);
    }
}

/// One 256-value super-block of 16 rows in Q5_K: Q4_K's fields and the fifth-bit plane.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct Q5KBlock {
    pub low: Q4KBlock,
    pub qh: [[u8; 64]; KSUB],
}

/// One 256-value super-block of 16 rows in Q6_K.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct Q6KBlock {
    pub ql: [[u8; 256]; KSUB],
    pub qh: [[u8; 128]; KSUB],
    /// Per sub-block: `[row]` is the scale of its first 16 inputs, `[16 + row]` of the rest.
    pub scales: [[i8; 2 * TILE]; KSUB],
    pub d: [f16; TILE],
}

/// One row's super-block decoded from the file: codes in input order and the scales.
struct Decoded {
    codes: [u8; KBLOCK],
    /// Q4_K/Q5_K: (sc, m) per 32 values. Q2_K: (sc, m) per 16 values. Q6_K and Q3_K: sc per
    /// 16 values (as i8 bits; Q3_K's with 32 taken off).
    scales: [u8; 16],
    mins: [u8; 16],
    d: f16,
    dmin: f16,
}

fn f16_at(b: &[u8], i: usize) -> f16 {
    f16::from_le_bytes([b[i], b[i + 1]])
}

/// The 6-bit (scale, min) pair `j` of a Q4_K/Q5_K block's 12 packed scale bytes.
fn scale_min(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// Q4_K: d, dmin, 12 scale bytes, 128 bytes of nibbles (64-value chunks: low nibbles first).
/// Q5_K: the same with 32 bytes of fifth bits before the nibbles.
fn decode_q45(blk: &[u8], fifth_bit: bool) -> Decoded {
    let (qh, qs) = if fifth_bit {
        (&blk[16..48], &blk[48..176])
    } else {
        (&blk[16..16], &blk[16..144])
    };
    let mut out = Decoded {
        codes: [0; KBLOCK],
        scales: [0; 16],
        mins: [0; 16],
        d: f16_at(blk, 0),
        dmin: f16_at(blk, 2),
    };
    for j in 0..KSUB {
        (out.scales[j], out.mins[j]) = scale_min(j, &blk[4..16]);
    }
    for chunk in 0..4 {
        for l in 0..32 {
            let byte = qs[32 * chunk + l];
            let (mut lo, mut hi) = (byte & 15, byte >> 4);
            if fifth_bit {
                lo |= ((qh[l] >> (2 * chunk)) & 1) << 4;
                hi |= ((qh[l] >> (2 * chunk + 1)) & 1) << 4;
            }
            out.codes[64 * chunk + l] = lo;
            out.codes[64 * chunk + 32 + l] = hi;
        }
    }
    out
}

/// Q6_K: 128 bytes of low nibbles, 64 bytes of 2-bit pairs, 16 i8 scales, d.
fn decode_q6(blk: &[u8]) -> Decoded {
    let (ql, qh) = (&blk[0..128], &blk[128..192]);
    let mut out = Decoded {
        codes: [0; KBLOCK],
        scales: std::array::from_fn(|i| blk[192 + i]),
        mins: [0; 16],
        d: f16_at(blk, 208),
        dmin: f16::ZERO,
    };
    for half in 0..2 {
        let (ql, qh) = (&ql[64 * half..], &qh[32 * half..]);
        let codes = &mut out.codes[128 * half..];
        for l in 0..32 {
            codes[l] = (ql[l] & 15) | ((qh[l] & 3) << 4);
            codes[l + 32] = (ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4);
            codes[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
            codes[l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
        }
    }
    out
}

/// Where Q2_K and Q3_K keep value `128n + 32j + i` (i in 0..32): bits 2j..2j+2 of byte
/// `32n + i` of the 64 code bytes, and for Q3_K bit `4n + j` of hmask byte i (set: +4).
fn two_bit_code(qs: &[u8], v: usize) -> u8 {
    let (n, j, i) = (v / 128, (v % 128) / 32, v % 32);
    (qs[32 * n + i] >> (2 * j)) & 3
}

/// Q2_K: 16 scale bytes (sc | m << 4 per 16 values), 64 bytes of 2-bit codes, d, dmin.
fn decode_q2(blk: &[u8]) -> Decoded {
    let qs = &blk[16..80];
    Decoded {
        codes: std::array::from_fn(|v| two_bit_code(qs, v)),
        scales: std::array::from_fn(|i| blk[i] & 15),
        mins: std::array::from_fn(|i| blk[i] >> 4),
        d: f16_at(blk, 80),
        dmin: f16_at(blk, 82),
    }
}

/// Q3_K: 32 bytes of high bits (hmask), 64 bytes of 2-bit codes, 12 bytes of packed 6-bit
/// scales, d. The code kept is `low | hbit << 2` (value d·(s − 32)·(code − 4)).
fn decode_q3(blk: &[u8]) -> Decoded {
    let (hmask, qs, packed) = (&blk[0..32], &blk[32..96], &blk[96..108]);
    Decoded {
        codes: std::array::from_fn(|v| {
            let (n, j, i) = (v / 128, (v % 128) / 32, v % 32);
            two_bit_code(qs, v) | (((hmask[i] >> (4 * n + j)) & 1) << 2)
        }),
        // Scale i: low 4 bits from byte i % 8 (low nibble for i < 8, high for the rest), high
        // 2 bits from byte 8 + i % 4, bits 2·(i / 4)..
        scales: std::array::from_fn(|i| {
            let low = if i < 8 {
                packed[i] & 15
            } else {
                packed[i - 8] >> 4
            };
            let high = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
            ((low | (high << 4)) as i8 - 32) as u8
        }),
        mins: [0; 16],
        d: f16_at(blk, 108),
        dmin: f16::ZERO,
    }
}

/// Which K-quant a tiled matrix holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KFormat {
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
}

impl KFormat {
    pub fn file_block_bytes(self) -> usize {
        match self {
            KFormat::Q2K => Q2K_FILE_BYTES,
            KFormat::Q3K => Q3K_FILE_BYTES,
            KFormat::Q4K => Q4K_FILE_BYTES,
            KFormat::Q5K => Q5K_FILE_BYTES,
            KFormat::Q6K => Q6K_FILE_BYTES,
        }
    }
}

/// Tiled K-quant storage, `[tile][super-block]`.
pub enum KData {
    Q2K(Vec<Q2KBlock>),
    Q3K(Vec<Q3KBlock>),
    Q4K(Vec<Q4KBlock>),
    Q5K(Vec<Q5KBlock>),
    Q6K(Vec<Q6KBlock>),
}

/// Puts the 2-bit code `q` of input `i` (0..32 in its sub-block) of lane `lane` into the
/// 2-bit tiles.
fn put_crumb(qs: &mut [u8; 128], lane: usize, i: usize, q: u8) {
    let (h, c, k) = (i / 16, (i % 16) / 4, i % 4);
    qs[h * 64 + lane * 4 + k] |= (q & 3) << (2 * c);
}

/// Where input `i` (0..32) of lane `lane` sits in a Q5_K-style bit plane: (byte, bit).
fn bit_place(lane: usize, i: usize) -> (usize, usize) {
    let (c, k) = ((i % 16) / 4, i % 4);
    (lane * 4 + k, if i < 16 { c } else { 4 + c })
}

/// Puts a bit of input `i` (0..32) of lane `lane` into a Q5_K-style bit plane (Q5_K, Q3_K and
/// `quant::U5Block` share it).
pub(super) fn put_bit(qh: &mut [u8; 64], lane: usize, i: usize, bit: u8) {
    let (byte, shift) = bit_place(lane, i);
    qh[byte] |= (bit & 1) << shift;
}

/// The bit `put_bit` put there.
pub(super) fn plane_bit(qh: &[u8; 64], lane: usize, i: usize) -> u8 {
    let (byte, shift) = bit_place(lane, i);
    (qh[byte] >> shift) & 1
}

/// Puts code `q` of input `i` (0..32 in its sub-block) of lane `lane` into the nibble tiles.
fn put_nibble(qs: &mut [u8; 256], lane: usize, i: usize, q: u8) {
    let (c, k, high) = ((i % 16) / 4, i % 4, i >= 16);
    let byte = &mut qs[c * 64 + lane * 4 + k];
    *byte |= if high { (q & 15) << 4 } else { q & 15 };
}

impl KData {
    /// Converts a GGUF tensor's bytes (`rows` × `cols`, row-major super-blocks) to tiles.
    /// `cols` must be a multiple of 256.
    pub fn from_file(format: KFormat, rows: usize, cols: usize, bytes: &[u8]) -> KData {
        assert_eq!(cols % KBLOCK, 0, "K-quant rows are whole super-blocks");
        let nb = cols / KBLOCK;
        let size = format.file_block_bytes();
        assert_eq!(bytes.len(), rows * nb * size, "K-quant tensor size");
        let decoded = |r: usize, b: usize| {
            let blk = &bytes[(r * nb + b) * size..][..size];
            match format {
                KFormat::Q2K => decode_q2(blk),
                KFormat::Q3K => decode_q3(blk),
                KFormat::Q4K => decode_q45(blk, false),
                KFormat::Q5K => decode_q45(blk, true),
                KFormat::Q6K => decode_q6(blk),
            }
        };
        let empty4 = Q4KBlock {
            qs: [[0; 256]; KSUB],
            scale_min_low: [[0; TILE]; KSUB],
            scale_min_high: [[0; TILE]; KSUB / 2],
            d: [f16::ZERO; TILE],
            dmin: [f16::ZERO; TILE],
        };
        let fill4 = |dst: &mut Q4KBlock, lane: usize, v: &Decoded| {
            for j in 0..KSUB {
                for i in 0..QBLOCK {
                    put_nibble(&mut dst.qs[j], lane, i, v.codes[j * QBLOCK + i]);
                }
                dst.set_scale_min(j, lane, v.scales[j], v.mins[j]);
            }
            dst.d[lane] = v.d;
            dst.dmin[lane] = v.dmin;
        };
        // Every row's super-blocks decoded and written into their tile by `fill(dst, lane, v)`.
        fn tiles_of<B: Copy>(
            (rows, nb): (usize, usize),
            empty: B,
            decoded: &dyn Fn(usize, usize) -> Decoded,
            fill: impl Fn(&mut B, usize, &Decoded),
        ) -> Vec<B> {
            let mut blocks = vec![empty; rows.div_ceil(TILE) * nb];
            for r in 0..rows {
                for b in 0..nb {
                    fill(&mut blocks[(r / TILE) * nb + b], r % TILE, &decoded(r, b));
                }
            }
            blocks
        }
        let shape = (rows, nb);
        match format {
            KFormat::Q2K => {
                let empty = Q2KBlock {
                    qs: [[0; 128]; KSUB],
                    scales: [[0; 2 * TILE]; KSUB],
                    d: [f16::ZERO; TILE],
                    dmin: [f16::ZERO; TILE],
                };
                KData::Q2K(tiles_of(
                    shape,
                    empty,
                    &decoded,
                    |dst: &mut Q2KBlock, lane, v| {
                        for j in 0..KSUB {
                            for i in 0..QBLOCK {
                                put_crumb(&mut dst.qs[j], lane, i, v.codes[j * QBLOCK + i]);
                            }
                            for h in 0..2 {
                                let s = 2 * j + h;
                                dst.scales[j][h * TILE + lane] = v.scales[s] | (v.mins[s] << 4);
                            }
                        }
                        dst.d[lane] = v.d;
                        dst.dmin[lane] = v.dmin;
                    },
                ))
            }
            KFormat::Q3K => {
                let empty = Q3KBlock {
                    qs: [[0; 128]; KSUB],
                    qh: [[0; 64]; KSUB],
                    scales: [[0; 2 * TILE]; KSUB],
                    d: [f16::ZERO; TILE],
                };
                KData::Q3K(tiles_of(
                    shape,
                    empty,
                    &decoded,
                    |dst: &mut Q3KBlock, lane, v| {
                        for j in 0..KSUB {
                            for i in 0..QBLOCK {
                                let q = v.codes[j * QBLOCK + i];
                                put_crumb(&mut dst.qs[j], lane, i, q);
                                put_bit(&mut dst.qh[j], lane, i, q >> 2);
                            }
                            for h in 0..2 {
                                dst.scales[j][h * TILE + lane] = v.scales[2 * j + h] as i8;
                            }
                        }
                        dst.d[lane] = v.d;
                    },
                ))
            }
            KFormat::Q4K => KData::Q4K(tiles_of(shape, empty4, &decoded, fill4)),
            KFormat::Q5K => {
                let empty = Q5KBlock {
                    low: empty4,
                    qh: [[0; 64]; KSUB],
                };
                KData::Q5K(tiles_of(
                    shape,
                    empty,
                    &decoded,
                    |dst: &mut Q5KBlock, lane, v| {
                        fill4(&mut dst.low, lane, v);
                        for j in 0..KSUB {
                            for i in 0..QBLOCK {
                                put_bit(&mut dst.qh[j], lane, i, v.codes[j * QBLOCK + i] >> 4);
                            }
                        }
                    },
                ))
            }
            KFormat::Q6K => {
                let empty = Q6KBlock {
                    ql: [[0; 256]; KSUB],
                    qh: [[0; 128]; KSUB],
                    scales: [[0; 2 * TILE]; KSUB],
                    d: [f16::ZERO; TILE],
                };
                KData::Q6K(tiles_of(
                    shape,
                    empty,
                    &decoded,
                    |dst: &mut Q6KBlock, lane, v| {
                        for j in 0..KSUB {
                            for i in 0..QBLOCK {
                                let q = v.codes[j * QBLOCK + i];
                                put_nibble(&mut dst.ql[j], lane, i, q);
                                let (c, k) = ((i % 16) / 4, i % 4);
                                let plane = if i < 16 { 0 } else { 64 };
                                dst.qh[j][plane + lane * 4 + k] |= (q >> 4) << (2 * c);
                            }
                            dst.scales[j][lane] = v.scales[2 * j] as i8;
                            dst.scales[j][TILE + lane] = v.scales[2 * j + 1] as i8;
                        }
                        dst.d[lane] = v.d;
                    },
                ))
            }
        }
    }

    pub fn format(&self) -> KFormat {
        match self {
            KData::Q2K(_) => KFormat::Q2K,
            KData::Q3K(_) => KFormat::Q3K,
            KData::Q4K(_) => KFormat::Q4K,
            KData::Q5K(_) => KFormat::Q5K,
            KData::Q6K(_) => KFormat::Q6K,
        }
    }

    pub fn size_bytes(&self) -> usize {
        match self {
            KData::Q2K(b) => std::mem::size_of_val(b.as_slice()),
            KData::Q3K(b) => std::mem::size_of_val(b.as_slice()),
            KData::Q4K(b) => std::mem::size_of_val(b.as_slice()),
            KData::Q5K(b) => std::mem::size_of_val(b.as_slice()),
            KData::Q6K(b) => std::mem::size_of_val(b.as_slice()),
        }
    }

    /// Appends `other`'s super-blocks, reserving `room` more beyond them so that a stack built
    /// part by part is allocated once, at its exact size.
    pub fn extend(&mut self, other: KData, room: usize) {
        fn append<B>(a: &mut Vec<B>, b: Vec<B>, room: usize) {
            a.reserve_exact(b.len() + room);
            a.extend(b);
        }
        match (self, other) {
            (KData::Q2K(a), KData::Q2K(b)) => append(a, b, room),
            (KData::Q3K(a), KData::Q3K(b)) => append(a, b, room),
            (KData::Q4K(a), KData::Q4K(b)) => append(a, b, room),
            (KData::Q5K(a), KData::Q5K(b)) => append(a, b, room),
            (KData::Q6K(a), KData::Q6K(b)) => append(a, b, room),
            _ => panic!("stacked K-quant parts must share a format"),
        }
    }

    /// Row `r` (of a matrix with `cols` inputs) as f32, with the file's arithmetic:
    /// Q2_K/Q4_K/Q5_K (d·sc)·q − dmin·m, Q3_K (d·sc)·(q − 4), Q6_K (d·sc)·(q − 32), as candle
    /// and ggml compute them.
    pub fn dequantize_row(&self, r: usize, cols: usize, out: &mut [f32]) {
        let nb = cols / KBLOCK;
        let (t, lane) = (r / TILE, r % TILE);
        let nibble = |qs: &[u8; 256], i: usize| {
            let byte = qs[((i % 16) / 4) * 64 + lane * 4 + i % 4];
            if i < 16 { byte & 15 } else { byte >> 4 }
        };
        let crumb = |qs: &[u8; 128], i: usize| {
            let (h, c, k) = (i / 16, (i % 16) / 4, i % 4);
            (qs[h * 64 + lane * 4 + k] >> (2 * c)) & 3
        };
        let bit = |qh: &[u8; 64], i: usize| plane_bit(qh, lane, i);
        for b in 0..nb {
            let out = &mut out[b * KBLOCK..(b + 1) * KBLOCK];
            match self {
                KData::Q2K(blocks) => {
                    let blk = &blocks[t * nb + b];
                    let (d, dmin) = (blk.d[lane].to_f32(), blk.dmin[lane].to_f32());
                    for j in 0..KSUB {
                        for i in 0..QBLOCK {
                            let packed = blk.scales[j][(i / 16) * TILE + lane];
                            let scale = d * f32::from(packed & 15);
                            let min = dmin * f32::from(packed >> 4);
                            let q = crumb(&blk.qs[j], i);
                            out[j * QBLOCK + i] = scale * f32::from(q) - min;
                        }
                    }
                }
                KData::Q3K(blocks) => {
                    let blk = &blocks[t * nb + b];
                    let d = blk.d[lane].to_f32();
                    for j in 0..KSUB {
                        for i in 0..QBLOCK {
                            let q = crumb(&blk.qs[j], i) | (bit(&blk.qh[j], i) << 2);
                            let sc = blk.scales[j][(i / 16) * TILE + lane];
                            out[j * QBLOCK + i] = d * f32::from(sc) * f32::from(q as i8 - 4);
                        }
                    }
                }
                KData::Q4K(blocks) => {
                    let blk = &blocks[t * nb + b];
                    q45_row(blk, lane, out, |j, i| nibble(&blk.qs[j], i));
                }
                KData::Q5K(blocks) => {
                    let blk = &blocks[t * nb + b];
                    q45_row(&blk.low, lane, out, |j, i| {
                        nibble(&blk.low.qs[j], i) | (bit(&blk.qh[j], i) << 4)
                    });
                }
                KData::Q6K(blocks) => {
                    let blk = &blocks[t * nb + b];
                    let d = blk.d[lane].to_f32();
                    for j in 0..KSUB {
                        for i in 0..QBLOCK {
                            let (c, k) = ((i % 16) / 4, i % 4);
                            let plane = if i < 16 { 0 } else { 64 };
                            let high = (blk.qh[j][plane + lane * 4 + k] >> (2 * c)) & 3;
                            let q = nibble(&blk.ql[j], i) | (high << 4);
                            let sc = blk.scales[j][if i < 16 { lane } else { TILE + lane }];
                            out[j * QBLOCK + i] = d * f32::from(sc) * f32::from(q as i8 - 32);
                        }
                    }
                }
            }
        }
    }
}

fn q45_row(blk: &Q4KBlock, lane: usize, out: &mut [f32], code: impl Fn(usize, usize) -> u8) {
    let (d, dmin) = (blk.d[lane].to_f32(), blk.dmin[lane].to_f32());
    for j in 0..KSUB {
        let scale = d * f32::from(blk.scale(j, lane));
        let min = dmin * f32::from(blk.min(j, lane));
        for i in 0..QBLOCK {
            out[j * QBLOCK + i] = scale * f32::from(code(j, i)) - min;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_core::quantized::GgmlDType;

    /// Every (scale, minimum) pair of every sub-block and lane reads back as it was set, and
    /// setting one leaves its neighbours sharing the packed bytes alone.
    #[test]
    fn q4k_scales_and_minimums_pack_into_twelve_bits() {
        let mut blk = Q4KBlock {
            qs: [[0; 256]; KSUB],
            scale_min_low: [[0; TILE]; KSUB],
            scale_min_high: [[0; TILE]; KSUB / 2],
            d: [f16::ZERO; TILE],
            dmin: [f16::ZERO; TILE],
        };
        let want = |j: usize, lane: usize, round: usize| {
            let v = (round + j * 531 + lane * 97) % 4096;
            ((v % 64) as u8, (v / 64) as u8)
        };
        for round in 0..4096 {
            for j in 0..KSUB {
                for lane in 0..TILE {
                    let (sc, m) = want(j, lane, round);
                    blk.set_scale_min(j, lane, sc, m);
                }
            }
            for j in 0..KSUB {
                for lane in 0..TILE {
                    assert_eq!((blk.scale(j, lane), blk.min(j, lane)), want(j, lane, round));
                }
            }
        }
    }

    /// Random file bytes (every code and scale pattern) with finite super-block scales, for
    /// `rows` × `cols`.
    fn random_tensor(format: KFormat, rows: usize, cols: usize, seed: u64) -> Vec<u8> {
        let size = format.file_block_bytes();
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut bytes: Vec<u8> = (0..rows * cols / KBLOCK * size)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        for (i, blk) in bytes.chunks_mut(size).enumerate() {
            // Finite scales of both signs, a subnormal among them.
            let d = f16::from_f32([0.0123, -0.5, 3.0e-6, 1.75][i % 4]).to_le_bytes();
            let dmin = f16::from_f32([0.02, 0.001, -0.3][i % 3]).to_le_bytes();
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
        bytes
    }

    /// Every value of the tiles equals candle's dequantization of the file's bytes, bit for
    /// bit, and the tiles take the file's bytes (Q3_K within 4%, Q6_K 1%).
    #[test]
    fn tiles_hold_the_file_values_exactly() {
        let (rows, cols) = (37, 768);
        for (format, dtype) in [
            (KFormat::Q2K, GgmlDType::Q2K),
            (KFormat::Q3K, GgmlDType::Q3K),
            (KFormat::Q4K, GgmlDType::Q4K),
            (KFormat::Q5K, GgmlDType::Q5K),
            (KFormat::Q6K, GgmlDType::Q6K),
        ] {
            let bytes = random_tensor(format, rows, cols, 7);
            let expected: Vec<f32> = candle_core::quantized::ggml_file::qtensor_from_ggml(
                dtype,
                &bytes,
                vec![rows, cols],
                &Device::Cpu,
            )
            .and_then(|q| q.dequantize(&Device::Cpu))
            .and_then(|t| t.flatten_all()?.to_vec1())
            .unwrap();
            let tiles = KData::from_file(format, rows, cols, &bytes);
            let mut row = vec![0f32; cols];
            for r in 0..rows {
                tiles.dequantize_row(r, cols, &mut row);
                for (c, (&got, &want)) in row.iter().zip(&expected[r * cols..]).enumerate() {
                    assert!(
                        got.to_bits() == want.to_bits() || got == want,
                        "{format:?} row {r} col {c}: {got} vs {want}"
                    );
                }
            }
            // 37 rows fill 3 tiles of 16: compare per 48 rows.
            let per_row = tiles.size_bytes() as f64 / 48.0;
            let file_per_row = (cols / KBLOCK * format.file_block_bytes()) as f64;
            // Q3_K keeps its signed 6-bit scales in whole bytes: 1824 bytes a tile for 1760.
            // Q6_K's 3360 bytes a tile are padded to whole cache lines, 3392.
            let bound = match format {
                KFormat::Q3K => 1.04,
                KFormat::Q6K => 1.01,
                _ => 1.0,
            };
            assert!(
                per_row <= file_per_row * bound,
                "{format:?}: {per_row} bytes a row in memory, {file_per_row} in the file"
            );
        }
    }
}
