//! The AI runtime: one model worker thread on a burn backend chosen at run time, fed by a
//! priority queue, answering with Bevy messages.
//!
//! - [`worker`]: the pure worker (priorities, cancellation, failures reported, no Bevy).
//! - [`nca`]: the texture model, its training and its weights file, generic over burn's backend.
//! - [`surface`]: a grown texture's surface maps and mips, packed for a GPU copy.
//! - [`backend`]: the one module naming concrete backends, behind plain functions.
//!
//! [`AiRuntimePlugin`] starts the worker, picks the backend (wgpu on Bevy's own device when a
//! real GPU is present, else the CPU; `assets/ai/default.ai.ron` can force either), turns
//! finished work into [`AiResponse`] messages and publishes diagnostics. Inference never runs
//! on the frame thread, and the worker's thread is in the idle scheduling class unless Bevy
//! renders on a software adapter ([`AiRuntimePlugin::worker_priority`]), so a frame thread that
//! needs its core gets it at once.

pub mod backend;
pub mod llm;
pub mod nca;
pub mod surface;
pub mod worker;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bevy::diagnostic::{Diagnostic, DiagnosticPath, Diagnostics, RegisterDiagnostic};
use bevy::ecs::error::Severity;
use bevy::prelude::*;
use serde::Deserialize;
use thiserror::Error;

use crate::background::BackgroundPriority;
use crate::config::{ConfigError, parse_ron};
use crate::kinds::{self, Active, ActiveChanged, FileKind, FileKindPlugin, FileKindSystems};
use crate::{AigcWorldSystems, AigcWorldUpdate};
pub use backend::ComputeDevice;
pub use worker::{
    AiError, AiJob, AiOutput, AiPriority, AiResult, AiSubmitter, AiTicket, ModelRunner,
};
use worker::{CancelToken, ModelWorker};

/// Adds the model worker, [`AiRuntime`], [`AiResponse`] messages and AI diagnostics.
#[derive(Clone, Debug)]
pub struct AiRuntimePlugin {
    /// Asset path of the runtime settings (`*.ai.ron`), or `None` for automatic choices.
    pub config_path: Option<String>,
    /// How the model worker's thread yields to the game's, or `None` (the default) to choose
    /// at start: [`BackgroundPriority::Idle`], so inference never delays a frame thread, unless
    /// Bevy renders on a software adapter (lavapipe), which keeps every core busy and would
    /// starve the worker; then `Low`.
    pub worker_priority: Option<BackgroundPriority>,
}

impl Default for AiRuntimePlugin {
    fn default() -> Self {
        Self {
            config_path: Some("ai/default.ai.ron".into()),
            worker_priority: None,
        }
    }
}

/// Which backend models run on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Reflect)]
pub enum AiBackendChoice {
    /// A real GPU if Bevy renders on one, else the CPU.
    #[default]
    Auto,
    /// Always the CPU.
    Cpu,
    /// Bevy's render device, even a software one (slow, but it runs the GPU path anywhere);
    /// the CPU with a warning when there is none.
    Gpu,
}

/// The runtime settings file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiConfig {
    /// Which backend to use.
    #[serde(default)]
    pub backend: AiBackendChoice,
}

/// AI settings files, `*.ai.ron` ([`AiConfig`]).
#[derive(Clone, Copy, Debug, Default, TypePath)]
pub struct AiSettingsKind;

impl FileKind for AiSettingsKind {
    type Value = AiConfig;
    const NAME: &'static str = "AI settings";
    const EXTENSIONS: &'static [&'static str] = &["ai.ron"];

    fn parse(bytes: &[u8], file: &str) -> Result<AiConfig, ConfigError> {
        parse_ron(kinds::text(bytes, file)?, file)
    }
}

/// A finished model request, for whoever submitted it (match [`AiResult::id`] with
/// [`AiTicket::id`]).
#[derive(Message, Clone, Debug)]
pub struct AiResponse(pub AiResult);

/// The model worker and the backend it uses. Submit work with [`submit`](Self::submit); results
/// arrive as [`AiResponse`] messages in [`AigcWorldSystems::Poll`].
#[derive(Resource)]
pub struct AiRuntime {
    worker: ModelWorker,
    device: Arc<Mutex<ComputeDevice>>,
    gpu: Option<RenderGpu>,
    choice: AiBackendChoice,
    last_inference_ms: Option<f64>,
}

