//! The lock (to be written): one apply or destroy per workspace at a time, by a Lease.
