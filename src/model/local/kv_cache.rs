//! Key/value state in blocks of 32 tokens, shared between sequences by token prefix.
//!
//! The paper's protocol grows each conversation by one message per turn, probes it at every
//! agent turn, and samples several answers per probe. All of these prompts share long prefixes,
//! so the cache is organised like a trie of blocks: a block is found by the hash of *all tokens
//! before it* and checked against its own tokens. A new prompt walks the trie block by block,
//! shares every fully matching block (`Arc`, no copy), copies the matching rows of a partially
//! matching block, and computes only the rest. Sequences that sample from one prompt share its
//! blocks; `Arc::make_mut` copies a shared block the first time a sequence writes into it.
//!
//! Memory: unreferenced blocks are evicted least recently used first once the cache holds more
//! than its budget. Evicting a block in the middle of a chain is harmless: its successors are
//! keyed by token content, so recomputing the block makes them reachable again.

use half::f16;
use half::slice::HalfFloatSliceExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Tokens per block.
pub const KV_BLOCK: usize = 32;

/// Precision of stored keys and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvPrecision {
    F32,
    F16,
}

impl KvPrecision {
    /// Bytes of one stored key or value element.
    pub fn element_bytes(self) -> usize {
        match self {
            KvPrecision::F32 => 4,
            KvPrecision::F16 => 2,
        }
    }
}

/// Shape of the key/value state of one token position.
#[derive(Debug, Clone, Copy)]
pub struct KvShape {
    pub layers: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

impl KvShape {
    /// Values per block for keys (and again for values).
    fn block_values(&self) -> usize {
        self.layers * self.kv_heads * self.head_dim * KV_BLOCK
    }
}

/// Keys are stored dimension-major within a block (`[layer][head][dim][token]`) so that scoring
/// one query against 32 keys is a sequence of vector FMAs over the dimensions; values are
/// token-major (`[layer][head][token][dim]`) so that the weighted sum streams whole rows.
#[derive(Clone)]
pub enum KvData {
    F32 { k: Vec<f32>, v: Vec<f32> },
    F16 { k: Vec<f16>, v: Vec<f16> },
}

impl KvData {
    /// Address of key element `index` (for prefetching).
    pub fn k_ptr(&self, index: usize) -> *const u8 {
        match self {
            KvData::F32 { k, .. } => k[index..].as_ptr() as *const u8,
            KvData::F16 { k, .. } => k[index..].as_ptr() as *const u8,
        }
    }

    /// Address of value element `index` (for prefetching).
    pub fn v_ptr(&self, index: usize) -> *const u8 {
        match self {
            KvData::F32 { v, .. } => v[index..].as_ptr() as *const u8,
            KvData::F16 { v, .. } => v[index..].as_ptr() as *const u8,
        }
    }
}

pub struct KvBlock {
    /// The tokens whose state this block holds (at most `KV_BLOCK`).
    pub tokens: Vec<u32>,
    pub data: KvData,
    last_used: AtomicU64,
}

impl Clone for KvBlock {
    fn clone(&self) -> Self {
        KvBlock {
            tokens: self.tokens.clone(),
            data: self.data.clone(),
            last_used: AtomicU64::new(self.last_used.load(Ordering::Relaxed)),
        }
    }
}

impl KvBlock {
    pub fn new(shape: KvShape, precision: KvPrecision) -> Self {
        let n = shape.block_values();
        let data = match precision {
            KvPrecision::F32 => KvData::F32 {
                k: vec![0.0; n],
                v: vec![0.0; n],
            },
            KvPrecision::F16 => KvData::F16 {
                k: vec![f16::ZERO; n],
                v: vec![f16::ZERO; n],
            },
        };
        KvBlock {
            tokens: Vec::with_capacity(KV_BLOCK),
            data,
            last_used: AtomicU64::new(0),
        }
    }

    pub fn size_bytes(&self) -> usize {
        match &self.data {
            KvData::F32 { k, v } => (k.len() + v.len()) * 4,
            KvData::F16 { k, v } => (k.len() + v.len()) * 2,
        }
    }

    pub fn is_full(&self) -> bool {
        self.tokens.len() == KV_BLOCK
    }