impl AiRuntime {
    /// Queues `job`; the result comes back as an [`AiResponse`] with the ticket's id.
    pub fn submit(&self, priority: AiPriority, job: AiJob) -> AiTicket {
        self.worker.submit(priority, job)
    }

    /// A handle that submits jobs from anywhere (a dialogue source on another thread, say);
    /// results still arrive as [`AiResponse`] messages.
    pub fn submitter(&self) -> AiSubmitter {
        self.worker.submitter()
    }

    /// `"cpu"` or `"gpu"`: where models run now.
    pub fn backend_name(&self) -> &'static str {
        self.device.lock().map_or("cpu", |d| d.name())
    }

    /// Requests waiting to start.
    pub fn waiting(&self) -> usize {
        self.worker.stats().waiting.load(Ordering::Relaxed)
    }

    /// Milliseconds the last finished request ran.
    pub fn last_inference_ms(&self) -> Option<f64> {
        self.last_inference_ms
    }

    /// Applies a backend choice; returns a warning if a GPU was asked for but none is usable.
    fn choose(&mut self, choice: AiBackendChoice) -> Option<String> {
        self.choice = choice;
        let (on_gpu, warning) = resolve_backend(choice, self.gpu.as_ref().map(|g| g.software));
        let device = match (&mut self.gpu, on_gpu) {
            (Some(gpu), true) => gpu.device(),
            _ => ComputeDevice::Cpu,
        };
        if let Ok(mut d) = self.device.lock() {
            *d = device;
        }
        warning.map(str::to_owned)
    }
}

/// Whether `choice` runs models on Bevy's adapter (`Some(software)`, or `None` without one),
/// and the warning to give. burn's CPU backend beats a software rasteriser, so only an
/// explicit `Gpu` uses one (to try the GPU path on a machine without a GPU).
fn resolve_backend(choice: AiBackendChoice, adapter: Option<bool>) -> (bool, Option<&'static str>) {
    match (choice, adapter) {
        (AiBackendChoice::Cpu, _) | (AiBackendChoice::Auto, None | Some(true)) => (false, None),
        (_, Some(_)) => (true, None),
        (AiBackendChoice::Gpu, None) => (
            false,
            Some("backend Gpu asked for, but no usable GPU was found; using the CPU"),
        ),
    }
}

/// Bevy's render device, whether it is a software adapter, and burn's device on it (made on
/// first use, so a software adapter that `Auto` leaves alone costs nothing).
#[cfg_attr(not(feature = "wgpu"), allow(dead_code))]
struct RenderGpu {
    #[cfg(feature = "wgpu")]
    setup: burn::backend::wgpu::WgpuSetup,
    device: Option<ComputeDevice>,
    software: bool,
}

impl RenderGpu {
    fn device(&mut self) -> ComputeDevice {
        #[cfg(feature = "wgpu")]
        {
            let setup = &self.setup;
            self.device
                .get_or_insert_with(|| ComputeDevice::gpu_from_setup(setup.clone()))
                .clone()
        }
        #[cfg(not(feature = "wgpu"))]
        {
            self.device.clone().unwrap_or(ComputeDevice::Cpu)
        }
    }
}

/// Runs jobs on whatever device the runtime currently selects.
struct DeviceRunner {
    device: Arc<Mutex<ComputeDevice>>,
    language: Option<llm::loaded::LoadedLanguageModel>,
}

