"""``python -m osmanthus``: the same command as ``osmanthus``."""

from osmanthus.cli import main

if __name__ == "__main__":
    main(prog_name="osmanthus")
