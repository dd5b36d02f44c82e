//! [`Collective`] on MPI's world communicator (rsmpi).

use mpi::collective::{CommunicatorCollectives, SystemOperation};
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};

use kiln_train::Collective;

/// The world of an MPI job: every rank `mpirun -np N` started.
pub struct MpiWorld {
    // Dropping the universe finalises MPI, so it lives as long as the world.
    _universe: Universe,
    world: SimpleCommunicator,
}

impl std::fmt::Debug for MpiWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MpiWorld(rank {} of {})", self.rank(), self.size())
    }
}

impl MpiWorld {
    /// Initialises MPI (once per process; `None` if it already was).
    pub fn init() -> Option<Self> {
        let universe = mpi::initialize()?;
        let world = universe.world();
        Some(Self {
            _universe: universe,
            world,
        })
    }
}

impl Collective for MpiWorld {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn sum_f32(&self, values: &mut [f32]) {
        let send = values.to_vec();
        self.world
            .all_reduce_into(&send[..], values, SystemOperation::sum());
    }

    fn sum_f64(&self, values: &mut [f64]) {
        let send = values.to_vec();
        self.world
            .all_reduce_into(&send[..], values, SystemOperation::sum());
    }

    fn all_equal(&self, value: u64) -> bool {
        let (mut low, mut high) = (0u64, 0u64);
        self.world
            .all_reduce_into(&value, &mut low, SystemOperation::min());
        self.world
            .all_reduce_into(&value, &mut high, SystemOperation::max());
        low == high
    }
}
