//! Every registered file kind, through the one generic mechanism: a valid change applies, an
//! invalid one keeps the last good value and reports where it is wrong, a fix brings it back.
//! Each kind supplies two good files and a bad one with the position of its mistake.

use std::marker::PhantomData;
use std::path::Path;

use aigc_world::AigcWorldUpdate;
use aigc_world::ai::AiSettingsKind;
use aigc_world::ai::llm::loaded::LanguageModelKind;
use aigc_world::ai::llm::tiny_chat::tiny_chat_gguf;
use aigc_world::ai::nca::NcaWeights;
use aigc_world::config::{DEFAULT_WORLD_RON, WorldKind};
use aigc_world::dialogue::llm::{DEFAULT_LANGUAGE_RON, LanguageSettingsKind};
use aigc_world::dialogue::{DEFAULT_GRAMMAR_RON, GrammarKind};
use aigc_world::erosion::{ConvLayer, ErosionModelKind, ErosionWeights, FeatureSet, Stage};
use aigc_world::kinds::{
    Active, ActiveChanged, FileAsset, FileKind, FileKindPlugin, FileKindSystems, FileSlot,
    FileStatus, SlotChange, kind_for_path, registry,
};
use aigc_world::npc::{DEFAULT_NPC_RON, NpcRulesKind};
use aigc_world::scatter::{DEFAULT_SCATTER_RON, ScatterKind};
use aigc_world::texture::{DEFAULT_TEXTURES_RON, NcaModelKind, TextureSetKind};
use bevy::asset::io::memory::Dir;
use bevy::prelude::*;

use crate::common::{memory_app, run_until};

/// What a kind brings to the test.
struct Samples {
    /// A valid file.
    good: Vec<u8>,
    /// Another valid file with a different value (also the built-in value of the test app).
    fixed: Vec<u8>,
    /// An invalid file.
    bad: Vec<u8>,
    /// Where the mistake in `bad` is reported: line and column, 1-based.
    at: (usize, usize),
    /// Words the error must contain.
    says: &'static str,
}

/// A bad text file made by replacing `from` with `to` in `good`; the error is expected on the
/// line where the last line of `to` lands, at `column`.
fn text_samples(
    good: String,
    fixed: String,
    (from, to): (&str, &str),
    column: usize,
    says: &'static str,
) -> Samples {
    let bad = good.replacen(from, to, 1);
    assert_ne!(bad, good, "{from} is not in the good file");
    let marker = to.rsplit('\n').next().unwrap_or(to);
    let line = bad.lines().position(|l| l.contains(marker)).unwrap() + 1;
    Samples {
        good: good.into_bytes(),
        fixed: fixed.into_bytes(),
        bad: bad.into_bytes(),
        at: (line, column),
        says,
    }
}

fn weights(scale: f32) -> NcaWeights {
    NcaWeights {
        channels: 4,
        hidden: 4,
        steps: 4,
        fire_rate: 0.5,
        w1: (0..64).map(|i| (i % 7) as f32 * 0.01 * scale).collect(),
        b1: vec![0.1, -0.1, 0.05, 0.0],
        w2: (0..16).map(|i| (i % 5) as f32 * -0.02).collect(),
    }
}

fn erosion_weights(scale: f32) -> ErosionWeights {
    ErosionWeights {
        spacing_m: 1.0,
        input_scale: 1.0,
        output_scale: scale,
        features: FeatureSet::SlopeRelief,
        layers: vec![ConvLayer {
            stage: Stage::Head,
            inputs: 3,
            outputs: 1,
            kernel: 3,
            dilation: 1,
            weight: (0..27).map(|i| (i % 5) as f32 * 0.1 - 0.2).collect(),
            bias: vec![0.01],
        }],
    }
}

