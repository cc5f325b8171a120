//! What the attention examples share: the default model's attention geometry, caches filled
//! with small, normal f16 keys and values (and extended past a shared prefix), the loop over
//! layers and key/value heads, and numeric command-line arguments.
// Each example compiles this module on its own and uses only some of it.
#![allow(dead_code)]

use drift_script::model::local::attention::{AttendAt, AttentionShape};
use drift_script::model::local::kv_cache::{KvPrecision, KvShape, SeqKv};

/// SmolLM2-135M's shapes with `layers` layers: 3 key/value heads of 64 dimensions, 3 query
/// heads per group.
pub fn default_model_shapes(layers: usize) -> (KvShape, AttentionShape) {
    let kv_shape = KvShape {
        layers,
        kv_heads: 3,
        head_dim: 64,
    };
    let shape = AttentionShape::new(9, 3, 64, None);
    (kv_shape, shape)
}

/// An f16 cache of `context` positions in every layer (`salt` varies the values between
/// sequences).
pub fn filled_sequence(context: usize, kv_shape: KvShape, salt: usize) -> SeqKv {
    extended(&SeqKv::default(), context, kv_shape, salt)
}

/// `seq` (sharing its blocks) followed by `more` positions of its own in every layer, filled
/// as `filled_sequence` fills them.
pub fn extended(seq: &SeqKv, more: usize, kv_shape: KvShape, salt: usize) -> SeqKv {
    let mut seq = seq.clone();
    let start = seq.len();
    let tokens: Vec<u32> = (start as u32..(start + more) as u32).collect();
    seq.reserve(&tokens, kv_shape, KvPrecision::F16);
    let row: Vec<f32> = (0..kv_shape.kv_heads * kv_shape.head_dim)
        .map(|i| ((i * 7 + salt) % 13) as f32 * 0.1 - 0.6)
        .collect();
    for p in start..start + more {
        for layer in 0..kv_shape.layers {
            seq.block_mut(p).write(kv_shape, layer, p % 32, &row, &row);
        }
    }
    seq
}

/// Calls `f` with every (layer, key/value head) of `kv_shape`, in order.
pub fn each_attention_head(kv_shape: KvShape, shape: AttentionShape, mut f: impl FnMut(&AttendAt)) {
    for layer in 0..kv_shape.layers {
        for kv_head in 0..kv_shape.kv_heads {
            f(&AttendAt {
                kv_shape,
                layer,
                kv_head,
                shape,
            });
        }
    }
}

/// The command line's arguments as numbers, in order.
pub fn number_args() -> impl Iterator<Item = usize> {
    std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("a number"))
}

/// Small, normal query values: subnormal ones would measure microcode assists, not memory.
pub fn queries(n: usize) -> Vec<f32> {
    (0..n).map(|i| (i % 5) as f32 * 0.01 + 0.01).collect()
}
