//! How the cache packs one object: its JSON compressed with zstd against a
//! dictionary of what objects of the kind have in common (field names, the
//! operator's finalizer, label and condition messages). Each object is a
//! frame of its own, so one is read without the others; the dictionary is
//! what makes such small frames worth compressing (a settled ban of the
//! bench mix: 921 bytes of JSON, ~200 packed; `cargo bench --bench memory`).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

/// zstd's fast end: on a settled ban, 4 µs for 189 bytes, against 8 µs for
/// 176 bytes at level 1 (measured on the bench mix with this dictionary).
const LEVEL: i32 = -1;

/// One codec per kind for the life of the process, shared by every cache of
/// the kind: its dictionaries are prepared once, and its contexts reused.
static CODECS: LazyLock<Mutex<HashMap<String, &'static Codec>>> = LazyLock::new(Mutex::default);

pub struct Codec {
    encoder: &'static EncoderDictionary<'static>,
    decoder: &'static DecoderDictionary<'static>,
    /// Contexts are reused (each is some hundred kilobytes to make): a
    /// packer or reader takes one from here, or makes one, and puts it back.
    compressors: Mutex<Vec<Compressor<'static>>>,
    decompressors: Mutex<Vec<Decompressor<'static>>>,
}

impl Codec {
    /// The codec of `kind`, made from `dictionary` the first time.
    pub fn of_kind(kind: &str, dictionary: impl FnOnce() -> Vec<u8>) -> &'static Codec {
        let mut codecs = CODECS.lock().expect("codecs lock");
        codecs
            .entry(kind.to_string())
            .or_insert_with(|| Box::leak(Box::new(Codec::new(&dictionary()))))
    }

    fn new(dictionary: &[u8]) -> Codec {
        Codec {
            encoder: Box::leak(Box::new(EncoderDictionary::copy(dictionary, LEVEL))),
            decoder: Box::leak(Box::new(DecoderDictionary::copy(dictionary))),
            compressors: Mutex::default(),
            decompressors: Mutex::default(),
        }
    }

    /// `None` only when zstd itself fails (out of memory).
    pub fn pack(&self, json: &[u8]) -> Option<Vec<u8>> {
        let taken = self.compressors.lock().expect("compressors lock").pop();
        let mut compressor = match taken {
            Some(compressor) => compressor,
            None => Compressor::with_prepared_dictionary(self.encoder).ok()?,
        };
        let packed = compressor.compress(json).ok();
        self.compressors
            .lock()
            .expect("compressors lock")
            .push(compressor);
        packed
    }

    /// The JSON of `len` bytes packed into `bytes`; `None` when they are not
    /// a frame this codec packed.
    pub fn unpack(&self, bytes: &[u8], len: usize) -> Option<Vec<u8>> {
        let taken = self.decompressors.lock().expect("decompressors lock").pop();
        let mut decompressor = match taken {
            Some(decompressor) => decompressor,
            None => Decompressor::with_prepared_dictionary(self.decoder).ok()?,
        };
        let json = decompressor.decompress(bytes, len).ok();
        self.decompressors
            .lock()
            .expect("decompressors lock")
            .push(decompressor);
        json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_and_unpacks_with_and_without_a_dictionary() {
        let json =
            br#"{"apiVersion":"interdict.dev/v1alpha1","kind":"UserBan","metadata":{"name":"b"}}"#;
        for dictionary in [Vec::new(), json[..40].to_vec()] {
            let codec = Codec::new(&dictionary);
            let packed = codec.pack(json).unwrap();
            assert_eq!(codec.unpack(&packed, json.len()).unwrap(), json);
            assert_eq!(
                codec.unpack(&packed, json.len()).unwrap(),
                json,
                "a reused context"
            );
            assert!(codec.unpack(b"not zstd", 8).is_none());
        }
    }
}
