//! A streaming GGUF (version 3) writer: the header — metadata and every tensor's name, shape,
//! type and offset — first, then each tensor's bytes as the caller produces them, so a file of
//! many gigabytes never sits in memory. Only the plain types synthetic models need (F32, F16).
//!
//! Layout (GGUF v3, little-endian): magic, version, tensor count, metadata count; the metadata
//! (key, type, value); the tensor infos (name, dimensions innermost first, type, offset from the
//! start of the data); padding to `general.alignment` (32 by default); the data, each tensor
//! starting on an aligned offset.

use candle_core::quantized::gguf_file::Value;
use std::io::{Seek, Write};

/// The alignment of the data section and of each tensor in it (GGUF's default).
pub const ALIGNMENT: u64 = 32;

/// Element types written here, with their GGML type ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorType {
    F32,
    F16,
}

impl TensorType {
    fn ggml_id(self) -> u32 {
        match self {
            TensorType::F32 => 0,
            TensorType::F16 => 1,
        }
    }

    pub fn element_bytes(self) -> u64 {
        match self {
            TensorType::F32 => 4,
            TensorType::F16 => 2,
        }
    }
}

/// One tensor as the header describes it. `dims` are GGUF's order: the innermost (row length)
/// first, so a matrix of `rows × cols` is `[cols, rows]`.
#[derive(Debug, Clone)]
pub struct TensorDescription {
    pub name: String,
    pub dims: Vec<u64>,
    pub ty: TensorType,
}

impl TensorDescription {
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }

    pub fn bytes(&self) -> u64 {
        self.elements() * self.ty.element_bytes()
    }
}

/// Writes the header, then accepts the tensors' bytes in header order.
pub struct GgufWriter<W: Write + Seek> {
    out: W,
    tensors: Vec<TensorDescription>,
    next: usize,
    written_in_tensor: u64,
}

impl<W: Write + Seek> GgufWriter<W> {
    /// Writes the header: `metadata` in the given order, then the tensor infos.
    pub fn new(
        mut out: W,
        metadata: &[(String, Value)],
        tensors: Vec<TensorDescription>,
    ) -> anyhow::Result<Self> {
        out.write_all(b"GGUF")?;
        out.write_all(&3u32.to_le_bytes())?;
        out.write_all(&(tensors.len() as u64).to_le_bytes())?;
        out.write_all(&(metadata.len() as u64).to_le_bytes())?;
        for (key, value) in metadata {
            write_string(&mut out, key)?;
            out.write_all(&value_type_id(value)?.to_le_bytes())?;
            write_value(&mut out, value)?;
        }
        let mut offset = 0u64;
        for t in &tensors {
            write_string(&mut out, &t.name)?;
            out.write_all(&(t.dims.len() as u32).to_le_bytes())?;
            for d in &t.dims {
                out.write_all(&d.to_le_bytes())?;
            }
            out.write_all(&t.ty.ggml_id().to_le_bytes())?;
            out.write_all(&offset.to_le_bytes())?;
            offset = align(offset + t.bytes());
        }
        pad_to_alignment(&mut out)?;
        let mut writer = GgufWriter {
            out,
            tensors,
            next: 0,
            written_in_tensor: 0,
        };
        writer.skip_empty_tensors()?;
        Ok(writer)
    }

    /// The tensor whose bytes come next, if any.
    pub fn current(&self) -> Option<&TensorDescription> {
        self.tensors.get(self.next)
    }

    /// Appends bytes of the current tensor; a tensor is complete when its size is reached, and
    /// bytes that would run past it are refused.
    pub fn write_data(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let tensor = self
            .tensors
            .get(self.next)
            .ok_or_else(|| anyhow::anyhow!("every tensor is already written"))?;
        let left = tensor.bytes() - self.written_in_tensor;
        anyhow::ensure!(
            bytes.len() as u64 <= left,
            "{} bytes for tensor {} which has only {left} left",
            bytes.len(),
            tensor.name
        );
        self.out.write_all(bytes)?;
        self.written_in_tensor += bytes.len() as u64;
        if self.written_in_tensor == tensor.bytes() {
            pad_to_alignment(&mut self.out)?;
            self.next += 1;
            self.written_in_tensor = 0;
            self.skip_empty_tensors()?;
        }
        Ok(())
    }

    fn skip_empty_tensors(&mut self) -> anyhow::Result<()> {
        while self.tensors.get(self.next).is_some_and(|t| t.bytes() == 0) {
            self.next += 1;
        }
        Ok(())
    }

