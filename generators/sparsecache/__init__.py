"""SparseCache: a TCAM null cache for all-zero lines beside an L1 data cache (Ganesan et al., DATE 2020)."""