impl ModelRunner for DeviceRunner {
    fn run(&mut self, job: &AiJob, cancel: &CancelToken) -> Result<AiOutput, AiError> {
        let device = self
            .device
            .lock()
            .map(|d| d.clone())
            .unwrap_or(ComputeDevice::Cpu);
        match job {
            AiJob::GrowTexture {
                weights,
                size,
                seed,
                steps,
            } => backend::grow_texture(&device, weights, *size, *seed, *steps, &|| {
                cancel.is_cancelled()
            })
            .map(|rgba| AiOutput::Texture { size: *size, rgba })
            .map_err(grow_error),
            AiJob::GrowSurface {
                weights,
                size,
                seed,
                steps,
                surface,
                mips,
            } => backend::grow_surface(
                &device,
                weights,
                *size,
                *seed,
                *steps,
                *surface,
                *mips,
                &|| cancel.is_cancelled(),
            )
            .map(|grown| match grown {
                backend::GrownSurface::Pixels(rgba) => AiOutput::Texture { size: *size, rgba },
                backend::GrownSurface::Gpu(surface) => AiOutput::GpuSurface(surface),
            })
            .map_err(grow_error),
            AiJob::WarmUp => Ok(AiOutput::Done),
            AiJob::LoadLanguageModel(file) => {
                // The old model goes first, so two are never in memory at once.
                self.language = None;
                let loaded = llm::loaded::load_for_worker(file, &device)?;
                let info = loaded.info();
                self.language = Some(loaded);
                Ok(AiOutput::LanguageModel(info))
            }
            AiJob::UnloadLanguageModel => {
                self.language = None;
                Ok(AiOutput::Done)
            }
            AiJob::Language(task) => match self.language.as_mut() {
                Some(model) => task.run(model, &|| cancel.is_cancelled()),
                None => Err(AiError::Failed("no language model is loaded".into())),
            },
        }
    }
}

fn grow_error(e: backend::GrowError) -> AiError {
    match e {
        backend::GrowError::Cancelled => AiError::Cancelled,
        other => AiError::Failed(other.to_string()),
    }
}

/// Paths of the AI runtime's diagnostics.
pub struct AiDiagnostics;

impl AiDiagnostics {
    /// Requests waiting for the worker.
    pub const REQUESTS_WAITING: DiagnosticPath =
        DiagnosticPath::const_new("aigc_world/ai_requests_waiting");
    /// Milliseconds of the latest finished request.
    pub const INFERENCE_MS: DiagnosticPath =
        DiagnosticPath::const_new("aigc_world/ai_inference_ms");
    /// Backend in use: 0 = CPU, 1 = GPU.
    pub const BACKEND_GPU: DiagnosticPath = DiagnosticPath::const_new("aigc_world/ai_backend_gpu");
}

impl Plugin for AiRuntimePlugin {
    fn build(&self, app: &mut App) {
        crate::configure_sets(app);
        let device = Arc::new(Mutex::new(ComputeDevice::Cpu));
        let shared = device.clone();
        // Started low; `finish` moves it to the idle class once the renderer is known (a
        // thread may always lower its priority, but not always raise it again).
        let worker = ModelWorker::spawn_at(BackgroundPriority::Low, move || DeviceRunner {
            device: shared,
            language: None,
        });
        app.insert_resource(AiRuntime {
            worker,
            device,
            gpu: None,
            choice: AiBackendChoice::Auto,
            last_inference_ms: None,
        })
        .add_plugins(FileKindPlugin::<AiSettingsKind>::new(
            self.config_path.clone(),
            AiConfig::default(),
        ))
        .add_message::<AiResponse>()
        .register_diagnostic(Diagnostic::new(AiDiagnostics::REQUESTS_WAITING))
        .register_diagnostic(Diagnostic::new(AiDiagnostics::INFERENCE_MS).with_suffix(" ms"))
        .register_diagnostic(Diagnostic::new(AiDiagnostics::BACKEND_GPU))
        .add_systems(
            AigcWorldUpdate,
            (
                apply_ai_config
                    .run_if(on_message::<ActiveChanged<AiSettingsKind>>)
                    .after(FileKindSystems)
                    .in_set(AigcWorldSystems::Config),
                collect_results
                    .run_if(|runtime: Res<AiRuntime>| runtime.worker.has_results())
                    .in_set(AigcWorldSystems::Poll),
                // Requests waiting change without the runtime changing: published while any
                // wait, and once more when the runtime changes (a result, a new backend).
                publish_diagnostics
                    .run_if(
                        resource_changed::<AiRuntime>
                            .or_eager(|runtime: Res<AiRuntime>| runtime.waiting() > 0),
                    )
                    .in_set(AigcWorldSystems::Diagnostics),
            ),
        );
    }

    fn finish(&self, app: &mut App) {
        let gpu = find_gpu(app);
        let mut runtime = app.world_mut().resource_mut::<AiRuntime>();
        let software = gpu.as_ref().is_some_and(|g| g.software);
        let priority = self.worker_priority.unwrap_or(if software {
            BackgroundPriority::Low
        } else {
            BackgroundPriority::Idle
        });
        runtime.worker.set_priority(priority);
        runtime.gpu = gpu;
        let choice = runtime.choice;
        runtime.choose(choice);
        info!(
            "aigc_world: AI models run on the {}",
            runtime.backend_name()
        );
    }
}