    /// Checks that every tensor was written in full and returns the output.
    pub fn finish(mut self) -> anyhow::Result<W> {
        if let Some(t) = self.tensors.get(self.next) {
            anyhow::bail!(
                "tensor {} is incomplete ({} of {} bytes)",
                t.name,
                self.written_in_tensor,
                t.bytes()
            );
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

fn align(offset: u64) -> u64 {
    offset.div_ceil(ALIGNMENT) * ALIGNMENT
}

fn pad_to_alignment<W: Write + Seek>(out: &mut W) -> anyhow::Result<()> {
    let position = out.stream_position()?;
    let padding = align(position) - position;
    out.write_all(&vec![0u8; padding as usize])?;
    Ok(())
}

fn write_string<W: Write>(out: &mut W, s: &str) -> anyhow::Result<()> {
    out.write_all(&(s.len() as u64).to_le_bytes())?;
    out.write_all(s.as_bytes())?;
    Ok(())
}

/// GGUF's value type ids.
fn value_type_id(value: &Value) -> anyhow::Result<u32> {
    Ok(match value {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    })
}

fn write_value<W: Write>(out: &mut W, value: &Value) -> anyhow::Result<()> {
    match value {
        Value::U8(v) => out.write_all(&v.to_le_bytes())?,
        Value::I8(v) => out.write_all(&v.to_le_bytes())?,
        Value::U16(v) => out.write_all(&v.to_le_bytes())?,
        Value::I16(v) => out.write_all(&v.to_le_bytes())?,
        Value::U32(v) => out.write_all(&v.to_le_bytes())?,
        Value::I32(v) => out.write_all(&v.to_le_bytes())?,
        Value::F32(v) => out.write_all(&v.to_le_bytes())?,
        Value::Bool(v) => out.write_all(&[u8::from(*v)])?,
        Value::String(v) => write_string(out, v)?,
        Value::U64(v) => out.write_all(&v.to_le_bytes())?,
        Value::I64(v) => out.write_all(&v.to_le_bytes())?,
        Value::F64(v) => out.write_all(&v.to_le_bytes())?,
        Value::Array(items) => {
            // An empty array has no element to take its type from: GGUF readers accept any.
            let element_type = match items.first() {
                Some(first) => value_type_id(first)?,
                None => 4,
            };
            out.write_all(&element_type.to_le_bytes())?;
            out.write_all(&(items.len() as u64).to_le_bytes())?;
            for item in items {
                anyhow::ensure!(
                    value_type_id(item)? == element_type,
                    "a GGUF array holds values of one type"
                );
                write_value(out, item)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::gguf_file;

    #[test]
    fn candle_reads_back_what_is_written() {
        let metadata = vec![
            (
                "general.architecture".to_string(),
                Value::String("llama".into()),
            ),
            ("a.u32".to_string(), Value::U32(7)),
            ("a.f32".to_string(), Value::F32(0.5)),
            (
                "a.list".to_string(),
                Value::Array(vec![Value::String("x".into()), Value::String("yz".into())]),
            ),
        ];
        let tensors = vec![
            TensorDescription {
                name: "v".into(),
                dims: vec![3],
                ty: TensorType::F32,
            },
            TensorDescription {
                name: "m".into(),
                dims: vec![2, 5],
                ty: TensorType::F16,
            },
        ];
        let mut writer =
            GgufWriter::new(std::io::Cursor::new(Vec::new()), &metadata, tensors).unwrap();
        for x in [1.0f32, 2.0, 3.0] {
            writer.write_data(&x.to_le_bytes()).unwrap();
        }
        assert_eq!(writer.current().unwrap().name, "m");
        // More than the tensor holds is refused, and nothing is written.
        let err = writer.write_data(&[0u8; 21]).unwrap_err().to_string();
        assert!(err.contains("only 20 left"), "{err}");
        for i in 0..10 {
            writer
                .write_data(&half::f16::from_f32(i as f32).to_le_bytes())
                .unwrap();
        }
        let bytes = writer.finish().unwrap().into_inner();
        let mut cursor = std::io::Cursor::new(bytes);
        let content = gguf_file::Content::read(&mut cursor).unwrap();
        assert_eq!(content.metadata["a.u32"].to_u32().unwrap(), 7);
        assert_eq!(content.metadata["a.f32"].to_f32().unwrap(), 0.5);
        assert_eq!(content.metadata["a.list"].to_vec().unwrap().len(), 2);
        let m = content
            .tensor(&mut cursor, "m", &candle_core::Device::Cpu)
            .unwrap()
            .dequantize(&candle_core::Device::Cpu)
            .unwrap();
        assert_eq!(m.dims(), &[5, 2]);
        let values: Vec<f32> = m.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(values, (0..10).map(|i| i as f32).collect::<Vec<_>>());
    }

    #[test]
    fn an_incomplete_tensor_is_an_error() {
        let tensors = vec![TensorDescription {
            name: "v".into(),
            dims: vec![4],
            ty: TensorType::F32,
        }];
        let mut writer = GgufWriter::new(std::io::Cursor::new(Vec::new()), &[], tensors).unwrap();
        writer.write_data(&[0u8; 8]).unwrap();
        let err = writer.finish().unwrap_err().to_string();
        assert_eq!(err, "tensor v is incomplete (8 of 16 bytes)");
    }
}
