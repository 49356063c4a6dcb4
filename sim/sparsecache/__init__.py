"""Golden models of SparseCache: L1 data cache, TCAM null cache, zero detector, address merger."""
