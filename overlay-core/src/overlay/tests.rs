//! Tests of the union over tmpfs layers.
