//! Conversation memory: the last turns with each NPC, on the NPC entity while its chunk is loaded,
//! and in a small cache after, so a returning player is remembered.

use std::collections::VecDeque;

use bevy::ecs::lifecycle::HookContext;
use bevy::ecs::world::DeferredWorld;
use bevy::prelude::*;

use crate::npc::facts::{Speaker, Turn};
use crate::npc::{Npc, NpcId};

/// The last turns of an NPC's conversation with the player, oldest first. Added to every
/// [`Npc`]; when the NPC despawns (its chunk unloads) the turns move to [`MemoryCache`] and come
/// back when it is spawned again.
#[derive(Component, Clone, Debug, Default, PartialEq)]
#[component(on_remove = stash_memory)]
pub struct NpcMemory {
    /// Whose memory this is.
    pub npc: NpcId,
    /// Turns, oldest first, at most [`DialogueSettings::memory_turns`](super::DialogueSettings).
    pub turns: VecDeque<Turn>,
    /// Turns said before the oldest in `turns` (forgotten), so a turn's place in the whole
    /// conversation is known.
    pub forgotten: usize,
}

impl NpcMemory {
    /// Adds a turn, forgetting the oldest beyond `keep`.
    pub fn push(&mut self, speaker: Speaker, text: impl Into<String>, keep: usize) {
        self.turns.push_back(Turn {
            speaker,
            text: text.into(),
        });
        while self.turns.len() > keep {
            self.turns.pop_front();
            self.forgotten += 1;
        }
    }
}

/// Memories of NPCs that are not spawned now, most recently stored last, bounded by
/// [`DialogueSettings::cached_npcs`](super::DialogueSettings).
#[derive(Resource, Clone, Debug, Default)]
pub struct MemoryCache {
    entries: VecDeque<NpcMemory>,
    capacity: usize,
}

impl MemoryCache {
    /// An empty cache keeping up to `capacity` NPCs.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            capacity,
        }
    }

    /// Stores `turns` for `npc`, evicting the least recently stored NPC beyond capacity.
    pub fn store(&mut self, npc: NpcId, turns: VecDeque<Turn>) {
        self.store_memory(NpcMemory {
            npc,
            turns,
            forgotten: 0,
        });
    }

    /// Stores a whole memory (its turns and how many came before them).
    pub fn store_memory(&mut self, memory: NpcMemory) {
        self.entries.retain(|m| m.npc != memory.npc);
        if memory.turns.is_empty() || self.capacity == 0 {
            return;
        }
        self.entries.push_back(memory);
        while self.entries.len() > self.capacity {
            self.entries.pop_front();
        }
    }

    /// Takes `npc`'s turns out of the cache.
    pub fn take(&mut self, npc: NpcId) -> Option<VecDeque<Turn>> {
        self.take_memory(npc).map(|m| m.turns)
    }

    /// Takes `npc`'s whole memory out of the cache.
    pub fn take_memory(&mut self, npc: NpcId) -> Option<NpcMemory> {
        let i = self.entries.iter().position(|m| m.npc == npc)?;
        self.entries.remove(i)
    }

    /// NPCs remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Changes the capacity (evicting the oldest if it shrinks).
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        while self.entries.len() > capacity {
            self.entries.pop_front();
        }
    }
}

fn stash_memory(mut world: DeferredWorld, ctx: HookContext) {
    let Some(memory) = world.get::<NpcMemory>(ctx.entity).cloned() else {
        return;
    };
    if let Some(mut cache) = world.get_resource_mut::<MemoryCache>() {
        cache.store_memory(memory);
    }
}

/// Gives new NPCs their memory back from the cache (or an empty one).
pub(crate) fn attach_memory(
    mut commands: Commands,
    new: Query<(Entity, &Npc), Without<NpcMemory>>,
    mut cache: ResMut<MemoryCache>,
) {
    for (e, npc) in &new {
        let memory = cache.take_memory(npc.id).unwrap_or(NpcMemory {
            npc: npc.id,
            ..default()
        });
        commands.entity(e).insert(memory);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_is_bounded_and_keeps_the_latest() {
        let mut cache = MemoryCache::new(2);
        let turns = |s: &str| {
            VecDeque::from([Turn {
                speaker: Speaker::Player,
                text: s.into(),
            }])
        };
        cache.store(NpcId(1), turns("a"));
        cache.store(NpcId(2), turns("b"));
        cache.store(NpcId(3), turns("c"));
        assert_eq!(cache.len(), 2);
        assert!(cache.take(NpcId(1)).is_none());
        assert_eq!(cache.take(NpcId(3)).unwrap()[0].text, "c");
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn memory_keeps_the_last_turns() {
        let mut m = NpcMemory::default();
        for i in 0..10 {
            m.push(Speaker::Npc, i.to_string(), 4);
        }
        assert_eq!(
            m.turns.iter().map(|t| t.text.as_str()).collect::<Vec<_>>(),
            ["6", "7", "8", "9"]
        );
    }
}