    /// Stores one token's key and value rows for one layer at `slot`.
    pub fn write(&mut self, shape: KvShape, layer: usize, slot: usize, key: &[f32], value: &[f32]) {
        let hd = shape.head_dim;
        for h in 0..shape.kv_heads {
            let head = layer * shape.kv_heads + h;
            let k_base = head * hd * KV_BLOCK;
            let v_base = (head * KV_BLOCK + slot) * hd;
            match &mut self.data {
                KvData::F32 { k, v } => {
                    for d in 0..hd {
                        k[k_base + d * KV_BLOCK + slot] = key[h * hd + d];
                    }
                    v[v_base..v_base + hd].copy_from_slice(&value[h * hd..(h + 1) * hd]);
                }
                KvData::F16 { k, v } => {
                    // Whole rows at a time: `f16::from_f32` is a call per value (with a
                    // feature check inside), which made the phase holding these writes 2.6%
                    // of the episode, all of it on the engine thread while the worker waited.
                    // The slice conversion rounds the same way (to nearest even) with F16C,
                    // several values per instruction.
                    v[v_base..v_base + hd].convert_from_f32_slice(&value[h * hd..(h + 1) * hd]);
                    let mut key_row = [f16::ZERO; 64];
                    for (chunk, part) in key[h * hd..(h + 1) * hd].chunks(64).enumerate() {
                        let halves = &mut key_row[..part.len()];
                        halves.convert_from_f32_slice(part);
                        for (i, &half) in halves.iter().enumerate() {
                            k[k_base + (chunk * 64 + i) * KV_BLOCK + slot] = half;
                        }
                    }
                }
            }
        }
    }
}

/// The key/value state of one sequence: its blocks in order and how many tokens they hold.
#[derive(Clone, Default)]
pub struct SeqKv {
    pub blocks: Vec<Arc<KvBlock>>,
    pub tokens: Vec<u32>,
}

impl SeqKv {
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Makes room for `new_tokens` more tokens: appends blocks as needed and makes every block
    /// that will be written exclusively owned (copying blocks still shared with others).
    pub fn reserve(&mut self, new_tokens: &[u32], shape: KvShape, precision: KvPrecision) {
        let start = self.tokens.len();
        let end = start + new_tokens.len();
        while self.blocks.len() * KV_BLOCK < end {
            self.blocks.push(Arc::new(KvBlock::new(shape, precision)));
        }
        if new_tokens.is_empty() {
            return;
        }
        for b in start / KV_BLOCK..=(end - 1) / KV_BLOCK {
            let block = Arc::make_mut(&mut self.blocks[b]);
            let lo = start.max(b * KV_BLOCK);
            let hi = end.min((b + 1) * KV_BLOCK);
            block.tokens.truncate(lo - b * KV_BLOCK);
            block
                .tokens
                .extend_from_slice(&new_tokens[lo - start..hi - start]);
        }
        self.tokens.extend_from_slice(new_tokens);
    }

    /// The block holding position `pos`, for writing (after `reserve`).
    pub fn block_mut(&mut self, pos: usize) -> &mut KvBlock {
        Arc::get_mut(&mut self.blocks[pos / KV_BLOCK])
            .expect("reserve() made written blocks unique")
    }

    /// Forgets everything after the first `len` tokens.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.tokens.len() {
            return;
        }
        self.tokens.truncate(len);
        self.blocks.truncate(len.div_ceil(KV_BLOCK));
        if !len.is_multiple_of(KV_BLOCK) {
            let last = Arc::make_mut(self.blocks.last_mut().expect("a block holds the tail"));
            last.tokens.truncate(len % KV_BLOCK);
        }
    }
}

