//! Rendering without a window: no winit, no display, the camera draws into an image.
//!
//! [`headless`] turns `DefaultPlugins` into a set without a primary window or winit (so a GPU
//! server without a display, or CI without Xvfb, can render); [`OffscreenPlugin`] then drives
//! the app with a `ScheduleRunnerPlugin` loop, makes the [`OffscreenTarget`] image a camera can
//! render into, and paces frames the way a swapchain would: each rendered frame waits until the
//! GPU has finished it, so frame times include the GPU's work instead of queueing frames without
//! bound. Screenshots of the image work with `Screenshot::image(target.0.clone())`.

use std::time::Duration;

use bevy::app::{PluginGroupBuilder, ScheduleRunnerPlugin};
use bevy::camera::RenderTarget;
use bevy::prelude::*;
use bevy::render::render_resource::{PollType, TextureFormat, TextureUsages};
use bevy::render::renderer::RenderDevice;
use bevy::render::{Render, RenderApp, RenderSystems};
use bevy::window::ExitCondition;
use bevy::winit::WinitPlugin;

/// `plugins` without a primary window and without winit; the app does not exit when no window
/// is open (it ends with an `AppExit` message).
pub fn headless(plugins: PluginGroupBuilder) -> PluginGroupBuilder {
    plugins
        .set(WindowPlugin {
            primary_window: None,
            primary_cursor_options: None,
            exit_condition: ExitCondition::DontExit,
            close_when_requested: false,
        })
        .disable::<WinitPlugin>()
}

/// The image the offscreen camera renders into.
#[derive(Resource, Clone, Debug)]
pub struct OffscreenTarget(pub Handle<Image>);

impl OffscreenTarget {
    /// The render target for a camera.
    pub fn render_target(&self) -> RenderTarget {
        RenderTarget::Image(self.0.clone().into())
    }
}

/// Runs the app without a window: a loop as fast as frames finish, an [`OffscreenTarget`] of
/// `width` x `height` pixels, and one frame in flight on the GPU at a time.
pub struct OffscreenPlugin {
    /// Pixels across the target.
    pub width: u32,
    /// Pixels down the target.
    pub height: u32,
}

impl Plugin for OffscreenPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(ScheduleRunnerPlugin::run_loop(Duration::ZERO));
        if let Some(render_app) = app.get_sub_app_mut(RenderApp) {
            render_app.add_systems(Render, wait_for_gpu.in_set(RenderSystems::Cleanup));
        }
    }

    fn finish(&self, app: &mut App) {
        // Rgba8UnormSrgb: what a window's swapchain shows, and what screenshots save directly.
        let mut image = Image::new_target_texture(
            self.width.max(1),
            self.height.max(1),
            TextureFormat::Rgba8UnormSrgb,
            None,
        );
        image.texture_descriptor.usage |= TextureUsages::COPY_SRC;
        let handle = app.world_mut().resource_mut::<Assets<Image>>().add(image);
        app.insert_resource(OffscreenTarget(handle));
    }
}

/// Blocks the render thread until the frame just submitted has run on the GPU.
fn wait_for_gpu(device: Res<RenderDevice>) {
    if let Err(e) = device.poll(PollType::wait_indefinitely()) {
        warn!("offscreen: waiting for the GPU failed: {e}");
    }
}
