//! Signals: the actions a process installed, its mask, what is pending, and the frames that
//! deliver a signal to a handler. (Being written.)

/// One process's signal state.
#[derive(Clone, Debug, Default)]
pub struct SignalState {}
