"""SparseCache: a TCAM null cache for all-zero lines beside an L1 data cache.

Ganesan et al., "Sparsity-Aware Caches to Accelerate Deep Neural Networks", DATE 2020.
"""
