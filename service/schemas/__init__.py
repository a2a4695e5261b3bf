"""Request and response bodies of the HTTP API, one module per resource (pydantic only, no FastAPI).

Modules: `common` (patterns, strict base, error body), `filters` (metadata filter language),
`collections`, `documents`, `search`, `jobs`, `memory`, `compress`, `reports`, `health`.

Naming rule (the FastAPI full-stack template's, with one addition for actions):
- Resources (collections, documents, jobs, memory units, reports): `XCreate` is the body that
  creates X, `XUpdate` the body that changes it, `XPublic` one X as the API returns it, and
  `XsPublic` a list of them as `{data, count}`. A bare acknowledgement would be `Message`; the API
  has none (deletes answer 204 without a body).
- Actions, where a body asks for a computation rather than a stored thing (search, explain,
  compress, answer, memory query and answer, delete by filter): `XRequest` and `XResponse`.
- Every other model a response contains is `XPublic` (`HitPublic`, `ProgressPublic`); parts of
  request bodies are plain nouns (`Filter`, `Hybrid`); shared request fields are `XOptions`.
- Query-string models are `XParams`.

Class names are the OpenAPI component names; field names and JSON shapes are the contract.
"""

from __future__ import annotations
