"""Typed errors raised by the library; the service maps them to HTTP status codes."""

from __future__ import annotations

__all__ = [
    "CorruptIndex",
    "DocumentNotFound",
    "IndexExists",
    "IndexNotFound",
    "InvalidConfig",
    "InvalidInput",
    "LLMBadOutput",
    "LLMError",
    "LLMUnavailable",
    "RetrievalError",
    "UnsupportedOperation",
]


class RetrievalError(Exception):
    """Base class of every error the library raises on purpose."""


class IndexNotFound(RetrievalError):
    """No index (or no committed version of it) exists at the given name or path."""


class DocumentNotFound(RetrievalError):
    """No live document with that id exists in the index."""


class IndexExists(RetrievalError):
    """An index with that name already exists."""


class InvalidConfig(RetrievalError):
    """A configuration is inconsistent, names an unknown kind, or does not fit the data."""


class InvalidInput(RetrievalError):
    """Documents or queries are malformed: empty or duplicate ids, empty text, queries too long."""


class UnsupportedOperation(RetrievalError):
    """The operation is not available in this build (e.g. a GPU was asked for and none exists)."""


class CorruptIndex(RetrievalError):
    """An index folder is missing files, has a bad manifest, or was written by another format."""


class LLMError(RetrievalError):
    """A language model call failed: the backend rejected the request or answered unusably."""


class LLMUnavailable(LLMError):
    """The language model could not be reached or did not answer in time, after bounded retries."""


class LLMBadOutput(LLMError):
    """The language model answered, but not in the form asked for (e.g. malformed JSON)."""