/// burn's device on Bevy's render device (feature `wgpu`). Software adapters such as lavapipe
/// are marked, and `Auto` leaves them alone, because burn's CPU backend beats them.
#[cfg(feature = "wgpu")]
fn find_gpu(app: &mut App) -> Option<RenderGpu> {
    use bevy::render::RenderApp;
    use bevy::render::renderer::{
        RenderAdapter, RenderAdapterInfo, RenderDevice, RenderInstance, RenderQueue,
    };
    let world = app.get_sub_app(RenderApp).map(|s| s.world())?;
    let info = world.get_resource::<RenderAdapterInfo>()?;
    let software = info.device_type == wgpu_types::DeviceType::Cpu;
    if software {
        info!(
            "aigc_world: {} is a software adapter; AI models use the CPU unless the AI settings say Gpu",
            info.name
        );
    }
    let setup = burn::backend::wgpu::WgpuSetup {
        instance: (**world.get_resource::<RenderInstance>()?.0).clone(),
        adapter: (**world.get_resource::<RenderAdapter>()?.0).clone(),
        device: world.get_resource::<RenderDevice>()?.wgpu_device().clone(),
        queue: (**world.get_resource::<RenderQueue>()?.0).clone(),
        backend: info.backend,
    };
    Some(RenderGpu {
        setup,
        device: None,
        software,
    })
}

#[cfg(not(feature = "wgpu"))]
fn find_gpu(_app: &mut App) -> Option<RenderGpu> {
    None
}

/// Applies a new backend choice from the AI settings file.
fn apply_ai_config(
    mut changed: MessageReader<ActiveChanged<AiSettingsKind>>,
    active: Res<Active<AiSettingsKind>>,
    mut runtime: ResMut<AiRuntime>,
) -> Result {
    if changed.read().last().is_none() {
        return Ok(());
    }
    let backend = active.config().backend;
    if let Some(warning) = runtime.choose(backend) {
        return Err(BevyError::from(AiRuntimeWarning(warning)).with_severity(Severity::Warning));
    }
    info!(
        "aigc_world: AI backend {backend:?}: models run on the {}",
        runtime.backend_name()
    );
    Ok(())
}

#[derive(Debug, Error)]
#[error("{0}")]
struct AiRuntimeWarning(String);

fn collect_results(mut runtime: ResMut<AiRuntime>, mut responses: MessageWriter<AiResponse>) {
    for result in runtime.worker.try_results() {
        if result.elapsed_ms > 0.0 {
            runtime.last_inference_ms = Some(result.elapsed_ms);
        }
        responses.write(AiResponse(result));
    }
}

fn publish_diagnostics(runtime: Res<AiRuntime>, mut diagnostics: Diagnostics) {
    diagnostics.add_measurement(&AiDiagnostics::REQUESTS_WAITING, || {
        runtime.waiting() as f64
    });
    if let Some(ms) = runtime.last_inference_ms {
        diagnostics.add_measurement(&AiDiagnostics::INFERENCE_MS, || ms);
    }
    let gpu = runtime.backend_name() == "gpu";
    diagnostics.add_measurement(&AiDiagnostics::BACKEND_GPU, || if gpu { 1.0 } else { 0.0 });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_choice_uses_real_gpus_and_software_ones_only_when_asked() {
        use AiBackendChoice::{Auto, Cpu, Gpu};
        let (hardware, software, none) = (Some(false), Some(true), None);
        assert_eq!(resolve_backend(Auto, hardware), (true, None));
        assert_eq!(resolve_backend(Auto, software), (false, None));
        assert_eq!(resolve_backend(Auto, none), (false, None));
        assert_eq!(resolve_backend(Cpu, hardware), (false, None));
        assert_eq!(resolve_backend(Gpu, software), (true, None));
        assert_eq!(resolve_backend(Gpu, hardware), (true, None));
        let (on_gpu, warning) = resolve_backend(Gpu, none);
        assert!(!on_gpu && warning.is_some_and(|w| w.contains("no usable GPU")));
    }
}