/// The samples of the kind named `name`, as [`FileKind::NAME`] says it.
fn samples(name: &str) -> Samples {
    match name {
        "world" => text_samples(
            DEFAULT_WORLD_RON.replacen("seed: 1337,", "seed: 5,", 1),
            DEFAULT_WORLD_RON.replacen("seed: 1337,", "seed: 6,", 1),
            ("    seed: 5,", "    seed: 5,\n    sed: 8,"),
            5,
            "`sed`",
        ),
        "NPC rules" => text_samples(
            DEFAULT_NPC_RON.replacen("candidates_per_chunk: 2", "candidates_per_chunk: 1", 1),
            DEFAULT_NPC_RON.to_owned(),
            ("\"hunter\": 2.0", "\"huntre\": 2.0"),
            58,
            "occupation `huntre` is not defined",
        ),
        "dialogue grammar" => text_samples(
            DEFAULT_GRAMMAR_RON.replace("(text: \"Hello\",", "(text: \"Howdy\","),
            DEFAULT_GRAMMAR_RON.replace("(text: \"Hello\",", "(text: \"Hiya\","),
            ("#hello#, #stranger#.", "#hello#, #strnger#."),
            24,
            "unknown symbol `strnger` in rule `greet`",
        ),
        "texture set" => text_samples(
            DEFAULT_TEXTURES_RON.replacen("seed: 7,", "seed: 8,", 1),
            DEFAULT_TEXTURES_RON.to_owned(),
            ("    seed: 8,", "    seed: 8,\n    sede: 1,"),
            5,
            "`sede`",
        ),
        "AI settings" => text_samples(
            "(backend: Cpu)".to_owned(),
            "(backend: Auto)".to_owned(),
            ("Cpu", "Gpus"),
            11,
            "Gpus",
        ),
        "language model settings" => text_samples(
            DEFAULT_LANGUAGE_RON.replacen("max_reply_tokens: 48", "max_reply_tokens: 40", 1),
            DEFAULT_LANGUAGE_RON.to_owned(),
            (
                "    history_turns: 6,",
                "    history_turns: 6,\n    histroy: 2,",
            ),
            5,
            "`histroy`",
        ),
        "scatter rules" => text_samples(
            DEFAULT_SCATTER_RON.replacen("seed: 11,", "seed: 12,", 1),
            DEFAULT_SCATTER_RON.to_owned(),
            ("variants: 4,", "variants: 0,"),
            13,
            "layers[0].variants",
        ),
        "language model" => {
            let good = tiny_chat_gguf(1);
            let mut bad = tiny_chat_gguf(3);
            bad[..4].copy_from_slice(b"GGUX");
            Samples {
                good,
                fixed: tiny_chat_gguf(2),
                bad,
                at: (1, 1),
                says: "not a GGUF file",
            }
        }
        "texture model" => {
            let good = weights(1.0).to_bytes();
            let mut bad = weights(2.0).to_bytes();
            let last = bad.len() - 1;
            bad[last] ^= 0x55;
            Samples {
                at: (1, last - 7 + 1),
                good,
                fixed: weights(-1.0).to_bytes(),
                bad,
                says: "checksum",
            }
        }
        "erosion model" => {
            let good = erosion_weights(1.0).to_bytes();
            let mut bad = erosion_weights(2.0).to_bytes();
            let last = bad.len() - 1;
            bad[last] ^= 0x55;
            Samples {
                at: (1, last - 7 + 1),
                good,
                fixed: erosion_weights(0.5).to_bytes(),
                bad,
                says: "checksum",
            }
        }
        other => panic!("no samples for the file kind \"{other}\": add them here"),
    }
}

/// Versions announced by [`ActiveChanged<K>`], in order.
#[derive(Resource)]
struct Announced<K>(Vec<u64>, PhantomData<fn() -> K>);

fn record<K: FileKind>(
    mut changed: MessageReader<ActiveChanged<K>>,
    mut seen: ResMut<Announced<K>>,
) {
    seen.0.extend(changed.read().map(|c| c.version));
}

/// An app with only [`FileKindPlugin<K>`] following `path` in `dir`, recording announcements.
fn kind_app<K: FileKind>(dir: &Dir, path: Option<&str>, builtin: K::Value) -> App {
    let mut app = memory_app(
        dir,
        FileKindPlugin::<K>::new(path.map(str::to_owned), builtin),
    );
    app.insert_resource(Announced::<K>(Vec::new(), PhantomData))
        .add_systems(AigcWorldUpdate, record::<K>.after(FileKindSystems));
    app
}

