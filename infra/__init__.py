"""ducha: the back end of a province platform for rule-of-law inspection (法治督察)."""

from pathlib import Path as _Path

# In a source checkout (editable install) graphql/ has no __init__.py, so that it can never
# shadow graphql-core; setuptools' editable finder cannot map such a folder, so the
# checkout root joins this package's path and ducha.graphql is found there as a namespace
# portion. Installed from a wheel, graphql/ sits inside ducha/ and nothing is appended.
_root = _Path(__file__).resolve().parent.parent
if (_root / "pyproject.toml").is_file() and (_root / "graphql").is_dir():
    __path__.append(str(_root))  # type: ignore[name-defined]  # noqa: F821

__version__ = "0.1.0"
