//! The decoder-only transformer of every family the engine runs (`architecture.rs` says how the
//! families differ; this file implements the union of their features and asks the
//! configuration which apply).
//!
//! Touvron et al. 2023, "Llama 2: Open Foundation and Fine-Tuned Chat Models" (arXiv 2307.09288):
//! pre-norm RMSNorm, rotary position embeddings, SwiGLU feed-forward, grouped-query attention;
//! with Qwen2's q/k/v biases, Qwen3's q/k norms, and Gemma's GeGLU, post-norms, embedding
//! scale, soft-caps and alternating sliding windows as options of the same block.
//!
//! `forward` runs a *batch of sequences* of different lengths in one pass: the rows of all
//! sequences are stacked for the matrix multiplications, and each row attends only to its own
//! sequence's keys (`attention.rs`). A prompt is one sequence with many rows; decoding n samples
//! is n sequences with one row each; both mixed is fine. Because every kernel computes each row
//! independently of the others, how rows are grouped never changes the results.
//!
//! Over 1,000 lines: the seams (`PassPlan`, `embed`, `attention_block`, `feed_forward_block`,
//! `residual_hooks`, `logits`) share the plan, the scratch buffers and the attention layouts,
//! which are private to this file; the row-parallel element-wise helpers at the end (norms,
//! gated activations) are the part that could move out next.

use super::architecture::Activation;
use super::attention::{
    AttendAt, AttentionShape, RowHook, RowInput, RowsPlan, attention_scores, attention_softmax,
    attention_sums,
};
use super::config::{RopeStyle, TransformerConfig};
use super::hooks::{HiddenRows, SequenceHook};
use super::kernels::{Isa, matmul, matmul_quantized, quantize_rows_of};
use super::kv_cache::{KV_BLOCK, KvBlock, KvPrecision, KvShape, SeqKv};
use super::math::{self, RopeTable};
use super::pool::{ThreadPool, split_range};
use super::profile::{self, Phase};
use super::quant::{Matrix, QuantizedRows};
use crate::model::options::Positions;
use crate::model::options::Readout;
use std::ops::Range;
use std::sync::Arc;

pub struct Layer {
    pub attn_norm: Vec<f32>,
    /// q, k and v projections stacked: rows `[0, q_dim)`, `[q_dim, q_dim + kv_dim)`, then v.
    pub qkv: Matrix,
    pub qkv_bias: Option<Vec<f32>>,
    /// RMSNorm weights of every query head and every key head (before RoPE).
    pub qk_norm: Option<(Vec<f32>, Vec<f32>)>,
    pub attn_output: Matrix,
    /// Norms of the attention output and of the feed-forward output, before each residual add.
    pub post_norms: Option<(Vec<f32>, Vec<f32>)>,
    pub ffn_norm: Vec<f32>,
    /// Gate and up projections stacked: rows `[0, ffn)` gate, `[ffn, 2·ffn)` up.
    pub gate_up: Matrix,
    pub down: Matrix,
}

pub struct Transformer {
    pub config: TransformerConfig,
    pub embedding: Matrix,
    pub layers: Vec<Layer>,
    pub final_norm: Vec<f32>,
    /// The output projection; `None` when it is tied to the embedding.
    pub output: Option<Matrix>,
    rope: RopeTable,
    /// The windowed layers' table when their RoPE base differs (Gemma 3); `None` otherwise,
    /// and then no angles are computed for it.
    local_rope: Option<RopeTable>,
}

/// Which of an item's rows return logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogitRows {
    None,
    /// The last row: what comes after the item's tokens.
    Last,
    /// Every row, in order (verifying drafted tokens).
    All,
}

/// One sequence's part of a batch: the tokens to append and which of them return logits.
pub struct BatchItem<'a> {
    pub seq: &'a mut SeqKv,
    pub tokens: &'a [u32],
    pub logits: LogitRows,
    /// Read-outs and interventions for this sequence; `None` costs nothing.
    pub hook: Option<&'a SequenceHook>,
}

/// Everything a forward pass needs besides the weights.
pub struct ForwardContext<'a> {
    pub pool: &'a ThreadPool,
    pub isa: Isa,
    pub kv_precision: KvPrecision,
}

/// Reusable buffers, so that decoding allocates nothing per token.
#[derive(Default)]
pub struct Scratch {
    x: Vec<f32>,
    h: Vec<f32>,
    qkv: Vec<f32>,
    attn: Vec<f32>,
    proj: Vec<f32>,
    gate_up: Vec<f32>,
    act: Vec<f32>,
    cos: Vec<f32>,
    sin: Vec<f32>,
    /// The rows' angles in the local RoPE table, when the model has one.
    cos_local: Vec<f32>,
    sin_local: Vec<f32>,
    /// Attention scores of every (kv head, row group), as `attention_layout` lays them out.
    scores: Vec<f32>,
    xq: QuantizedRows,
    /// Logits of the items that asked for them, `vocab` floats each, in item order.
    pub logits: Vec<f32>,
    /// π of the last row of every item (`layers × heads` per item, item order); filled only
    /// for items whose hook asks for a read-out.
    pub pi: Vec<f32>,
    /// With `Readout::Full`, the attention rows of each such item's last row: `layers × heads`
    /// rows of `position + 1` weights, from `full_offsets[item]`.
    pub full: Vec<f32>,
    pub full_offsets: Vec<usize>,
    /// Hidden states of the items whose hook asks for them ([`HiddenReadout`]): for each read
    /// row, the readout's layers in its order, `hidden` floats each, from
    /// `hidden_offsets[item]`.
    pub hidden: Vec<f32>,
    pub hidden_offsets: Vec<usize>,
}

