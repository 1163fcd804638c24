//! Reading a document item by item. One entry, exemption or revocation that a
//! reader cannot understand (a time past year 9999, an unknown mode, a bad
//! address, a missing field) is left out and reported, and the rest of the
//! document is used: refusing the whole document for it would leave every
//! other ban unenforced, or frozen at a stale copy, until someone repairs the
//! one item. The Python reader applies the same rule to the same items.
//!
//! Each item is kept as parsed JSON (repeated keys included) and deserialised
//! on its own, so it gets exactly the checks serde would apply to it in the
//! text (a repeated field is an error) without failing its neighbours.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

use super::tree::Tree;
use super::{BlocklistDocument, DocumentError, FORMAT_V1, Shard};
use crate::core::entry::{Entry, Exemption, Revocation, SubjectKey};
use crate::core::ip::IpNet;

/// Which list of a document an item comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ItemList {
    Entries,
    Exemptions,
    Revocations,
}

impl ItemList {
    /// The list's field name in the document.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemList::Entries => "entries",
            ItemList::Exemptions => "exemptions",
            ItemList::Revocations => "revocations",
        }
    }
}

/// An item of a document that was left out, and why.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SkippedItem {
    pub list: ItemList,
    /// Position in its list, from 0.
    pub index: usize,
    /// The item's `id`, when it has one that is a string.
    pub id: Option<String>,
    pub reason: String,
}

impl fmt::Display for SkippedItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.list.as_str(), self.index)?;
        if let Some(id) = &self.id {
            write!(f, " {id:?}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// The document's own fields, and its items read one at a time.
#[derive(Deserialize)]
struct Outline {
    format: String,
    namespace: String,
    shard: Object<Shard>,
    entries: Items<Entry>,
    #[serde(default)]
    exemptions: Items<Exemption>,
    #[serde(default)]
    revocations: Items<Revocation>,
}

pub(super) fn parse(text: &str) -> Result<BlocklistDocument, DocumentError> {
    let Scan(format) = serde_json::from_str(text)?;
    if format != FORMAT_V1 {
        return Err(DocumentError::Format { found: format });
    }
    let Object(outline): Object<Outline> = serde_json::from_str(text)?;
    let mut skipped = Vec::new();
    let entries = outline.entries.kept(ItemList::Entries, &mut skipped);
    let exemptions = outline.exemptions.kept(ItemList::Exemptions, &mut skipped);
    let revocations = outline
        .revocations
        .kept(ItemList::Revocations, &mut skipped);
    Ok(BlocklistDocument {
        format: outline.format,
        namespace: outline.namespace,
        shard: outline.shard.0,
        entries,
        exemptions,
        revocations,
        skipped,
    })
}

/// What the documents list: each has a subject.
trait Item: DeserializeOwned {
    fn subject(&self) -> &SubjectKey;
}

impl Item for Entry {
    fn subject(&self) -> &SubjectKey {
        &self.subject
    }
}

impl Item for Exemption {
    fn subject(&self) -> &SubjectKey {
        &self.subject
    }
}

impl Item for Revocation {
    fn subject(&self) -> &SubjectKey {
        &self.subject
    }
}

/// A list of items, each turned into a `T` as soon as it is parsed (only one
/// item's JSON is held at a time), or noted as skipped: (index, id, reason).
struct Items<T> {
    kept: Vec<T>,
    skipped: Vec<(usize, Option<String>, String)>,
}

impl<T> Default for Items<T> {
    fn default() -> Self {
        Items {
            kept: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

impl<T> Items<T> {
    fn kept(self, list: ItemList, skipped: &mut Vec<SkippedItem>) -> Vec<T> {
        skipped.extend(
            self.skipped
                .into_iter()
                .map(|(index, id, reason)| SkippedItem {
                    list,
                    index,
                    id,
                    reason,
                }),
        );
        self.kept
    }
}

impl<'de, T: Item> Deserialize<'de> for Items<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemsVisitor<T>(PhantomData<T>);

        impl<'de, T: Item> Visitor<'de> for ItemsVisitor<T> {
            type Value = Items<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of items")
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Items<T>, A::Error> {
                let mut items = Items::default();
                let mut index = 0;
                while let Some(tree) = seq.next_element::<Tree>()? {
                    let id = tree.id();
                    match item::<T>(tree) {
                        Ok(item) => items.kept.push(item),
                        Err(reason) => items.skipped.push((index, id, reason)),
                    }
                    index += 1;
                }
                Ok(items)
            }
        }

        deserializer.deserialize_seq(ItemsVisitor(PhantomData))
    }
}

fn item<T: Item>(tree: Tree) -> Result<T, String> {
    let item: T = match tree {
        Tree::Object(_) => T::deserialize(tree).map_err(|e| e.to_string())?,
        other => return Err(format!("expected an object, got {}", other.unexpected())),
    };
    check_subject(item.subject())?;
    Ok(item)
}

/// An address subject must be an address or a network: one that is neither
/// could never match, and leaving it out says so instead of hiding it.
fn check_subject(subject: &SubjectKey) -> Result<(), String> {
    match subject {
        SubjectKey::Ip(text) => text
            .parse::<IpNet>()
            .map(|_| ())
            .map_err(|e| format!("subject.ip: {e}")),
        _ => Ok(()),
    }
}

/// The document's `format`, found by a first pass that reads every value:
/// the format is checked before anything else, so a future format is refused
/// as such whatever else it changed; and serde_json skips an ignored field
/// without reading its numbers, while a number no 64-bit float holds must
/// make the document malformed wherever it is, as in the Python reader.
struct Scan(String);

impl<'de> Deserialize<'de> for Scan {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScanVisitor;

        impl<'de> Visitor<'de> for ScanVisitor {
            type Value = Scan;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a blocklist document (a JSON object)")
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Scan, A::Error> {
                let mut format = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "format" {
                        map.next_value::<Valid>()?;
                    } else if format.replace(map.next_value::<String>()?).is_some() {
                        return Err(de::Error::duplicate_field("format"));
                    }
                }
                format
                    .map(Scan)
                    .ok_or_else(|| de::Error::missing_field("format"))
            }
        }

        deserializer.deserialize_map(ScanVisitor)
    }
}

/// Any JSON value, read in full and discarded.
struct Valid;

impl<'de> Deserialize<'de> for Valid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValidVisitor)
    }
}

struct ValidVisitor;

impl<'de> Visitor<'de> for ValidVisitor {
    type Value = Valid;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_str<E>(self, _: &str) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Valid, A::Error> {
        while seq.next_element::<Valid>()?.is_some() {}
        Ok(Valid)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Valid, A::Error> {
        while map.next_entry::<de::IgnoredAny, Valid>()?.is_some() {}
        Ok(Valid)
    }
}

/// A struct read only from a JSON object, never from an array of its fields
/// (which serde_json would accept, and the Python reader does not).
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(Object)
    }
}

#[cfg(test)]
#[path = "items_tests.rs"]
mod tests;
