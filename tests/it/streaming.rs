//! Chunks stream in around observers, follow them and go away behind them.

use aigc_world::prelude::*;
use aigc_world::terrain::TerrainChunk;
use bevy::prelude::*;

use crate::common::{headless_app, run_until};

#[test]
fn starting_area_generates_around_an_observer() {
    let mut app = headless_app();
    app.world_mut()
        .spawn((WorldObserver::default(), Transform::default()));
    run_until(&mut app, 3000, |app| {
        app.world().resource::<TerrainStats>().is_settled()
    });
    let stats = app.world().resource::<TerrainStats>().clone();
    assert!(stats.resident > 500, "{stats:?}");
    let mut q = app.world_mut().query::<(&TerrainChunk, &Mesh3d)>();
    assert_eq!(q.iter(app.world()).count(), stats.resident);
}
