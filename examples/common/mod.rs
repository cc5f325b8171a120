//! What the attention examples share: the default model's attention geometry, and a cache
//! filled with small, normal f16 keys and values.
use drift_script::model::attention::AttentionShape;
use drift_script::model::kv_cache::{KvPrecision, KvShape, SeqKv};

/// SmolLM2-135M's shapes with `layers` layers: 3 key/value heads of 64 dimensions, 3 query
/// heads per group.
pub fn default_model_shapes(layers: usize) -> (KvShape, AttentionShape) {
    let kv_shape = KvShape {
        layers,
        kv_heads: 3,
        head_dim: 64,
    };
    let shape = AttentionShape {
        heads: 9,
        kv_heads: 3,
        head_dim: 64,
        window: None,
    };
    (kv_shape, shape)
}

/// An f16 cache of `context` positions in every layer (`salt` varies the values between
/// sequences).
pub fn filled_sequence(context: usize, kv_shape: KvShape, salt: usize) -> SeqKv {
    let mut seq = SeqKv::default();
    seq.reserve(
        &(0..context as u32).collect::<Vec<_>>(),
        kv_shape,
        KvPrecision::F16,
    );
    let row: Vec<f32> = (0..kv_shape.kv_heads * kv_shape.head_dim)
        .map(|i| ((i * 7 + salt) % 13) as f32 * 0.1 - 0.6)
        .collect();
    for p in 0..context {
        for layer in 0..kv_shape.layers {
            seq.block_mut(p).write(kv_shape, layer, p % 32, &row, &row);
        }
    }
    seq
}

/// Small, normal query values: subnormal ones would measure microcode assists, not memory.
pub fn queries(n: usize) -> Vec<f32> {
    (0..n).map(|i| (i % 5) as f32 * 0.01 + 0.01).collect()
}
