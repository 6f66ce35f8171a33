//! Requests in flight: building them from a player's line, polling sources without blocking,
//! streaming pieces out as messages, and falling back to the grammar at the deadline.

use std::sync::Arc;

use bevy::prelude::*;
use crossbeam::channel::TryRecvError;

use super::intent::{clamp_line, recognise};
use super::memory::NpcMemory;
use super::source::{
    DialogueRequest, ReplySink, ReplyStream, RequestId, SourceEvent, grammar_reply, pieces,
};
use super::{
    ActiveGrammar, DialogueBackend, DialogueReply, DialogueSettings, ReplyEvent, SayToNpc,
};
use crate::clock::WorldClock;
use crate::config::ActiveWorld;
use crate::npc::Npc;
use crate::npc::facts::{Speaker, WorldFacts};
use crate::terrain::WorldObserver;

/// A request waiting for its source.
pub(crate) struct Pending {
    id: RequestId,
    npc: Entity,
    rx: ReplyStream,
    /// Real seconds since startup after which the grammar answers instead.
    deadline: f64,
    /// Real seconds since startup by which the first words must have come.
    first_words: f64,
    text: String,
    source: String,
    request: DialogueRequest,
}

/// Requests in flight and the id counter.
#[derive(Resource, Default)]
pub(crate) struct PendingReplies {
    pending: Vec<Pending>,
    next_id: u64,
}

/// Turns each [`SayToNpc`] into a [`DialogueRequest`] and hands it to the active source.
pub(crate) fn start_requests(
    mut said: MessageReader<SayToNpc>,
    mut npcs: Query<(&Npc, &GlobalTransform, Option<&mut NpcMemory>)>,
    observers: Query<&GlobalTransform, With<WorldObserver>>,
    clock: Option<Res<WorldClock>>,
    world: Option<Res<ActiveWorld>>,
    grammar: Res<ActiveGrammar>,
    backend: Res<DialogueBackend>,
    settings: Res<DialogueSettings>,
    time: Res<Time<Real>>,
    mut pending: ResMut<PendingReplies>,
    mut out: MessageWriter<DialogueReply>,
) {
    for say in said.read() {
        let Ok((npc, at, memory)) = npcs.get_mut(say.npc) else {
            warn!(
                "aigc_world: {:?} is not an NPC (or is gone); nobody answers",
                say.npc
            );
            continue;
        };
        let line = clamp_line(&say.text).trim().to_owned();
        let intent = say
            .intent
            .unwrap_or_else(|| recognise(&grammar.get(), &line));
        let hours = clock.as_ref().map_or(12.0, |c| c.hours);
        let mut memory = memory;
        let recent = memory
            .as_ref()
            .map(|m| m.turns.iter().cloned().collect())
            .unwrap_or_default();
        let earlier_turns = memory.as_ref().map_or(0, |m| m.forgotten);
        if let Some(m) = memory.as_mut()
            && !line.is_empty()
        {
            m.push(Speaker::Player, line.clone(), settings.memory_turns);
        }
        // A new line to the same NPC replaces whatever it was still saying.
        pending.pending.retain(|p| p.npc != say.npc);
        pending.next_id += 1;
        let request = DialogueRequest {
            id: RequestId(pending.next_id),
            npc: npc.id,
            persona: Arc::clone(&npc.persona),
            player_line: line,
            intent,
            facts: WorldFacts {
                earlier_turns,
                ..WorldFacts::new((*npc.surroundings).clone(), hours, recent)
            },
            seed: world.as_ref().map_or(0, |w| w.config().seed),
            distance_m: observers
                .iter()
                .map(|o| o.translation().distance(at.translation()))
                .fold(f32::INFINITY, f32::min),
        };
        let (sink, rx) = ReplySink::channel();
        let source = backend.0.name().to_owned();
        out.write(DialogueReply {
            request: request.id,
            npc: say.npc,
            event: ReplyEvent::Started {
                intent,
                source: source.clone(),
            },
        });
        backend.0.respond(request.clone(), sink);
        pending.pending.push(Pending {
            id: request.id,
            npc: say.npc,
            rx,
            deadline: time.elapsed_secs_f64() + f64::from(settings.deadline_secs.max(0.0)),
            first_words: time.elapsed_secs_f64() + f64::from(settings.first_words_secs.max(0.0)),
            text: String::new(),
            source,
            request,
        });
    }
}

/// Whether replies are on their way.
pub(crate) fn replies_pending(pending: Res<PendingReplies>) -> bool {
    !pending.pending.is_empty()
}

/// Forwards pieces from sources as [`DialogueReply`] messages; completes replies, and answers
/// from the grammar when a source fails or misses its deadline. Never waits.
pub(crate) fn pump_replies(
    time: Res<Time<Real>>,
    grammar: Res<ActiveGrammar>,
    settings: Res<DialogueSettings>,
    mut pending: ResMut<PendingReplies>,
    mut memories: Query<&mut NpcMemory>,
    mut out: MessageWriter<DialogueReply>,
) {
    let now = time.elapsed_secs_f64();
    let max_chars = grammar.get().limits().max_chars as usize * 2;
    let mut done = Vec::new();
    for (k, p) in pending.pending.iter_mut().enumerate() {
        let outcome = loop {
            match p.rx.try_recv() {
                Ok(SourceEvent::Piece(text)) => {
                    if p.text.len() + text.len() > max_chars * 4 {
                        // A runaway source: keep what fits and end the reply there.
                        break Some(false);
                    }
                    p.text.push_str(&text);
                    out.write(DialogueReply {
                        request: p.id,
                        npc: p.npc,
                        event: ReplyEvent::Piece(text),
                    });
                }
                Ok(SourceEvent::Finished) => break Some(false),
                Ok(SourceEvent::Failed(reason)) => {
                    warn!(
                        "aigc_world: dialogue source `{}` failed ({reason}); the grammar answers",
                        p.source
                    );
                    break Some(true);
                }
                Err(TryRecvError::Disconnected) => break Some(true),
                Err(TryRecvError::Empty) => {
                    let late = now >= p.deadline || (p.text.is_empty() && now >= p.first_words);
                    break late.then_some(true);
                }
            }
        };
        let Some(fall_back) = outcome else { continue };
        if fall_back {
            if !p.text.is_empty() {
                out.write(DialogueReply {
                    request: p.id,
                    npc: p.npc,
                    event: ReplyEvent::Restart,
                });
            }
            p.text = grammar_reply(&grammar.get(), &p.request);
            for piece in pieces(&p.text) {
                out.write(DialogueReply {
                    request: p.id,
                    npc: p.npc,
                    event: ReplyEvent::Piece(piece.to_owned()),
                });
            }
            p.source = "grammar".to_owned();
        }
        let text = p.text.trim().to_owned();
        if let Ok(mut memory) = memories.get_mut(p.npc) {
            memory.push(Speaker::Npc, text.clone(), settings.memory_turns);
        }
        out.write(DialogueReply {
            request: p.id,
            npc: p.npc,
            event: ReplyEvent::Done {
                text,
                source: p.source.clone(),
                fell_back: fall_back,
            },
        });
        done.push(k);
    }
    for k in done.into_iter().rev() {
        pending.pending.swap_remove(k);
    }
}
