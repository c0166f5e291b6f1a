"""``python -m osmanthus``: the same command as ``osmanthus``."""

from osmanthus.cli import app

if __name__ == "__main__":
    app(prog_name="osmanthus")
