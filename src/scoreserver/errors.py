"""Every error scoreserver raises, each knowing its HTTP status and its process exit code.

    ScoreServerError                      500 / exit 1
    ├── ConfigurationError                bad flags, environment or config file      exit 2
    ├── ExpectationFailedError            `scoreserver check`: an answer was wrong   exit 4
    ├── StartupError                                                                 exit 1
    │   ├── PortInUseError                the port is taken by another process
    │   └── EntryScriptError              score.py missing, fails to import, bad
    │                                     init()/run(), or init() raised             exit 3
    ├── ClientError                       the request is at fault                    4xx
    │   ├── BadRequestError               400
    │   ├── NotFoundError                 404
    │   ├── MethodNotAllowedError         405
    │   ├── NotAcceptableError            406
    │   ├── UnauthorizedError             401
    │   ├── RequestTimeoutError           408 (the request head did not come in time)
    │   ├── PayloadTooLargeError          413
    │   ├── URITooLongError               414
    │   ├── UnsupportedMediaTypeError     415
    │   └── HeaderTooLargeError           431
    └── ScoringError                      the server could not produce an answer     500
        ├── RunFunctionError              run() raised
        ├── ScoringTimeoutError           run() took longer than SCORING_TIMEOUT_MS
        ├── ResponseEncodingError         run()'s result could not be turned into a response
        └── WorkerDiedError               the worker process died while run() had the request

Library code raises these; only ``cli.py`` turns them into an exit, and only the routes turn
them into a JSON ``{"message": ...}`` response.
"""

from __future__ import annotations

__all__ = [
    "BadRequestError",
    "ClientError",
    "ConfigurationError",
    "EntryScriptError",
    "ExpectationFailedError",
    "HeaderTooLargeError",
    "MethodNotAllowedError",
    "NotAcceptableError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PortInUseError",
    "RequestTimeoutError",
    "ResponseEncodingError",
    "RunFunctionError",
    "ScoreServerError",
    "ScoringError",
    "ScoringTimeoutError",
    "StartupError",
    "URITooLongError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "WorkerDiedError",
]

INTERNAL_ERROR_MESSAGE = "An unexpected internal error occurred. Check the logs for more info."
RUN_FAILED_MESSAGE = "An unexpected error occurred in scoring script. Check the logs for more info."


class ScoreServerError(Exception):
    """Base of every scoreserver error."""

    status_code = 500
    exit_code = 1

    def __init__(self, message: str = INTERNAL_ERROR_MESSAGE) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(ScoreServerError):
    """The flags, environment or config file cannot make a valid configuration."""

    exit_code = 2


class ExpectationFailedError(ScoreServerError):
    """`scoreserver check`: the script loaded, but an answer was not what was expected."""

    exit_code = 4


class StartupError(ScoreServerError):
    """The server could not start."""


class PortInUseError(StartupError):
    """The port to listen on is already taken."""


class EntryScriptError(StartupError):
    """The entry script cannot be loaded, or its init() failed."""

    exit_code = 3


class ClientError(ScoreServerError):
    """The request itself is at fault."""

    status_code = 400


class BadRequestError(ClientError):
    """Malformed or incomplete input."""

    status_code = 400


class NotFoundError(ClientError):
    """No such route or resource."""

    status_code = 404


class MethodNotAllowedError(ClientError):
    """The route exists but not for this method."""

    status_code = 405

    def __init__(self, message: str = "Method not allowed") -> None:
        super().__init__(message)


class NotAcceptableError(ClientError):
    """The result cannot be sent in any media type the Accept header allows."""

    status_code = 406


class UnauthorizedError(ClientError):
    """The bearer key is missing or wrong."""

    status_code = 401


class RequestTimeoutError(ClientError):
    """The request head did not arrive in full within the header timeout."""

    status_code = 408


class PayloadTooLargeError(ClientError):
    """The request body is larger than the configured limit."""

    status_code = 413

    @classmethod
    def over(cls, limit: int) -> PayloadTooLargeError:
        """The error for a body of more than limit bytes."""
        return cls(f"Request body is larger than the limit of {limit} bytes.")


class URITooLongError(ClientError):
    """The request URL is longer than the limit."""

    status_code = 414


class UnsupportedMediaTypeError(ClientError):
    """The body's content type cannot be read in this mode."""

    status_code = 415


class HeaderTooLargeError(ClientError):
    """A request id header, the header block or the whole request head is larger than allowed."""

    status_code = 431

    def __init__(self, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id
        """The x-request-id the 431 answer still carries, when that id itself was fine."""


class ScoringError(ScoreServerError):
    """run() did not produce an answer."""

    status_code = 500


class RunFunctionError(ScoringError):
    """run() raised."""

    def __init__(self, message: str = RUN_FAILED_MESSAGE) -> None:
        super().__init__(message)


class ScoringTimeoutError(ScoringError):
    """run() did not finish within the scoring timeout."""

    def __init__(self, timeout_ms: int) -> None:
        super().__init__(f"Scoring timeout after {timeout_ms} ms")
        self.timeout_ms = timeout_ms


class ResponseEncodingError(ScoringError):
    """run()'s result cannot be turned into a response."""


class WorkerDiedError(ScoringError):
    """The worker process died while the request waited for run(); the supervisor answers it."""

    def __init__(self, how: str) -> None:
        super().__init__(
            f"The worker process scoring this request ended unexpectedly ({how}) and is being "
            "replaced. Check the logs for more info."
        )
