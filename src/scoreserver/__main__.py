"""python -m scoreserver."""

from scoreserver.cli import main

if __name__ == "__main__":
    main(prog="scoreserver")
