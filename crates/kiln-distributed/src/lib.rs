//! Data-parallel training over MPI: [`world`] joins the ranks `mpirun` (or Slurm's `srun`)
//! started, as a [`kiln_train::Collective`] the loop trains with. Without the `mpi` feature,
//! or outside a launcher, there is one rank and training runs as one process.
#![warn(missing_docs)]

#[cfg(feature = "mpi")]
mod mpi_world;

use std::rc::Rc;

use kiln_train::Collective;

#[cfg(feature = "mpi")]
pub use mpi_world::MpiWorld;

/// The ranks of this job, when built with `mpi` (a world of one outside `mpirun`); `None`
/// without the feature. Call it once, early: MPI is finalised when the last handle is dropped.
pub fn world() -> Option<Rc<dyn Collective>> {
    #[cfg(feature = "mpi")]
    {
        MpiWorld::init().map(|w| Rc::new(w) as Rc<dyn Collective>)
    }
    #[cfg(not(feature = "mpi"))]
    {
        None
    }
}

/// Whether this binary was built with MPI.
pub const MPI_BUILT_IN: bool = cfg!(feature = "mpi");