/// Rows of the output buffer written by concurrent tasks (disjoint ranges).
#[derive(Clone, Copy)]
struct SharedRows(*mut f32);
unsafe impl Send for SharedRows {}
unsafe impl Sync for SharedRows {}
impl SharedRows {
    /// SAFETY: callers write disjoint ranges while the buffer outlives the region.
    unsafe fn slice(self, start: usize, len: usize) -> &'static mut [f32] {
        unsafe { std::slice::from_raw_parts_mut(self.0.add(start), len) }
    }
}

/// Rows that attend together (one task per key/value head each), largest first so that the
/// pool's last tasks are short: an item's prompt rows in runs of 16, and single decoding rows of
/// items whose caches start with the same block (answers sampled from one prompt), up to 8.
fn attention_row_groups(items: &[BatchItem<'_>], item_first_row: &[usize]) -> Vec<Range<usize>> {
    let mut groups: Vec<(usize, Range<usize>)> = Vec::new();
    // Open group of single rows per first block: (block address, index into `groups`).
    let mut open: Vec<(*const KvBlock, usize)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let n = item.tokens.len();
        let first_row = item_first_row[i];
        let context = item.seq.len();
        if n == 1 {
            let first_block = Arc::as_ptr(&item.seq.blocks[0]);
            // Items come in request order, so answers of one prompt are adjacent rows.
            if let Some(&(_, g)) = open.iter().find(|(b, _)| *b == first_block) {
                let (cost, range) = &mut groups[g];
                if range.end == first_row && range.len() < 8 {
                    range.end += 1;
                    *cost += context;
                    continue;
                }
            }
            open.retain(|(b, _)| *b != first_block);
            open.push((first_block, groups.len()));
            groups.push((context, first_row..first_row + 1));
        } else {
            let chunks = n.div_ceil(16);
            for c in 0..chunks {
                let range = split_range(n, chunks, c);
                groups.push((
                    range.len() * context,
                    first_row + range.start..first_row + range.end,
                ));
            }
        }
    }
    groups.sort_by_key(|(cost, _)| std::cmp::Reverse(*cost));
    groups.into_iter().map(|(_, range)| range).collect()
}

/// How one forward pass cuts its attention into tasks: one per (kv head, row group). The row
/// groups and their plans are the same in every layer.
///
/// Tried and not kept: with fewer tasks than two per thread (one stream decoding), cutting
/// each into scores by block ranges, softmax, and sums by halves of the head dimension (three
/// pool regions per layer, same bits) measured no faster at 1,500 tokens of context: the
/// likely reason: the halves of a value row are adjacent cache lines, which the hardware
/// fetches in pairs, so both threads read all of them.
struct AttentionLayout {
    groups: Vec<Range<usize>>,
    plans: Vec<RowsPlan>,
    /// (kv head, group) pairs.
    tasks: Vec<(usize, usize)>,
    /// Offset of each group's scores within one kv head's part of the score buffer.
    offsets: Vec<usize>,
    /// Scores of one kv head's groups; the buffer holds one such part per kv head.
    per_head: usize,
}

