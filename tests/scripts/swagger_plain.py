"""An undecorated run(data): the generated API description has no schemas."""


def init() -> None:
    """Nothing to load."""


def run(data: str) -> dict[str, str]:
    """Greet whatever comes in."""
    return {"message": "Hello, World!"}