/// The whole cycle for kind `K`.
fn hot_reload_cycle<K: FileKind>() {
    let samples = samples(K::NAME);
    let path = format!("kinds/test.{}", K::EXTENSIONS[0]);
    let parse = |bytes: &[u8]| K::parse(bytes, &path).unwrap();
    let (good, fixed) = (parse(&samples.good), parse(&samples.fixed));
    assert_ne!(good, fixed, "{}: the two good files must differ", K::NAME);

    let dir = Dir::default();
    dir.insert_asset(Path::new(&path), samples.good.clone());
    let mut app = kind_app::<K>(&dir, Some(&path), fixed.clone());
    let active = |app: &App| app.world().resource::<Active<K>>().clone();
    let status = |app: &App| app.world().resource::<FileStatus<K>>().clone();
    let announced = |app: &App| app.world().resource::<Announced<K>>().0.clone();
    let reload = |app: &mut App, bytes: &[u8]| {
        dir.insert_asset(Path::new(&path), bytes.to_vec());
        app.world().resource::<AssetServer>().reload(path.clone());
    };

    // The file replaces the built-in value.
    run_until(&mut app, 600, |app| active(app).version() == 2);
    assert_eq!(**active(&app).config(), good, "{}", K::NAME);
    assert_eq!(active(&app).source(), path);
    assert_eq!((status(&app).loads, status(&app).last_error), (1, None));

    // A bad edit: reported where it is wrong; the last good value stays.
    reload(&mut app, &samples.bad);
    run_until(&mut app, 600, |app| status(app).last_error.is_some());
    for _ in 0..10 {
        app.update();
    }
    let error = status(&app).last_error.unwrap();
    let (line, column) = samples.at;
    assert_eq!(
        (error.file.as_str(), error.line, error.column),
        (path.as_str(), line, column),
        "{error}"
    );
    assert!(error.to_string().contains(samples.says), "{error}");
    assert_eq!(status(&app).rejected, 1, "{}: one report per edit", K::NAME);
    assert_eq!(active(&app).version(), 2, "{}", K::NAME);
    assert_eq!(**active(&app).config(), good, "{}", K::NAME);

    // The fix applies and clears the error.
    reload(&mut app, &samples.fixed);
    run_until(&mut app, 600, |app| active(app).version() == 3);
    assert_eq!(**active(&app).config(), fixed, "{}", K::NAME);
    assert_eq!((status(&app).loads, status(&app).last_error), (2, None));
    assert_eq!(announced(&app), [2, 3], "{}", K::NAME);
}

/// One file of kind `K` followed as one of many, and what its polls saw.
#[derive(Resource)]
struct Followed<K: FileKind>(FileSlot<K>, Vec<SlotChange>);

fn poll_slot<K: FileKind>(mut followed: ResMut<Followed<K>>, assets: Res<Assets<FileAsset>>) {
    let Followed(slot, seen) = &mut *followed;
    seen.extend(slot.poll(&assets));
}

/// The same cycle through a [`FileSlot`]: how features that follow many files of a kind see it.
fn slot_cycle<K: FileKind>() {
    let samples = samples(K::NAME);
    let path = format!("kinds/many.{}", K::EXTENSIONS[0]);
    let parse = |bytes: &[u8]| K::parse(bytes, &path).unwrap();
    let dir = Dir::default();
    dir.insert_asset(Path::new(&path), samples.good.clone());
    let mut app = kind_app::<K>(&dir, None, parse(&samples.fixed));
    let slot = FileSlot::<K>::load(app.world().resource::<AssetServer>(), &path);
    app.insert_resource(Followed(slot, Vec::new()))
        .add_systems(Update, poll_slot::<K>);
    let seen = |app: &App| app.world().resource::<Followed<K>>().1.clone();
    let value = |app: &App| {
        let slot = &app.world().resource::<Followed<K>>().0;
        slot.values_newest_first().cloned().collect::<Vec<_>>()
    };
    let reload = |app: &mut App, bytes: &[u8]| {
        dir.insert_asset(Path::new(&path), bytes.to_vec());
        app.world().resource::<AssetServer>().reload(path.clone());
    };

    run_until(&mut app, 600, |app| !seen(app).is_empty());
    assert_eq!(seen(&app), [SlotChange::Usable], "{}", K::NAME);
    assert_eq!(*value(&app)[0], parse(&samples.good));

    reload(&mut app, &samples.bad);
    run_until(&mut app, 600, |app| seen(app).len() == 2);
    for _ in 0..10 {
        app.update();
    }
    let changes = seen(&app);
    let (line, column) = samples.at;
    let at = format!("{path}:{line}:{column}: ");
    assert!(
        matches!(&changes[1..], [SlotChange::Rejected(r)] if r.starts_with(&at)),
        "{}: {changes:?}",
        K::NAME
    );
    assert_eq!(*value(&app)[0], parse(&samples.good));

    reload(&mut app, &samples.fixed);
    run_until(&mut app, 600, |app| seen(app).len() == 3);
    assert_eq!(seen(&app)[2], SlotChange::Changed);
    let values = value(&app);
    assert_eq!(
        (&*values[0], &*values[1]),
        (&parse(&samples.fixed), &parse(&samples.good))
    );
}