impl AttentionLayout {
    fn new(
        items: &[BatchItem<'_>],
        item_first_row: &[usize],
        row_item: &[usize],
        row_pos: &[usize],
        shape: &AttentionShape,
    ) -> Self {
        let groups = attention_row_groups(items, item_first_row);
        let plans: Vec<RowsPlan> = groups
            .iter()
            .map(|rows| {
                let inputs: Vec<RowInput<'_>> = rows
                    .clone()
                    .map(|r| RowInput {
                        kv: &*items[row_item[r]].seq,
                        position: row_pos[r],
                        q: &[],
                    })
                    .collect();
                RowsPlan::new(shape, &inputs)
            })
            .collect();
        let mut offsets = Vec::with_capacity(plans.len());
        let mut per_head = 0;
        for plan in &plans {
            offsets.push(per_head);
            per_head += plan.scores_len;
        }
        // Largest groups first across all heads (groups are sorted by cost), so that the
        // pool's last tasks are the short ones: kv head by kv head, a thread could pick up a
        // long-context group's task just as the other ran out of work.
        let kv_heads = shape.kv_heads;
        let tasks: Vec<(usize, usize)> = (0..groups.len())
            .flat_map(|gi| (0..kv_heads).map(move |g| (g, gi)))
            .collect();
        AttentionLayout {
            groups,
            plans,
            tasks,
            offsets,
            per_head,
        }
    }

    /// The score buffer's region of (kv head, group).
    fn region(&self, g: usize, gi: usize) -> Range<usize> {
        let start = g * self.per_head + self.offsets[gi];
        start..start + self.plans[gi].scores_len
    }
}

impl Transformer {
    pub fn new(
        config: TransformerConfig,
        embedding: Matrix,
        layers: Vec<Layer>,
        final_norm: Vec<f32>,
        output: Option<Matrix>,
    ) -> Self {
        let rope = RopeTable::new(
            config.head_dim,
            config.rope_theta,
            config.rope_linear_factor,
            config.rope_freq_factors.as_deref(),
        );
        // Position scaling applies to the global layers only (transformers' Gemma 3 rotates
        // its local layers with the default RoPE; llama.cpp's `rope_freq_scale_train_swa` is 1).
        let local_rope = config
            .local_rope_theta
            .map(|theta| RopeTable::new(config.head_dim, theta, 1.0, None));
        Transformer {
            config,
            embedding,
            layers,
            final_norm,
            output,
            rope,
            local_rope,
        }
    }

    pub fn kv_shape(&self) -> KvShape {
        KvShape {
            layers: self.config.layers,
            kv_heads: self.config.kv_heads,
            head_dim: self.config.head_dim,
        }
    }

    /// The attention geometry of layer `layer` (its window, scale and soft-cap).
    fn attention_shape(&self, layer: usize) -> AttentionShape {
        let cfg = &self.config;
        AttentionShape {
            scale: cfg.attention_scale,
            softcap: cfg.attention_softcap,
            ..AttentionShape::new(
                cfg.heads,
                cfg.kv_heads,
                cfg.head_dim,
                cfg.layer_window(layer),
            )
        }
    }

    /// Bytes held by the weights.
    pub fn weight_bytes(&self) -> usize {
        self.embedding.size_bytes()
            + self.output.as_ref().map_or(0, Matrix::size_bytes)
            + self.layer_weight_bytes()
    }

