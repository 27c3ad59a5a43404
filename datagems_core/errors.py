"""DataGems' error hierarchy. The API maps each base class to one HTTP status in one place.

* DatagemsError
  x ConfigError            a setting is missing, malformed or unsafe (start-up refuses)
  x BadRequest             the caller sent something we cannot use (400)
    - SchemaError          a JSON Schema or a record does not validate
  x Unauthorized           no valid session or token (401)
  x Forbidden              authenticated, not allowed (403)
  x NotFound               missing, or not yours (404)
  x Conflict               already exists / wrong state (409)
  x RateLimited            too many attempts; carries retry_after seconds (429)
  x ServiceUnavailable     a needed service is not configured (503)
  x StoreError             the KV store failed (unreachable, timeout, unconfirmed write)
    - StoreUnconfirmed     CStore kept the value locally but no peer confirmed it
  x FileStoreError         the file store (R1FS or local) failed
    - FileMissing          no file under that id (also a NotFound)
  x MailError              SMTP delivery failed
  x InferenceError         the model gateway failed for good
    - InferenceTimeout
    - InferenceRejected    a 4xx that cannot succeed on retry
    - InferenceUnreachable
"""

from __future__ import annotations

from typing import Any


class DatagemsError(Exception):
    """Base of every error DataGems raises on purpose."""

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigError(DatagemsError):
    pass


class BadRequest(DatagemsError):
    pass


class SchemaError(BadRequest):
    pass


class Unauthorized(DatagemsError):
    pass


class Forbidden(DatagemsError):
    pass


class NotFound(DatagemsError):
    pass


class Conflict(DatagemsError):
    pass


class RateLimited(DatagemsError):
    def __init__(self, message: str, *, retry_after: int, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class ServiceUnavailable(DatagemsError):
    pass


class StoreError(DatagemsError):
    pass


class StoreUnconfirmed(StoreError):
    pass


class FileStoreError(DatagemsError):
    pass


class FileMissing(NotFound, FileStoreError):
    pass


class MailError(DatagemsError):
    pass


class InferenceError(DatagemsError):
    """A gateway failure. Its text is masked when it is made (`mask_secrets`): a gateway that
    echoes the key cannot get it into an answer, `job.error`, the store, a log or Prefect."""

    def __init__(self, message: str, *, details: Any = None) -> None:
        from datagems_core.inference.redaction import mask_secrets

        super().__init__(mask_secrets(message), details=details)


class InferenceTimeout(InferenceError):
    pass


class InferenceRejected(InferenceError):
    pass


class InferenceUnreachable(InferenceError):
    pass
