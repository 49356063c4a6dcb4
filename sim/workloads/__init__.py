"""Memory traces of pruned DNN inference for the SparseCache evaluation.

``networks`` (shapes and published densities), ``pruning``, ``lenet_digits`` (LeNet-5 trained
on scikit-learn's digits), ``values`` (the numbers each layer computes), ``layout`` (where
they live), ``kernels`` (the CPU's loop nests as loads and stores), ``sampling``, ``traces``
(:func:`~.traces.generate_trace`), ``trace_format`` (the file format and its reader) and
``replay`` (a trace through the golden model).
"""