    /// Bytes of the layers' projection matrices.
    fn layer_weight_bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|l| {
                l.qkv.size_bytes()
                    + l.attn_output.size_bytes()
                    + l.gate_up.size_bytes()
                    + l.down.size_bytes()
            })
            .sum()
    }

    /// A forward pass's work for the profile. Attention: per row, query head and visible
    /// position, one multiply-add per head dimension for the score and one for the weighted
    /// sum, and the key/value blocks its layout loads. Matrices: the layers' projections for
    /// every row, and the vocabulary projection for the rows whose logits are asked for.
    fn pass_work(
        &self,
        items: &[BatchItem<'_>],
        plan: &PassPlan<'_>,
        kv_precision: KvPrecision,
    ) -> profile::PassWork {
        let cfg = &self.config;
        let (mut visible, mut blocks_loaded) = (0, 0);
        for l in 0..cfg.layers {
            let shape = self.attention_shape(l);
            visible += plan
                .row_pos
                .iter()
                .map(|&p| p + 1 - shape.first_visible(p))
                .sum::<usize>();
            let layout = plan.layout(shape.window);
            blocks_loaded += layout
                .plans
                .iter()
                .map(RowsPlan::blocks_loaded)
                .sum::<usize>();
        }
        let block_bytes = KV_BLOCK * cfg.head_dim * kv_precision.element_bytes();

        let (hidden, q_dim, kv_dim, ffn) = (cfg.hidden, cfg.q_dim(), cfg.kv_dim(), cfg.ffn_hidden);
        let per_row = cfg.layers * hidden * (q_dim + 2 * kv_dim + q_dim + 3 * ffn);
        let logit_rows: usize = items
            .iter()
            .map(|item| match item.logits {
                LogitRows::None => 0,
                LogitRows::Last => item.tokens.len().min(1),
                LogitRows::All => item.tokens.len(),
            })
            .sum();
        let output = self.output.as_ref().unwrap_or(&self.embedding);
        let output_bytes = if logit_rows > 0 {
            output.size_bytes()
        } else {
            0
        };
        profile::PassWork {
            attention_multiply_adds: (visible * cfg.heads * cfg.head_dim * 2) as u64,
            matrix_multiply_adds: (plan.rows * per_row + logit_rows * output.rows * hidden) as u64,
            key_value_bytes: (blocks_loaded * block_bytes * cfg.kv_heads) as u64,
            weight_bytes: (self.layer_weight_bytes() + output_bytes) as u64,
        }
    }

    /// Appends each item's tokens to its sequence, computing their keys and values, and writes
    /// the logits of the rows each item asks for (`LogitRows`) into `scratch.logits`, item by
    /// item and row by row.
    ///
    /// The pass reads like the block diagram: a plan of the rows ([`PassPlan`]), the token
    /// embeddings, then per layer the attention block, the feed-forward block and the residual
    /// hooks, then the logits.
    pub fn forward(
        &self,
        ctx: &ForwardContext<'_>,
        items: &mut [BatchItem<'_>],
        scratch: &mut Scratch,
    ) {
        let mut clock = profile::start();
        let Some(plan) = PassPlan::new(self, ctx, items, scratch) else {
            scratch.logits.clear();
            return;
        };
        self.embed(&plan, items, scratch);
        profile::lap(Phase::Setup, &mut clock);
        for (l, layer) in self.layers.iter().enumerate() {
            self.attention_block(ctx, &plan, l, layer, items, scratch, &mut clock);
            self.feed_forward_block(ctx, layer, scratch, &mut clock);
            if plan.touches_residual {
                self.residual_hooks(&plan, l, items, scratch);
            }
        }
        self.logits(ctx, &plan, items, scratch);
        profile::lap(Phase::Logits, &mut clock);
    }

    /// Token embeddings of every row into `scratch.x`, and the rows' RoPE angles.
    fn embed(&self, plan: &PassPlan, items: &[BatchItem<'_>], scratch: &mut Scratch) {
        let hidden = self.config.hidden;
        scratch.x.resize(plan.rows * hidden, 0.0);
        let mut r = 0;
        for item in items {
            for &t in item.tokens {
                let row = &mut scratch.x[r * hidden..(r + 1) * hidden];
                self.embedding.dequantize_row(t as usize, row);
                if let Some(scale) = self.config.embedding_scale {
                    row.iter_mut().for_each(|v| *v *= scale);
                }
                r += 1;
            }
        }
        let pairs = self.rope.pairs();
        let tables = [
            (Some(&self.rope), &mut scratch.cos, &mut scratch.sin),
            (
                self.local_rope.as_ref(),
                &mut scratch.cos_local,
                &mut scratch.sin_local,
            ),
        ];
        for (table, cos, sin) in tables {
            let Some(table) = table else { continue };
            cos.resize(plan.rows * pairs, 0.0);
            sin.resize(plan.rows * pairs, 0.0);
            for (r, &pos) in plan.row_pos.iter().enumerate() {
                table.angles(
                    pos,
                    &mut cos[r * pairs..(r + 1) * pairs],
                    &mut sin[r * pairs..(r + 1) * pairs],
                );
            }
        }
    }

    /// x += attention(norm(x)) for layer `l`: q, k and v of every row, RoPE, keys and values
    /// into each item's cache, attention of every (kv head, row group) with the items' hooks,
    /// and the output projection.
    #[allow(clippy::too_many_arguments)]
    fn attention_block(
        &self,
        ctx: &ForwardContext<'_>,
        plan: &PassPlan,
        l: usize,
        layer: &Layer,
        items: &mut [BatchItem<'_>],
        scratch: &mut Scratch,
        clock: &mut profile::Clock,
    ) {
        let cfg = &self.config;
        let (hidden, q_dim, kv_dim) = (cfg.hidden, cfg.q_dim(), cfg.kv_dim());
        let qkv_dim = q_dim + 2 * kv_dim;
        let rows = plan.rows;
        let kv_shape = self.kv_shape();
        let hd = cfg.head_dim;
        rms_norm_rows(
            ctx.pool,
            ctx.isa,
            &scratch.x,
            &layer.attn_norm,
            cfg.rms_eps,
            hidden,
            &mut scratch.h,
        );
        profile::lap(Phase::Norm, clock);
        matmul(
            ctx.pool,
            ctx.isa,
            &layer.qkv,
            &scratch.h,
            rows,
            &mut scratch.qkv,
            &mut scratch.xq,
        );
        profile::lap(Phase::QkvProjection, clock);
        let interleaved = cfg.rope_style == RopeStyle::Interleaved;
        let pairs = self.rope.pairs();
        let (all_cos, all_sin) = if cfg.layer_uses_local_rope(l) {
            (&scratch.cos_local, &scratch.sin_local)
        } else {
            (&scratch.cos, &scratch.sin)
        };
        for r in 0..rows {
            let row = &mut scratch.qkv[r * qkv_dim..(r + 1) * qkv_dim];
            if let Some(bias) = &layer.qkv_bias {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v += b;
                }
            }
            if let Some((q_norm, k_norm)) = &layer.qk_norm {
                let (q, k) = row[..q_dim + kv_dim].split_at_mut(q_dim);
                for (heads, weight) in [(q, q_norm), (k, k_norm)] {
                    for head in heads.chunks_exact_mut(hd) {
                        rms_norm_in_place_for(ctx.isa, head, weight, cfg.rms_eps);
                    }
                }
            }
            let (cos, sin) = (
                &all_cos[r * pairs..(r + 1) * pairs],
                &all_sin[r * pairs..(r + 1) * pairs],
            );
            for head in row[..q_dim + kv_dim].chunks_exact_mut(hd) {
                math::rope(head, cos, sin, interleaved);
            }
            let item = &mut items[plan.row_item[r]];
            let pos = plan.row_pos[r];
            let (key, value) = row[q_dim..].split_at(kv_dim);
            item.seq
                .block_mut(pos)
                .write(kv_shape, l, pos % KV_BLOCK, key, value);
        }
        profile::lap(Phase::RopeAndCache, clock);

        self.attend(ctx, plan, l, items, scratch);
        profile::lap(Phase::Attention, clock);

        matmul(
            ctx.pool,
            ctx.isa,
            &layer.attn_output,
            &scratch.attn,
            rows,
            &mut scratch.proj,
            &mut scratch.xq,
        );
        if let Some((post_attention, _)) = &layer.post_norms {
            post_norm_rows(ctx, &mut scratch.proj, post_attention, cfg.rms_eps, hidden);
        }
        add_in_place(&mut scratch.x, &scratch.proj);
        profile::lap(Phase::OutputProjection, clock);
    }

    /// Attention of every (kv head, row group) of layer `l` into `scratch.attn`; see
    /// [`AttentionLayout`] for how the work is cut into tasks.
    fn attend(
        &self,
        ctx: &ForwardContext<'_>,
        plan: &PassPlan,
        l: usize,
        items: &[BatchItem<'_>],
        scratch: &mut Scratch,
    ) {
        let cfg = &self.config;
        let (q_dim, kv_dim, hd) = (cfg.q_dim(), cfg.kv_dim(), cfg.head_dim);
        let qkv_dim = q_dim + 2 * kv_dim;
        let (heads, layer_heads) = (cfg.heads, cfg.layers * cfg.heads);
        let kv_shape = self.kv_shape();
        let shape = self.attention_shape(l);
        let layout = plan.layout(shape.window);
        let (row_item, row_pos) = (&plan.row_item, &plan.row_pos);
        let seqs: Vec<&SeqKv> = items.iter().map(|item| &*item.seq).collect();
        let attn_out = SharedRows(scratch.attn.as_mut_ptr());
        let pi_out = SharedRows(scratch.pi.as_mut_ptr());
        let full_out = SharedRows(scratch.full.as_mut_ptr());
        let scores_out = SharedRows(scratch.scores.as_mut_ptr());
        let full_offsets = &scratch.full_offsets;
        let qkv = &scratch.qkv;
        let group = shape.group();
        let at = |g: usize| AttendAt {
            kv_shape,
            layer: l,
            kv_head: g,
            shape,
        };
        let inputs = |g: usize, rows: &Range<usize>| -> Vec<RowInput<'_>> {
            rows.clone()
                .map(|r| RowInput {
                    kv: seqs[row_item[r]],
                    position: row_pos[r],
                    q: &qkv[r * qkv_dim + g * group * hd..r * qkv_dim + (g + 1) * group * hd],
                })
                .collect()
        };
        // SAFETY (for the three below): each (kv head, row group) owns its region of the
        // score buffer, the columns of its kv head in its rows of the output, and the
        // read-out slots of its items' rows, layer and heads.
        let outs = |g: usize, rows: &Range<usize>| -> Vec<*mut f32> {
            rows.clone()
                .map(|r| {
                    unsafe { attn_out.slice(r * q_dim + g * group * hd, group * hd) }.as_mut_ptr()
                })
                .collect()
        };
        let scores_of = |g: usize, gi: usize| unsafe {
            let region = layout.region(g, gi);
            scores_out.slice(region.start, region.len())
        };
        let row_hooks = |g: usize, rows: &Range<usize>| -> Vec<Option<RowHook<'_>>> {
            rows.clone()
                .map(|r| {
                    let i = row_item[r];
                    let (hook, readout, end_row) = plan.hooks[i];
                    let pos = row_pos[r];
                    hook.filter(|h| h.touches_attention()).map(|h| {
                        let last_row = r + 1 == end_row;
                        let heads_at = i * layer_heads + l * heads + g * group;
                        let width = pos + 1;
                        RowHook {
                            system: h.system.clone(),
                            split_k: h
                                .split
                                .as_ref()
                                .filter(|s| s.layers.contains(&l))
                                .map(|s| s.k),
                            pi: (last_row && readout != Readout::Off)
                                .then(|| unsafe { pi_out.slice(heads_at, group) }),
                            full: (last_row && readout == Readout::Full).then(|| unsafe {
                                full_out.slice(
                                    full_offsets[i] + (l * heads + g * group) * width,
                                    group * width,
                                )
                            }),
                        }
                    })
                })
                .collect()
        };
        ctx.pool.run(layout.tasks.len(), &|t| {
            let (g, gi) = layout.tasks[t];
            let (rows, rows_plan, at) = (&layout.groups[gi], &layout.plans[gi], at(g));
            let inputs = inputs(g, rows);
            let scores = scores_of(g, gi);
            // SAFETY: see above.
            unsafe {
                attention_scores(
                    ctx.isa,
                    &at,
                    rows_plan,
                    &inputs,
                    0..rows_plan.blocks,
                    scores.as_mut_ptr(),
                )
            };
            attention_softmax(ctx.isa, &at, rows_plan, scores, &mut row_hooks(g, rows));
            unsafe {
                attention_sums(
                    ctx.isa,
                    &at,
                    rows_plan,
                    &inputs,
                    scores,
                    &outs(g, rows),
                    0..hd,
                )
            };
        });
    }

    /// x += down(act(gate(norm(x))) · up(norm(x))).
    fn feed_forward_block(
        &self,
        ctx: &ForwardContext<'_>,
        layer: &Layer,
        scratch: &mut Scratch,
        clock: &mut profile::Clock,
    ) {
        let cfg = &self.config;
        let (hidden, ffn) = (cfg.hidden, cfg.ffn_hidden);
        let rows = scratch.x.len() / hidden;
        rms_norm_rows(
            ctx.pool,
            ctx.isa,
            &scratch.x,
            &layer.ffn_norm,
            cfg.rms_eps,
            hidden,
            &mut scratch.h,
        );
        profile::lap(Phase::Norm, clock);
        matmul(
            ctx.pool,
            ctx.isa,
            &layer.gate_up,
            &scratch.h,
            rows,
            &mut scratch.gate_up,
            &mut scratch.xq,
        );
        profile::lap(Phase::GateUp, clock);
        gated_activation_rows(
            ctx.pool,
            ctx.isa,
            cfg.activation(),
            &scratch.gate_up,
            ffn,
            &mut scratch.act,
            layer.down.is_quantized().then_some(&mut scratch.xq),
        );
        profile::lap(Phase::Swiglu, clock);
        matmul_quantized(
            ctx.pool,
            ctx.isa,
            &layer.down,
            &scratch.act,
            rows,
            &mut scratch.proj,
            &scratch.xq,
        );
        if let Some((_, post_feed_forward)) = &layer.post_norms {
            post_norm_rows(
                ctx,
                &mut scratch.proj,
                post_feed_forward,
                cfg.rms_eps,
                hidden,
            );
        }
        add_in_place(&mut scratch.x, &scratch.proj);
        profile::lap(Phase::Down, clock);
    }

    /// The one place where a hook reads or changes the residual stream: the hidden state of
    /// each item's rows after layer `l` (DESIGN.md §2b). Edits first, then the read-out, so
    /// that what is read is what the next layer sees.
    fn residual_hooks(
        &self,
        plan: &PassPlan,
        l: usize,
        items: &[BatchItem<'_>],
        scratch: &mut Scratch,
    ) {
        let hidden = self.config.hidden;
        for (i, item) in items.iter().enumerate() {
            let Some(hook) = item.hook else { continue };
            let first = plan.item_first_row[i];
            let rows = first..first + item.tokens.len();
            let last_row = rows.end.saturating_sub(1).max(rows.start)..rows.end;
            for prepared in hook.residual.iter().filter(|e| e.edit.layer == l) {
                let edited = match prepared.edit.positions {
                    Positions::All => rows.clone(),
                    Positions::Last => last_row.clone(),
                };
                for r in edited {
                    prepared.apply(&mut scratch.x[r * hidden..(r + 1) * hidden]);
                }
            }
            let Some(readout) = &hook.hidden else {
                continue;
            };
            let Some(j) = readout.layers.iter().position(|&rl| rl == l) else {
                continue;
            };
            let read = match readout.rows {
                HiddenRows::All => rows.clone(),
                HiddenRows::Last => last_row.clone(),
            };
            let layers = readout.layers.len();
            for (k, r) in read.clone().enumerate() {
                let at = scratch.hidden_offsets[i] + (k * layers + j) * hidden;
                let (x, out) = (&scratch.x, &mut scratch.hidden);
                out[at..at + hidden].copy_from_slice(&x[r * hidden..(r + 1) * hidden]);
            }
        }
    }

    /// Final norm and vocabulary projection of the rows whose logits are asked for.
    fn logits(
        &self,
        ctx: &ForwardContext<'_>,
        plan: &PassPlan,
        items: &[BatchItem<'_>],
        scratch: &mut Scratch,
    ) {
        let cfg = &self.config;
        let hidden = cfg.hidden;
        let logit_rows: Vec<usize> = items
            .iter()
            .enumerate()
            .flat_map(|(i, item)| {
                let len = item.tokens.len();
                let wanted = match item.logits {
                    LogitRows::None => 0..0,
                    LogitRows::Last => len.saturating_sub(1)..len,
                    LogitRows::All => 0..len,
                };
                let first = plan.item_first_row[i];
                wanted.map(move |j| first + j)
            })
            .collect();
        let n = logit_rows.len();
        scratch.h.resize(n * hidden, 0.0);
        for (j, &r) in logit_rows.iter().enumerate() {
            rms_norm_for(
                ctx.isa,
                &scratch.x[r * hidden..(r + 1) * hidden],
                &self.final_norm,
                cfg.rms_eps,
                &mut scratch.h[j * hidden..(j + 1) * hidden],
            );
        }
        let output = self.output.as_ref().unwrap_or(&self.embedding);
        scratch.logits.resize(n * output.rows, 0.0);
        matmul(
            ctx.pool,
            ctx.isa,
            output,
            &scratch.h[..n * hidden],
            n,
            &mut scratch.logits,
            &mut scratch.xq,
        );
        if let Some(cap) = cfg.final_softcap {
            for logit in scratch.logits.iter_mut() {
                *logit = cap * (*logit / cap).tanh();
            }
        }
    }
}

/// What one forward pass computes, worked out before the layers: the item and position of
/// every row, each item's hook, the attention layouts (one per distinct window of the model's
/// layers), and the read-out buffers sized. The same in every layer.
struct PassPlan<'h> {
    rows: usize,
    row_item: Vec<usize>,
    row_pos: Vec<usize>,
    item_first_row: Vec<usize>,
    /// Per item: its hook, what it reads out, and the row after its last (the one read out).
    hooks: Vec<(Option<&'h SequenceHook>, Readout, usize)>,
    /// Attention layouts by window (`None`: global layers).
    layouts: Vec<(Option<usize>, AttentionLayout)>,
    /// Some item edits or reads the residual stream.
    touches_residual: bool,
}

impl<'h> PassPlan<'h> {
    /// Reserves each item's cache blocks and sizes the scratch buffers; `None` when the items
    /// hold no tokens.
    fn new(
        model: &Transformer,
        ctx: &ForwardContext<'_>,
        items: &mut [BatchItem<'h>],
        scratch: &mut Scratch,
    ) -> Option<Self> {
        let cfg = &model.config;
        let kv_shape = model.kv_shape();
        // Row bookkeeping: item of each row and the row's position in its sequence.
        let mut row_item = Vec::new();
        let mut row_pos = Vec::new();
        let mut item_first_row = Vec::with_capacity(items.len());
        for (i, item) in items.iter_mut().enumerate() {
            item_first_row.push(row_item.len());
            let start = item.seq.len();
            for j in 0..item.tokens.len() {
                row_item.push(i);
                row_pos.push(start + j);
            }
            item.seq.reserve(item.tokens, kv_shape, ctx.kv_precision);
        }
        let rows = row_item.len();
        if rows == 0 {
            return None;
        }
        let layer_heads = cfg.layers * cfg.heads;
        let readout = |item: &BatchItem<'_>| match item.hook {
            Some(hook) if !item.tokens.is_empty() => hook.readout,
            _ => Readout::Off,
        };
        if items.iter().any(|item| readout(item) != Readout::Off) {
            scratch.pi.clear();
            scratch.pi.resize(items.len() * layer_heads, 0.0);
            scratch.full_offsets.clear();
            let mut full_len = 0;
            for item in items.iter() {
                scratch.full_offsets.push(full_len);
                if readout(item) == Readout::Full {
                    full_len += layer_heads * (item.seq.len() + item.tokens.len());
                }
            }
            scratch.full.clear();
            scratch.full.resize(full_len, 0.0);
        }
        let hooks: Vec<(Option<&'h SequenceHook>, Readout, usize)> = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                (
                    item.hook,
                    readout(item),
                    item_first_row[i] + item.tokens.len(),
                )
            })
            .collect();
        let touches_residual = items
            .iter()
            .any(|item| item.hook.is_some_and(SequenceHook::touches_residual));
        if items
            .iter()
            .any(|item| item.hook.is_some_and(|h| h.hidden.is_some()))
        {
            scratch.hidden_offsets.clear();
            let mut len = 0;
            for item in items.iter() {
                scratch.hidden_offsets.push(len);
                if let Some(readout) = item.hook.and_then(|h| h.hidden.as_ref()) {
                    let rows = match readout.rows {
                        HiddenRows::All => item.tokens.len(),
                        HiddenRows::Last => item.tokens.len().min(1),
                    };
                    len += rows * readout.layers.len() * cfg.hidden;
                }
            }
            scratch.hidden.clear();
            scratch.hidden.resize(len, 0.0);
        }

        let mut windows: Vec<Option<usize>> =
            (0..cfg.layers).map(|l| cfg.layer_window(l)).collect();
        windows.sort_unstable();
        windows.dedup();
        let layouts: Vec<(Option<usize>, AttentionLayout)> = windows
            .into_iter()
            .map(|window| {
                let shape = AttentionShape {
                    window,
                    ..model.attention_shape(0)
                };
                let layout =
                    AttentionLayout::new(items, &item_first_row, &row_item, &row_pos, &shape);
                (window, layout)
            })
            .collect();
        let plan = PassPlan {
            rows,
            row_item,
            row_pos,
            item_first_row,
            hooks,
            layouts,
            touches_residual,
        };
        if profile::enabled() {
            profile::count(&model.pass_work(items, &plan, ctx.kv_precision));
        }
        let (hidden, q_dim, kv_dim, ffn) = (cfg.hidden, cfg.q_dim(), cfg.kv_dim(), cfg.ffn_hidden);
        scratch.h.resize(rows * hidden, 0.0);
        scratch.qkv.resize(rows * (q_dim + 2 * kv_dim), 0.0);
        scratch.attn.resize(rows * q_dim, 0.0);
        scratch.proj.resize(rows * hidden, 0.0);
        scratch.gate_up.resize(rows * 2 * ffn, 0.0);
        scratch.act.resize(rows * ffn, 0.0);
        let scores = plan
            .layouts
            .iter()
            .map(|(_, l)| l.per_head)
            .max()
            .unwrap_or(0);
        scratch.scores.resize(scores * cfg.kv_heads, 0.0);
        Some(plan)
    }

    /// The attention layout of layers with this window.
    fn layout(&self, window: Option<usize>) -> &AttentionLayout {
        &self
            .layouts
            .iter()
            .find(|(w, _)| *w == window)
            .expect("a layout per window")
            .1
    }
}

fn add_in_place(x: &mut [f32], delta: &[f32]) {
    for (a, b) in x.iter_mut().zip(delta) {
        *a += b;
    }
}

/// Row-parallel RMSNorm of `rows × width` values.
fn rms_norm_rows(
    pool: &ThreadPool,
    isa: Isa,
    x: &[f32],
    weight: &[f32],
    eps: f32,
    width: usize,
    out: &mut [f32],
) {
    let rows = x.len() / width;
    let parts = if rows >= 16 { pool.threads() * 2 } else { 1 };
    let out_rows = SharedRows(out.as_mut_ptr());
    pool.run(parts, &|p| {
        for r in split_range(rows, parts, p) {
            // SAFETY: each part writes its own rows.
            let o = unsafe { out_rows.slice(r * width, width) };
            rms_norm_for(isa, &x[r * width..(r + 1) * width], weight, eps, o);
        }
    });
}

super::isa::compiled_for_isa! {
    /// [`math::rms_norm`] compiled for `isa`.
    fn rms_norm_for(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) = math::rms_norm;
}

super::isa::compiled_for_isa! {
    /// [`math::rms_norm_in_place`] compiled for `isa`.
    fn rms_norm_in_place_for(x: &mut [f32], weight: &[f32], eps: f32) = math::rms_norm_in_place;
}

super::isa::compiled_for_isa! {
    /// `out = silu(gate) · up`, compiled for `isa`.
    fn swiglu_for(gate: &[f32], up: &[f32], out: &mut [f32]) = swiglu;
}

super::isa::compiled_for_isa! {
    /// `out = gelu_tanh(gate) · up`, compiled for `isa`.
    fn geglu_for(gate: &[f32], up: &[f32], out: &mut [f32]) = geglu;
}

#[inline(always)]
fn swiglu(gate: &[f32], up: &[f32], out: &mut [f32]) {
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        *o = math::silu(g) * u;
    }
}

