"""uvicorn's httptools protocol, answering requests it cannot parse with JSON like every other error."""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from scoreserver.outputs import encode_json

__all__ = ["JsonErrorsHttpToolsProtocol"]


class JsonErrorsHttpToolsProtocol(HttpToolsProtocol):
    """A malformed request gets 400 {"message": ...} instead of uvicorn's plain-text answer."""

    def send_400_response(self, msg: str) -> None:
        """Answer 400 with the parser's message as JSON, then close the connection."""
        body = encode_json({"message": msg})
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
            ]
        )
        self.transport.write(b"".join(head) + body)
        self.transport.close()
