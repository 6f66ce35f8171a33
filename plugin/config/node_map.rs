//! An insertion-ordered map of named noise nodes that rejects duplicate names.
//!
//! A plain `BTreeMap` would let a second `"hills": ...` silently replace the first; a modder who
//! copies a node and forgets to rename it deserves an error at the duplicate's line instead.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::schema::NoiseNode;

/// Named noise nodes in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeMap(pub Vec<(String, NoiseNode)>);

impl NodeMap {
    /// The node called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&NoiseNode> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, node)| node)
    }

    /// Mutable access to the node called `name`, if any.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut NoiseNode> {
        self.0
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, node)| node)
    }

    /// Iterates over `(name, node)` in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &NoiseNode)> {
        self.0.iter().map(|(n, node)| (n.as_str(), node))
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for NodeMap {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, node) in &self.0 {
            map.serialize_entry(name, node)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for NodeMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeMapVisitor;

        impl<'de> Visitor<'de> for NodeMapVisitor {
            type Value = NodeMap;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of node names to noise nodes, like { \"hills\": Fractal(..) }")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<NodeMap, A::Error> {
                let mut nodes: Vec<(String, NoiseNode)> = Vec::new();
                while let Some(name) = access.next_key::<String>()? {
                    if nodes.iter().any(|(n, _)| *n == name) {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate node name \"{name}\": each node needs its own name"
                        )));
                    }
                    let node = access.next_value::<NoiseNode>()?;
                    nodes.push((name, node));
                }
                Ok(NodeMap(nodes))
            }
        }

        deserializer.deserialize_map(NodeMapVisitor)
    }
}
