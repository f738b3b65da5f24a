"""`python -m judgecraft.cli ...` is the `judgecraft` command."""

from judgecraft.cli import app

if __name__ == "__main__":
    app(prog_name="judgecraft")