/// The cycles of every kind, by name.
fn cycles() -> Vec<(&'static str, fn(), fn())> {
    vec![
        (
            WorldKind::NAME,
            hot_reload_cycle::<WorldKind>,
            slot_cycle::<WorldKind>,
        ),
        (
            NpcRulesKind::NAME,
            hot_reload_cycle::<NpcRulesKind>,
            slot_cycle::<NpcRulesKind>,
        ),
        (
            GrammarKind::NAME,
            hot_reload_cycle::<GrammarKind>,
            slot_cycle::<GrammarKind>,
        ),
        (
            TextureSetKind::NAME,
            hot_reload_cycle::<TextureSetKind>,
            slot_cycle::<TextureSetKind>,
        ),
        (
            NcaModelKind::NAME,
            hot_reload_cycle::<NcaModelKind>,
            slot_cycle::<NcaModelKind>,
        ),
        (
            AiSettingsKind::NAME,
            hot_reload_cycle::<AiSettingsKind>,
            slot_cycle::<AiSettingsKind>,
        ),
        (
            LanguageModelKind::NAME,
            hot_reload_cycle::<LanguageModelKind>,
            slot_cycle::<LanguageModelKind>,
        ),
        (
            LanguageSettingsKind::NAME,
            hot_reload_cycle::<LanguageSettingsKind>,
            slot_cycle::<LanguageSettingsKind>,
        ),
        (
            ErosionModelKind::NAME,
            hot_reload_cycle::<ErosionModelKind>,
            slot_cycle::<ErosionModelKind>,
        ),
        (
            ScatterKind::NAME,
            hot_reload_cycle::<ScatterKind>,
            slot_cycle::<ScatterKind>,
        ),
    ]
}

#[test]
fn every_registered_kind_hot_reloads_and_keeps_the_last_good_value() {
    let mut tested: Vec<_> = cycles().iter().map(|(name, ..)| *name).collect();
    let mut registered: Vec<_> = registry().iter().map(|k| k.name).collect();
    tested.sort();
    registered.sort();
    assert_eq!(
        tested, registered,
        "every registered kind needs a cycle here"
    );
    for (_, cycle, _) in cycles() {
        cycle();
    }
}

#[test]
fn every_registered_kind_followed_as_one_of_many_keeps_the_last_good_value() {
    for (_, _, cycle) in cycles() {
        cycle();
    }
}

#[test]
fn the_registry_validates_every_kind_without_an_app() {
    for kind in registry() {
        let samples = samples(kind.name);
        let file = format!("some/dir/x.{}", kind.extensions[0]);
        assert_eq!(kind_for_path(&file).map(|k| k.name), Some(kind.name));
        assert_eq!(
            (kind.validate)(&samples.good, &file),
            Ok(()),
            "{}",
            kind.name
        );
        assert_eq!(
            (kind.validate)(&samples.fixed, &file),
            Ok(()),
            "{}",
            kind.name
        );
        let error = (kind.validate)(&samples.bad, &file).unwrap_err();
        assert_eq!(
            (error.file.as_str(), error.line, error.column),
            (file.as_str(), samples.at.0, samples.at.1)
        );
    }
}

