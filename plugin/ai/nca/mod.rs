//! Neural cellular automata for textures: the model ([`model`]), its training ([`train`]) and
//! its weights file ([`weights`]). Generic over burn's backend; the concrete backends live in
//! [`backend`](super::backend) behind a non-generic API.

pub mod grow;
pub mod model;
pub mod rng;
pub mod train;
pub mod weights;

pub use grow::{GrowPlan, grow};
pub use model::{Cancelled, Nca};
pub use train::{Exemplar, TrainConfig, Trainer};
pub use weights::{NcaWeights, WeightsError};