/// Hash of a token prefix, extended block by block (FNV-1a over the token ids).
fn extend_hash(mut hash: u64, tokens: &[u32]) -> u64 {
    for &t in tokens {
        for byte in t.to_le_bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

const EMPTY_PREFIX_HASH: u64 = 0xcbf2_9ce4_8422_2325;

/// Statistics a caller can report: how much of a prompt came from the cache.
#[derive(Debug, Default, Clone, Copy)]
pub struct CacheStats {
    pub blocks: usize,
    pub bytes: usize,
}

pub struct PrefixCache {
    shape: KvShape,
    precision: KvPrecision,
    /// Blocks by the hash of all tokens before them. Several blocks can follow one prefix.
    index: HashMap<u64, Vec<Arc<KvBlock>>>,
    bytes: usize,
    budget_bytes: usize,
    clock: u64,
}

impl PrefixCache {
    pub fn new(shape: KvShape, precision: KvPrecision, budget_bytes: usize) -> Self {
        PrefixCache {
            shape,
            precision,
            index: HashMap::new(),
            bytes: 0,
            budget_bytes,
            clock: 0,
        }
    }

    pub fn shape(&self) -> KvShape {
        self.shape
    }

    pub fn budget_bytes(&self) -> usize {
        self.budget_bytes
    }

    pub fn precision(&self) -> KvPrecision {
        self.precision
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            blocks: self.index.values().map(Vec::len).sum(),
            bytes: self.bytes,
        }
    }

    pub fn clear(&mut self) {
        self.index.clear();
        self.bytes = 0;
    }

    /// The longest cached prefix of `prompt`, leaving at least `keep_uncached` tokens to compute
    /// (the caller needs the logits of the last prompt token, so it passes 1).
    pub fn lookup(&mut self, prompt: &[u32], keep_uncached: usize) -> SeqKv {
        self.clock += 1;
        let limit = prompt.len().saturating_sub(keep_uncached);
        let mut seq = SeqKv::default();
        let mut hash = EMPTY_PREFIX_HASH;
        let mut pos = 0;
        while pos < limit {
            let want = &prompt[pos..(pos + KV_BLOCK).min(limit)];
            let Some(candidates) = self.index.get(&hash) else {
                break;
            };
            let best = candidates
                .iter()
                .map(|block| (common_prefix(&block.tokens, want), block))
                .max_by_key(|(n, _)| *n);
            let Some((matched, block)) = best else { break };
            if matched == 0 {
                break;
            }
            block.last_used.store(self.clock, Ordering::Relaxed);
            if matched == KV_BLOCK {
                seq.blocks.push(block.clone());
                seq.tokens.extend_from_slice(want);
                hash = extend_hash(hash, want);
                pos += KV_BLOCK;
                continue;
            }
            // A partial match: share the block; the sequence's first write copies it.
            seq.blocks.push(block.clone());
            seq.tokens.extend_from_slice(&want[..matched]);
            if let Some(last) = seq.blocks.last_mut()
                && last.tokens.len() != matched
            {
                Arc::make_mut(last).tokens.truncate(matched);
            }
            break;
        }
        seq
    }

    /// Registers every block of `seq` so later prompts sharing its prefix can reuse it.
    pub fn insert(&mut self, seq: &SeqKv) {
        self.clock += 1;
        let mut hash = EMPTY_PREFIX_HASH;
        for (b, block) in seq.blocks.iter().enumerate() {
            let tokens = &seq.tokens[b * KV_BLOCK..seq.tokens.len().min((b + 1) * KV_BLOCK)];
            if tokens.is_empty() {
                break;
            }
            debug_assert_eq!(tokens, &block.tokens[..]);
            block.last_used.store(self.clock, Ordering::Relaxed);
            let entry = self.index.entry(hash).or_default();
            let mut add = true;
            entry.retain(|existing| {
                if Arc::ptr_eq(existing, block) || existing.tokens.starts_with(tokens) {
                    add = false; // already known, or a longer version of it is
                    true
                } else if tokens.starts_with(&existing.tokens) {
                    self.bytes -= existing.size_bytes(); // the new block supersedes it
                    false
                } else {
                    true
                }
            });
            if add {
                self.bytes += block.size_bytes();
                entry.push(block.clone());
            }
            hash = extend_hash(hash, tokens);
        }
        self.evict();
    }

    /// Drops least recently used blocks nobody else holds until the cache fits its budget.
    fn evict(&mut self) {
        if self.bytes <= self.budget_bytes {
            return;
        }
        let mut idle: Vec<(u64, u64, *const KvBlock)> = self
            .index
            .iter()
            .flat_map(|(&key, blocks)| {
                blocks
                    .iter()
                    .filter(|b| Arc::strong_count(b) == 1)
                    .map(move |b| (b.last_used.load(Ordering::Relaxed), key, Arc::as_ptr(b)))
            })
            .collect();
        idle.sort_unstable_by_key(|&(used, key, _)| (used, key));
        for (_, key, ptr) in idle {
            if self.bytes <= self.budget_bytes {
                break;
            }
            if let Some(blocks) = self.index.get_mut(&key) {
                if let Some(i) = blocks.iter().position(|b| Arc::as_ptr(b) == ptr) {
                    self.bytes -= blocks[i].size_bytes();
                    blocks.swap_remove(i);
                }
                if blocks.is_empty() {
                    self.index.remove(&key);
                }
            }
        }
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: KvShape = KvShape {
        layers: 2,
        kv_heads: 1,
        head_dim: 4,
    };

    /// The f16 cache stores exactly what `f16::from_f32` gives for every value, ties,
    /// subnormals, overflow and NaN included, in keys (dimension-major) and values alike, for
    /// head dimensions above the 64 converted at a time.
    #[test]
    fn f16_writes_round_like_from_f32() {
        let shape = KvShape {
            layers: 1,
            kv_heads: 2,
            head_dim: 80,
        };
        let specials = [
            0.0,
            -0.0,
            1.0 + f32::EPSILON,
            1.000_488_3, // halfway between two f16 values: ties to even
            1.001_464_8, // the next tie, rounding up
            65_504.0,
            65_520.0, // rounds to infinity
            1e-7,     // f16 subnormal
            -3e-8,
            f32::INFINITY,
            f32::NAN,
        ];
        let row = |salt: usize| -> Vec<f32> {
            (0..shape.kv_heads * shape.head_dim)
                .map(|i| match specials.get((i + salt) % 23) {
                    Some(&x) => x,
                    None => ((i * 37 + salt) % 101) as f32 * 0.731 - 30.0,
                })
                .collect()
        };
        let mut block = KvBlock::new(shape, KvPrecision::F16);
        let slot = 5;
        let (key, value) = (row(0), row(7));
        block.write(shape, 0, slot, &key, &value);
        let KvData::F16 { k, v } = &block.data else {
            unreachable!()
        };
        let hd = shape.head_dim;
        for h in 0..shape.kv_heads {
            for d in 0..hd {
                let stored_k = k[h * hd * KV_BLOCK + d * KV_BLOCK + slot];
                let stored_v = v[(h * KV_BLOCK + slot) * hd + d];
                assert_eq!(stored_k.to_bits(), f16::from_f32(key[h * hd + d]).to_bits());
                assert_eq!(
                    stored_v.to_bits(),
                    f16::from_f32(value[h * hd + d]).to_bits()
                );
            }
        }
    }

    /// A sequence whose stored key for token t at layer l is (t + l) in every dimension.
    fn computed(tokens: &[u32], from: SeqKv) -> SeqKv {
        let mut seq = from;
        let start = seq.len();
        seq.reserve(&tokens[start..], SHAPE, KvPrecision::F32);
        for (pos, &token) in tokens.iter().enumerate().skip(start) {
            for layer in 0..2 {
                let key = [(token + layer as u32) as f32; 4];
                seq.block_mut(pos)
                    .write(SHAPE, layer, pos % KV_BLOCK, &key, &key);
            }
        }
        seq
    }

    #[test]
    fn a_longer_prompt_reuses_the_shorter_ones_state() {
        let mut cache = PrefixCache::new(SHAPE, KvPrecision::F32, usize::MAX);
        let first: Vec<u32> = (0..70).collect();
        let seq = computed(&first, cache.lookup(&first, 1));
        cache.insert(&seq);
        let mut second = first.clone();
        second.extend(100..110);
        let found = cache.lookup(&second, 1);
        assert_eq!(found.len(), 70, "all of the first prompt is reused");
        assert!(
            Arc::ptr_eq(&found.blocks[0], &seq.blocks[0]),
            "full blocks are shared"
        );
        // The same prompt again: all but the last token.
        assert_eq!(cache.lookup(&first, 1).len(), 69);
        // A prompt that diverges inside the second block reuses up to the divergence.
        let mut third = first.clone();
        third[40] = 999;
        assert_eq!(cache.lookup(&third, 1).len(), 40);
        // A different first token shares nothing.
        let mut fourth = first.clone();
        fourth[0] = 999;
        assert_eq!(cache.lookup(&fourth, 1).len(), 0);
    }

    #[test]
    fn writing_into_a_shared_block_copies_it() {
        let mut cache = PrefixCache::new(SHAPE, KvPrecision::F32, usize::MAX);
        let prompt: Vec<u32> = (0..40).collect();
        let base = computed(&prompt, SeqKv::default());
        cache.insert(&base);
        let mut a = base.clone();
        let mut longer = prompt.clone();
        longer.push(7);
        a = computed(&longer, a);
        assert!(
            !Arc::ptr_eq(&a.blocks[1], &base.blocks[1]),
            "the tail block was copied"
        );
        assert!(
            Arc::ptr_eq(&a.blocks[0], &base.blocks[0]),
            "the full block is still shared"
        );
        assert_eq!(base.blocks[1].tokens.len(), 8, "the original is unchanged");
    }

    #[test]
    fn eviction_keeps_the_cache_within_budget() {
        let one_block = KvBlock::new(SHAPE, KvPrecision::F32).size_bytes();
        let mut cache = PrefixCache::new(SHAPE, KvPrecision::F32, 3 * one_block);
        for start in 0..10u32 {
            let prompt: Vec<u32> = (start * 1000..start * 1000 + 32).collect();
            let seq = computed(&prompt, SeqKv::default());
            cache.insert(&seq);
        }
        assert!(cache.stats().bytes <= 3 * one_block);
        // The most recent prompt is still there.
        let last: Vec<u32> = (9000..9032).chain([1]).collect();
        assert_eq!(cache.lookup(&last, 1).len(), 32);
    }
}