#[test]
fn a_missing_file_is_reported_once_and_the_built_in_value_stays() {
    let builtin = AiSettingsKind::parse(b"(backend: Cpu)", "built-in").unwrap();
    let mut app =
        kind_app::<AiSettingsKind>(&Dir::default(), Some("ai/none.ai.ron"), builtin.clone());
    run_until(&mut app, 600, |app| {
        !app.world().resource::<FileStatus<AiSettingsKind>>().pending
    });
    for _ in 0..10 {
        app.update();
    }
    let status = app.world().resource::<FileStatus<AiSettingsKind>>();
    let error = status.last_error.clone().unwrap();
    assert_eq!(
        (error.file.as_str(), status.rejected, status.loads),
        ("ai/none.ai.ron", 1, 0)
    );
    assert!(error.to_string().contains("could not read"), "{error}");
    let active = app.world().resource::<Active<AiSettingsKind>>();
    assert_eq!((active.config().as_ref(), active.version()), (&builtin, 1));
}

/// A file that says what the built-in value says changes nothing, announces nothing, and is
/// named as the source: a modder's unedited copy of the default shows as loaded.
#[test]
fn a_file_equal_to_the_built_in_value_is_named_as_its_source() {
    let builtin = AiSettingsKind::parse(b"(backend: Cpu)", "built-in").unwrap();
    let dir = Dir::default();
    dir.insert_asset(Path::new("ai/same.ai.ron"), b"(backend: Cpu)".to_vec());
    let mut app = kind_app::<AiSettingsKind>(&dir, Some("ai/same.ai.ron"), builtin.clone());
    run_until(&mut app, 600, |app| {
        app.world().resource::<FileStatus<AiSettingsKind>>().loads == 1
    });
    for _ in 0..5 {
        app.update();
    }
    let active = app.world().resource::<Active<AiSettingsKind>>();
    assert_eq!((active.config().as_ref(), active.version()), (&builtin, 1));
    assert_eq!(active.source(), "ai/same.ai.ron");
    let announced = &app.world().resource::<Announced<AiSettingsKind>>().0;
    assert!(announced.is_empty(), "announced {announced:?}");
}

/// Every kind reads into the one `FileAsset` type, each through its own loader chosen by the
/// file's name; a kind told to follow another kind's file says so, once, and keeps its value.
#[test]
fn kinds_share_one_asset_type_and_a_file_of_another_kind_is_named_as_such() {
    let npc = samples("NPC rules");
    let path = "kinds/b.npc.ron";
    let dir = Dir::default();
    dir.insert_asset(Path::new(path), npc.good.clone());
    let ai_builtin = AiSettingsKind::parse(b"(backend: Cpu)", "built-in").unwrap();
    let npc_builtin = NpcRulesKind::parse(&npc.fixed, "built-in").unwrap();
    let mut app = memory_app(
        &dir,
        (
            FileKindPlugin::<AiSettingsKind>::new(Some(path.into()), ai_builtin.clone()),
            FileKindPlugin::<NpcRulesKind>::new(Some(path.into()), npc_builtin),
        ),
    );
    run_until(&mut app, 600, |app| {
        let world = app.world();
        !world.resource::<FileStatus<AiSettingsKind>>().pending
            && world.resource::<Active<NpcRulesKind>>().version() == 2
    });
    for _ in 0..10 {
        app.update();
    }
    let world = app.world();
    assert_eq!(
        **world.resource::<Active<NpcRulesKind>>().config(),
        NpcRulesKind::parse(&npc.good, path).unwrap()
    );
    // Both kinds asked for the same file: one asset, read once by the NPC rules' loader.
    let assets = world.resource::<Assets<FileAsset>>();
    assert_eq!(assets.len(), 1);
    assert!(assets.iter().all(|(_, asset)| asset.is::<NpcRulesKind>()));

    let status = world.resource::<FileStatus<AiSettingsKind>>();
    let error = status
        .last_error
        .clone()
        .expect("the wrong kind is reported");
    assert_eq!(
        (
            error.file.as_str(),
            error.line,
            error.column,
            status.rejected
        ),
        (path, 1, 1, 1)
    );
    let text = error.to_string();
    assert!(
        text.contains("NPC rules") && text.contains(".ai.ron"),
        "{text}"
    );
    let active = world.resource::<Active<AiSettingsKind>>();
    assert_eq!(
        (active.config().as_ref(), active.version()),
        (&ai_builtin, 1)
    );
}