#[inline(always)]
fn geglu(gate: &[f32], up: &[f32], out: &mut [f32]) {
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        *o = math::gelu_tanh(g) * u;
    }
}

/// `act = act(gate) · up` for every row (SwiGLU or GeGLU); with `xq`, also the 8-bit codes of
/// `act` that a quantized down projection reads, made in the same pass by blocks while they
/// are in cache (one pool region instead of the activation and a quantization after it).
fn gated_activation_rows(
    pool: &ThreadPool,
    isa: Isa,
    activation: Activation,
    gate_up: &[f32],
    ffn: usize,
    act: &mut [f32],
    xq: Option<&mut QuantizedRows>,
) {
    let rows = act.len() / ffn;
    let act_rows = SharedRows(act.as_mut_ptr());
    let activate = match activation {
        Activation::Silu => swiglu_for,
        Activation::GeluTanh => geglu_for,
    };
    let part = |r: usize, cols: Range<usize>| -> &[f32] {
        let (gate, up) = gate_up[r * 2 * ffn..(r + 1) * 2 * ffn].split_at(ffn);
        // SAFETY: each call writes its own columns of its row.
        let out = unsafe { act_rows.slice(r * ffn + cols.start, cols.len()) };
        activate(isa, &gate[cols.clone()], &up[cols], out);
        out
    };
    if let Some(xq) = xq {
        quantize_rows_of(pool, isa, rows, ffn, xq, &part);
        return;
    }
    let parts = if rows >= 16 { pool.threads() * 2 } else { 1 };
    pool.run(parts, &|p| {
        for r in split_range(rows, parts, p) {
            part(r, 0..ffn);
        }
    });
}

/// RMSNorm of every `width`-value row of `x`, in place (Gemma's post-norms).
fn post_norm_rows(ctx: &ForwardContext<'_>, x: &mut [f32], weight: &[f32], eps: f32, width: usize) {
    let input = x.to_vec();
    rms_norm_rows(ctx.pool, ctx.isa, &input, weight, eps, width, x);
}
