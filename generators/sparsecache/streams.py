"""Payloads of SparseCache's four streams: core requests and responses, memory requests and
responses (whole lines)."""

from __future__ import annotations

from amaranth.lib import data, enum

from .cache_config import SparseCacheConfig

__all__ = ["Op", "Outcome", "memory_request_layout", "memory_response_layout", "request_layout",
           "response_layout"]


class Op(enum.Enum, shape=1):
    LOAD = 0
    STORE = 1


class Outcome(enum.Enum, shape=2):
    """How an access was served (the golden model's ``Outcome``)."""

    L1_HIT = 0
    NULL_HIT = 1
    MISS = 2


def request_layout(cfg: SparseCacheConfig) -> data.StructLayout:
    """``op``, the word address ``addr`` and, for a store, the word ``data``."""
    return data.StructLayout({"op": Op, "addr": cfg.word_address_bits, "data": cfg.word_bits})


def response_layout(cfg: SparseCacheConfig) -> data.StructLayout:
    """The loaded word (0 for a store) and how the access was served."""
    return data.StructLayout({"data": cfg.word_bits, "outcome": Outcome})


def memory_request_layout(cfg: SparseCacheConfig) -> data.StructLayout:
    """Read (``write`` = 0) or write one line at line address ``addr``."""
    return data.StructLayout({"write": 1, "addr": cfg.line_address_bits, "data": cfg.line_bits})


def memory_response_layout(cfg: SparseCacheConfig) -> data.StructLayout:
    """The line read; for a write, an acknowledgement whose data is ignored."""
    return data.StructLayout({"data": cfg.line_bits})
